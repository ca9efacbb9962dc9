package main

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

// TestLiveUpdate, with each firewall back end: bridge up again with
// another MTU changes the kernel's MTU of the bridge alone; attach again
// with another port moves the published port (the old port's rules gone,
// the new one's there, the other port's kept); check finds both objects as
// their new specs say; down leaves the namespace as it was.
func TestLiveUpdate(t *testing.T) { forFirewalls(t, testLiveUpdate) }

func testLiveUpdate(t *testing.T, fw string) {
	if !isolateWorld(t) {
		return
	}
	before := snapshot(t)
	mustPlumb(t, "bridge", "up", "br0", "--subnet", "10.88.0.0/24")
	if got := linkMTU(t, "br0"); got != 1500 {
		t.Fatalf("a new bridge's MTU is %d", got)
	}
	if out := mustPlumb(t, "bridge", "up", "br0", "--subnet", "10.88.0.0/24", "--mtu", "1400"); !strings.Contains(out, "bridge/br0 is updated (1 steps: mtu 1500 (the default) → 1400)") {
		t.Errorf("bridge up with another MTU said %q", out)
	}
	if got := linkMTU(t, "br0"); got != 1400 {
		t.Errorf("after the update the bridge's MTU is %d, want 1400", got)
	}

	pid := startContainer(t)
	p := strconv.Itoa(pid)
	mustPlumb(t, "bridge", "attach", "br0", "--pid", p, "--publish", "8080:80", "--publish", "5353:53/udp")
	if got := linkMTU(t, "veth0a580002"); got != 1400 {
		t.Errorf("an attachment after the update has MTU %d, want the bridge's 1400", got)
	}
	if out := mustPlumb(t, "bridge", "attach", "br0", "--pid", p, "--publish", "9090:80", "--publish", "5353:53/udp"); !strings.Contains(out, "is updated") {
		t.Errorf("attach with another port said %q", out)
	}
	rules := publishedRules(t, fw)
	for _, want := range []string{"9090", "5353"} {
		if !strings.Contains(rules, want) {
			t.Errorf("no rule publishes port %s:\n%s", want, rules)
		}
	}
	if strings.Contains(rules, "8080") {
		t.Errorf("port 8080 is still published:\n%s", rules)
	}
	if out, err := plumb(t, nil, "check"); err != nil {
		t.Errorf("check after the updates: %v\n%s", err, out)
	}
	mustPlumb(t, "bridge", "down", "br0", "--force")
	sameSnapshot(t, before, "after down")
}

// linkMTU is the kernel's MTU of a link of the test's namespace.
func linkMTU(t *testing.T, name string) int {
	t.Helper()
	var ls []struct {
		MTU int `json:"mtu"`
	}
	if err := json.Unmarshal([]byte(sh(t, "ip", "-j", "link", "show", "dev", name)), &ls); err != nil || len(ls) != 1 {
		t.Fatalf("reading %s's MTU: %v", name, err)
	}
	return ls[0].MTU
}

// publishedRules lists the rules (iptables) or the map (nftables) that
// publish br0's ports.
func publishedRules(t *testing.T, fw string) string {
	t.Helper()
	if fw == "nftables" {
		return sh(t, "nft", "list", "map", "ip", "plumb-br0", "ports")
	}
	return sh(t, "iptables", "-t", "nat", "-S", "PLUMB-br0-DNAT")
}
