package network

import (
	"encoding/json"
	"net/netip"
	"plumb/plan"
	"strings"
	"testing"
)

// TestBridgeSpec: a bridge's plan carries its input, its record gives it
// back through the journal's JSON, and a record written before specs were
// stored gives the spec its facts hold.
func TestBridgeSpec(t *testing.T) {
	b := &Bridge{Name: "pb0", Subnet: netip.MustParsePrefix("10.88.0.0/24"), MTU: 1400}
	p, err := b.plan(plan.Layout{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Spec == nil {
		t.Fatal("the bridge's plan carries no spec")
	}
	rec, err := plan.NewRecord(p)
	if err != nil {
		t.Fatal(err)
	}
	j, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	var back plan.Record
	if err := json.Unmarshal(j, &back); err != nil {
		t.Fatal(err)
	}
	stored, err := back.BridgeSpec()
	if err != nil {
		t.Fatalf("stored spec: %v", err)
	}
	want := plan.BridgeSpec{Name: "pb0", Subnet: b.Subnet, Gateway: netip.MustParseAddr("10.88.0.1"), MTU: 1400,
		Firewall: stored.Firewall}
	if stored != want {
		t.Errorf("stored spec %+v, want %+v", stored, want)
	}

	old := back
	old.Spec = nil
	derived, err := old.BridgeSpec()
	if err != nil {
		t.Fatalf("derived spec: %v", err)
	}
	want.Firewall = derived.Firewall // recorded only when the bridge writes rules
	if derived != want {
		t.Errorf("spec from facts %+v, want %+v", derived, want)
	}

	none := plan.Record{Kind: "bridge", Name: "pb1"}
	if _, err := none.BridgeSpec(); err == nil {
		t.Error("a record with neither spec nor facts gave a spec")
	}

	future := back
	future.Spec = &plan.Spec{Version: plan.BridgeSpecVersion + 1, Input: back.Spec.Input}
	if _, err := future.BridgeSpec(); err == nil || !strings.Contains(err.Error(), "spec version") {
		t.Errorf("a spec of a later version: %v, want refused", err)
	}
}
