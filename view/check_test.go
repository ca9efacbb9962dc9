package view

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"plumb/plan"
)

// TestCheckChanging: a record not up whose lock another plumb holds is
// being changed, not left by a crash: check says so rather than advising
// recover; once the lock is free, it advises recover.
func TestCheckChanging(t *testing.T) {
	dir := t.TempDir()
	st := plan.NewStore(dir)
	rec := &plan.Record{FormatVersion: plan.FormatVersion, Kind: "mesh", Name: "m1", State: plan.StateApplying}
	if err := rec.SetFacts(plan.MeshFacts{VNI: 42}); err != nil {
		t.Fatal(err)
	}
	if err := st.Save(rec); err != nil {
		t.Fatal(err)
	}
	other := plan.NewStore(dir) // another plumb: its own open of the lock files
	if err := other.LockFor(context.Background(), time.Second, plan.NetworkLock("m1", false)); err != nil {
		t.Fatal(err)
	}
	report := func() string {
		t.Helper()
		r, err := Check(context.Background(), plan.Env{St: plan.NewStore(dir)}, "mesh/m1")
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		_ = r.Write(&b)
		return b.String()
	}
	if got := report(); !strings.Contains(got, "another plumb is changing it now (state applying)") {
		t.Errorf("while locked: %s", got)
	}
	other.Unlock()
	if got := report(); !strings.Contains(got, "run `plumb recover`") {
		t.Errorf("once free: %s", got)
	}
}
