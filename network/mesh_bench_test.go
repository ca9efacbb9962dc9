package network

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"testing"

	"plumb/actions"
	"plumb/plan"
)

// BenchmarkPeerAdd is `mesh peer add` of one peer to a mesh holding 5 or
// 1,000 (then its removal, untimed), on the fake kernel: plumb's own
// time, without the processes (make bench-mesh times those too). The
// target is within 1.25x of 5 with 1,000.
func BenchmarkPeerAdd(b *testing.B) {
	for _, n := range []int{5, 1000} {
		b.Run(fmt.Sprintf("present=%d", n), func(b *testing.B) {
			ctx := context.Background()
			st := plan.NewStore(tmpfsDir(b))
			r := &readerRunner{}
			env := plan.Env{Proc: noProc, R: r, St: st}
			m := testMesh
			if _, err := plan.Up(ctx, env, &m, false); err != nil {
				b.Fatal(err)
			}
			var peers []plan.Peer
			for i := 1; i <= n; i++ {
				peers = append(peers, plan.Peer{IP: netip.AddrFrom4([4]byte{198, 18, byte(1 + i/250), byte(1 + i%250)}),
					Subnet: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 244, byte(2 + i/16), byte(i % 16 * 16)}), 28)})
			}
			if _, err := plan.Up(ctx, env, &MeshSync{Name: "m1", Nodes: peers}, false); err != nil {
				b.Fatal(err)
			}
			add := plan.Peer{IP: netip.MustParseAddr("198.19.0.1"), Subnet: netip.MustParsePrefix("10.244.250.0/24")}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := plan.Up(ctx, env, &MeshSync{Name: "m1", Add: []plan.Peer{add}}, false); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if _, err := plan.Up(ctx, env, &MeshSync{Name: "m1", Remove: []plan.Peer{add}}, false); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}

// tmpfsDir is a directory for a state directory as plumb's own is, on
// tmpfs (/run/plumb): /dev/shm's when there is one, so that the disk's
// syncs do not drown what is measured; else the test's temporary one.
func tmpfsDir(b *testing.B) string {
	d, err := os.MkdirTemp("/dev/shm", "plumb-bench-")
	if err != nil {
		return b.TempDir()
	}
	b.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// readerRunner is meshRunner that reads the device's entries as plumb's
// own runner does, in-process (netlink there, its maps here), so that the
// benchmark times plumb and not the decoding of a stand-in's JSON.
type readerRunner struct {
	meshRunner
	reads, lookups int // whole reads and lookups done
}

func (r *readerRunner) ReadTunnel(_ context.Context, _ actions.IfName) (*actions.TunnelEntries, error) {
	r.reads++
	t := &actions.TunnelEntries{Routes: map[netip.Prefix]netip.Addr{}, Neigh: map[netip.Addr]string{}, Fdb: map[string][]netip.Addr{}}
	for dst, via := range r.routes {
		t.Routes[netip.MustParsePrefix(dst)] = netip.MustParseAddr(via)
	}
	for ip, mac := range r.neigh {
		t.Neigh[netip.MustParseAddr(ip)] = mac
	}
	for mac, dst := range r.fdb {
		t.Fdb[mac] = append(t.Fdb[mac], netip.MustParseAddr(dst))
	}
	return t, nil
}

// LookupTunnel answers from the same maps, an entry at a time, as plumb's
// runner answers by netlink gets: every answer settled.
func (r *readerRunner) LookupTunnel(_ context.Context, _ actions.IfName, q actions.TunnelQuery) (*actions.TunnelEntries, bool, error) {
	r.lookups++
	t := &actions.TunnelEntries{Routes: map[netip.Prefix]netip.Addr{}, Neigh: map[netip.Addr]string{}, Fdb: map[string][]netip.Addr{}}
	for _, p := range q.Routes {
		if via, ok := r.routes[p.String()]; ok {
			t.Routes[p] = netip.MustParseAddr(via)
		}
	}
	for _, a := range q.Neigh {
		if mac, ok := r.neigh[a.String()]; ok {
			t.Neigh[a] = mac
		}
	}
	for _, mac := range q.Fdb {
		if dst, ok := r.fdb[mac]; ok {
			t.Fdb[mac] = []netip.Addr{netip.MustParseAddr(dst)}
		}
	}
	return t, true, nil
}

// BenchmarkSync is `mesh sync` of 300 and 1,000 new peers to a fresh
// mesh (then mesh down, untimed), on the fake kernel: plumb's own time
// beside the batches it runs, which make bench-mesh times against bare
// ip and bridge batches (target: within 1.5x).
func BenchmarkSync(b *testing.B) {
	for _, n := range []int{300, 1000} {
		b.Run(fmt.Sprintf("peers=%d", n), func(b *testing.B) {
			ctx := context.Background()
			nodes := []plan.Peer{{IP: netip.MustParseAddr("192.168.77.1"), Subnet: netip.MustParsePrefix("10.244.1.0/24")}}
			for i := 1; i <= n; i++ {
				nodes = append(nodes, plan.Peer{IP: netip.AddrFrom4([4]byte{198, 18, byte(1 + i/250), byte(1 + i%250)}),
					Subnet: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 244, byte(2 + i/16), byte(i % 16 * 16)}), 28)})
			}
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				st := plan.NewStore(tmpfsDir(b))
				env := plan.Env{Proc: noProc, R: &readerRunner{}, St: st}
				m := testMesh
				if _, err := plan.Up(ctx, env, &m, false); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if _, err := plan.Up(ctx, env, &MeshSync{Name: "m1", Nodes: nodes, Whole: true}, false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
