package network

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"plumb/actions"
	"plumb/plan"
	"plumb/plan/ipam"
	"plumb/plan/plantest"
)

func attachmentRec(name, ip, target string, state plan.State, ports ...plan.Port) *plan.Record {
	return withFacts(&plan.Record{FormatVersion: plan.FormatVersion, Kind: "attachment", Name: name, State: state},
		plan.AttachmentFacts{Bridge: "br0", IP: netip.MustParseAddr(ip), PrefixLen: 24, Gateway: netip.MustParseAddr("10.88.0.1"),
			HostVeth: "veth" + actions.IfName(strings.ReplaceAll(ip, ".", "")), If: "eth0", Target: target, Ports: ports})
}

// TestIndex: with the index, a bridge's addresses, a container's
// attachment, a port's publisher and the unfinished plans are found as
// reading every journal finds them; saves and removes keep it so, entries
// a crash left without a journal read as absent, and recover drops them.
func TestIndex(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := plan.NewStore(dir)
	if err := st.Lock(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	defer st.Unlock()
	// Journals of before the index: it is built from them.
	for _, r := range []*plan.Record{
		attachmentRec("br0-10.88.0.2", "10.88.0.2", "pid 100", plan.StateUp, plan.Port{Proto: "tcp", Host: 8080, Container: 80}),
		attachmentRec("br0-10.88.0.3", "10.88.0.3", "netns c/1=x", plan.StateApplying),
		{FormatVersion: plan.FormatVersion, Kind: "veth", Name: "v0", State: plan.StateUndoing},
	} {
		if err := st.Save(r); err != nil {
			t.Fatal(err)
		}
	}
	if st.Indexed() {
		t.Fatal("indexed before BuildIndex")
	}
	scan := answers(t, st)
	if err := st.BuildIndex(); err != nil {
		t.Fatal(err)
	}
	if !st.Indexed() {
		t.Fatal("not indexed after BuildIndex")
	}
	if d := cmp.Diff(scan, answers(t, st)); d != "" {
		t.Errorf("the index answers otherwise than the journals (-journals +index):\n%s", d)
	}
	// Kept by saves and removes.
	r4 := attachmentRec("cni-x", "10.88.0.4", "netns-file /var/run/netns/cni-1", plan.StateApplying, plan.Port{Proto: "udp", Host: 53, Container: 53})
	if err := st.Save(r4); err != nil {
		t.Fatal(err)
	}
	r4.State = plan.StateUp
	if err := st.Save(r4); err != nil {
		t.Fatal(err)
	}
	if err := st.Remove(attachmentRec("br0-10.88.0.2", "10.88.0.2", "pid 100", plan.StateUp, plan.Port{Proto: "tcp", Host: 8080, Container: 80})); err != nil {
		t.Fatal(err)
	}
	fresh := plan.NewStore(dir) // reads the journals, not this store's cache
	fresh.SkipIndex()
	if d := cmp.Diff(answers(t, fresh), answers(t, st)); d != "" {
		t.Errorf("after saves and a remove (-journals +index):\n%s", d)
	}
	// A crash between an entry and its journal: the entry is stale.
	if err := st.WriteEntry(filepath.Join(st.BridgeIndex("br0"), "target-"+plan.IndexKey("pid 7")), "attachment/gone"); err != nil {
		t.Fatal(err)
	}
	if err := st.WriteEntry(filepath.Join(st.BridgeIndex("br0"), "ip-10.88.0.9"), "attachment/gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := FindAttachment(st, "br0", actions.Netns{PID: 7}, netip.Addr{}); err == nil {
		t.Error("a stale entry found an attachment")
	}
	if addrs, _ := st.BridgeAddrs("br0"); addrs[netip.MustParseAddr("10.88.0.9")] == "" {
		t.Error("a stale entry's address is given out again before recover")
	}
	if _, err := plan.Recover(ctx, &plantest.FakeRunner{}, st); err != nil {
		t.Fatal(err)
	}
	if addrs, _ := st.BridgeAddrs("br0"); addrs[netip.MustParseAddr("10.88.0.9")] != "" {
		t.Error("recover kept a stale entry")
	}
	// Every object gone: no entry left but the mark.
	for _, r := range []*plan.Record{r4} {
		if err := st.Remove(r); err != nil {
			t.Fatal(err)
		}
	}
	var left []string
	_ = filepath.WalkDir(st.IndexDir(), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			left = append(left, strings.TrimPrefix(p, st.IndexDir()+"/"))
		}
		return nil
	})
	if d := cmp.Diff([]string{"v1"}, left); d != "" {
		t.Errorf("index entries left with no object (-want +got):\n%s", d)
	}
}

// answers are what the lookups say, by whichever way the store has.
func answers(t *testing.T, st *plan.Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, ip := range []string{"10.88.0.2", "10.88.0.3", "10.88.0.4", "10.88.0.5"} {
		a := &Attach{Network: BridgeNetwork{Name: "br0", BridgeFacts: plan.BridgeFacts{Subnet: netip.MustParsePrefix("10.88.0.0/24"), Gateway: netip.MustParseAddr("10.88.0.1")}},
			Target: actions.Netns{PID: 1}, IP: netip.MustParseAddr(ip)}
		out["allocate "+ip] = "free"
		if err := a.Allocate(st); err != nil {
			out["allocate "+ip] = err.Error()
		}
	}
	next := &Attach{Network: BridgeNetwork{Name: "br0", BridgeFacts: plan.BridgeFacts{Subnet: netip.MustParsePrefix("10.88.0.0/24"), Gateway: netip.MustParseAddr("10.88.0.1")}}, Target: actions.Netns{PID: 1}}
	if err := next.Allocate(st); err != nil {
		t.Fatal(err)
	}
	out["next address"] = next.IP.String()
	for _, tg := range []actions.Netns{{PID: 100}, {Name: "c/1=x"}, {File: "/var/run/netns/cni-1"}, {PID: 5}} {
		r, err := FindAttachment(st, "br0", tg, netip.Addr{})
		out["target "+tg.Label()] = "none"
		if err == nil {
			out["target "+tg.Label()] = r.ID()
		}
	}
	for _, p := range []plan.Port{{Proto: "tcp", Host: 8080}, {Proto: "udp", Host: 53}, {Proto: "tcp", Host: 53}} {
		out["port "+p.String()] = "free"
		if err := portsFree(st, []plan.Port{p}); err != nil {
			out["port "+p.String()] = err.Error()
		}
	}
	var ids []string
	for _, r := range plan.Interrupted(st) {
		ids = append(ids, r.ID())
	}
	out["interrupted"] = strings.Join(ids, " ")
	return out
}

// TestIndexDistrust: the index is not trusted where it may be wrong, and
// an entry is not trusted beyond what its object still says.
func TestIndexDistrust(t *testing.T) {
	ctx := context.Background()
	newStore := func(t *testing.T, dir string) *plan.Store {
		st := plan.NewStore(dir)
		if err := st.Lock(ctx, time.Second); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(st.Unlock)
		return st
	}
	save := func(t *testing.T, st *plan.Store, r *plan.Record) {
		t.Helper()
		if err := st.Save(r); err != nil {
			t.Fatal(err)
		}
	}
	built := func(t *testing.T, st *plan.Store) {
		t.Helper()
		if err := st.BuildIndex(); err != nil || !st.Indexed() {
			t.Fatalf("BuildIndex: %v, indexed %v", err, st.Indexed())
		}
	}
	bridge := BridgeNetwork{Name: "br0", BridgeFacts: plan.BridgeFacts{Subnet: netip.MustParsePrefix("10.88.0.0/24"), Gateway: netip.MustParseAddr("10.88.0.1")}}

	t.Run("an entry whose object now has another address", func(t *testing.T) {
		st := newStore(t, t.TempDir())
		built(t, st)
		save(t, st, attachmentRec("x", "10.88.0.12", "pid 12", plan.StateUp))
		// A crashed ADD's entry for .11, under the same ID as the retry's.
		if err := st.WriteEntry(filepath.Join(st.BridgeIndex("br0"), "ip-10.88.0.11"), "attachment/x"); err != nil {
			t.Fatal(err)
		}
		if r, err := FindAttachment(st, "br0", actions.Netns{}, netip.MustParseAddr("10.88.0.11")); err == nil {
			t.Errorf("found %s by an address it does not have", r.ID())
		}
		a := &Attach{Network: bridge, Target: actions.Netns{PID: 1}, IP: netip.MustParseAddr("10.88.0.11")}
		if err := a.Allocate(st); err != nil {
			t.Errorf("the stale entry's address is refused: %v", err)
		}
	})
	t.Run("a full range loses its stale entries first", func(t *testing.T) {
		st := newStore(t, t.TempDir())
		built(t, st)
		save(t, st, attachmentRec("y", "10.88.0.2", "pid 2", plan.StateUp))
		if err := st.WriteEntry(filepath.Join(st.BridgeIndex("br0"), "ip-10.88.0.3"), "attachment/gone"); err != nil {
			t.Fatal(err)
		}
		a := &Attach{Network: bridge, Target: actions.Netns{PID: 1}, Range: ipam.Range{Start: netip.MustParseAddr("10.88.0.2"), End: netip.MustParseAddr("10.88.0.3")}}
		if err := a.Allocate(st); err != nil || a.IP != netip.MustParseAddr("10.88.0.3") {
			t.Errorf("allocate: %v, %s; want 10.88.0.3", err, a.IP)
		}
	})
	t.Run("journals written without the index", func(t *testing.T) {
		dir := t.TempDir()
		st := newStore(t, dir)
		built(t, st)
		st.Unlock()
		time.Sleep(20 * time.Millisecond) // past the file system clock's tick
		// An older plumb: it writes journals and no entries.
		old := plan.NewStore(dir)
		old.SkipIndex()
		save(t, old, attachmentRec("old", "10.88.0.5", "pid 5", plan.StateUp, plan.Port{Proto: "tcp", Host: 8080, Container: 80}))
		again := newStore(t, dir)
		if again.Indexed() {
			t.Fatal("the index is trusted after a journal written without it")
		}
		built(t, again)
		if err := portsFree(again, []plan.Port{{Proto: "tcp", Host: 8080}}); err == nil {
			t.Error("a port the older plumb published is free by the rebuilt index")
		}
	})
	t.Run("another boot's index", func(t *testing.T) {
		st := newStore(t, t.TempDir())
		built(t, st)
		if err := os.WriteFile(st.IndexMark(), []byte("plumb index v1\nboot another\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if plan.NewStore(st.Dir).Indexed() {
			t.Error("an index of another boot is trusted")
		}
	})
	t.Run("a crashed build's entries go", func(t *testing.T) {
		st := newStore(t, t.TempDir())
		if err := st.WriteEntry(filepath.Join(st.BridgeIndex("br0"), "ip-10.88.0.7"), "attachment/gone"); err != nil {
			t.Fatal(err)
		}
		built(t, st)
		if addrs, _ := st.BridgeAddrs("br0"); len(addrs) != 0 {
			t.Errorf("entries of before the build: %v", addrs)
		}
	})
	t.Run("a symbolic link in the index", func(t *testing.T) {
		st := newStore(t, t.TempDir())
		built(t, st)
		outside := t.TempDir()
		if err := os.Symlink(outside, filepath.Join(st.IndexDir(), "port")); err != nil {
			t.Fatal(err)
		}
		err := st.Save(attachmentRec("z", "10.88.0.9", "pid 9", plan.StateUp, plan.Port{Proto: "tcp", Host: 9090, Container: 80}))
		if err == nil || !strings.Contains(err.Error(), "symbolic link") {
			t.Errorf("Save through a linked index directory: %v", err)
		}
		if left, _ := os.ReadDir(outside); len(left) != 0 {
			t.Errorf("written outside the state directory: %v", left)
		}
	})
}
