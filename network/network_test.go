package network

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"plumb/actions"
	"plumb/plan"
	"plumb/plan/ipam"
	"plumb/plan/plantest"
)

// meshNet is a network of another driver, as a mesh's might be: its host
// ends join a device of its own, its links have room for VXLAN's header,
// and it has no NAT chains.
type meshNet struct{ BridgeNetwork }

func (m meshNet) Ref() plan.NetworkRef   { return plan.NetworkRef{Kind: "mesh", Name: "m0"} }
func (m meshNet) LinkMTU() int           { return 1450 }
func (m meshNet) Device() actions.IfName { return "m0br" }
func (m meshNet) Rules() NetworkRules    { return NetworkRules{} }
func (m meshNet) Join(dev actions.IfName, _ bool) []plan.Step {
	return []plan.Step{{Action: actions.LinkSetMaster{Dev: dev, Master: "m0br"}}, {Action: actions.LinkSetUp{Dev: dev}}}
}

// TestNetworkDriver: attach plans on whatever Network it is given, asking
// the driver how to join, the MTU and the rules; the bridge's lock and ref
// are those bridge up takes.
func TestNetworkDriver(t *testing.T) {
	br := BridgeNetwork{Name: "br0", BridgeFacts: plan.BridgeFacts{Subnet: netip.MustParsePrefix("10.88.0.0/24"), Gateway: netip.MustParseAddr("10.88.0.1"), NAT: true}}
	if got := br.Ref().Lock(true); got != plan.NetworkLock("br0", true) {
		t.Errorf("bridge lock %v, want %v", got, plan.NetworkLock("br0", true))
	}
	var _ Network = &br // a CNI config's network is passed by pointer
	join := func(n Network, hairpin bool) []string {
		var out []string
		for _, s := range n.Join("veth1", hairpin) {
			out = append(out, actions.Quote(s.Action.Argv()))
		}
		return out
	}
	want := []string{"ip link set veth1 master br0", "ip link set veth1 type bridge_slave hairpin on", "ip link set veth1 up"}
	if d := cmp.Diff(want, join(br, true)); d != "" {
		t.Errorf("bridge join (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{want[0], want[2]}, join(br, false)); d != "" {
		t.Errorf("bridge join without hairpin (-want +got):\n%s", d)
	}

	mesh := meshNet{br}
	a := &Attach{Network: mesh, Target: actions.Netns{PID: 4242}, IP: netip.MustParseAddr("10.88.0.7"), If: "eth0"}
	p := plantest.Must(a.Plan())
	got := lines(p)
	if !strings.Contains(got[0], " mtu 1450 ") || !slices.Contains(got, "ip link set veth0a580007 master m0br") || slices.Contains(got, "ip link set veth0a580007 master br0") {
		t.Errorf("a plan on another driver:\n%s", strings.Join(got, "\n"))
	}
	if f := p.Facts.(plan.AttachmentFacts); f.Bridge != "m0" || p.Name != "m0-10.88.0.7" {
		t.Errorf("facts on another driver: network %q, object %q", f.Bridge, p.Name)
	}
	a.Publish = []plan.Port{{Host: 8080, Container: 80, Proto: "tcp"}}
	if err := a.checkRecords(plan.NewStore(t.TempDir()), mesh); err == nil || !strings.Contains(err.Error(), "mesh/m0 was made with --no-nat") {
		t.Errorf("publish on a network without NAT: %v", err)
	}
	if _, ok := mesh.Of(ipam.V6); ok {
		t.Error("a family the network lacks")
	}
}
