package plan

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"plumb/actions"
	"plumb/plan/plantest"
)

func lines(p *Plan) []string {
	var out []string
	for _, s := range p.Steps {
		out = append(out, actions.Quote(s.Action.Argv()))
	}
	return out
}

// TestRollbackAtEachStep fails each step in turn and checks the commands
// run: the steps up to the failure, then the undos of those done, reversed.
func TestRollbackAtEachStep(t *testing.T) {
	p := selfPair().plan()
	cmds := lines(p)
	undos := map[int]string{ // step index (0-based) -> its undo
		0:  "ip link del veth-host",
		8:  "sysctl -w net.ipv4.ip_forward=0",
		9:  "iptables -D FORWARD -i veth-host -o eth0 -j ACCEPT",
		10: "iptables -D FORWARD -i eth0 -o veth-host -m state --state RELATED,ESTABLISHED -j ACCEPT",
		11: "iptables -t nat -D POSTROUTING -s 10.200.0.0/24 -o eth0 -j MASQUERADE",
	}
	for k := range cmds {
		t.Run(cmds[k], func(t *testing.T) {
			st := NewStore(t.TempDir())
			f := &plantest.FakeRunner{FailOn: cmds[k]}
			_, err := Apply(context.Background(), f, st, p, Each)
			var ae *ApplyError
			if !errors.As(err, &ae) || ae.Step != k+1 || ae.UndoErr != nil {
				t.Fatalf("Apply() = %v; want step %d to fail and roll back cleanly", err, k+1)
			}
			var want []string
			for i := 0; i <= k; i++ {
				if i == 8 {
					want = append(want, "sysctl -n net.ipv4.ip_forward")
				}
				want = append(want, cmds[i])
			}
			for i := k; i >= 0; i-- {
				// A failed step may have done part of its work, so it is
				// undone too, unless it failed because what it makes was
				// there before: the stand-in's "File exists" for step 1.
				if u, ok := undos[i]; ok && (i < k || i == k && k != 0) {
					want = append(want, u)
				}
			}
			if diff := cmp.Diff(want, f.Calls); diff != "" {
				t.Errorf("commands run (-want +got):\n%s", diff)
			}
			assertEmptyStore(t, st)
		})
	}
}

func assertEmptyStore(t *testing.T, st *Store) {
	t.Helper()
	recs, errs := st.List()
	if len(recs) != 0 || len(errs) != 0 {
		t.Errorf("store keeps %d records (%v) after a complete rollback", len(recs), errs)
	}
	if _, err := os.Stat(st.ledger()); !os.IsNotExist(err) {
		t.Errorf("shared ledger left behind: %v", err)
	}
}

func TestUndoFailureIsKeptAndRetried(t *testing.T) {
	st := NewStore(t.TempDir())
	p := selfPair().plan()
	f := &plantest.FakeRunner{FailOn: "ip link set veth-host up"}
	// Make the undo fail too, with an error that is not "already gone".
	f2 := &undoFailer{FakeRunner: f, undo: "ip link del veth-host"}
	_, err := Apply(context.Background(), f2, st, p, Each)
	var ae *ApplyError
	if !errors.As(err, &ae) || ae.UndoErr == nil {
		t.Fatalf("Apply() = %v; want a failed undo reported", err)
	}
	if !strings.Contains(err.Error(), "plumb recover") {
		t.Errorf("error does not point to recover: %v", err)
	}
	rec, err := st.Load("veth", "veth-host")
	if err != nil || rec.State != StateUndoFailed {
		t.Fatalf("journal after failed undo: %v, %v", rec, err)
	}
	// The undo now works: recover finishes, and a second recover does nothing.
	f3 := &plantest.FakeRunner{}
	got, err := Recover(context.Background(), f3, st)
	if err != nil || len(got) != 1 {
		t.Fatalf("Recover() = %v, %v", got, err)
	}
	if diff := cmp.Diff([]string{"ip link del veth-host"}, f3.Calls); diff != "" {
		t.Errorf("recover ran (-want +got):\n%s", diff)
	}
	f4 := &plantest.FakeRunner{}
	if got, err := Recover(context.Background(), f4, st); err != nil || len(got) != 0 || len(f4.Calls) != 0 {
		t.Errorf("second Recover() = %v, %v, ran %v; want nothing", got, err, f4.Calls)
	}
	assertEmptyStore(t, st)
}

type undoFailer struct {
	*plantest.FakeRunner
	undo string
}

func (u *undoFailer) Run(ctx context.Context, argv []string, stdin []byte) ([]byte, error) {
	if actions.Quote(argv) == u.undo {
		u.Calls = append(u.Calls, u.undo)
		return nil, &actions.ExecError{Argv: argv, Code: 2, Stderr: "RTNETLINK answers: Operation not permitted"}
	}
	return u.FakeRunner.Run(ctx, argv, stdin)
}

func TestUndoOfWhatIsGoneSucceeds(t *testing.T) {
	st := NewStore(t.TempDir())
	p := selfPair().plan()
	if _, err := Apply(context.Background(), &plantest.FakeRunner{}, st, p, Each); err != nil {
		t.Fatal(err)
	}
	rec, _ := st.Load("veth", "veth-host")
	f := &plantest.FakeRunner{FailOn: "ip link del veth-host", FailStderr: `Cannot find device "veth-host"`}
	if _, err := Unwind(context.Background(), f, st, rec); err != nil {
		t.Fatalf("unwind() with the link already gone = %v", err)
	}
	assertEmptyStore(t, st)
}

// TestCrashThenRecover kills apply (a panic stands in for SIGKILL) while
// each step runs: the step is journaled as started, and recover undoes it
// along with those before it.
func TestCrashThenRecover(t *testing.T) {
	p := selfPair().plan()
	cmds := lines(p)
	for k := range cmds {
		t.Run(cmds[k], func(t *testing.T) {
			st := NewStore(t.TempDir())
			func() {
				defer func() {
					if r := recover(); r != nil {
						if _, ok := r.(plantest.Crash); !ok {
							panic(r)
						}
					}
				}()
				_, _ = Apply(context.Background(), &plantest.FakeRunner{CrashOn: cmds[k]}, st, p, Each)
				t.Fatal("apply did not crash")
			}()
			rec, err := st.Load("veth", "veth-host")
			if err != nil || rec.State != StateApplying || rec.Steps[k].Status != Started {
				t.Fatalf("journal after crash at step %d: %+v, %v", k+1, rec, err)
			}
			f := &plantest.FakeRunner{}
			if _, err := Recover(context.Background(), f, st); err != nil {
				t.Fatal(err)
			}
			if len(f.Calls) == 0 || f.Calls[len(f.Calls)-1] != "ip link del veth-host" {
				t.Errorf("recover ran %v; want it to end deleting the link", f.Calls)
			}
			if k >= 9 && !contains(f.Calls, actions.Quote(p.Steps[k].Action.Undo().Argv())) {
				t.Errorf("recover ran %v; want the undo of the step that was running", f.Calls)
			}
			assertEmptyStore(t, st)
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestSharedSysctl: forwarding is restored only when the last object that
// needed it goes, and never when plumb found it already on.
func TestSharedSysctl(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		original string
		want     []string // commands run by the second down
	}{
		{"plumb turned it on", "0", []string{"sysctl -w net.ipv4.ip_forward=0"}},
		{"it was on already", "1", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := NewStore(t.TempDir())
			a, b := selfPair(), selfPair()
			b.HostIf, b.ContIf, b.Subnet = "vh2", "vc2", netip.MustParsePrefix("10.201.0.0/24")
			b.HostIP, b.ContIP = netip.MustParseAddr("10.201.0.1"), netip.MustParseAddr("10.201.0.2")
			if _, err := Apply(ctx, &plantest.FakeRunner{Sysctl: tt.original}, st, a.plan(), Each); err != nil {
				t.Fatal(err)
			}
			// By now forwarding is on, whatever it was.
			if _, err := Apply(ctx, &plantest.FakeRunner{Sysctl: "1"}, st, b.plan(), Each); err != nil {
				t.Fatal(err)
			}
			recA, _ := st.Load("veth", "veth-host")
			f := &plantest.FakeRunner{}
			if _, err := Unwind(ctx, f, st, recA); err != nil {
				t.Fatal(err)
			}
			if contains(f.Calls, "sysctl -w net.ipv4.ip_forward=0") {
				t.Errorf("first down restored forwarding while vh2 still needs it: %v", f.Calls)
			}
			recB, _ := st.Load("veth", "vh2")
			undos, _ := UndoPlan(st, recB)
			f = &plantest.FakeRunner{}
			if _, err := Unwind(ctx, f, st, recB); err != nil {
				t.Fatal(err)
			}
			var sys []string
			for _, c := range f.Calls {
				if strings.HasPrefix(c, "sysctl") {
					sys = append(sys, c)
				}
			}
			if diff := cmp.Diff(tt.want, sys); diff != "" {
				t.Errorf("last down's sysctl commands (-want +got):\n%s", diff)
			}
			var planned []string
			for _, u := range undos {
				planned = append(planned, actions.Quote(u.Argv()))
			}
			if diff := cmp.Diff(planned, f.Calls); diff != "" {
				t.Errorf("down --dry-run differs from what down ran (-dry +ran):\n%s", diff)
			}
			assertEmptyStore(t, st)
		})
	}
}

func TestCorruptJournalIsNeverUndone(t *testing.T) {
	ctx := context.Background()
	good := func(t *testing.T) (*Store, string) {
		st := NewStore(t.TempDir())
		if _, err := Apply(ctx, &plantest.FakeRunner{}, st, selfPair().plan(), Each); err != nil {
			t.Fatal(err)
		}
		return st, filepath.Join(st.Dir, "objects", "veth", "veth-host.json")
	}
	edits := map[string]func(string) string{
		"truncated":      func(s string) string { return s[:len(s)/2] },
		"future version": func(s string) string { return strings.Replace(s, `"format_version": 1`, `"format_version": 9`, 1) },
		"edited command": func(s string) string {
			return strings.Replace(s, `"ip",
          "link",
          "del",
          "veth-host"`, `"ip",
          "link",
          "del",
          "eth0"`, 1)
		},
		"unknown state": func(s string) string { return strings.Replace(s, `"state": "up"`, `"state": "sideways"`, 1) },
		"empty":         func(string) string { return "" },
	}
	for name, edit := range edits {
		t.Run(name, func(t *testing.T) {
			st, path := good(t)
			data, _ := os.ReadFile(path)
			edited := edit(string(data))
			if edited == string(data) {
				t.Fatal("edit changed nothing; the test would prove nothing")
			}
			os.WriteFile(path, []byte(edited), 0o600)
			_, err := st.Load("veth", "veth-host")
			var ce *CorruptError
			if !errors.As(err, &ce) || ce.Path != path {
				t.Fatalf("Load() = %v; want a CorruptError naming %s", err, path)
			}
			f := &plantest.FakeRunner{}
			if _, err := Recover(ctx, f, st); err == nil || len(f.Calls) != 0 {
				t.Errorf("Recover() = %v and ran %v; want an error and nothing run", err, f.Calls)
			}
		})
	}
}

func TestTargetChangedStopsApply(t *testing.T) {
	// A target whose namespace differs from the one recorded: apply must stop
	// before entering it. Point the plan at ourselves, then fake the record.
	st := NewStore(t.TempDir())
	v := selfPair()
	p := v.plan()
	f := &plantest.FakeRunner{}
	rec := &Record{TargetID: "0:0", Steps: make([]StepRecord, len(p.Steps))}
	x := &executor{ctx: context.Background(), r: f, st: st, plans: []*Plan{p}, recs: []*Record{rec}}
	fail := x.run(&unit{refs: []stepRef{{0, 4}}})
	if fail == nil || !strings.Contains(fail.err.Error(), "changed since plumb started") {
		t.Fatalf("a step into a changed namespace = %v", fail)
	}
	if len(f.Calls) != 0 {
		t.Errorf("ran %v", f.Calls)
	}
}
