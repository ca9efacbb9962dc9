package network

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"plumb/actions"
	"plumb/plan"
	"plumb/plan/plantest"
)

// mtuRunner is plantest.FakeRunner with the bridge br0 on the host at mtu.
type mtuRunner struct {
	plantest.FakeRunner
	mtu string
}

func (m *mtuRunner) Run(ctx context.Context, argv []string, stdin []byte) ([]byte, error) {
	if actions.Quote(argv) == "ip -j link show" {
		m.FakeRunner.Calls = append(m.FakeRunner.Calls, "ip -j link show")
		return []byte(`[{"ifname":"lo"},{"ifname":"eth0"},{"ifname":"br0","mtu":` + m.mtu + `}]`), nil
	}
	return m.FakeRunner.Run(ctx, argv, stdin)
}

// TestBridgeMTUUpdate: a bridge asked for again with another MTU is
// changed in place by one step appended to its record, whose undo is the
// MTU the host had; a failure of that step (injected) or a crash during it
// (recovered) restores the old record whole; other input is refused.
func TestBridgeMTUUpdate(t *testing.T) {
	ctx := context.Background()
	st := plan.NewStore(t.TempDir())
	b := &Bridge{Name: "br0", Subnet: netip.MustParsePrefix("10.88.0.0/24")}
	if _, err := plan.Apply(ctx, &plantest.FakeRunner{}, st, plantest.Must(b.plan(plan.Layout{})), plan.Each); err != nil {
		t.Fatal(err)
	}
	before, err := st.Load("bridge", "br0")
	if err != nil {
		t.Fatal(err)
	}
	changed := &Bridge{Name: "br0", Subnet: b.Subnet, MTU: 1400, Change: true}

	// The update's step fails: rolled back, the record as it was.
	f := &mtuRunner{FakeRunner: plantest.FakeRunner{FailOn: "ip link set br0 mtu 1400"}, mtu: "1500"}
	_, err = plan.Up(ctx, plan.Env{Proc: noProc, R: f, St: st, Mode: plan.Each}, changed, false)
	var ae *plan.ApplyError
	if !errors.As(err, &ae) || ae.UndoErr != nil || !slices.Equal(ae.Undone, []string{"ip link set br0 mtu 1500"}) {
		t.Fatalf("a failed update: %v", err)
	}
	after, err := st.Load("bridge", "br0")
	if err != nil {
		t.Fatal(err)
	}
	if after.Updating != nil || after.State != plan.StateUp || len(after.Steps) != len(before.Steps) || string(after.Spec.Input) != string(before.Spec.Input) || recMTU(t, after) != recMTU(t, before) {
		t.Fatalf("after a failed update the record is %+v, want it as before", after)
	}

	// A crash during the update: recover undoes the update alone.
	f = &mtuRunner{FakeRunner: plantest.FakeRunner{CrashOn: "ip link set br0 mtu 1400"}, mtu: "1500"}
	func() {
		defer func() {
			if _, ok := recover().(plantest.Crash); !ok {
				t.Fatal("no crash")
			}
		}()
		_, _ = plan.Up(ctx, plan.Env{Proc: noProc, R: f, St: st, Mode: plan.Each}, changed, false)
	}()
	if rec, _ := st.Load("bridge", "br0"); rec.State != plan.StateApplying || rec.Updating == nil {
		t.Fatalf("after a crash the record is %s, updating %v", rec.State, rec.Updating)
	}
	f = &mtuRunner{mtu: "1400"}
	if _, err := plan.Recover(ctx, f, st); err != nil {
		t.Fatal(err)
	}
	if rec, _ := st.Load("bridge", "br0"); rec.State != plan.StateUp || rec.Updating != nil || len(rec.Steps) != len(before.Steps) {
		t.Fatalf("recovered, the record is %s with %d steps", rec.State, len(rec.Steps))
	}
	// The step had started: recover first asks whether the MTU is
	// still the old one (then the change never ran, and nothing is run).
	if !slices.Equal(f.Calls, []string{"ip -j link show dev br0", "ip link set br0 mtu 1500"}) {
		t.Errorf("recover ran %q, want the MTU read, then put back alone", f.Calls)
	}

	// Applied: one step, the record updated; the same input again is
	// nothing to do.
	f = &mtuRunner{mtu: "1500"}
	out, err := plan.Up(ctx, plan.Env{Proc: noProc, R: f, St: st, Mode: plan.Each}, changed, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Calls; !slices.Equal(got, []string{"ip -j link show", "ip link set br0 mtu 1400"}) {
		t.Errorf("the update ran %q", got)
	}
	rec := out.Records[0]
	if len(rec.Steps) != len(before.Steps)+1 || recMTU(t, rec) != 1400 || !strings.Contains(string(rec.Spec.Input), `"mtu":1400`) {
		t.Errorf("the updated record: %d steps, MTU %d, spec %s", len(rec.Steps), recMTU(t, rec), rec.Spec.Input)
	}
	out, err = plan.Up(ctx, plan.Env{Proc: noProc, R: &mtuRunner{mtu: "1400"}, St: st, Mode: plan.Each}, &Bridge{Name: "br0", Subnet: b.Subnet, MTU: 1400, Change: true}, false)
	if err != nil || out.Unchanged == nil {
		t.Fatalf("the same input again: %v, %+v", err, out)
	}

	// Down undoes the update, then the bridge.
	undos, err := plan.UndoPlan(st, rec)
	if err != nil {
		t.Fatal(err)
	}
	if got := actions.Quote(undos[0].Argv()); got != "ip link set br0 mtu 1500" {
		t.Errorf("down's first undo is %q", got)
	}
	if got := actions.Quote(undos[len(undos)-1].Argv()); got != "ip link del br0" {
		t.Errorf("down's last undo is %q", got)
	}

	// Another subnet is not changed in place: the plan is a replace, the
	// bridge's down then its up.
	out, err = plan.Up(ctx, plan.Env{Proc: noProc, R: &mtuRunner{mtu: "1400"}, St: st, Mode: plan.Each}, &Bridge{Name: "br0", Subnet: netip.MustParsePrefix("10.89.0.0/24"), MTU: 1400, Change: true}, true)
	if err != nil {
		t.Fatal(err)
	}
	if p := out.Plans[0]; !p.Replace || len(p.Steps) != len(undos)+len(plantest.Must((&Bridge{Name: "br0", Subnet: netip.MustParsePrefix("10.89.0.0/24"), MTU: 1400}).plan(plan.Layout{})).Steps) {
		t.Errorf("another subnet: replace %v, %d steps", p.Replace, len(p.Steps))
	}

	// A bridge a CNI ADD asks for (no Change) is refused other input.
	_, err = plan.Up(ctx, plan.Env{Proc: noProc, R: &mtuRunner{mtu: "1400"}, St: st, Mode: plan.Each}, &Bridge{Name: "br0", Subnet: b.Subnet, MTU: 1300}, false)
	var r *plan.Refused
	if !errors.As(err, &r) || !strings.Contains(r.Msg, "already up with other settings") {
		t.Errorf("another MTU without Change: %v", err)
	}
}

// recMTU is the MTU a bridge's record keeps in its facts.
func recMTU(t *testing.T, rec *plan.Record) int {
	t.Helper()
	f, err := rec.BridgeFacts()
	if err != nil {
		t.Fatal(err)
	}
	return f.MTU
}
