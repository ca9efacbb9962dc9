package plan

import (
	"context"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"plumb/actions"
	"plumb/plan/firewall"
	"plumb/plan/ipam"
	"plumb/plan/plantest"
)

// The engine's tests run plans as data: the document's veth pair (what
// `plumb veth up` plans with its variables; package network's tests hold
// the recipe to the same commands) stands for any plan with links, a
// namespace, a shared setting and firewall rules.

// vethPair is the input of a veth plan, the document's by default.
type vethPair struct {
	Target         actions.Netns
	HostIf, ContIf actions.IfName
	Subnet         netip.Prefix
	HostIP, ContIP netip.Addr
	Uplink         actions.IfName
}

func docPair() vethPair {
	return vethPair{Target: actions.Netns{PID: 4242}, HostIf: "veth-host", ContIf: "veth-container",
		Subnet: netip.MustParsePrefix("10.200.0.0/24"),
		HostIP: netip.MustParseAddr("10.200.0.1"), ContIP: netip.MustParseAddr("10.200.0.2"), Uplink: "eth0"}
}

// selfPair is the document's pair in a namespace that exists for the whole
// test: our own process's.
func selfPair() vethPair {
	v := docPair()
	v.Target = plantest.SelfTarget()
	return v
}

// plan is the document's steps 3–11 for v, as a veth's record keeps them.
func (v vethPair) plan() *Plan {
	bits, in := v.Subnet.Bits(), v.Target
	steps := []Step{
		{Action: actions.LinkAddVeth{Host: v.HostIf, Peer: v.ContIf}},
		{Action: actions.LinkSetNetns{Name: v.ContIf, To: in}},
		{Action: actions.AddrAdd{Addr: netip.PrefixFrom(v.HostIP, bits), Dev: v.HostIf}},
		{Action: actions.LinkSetUp{Dev: v.HostIf}},
		{Action: actions.AddrAdd{Addr: netip.PrefixFrom(v.ContIP, bits), Dev: v.ContIf, In: in}},
		{Action: actions.LinkSetUp{Dev: v.ContIf, In: in}},
		{Action: actions.LinkSetUp{Dev: "lo", In: in}},
		{Action: actions.RouteAddDefault{Via: v.HostIP, In: in}},
		{Action: actions.SysctlSet{Key: ipam.V4.ForwardingSysctl(), Value: "1"}, Shared: "sysctl " + ipam.V4.ForwardingSysctl()},
	}
	obj := v.HostIf.String()
	rules, err := firewall.Iptables{}.Actions(
		firewall.AcceptForward{Family: ipam.V4, Object: obj, In: v.HostIf, Out: v.Uplink},
		firewall.AcceptForward{Family: ipam.V4, Object: obj, In: v.Uplink, Out: v.HostIf, Replies: true},
		firewall.Masquerade{Family: ipam.V4, Object: obj, Source: v.Subnet, Out: v.Uplink})
	if err != nil {
		panic(err)
	}
	for _, a := range rules {
		steps = append(steps, Step{Action: a})
	}
	facts := VethFacts{Target: in.String(), HostIf: v.HostIf, ContIf: v.ContIf, Subnet: v.Subnet, HostIP: v.HostIP, ContIP: v.ContIP, Uplink: v.Uplink}
	return &Plan{Kind: VethKind.Name(), Name: obj, Target: in, Summary: obj + " (a test's veth pair)", Facts: facts, Steps: steps}
}

// TestVethPairIsTheDocument: the fixture's commands are the document's.
func TestVethPairIsTheDocument(t *testing.T) {
	if diff := cmp.Diff(plantest.DocVethCommands, lines(docPair().plan())); diff != "" {
		t.Errorf("fixture (-want +got):\n%s", diff)
	}
}

// keepBridge keeps a bridge br0 on subnet that turns on forwarding, as
// `plumb bridge up` plans one, without its firewall rules (package
// network's tests hold the recipe to its commands): what attachments, and
// their tests, rest on.
func keepBridge(t *testing.T, st *Store, subnet string) BridgeFacts {
	t.Helper()
	s := netip.MustParsePrefix(subnet)
	gw := s.Addr().Next()
	p := &Plan{Kind: BridgeKind.Name(), Name: "br0", Summary: "bridge br0 (a test's)", Facts: BridgeFacts{Subnet: s, Gateway: gw},
		Steps: []Step{
			{Action: actions.LinkAddBridge{Name: "br0", Address: ipam.MAC(gw)}},
			{Action: actions.AddrAdd{Addr: netip.PrefixFrom(gw, s.Bits()), Dev: "br0"}},
			{Action: actions.LinkSetUp{Dev: "br0"}},
			{Action: actions.SysctlSet{Key: ipam.V4.ForwardingSysctl(), Value: "1"}, Shared: "sysctl " + ipam.V4.ForwardingSysctl()},
		}}
	rec, err := Apply(context.Background(), &plantest.FakeRunner{}, st, p, Each)
	if err != nil {
		t.Fatal(err)
	}
	f, err := rec.BridgeFacts()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// attachPlans keeps bridge br0 (10.88.0.0/24) and plans each target's
// attachment to it, addresses from 10.88.0.2 on, with the steps `plumb
// bridge attach` plans: a veth pair whose host end joins the bridge, the
// other end renamed eth0 in the target, its address, lo, a default route.
func attachPlans(t *testing.T, st *Store, targets []actions.Netns) []*Plan {
	t.Helper()
	br := keepBridge(t, st, "10.88.0.0/24")
	var plans []*Plan
	for i, in := range targets {
		ip := netip.AddrFrom4([4]byte{10, 88, 0, byte(2 + i)})
		host, peer := actions.IfName("veth"+ipam.Hex(ip)), actions.IfName("plmb"+ipam.Hex(ip))
		facts := AttachmentFacts{Bridge: "br0", IP: ip, PrefixLen: 24, Gateway: br.Gateway, HostVeth: host, If: "eth0", Target: in.String()}
		plans = append(plans, &Plan{Kind: AttachmentKind.Name(), Name: "br0-" + ip.String(), Target: in, Summary: ip.String() + " (a test's)", Facts: facts,
			Steps: []Step{
				{Action: actions.LinkAddVeth{Host: host, Peer: peer, PeerIn: in}},
				{Action: actions.LinkSetMaster{Dev: host, Master: "br0"}},
				{Action: actions.LinkSetUp{Dev: host}},
				{Action: actions.LinkRename{Dev: peer, Name: "eth0", In: in}},
				{Action: actions.AddrAdd{Addr: netip.PrefixFrom(ip, 24), Dev: "eth0", In: in}},
				{Action: actions.LinkSetUp{Dev: "eth0", In: in}},
				{Action: actions.LinkSetUp{Dev: "lo", In: in}},
				{Action: actions.RouteAddDefault{Via: br.Gateway, In: in}},
			}})
	}
	return plans
}
