package actions

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestFirstRouteDev: the interface of `ip -j route show default`'s first
// route that has one, as jq's `[.[] | select(.dev != null) | .dev][0] //
// ""` gives it.
func TestFirstRouteDev(t *testing.T) {
	for _, c := range []struct{ out, want, err string }{
		{`[{"dst":"default","gateway":"192.0.2.1","dev":"eth0","flags":[]}]`, "eth0", ""},
		{`[{"dst":"default","type":"blackhole","flags":[]},{"dst":"default","gateway":"192.0.2.1","dev":"wan0","flags":[]}]`, "wan0", ""},
		{`[{"dst":"default","type":"unreachable"}]`, "", ""},
		{"[]\n", "", ""},
		{"", "", ""},
		{"\n", "", ""},
		{`{"dst":"default"}`, "", "reading `ip -j route show default` output"},
		{`not json`, "", "reading `ip -j route show default` output"},
	} {
		got, err := firstRouteDev([]byte(c.out))
		if got != c.want || (err == nil) != (c.err == "") || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("firstRouteDev(%q) = %q, %v; want %q, %q", c.out, got, err, c.want, c.err)
		}
	}
}

// TestNoCostlyInits: plumb starts for every attach and CNI call, and every
// package it links runs its initialisation first, needed or not. These
// paid for nothing plumb needs (bitfield/script's jq interpreter and shell
// parser: about 3% of an attach's CPU time; k8s.io/api's core types, whose
// apimachinery inits took a static binary's start from 5.6 to 12.0 ms,
// measured 2026-12-06: node lists are decoded by plumb's own structs).
func TestNoCostlyInits(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "plumb/cmd/plumb").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	for _, p := range []string{"github.com/bitfield/script", "github.com/itchyny/gojq", "mvdan.cc/sh/v3/syntax",
		"k8s.io/api/core/v1", "k8s.io/apimachinery/pkg/runtime"} {
		if slices.Contains(deps, p) {
			t.Errorf("plumb links %s, whose initialisation every plumb process pays for", p)
		}
	}
}
