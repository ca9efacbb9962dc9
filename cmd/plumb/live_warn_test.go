package main

import (
	"strconv"
	"strings"
	"testing"
)

// TestLiveFirewallWarnings: the host's other firewalls, which drop what
// plumb's rules accept without a word, are named once each, with what to
// do, by the command that writes rules and by plumb check: rules in
// iptables-legacy beside plumb's iptables-nft (the split brain), a FORWARD
// policy of DROP, br_netfilter's sysctl on. A clean host gets none.
func TestLiveFirewallWarnings(t *testing.T) {
	t.Parallel()
	if !isolateWorld(t) {
		return
	}
	traps := []string{"iptables-legacy holds", "has FORWARD policy DROP", "bridge-nf-call-iptables is 1"}
	count := func(out, trap string) int { return strings.Count(out, trap) }
	none := func(when, out string) {
		t.Helper()
		for _, trap := range traps {
			if count(out, trap) != 0 {
				t.Errorf("%s: warned %q on a clean host:\n%s", when, trap, out)
			}
		}
	}
	sh(t, "sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=0")
	out, err := plumb(t, nil, "bridge", "up", "br0", "--subnet", "10.88.0.0/24")
	if err != nil {
		t.Fatalf("bridge up: %v\n%s", err, out)
	}
	none("bridge up", out)
	none("check", mustPlumb(t, "check"))

	// Someone's rule in iptables-legacy: the split brain, said once.
	sh(t, "iptables-legacy", "-A", "INPUT", "-s", "192.0.2.99", "-j", "ACCEPT")
	pid := startContainer(t)
	out, err = plumb(t, nil, "bridge", "attach", "br0", "--pid", strconv.Itoa(pid))
	if err != nil {
		t.Fatalf("attach: %v\n%s", err, out)
	}
	if n := count(out, "iptables-legacy holds 1 rules while plumb writes iptables-nft"); n != 1 {
		t.Errorf("attach beside a legacy rule: warned %d times:\n%s", n, out)
	}
	sh(t, "iptables-legacy", "-D", "INPUT", "-s", "192.0.2.99", "-j", "ACCEPT")

	// A FORWARD policy of DROP, and br_netfilter on: plumb check names both.
	sh(t, "iptables", "-P", "FORWARD", "DROP")
	sh(t, "sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1")
	out, _ = plumb(t, nil, "check")
	for _, want := range []string{"WARN  iptables (nft) has FORWARD policy DROP", "WARN  net.bridge.bridge-nf-call-iptables is 1"} {
		if n := strings.Count(out, want); n != 1 {
			t.Errorf("check: %q %d times:\n%s", want, n, out)
		}
	}
	sh(t, "iptables", "-P", "FORWARD", "ACCEPT")
	mustPlumb(t, "bridge", "detach", "br0", "--pid", strconv.Itoa(pid))
	mustPlumb(t, "bridge", "down", "br0")
}
