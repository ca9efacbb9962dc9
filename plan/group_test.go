package plan

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"plumb/actions"
	"plumb/plan/plantest"
)

// groupPlan is steps plumb does in-process on the host (files written, a
// file removed), a process (ip link add) and more files: the first three
// share a write ahead, the process has its own, the last two share one.
func groupPlan(dir string) *Plan {
	f := func(n string) actions.Action {
		return actions.WriteFile{Path: filepath.Join(dir, n), Content: n, For: "a test"}
	}
	return &Plan{Kind: "veth", Name: "grouped", Steps: []Step{
		{Action: f("a")}, {Action: f("b")}, {Action: actions.RemoveFile{Path: filepath.Join(dir, "gone")}},
		{Action: actions.LinkAddBridge{Name: "br0"}},
		{Action: f("c")}, {Action: f("d")},
	}}
}

// groupRunner checks, as each step runs, that the journal on disk says
// the steps of its group started and those before it done.
type groupRunner struct {
	plantest.FakeRunner
	t      *testing.T
	st     *Store
	p      *Plan
	groups [][2]int // first and last step of each write ahead
}

func (g *groupRunner) Run(ctx context.Context, argv []string, stdin []byte) ([]byte, error) {
	g.t.Helper()
	step := -1
	for i, s := range g.p.Steps {
		if actions.Quote(s.Action.Argv()) == actions.Quote(argv) {
			step = i
		}
	}
	var grp [2]int
	for _, gr := range g.groups {
		if step >= gr[0] && step <= gr[1] {
			grp = gr
		}
	}
	if rec, err := g.st.Load(g.p.Kind, g.p.Name); err != nil {
		g.t.Errorf("step %d: no journal: %v", step+1, err)
	} else {
		for i, s := range rec.Steps {
			want := Pending
			switch {
			case i < grp[0]:
				want = Done
			case i <= grp[1]:
				want = Started
			}
			if s.Status != want {
				g.t.Errorf("running step %d: the journal says step %d is %s, want %s", step+1, i+1, s.Status, want)
			}
		}
	}
	return g.FakeRunner.Run(ctx, argv, stdin)
}

// TestGroupedWriteAhead: consecutive steps plumb can do in-process share
// one write ahead (all started); a process has its own; Each mode (for
// debugging) writes ahead of every step. One failing among them leaves
// those before it done and those after it never started, and the
// rollback undoes only what ran.
func TestGroupedWriteAhead(t *testing.T) {
	for _, c := range []struct {
		mode   Mode
		groups [][2]int
	}{
		{Batch, [][2]int{{0, 2}, {3, 3}, {4, 5}}},
		{Each, [][2]int{{0, 0}, {1, 1}, {2, 2}, {3, 3}, {4, 4}, {5, 5}}},
	} {
		dir := t.TempDir()
		p := groupPlan(dir)
		st := NewStore(t.TempDir())
		writes := 0
		st.write = func(f *os.File, data []byte) (int, error) {
			if strings.HasPrefix(filepath.Base(f.Name()), ".grouped.json.tmp-") {
				writes++
			}
			return f.Write(data)
		}
		r := &groupRunner{t: t, st: st, p: p, groups: c.groups}
		if _, err := Apply(context.Background(), r, st, p, c.mode); err != nil {
			t.Fatal(err)
		}
		if want := len(c.groups) + 1; writes != want {
			t.Errorf("mode %d: %d journal writes, want %d", c.mode, writes, want)
		}
	}

	// Step 2 of the first group fails: step 1 is undone, 3 never ran.
	dir := t.TempDir()
	p := groupPlan(dir)
	st := NewStore(t.TempDir())
	r := &plantest.FakeRunner{FailOn: actions.Quote(p.Steps[1].Action.Argv()), FailStderr: "sh: 1: cannot create: Permission denied"}
	if _, err := Apply(context.Background(), r, st, p, Batch); err == nil {
		t.Fatal("no error from a failed step")
	}
	want := []string{actions.Quote(p.Steps[0].Action.Argv()), actions.Quote(p.Steps[1].Action.Argv()),
		actions.Quote(p.Steps[1].Action.Undo().Argv()), actions.Quote(p.Steps[0].Action.Undo().Argv())}
	if got := strings.Join(r.Calls, "\n"); got != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
}

// TestGroupedCrash: plumb killed in the middle of a group leaves all of
// its steps started; recover undoes them all, the one never run too
// (undos are idempotent), writing the journal once (see inProcess), and
// the journal is gone.
func TestGroupedCrash(t *testing.T) {
	dir := t.TempDir()
	p := groupPlan(dir)
	st := NewStore(t.TempDir())
	r := &plantest.FakeRunner{CrashOn: actions.Quote(p.Steps[1].Action.Argv())}
	func() {
		defer func() {
			if _, ok := recover().(plantest.Crash); !ok {
				t.Fatal("no crash")
			}
		}()
		Apply(context.Background(), r, st, p, Batch)
	}()
	rec, err := st.Load(p.Kind, p.Name)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []Status{Started, Started, Started, Pending, Pending, Pending} {
		if rec.Steps[i].Status != want {
			t.Errorf("after the crash, step %d is %s, want %s", i+1, rec.Steps[i].Status, want)
		}
	}
	// The undos done in-process are recorded by the next write, here the
	// journal's removal: one write alone, saying undoing.
	writes := 0
	st.write = func(f *os.File, data []byte) (int, error) {
		if strings.HasPrefix(filepath.Base(f.Name()), ".grouped.json.tmp-") {
			writes++
		}
		return f.Write(data)
	}
	r2 := &plantest.FakeRunner{}
	if _, err := Unwind(context.Background(), r2, st, rec); err != nil {
		t.Fatal(err)
	}
	if writes != 1 {
		t.Errorf("undoing wrote the journal %d times, want 1", writes)
	}
	want := []string{actions.Quote(p.Steps[1].Action.Undo().Argv()), actions.Quote(p.Steps[0].Action.Undo().Argv())}
	if got := strings.Join(r2.Calls, "\n"); got != strings.Join(want, "\n") {
		t.Errorf("undos:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	if _, err := st.Load(p.Kind, p.Name); !os.IsNotExist(err) {
		t.Errorf("the journal after the undos: %v", err)
	}
}
