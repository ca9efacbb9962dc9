package network

import (
	"plumb/actions"
	"plumb/plan"
	"plumb/plan/ipam"
)

// Network is what an attachment needs of the network it joins, whatever
// drives it: a bridge today (BridgeNetwork); a VXLAN mesh next, whose
// containers still get a veth whose host end joins a device on this host,
// addresses of this node's subnet and a default route through its
// gateway, so that attach plans for it as for a bridge and asks the
// driver only what differs: how the host end joins, the links' MTU (the
// underlay's minus VXLAN's 50 bytes), what its firewall rules allow, and
// where its addresses and names are kept.
type Network interface {
	// Ref names it: the kind of object that keeps it, and its name.
	Ref() plan.NetworkRef
	// Families are its address families, the first (IPv4 when it has
	// one), then a dual-stack network's IPv6; Of is one of them.
	Families() []plan.Family
	Of(fam ipam.Family) (plan.Family, bool)
	// LinkMTU is the MTU of the links that join it; 0: the kernel's default.
	LinkMTU() int
	// Device is the host's interface a host end joins: it must exist on
	// the host when an attachment is made.
	Device() actions.IfName
	// Join is how a link made on the host joins it, and goes up: for a
	// bridge, `ip link set DEV master BR` (hairpin mode on the port when
	// asked), then up.
	Join(dev actions.IfName, hairpin bool) []plan.Step
	// Rules is what its firewall rules give its attachments.
	Rules() NetworkRules
	// Addrs is where its addresses are given out, in st.
	Addrs(st *plan.Store) plan.AddrStore
}

// NetworkRules is what a network's firewall rules give its attachments.
type NetworkRules struct {
	// Backend is where its rules are, "" (iptables) or "nftables": its
	// attachments' published ports go there too.
	Backend string
	// NAT: it has NAT chains, which published ports go in.
	NAT bool
	// LoopbackGuard: its rules take the host's own connections to
	// 127.0.0.1 to published ports (see routeLocalnet).
	LoopbackGuard bool
	// Internal: nothing is forwarded into or out of it: its attachments
	// publish no port and get no default route through it.
	Internal bool
}

// PublishRefused is why ref's attachments cannot publish ports, nil when
// they can.
func (r NetworkRules) PublishRefused(ref plan.NetworkRef) error {
	switch {
	case r.Internal:
		return plan.Refuse("publish", "%s is internal: nothing from beyond it reaches its containers, so they publish no port", ref)
	case !r.NAT:
		return plan.Refuse("publish", "%s was made with --no-nat; published ports need its NAT chains", ref)
	}
	return nil
}

// Ref: a bridge is kept as bridge/NAME.
func (b BridgeNetwork) Ref() plan.NetworkRef {
	return plan.NetworkRef{Kind: plan.BridgeKind.Name(), Name: b.Name.String()}
}

// LinkMTU: a bridge's links take its MTU.
func (b BridgeNetwork) LinkMTU() int { return b.MTU }

// Device: the bridge itself.
func (b BridgeNetwork) Device() actions.IfName { return b.Name }

// Join plugs dev into the bridge, then sets it up.
func (b BridgeNetwork) Join(dev actions.IfName, hairpin bool) []plan.Step {
	steps := []plan.Step{{Action: actions.LinkSetMaster{Dev: dev, Master: b.Name}}}
	if hairpin {
		steps = append(steps, plan.Step{Action: actions.LinkSetHairpin{Dev: dev}})
	}
	return append(steps, plan.Step{Action: actions.LinkSetUp{Dev: dev}})
}

// Rules are as `bridge up` recorded them.
func (b BridgeNetwork) Rules() NetworkRules {
	return NetworkRules{Backend: b.Firewall, NAT: b.NAT, LoopbackGuard: b.LoopbackGuard, Internal: b.Internal}
}

// Addrs: a bridge's addresses are the index's entries (localAddrs).
func (b BridgeNetwork) Addrs(st *plan.Store) plan.AddrStore {
	return plan.LocalAddrs(st, b.Name.String())
}

// firstFamilies are a network's first family and, on a dual-stack one,
// its IPv6 (zero otherwise): what Subnet and Subnet6 are of a bridge's.
func firstFamilies(n Network) (first, second plan.Family) {
	fams := n.Families()
	if len(fams) > 0 {
		first = fams[0]
	}
	if len(fams) > 1 {
		second = fams[1]
	}
	return first, second
}

// deviceGone is the refusal of a network whose device is not on the host.
func deviceGone(net Network) error {
	ref := net.Ref()
	return plan.Refuse("", "the %s %s recorded by plumb no longer exists on the host; run `plumb %s down %s --force` to clean up", ref.Kind, net.Device(), ref.Kind, ref.Name)
}
