package plan

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"plumb/actions"
)

// TestLockWaitNamesHolder: a second plumb waits for the lock, then names
// who holds it; once released, it gets it.
func TestLockWaitNamesHolder(t *testing.T) {
	dir := t.TempDir()
	first, second := NewStore(dir), NewStore(dir)
	ctx := context.Background()
	if err := first.Lock(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err := second.Lock(ctx, 100*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("is locked by pid %d", os.Getpid())) {
		t.Fatalf("second Lock() = %v; want it to name the holder", err)
	}
	if waited := time.Since(start); waited < 100*time.Millisecond {
		t.Errorf("gave up after %s; want it to wait", waited)
	}
	go func() { time.Sleep(50 * time.Millisecond); first.Unlock() }()
	if err := second.Lock(ctx, 2*time.Second); err != nil {
		t.Fatalf("Lock() after release = %v", err)
	}
	second.Unlock()
}

func TestUnwritableStateDir(t *testing.T) {
	if os.Geteuid() == 0 {
		// root writes anywhere but /proc.
		st := NewStore("/proc/plumb-state")
		if err := st.Lock(context.Background(), time.Second); err == nil || !strings.Contains(err.Error(), "cannot be created") {
			t.Errorf("Lock() on /proc = %v", err)
		}
		return
	}
	st := NewStore("/root/plumb-state")
	if err := st.Lock(context.Background(), time.Second); err == nil {
		t.Error("Lock() in an unwritable directory succeeded")
	}
}

// TestDecodeHeader: a header read up to the steps equals the whole
// journal's, and a journal with its fields in another order is still read.
func TestDecodeHeader(t *testing.T) {
	st := NewStore(t.TempDir())
	rec := withFacts(&Record{FormatVersion: FormatVersion, Kind: "attachment", Name: "br0-10.88.0.2", State: StateUp,
		Summary: "s", Target: &actions.Netns{PID: 7}, TargetID: "1:2", PID: 3,
		Steps: []StepRecord{{Status: Done}}}, AttachmentFacts{IP: netip.MustParseAddr("10.88.0.2")})
	if err := st.Save(rec); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(st.Journal(rec.Kind, rec.Name))
	if err != nil {
		t.Fatal(err)
	}
	want := *rec
	want.Steps = nil
	for _, in := range []string{string(data), `{"steps": [], "kind": "attachment", "name": "br0-10.88.0.2", "format_version": 1, "state": "up",
		"summary": "s", "facts": ` + string(rec.FactsJSON) + `, "facts_version": 1, "target": {"pid": 7}, "target_id": "1:2", "pid": 3,
		"created": "0001-01-01T00:00:00Z", "updated": "` + rec.Updated.Format(time.RFC3339Nano) + `"}`} {
		got, err := decodeHeader([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(&want, got, sameJSON); diff != "" {
			t.Errorf("header (-want +got):\n%s", diff)
		}
	}
	for _, bad := range []string{``, `[]`, `{"kind": "x"}`, `{"format_version": 1, "kind": 3}`} {
		if _, err := decodeHeader([]byte(bad)); err == nil {
			t.Errorf("decodeHeader(%q) accepted it", bad)
		}
	}
}

func TestStoreUsable(t *testing.T) {
	dir := t.TempDir()
	if err := NewStore(filepath.Join(dir, "a", "b")).Usable(); err != nil {
		t.Errorf("a state directory still to be made: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "f"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := NewStore(filepath.Join(dir, "f", "state")).Usable(); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("under a file: %v", err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := NewStore(dir).Usable(); err == nil {
		t.Error("a directory everyone may write is usable")
	}
}

// TestHeadersFollowWrites: headers read once stay true as the same store
// saves and removes journals, in the order a fresh read gives.
func TestHeadersFollowWrites(t *testing.T) {
	st := NewStore(t.TempDir())
	for _, n := range []string{"br0", "br0-1", "a", "z"} {
		if err := st.Save(&Record{FormatVersion: FormatVersion, Kind: "bridge", Name: n, State: StateUp}); err != nil {
			t.Fatal(err)
		}
	}
	if _, errs := st.Headers(); len(errs) > 0 {
		t.Fatal(errs)
	}
	for _, n := range []string{"br0.5", "b", "br0-"} {
		if err := st.Save(&Record{FormatVersion: FormatVersion, Kind: "bridge", Name: n, State: StateApplying}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Save(&Record{FormatVersion: FormatVersion, Kind: "attachment", Name: "br0-10.0.0.2", State: StateUp}); err != nil {
		t.Fatal(err)
	}
	if err := st.Remove(&Record{Kind: "bridge", Name: "z"}); err != nil {
		t.Fatal(err)
	}
	if err := st.Save(&Record{FormatVersion: FormatVersion, Kind: "bridge", Name: "a", State: StateUndoing}); err != nil {
		t.Fatal(err)
	}
	cached, _ := st.Headers()
	fresh, _ := NewStore(st.Dir).Headers()
	ids := func(recs []*Record) (out []string) {
		for _, r := range recs {
			out = append(out, r.ID()+" "+string(r.State))
		}
		return out
	}
	if d := cmp.Diff(ids(fresh), ids(cached)); d != "" {
		t.Errorf("cached headers differ from a fresh read (-fresh +cached):\n%s", d)
	}
}
