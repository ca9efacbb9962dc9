package network

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"plumb/actions"
	"plumb/plan"
	"plumb/plan/plantest"
)

// meshRunner is plantest.FakeRunner on a node whose eth0 (MTU 1500) holds
// 192.168.77.1.
type meshRunner struct{ plantest.FakeRunner }

func (m *meshRunner) Run(ctx context.Context, argv []string, stdin []byte) ([]byte, error) {
	switch actions.Quote(argv) {
	case "ip -j addr show to 192.168.77.1/32":
		m.FakeRunner.Calls = append(m.FakeRunner.Calls, actions.Quote(argv))
		return []byte(`[{"ifname":"eth0"}]`), nil
	case "ip -j link show":
		m.FakeRunner.Calls = append(m.FakeRunner.Calls, actions.Quote(argv))
		return []byte(`[{"ifname":"lo","mtu":65536},{"ifname":"eth0","mtu":1500}]`), nil
	case "ip -j route show":
		m.FakeRunner.Calls = append(m.FakeRunner.Calls, actions.Quote(argv))
		return []byte(`[]`), nil
	}
	return m.FakeRunner.Run(ctx, argv, stdin)
}

var testMesh = Mesh{Name: "m1", VNI: 42, Cluster: netip.MustParsePrefix("10.244.0.0/16"), Subnet: netip.MustParsePrefix("10.244.1.0/24"),
	Local: netip.MustParseAddr("192.168.77.1")}

func peer(ip, subnet, name string) plan.Peer {
	return plan.Peer{IP: netip.MustParseAddr(ip), Subnet: netip.MustParsePrefix(subnet), Node: name}
}

// meshWith brings m1 up in st and syncs it to peers.
func meshWith(t *testing.T, st *plan.Store, peers ...plan.Peer) {
	t.Helper()
	ctx := context.Background()
	m := testMesh
	env := plan.Env{R: &meshRunner{}, St: st, Mode: plan.Each}
	if _, err := plan.Up(ctx, env, &m, false); err != nil {
		t.Fatal(err)
	}
	if _, err := plan.Up(ctx, env, &MeshSync{Name: "m1", Nodes: peers}, false); err != nil {
		t.Fatal(err)
	}
}

func TestMeshUpPlan(t *testing.T) {
	m := testMesh
	ps, err := m.Plan(context.Background(), plan.Env{R: &meshRunner{}, St: plan.NewStore(t.TempDir())})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"ip link add m1 address 02:50:0a:f4:01:00 mtu 1450 type vxlan id 42 local 192.168.77.1 dev eth0 dstport 8472 nolearning",
		"ip addr add 10.244.1.0/32 dev m1",
		"ip link set m1 up",
		"sysctl -w net.ipv4.ip_forward=1",
	}
	if diff := cmp.Diff(want, lines(ps[0])); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestMeshRefusals: what mesh up and sync refuse, each with its flag.
func TestMeshRefusals(t *testing.T) {
	p := netip.MustParsePrefix
	for _, tc := range []struct {
		name string
		edit func(*Mesh)
		want string
	}{
		{"vni 0", func(m *Mesh) { m.VNI = 0 }, "not a VXLAN network identifier"},
		{"vni too big", func(m *Mesh) { m.VNI = 1 << 24 }, "not a VXLAN network identifier"},
		{"subnet outside", func(m *Mesh) { m.Subnet = p("10.245.1.0/24") }, "not inside the cluster"},
		{"subnet /31", func(m *Mesh) { m.Subnet = p("10.244.1.0/31") }, "too small"},
		{"ipv6 cluster", func(m *Mesh) { m.Cluster = p("fd00:244::/48") }, "IPv4 only"},
		{"host bits", func(m *Mesh) { m.Subnet = p("10.244.1.5/24") }, "host bits"},
		{"local inside", func(m *Mesh) { m.Local = netip.MustParseAddr("10.244.9.9") }, "inside the cluster"},
		{"multicast", func(m *Mesh) { m.Cluster = p("224.0.0.0/8"); m.Subnet = p("224.0.1.0/24") }, "never routed"},
		{"mtu", func(m *Mesh) { m.MTU = 20 }, "not an MTU"},
	} {
		m := testMesh
		tc.edit(&m)
		err := m.Check()
		var r *plan.Refused
		if !errors.As(err, &r) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want a refusal saying %q", tc.name, err, tc.want)
		}
	}
	m := testMesh
	m.MTU = 1451
	if _, err := m.Plan(context.Background(), plan.Env{R: &meshRunner{}, St: plan.NewStore(t.TempDir())}); err == nil || !strings.Contains(err.Error(), "at most 1450") {
		t.Errorf("--mtu 1451 on a 1500 underlay: %v", err)
	}
	f := plan.MeshFacts{Cluster: p("10.244.0.0/16"), Subnet: p("10.244.1.0/24"), Local: netip.MustParseAddr("192.168.77.1")}
	for _, tc := range []struct {
		name  string
		nodes []plan.Peer
		want  string
	}{
		{"our ip, other subnet", []plan.Peer{peer("192.168.77.1", "10.244.5.0/24", "x")}, "this node's address"},
		{"our subnet, other ip", []plan.Peer{peer("192.168.77.9", "10.244.1.0/24", "x")}, "overlaps this node's"},
		{"outside", []plan.Peer{peer("192.168.77.2", "10.9.0.0/24", "x")}, "outside the cluster"},
		{"ip inside", []plan.Peer{peer("10.244.200.1", "10.244.2.0/24", "x")}, "address inside the cluster"},
		{"overlap", []plan.Peer{peer("192.168.77.2", "10.244.2.0/24", "b"), peer("192.168.77.3", "10.244.2.0/23", "c")}, "overlapping subnets"},
		{"one ip", []plan.Peer{peer("192.168.77.2", "10.244.2.0/24", "b"), peer("192.168.77.2", "10.244.3.0/24", "c")}, "one address"},
	} {
		_, err := PeersOf(f, tc.nodes)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

var (
	peerA  = peer("192.168.77.2", "10.244.2.0/24", "node-a")
	peerB  = peer("192.168.77.3", "10.244.3.0/24", "node-b")
	peerB2 = peer("192.168.77.13", "10.244.3.0/24", "node-b")
	peerC  = peer("192.168.77.4", "10.244.4.0/24", "node-c")
	peerD  = peer("192.168.77.5", "10.244.5.0/24", "node-d")
	self   = peer("192.168.77.1", "10.244.1.0/24", "self")
)

// TestMeshSync: from {A, B, C} to {A, B moved, D}, one update in three
// processes' worth of steps, none kept in the record once done; the same
// set again is nothing to do.
func TestMeshSync(t *testing.T) {
	ctx := context.Background()
	st := plan.NewStore(t.TempDir())
	meshWith(t, st, peerA, peerB, peerC, self)
	before, err := st.Load("mesh", "m1")
	if err != nil {
		t.Fatal(err)
	}
	sync := &MeshSync{Name: "m1", Nodes: []plan.Peer{peerD, peerB2, self, peerA}}
	env := plan.Env{R: &meshRunner{}, St: st, Mode: plan.Each}
	out, err := plan.Up(ctx, env, sync, true)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"ip route del 10.244.4.0/24 via 10.244.4.0 dev m1",
		"ip neigh del 10.244.4.0 dev m1",
		"bridge fdb del 02:50:0a:f4:04:00 dev m1 dst 192.168.77.4",
		"bridge fdb replace 02:50:0a:f4:03:00 dev m1 dst 192.168.77.13",
		"bridge fdb add 02:50:0a:f4:05:00 dev m1 dst 192.168.77.5",
		"ip neigh add 10.244.5.0 lladdr 02:50:0a:f4:05:00 dev m1 nud permanent",
		"ip route add 10.244.5.0/24 via 10.244.5.0 dev m1 onlink",
	}
	if diff := cmp.Diff(want, lines(out.Plans[0])); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got := out.Plans[0].Changes; got != "peers +1 −1 ~1" {
		t.Errorf("changes %q", got)
	}
	if _, err := plan.Up(ctx, env, sync, false); err != nil {
		t.Fatal(err)
	}
	after, err := st.Load("mesh", "m1")
	if err != nil {
		t.Fatal(err)
	}
	f, _ := after.MeshFacts()
	if len(after.Steps) != len(before.Steps) || f.Generation != 2 || !slices.Equal(f.Peers, []plan.Peer{peerA, peerB2, peerD}) {
		t.Errorf("after the sync: %d steps (want %d), generation %d, peers %v", len(after.Steps), len(before.Steps), f.Generation, f.Peers)
	}
	again, err := plan.Up(ctx, env, sync, false)
	if err != nil || again.Unchanged == nil {
		t.Errorf("the same set again: %+v, %v; want nothing to do", again, err)
	}
}

// TestMeshSyncRollback: a sync that fails at any step, or is killed at any
// step and recovered, leaves the old peer set in the record, and undoes
// what it did with each step's restore.
func TestMeshSyncRollback(t *testing.T) {
	ctx := context.Background()
	for i, line := range []string{
		"ip route del 10.244.4.0/24 via 10.244.4.0 dev m1",
		"ip neigh del 10.244.4.0 dev m1",
		"bridge fdb del 02:50:0a:f4:04:00 dev m1 dst 192.168.77.4",
		"bridge fdb replace 02:50:0a:f4:03:00 dev m1 dst 192.168.77.13",
		"bridge fdb add 02:50:0a:f4:05:00 dev m1 dst 192.168.77.5",
		"ip neigh add 10.244.5.0 lladdr 02:50:0a:f4:05:00 dev m1 nud permanent",
		"ip route add 10.244.5.0/24 via 10.244.5.0 dev m1 onlink",
	} {
		for _, crash := range []bool{false, true} {
			st := plan.NewStore(t.TempDir())
			meshWith(t, st, peerA, peerB, peerC)
			old, _ := st.Load("mesh", "m1")
			r := &meshRunner{}
			if crash {
				r.CrashOn = line
			} else {
				r.FailOn = line
			}
			env := plan.Env{R: r, St: st, Mode: plan.Each}
			func() {
				defer func() {
					if p := recover(); p != nil && !crash {
						panic(p)
					}
				}()
				_, err := plan.Up(ctx, env, &MeshSync{Name: "m1", Nodes: []plan.Peer{peerA, peerB2, peerD}}, false)
				if err == nil {
					t.Errorf("step %d failing: no error", i+1)
				}
			}()
			if crash {
				rec, _ := st.LoadHeader("mesh", "m1")
				if rec.State != plan.StateApplying {
					t.Errorf("killed at step %d: state %s, want applying", i+1, rec.State)
				}
				r.CrashOn = ""
				if _, err := plan.Recover(ctx, r, st); err != nil {
					t.Errorf("recover after a kill at step %d: %v", i+1, err)
				}
			}
			rec, err := st.Load("mesh", "m1")
			if err != nil {
				t.Fatal(err)
			}
			f, _ := rec.MeshFacts()
			of, _ := old.MeshFacts()
			if rec.State != plan.StateUp || rec.Updating != nil || len(rec.Steps) != len(old.Steps) || !slices.Equal(f.Peers, of.Peers) || f.Generation != 1 {
				t.Errorf("step %d (crash %v): state %s, %d steps, generation %d, peers %v; want the old record", i+1, crash, rec.State, len(rec.Steps), f.Generation, f.Peers)
			}
			// What ran before the failure was undone by its restore.
			if i >= 1 && !slices.Contains(r.Calls, "ip route add 10.244.4.0/24 via 10.244.4.0 dev m1 onlink") {
				t.Errorf("step %d (crash %v): the removed route was not put back: %q", i+1, crash, r.Calls)
			}
		}
	}
}
