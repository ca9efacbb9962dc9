package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// meshUp is the mesh of the mesh fault matrices, on the stand-in host's
// uplink (world: uplink0 192.0.2.1/24).
var meshUp = []string{"mesh", "up", "m1", "--vni", "42", "--cluster", "10.244.0.0/16", "--subnet", "10.244.1.0/24", "--local", "192.0.2.1"}

// meshEntries are m1's peer entries, sorted, "" without m1: what a
// snapshot of links, routes and rules sees of a mesh's peers but their
// permanent neighbours and forwarding entries, which it does not read.
func meshEntries(t *testing.T) string {
	t.Helper()
	// Not /sys/class/net: sysfs there is the host's namespace's.
	if !strings.Contains(sh(t, "ip", "-o", "link", "show"), " m1: ") {
		return ""
	}
	var lines []string
	for _, c := range [][]string{{"ip", "route", "show", "dev", "m1"}, {"ip", "neigh", "show", "dev", "m1", "nud", "permanent"}, {"bridge", "fdb", "show", "dev", "m1"}} {
		for _, l := range strings.Split(strings.TrimSpace(sh(t, c...)), "\n") {
			if l != "" {
				lines = append(lines, c[0]+" "+c[1]+": "+strings.TrimSpace(l))
			}
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// batchLines are the lines of a plan's batches fed as here-documents (ip
// -batch -, bridge -batch -), each as the command it stands for ("ip route
// add ..."), as failwrap.sh names the steps of a batch; other steps are
// planSteps'.
func batchLines(text string) []string {
	var out, rest []string
	tool := ""
	for _, l := range strings.Split(text, "\n") {
		switch {
		case tool != "" && l == "EOF":
			tool = ""
		case tool != "":
			out = append(out, tool+" "+l)
		case strings.HasSuffix(l, " -batch - <<'EOF'"):
			tool = strings.Fields(l)[0]
		default:
			rest = append(rest, l)
		}
	}
	if r := strings.TrimSpace(strings.Join(rest, "\n")); r != "" {
		out = append(planSteps(r), out...)
	}
	return out
}

// TestLiveMeshFaults: the fault matrix (the six faults of faultsAt at
// every step) of mesh up, of bridge up --mesh with both back ends (the
// nftables pass at its nft step alone), and of a sync from {A, B, C} to
// {A, B moved, D}, three batches of seven lines (ip route and neigh dels;
// bridge fdb del, replace and add; ip neigh and route adds), faulted at
// each line. After each case, rolled back
// by plumb or by recover, the namespace, the mesh's peer entries and the
// journal are as before: a sync killed even after its last command
// recovers to the old set, whose generation check names.
func TestLiveMeshFaults(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, fw, mode string
		setup          [][]string
		args           []string
		nftOnly        bool
	}{
		{"mesh-up", "iptables", "batch", nil, meshUp, false},
		{"bridge-up-mesh", "iptables", "batch", [][]string{meshUp}, []string{"bridge", "up", "cni0", "--mesh", "m1"}, false},
		{"bridge-up-mesh", "nftables", "batch", [][]string{meshUp}, []string{"bridge", "up", "cni0", "--mesh", "m1"}, true},
		{"sync", "iptables", "batch", [][]string{meshUp, {"mesh", "sync", "m1", "--nodes", "ABC"}}, []string{"mesh", "sync", "m1", "--nodes", "ABD"}, false},
	} {
		t.Run(c.name+"-"+c.fw+"-"+c.mode, func(t *testing.T) {
			t.Parallel()
			if !isolateWorld(t) {
				return
			}
			dir := t.TempDir()
			files := map[string]string{
				"ABC": `[{"name":"self","ip":"192.0.2.1","subnet":"10.244.1.0/24"},{"name":"a","ip":"192.0.2.11","subnet":"10.244.11.0/24"},{"name":"b","ip":"192.0.2.12","subnet":"10.244.12.0/24"},{"name":"c","ip":"192.0.2.13","subnet":"10.244.13.0/24"}]`,
				"ABD": `[{"name":"self","ip":"192.0.2.1","subnet":"10.244.1.0/24"},{"name":"a","ip":"192.0.2.11","subnet":"10.244.11.0/24"},{"name":"b","ip":"192.0.2.22","subnet":"10.244.12.0/24"},{"name":"d","ip":"192.0.2.14","subnet":"10.244.14.0/24"}]`,
			}
			file := func(args []string) []string {
				out := append([]string(nil), args...)
				for i, a := range out {
					if body, ok := files[a]; ok {
						out[i] = filepath.Join(dir, a+".json")
						write(t, out[i], body)
					}
				}
				return out
			}
			inside("PLUMB_FIREWALL", c.fw)
			for _, s := range c.setup {
				mustPlumb(t, file(s)...)
			}
			args := file(c.args)
			root := scratch(t)
			before, entries, status := settled(t, root), meshEntries(t), undated(mustPlumb(t, "status"))
			if c.name == "sync" && strings.Count(entries, "\n") != 8 {
				t.Fatalf("the peer entries before the sync are not three peers':\n%s", entries)
			}
			env := faultEnv(t)
			marker := filepath.Join(t.TempDir(), "failed")
			steps := batchLines(mustPlumb(t, append(args, "--dry-run")...))
			if c.name == "sync" && len(steps) != 7 {
				t.Fatalf("the sync's plan has %d steps, want 7:\n%s", len(steps), strings.Join(steps, "\n"))
			}
			var s sample
			ran, restored := 0, 0
			for k, step := range steps {
				if c.nftOnly && !strings.HasPrefix(step, "nft ") {
					continue
				}
				for _, f := range faultsAt(k, step, marker) {
					if !s.take() {
						continue
					}
					os.Remove(marker)
					ran++
					label := fmt.Sprintf("%s (%s, exec %s), step %d/%d %s (%s)", c.name, c.fw, c.mode, k+1, len(steps), f.name, step)
					out, err := plumb(t, append(append([]string{"PLUMB_EXEC=" + c.mode}, env...), f.env...), args...)
					if err == nil {
						t.Errorf("%s: plumb succeeded:\n%s", label, out)
						continue
					}
					if rec, err := plumb(t, nil, "recover"); err != nil {
						t.Errorf("%s: recover failed: %v\n%s", label, err, rec)
						continue
					} else if f.clean && !strings.Contains(rec, "nothing to recover") {
						t.Errorf("%s: plumb left its rollback to recover:\n%s\nplumb said:\n%s", label, rec, out)
						continue
					}
					if got := undated(mustPlumb(t, "status")); got != status {
						t.Errorf("%s: journal differs:\n%s\nwant:\n%s", label, got, status)
						continue
					}
					if after := meshEntries(t); after != entries {
						t.Errorf("%s: peer entries differ (-before +after):\n%s\nplumb said:\n%s", label, cmp.Diff(entries, after), out)
						continue
					}
					if after := settled(t, root); after != before {
						t.Errorf("%s: namespace differs from before:\n%s\nplumb said:\n%s", label, cmp.Diff(before, after), out)
						continue
					}
					if c.name == "sync" {
						if out := mustPlumb(t, "check", "mesh/m1"); !strings.Contains(out, "peer set generation 1, 3 peers") {
							t.Errorf("%s: check after recover:\n%s", label, out)
							continue
						}
					}
					restored++
				}
			}
			// Without a fault, the sync makes the new set, generation 2.
			if c.name == "sync" {
				mustPlumb(t, append([]string{}, args...)...)
				if out := mustPlumb(t, "check", "mesh/m1"); !strings.Contains(out, "ok    mesh/m1: 4 steps in effect; peer set generation 2, 3 peers") {
					t.Errorf("check after the sync:\n%s", out)
				}
				if e := meshEntries(t); !strings.Contains(e, "02:50:0a:f4:0c:00 dst 192.0.2.22") || strings.Contains(e, "10.244.13.") {
					t.Errorf("entries after the sync:\n%s", e)
				}
			}
			t.Logf("mesh fault matrix: %d cases ran, %d restored the snapshot exactly", ran, restored)
			if restored != ran {
				t.Errorf("%d of %d cases did not restore the snapshot", ran-restored, ran)
			}
			for _, down := range [][]string{{"bridge", "down", "cni0"}, {"mesh", "down", "m1"}} {
				plumb(t, nil, down...)
			}
		})
	}
}

// undated is plumb status without its UPDATED column: a rolled-back
// update saves its record again, as it was but for that time.
func undated(status string) string {
	var out []string
	for _, l := range strings.Split(status, "\n") {
		f := strings.Fields(l)
		if len(f) > 3 {
			f = append(f[:3], f[4:]...)
		}
		out = append(out, strings.Join(f, " "))
	}
	return strings.Join(out, "\n")
}

// TestLiveMeshSyncKill: a sync of 100 peers to a set that keeps 50,
// removes 25, moves 25 and adds 25 (50 ip lines, 75 bridge lines, 50 ip
// lines), SIGKILLed before its first process, at line 20 of the first ip
// batch, after the bridge batch, at line 40 of the last ip batch, after
// its last line, and in the rollback of a failure in the last batch. Each
// time the mesh is applying, check says so, and recover leaves exactly
// the old set's entries, which check calls generation 1; never a mix.
// Without a kill the sync makes the new set, generation 2.
func TestLiveMeshSyncKill(t *testing.T) {
	if !isolateWorld(t) {
		return
	}
	dir := t.TempDir()
	node := func(i, host int) string {
		return fmt.Sprintf(`{"ip":"192.0.2.%d","subnet":"10.244.%d.0/24"}`, host, i)
	}
	self := `{"ip":"192.0.2.1","subnet":"10.244.1.0/24"}`
	old, now := []string{self}, []string{self}
	for i := 0; i < 100; i++ {
		old = append(old, node(10+i, 10+i))
		switch {
		case i < 25 || i >= 75: // kept
			now = append(now, node(10+i, 10+i))
		case i < 50: // removed
		default: // moved
			now = append(now, node(10+i, 150+i-50))
		}
	}
	for i := 0; i < 25; i++ { // added
		now = append(now, node(120+i, 180+i))
	}
	oldFile, newFile := filepath.Join(dir, "old.json"), filepath.Join(dir, "new.json")
	write(t, oldFile, "["+strings.Join(old, ",")+"]")
	write(t, newFile, "["+strings.Join(now, ",")+"]")
	mustPlumb(t, meshUp...)
	mustPlumb(t, "mesh", "sync", "m1", "--nodes", oldFile)
	entries := meshEntries(t)
	if n := strings.Count(entries, "\n") + 1; n != 300 {
		t.Fatalf("%d entries for 100 peers, want 300", n)
	}
	steps := batchLines(mustPlumb(t, "mesh", "sync", "m1", "--nodes", newFile, "--dry-run"))
	if len(steps) != 175 || !strings.HasPrefix(steps[49], "ip ") || !strings.HasPrefix(steps[50], "bridge fdb del") || !strings.HasPrefix(steps[124], "bridge fdb add") || !strings.HasPrefix(steps[125], "ip neigh add") {
		t.Fatalf("the sync's plan (%d steps):\n%s", len(steps), strings.Join(steps, "\n"))
	}
	env := faultEnv(t)
	marker := filepath.Join(t.TempDir(), "failed")
	for _, k := range []struct {
		name string
		env  []string
	}{
		{"before the first process", []string{"KILL_ON=" + steps[0]}},
		{"at ip line 20", []string{"KILL_ON=" + steps[19]}},
		{"after the bridge batch", []string{"KILL_AFTER=" + steps[124]}},
		{"at line 40 of the last ip batch", []string{"KILL_ON=" + steps[164]}},
		{"after the last line", []string{"KILL_AFTER=" + steps[174]}},
		{"in the rollback", []string{"FAIL_ON=" + steps[164], "KILL_AFTER_FAIL=" + marker}},
	} {
		os.Remove(marker)
		out, err := plumb(t, append(append([]string{"PLUMB_EXEC=batch"}, env...), k.env...), "mesh", "sync", "m1", "--nodes", newFile)
		if err == nil {
			t.Errorf("killed %s: plumb succeeded:\n%s", k.name, out)
			continue
		}
		if st := mustPlumb(t, "status"); !strings.Contains(st, "m1    applying") && !strings.Contains(st, "m1    undoing") {
			t.Errorf("killed %s: status:\n%s", k.name, st)
		}
		if out, err := plumb(t, nil, "check", "mesh/m1"); err == nil || !strings.Contains(out, "not up") {
			t.Errorf("killed %s: check: %v\n%s", k.name, err, out)
		}
		for i := 0; i < 2 && strings.Contains(mustPlumb(t, "status"), "m1    "); i++ {
			if rec, err := plumb(t, nil, "recover"); err != nil {
				t.Errorf("killed %s: recover: %v\n%s", k.name, err, rec)
			}
			if !strings.Contains(mustPlumb(t, "status"), "m1    up") {
				continue
			}
			break
		}
		if after := meshEntries(t); after != entries {
			t.Errorf("killed %s: after recover the entries are not the old set's (-old +after):\n%s", k.name, cmp.Diff(entries, after))
		}
		if out := mustPlumb(t, "check", "mesh/m1"); !strings.Contains(out, "peer set generation 1, 100 peers") {
			t.Errorf("killed %s: check after recover:\n%s", k.name, out)
		}
	}
	mustPlumb(t, "mesh", "sync", "m1", "--nodes", newFile)
	if out := mustPlumb(t, "check", "mesh/m1"); !strings.Contains(out, "ok    mesh/m1: 4 steps in effect; peer set generation 2, 100 peers") {
		t.Errorf("check after the sync:\n%s", out)
	}
	mustPlumb(t, "mesh", "down", "m1")
}
