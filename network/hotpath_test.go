package network

import (
	"context"
	"net/netip"
	"plumb/plan"
	"plumb/plan/plantest"
	"testing"
)

// TestLoadNetworkReadsHeader: joining a bridge reads its journal's facts,
// not its steps: the work does not grow with them (decoding and checking
// the steps was a tenth of an attach's CPU time).
func TestLoadNetworkReadsHeader(t *testing.T) {
	st := plan.NewStore(t.TempDir())
	want := bridgeUp(t, st, "10.88.0.0/24")
	allocs := func() float64 {
		return testing.AllocsPerRun(20, func() {
			if got, err := LoadNetwork(st, "br0"); err != nil || got.Subnet != want.Subnet {
				t.Fatalf("LoadNetwork() = %v, %v", got, err)
			}
		})
	}
	few := allocs()
	many := manySteps(t, st, "bridge", "br0")
	if n := allocs(); n > few+5 {
		t.Errorf("LoadNetwork: %.0f allocations with %d steps recorded, %.0f with fewer; want as many", n, many, few)
	}
}

// TestUpAgainReadsHeader: asking for a bridge that is already up (what a
// CNI ADD does every time) reads its journal's header, not its steps.
func TestUpAgainReadsHeader(t *testing.T) {
	st := plan.NewStore(t.TempDir())
	bridgeUp(t, st, "10.88.0.0/24")
	env := plan.Env{Proc: noProc, R: &plantest.FakeRunner{}, St: st}
	allocs := func() float64 {
		return testing.AllocsPerRun(20, func() {
			b := &Bridge{Name: "br0", Subnet: netip.MustParsePrefix("10.88.0.0/24")}
			out, err := plan.Up(context.Background(), env, b, false)
			if err != nil || out.Unchanged == nil || out.State != "up" {
				t.Fatalf("Up() again = %+v, %v", out, err)
			}
		})
	}
	few := allocs()
	many := manySteps(t, st, "bridge", "br0")
	if n := allocs(); n > few+5 {
		t.Errorf("Up() again: %.0f allocations with %d steps recorded, %.0f with fewer; want as many", n, many, few)
	}
}

// manySteps records kind/name's steps 21 times over, and says how many.
func manySteps(t *testing.T, st *plan.Store, kind, name string) int {
	t.Helper()
	rec, err := st.Load(kind, name)
	if err != nil {
		t.Fatal(err)
	}
	steps := rec.Steps
	for range 20 {
		rec.Steps = append(rec.Steps, steps...)
	}
	if err := st.Save(rec); err != nil {
		t.Fatal(err)
	}
	return len(rec.Steps)
}
