package cni

import (
	"context"
	"net/netip"
	"testing"

	"plumb/network"
	"plumb/plan"
)

// cannedRunner runs nothing: `sysctl -n` reads 0, everything else succeeds.
type cannedRunner struct{}

func (cannedRunner) Run(_ context.Context, argv []string, _ []byte) ([]byte, error) {
	if len(argv) > 1 && argv[0] == "sysctl" && argv[1] == "-n" {
		return []byte("0\n"), nil
	}
	return nil, nil
}

// TestFinishBridgeReadsHeader: every CNI ADD asks whether its bridge's plan
// was left unfinished; an up bridge's header answers, its steps are not
// decoded and checked (the work does not grow with them).
func TestFinishBridgeReadsHeader(t *testing.T) {
	ctx := context.Background()
	st := plan.NewStore(t.TempDir())
	b := &network.Bridge{Name: "cni0", Subnet: netip.MustParsePrefix("10.90.0.0/16"), Uplink: "eth0"}
	plans, err := b.Plan(ctx, plan.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plan.Apply(ctx, cannedRunner{}, st, plans[0], plan.Each); err != nil {
		t.Fatal(err)
	}
	p := &Plugin{Env: plan.Env{R: cannedRunner{}, St: st}}
	allocs := func() float64 {
		return testing.AllocsPerRun(20, func() {
			if err := p.finishBridge(ctx, "cni0"); err != nil {
				t.Fatal(err)
			}
		})
	}
	few := allocs()
	rec, err := st.Load("bridge", "cni0")
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
	if n := allocs(); n > few+5 {
		t.Errorf("finishBridge: %.0f allocations with %d steps recorded, %.0f with %d; want as many", n, len(rec.Steps), few, len(steps))
	}
}
