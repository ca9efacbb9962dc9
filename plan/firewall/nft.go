package firewall

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode"

	"plumb/actions"
	"plumb/plan/ipam"
)

// Nft is the nftables back end (nftables.md). Each plumb object's rules
// live in a table of its own, `table ip plumb-NAME` (NAME: the network, or
// the veth pair's host end), written by one `nft -f -` transaction whose
// undo is `nft delete table ip plumb-NAME`: down is one atomic delete, and
// no rule of anyone else's is read, edited or found by handle. The table's
// base chains hook the kernel directly (nothing to jump from), with policy
// accept: plumb drops only what an internal or isolated network keeps
// out, with rules of its own table. Published ports are elements of the table's
// map `ports` (proto . host port : address . port), so attach and detach
// add and delete elements, never rules.
//
// IPv6 needs go to a table of the same name and shape in the ip6 family,
// `table ip6 plumb-NAME`, so that an IPv4-only object's table is what it
// always was.
//
// An accept in plumb's table does not outlive a drop in another table's
// chain of the same hook: the host warnings (Host) say when one is there.
type Nft struct{}

// Name implements Backend.
func (Nft) Name() string { return "nftables" }

// nftFamily is the table family of an address family's rules.
func nftFamily(f ipam.Family) string {
	if f == ipam.V6 {
		return "ip6"
	}
	return "ip"
}

// nftTable is the table of an object's rules.
func nftTable(name string) string { return "plumb-" + name }

// The base chains of a table, by hook: what the chain line declares.
// nft 1.0.6 rejects `priority dstnat` for a nat chain on the output hook,
// so it gets the number (-100) that dstnat stands for elsewhere.
var nftBaseChains = map[string]string{
	"forward": "type filter hook forward priority filter; policy accept;",
	// An isolated or internal network's drops, before its own accepts
	// (a drop is final in any chain; this keeps them first to read too).
	"isolation":   "type filter hook forward priority filter - 10; policy accept;",
	"input":       "type filter hook input priority filter; policy accept;",
	"postrouting": "type nat hook postrouting priority srcnat; policy accept;",
	"prerouting":  "type nat hook prerouting priority dstnat; policy accept;",
	"output":      "type nat hook output priority -100; policy accept;",
}

// portsMap is the map of published ports.
const portsMap = "ports"

// portsType is the type of the map of published ports of a table family.
func portsType(family string) string {
	addr := "ipv4_addr"
	if family == "ip6" {
		addr = "ipv6_addr"
	}
	return "type inet_proto . inet_service : " + addr + " . inet_service"
}

// nftBuild is one object's table as the needs of one call describe it.
type nftBuild struct {
	family string // ip or ip6
	name   string
	maps   []string // declarations
	chains []string // in order of first use
	rules  map[string][]string
	hooks  []string // what the table holds, for the step's purpose
}

func (b *nftBuild) chain(c string) {
	for _, have := range b.chains {
		if have == c {
			return
		}
	}
	b.chains = append(b.chains, c)
}

// rule appends a rule to a chain, under a comment saying why.
func (b *nftBuild) rule(c, why, rule string) {
	b.chain(c)
	if why != "" {
		b.rules[c] = append(b.rules[c], "# "+oneLine(why))
	}
	b.rules[c] = append(b.rules[c], rule)
}

func (b *nftBuild) action() actions.Action {
	t, fam := nftTable(b.name), b.family
	in := []string{"create table " + fam + " " + t, "table " + fam + " " + t + " {"}
	for _, m := range b.maps {
		in = append(in, "\tmap "+m+" {", "\t\t"+portsType(fam), "\t}")
	}
	for _, c := range b.chains {
		in = append(in, "\tchain "+c+" {", "\t\t"+nftBaseChains[c])
		for _, r := range b.rules[c] {
			in = append(in, "\t\t"+r)
		}
		in = append(in, "\t}")
	}
	in = append(in, "}")
	return actions.NftApply{Input: in,
		Purpose: fmt.Sprintf("create the table %s %s with %s's rules (%s), in one transaction; deleting the table removes them all", fam, t, b.name, strings.Join(b.hooks, ", ")),
		Made:    &actions.NftDelete{Family: fam, Table: t}}
}

// Actions implements Backend: one `nft -f -` step per object whose table
// the needs make (its undo deletes the table), then one per published port
// (its undo deletes the element).
func (Nft) Actions(needs ...Need) ([]actions.Action, error) {
	var builds []*nftBuild
	byName := map[string]*nftBuild{}
	var fam ipam.Family // the need's
	build := func(network, object string) (*nftBuild, error) {
		name := network
		if name == "" {
			name = object
		}
		if name == "" {
			return nil, fmt.Errorf("the nftables back end keeps each object's rules in a table of its own, and this rule names no object")
		}
		if err := nftWord("name", name); err != nil {
			return nil, err
		}
		key := nftFamily(fam) + " " + name
		b := byName[key]
		if b == nil {
			b = &nftBuild{family: nftFamily(fam), name: name, rules: map[string][]string{}}
			byName[key] = b
			builds = append(builds, b)
		}
		return b, nil
	}
	hook := func(b *nftBuild, what string) {
		for _, h := range b.hooks {
			if h == what {
				return
			}
		}
		b.hooks = append(b.hooks, what)
	}
	var elements []actions.Action
	for _, n := range needs {
		fam = n.family()
		if fam != ipam.V4 && fam != ipam.V6 {
			return nil, unsupported(n)
		}
		ip := nftFamily(fam) // the word of the family's matches: ip saddr, ip6 saddr
		switch n := n.(type) {
		case AcceptForward:
			b, err := build(n.Network, n.Object)
			if err != nil {
				return nil, err
			}
			words, err := nftIfaces(n.In, n.NotIn, n.Out, n.NotOut)
			if err != nil {
				return nil, err
			}
			if n.Replies {
				words = append(words, "ct", "state", "established,related")
			}
			b.rule("forward", n.Why, strings.Join(append(words, "accept"), " "))
			hook(b, "forwarding")
		case DropForward:
			if n.Network == "" {
				return nil, fmt.Errorf("a drop is a network's own rule, and this one names no network")
			}
			b, err := build(n.Network, "")
			if err != nil {
				return nil, err
			}
			words, err := nftIfaces(n.In, n.NotIn, n.Out, n.NotOut)
			if err != nil {
				return nil, err
			}
			if n.OutGroup != 0 {
				words = append(words, "oifgroup", strconv.FormatUint(uint64(n.OutGroup), 10))
			}
			if n.NotDNAT {
				words = append(words, "ct", "status", "!", "dnat")
			}
			b.rule("isolation", n.Why, strings.Join(append(words, "drop"), " "))
			hook(b, "isolation")
		case Masquerade:
			b, err := build(n.Network, n.Object)
			if err != nil {
				return nil, err
			}
			out, err := nftIface("oifname", n.Out, n.NotOut)
			if err != nil {
				return nil, err
			}
			words := []string{ip, "saddr", n.Source.Masked().String()}
			if len(n.NotTo) > 0 {
				set := make([]string, len(n.NotTo))
				for i, to := range n.NotTo {
					set[i] = to.Masked().String()
				}
				words = append(words, ip, "daddr", "!=", "{ "+strings.Join(set, ", ")+" }")
			}
			words = append(append(words, out...), "masquerade")
			if n.RandomFully {
				words = append(words, "fully-random")
			}
			b.rule("postrouting", n.Why, strings.Join(words, " "))
			hook(b, "NAT")
		case OwnRules:
			b, err := build(n.Network, "")
			if err != nil {
				return nil, err
			}
			switch n.Hook {
			case Forwarded:
				b.chain("forward")
				hook(b, "forwarding")
			case Outgoing:
				b.chain("postrouting")
				hook(b, "NAT")
			case Incoming:
				b.chain("input")
			case Isolation:
				b.chain("isolation")
				hook(b, "isolation")
			case ForTheHost:
				b.maps = append(b.maps, portsMap)
				b.rule("prerouting", "send traffic for the host's addresses to the published ports' containers (from outside)",
					"fib daddr type local dnat "+ip+" to meta l4proto . th dport map @"+portsMap)
				// As the iptables back end: 127.0.0.1 too, never ::1.
				if fam == ipam.V6 {
					b.rule("output", "the same for the host's own traffic to its addresses but ::1, which never leaves lo (published ports, from the host)",
						ip+" daddr != ::1 fib daddr type local dnat "+ip+" to meta l4proto . th dport map @"+portsMap)
				} else {
					b.rule("output", "the same for the host's own traffic to its addresses, 127.0.0.1 too (published ports, from the host)",
						"fib daddr type local dnat "+ip+" to meta l4proto . th dport map @"+portsMap)
				}
				b.rule("forward", "let new connections through to the published ports (their destination rewritten by the map)",
					"ct status dnat accept")
				hook(b, "published ports")
			}
		case GuardLoopback:
			b, err := build(n.Network, "")
			if err != nil {
				return nil, err
			}
			in, err := nftIface("iifname", n.In, false)
			if err != nil {
				return nil, err
			}
			b.rule("input", n.Why, strings.Join(append(in, "ip", "daddr", "127.0.0.0/8", "ct", "state", "invalid,new,untracked", "drop"), " "))
			hook(b, "loopback guard")
		case JumpInto:
			// The table's base chains hook the kernel themselves: there is
			// no shared chain to jump from, and nothing of anyone else's
			// to change.
			if _, err := build(n.Network, ""); err != nil {
				return nil, err
			}
		case Publish:
			if err := nftWord("network", n.Network); err != nil {
				return nil, err
			}
			if n.Proto != "tcp" && n.Proto != "udp" {
				return nil, fmt.Errorf("the protocol of a published port must be tcp or udp, not %q", n.Proto)
			}
			t := nftTable(n.Network)
			key := fmt.Sprintf("%s . %d", n.Proto, n.HostPort)
			elem := fmt.Sprintf("%s : %s . %d", key, n.To, n.ToPort)
			elements = append(elements, actions.NftApply{
				Input: []string{fmt.Sprintf("add element %s %s %s { %s }", ip, t, portsMap, elem)},
				Purpose: fmt.Sprintf("send the host's port %d/%s to the container's %s (an element of the map %s in %s %s)",
					n.HostPort, n.Proto, netip.AddrPortFrom(n.To, n.ToPort), portsMap, ip, t),
				Made: &actions.NftDelete{Family: ip, Table: t, Set: portsMap, Element: key}})
		default:
			return nil, fmt.Errorf("the nftables back end cannot write %T", n)
		}
	}
	var out []actions.Action
	for _, b := range builds {
		if len(b.chains) > 0 || len(b.maps) > 0 {
			out = append(out, b.action())
		}
	}
	return append(out, elements...), nil
}

// nftIfaces are the matches of a forwarded packet's interfaces, in and out.
func nftIfaces(in actions.IfName, notIn bool, out actions.IfName, notOut bool) ([]string, error) {
	i, err := nftIface("iifname", in, notIn)
	if err != nil {
		return nil, err
	}
	o, err := nftIface("oifname", out, notOut)
	if err != nil {
		return nil, err
	}
	return append(i, o...), nil
}

// nftIface is an interface match: none for "", `KEY != "IF"` when negated.
func nftIface(key string, name actions.IfName, not bool) ([]string, error) {
	if name == "" {
		return nil, nil
	}
	if err := nftWord("interface name", name.String()); err != nil {
		return nil, err
	}
	q := `"` + name.String() + `"`
	if not {
		return []string{key, "!=", q}, nil
	}
	return []string{key, q}, nil
}

// nftWord refuses a name that nft would read as more than a name where
// plumb writes it: in a table's name (plumb-NAME, a bare word of nft's
// input) and in double quotes (an interface), where '"' ends the string,
// a trailing '*' makes a wildcard, and '{', ';' or '#' would be syntax.
// Letters, digits, '-', '_' and '.' are safe in both; the interface names
// plumb takes elsewhere are mostly of these already (eth0, br0, veth-host).
func nftWord(what, s string) error {
	for _, r := range s {
		if r > unicode.MaxASCII || !(r == '-' || r == '_' || r == '.' || unicode.IsLetter(r) || unicode.IsDigit(r)) {
			return fmt.Errorf("%s %q: the nftables back end writes it into nft's input, where only letters, digits, '-', '_' and '.' are safe in a name", what, s)
		}
	}
	if s == "" {
		return fmt.Errorf("%s is empty", what)
	}
	return nil
}

// oneLine is s for a comment of nft's input: one line, no control
// characters.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}
