package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestLiveFaultMatrix: in both exec modes (batch and each), for every
// recipe (bridge attach also of three containers in one call) and every
// step k, (a) the step fails, (b) it runs and then reports a failure (it
// did its work half-way or whole), (c) plumb gets SIGINT or SIGTERM while
// it runs (then the step is killed), and plumb rolls back by itself; (d)
// plumb is SIGKILLed just before step k, and just after it, then `plumb
// recover`; (e) plumb is SIGKILLed during the rollback of a failure at
// step k, then `plumb recover`. After each case the
// namespace (links, addresses, routes, iptables, ip_forward, mounts, files)
// equals the snapshot taken before, and the journal keeps nothing new.
//
// With the nftables back end too, where its plans differ: veth up, bridge
// up and bridge attach with two published ports (two nft steps, one
// nft -f - when batched), every fault at every nft step, in both modes.
// The nft steps are the last of each plan, so a fault at an earlier step
// rolls back exactly what the iptables passes roll back there (no firewall
// step has run yet): those cases are theirs. The overlay and the
// three-container attach write no rule.
func TestLiveFaultMatrix(t *testing.T) {
	if !isolateWorld(t) {
		return
	}
	root := scratch(t)
	write(t, root+"/l1/f", "1")
	write(t, root+"/l2/g", "2")
	pid, pid2, pid3 := container(t), container(t), container(t)
	env := faultEnv(t)
	marker := filepath.Join(t.TempDir(), "failed")

	type recipe struct {
		name  string
		setup []string // plumb commands whose result is part of "before"
		args  []string
	}
	recipes := []recipe{
		{"veth up", nil, []string{"veth", "up", "--pid", strconv.Itoa(pid)}},
		{"overlay mount", nil, []string{"overlay", "mount", "--lower", root + "/l1", "--lower", root + "/l2",
			"--upper", root + "/c/upper", "--work", root + "/c/work", "--merged", root + "/c/merged"}},
		{"bridge up", nil, []string{"bridge", "up", "br0", "--subnet", "10.88.0.0/24"}},
		// The bridge is warmed with one attach and detach first: the first
		// port to come up gives a bridge carrier and, from the kernel's IPv6
		// autoconfiguration, a link-local address that stays, as docker0's
		// does. That is the kernel's doing, not a leftover of plumb's.
		{"bridge attach", []string{"bridge up br1 --subnet 10.89.0.0/24",
			"bridge attach br1 --pid " + strconv.Itoa(pid), "bridge detach br1 --pid " + strconv.Itoa(pid)},
			[]string{"bridge", "attach", "br1", "--pid", strconv.Itoa(pid), "--publish", "8080:80"}},
		// Three containers in one call: a failure or a kill at any step of
		// any of them leaves none attached.
		{"bridge attach of three in one call", []string{"bridge up br2 --subnet 10.90.0.0/24",
			"bridge attach br2 --pid " + strconv.Itoa(pid), "bridge detach br2 --pid " + strconv.Itoa(pid)},
			[]string{"bridge", "attach", "br2", "--pid", strconv.Itoa(pid), "--pid", strconv.Itoa(pid2), "--pid", strconv.Itoa(pid3)}},
	}
	nftRecipes := []recipe{recipes[0], recipes[2], recipes[3]}
	nftRecipes[2].args = append(nftRecipes[2].args, "--publish", "5353:53/udp")
	type pass struct {
		fw, mode string
		recipes  []recipe
		nftOnly  bool // only the steps that are nft's
	}
	passes := []pass{
		{"iptables", "batch", recipes, false}, {"iptables", "each", recipes, false},
		{"nftables", "batch", nftRecipes, true}, {"nftables", "each", nftRecipes, true},
	}
	ran, restored := 0, 0
	count := map[string]int{}
	for _, ps := range passes {
		mode := ps.mode
		t.Setenv("PLUMB_FIREWALL", ps.fw)
		for _, r := range ps.recipes {
			for _, s := range r.setup {
				mustPlumb(t, strings.Fields(s)...)
			}
			before := settled(t, root)
			status := mustPlumb(t, "status")
			steps := planSteps(mustPlumb(t, append(r.args, "--dry-run")...))
			for k, step := range steps {
				if ps.nftOnly && !strings.HasPrefix(step, "nft ") {
					continue
				}
				cases := faultsAt(k, step, marker)
				for _, c := range cases {
					os.Remove(marker)
					ran++
					count[ps.fw]++
					label := fmt.Sprintf("%s (%s, exec %s), step %d/%d %s (%s)", r.name, ps.fw, mode, k+1, len(steps), c.name, step)
					out, err := plumb(t, append(append([]string{"PLUMB_EXEC=" + mode}, env...), c.env...), r.args...)
					if err == nil {
						t.Errorf("%s: plumb succeeded:\n%s", label, out)
						continue
					}
					rec, err := plumb(t, nil, "recover")
					if err != nil {
						t.Errorf("%s: recover failed: %v\n%s", label, err, rec)
						continue
					}
					if c.clean && !strings.Contains(rec, "nothing to recover") {
						t.Errorf("%s: plumb left its rollback to recover:\n%s\nplumb said:\n%s", label, rec, out)
						continue
					}
					if again := mustPlumb(t, "recover"); !strings.Contains(again, "nothing to recover") {
						t.Errorf("%s: second recover did something:\n%s", label, again)
					}
					if got := mustPlumb(t, "status"); got != status {
						t.Errorf("%s: journal differs:\n%s\nwant:\n%s", label, got, status)
						continue
					}
					if after := settled(t, root); after != before {
						t.Errorf("%s: namespace differs from before:\n%s\nplumb said:\n%s", label, cmp.Diff(before, after), out)
						continue
					}
					restored++
				}
			}
			// Leave nothing of this mode's setup for the next.
			for _, s := range r.setup {
				if f := strings.Fields(s); f[0] == "bridge" && f[1] == "up" {
					mustPlumb(t, "bridge", "down", f[2], "--force")
				}
			}
		}
	}
	t.Logf("fault matrix: %d cases ran (iptables %d, nftables %d), %d restored the snapshot exactly", ran, count["iptables"], count["nftables"], restored)
	if restored != ran {
		t.Errorf("%d of %d cases did not restore the snapshot", ran-restored, ran)
	}
}
