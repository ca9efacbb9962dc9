package network

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"plumb/actions"
	"plumb/plan"
	"plumb/plan/ipam"
	"plumb/plan/plantest"
)

func TestRuntimeID(t *testing.T) {
	long := strings.Repeat("0123456789abcdef", 4)
	a := RuntimeID(plan.RuntimeRef{Network: "mynet", ContainerID: long, IfName: "eth0"})
	if err := plan.CheckObjectName("", a.Object); err != nil {
		t.Errorf("RuntimeID's name %q: %v", a.Object, err)
	}
	if !strings.HasPrefix(a.Object, "mynet-0123456789ab-") {
		t.Errorf("RuntimeID's name %q does not start with the network and the container ID", a.Object)
	}
	if a != RuntimeID(plan.RuntimeRef{Network: "mynet", ContainerID: long, IfName: "eth0"}) {
		t.Error("RuntimeID is not the same for the same input")
	}
	seen := map[string]plan.RuntimeRef{}
	for _, r := range []plan.RuntimeRef{
		{Network: "mynet", ContainerID: long, IfName: "eth0"}, {Network: "mynet", ContainerID: long, IfName: "eth1"},
		{Network: "mynet", ContainerID: long + "x", IfName: "eth0"}, {Network: "other", ContainerID: long, IfName: "eth0"},
		{Network: strings.Repeat("n", 200), ContainerID: strings.Repeat("c", 300), IfName: "net:0"}, {Network: "a", ContainerID: "b", IfName: "c d"},
	} {
		id := RuntimeID(r)
		if err := plan.CheckObjectName("", id.Object); err != nil {
			t.Errorf("RuntimeID(%v) = %q: %v", r, id.Object, err)
		}
		if prev, dup := seen[id.Object]; dup {
			t.Errorf("RuntimeID(%v) = RuntimeID(%v) = %q", r, prev, id.Object)
		}
		seen[id.Object] = r
		if id.HostVeth != "" {
			t.Errorf("RuntimeID names the host veth %q; its address should", id.HostVeth)
		}
	}
}

// TestRuntimeAttach: an attachment a runtime names, with a range, its own
// routes, hairpin mode and a namespace file: its plan, its facts read back,
// and the same identity refused twice.
func TestRuntimeAttach(t *testing.T) {
	st := plan.NewStore(t.TempDir())
	br := bridgeUp(t, st, "10.88.0.0/24")
	ref := plan.RuntimeRef{Network: "mynet", ContainerID: "c1", IfName: "net1"}
	in := actions.Netns{File: "/proc/self/ns/net"}
	a := &Attach{Network: br, Target: in, If: "net1", ID: RuntimeID(ref), Runtime: &ref,
		Range:     ipam.Range{Start: netip.MustParseAddr("10.88.0.100"), End: netip.MustParseAddr("10.88.0.101")},
		OwnRoutes: true, Hairpin: true,
		Routes: []Route{{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParseAddr("10.88.0.1")},
			{netip.MustParsePrefix("198.51.100.0/24"), netip.MustParseAddr("10.88.0.254")}}}
	plans, err := attachAll(st, []*Attach{a})
	if err != nil {
		t.Fatal(err)
	}
	p := plans[0]
	want := []string{
		"ip link add veth0a580064 type veth peer name plmb0a580064 netns /proc/self/ns/net",
		"ip link set veth0a580064 master br0",
		"ip link set veth0a580064 type bridge_slave hairpin on",
		"ip link set veth0a580064 up",
		"nsenter --net=/proc/self/ns/net ip link set plmb0a580064 name net1",
		"nsenter --net=/proc/self/ns/net ip addr add 10.88.0.100/24 dev net1",
		"nsenter --net=/proc/self/ns/net ip link set net1 up",
		"nsenter --net=/proc/self/ns/net ip link set lo up",
		"nsenter --net=/proc/self/ns/net ip route add default via 10.88.0.1",
		"nsenter --net=/proc/self/ns/net ip route add 198.51.100.0/24 via 10.88.0.254",
	}
	if diff := cmp.Diff(want, lines(p)); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	if p.Name != RuntimeID(ref).Object {
		t.Errorf("object %q; want the runtime's identity %q", p.Name, RuntimeID(ref).Object)
	}
	if _, err := plan.Apply(context.Background(), &plantest.FakeRunner{}, st, p, plan.Each); err != nil {
		t.Fatal(err)
	}
	st = plan.NewStore(st.Dir) // read as another plumb would
	got := RuntimeAttachments(st, "mynet")
	if len(got) != 1 {
		t.Fatalf("RuntimeAttachments = %d records; want 1", len(got))
	}
	f, _ := got[0].Attachment()
	if f.Runtime == nil || *f.Runtime != ref || f.IP != netip.MustParseAddr("10.88.0.100") {
		t.Errorf("facts read back: %+v (runtime %+v)", f, f.Runtime)
	}
	if n := len(RuntimeAttachments(st, "other")); n != 0 {
		t.Errorf("another network lists %d attachments", n)
	}
	// The same identity again is refused; another ifname of the same
	// container gets the range's next address.
	again := &Attach{Network: br, Target: in, If: "net1", ID: RuntimeID(ref), Runtime: &ref}
	var r *plan.Refused
	if _, err := attachAll(st, []*Attach{again}); !errors.As(err, &r) || !strings.Contains(r.Msg, "already attached") {
		t.Errorf("the same identity twice: %v", err)
	}
	ref2 := plan.RuntimeRef{Network: "mynet", ContainerID: "c1", IfName: "net2"}
	second := &Attach{Network: br, Target: in, If: "net2", ID: RuntimeID(ref2), Runtime: &ref2, Range: a.Range}
	if _, err := attachAll(st, []*Attach{second}); err != nil || second.IP != netip.MustParseAddr("10.88.0.101") {
		t.Errorf("second interface: %v, %v", second.IP, err)
	}
	third := &Attach{Network: br, Target: in, If: "net3", ID: RuntimeID(plan.RuntimeRef{Network: "mynet", ContainerID: "c2", IfName: "eth0"}), Range: a.Range}
	if err := third.allocate(st, third.Network, map[netip.Addr]string{second.IP: "x"}); !errors.As(err, &r) || !strings.Contains(r.Msg, "range 10.88.0.100-10.88.0.101") {
		t.Errorf("full range: %v", err)
	}
}

// TestAttachCallNetwork: a dry run plans with the caller's network when
// plumb keeps no bridge yet, and with the kept one otherwise.
func TestAttachCallNetwork(t *testing.T) {
	st := plan.NewStore(t.TempDir())
	net := BridgeNetwork{Name: "br0", BridgeFacts: plan.BridgeFacts{Subnet: netip.MustParsePrefix("10.89.0.0/24"), Gateway: netip.MustParseAddr("10.89.0.1"), NAT: true}}
	call := &AttachCall{Bridge: "br0", Network: &net, List: []*Attach{{Target: actions.Netns{File: "/x"}, If: "eth0"}}}
	plans, err := allocPlan(call, st)
	if err != nil || plans[0].Facts.(plan.AttachmentFacts).IP != netip.MustParseAddr("10.89.0.2") {
		t.Fatalf("without a kept bridge: %v", err)
	}
	bridgeUp(t, st, "10.88.0.0/24")
	call.List[0].IP = netip.Addr{}
	plans, err = allocPlan(call, st)
	if err != nil || plans[0].Facts.(plan.AttachmentFacts).IP != netip.MustParseAddr("10.88.0.2") {
		t.Fatalf("with a kept bridge: %v", err)
	}
}

// TestAttachTaken: the addresses an earlier container of the same dry
// run was given (Taken) are passed over, so that one plan per container
// finds its address, and an asked-for one is kept.
func TestAttachTaken(t *testing.T) {
	st := plan.NewStore(t.TempDir())
	net := BridgeNetwork{Name: "br0", BridgeFacts: plan.BridgeFacts{Subnet: netip.MustParsePrefix("10.89.0.0/24"), Gateway: netip.MustParseAddr("10.89.0.1"), NAT: true}}
	taken := map[netip.Addr]bool{netip.MustParseAddr("10.89.0.2"): true, netip.MustParseAddr("10.89.0.3"): true, netip.MustParseAddr("10.89.0.5"): true}
	for _, tc := range []struct{ asked, want string }{{"", "10.89.0.4"}, {"10.89.0.9", "10.89.0.9"}} {
		a := &Attach{Target: actions.Netns{File: "/x"}, If: "eth0", Taken: taken}
		if tc.asked != "" {
			a.IP = netip.MustParseAddr(tc.asked)
		}
		call := &AttachCall{Bridge: "br0", Network: &net, List: []*Attach{a}}
		plans, err := allocPlan(call, st)
		if err != nil || plans[0].Facts.(plan.AttachmentFacts).IP != netip.MustParseAddr(tc.want) {
			t.Errorf("asked %q: %v, %v; want %s", tc.asked, err, plans, tc.want)
		}
	}
}

// allocPlan is a dry run's allocation stage, then the plan.
func allocPlan(rc plan.Recipe, st *plan.Store) ([]*plan.Plan, error) {
	env := plan.Env{St: st}
	if _, err := plan.Allocate(context.Background(), env, rc, false); err != nil {
		return nil, err
	}
	return rc.Plan(context.Background(), env)
}
