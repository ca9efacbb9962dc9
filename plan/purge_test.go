package plan

import (
	"context"
	"errors"
	"io/fs"
	"slices"
	"testing"

	"plumb/actions"
	"plumb/plan/plantest"
)

// TestPurgeJournaled: the deletion `stop --rm` and `overlay unmount
// --purge` ask for is part of the teardown's journal. When it fails, or
// plumb dies while it runs, the journal stays, holding it, and recover
// runs it before the journal goes; a dry run shows it last.
func TestPurgeJournaled(t *testing.T) {
	for _, c := range []struct {
		name  string
		r     *plantest.FakeRunner
		crash bool
	}{
		{"fails", &plantest.FakeRunner{FailOn: "rm", FailStderr: "rm: cannot remove: Device or resource busy"}, false},
		{"killed", &plantest.FakeRunner{CrashOn: "rm"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			st := NewStore(t.TempDir())
			layout := st.Overlay("web").Base
			if c.r.FailOn != "" {
				c.r.FailOn = rm(layout)
			} else {
				c.r.CrashOn = rm(layout)
			}
			p := &Plan{Kind: "overlay", Name: "web", Steps: []Step{{Action: actions.Touch{Path: layout + "/uts"}}}}
			if _, err := Apply(ctx, &plantest.FakeRunner{}, st, p, Each); err != nil {
				t.Fatal(err)
			}
			rec, err := st.Load("overlay", "web")
			if err != nil {
				t.Fatal(err)
			}
			opts := DownOptions{Purge: actions.RemoveTree{Path: layout}}
			dry, err := Remove(ctx, Env{R: &plantest.FakeRunner{}, St: st, Mode: Each}, []*Record{rec}, opts, true)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(dry.Plan.Steps); n == 0 || actions.Quote(dry.Plan.Steps[n-1].Action.Argv()) != rm(layout) {
				t.Errorf("dry run: %v; want it to end with %s", dry.Plan.Steps, rm(layout))
			}
			func() {
				defer func() {
					if r := recover(); r != nil {
						if _, ok := r.(plantest.Crash); !ok || !c.crash {
							panic(r)
						}
					}
				}()
				_, err = Remove(ctx, Env{R: c.r, St: st, Mode: Each}, []*Record{rec}, opts, false)
			}()
			if !c.crash && err == nil {
				t.Fatal("Remove succeeded; want the purge's failure")
			}
			left, err := st.Load("overlay", "web")
			if err != nil {
				t.Fatalf("the journal is gone with the purge not done: %v", err)
			}
			if left.Purge == nil {
				t.Fatal("the journal does not hold the purge")
			}
			f := &plantest.FakeRunner{}
			if _, err := Recover(ctx, f, st); err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(f.Calls, rm(layout)) {
				t.Errorf("recover ran %q; want %s", f.Calls, rm(layout))
			}
			if _, err := st.Load("overlay", "web"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("journal after recover: %v; want it gone", err)
			}
		})
	}
}

// TestPurgeAlone: a layout left without its object is deleted under a
// journal of its own, gone once the deletion ran.
func TestPurgeAlone(t *testing.T) {
	ctx := context.Background()
	st := NewStore(t.TempDir())
	f := &plantest.FakeRunner{}
	ran, err := Purge(ctx, Env{R: f, St: st, Mode: Each}, "overlay", "web", actions.RemoveTree{Path: st.Overlay("web").Base})
	if err != nil || len(ran) != 1 || len(f.Calls) != 1 {
		t.Fatalf("Purge() = %q, %v; ran %q", ran, err, f.Calls)
	}
	if _, err := st.Load("overlay", "web"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("journal after purge: %v; want it gone", err)
	}
}

func rm(path string) string { return "rm -rf --one-file-system -- " + path }
