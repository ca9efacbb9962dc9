package network

import (
	"context"
	"errors"
	"fmt"
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
// 192.168.77.1, with a VXLAN device m1 whose routes, neighbours and
// forwarding entries the batches it is fed change, as the kernel would:
// add of an entry there fails "File exists", del of one not there "No
// such ...", -force goes on past a failed line. A batch holding
// failLine fails there, the lines before it applied; one holding
// crashLine panics there (plumb killed), the lines before it applied.
type meshRunner struct {
	plantest.FakeRunner
	failLine, crashLine string
	routes              map[string]string // subnet → via
	neigh               map[string]string // ip → mac
	fdb                 map[string]string // mac → dst
}

func (m *meshRunner) Run(ctx context.Context, argv []string, stdin []byte) ([]byte, error) {
	line := actions.Quote(argv)
	if m.routes == nil {
		m.routes, m.neigh, m.fdb = map[string]string{}, map[string]string{}, map[string]string{}
	}
	switch line {
	case "ip -j addr show to 192.168.77.1/32":
		m.FakeRunner.Calls = append(m.FakeRunner.Calls, line)
		return []byte(`[{"ifname":"eth0"}]`), nil
	case "ip -j link show":
		m.FakeRunner.Calls = append(m.FakeRunner.Calls, line)
		return []byte(`[{"ifname":"lo","mtu":65536},{"ifname":"eth0","mtu":1500}]`), nil
	case "ip -j route show":
		m.FakeRunner.Calls = append(m.FakeRunner.Calls, line)
		return []byte(`[]`), nil
	case "ip -j -batch -": // route show dev m1, neigh show dev m1 nud permanent
		var routes, neigh []string
		for dst, via := range m.routes {
			routes = append(routes, fmt.Sprintf(`{"dst":%q,"gateway":%q,"flags":["onlink"]}`, dst, via))
		}
		for ip, mac := range m.neigh {
			neigh = append(neigh, fmt.Sprintf(`{"dst":%q,"lladdr":%q,"state":["PERMANENT"]}`, ip, mac))
		}
		return []byte("[" + strings.Join(routes, ",") + "]\n[" + strings.Join(neigh, ",") + "]\n"), nil
	case "bridge -j fdb show dev m1":
		var out []string
		for mac, dst := range m.fdb {
			out = append(out, fmt.Sprintf(`{"mac":%q,"dst":%q}`, mac, dst))
		}
		return []byte("[" + strings.Join(out, ",") + "]"), nil
	case "ip -batch -", "ip -force -batch -", "bridge -batch -", "bridge -force -batch -":
		m.FakeRunner.Calls = append(m.FakeRunner.Calls, line)
		return nil, m.batch(argv[0], strings.Contains(line, "-force"), stdin)
	}
	return m.FakeRunner.Run(ctx, argv, stdin)
}

// batch applies a batch's lines to the device's entries.
func (m *meshRunner) batch(tool string, force bool, stdin []byte) error {
	var stderr []string
	for i, l := range strings.Split(strings.TrimSpace(string(stdin)), "\n") {
		m.FakeRunner.Calls = append(m.FakeRunner.Calls, "  "+tool+" "+l)
		if tool+" "+l == m.crashLine {
			panic(plantest.Crash{})
		}
		var problem string
		if tool+" "+l == m.failLine {
			problem = "injected failure"
		} else {
			problem = m.apply(strings.Fields(l))
		}
		if problem == "" {
			continue
		}
		stderr = append(stderr, problem, fmt.Sprintf("Command failed -:%d", i+1))
		// ip exits at the first neigh that fails, -force or not.
		if !force || strings.HasPrefix(l, "neigh ") {
			break
		}
	}
	if len(stderr) > 0 {
		return &actions.ExecError{Argv: []string{tool, "-batch", "-"}, Code: 1, Stderr: strings.Join(stderr, "\n")}
	}
	return nil
}

// apply is one line's change, or the kernel's complaint.
func (m *meshRunner) apply(w []string) string {
	const exists, noProc, noFile = "RTNETLINK answers: File exists", "RTNETLINK answers: No such process", "RTNETLINK answers: No such file or directory"
	switch w[0] + " " + w[1] {
	case "route replace":
		m.routes[w[2]] = w[4]
	case "neigh replace":
		m.neigh[w[2]] = w[4]
	case "neigh flush": // neigh flush to IP dev D nud permanent
		delete(m.neigh, w[3])
	case "route flush": // route flush exact DST via GW dev D
		if m.routes[w[3]] == w[5] {
			delete(m.routes, w[3])
		}
	case "route add": // route add DST via GW dev D onlink
		if _, ok := m.routes[w[2]]; ok {
			return exists
		}
		m.routes[w[2]] = w[4]
	case "route del":
		if _, ok := m.routes[w[2]]; !ok {
			return noProc
		}
		delete(m.routes, w[2])
	case "neigh add": // neigh add IP lladdr MAC dev D nud permanent
		if _, ok := m.neigh[w[2]]; ok {
			return exists
		}
		m.neigh[w[2]] = w[4]
	case "neigh del":
		if _, ok := m.neigh[w[2]]; !ok {
			return noFile
		}
		delete(m.neigh, w[2])
	case "fdb add": // fdb add MAC dev D dst IP
		if _, ok := m.fdb[w[2]]; ok {
			return exists
		}
		m.fdb[w[2]] = w[6]
	case "fdb replace":
		m.fdb[w[2]] = w[6]
	case "fdb del":
		switch dst, ok := m.fdb[w[2]]; {
		case !ok:
			return noFile
		case dst == w[6]: // another dst: nothing deleted, no error
			delete(m.fdb, w[2])
		}
	}
	return ""
}

// entries are the device's entries, sorted, one a line.
func (m *meshRunner) entries() string {
	var out []string
	for k, v := range m.routes {
		out = append(out, "route "+k+" via "+v)
	}
	for k, v := range m.neigh {
		out = append(out, "neigh "+k+" "+v)
	}
	for k, v := range m.fdb {
		out = append(out, "fdb "+k+" "+v)
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}

var testMesh = Mesh{Name: "m1", VNI: 42, Cluster: netip.MustParsePrefix("10.244.0.0/16"), Subnet: netip.MustParsePrefix("10.244.1.0/24"),
	Local: netip.MustParseAddr("192.168.77.1")}

func peer(ip, subnet, name string) plan.Peer {
	return plan.Peer{IP: netip.MustParseAddr(ip), Subnet: netip.MustParsePrefix(subnet), Node: name}
}

// meshWith brings m1 up in st on r and syncs it to peers.
func meshWith(t *testing.T, st *plan.Store, r *meshRunner, peers ...plan.Peer) {
	t.Helper()
	ctx := context.Background()
	m := testMesh
	env := plan.Env{Proc: noProc, R: r, St: st, Mode: plan.Each}
	if _, err := plan.Up(ctx, env, &m, false); err != nil {
		t.Fatal(err)
	}
	if _, err := plan.Up(ctx, env, &MeshSync{Name: "m1", Nodes: peers}, false); err != nil {
		t.Fatal(err)
	}
}

func TestMeshUpPlan(t *testing.T) {
	m := testMesh
	ps, err := m.Plan(context.Background(), plan.Env{Proc: noProc, R: &meshRunner{}, St: plan.NewStore(t.TempDir())})
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
	if _, err := m.Plan(context.Background(), plan.Env{Proc: noProc, R: &meshRunner{}, St: plan.NewStore(t.TempDir())}); err == nil || !strings.Contains(err.Error(), "at most 1450") {
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

// TestMeshSync: from {A, B, C} to {A, B moved, D}, one update of three
// batches, none of them kept in the record once done; the same set again
// is nothing to do.
func TestMeshSync(t *testing.T) {
	ctx := context.Background()
	st := plan.NewStore(t.TempDir())
	r := &meshRunner{}
	meshWith(t, st, r, peerA, peerB, peerC, self)
	before, err := st.Load("mesh", "m1")
	if err != nil {
		t.Fatal(err)
	}
	sync := &MeshSync{Name: "m1", Nodes: []plan.Peer{peerD, peerB2, self, peerA}}
	env := plan.Env{Proc: noProc, R: r, St: st, Mode: plan.Each}
	out, err := plan.Up(ctx, env, sync, true)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range out.Plans[0].Steps {
		got = append(got, strings.TrimSuffix(plan.CommandLines(s.Action), "\n"))
	}
	want := []string{
		"ip -batch - <<'EOF'\nroute del 10.244.4.0/24 via 10.244.4.0 dev m1\nneigh del 10.244.4.0 dev m1\nEOF",
		"bridge -batch - <<'EOF'\nfdb del 02:50:0a:f4:04:00 dev m1 dst 192.168.77.4\nfdb replace 02:50:0a:f4:03:00 dev m1 dst 192.168.77.13\nfdb add 02:50:0a:f4:05:00 dev m1 dst 192.168.77.5\nEOF",
		"ip -batch - <<'EOF'\nneigh add 10.244.5.0 lladdr 02:50:0a:f4:05:00 dev m1 nud permanent\nroute add 10.244.5.0/24 via 10.244.5.0 dev m1 onlink\nEOF",
	}
	if diff := cmp.Diff(want, got); diff != "" {
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
	if want := strings.Join([]string{
		"fdb 02:50:0a:f4:02:00 192.168.77.2", "fdb 02:50:0a:f4:03:00 192.168.77.13", "fdb 02:50:0a:f4:05:00 192.168.77.5",
		"neigh 10.244.2.0 02:50:0a:f4:02:00", "neigh 10.244.3.0 02:50:0a:f4:03:00", "neigh 10.244.5.0 02:50:0a:f4:05:00",
		"route 10.244.2.0/24 via 10.244.2.0", "route 10.244.3.0/24 via 10.244.3.0", "route 10.244.5.0/24 via 10.244.5.0",
	}, "\n"); r.entries() != want {
		t.Errorf("entries after the sync:\n%s\nwant:\n%s", r.entries(), want)
	}
	again, err := plan.Up(ctx, env, sync, false)
	if err != nil || again.Unchanged == nil {
		t.Errorf("the same set again: %+v, %v; want nothing to do", again, err)
	}
	// Entries not as the record says: refused before anything runs, so
	// that no rollback removes what someone else wrote.
	delete(r.routes, "10.244.2.0/24")
	r.neigh["10.244.6.0"] = "02:aa:bb:cc:dd:ee"
	_, err = plan.Up(ctx, env, &MeshSync{Name: "m1", Nodes: []plan.Peer{peerB2, peerD, peer("192.168.77.6", "10.244.6.0/24", "f")}}, true)
	if err == nil || !strings.Contains(err.Error(), "a neighbour 10.244.6.0") || !strings.Contains(err.Error(), "no route to 10.244.2.0/24") {
		t.Errorf("a sync over entries not as recorded: %v", err)
	}
}

// TestMeshSyncRollback: a sync that fails at any line of its batches, or
// is killed at any line and recovered, leaves the old peer set in the
// record and exactly the old entries on the device: the undos are the
// batches' inverses, every line tried, "already so" no error.
func TestMeshSyncRollback(t *testing.T) {
	ctx := context.Background()
	lines := []string{
		"ip route del 10.244.4.0/24 via 10.244.4.0 dev m1",
		"ip neigh del 10.244.4.0 dev m1",
		"bridge fdb del 02:50:0a:f4:04:00 dev m1 dst 192.168.77.4",
		"bridge fdb replace 02:50:0a:f4:03:00 dev m1 dst 192.168.77.13",
		"bridge fdb add 02:50:0a:f4:05:00 dev m1 dst 192.168.77.5",
		"ip neigh add 10.244.5.0 lladdr 02:50:0a:f4:05:00 dev m1 nud permanent",
		"ip route add 10.244.5.0/24 via 10.244.5.0 dev m1 onlink",
	}
	for i, line := range lines {
		for _, crash := range []bool{false, true} {
			st := plan.NewStore(t.TempDir())
			r := &meshRunner{}
			meshWith(t, st, r, peerA, peerB, peerC)
			old, _ := st.Load("mesh", "m1")
			oldEntries := r.entries()
			if crash {
				r.crashLine = line
			} else {
				r.failLine = line
			}
			env := plan.Env{Proc: noProc, R: r, St: st, Mode: plan.Each}
			func() {
				defer func() {
					if p := recover(); p != nil && !crash {
						panic(p)
					}
				}()
				_, err := plan.Up(ctx, env, &MeshSync{Name: "m1", Nodes: []plan.Peer{peerA, peerB2, peerD}}, false)
				if err == nil {
					t.Errorf("line %d failing: no error", i+1)
				}
			}()
			if crash {
				rec, _ := st.LoadHeader("mesh", "m1")
				if rec.State != plan.StateApplying {
					t.Errorf("killed at line %d: state %s, want applying", i+1, rec.State)
				}
				r.crashLine = ""
				if _, err := plan.Recover(ctx, r, st); err != nil {
					t.Errorf("recover after a kill at line %d: %v", i+1, err)
				}
			}
			rec, err := st.Load("mesh", "m1")
			if err != nil {
				t.Fatal(err)
			}
			f, _ := rec.MeshFacts()
			of, _ := old.MeshFacts()
			if rec.State != plan.StateUp || rec.Updating != nil || len(rec.Steps) != len(old.Steps) || !slices.Equal(f.Peers, of.Peers) || f.Generation != 1 {
				t.Errorf("line %d (crash %v): state %s, %d steps, generation %d, peers %v; want the old record", i+1, crash, rec.State, len(rec.Steps), f.Generation, f.Peers)
			}
			if got := r.entries(); got != oldEntries {
				t.Errorf("line %d (crash %v): entries\n%s\nwant the old ones:\n%s", i+1, crash, got, oldEntries)
			}
		}
	}
}

// TestMeshSyncSkipped: a node the list names but skips (no address or pod
// subnet for a moment) stays the peer it was; a list without it removes
// it; a list without this node is refused.
func TestMeshSyncSkipped(t *testing.T) {
	ctx := context.Background()
	st := plan.NewStore(t.TempDir())
	r := &meshRunner{}
	meshWith(t, st, r, peerA, peerB, peerC, self)
	env := plan.Env{Proc: noProc, R: r, St: st, Mode: plan.Each}
	out, err := plan.Up(ctx, env, &MeshSync{Name: "m1", Nodes: []plan.Peer{self, peerA, peerB}, Whole: true, Skipped: []string{"node-c"}}, false)
	if err != nil || out.Unchanged == nil {
		t.Errorf("node-c skipped: %+v, %v; want nothing to do", out, err)
	}
	out, err = plan.Up(ctx, env, &MeshSync{Name: "m1", Nodes: []plan.Peer{self, peerA, peerB}, Whole: true}, true)
	if err != nil || out.Plans[0].Changes != "peers −1" {
		t.Errorf("node-c gone: %+v, %v; want it removed", out, err)
	}
	if _, err := plan.Up(ctx, env, &MeshSync{Name: "m1", Nodes: []plan.Peer{peerA}, Whole: true}, true); err == nil || !strings.Contains(err.Error(), "does not hold this node") {
		t.Errorf("a list without this node: %v", err)
	}
}

// TestMeshSyncLookup: a peer added to or removed from a mesh of many asks
// for its own entries alone, and refuses entries not as recorded as a
// read of the whole device does; a sync of many reads the device whole.
func TestMeshSyncLookup(t *testing.T) {
	ctx := context.Background()
	st := plan.NewStore(t.TempDir())
	r := &readerRunner{}
	env := plan.Env{Proc: noProc, R: r, St: st, Mode: plan.Each}
	m := testMesh
	if _, err := plan.Up(ctx, env, &m, false); err != nil {
		t.Fatal(err)
	}
	var many []plan.Peer
	for i := 2; i < 26; i++ {
		many = append(many, peer(fmt.Sprintf("192.168.77.%d", i), fmt.Sprintf("10.244.%d.0/24", i), ""))
	}
	if _, err := plan.Up(ctx, env, &MeshSync{Name: "m1", Nodes: many}, false); err != nil {
		t.Fatal(err)
	}
	if r.reads != 1 || r.lookups != 0 {
		t.Errorf("a sync of 24 new peers: %d whole reads, %d lookups; want 1, 0", r.reads, r.lookups)
	}
	add := peer("192.168.77.30", "10.244.30.0/24", "")
	for _, c := range []struct {
		name   string
		sync   MeshSync
		before func()
		want   string // "" or in the refusal
	}{
		{"add", MeshSync{Name: "m1", Add: []plan.Peer{add}}, nil, ""},
		{"rm", MeshSync{Name: "m1", Remove: []plan.Peer{add}}, nil, ""},
		{"add over a neighbour", MeshSync{Name: "m1", Add: []plan.Peer{add}}, func() { r.neigh["10.244.30.0"] = "02:aa:bb:cc:dd:ee" }, "a neighbour 10.244.30.0"},
		{"rm of a peer without its route", MeshSync{Name: "m1", Remove: []plan.Peer{many[3]}}, func() { delete(r.neigh, "10.244.30.0"); delete(r.routes, "10.244.5.0/24") }, "no route to 10.244.5.0/24"},
		{"rm of a peer sent elsewhere", MeshSync{Name: "m1", Remove: []plan.Peer{many[4]}}, func() { r.fdb["02:50:0a:f4:06:00"] = "192.168.77.99" }, "no forwarding entry 02:50:0a:f4:06:00 to 192.168.77.6"},
	} {
		if c.before != nil {
			c.before()
		}
		r.reads, r.lookups = 0, 0
		_, err := plan.Up(ctx, env, &c.sync, false)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v; want a refusal naming %q", c.name, err, c.want)
		case r.reads != 0 || r.lookups != 1:
			t.Errorf("%s: %d whole reads, %d lookups; want 0, 1", c.name, r.reads, r.lookups)
		}
	}
}

// TestPeerDiff: the peers gone, moved and added between two sets, each
// in subnet order, whatever order the sets come in.
func TestPeerDiff(t *testing.T) {
	tp := func(subnet, ip, from string) actions.TunnelPeer {
		p := actions.TunnelPeer{Subnet: netip.MustParsePrefix(subnet), IP: netip.MustParseAddr(ip)}
		if from != "" {
			p.From = netip.MustParseAddr(from)
		}
		return p
	}
	for _, tc := range []struct {
		name               string
		was, is            []plan.Peer
		gone, moved, added []actions.TunnelPeer
	}{
		{"same", []plan.Peer{peerA, peerB}, []plan.Peer{peerA, peerB}, nil, nil, nil},
		{"from none", nil, []plan.Peer{peerA, peerC}, nil, nil, []actions.TunnelPeer{tp("10.244.2.0/24", "192.168.77.2", ""), tp("10.244.4.0/24", "192.168.77.4", "")}},
		{"to none", []plan.Peer{peerA, peerC}, nil, []actions.TunnelPeer{tp("10.244.2.0/24", "192.168.77.2", ""), tp("10.244.4.0/24", "192.168.77.4", "")}, nil, nil},
		{"each", []plan.Peer{peerA, peerB, peerC}, []plan.Peer{peerB2, peerA, peerD}, // unsorted
			[]actions.TunnelPeer{tp("10.244.4.0/24", "192.168.77.4", "")},
			[]actions.TunnelPeer{tp("10.244.3.0/24", "192.168.77.13", "192.168.77.3")},
			[]actions.TunnelPeer{tp("10.244.5.0/24", "192.168.77.5", "")}},
		{"unsorted before", []plan.Peer{peerC, peerA}, []plan.Peer{peerA}, []actions.TunnelPeer{tp("10.244.4.0/24", "192.168.77.4", "")}, nil, nil},
	} {
		gone, moved, added, err := peerDiff(tc.was, tc.is)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		eq := cmp.Comparer(func(a, b netip.Addr) bool { return a == b })
		eqp := cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })
		if d := cmp.Diff([][]actions.TunnelPeer{tc.gone, tc.moved, tc.added}, [][]actions.TunnelPeer{gone, moved, added}, eq, eqp); d != "" {
			t.Errorf("%s: gone, moved, added (-want +got):\n%s", tc.name, d)
		}
	}
	// A set holding a subnet twice, as only a journal changed by hand
	// does: refused, not taken for a peer gone.
	if _, _, _, err := peerDiff([]plan.Peer{peerA, peerA, peerB}, []plan.Peer{peerA, peerB}); err == nil || !strings.Contains(err.Error(), "holds 10.244.2.0/24 twice") {
		t.Errorf("a subnet twice: %v", err)
	}
}
