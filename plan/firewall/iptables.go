package firewall

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"

	"plumb/actions"
	"plumb/plan/ipam"
)

// Iptables is the iptables back end: ip6tables for IPv6 needs, with the
// same chains in IPv6's tables. The host's base rules are the
// document's commands, appended to FORWARD and nat POSTROUTING. A network's
// own rules live in chains named for it (filter PLUMB-NET, nat
// PLUMB-NET-NAT and PLUMB-NET-DNAT), jumped to from the base chains, and
// every one of its rules carries `-m comment --comment plumb:NET`, so
// leftovers can be found even without the journal.
type Iptables struct{}

// Chain names: plumb's, the network's, at most 28 bytes.
func filterChain(net string) string { return "PLUMB-" + net }
func natChain(net string) string    { return "PLUMB-" + net + "-NAT" }
func dnatChain(net string) string   { return "PLUMB-" + net + "-DNAT" }
func inputChain(net string) string  { return "PLUMB-" + net + "-IN" }
func isoChain(net string) string    { return "PLUMB-" + net + "-ISO" }

func comment(net string) []string { return []string{"-m", "comment", "--comment", "plumb:" + net} }

// Name implements Backend.
func (Iptables) Name() string { return "iptables" }

// Actions implements Backend.
func (Iptables) Actions(needs ...Need) ([]actions.Action, error) {
	var out []actions.Action
	var v6 bool // the need's family is IPv6: ip6tables
	add := func(table actions.Table, chain string, spec []string, why string) {
		out = append(out, actions.IptablesAppend{Rule: actions.Rule{Table: table, Chain: chain, Spec: spec, Purpose: why, IPv6: v6}})
	}
	for _, n := range needs {
		switch n.family() {
		case ipam.V4, ipam.V6:
			v6 = n.family() == ipam.V6
		default:
			return nil, unsupported(n)
		}
		switch n := n.(type) {
		case AcceptForward:
			chain, spec := "FORWARD", iface(n.In, n.NotIn, "-i")
			spec = append(spec, iface(n.Out, n.NotOut, "-o")...)
			switch {
			case n.Replies && n.Network == "":
				spec = append(spec, "-m", "state", "--state", "RELATED,ESTABLISHED") // the document's words
			case n.Replies:
				spec = append(spec, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED")
			}
			if n.Network != "" {
				chain, spec = filterChain(n.Network), append(spec, comment(n.Network)...)
			}
			add(actions.Filter, chain, append(spec, "-j", "ACCEPT"), n.Why)
		case DropForward:
			if n.Network == "" {
				return nil, fmt.Errorf("a drop is a network's own rule, and this one names no network")
			}
			spec := append(iface(n.In, n.NotIn, "-i"), iface(n.Out, n.NotOut, "-o")...)
			if n.OutGroup != 0 {
				spec = append(spec, "-m", "devgroup", "--dst-group", strconv.FormatUint(uint64(n.OutGroup), 10))
			}
			if n.NotDNAT {
				spec = append(spec, "-m", "conntrack", "!", "--ctstate", "DNAT")
			}
			add(actions.Mangle, isoChain(n.Network), append(append(spec, comment(n.Network)...), "-j", "DROP"), n.Why)
		case Masquerade:
			chain, spec := "POSTROUTING", []string{"-s", n.Source.String()}
			var c []string
			if n.Network != "" {
				chain, c = natChain(n.Network), comment(n.Network)
			}
			// One rule takes one -d: a RETURN per destination, first.
			for _, to := range n.NotTo {
				ret := append(append(slices.Clone(spec), "-d", to.String()), c...)
				add(actions.NAT, chain, append(ret, "-j", "RETURN"),
					fmt.Sprintf("leave %s's traffic to %s with its own source (not masqueraded)", n.Source, to))
			}
			spec = append(append(spec, iface(n.Out, n.NotOut, "-o")...), c...)
			spec = append(spec, "-j", "MASQUERADE")
			if n.RandomFully {
				spec = append(spec, "--random-fully")
			}
			add(actions.NAT, chain, spec, n.Why)
		case OwnRules:
			table, chain := hookChain(n.Network, n.Hook)
			out = append(out, actions.IptablesNewChain{Table: table, Chain: chain, IPv6: v6})
		case JumpInto:
			c := comment(n.Network)
			_, chain := hookChain(n.Network, n.Hook)
			jump := func(spec ...string) []string { return append(append(spec, c...), "-j", chain) }
			switch n.Hook {
			case Forwarded:
				// At the top of FORWARD: before rules that might drop it.
				out = append(out, actions.IptablesInsert{Rule: actions.Rule{Table: actions.Filter, Chain: "FORWARD", Spec: jump(),
					Purpose: "send forwarded traffic through " + chain + " first", IPv6: v6}})
			case Outgoing:
				add(actions.NAT, "POSTROUTING", jump(), "send outgoing traffic through "+chain)
			case Isolation:
				// mangle FORWARD runs before filter FORWARD, where every
				// network's accepts are: a drop here is seen first.
				out = append(out, actions.IptablesInsert{Rule: actions.Rule{Table: actions.Mangle, Chain: "FORWARD", Spec: jump(),
					Purpose: "send forwarded traffic through " + chain + " before any network's accepts", IPv6: v6}})
			case Incoming:
				// At the top of INPUT, as FORWARD's: before a rule that
				// would accept it.
				out = append(out, actions.IptablesInsert{Rule: actions.Rule{Table: actions.Filter, Chain: "INPUT", Spec: jump(),
					Purpose: "send the host's incoming traffic through " + chain + " first", IPv6: v6}})
			case ForTheHost:
				add(actions.NAT, "PREROUTING", jump("-m", "addrtype", "--dst-type", "LOCAL"),
					"send traffic for the host's addresses through "+chain+" (published ports, from outside)")
				// IPv4: 127.0.0.1 too (the bridge's route_localnet and
				// masquerade carry it). IPv6 cannot: the kernel never
				// routes ::1 out of lo (RFC 4291), and has no
				// route_localnet, so ::1 is left to the host.
				if v6 {
					add(actions.NAT, "OUTPUT", jump("!", "-d", "::1/128", "-m", "addrtype", "--dst-type", "LOCAL"),
						"send the host's own traffic for its addresses but ::1 through "+chain+" (published ports, from the host)")
				} else {
					add(actions.NAT, "OUTPUT", jump("-m", "addrtype", "--dst-type", "LOCAL"),
						"send the host's own traffic for its addresses, 127.0.0.1 too, through "+chain+" (published ports, from the host)")
				}
			}
		case GuardLoopback:
			spec := append([]string{"-i", n.In.String(), "-d", "127.0.0.0/8", "-m", "conntrack", "!", "--ctstate", "RELATED,ESTABLISHED"}, comment(n.Network)...)
			add(actions.Filter, inputChain(n.Network), append(spec, "-j", "DROP"), n.Why)
		case Publish:
			c, br, proto := comment(n.Network), n.Bridge.String(), n.Proto
			hostPort, toPort := strconv.Itoa(int(n.HostPort)), strconv.Itoa(int(n.ToPort))
			dnat := append([]string{"-p", proto, "-m", proto, "--dport", hostPort}, c...)
			add(actions.NAT, dnatChain(n.Network), append(dnat, "-j", "DNAT", "--to-destination", netip.AddrPortFrom(n.To, n.ToPort).String()),
				fmt.Sprintf("send the host's port %d/%s to the container's %s:%d", n.HostPort, proto, n.To, n.ToPort))
			to := netip.PrefixFrom(n.To, n.To.BitLen()).String()
			accept := append([]string{"-d", to, "!", "-i", br, "-o", br, "-p", proto, "-m", proto, "--dport", toPort}, c...)
			add(actions.Filter, filterChain(n.Network), append(accept, "-j", "ACCEPT"),
				fmt.Sprintf("let new connections through to %s:%d/%s", n.To, n.ToPort, proto))
		default:
			return nil, fmt.Errorf("the iptables back end cannot write %T", n)
		}
	}
	return out, nil
}

// hookChain is the table and chain of a network's own rules for a hook.
func hookChain(net string, h Hook) (actions.Table, string) {
	switch h {
	case Outgoing:
		return actions.NAT, natChain(net)
	case ForTheHost:
		return actions.NAT, dnatChain(net)
	case Incoming:
		return actions.Filter, inputChain(net)
	case Isolation:
		return actions.Mangle, isoChain(net)
	}
	return actions.Filter, filterChain(net)
}

// iface is an interface match: none for "", "! FLAG IF" when negated.
func iface(name actions.IfName, not bool, flag string) []string {
	switch {
	case name == "":
		return nil
	case not:
		return []string{"!", flag, name.String()}
	}
	return []string{flag, name.String()}
}
