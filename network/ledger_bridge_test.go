package network

import (
	"context"
	"net/netip"
	"plumb/plan"
	"plumb/plan/plantest"
	"testing"
)

// TestRouteLocalnetBridgeGone: when the bridge went before its last
// publisher's detach (deleted by hand, a reboot under an on-disk state
// directory), restoring its route_localnet finds no key; the detach goes on
// and the hold is dropped, rather than failing every down and recover.
func TestRouteLocalnetBridgeGone(t *testing.T) {
	ctx := context.Background()
	st := plan.NewStore(t.TempDir())
	br := bridgeUp(t, st, "10.88.0.0/24")
	a := &Attach{Network: br, Target: plantest.SelfTarget(), IP: netip.MustParseAddr("10.88.0.2"), If: "eth0", Publish: []plan.Port{{Host: 8080, Container: 80, Proto: "tcp"}}}
	rec, err := plan.Apply(ctx, &plantest.FakeRunner{}, st, plantest.Must(a.Plan()), plan.Each)
	if err != nil {
		t.Fatal(err)
	}
	const key = "sysctl net.ipv4.conf.br0.route_localnet"
	if l, err := st.LoadLedger(); err != nil || l.Entries[key] == nil {
		t.Fatalf("the publisher holds no %s in the ledger: %v", key, err)
	}
	f := &plantest.FakeRunner{FailOn: "sysctl -w net.ipv4.conf.br0.route_localnet=0",
		FailStderr: "sysctl: cannot stat /proc/sys/net/ipv4/conf/br0/route_localnet: No such file or directory"}
	if _, err := plan.Unwind(ctx, f, st, rec); err != nil {
		t.Fatalf("down with the bridge gone: %v", err)
	}
	l, err := st.LoadLedger()
	if err != nil {
		t.Fatal(err)
	}
	if e := l.Entries[key]; e != nil {
		t.Errorf("the ledger still holds route_localnet: %+v", e)
	}
}
