package plan

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"plumb/actions"
)

// Bridge is a docker0-like network: a bridge with the gateway address,
// forwarding, and rules in chains of plumb's own so that the network's rules
// are found, and removed, as one and never disturb rules plumb did not write.
type Bridge struct {
	Name    actions.IfName
	Subnet  netip.Prefix
	Gateway netip.Addr     // zero: the subnet's first host
	Uplink  actions.IfName // "" : the default route's; used to check the MTU
	NoNAT   bool
	MTU     int // 0: the kernel's default
}

// Chain names: plumb's, the bridge's, at most 28 bytes.
func filterChain(br string) string { return "PLUMB-" + br }
func natChain(br string) string    { return "PLUMB-" + br + "-NAT" }
func dnatChain(br string) string   { return "PLUMB-" + br + "-DNAT" }

// comment marks every rule of a plumb network so leftovers can be found
// even without the journal (iptables-save | grep plumb:NAME).
func comment(br string) []string { return []string{"-m", "comment", "--comment", "plumb:" + br} }

// Check applies the rules that need no host.
func (b *Bridge) Check() error {
	if b.Name == "lo" {
		return refuse("<name>", "lo is the loopback interface")
	}
	if err := checkSubnet("subnet", b.Subnet); err != nil {
		return err
	}
	if !b.Gateway.IsValid() {
		b.Gateway = b.Subnet.Addr().Next()
	}
	if err := checkHost("gateway", b.Gateway, b.Subnet); err != nil {
		return err
	}
	if b.MTU != 0 && (b.MTU < 68 || b.MTU > 65535) {
		return refuse("mtu", "%d is not an MTU the kernel takes for IPv4 (68 to 65535)", b.MTU)
	}
	return nil
}

// Plan creates the bridge, gives it the gateway address, and unless NoNAT
// turns on forwarding with plumb's chains for forwarding and NAT.
func (b *Bridge) Plan() *Plan {
	br := b.Name.String()
	c := comment(br)
	steps := []Step{{Action: actions.LinkAddBridge{Name: b.Name, Address: gatewayMAC(b.Gateway)}}}
	if b.MTU != 0 {
		steps = append(steps, Step{Action: actions.LinkSetMTU{Dev: b.Name, MTU: b.MTU}})
	}
	steps = append(steps,
		Step{Action: actions.AddrAdd{Addr: netip.PrefixFrom(b.Gateway, b.Subnet.Bits()), Dev: b.Name}},
		Step{Action: actions.LinkSetUp{Dev: b.Name}},
	)
	rule := func(t actions.Table, chain, why string, spec ...string) actions.Rule {
		return actions.Rule{Table: t, Chain: chain, Spec: append(spec[:len(spec):len(spec)], c...), Purpose: why}
	}
	jump := func(spec []string, target string) []string { return append(append(spec, c...), "-j", target) }
	if !b.NoNAT {
		fc, nc, dc := filterChain(br), natChain(br), dnatChain(br)
		steps = append(steps,
			Step{Action: actions.SysctlSet{Key: "net.ipv4.ip_forward", Value: "1"}, Shared: "sysctl net.ipv4.ip_forward"},
			Step{Action: actions.IptablesNewChain{Table: actions.Filter, Chain: fc}},
			Step{Action: actions.IptablesAppend{Rule: withTarget(rule(actions.Filter, fc, "let containers on "+br+" reach each other", "-i", br, "-o", br), "ACCEPT")}},
			Step{Action: actions.IptablesAppend{Rule: withTarget(rule(actions.Filter, fc, "let containers on "+br+" reach beyond it", "-i", br, "!", "-o", br), "ACCEPT")}},
			Step{Action: actions.IptablesAppend{Rule: withTarget(rule(actions.Filter, fc, "let replies come back to containers on "+br, "-o", br, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED"), "ACCEPT")}},
			Step{Action: actions.IptablesInsert{Rule: actions.Rule{Table: actions.Filter, Chain: "FORWARD", Spec: jump(nil, fc),
				Purpose: "send forwarded traffic through " + fc + " first"}}},
			Step{Action: actions.IptablesNewChain{Table: actions.NAT, Chain: nc}},
			Step{Action: actions.IptablesAppend{Rule: withTarget(rule(actions.NAT, nc, fmt.Sprintf("rewrite the source of %s's traffic leaving %s to the host's address (NAT)", b.Subnet, br), "-s", b.Subnet.String(), "!", "-o", br), "MASQUERADE")}},
			Step{Action: actions.IptablesAppend{Rule: actions.Rule{Table: actions.NAT, Chain: "POSTROUTING", Spec: jump(nil, nc),
				Purpose: "send outgoing traffic through " + nc}}},
			Step{Action: actions.IptablesNewChain{Table: actions.NAT, Chain: dc}},
			Step{Action: actions.IptablesAppend{Rule: actions.Rule{Table: actions.NAT, Chain: "PREROUTING", Spec: jump([]string{"-m", "addrtype", "--dst-type", "LOCAL"}, dc),
				Purpose: "send traffic for the host's addresses through " + dc + " (published ports, from outside)"}}},
			Step{Action: actions.IptablesAppend{Rule: actions.Rule{Table: actions.NAT, Chain: "OUTPUT", Spec: jump([]string{"!", "-d", "127.0.0.0/8", "-m", "addrtype", "--dst-type", "LOCAL"}, dc),
				Purpose: "send the host's own traffic for its addresses through " + dc + " (published ports, from the host)"}}},
		)
	}
	nat := "NAT"
	if b.NoNAT {
		nat = "no NAT"
	}
	details := map[string]string{"subnet": b.Subnet.String(), "gateway": b.Gateway.String(), "nat": strconv.FormatBool(!b.NoNAT)}
	if b.MTU != 0 {
		details["mtu"] = strconv.Itoa(b.MTU)
	}
	return &Plan{Kind: "bridge", Name: br, Details: details, Steps: steps,
		Summary: fmt.Sprintf("bridge %s %s gateway %s, %s", br, b.Subnet, b.Gateway, nat)}
}

// gatewayMAC is the bridge's fixed MAC: locally administered (02), "P" for
// plumb (50), then the gateway's IPv4 address, as Docker derives 02:42:...
// from an address. Unique as long as gateways are.
func gatewayMAC(gw netip.Addr) string {
	b := gw.As4()
	return fmt.Sprintf("02:50:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3])
}

func withTarget(r actions.Rule, target string) actions.Rule {
	r.Spec = append(r.Spec, "-j", target)
	return r
}

// Preflight checks the host: the name is free, the subnet overlaps no route
// of the host, nameserver, or other plumb network. It returns warnings for
// what works but may surprise (an MTU above the uplink's).
func (b *Bridge) Preflight(ctx context.Context, r actions.Runner, st *Store) (warnings []string, err error) {
	links, err := actions.LinkNames(ctx, r, actions.Netns{})
	if err != nil {
		return nil, err
	}
	if _, taken := links[b.Name.String()]; taken {
		return nil, refuse("<name>", "an interface named %s already exists on the host and plumb did not make it", b.Name)
	}
	if b.Uplink == "" {
		dev, err := actions.DefaultRouteDev(ctx, r)
		if err != nil {
			return nil, err
		}
		b.Uplink = actions.IfName(dev)
	} else if _, ok := links[b.Uplink.String()]; !ok {
		return nil, refuse("uplink", "the host has no interface named %s", b.Uplink)
	}
	if up, ok := links[b.Uplink.String()]; ok && b.MTU > up {
		warnings = append(warnings, fmt.Sprintf("bridge MTU %d is larger than the uplink %s's %d: large packets to the outside will be dropped or fragmented", b.MTU, b.Uplink, up))
	}
	routes, err := actions.Routes(ctx, r)
	if err != nil {
		return nil, err
	}
	for _, rt := range routes {
		if rt.Overlaps(b.Subnet) {
			return nil, refuse("subnet", "%s overlaps the host's route to %s; choose another subnet", b.Subnet, rt)
		}
	}
	for _, ns := range nameservers() {
		if b.Subnet.Contains(ns) {
			return nil, refuse("subnet", "%s contains the host's nameserver %s; containers could not reach it", b.Subnet, ns)
		}
	}
	recs, _ := st.Headers()
	for _, rec := range recs {
		if s, err := netip.ParsePrefix(rec.Details["subnet"]); err == nil && s.Overlaps(b.Subnet) && rec.Kind != "attachment" {
			return nil, refuse("subnet", "%s overlaps %s's subnet %s", b.Subnet, rec.ID(), s)
		}
	}
	return warnings, nil
}

// nameservers reads the host's resolvers, as Docker checks them.
func nameservers() []netip.Addr {
	f, err := os.Open("/etc/resolv.conf")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []netip.Addr
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "nameserver" {
			if a, err := netip.ParseAddr(fields[1]); err == nil {
				out = append(out, a)
			}
		}
	}
	return out
}
