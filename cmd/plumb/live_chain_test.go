package main

import (
	"strings"
	"testing"
)

// TestLiveBridgeChainTaken: a chain of the bridge's name that someone else
// made (with a rule of theirs) makes bridge up fail and roll back, in batch
// mode as in `--exec each`, and the chain keeps its rule: iptables-restore
// --noflush is fed `-N CHAIN`, which fails on a chain that exists, not
// `:CHAIN - [0:0]`, which would empty it and take it over.
func TestLiveBridgeChainTaken(t *testing.T) {
	t.Parallel()
	if !isolateWorld(t) {
		return
	}
	sh(t, "iptables", "-N", "PLUMB-b0")
	sh(t, "iptables", "-A", "PLUMB-b0", "-s", "198.51.100.7", "-j", "DROP")
	before := snapshot(t)
	for _, mode := range []string{"batch", "each"} {
		out, err := plumb(t, []string{"PLUMB_EXEC=" + mode}, "bridge", "up", "b0", "--subnet", "10.92.0.0/24")
		if err == nil || !strings.Contains(out, "the host is as it was before") {
			t.Errorf("%s: bridge up over someone's chain: %v\n%s", mode, err, out)
		}
		if rules := sh(t, "iptables", "-S", "PLUMB-b0"); !strings.Contains(rules, "-A PLUMB-b0 -s 198.51.100.7/32 -j DROP") {
			t.Errorf("%s: the chain lost its owner's rule:\n%s", mode, rules)
		}
		sameSnapshot(t, before, mode)
	}
}
