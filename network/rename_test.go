package network

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"plumb/plan"
	"plumb/plan/plantest"
)

// TestRename: an attachment's aliases change in place: its record and the
// names index answer the new names and no longer the old, nothing runs on
// the host, and asked again it is nothing to do; with the index gone, the
// journals say the same.
func TestRename(t *testing.T) {
	ctx := context.Background()
	st, br := indexedBridge(t)
	rec := namesAttach(t, st, br, &Attach{IP: netip.MustParseAddr("10.88.0.2"), Name: "web", Aliases: []string{"www", "old"}})
	r := &FakeAwareRunner{}
	env := plan.Env{Proc: noProc, R: r, St: st}
	out, err := plan.Up(ctx, env, &Rename{Rec: rec, Names: []string{"web", "www", "new"}}, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Plans) != 1 || out.Plans[0].Base == nil || len(out.Plans[0].Steps) != 0 {
		t.Fatalf("rename: %+v", out.Plans)
	}
	if r.ran != 0 {
		t.Errorf("a rename ran %d commands", r.ran)
	}
	now, err := st.LoadHeader(rec.Kind, rec.Name)
	if err != nil || now.State != plan.StateUp || cmp.Diff([]string{"web", "www", "new"}, now.Names) != "" {
		t.Fatalf("record after rename: %v %v %v", err, now.State, now.Names)
	}
	want := map[string][]netip.Addr{"web": addrs("10.88.0.2"), "www": addrs("10.88.0.2"), "new": addrs("10.88.0.2")}
	if d := cmp.Diff(want, st.Names("br0"), addrCmp); d != "" {
		t.Errorf("names index after rename (-want +got):\n%s", d)
	}
	again, err := plan.Up(ctx, env, &Rename{Rec: now, Names: []string{"web", "www", "new"}}, false)
	if err != nil || again.Unchanged == nil {
		t.Errorf("the same names again: %v, %+v", err, again)
	}
	if err := st.RebuildIndex(); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, st.Names("br0"), addrCmp); d != "" {
		t.Errorf("names from the journals (-want +got):\n%s", d)
	}
}

// TestRenameRecovered: a rename a crash interrupted (its journal still
// applying, the new names recorded) is rolled back by plumb recover: the
// old names are the record's and the index's again, the new ones gone.
func TestRenameRecovered(t *testing.T) {
	ctx := context.Background()
	st, br := indexedBridge(t)
	rec := namesAttach(t, st, br, &Attach{IP: netip.MustParseAddr("10.88.0.2"), Name: "web", Aliases: []string{"old"}})
	full, err := st.Load(rec.Kind, rec.Name)
	if err != nil {
		t.Fatal(err)
	}
	// As newUpdateRecord leaves it before its save as up.
	crashed := *full
	crashed.State = plan.StateApplying
	crashed.Updating = &plan.Updating{From: len(full.Steps), Summary: full.Summary, FactsJSON: full.FactsJSON, FactsVersion: full.FactsVersion,
		Renamed: true, Names: full.Names}
	crashed.Names = []string{"web", "new"}
	if err := st.Save(&crashed); err != nil {
		t.Fatal(err)
	}
	if _, err := plan.Recover(ctx, &plantest.FakeRunner{}, st); err != nil {
		t.Fatal(err)
	}
	now, err := st.LoadHeader(rec.Kind, rec.Name)
	if err != nil || now.State != plan.StateUp || cmp.Diff([]string{"web", "old"}, now.Names) != "" {
		t.Fatalf("after recover: %v %v %v", err, now.State, now.Names)
	}
	want := map[string][]netip.Addr{"web": addrs("10.88.0.2"), "old": addrs("10.88.0.2")}
	if d := cmp.Diff(want, st.Names("br0"), addrCmp); d != "" {
		t.Errorf("names index after recover (-want +got):\n%s", d)
	}
}

// indexedBridge is a locked store with bridge br0 up and the index built.
func indexedBridge(t *testing.T) (*plan.Store, BridgeNetwork) {
	t.Helper()
	st := plan.NewStore(t.TempDir())
	if err := st.Lock(context.Background(), time.Second); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Unlock)
	br := bridgeUp(t, st, "10.88.0.0/24")
	if err := st.BuildIndex(); err != nil {
		t.Fatal(err)
	}
	return st, br
}

// FakeAwareRunner counts the commands run.
type FakeAwareRunner struct {
	plantest.FakeRunner
	ran int
}

func (f *FakeAwareRunner) Run(ctx context.Context, argv []string, stdin []byte) ([]byte, error) {
	f.ran++
	return f.FakeRunner.Run(ctx, argv, stdin)
}
