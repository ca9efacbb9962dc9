package plan

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"plumb/actions"
	"plumb/plan/ipam"
	"plumb/plan/plantest"
)

// aheadRunner checks, as each process starts, what the journal on disk says
// (write-ahead): the steps before the process are done, the process's own
// are started with their undos recorded, the rest pending.
type aheadRunner struct {
	plantest.FakeRunner
	t     *testing.T
	st    *Store
	p     *Plan
	segs  []segment
	procs int
}

func (a *aheadRunner) Run(ctx context.Context, argv []string, stdin []byte) ([]byte, error) {
	if strings.HasPrefix(actions.Quote(argv), "sysctl -n ") {
		return a.FakeRunner.Run(ctx, argv, stdin) // a probe (the sysctl's old value), not a step
	}
	a.t.Helper()
	sg := a.segs[a.procs]
	a.procs++
	rec, err := a.st.Load(a.p.Kind, a.p.Name)
	if err != nil {
		a.t.Fatalf("process %d (%s) started with no journal: %v", a.procs, actions.Quote(argv), err)
	}
	for i, s := range rec.Steps {
		want := Pending
		switch {
		case i < sg.from:
			want = Done
		case i < sg.from+sg.len():
			want = Started
			if a.p.Steps[i].Shared == "" && a.p.Steps[i].Action.Undo() != nil && s.Undo == nil {
				a.t.Errorf("process %d: step %d started with no undo recorded", a.procs, i+1)
			}
		}
		if s.Status != want {
			a.t.Errorf("process %d (%s): the journal says step %d is %s, want %s", a.procs, actions.Quote(argv), i+1, s.Status, want)
		}
	}
	return a.FakeRunner.Run(ctx, argv, stdin)
}

// TestJournalWrittenAheadOnce: a plan applied alone writes its journal once
// before each process (its steps started, their undos), and once at the
// end (up); not also after each process, whose steps the next write marks
// done. In both modes, every process finds the journal written ahead.
func TestJournalWrittenAheadOnce(t *testing.T) {
	for _, mode := range []Mode{Batch, Each} {
		p := selfPair().plan()
		st := NewStore(t.TempDir())
		journal := "." + p.Name + ".json.tmp-"
		writes := 0
		st.write = func(f *os.File, data []byte) (int, error) {
			if strings.HasPrefix(filepath.Base(f.Name()), journal) {
				writes++
			}
			return f.Write(data)
		}
		r := &aheadRunner{t: t, st: st, p: p, segs: segments(p.Steps, mode)}
		rec, err := Apply(context.Background(), r, st, p, mode)
		if err != nil {
			t.Fatal(err)
		}
		if r.procs != len(r.segs) {
			t.Errorf("mode %d: %d processes, want %d", mode, r.procs, len(r.segs))
		}
		if want := len(r.segs) + 1; writes != want {
			t.Errorf("mode %d: the journal was written %d times for %d processes, want %d (one ahead of each, one at the end)", mode, writes, len(r.segs), want)
		}
		if rec.State != StateUp {
			t.Errorf("mode %d: state %s, want up", mode, rec.State)
		}
	}
}

// TestJournalBeforeLedger: a plan whose first process holds a shared
// setting writes its journal before the ledger names it.
func TestJournalBeforeLedger(t *testing.T) {
	p := &Plan{Kind: "veth", Name: "shared-first", Steps: []Step{{Action: actions.SysctlSet{Key: ipam.V4.ForwardingSysctl(), Value: "1"}, Shared: "sysctl " + ipam.V4.ForwardingSysctl()}}}
	st := NewStore(t.TempDir())
	ledgerFirst := false
	st.write = func(f *os.File, data []byte) (int, error) {
		if !strings.Contains(f.Name(), "/objects/") {
			if _, err := st.Load(p.Kind, p.Name); err != nil {
				ledgerFirst = true
			}
		}
		return f.Write(data)
	}
	if _, err := Apply(context.Background(), &plantest.FakeRunner{}, st, p, Batch); err != nil {
		t.Fatal(err)
	}
	if ledgerFirst {
		t.Error("the ledger was written before the journal of the plan that holds the setting")
	}
}

// TestApplyNoSteps: a plan with no steps (an image whose layers another
// process recorded while this one staged them) is recorded done, in both
// modes; it once indexed its first process and panicked.
func TestApplyNoSteps(t *testing.T) {
	for _, mode := range []Mode{Batch, Each} {
		st := NewStore(t.TempDir())
		p := &Plan{Kind: "image", Name: "sha256-0", Summary: "nothing left to do"}
		rec, err := Apply(context.Background(), &plantest.FakeRunner{}, st, p, mode)
		if err != nil {
			t.Fatalf("mode %v: %v", mode, err)
		}
		if got, err := st.Load(p.Kind, p.Name); err != nil || len(got.Steps) != 0 || rec.Name != p.Name {
			t.Fatalf("mode %v: journal %+v, %v", mode, got, err)
		}
	}
}
