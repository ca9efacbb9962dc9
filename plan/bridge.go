package plan

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"

	"plumb/actions"
	"plumb/plan/firewall"
	"plumb/plan/ipam"
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
	// Firewall writes the network's rules; nil: the default.
	Firewall firewall.Backend
}

// Check applies the rules that need no host.
func (b *Bridge) Check() error {
	if b.Name == "lo" {
		return refuse("<name>", "lo is the loopback interface")
	}
	if err := checkSubnet("subnet", b.Subnet); err != nil {
		return err
	}
	if err := checkHost("gateway", b.gateway(), b.Subnet); err != nil {
		return err
	}
	if f := ipam.FamilyOf(b.Subnet.Addr()); b.MTU != 0 && (b.MTU < f.MinMTU() || b.MTU > 65535) {
		return refuse("mtu", "%d is not an MTU the kernel takes for %s (%d to 65535)", b.MTU, f, f.MinMTU())
	}
	return nil
}

// gateway is the bridge's own address: the one given, or the subnet's
// first host.
func (b *Bridge) gateway() netip.Addr {
	if b.Gateway.IsValid() {
		return b.Gateway
	}
	return ipam.FirstHost(b.Subnet)
}

// Plan creates the bridge, gives it the gateway address, and unless NoNAT
// turns on forwarding with the network's own firewall rules for forwarding,
// NAT and published ports.
func (b *Bridge) Plan(context.Context, Env) ([]*Plan, error) { return one(b.plan()) }

// Again: the same input is nothing to do.
func (b *Bridge) Again(rec *Record, p *Plan) (string, error) {
	return again(rec, p, "up", "plumb bridge down "+p.Name)
}

func (b *Bridge) plan() (*Plan, error) {
	br, gw := b.Name.String(), b.gateway()
	fw := firewallOf(b.Firewall)
	steps := []Step{{Action: actions.LinkAddBridge{Name: b.Name, Address: ipam.MAC(gw)}}}
	if b.MTU != 0 {
		steps = append(steps, Step{Action: actions.LinkSetMTU{Dev: b.Name, MTU: b.MTU}})
	}
	steps = append(steps,
		Step{Action: actions.AddrAdd{Addr: netip.PrefixFrom(gw, b.Subnet.Bits()), Dev: b.Name}},
		Step{Action: actions.LinkSetUp{Dev: b.Name}},
	)
	if !b.NoNAT {
		fam := ipam.FamilyOf(b.Subnet.Addr())
		rules, err := fw.Actions(
			firewall.OwnRules{Family: fam, Network: br, Hook: firewall.Forwarded},
			firewall.AcceptForward{Family: fam, Network: br, In: b.Name, Out: b.Name, Why: "let containers on " + br + " reach each other"},
			firewall.AcceptForward{Family: fam, Network: br, In: b.Name, Out: b.Name, NotOut: true, Why: "let containers on " + br + " reach beyond it"},
			firewall.AcceptForward{Family: fam, Network: br, Out: b.Name, Replies: true, Why: "let replies come back to containers on " + br},
			firewall.JumpInto{Family: fam, Network: br, Hook: firewall.Forwarded},
			firewall.OwnRules{Family: fam, Network: br, Hook: firewall.Outgoing},
			firewall.Masquerade{Family: fam, Network: br, Source: b.Subnet, Out: b.Name, NotOut: true,
				Why: fmt.Sprintf("rewrite the source of %s's traffic leaving %s to the host's address (NAT)", b.Subnet, br)},
			firewall.JumpInto{Family: fam, Network: br, Hook: firewall.Outgoing},
			firewall.OwnRules{Family: fam, Network: br, Hook: firewall.ForTheHost},
			firewall.JumpInto{Family: fam, Network: br, Hook: firewall.ForTheHost},
		)
		if err != nil {
			return nil, refuseErr("", err)
		}
		steps = append(steps, forwarding(fam))
		steps = append(steps, stepsOf(rules)...)
	}
	nat := "NAT"
	if b.NoNAT {
		nat = "no NAT"
	}
	return &Plan{Kind: "bridge", Name: br, Steps: steps,
		Facts:   BridgeFacts{Subnet: b.Subnet, Gateway: gw, NAT: !b.NoNAT, MTU: b.MTU, Firewall: recordedFirewall(fw, !b.NoNAT)},
		Summary: fmt.Sprintf("bridge %s %s gateway %s, %s", br, b.Subnet, gw, nat)}, nil
}

// Preflight checks the host: the name is free, the subnet overlaps no route
// of the host, nameserver, or other plumb network. It returns warnings for
// what works but may surprise (an MTU above the uplink's).
func (b *Bridge) Preflight(ctx context.Context, env Env) (warnings []string, err error) {
	r, st := env.R, env.St
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
	if w := firewall.MTUWarning(b.Uplink.String(), links[b.Uplink.String()], b.MTU); w != "" {
		warnings = append(warnings, w)
	}
	routes, err := actions.Routes(ctx, r, b.Subnet.Addr())
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
		if s, ok := rec.Subnet(); ok && s.Overlaps(b.Subnet) {
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
