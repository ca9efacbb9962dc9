package plan

import (
	"context"
	"errors"
	"io/fs"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"plumb/actions"
	"plumb/plan/plantest"
)

// veths is a step per name: `ip link add NAME ...`, undone by `ip link del
// NAME`, each a process of its own in Each mode.
func veths(names ...string) []Step {
	var out []Step
	for _, n := range names {
		out = append(out, Step{Action: actions.LinkAddVeth{Host: actions.IfName(n), Peer: actions.IfName("p" + n)}})
	}
	return out
}

func add(name string) string { return "ip link add " + name + " type veth peer name p" + name }
func del(name string) string { return "ip link del " + name }

// containerChain is a container's three plans, as container.Plan lays
// them out: its sandbox, its root, then the process, chained. member
// names a sandbox to join instead of making one.
func containerChain(name, member string) []*Plan {
	sandbox := name
	var plans []*Plan
	if member == "" {
		plans = append(plans, &Plan{Kind: "sandbox", Name: name, Facts: SandboxFacts{Netns: "plumb-" + name}, Steps: veths(name+"s1", name+"s2")})
	} else {
		sandbox = member
	}
	return append(plans,
		&Plan{Kind: "rootfs", Name: name, Facts: RootfsFacts{Root: OverlayFacts{Merged: "/o/" + name + "/merged"}}, Steps: veths(name + "r1")},
		&Plan{Kind: "container", Name: name, Facts: ContainerFacts{Sandbox: sandbox, Rootfs: name}, Steps: veths(name+"c1", name+"c2"), Chain: true})
}

func journals(t *testing.T, st *Store) []string {
	t.Helper()
	recs, errs := st.Headers()
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var out []string
	for _, r := range recs {
		out = append(out, r.ID()+" "+string(r.State))
	}
	slices.Sort(out)
	return out
}

// TestChain: a container's three plans apply one after the other, each
// marked up only once the last has run; a failure rolls back the plan
// that failed, then those before it, the last first, and its message
// numbers the step across the chain.
func TestChain(t *testing.T) {
	ctx := context.Background()
	st := NewStore(t.TempDir())
	f := &plantest.FakeRunner{}
	recs, err := execute(ctx, f, st, containerChain("a", ""), Each)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 || recs[2].ID() != "container/a" {
		t.Fatalf("records %v", recs)
	}
	if diff := cmp.Diff([]string{add("as1"), add("as2"), add("ar1"), add("ac1"), add("ac2")}, f.Calls); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"container/a up", "rootfs/a up", "sandbox/a up"}, journals(t, st)); diff != "" {
		t.Errorf("journals (-want +got):\n%s", diff)
	}

	for _, c := range []struct {
		fail   string
		step   int
		undone []string
	}{
		{add("bs2"), 2, []string{del("bs1")}},
		{add("br1"), 3, []string{del("bs2"), del("bs1")}},
		{add("bc2"), 5, []string{del("bc1"), del("br1"), del("bs2"), del("bs1")}},
	} {
		f := &plantest.FakeRunner{FailOn: c.fail}
		_, err := execute(ctx, f, st, containerChain("b", ""), Each)
		var ae *ApplyError
		if !errors.As(err, &ae) {
			t.Fatalf("%s fails: %v, want an ApplyError", c.fail, err)
		}
		if ae.Step != c.step || ae.Total != 5 || !strings.Contains(err.Error(), "the host is as it was before") {
			t.Errorf("%s fails: step %d of %d: %v", c.fail, ae.Step, ae.Total, err)
		}
		if diff := cmp.Diff(c.undone, ae.Undone); diff != "" {
			t.Errorf("%s fails: undone (-want +got):\n%s", c.fail, diff)
		}
		if got := journals(t, st); len(got) != 3 {
			t.Errorf("%s fails: journals left %v, want container/a's alone", c.fail, got)
		}
	}
}

// TestChainCrash: plumb killed in the middle of a chain leaves every
// object made so far unfinished; recover undoes them dependents first
// (the root before the sandbox), and removes one that nothing holds: the
// sandbox a crash between the marks at the end leaves up.
func TestChainCrash(t *testing.T) {
	ctx := context.Background()
	st := NewStore(t.TempDir())
	func() {
		defer func() {
			if r := recover(); r != nil {
				if _, ok := r.(plantest.Crash); !ok {
					panic(r)
				}
			}
		}()
		execute(ctx, &plantest.FakeRunner{CrashOn: add("ac1")}, st, containerChain("a", ""), Each)
		t.Fatal("no crash")
	}()
	if diff := cmp.Diff([]string{"container/a applying", "rootfs/a applying", "sandbox/a applying"}, journals(t, st)); diff != "" {
		t.Errorf("journals after the crash (-want +got):\n%s", diff)
	}
	f := &plantest.FakeRunner{}
	done, err := Recover(ctx, f, st)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"container/a", "rootfs/a", "sandbox/a"}, done); diff != "" {
		t.Errorf("recovered (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{del("ac1"), del("ar1"), del("as2"), del("as1")}, f.Calls); diff != "" {
		t.Errorf("recover ran (-want +got):\n%s", diff)
	}

	// Up, but held by nothing: a crash after the sandbox was marked up.
	if _, err := Apply(ctx, &plantest.FakeRunner{}, st, containerChain("c", "")[0], Each); err != nil {
		t.Fatal(err)
	}
	if o := Orphans(st); len(o) != 1 || o[0].ID() != "sandbox/c" {
		t.Errorf("orphans %v, want sandbox/c", o)
	}
	f = &plantest.FakeRunner{}
	if done, err := Recover(ctx, f, st); err != nil || !slices.Equal(done, []string{"sandbox/c"}) {
		t.Errorf("recover of an orphan: %v, %v", done, err)
	}
	if got := journals(t, st); len(got) != 0 {
		t.Errorf("journals left %v", got)
	}
}

// TestHeldRemoval: a container's removal takes its root along, and its
// sandbox when no other container runs in it; the last member takes the
// sandbox; neither goes alone while held.
func TestHeldRemoval(t *testing.T) {
	ctx := context.Background()
	st := NewStore(t.TempDir())
	env := Env{R: &plantest.FakeRunner{}, St: st, Mode: Each}
	for _, c := range [][]*Plan{containerChain("own", ""), containerChain("mem", "own")} {
		if _, err := execute(ctx, env.R, st, c, Each); err != nil {
			t.Fatal(err)
		}
	}
	load := func(id string) *Record {
		r, err := Find(st, id)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for _, id := range []string{"sandbox/own", "rootfs/own"} {
		_, err := Remove(ctx, env, []*Record{load(id)}, DownOptions{}, false)
		var r *Refused
		if !errors.As(err, &r) || !strings.Contains(r.Msg, "is held by container/") {
			t.Errorf("%s removed alone: %v", id, err)
		}
	}
	if got := load("own").ID(); got != "container/own" {
		t.Errorf("Find(own) = %s, want the container", got)
	}
	// A dry run shows the three objects' undos, the container's first.
	td, err := Remove(ctx, env, []*Record{load("container/own")}, DownOptions{Purge: actions.RemoveTree{Path: st.Overlay("own").Base}}, true)
	if err != nil {
		t.Fatal(err)
	}
	var dry []string
	for _, s := range td.Plan.Steps {
		dry = append(dry, actions.Quote(s.Action.Argv()))
	}
	if want := []string{del("ownc2"), del("ownc1"), del("ownr1"), "rm -rf --one-file-system -- " + st.Overlay("own").Base}; !slices.Equal(dry, want) {
		t.Errorf("dry run of the owner's removal: %q, want %q (its sandbox stays for mem)", dry, want)
	}
	if _, err := Remove(ctx, env, []*Record{load("container/own")}, DownOptions{}, false); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"container/mem up", "rootfs/mem up", "sandbox/own up"}, journals(t, st)); diff != "" {
		t.Errorf("after the owner's removal (-want +got):\n%s", diff)
	}
	if got := load("own").ID(); got != "sandbox/own" {
		t.Errorf("Find(own) = %s once the container is gone, want its sandbox", got)
	}
	if _, err := Remove(ctx, env, []*Record{load("container/mem")}, DownOptions{}, false); err != nil {
		t.Fatal(err)
	}
	if got := journals(t, st); len(got) != 0 {
		t.Errorf("after the last member's removal: %v", got)
	}
	if _, err := st.Load("sandbox", "own"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the sandbox: %v", err)
	}
}

// TestPurgeFollowsRoot: a container's purge goes to its root file system,
// written before anything is undone: plumb killed between the container's
// removal and its root's leaves the purge journaled, and recover runs it
// after the root's undos.
func TestPurgeFollowsRoot(t *testing.T) {
	ctx := context.Background()
	st := NewStore(t.TempDir())
	if _, err := execute(ctx, &plantest.FakeRunner{}, st, containerChain("p", ""), Each); err != nil {
		t.Fatal(err)
	}
	rec, err := st.Load("container", "p")
	if err != nil {
		t.Fatal(err)
	}
	dir := st.Overlay("p").Base
	func() {
		defer func() {
			if r := recover(); r != nil {
				if _, ok := r.(plantest.Crash); !ok {
					panic(r)
				}
			}
		}()
		Remove(ctx, Env{R: &plantest.FakeRunner{CrashOn: del("ps2")}, St: st, Mode: Each}, []*Record{rec}, DownOptions{Purge: actions.RemoveTree{Path: dir}}, false)
		t.Fatal("no crash")
	}()
	root, err := st.Load("rootfs", "p")
	if err != nil || root.Purge == nil {
		t.Fatalf("the root's journal after the crash: %v, purge %v", err, root != nil && root.Purge != nil)
	}
	f := &plantest.FakeRunner{}
	if _, err := Recover(ctx, f, st); err != nil {
		t.Fatal(err)
	}
	if want := "rm -rf --one-file-system -- " + dir; len(f.Calls) == 0 || f.Calls[len(f.Calls)-1] != want {
		t.Errorf("recover ran %q; want it to end with %s", f.Calls, want)
	}
}
