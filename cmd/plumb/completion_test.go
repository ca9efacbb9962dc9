package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCompletion: what the shell gets for a line (COMP_LINE): commands,
// flags and enum values from the command tree, and the names a command
// takes from the state directory's file names (--state-dir on the line
// first, then PLUMB_STATE_DIR), Compose services from the file -f names;
// with 1,000 containers, in well under the 50 ms a Tab may take.
func TestCompletion(t *testing.T) {
	state := t.TempDir()
	other := t.TempDir()
	write := func(dir, kind, name, body string) {
		t.Helper()
		p := filepath.Join(dir, "objects", kind, name+".json")
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 1000 {
		write(state, "container", fmt.Sprintf("c%04d", i), "{}")
	}
	write(state, "container", "web", "{}")
	write(state, "bridge", "br0", "{}")
	write(state, "volume", "data", "{}")
	write(state, "mesh", "m0", "{}")
	write(state, "image", "4a2f", `{"facts":{"refs":["busybox:latest","plumb-demo/busybox:1"]}}`)
	write(other, "container", "elsewhere", "{}")
	// A FIFO where a journal should be is never waited on.
	if err := syscall.Mkfifo(filepath.Join(state, "objects", "image", "fifo.json"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A temporary journal a killed plumb left is no object.
	if err := os.WriteFile(filepath.Join(state, "objects", "bridge", ".br1.json.tmp-123"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	project := t.TempDir()
	compose := filepath.Join(project, "shop.yaml")
	if err := os.WriteFile(compose, []byte("services:\n  web:\n    image: busybox\n  db:\n    image: busybox\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PLUMB_STATE_DIR", state)
	complete := func(line string) []string {
		t.Helper()
		t.Setenv("COMP_LINE", line)
		t.Setenv("COMP_POINT", fmt.Sprint(len(line)))
		var out bytes.Buffer
		if !completing(&out) {
			t.Fatalf("%q: not completed", line)
		}
		words := strings.Fields(out.String())
		sort.Strings(words)
		return words
	}
	for _, tc := range []struct {
		line string
		want []string // all of these, and (with only) nothing else
		only bool
	}{
		{"plumb st", []string{"status", "stop"}, true},
		{"plumb bridge ", []string{"attach", "detach", "down", "ls", "up"}, true},
		{"plumb bridge down ", []string{"br0"}, true},
		{"plumb stop w", []string{"web"}, true},
		{"plumb --state-dir " + other + " stop ", []string{"elsewhere"}, true},
		{"plumb rm c099", []string{"c0990", "c0991", "c0999"}, false},
		{"plumb run --net ", []string{"br0", "none"}, true},
		{"plumb run --image ", []string{"busybox:latest", "plumb-demo/busybox:1"}, true},
		{"plumb volume rm ", []string{"data"}, true},
		{"plumb mesh down ", []string{"m0"}, true},
		{"plumb run --log-level ", []string{"debug", "error", "info", "warn"}, true},
		{"plumb compose -f " + compose + " logs ", []string{"db", "web"}, true},
		{"plumb down ", []string{"br0", "data", "m0", "web"}, false},
		{"plumb --firewall ", []string{"iptables", "nftables"}, true},
		{"plumb run web -- ls -", nil, true}, // the container's command: nothing of plumb's
		{"plumb completion ", []string{"bash", "fish", "zsh"}, true},
		{"plumb man", nil, true}, // a hidden command is not offered
	} {
		got := complete(tc.line)
		for _, w := range tc.want {
			if !slices.Contains(got, w) {
				t.Errorf("%q: %q missing from %q", tc.line, w, clip(got))
			}
		}
		if tc.only && len(got) != len(tc.want) {
			t.Errorf("%q: got %q, want %q", tc.line, clip(got), tc.want)
		}
	}
	var took []time.Duration
	for range 5 {
		start := time.Now()
		if n := len(complete("plumb stop ")); n != 1001 {
			t.Fatalf("plumb stop: %d names, want 1001", n)
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	if took[2] > 50*time.Millisecond {
		t.Errorf("completing 1,001 containers took %v (median of 5), want under 50ms", took[2])
	}
	t.Logf("completing 1,001 containers: %v (median of 5, in process)", took[2])
}

func clip(words []string) []string {
	if len(words) > 8 {
		return append(words[:8:8], "...")
	}
	return words
}

// TestCompletionScripts: each shell's script runs the given plumb with
// the line typed so far; a path with a quote stays one word.
func TestCompletionScripts(t *testing.T) {
	for shell, want := range map[string]string{
		"bash": `COMP_POINT="$COMP_POINT" '/opt/it'\''s/plumb')`,
		"zsh":  `COMP_POINT="$COMP_POINT" '/opt/it'\''s/plumb')`,
		"fish": "set -lx COMP_LINE (commandline -cp)",
	} {
		got := completionScript(shell, "/opt/it's/plumb")
		if !strings.Contains(got, want) {
			t.Errorf("%s: %q lacks %q", shell, got, want)
		}
	}
}
