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
//
// Dual stack, a focused set: bridge up with an IPv4 and an IPv6 subnet, and
// attach with a published port onto such a bridge (each family's address,
// default route and port rules), every step and all six faults with the
// iptables back end in batch mode (where the ip6tables steps are one
// ip6tables-restore, the IPv6 addresses and routes lines of ip batches),
// and every nft step (the table ip6 plumb-NAME, the ip6 map's element)
// with nftables in batch mode. Exec each runs the same commands one by one,
// as it does for IPv4, so its dual-stack cases are left out.
//
// Internal and isolated networks, in batch mode: bridge up --internal and
// --isolate, every step with iptables (the mangle chain, its drops and its
// jump, and the device group on the bridge), every nft step with nftables.
//
// Each pass's recipe runs as a subtest of its own, in namespaces of its
// own, side by side with the others.
func TestLiveFaultMatrix(t *testing.T) {
	t.Parallel()
	passes := faultPasses("", 0, 0, 0)
	if only := os.Getenv("PLUMB_FAULTS_ONLY"); only != "" { // a pass or two by hand: PLUMB_FAULTS_ONLY=dual
		var some []faultPass
		for _, ps := range passes {
			if strings.Contains(ps.recipes[0].name, only) {
				some = append(some, ps)
			}
		}
		passes = some
	}
	for _, ps := range passes {
		for ri, r := range ps.recipes {
			name := ps.fw + "-" + ps.mode + "-" + strings.ReplaceAll(r.name, " ", "-")
			n := 1
			if !ps.nftOnly {
				n = recipeShares[r.name]
				if ps.mode == "each" {
					n += n / 2 // a step a process: cases take longer
				}
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				inShares(t, n, func(t *testing.T, s *share) {
					testFaultRecipe(t, ps.fw, ps.mode, ps.nftOnly, ps.recipes[0].name, ri, s)
				})
			})
		}
	}
}

// recipeShares is how many shares a recipe's iptables pass runs in (see
// inShares): one for about 40 cases (the nft passes have 6 to 12 cases).
var recipeShares = map[string]int{
	"veth up": 2, "overlay mount": 1, "bridge up": 2, "bridge attach": 2, "bridge attach of three in one call": 4,
	"dual-stack bridge up": 4, "dual-stack bridge attach": 2,
	"internal bridge up": 1, "isolated bridge up": 2,
}

// faultRecipe is a command of the fault matrix, and the plumb commands
// whose result is part of "before".
type faultRecipe struct {
	name  string
	setup []string
	args  []string
}

// faultPass is a back end and exec mode, and the recipes the matrix runs
// with them; nftOnly: only at the steps that are nft's.
type faultPass struct {
	fw, mode string
	recipes  []faultRecipe
	nftOnly  bool
}

// faultPasses are the fault matrix's passes, for scratch directory root
// and container processes pid, pid2 and pid3.
func faultPasses(root string, pid, pid2, pid3 int) []faultPass {
	recipes := []faultRecipe{
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
	nftRecipes := []faultRecipe{recipes[0], recipes[2], recipes[3]}
	nftRecipes[2].args = append(append([]string{}, nftRecipes[2].args...), "--publish", "5353:53/udp")
	dualRecipes := []faultRecipe{
		{"dual-stack bridge up", nil, []string{"bridge", "up", "br3", "--subnet", "10.91.0.0/24", "--subnet", "fd00:91::/64"}},
		{"dual-stack bridge attach", []string{"bridge up br4 --subnet 10.92.0.0/24 --subnet fd00:92::/64",
			"bridge attach br4 --pid " + strconv.Itoa(pid), "bridge detach br4 --pid " + strconv.Itoa(pid)},
			[]string{"bridge", "attach", "br4", "--pid", strconv.Itoa(pid), "--publish", "8080:80"}},
	}
	isoRecipes := []faultRecipe{
		{"internal bridge up", nil, []string{"bridge", "up", "br5", "--subnet", "10.93.0.0/24", "--internal"}},
		{"isolated bridge up", nil, []string{"bridge", "up", "br6", "--subnet", "10.94.0.0/24", "--isolate"}},
	}
	return []faultPass{
		{"iptables", "batch", recipes, false}, {"iptables", "each", recipes, false},
		{"nftables", "batch", nftRecipes, true}, {"nftables", "each", nftRecipes, true},
		{"iptables", "batch", dualRecipes, false}, {"nftables", "batch", dualRecipes, true},
		{"iptables", "batch", isoRecipes, false}, {"nftables", "batch", isoRecipes, true},
	}
}

// testFaultRecipe runs the fault matrix of one recipe (the ri-th of the
// pass whose first recipe is named first) in namespaces of its own.
func testFaultRecipe(t *testing.T, fw, mode string, nftOnly bool, first string, ri int, share *share) {
	if !isolateWorld(t) {
		return
	}
	root := scratch(t)
	write(t, root+"/l1/f", "1")
	write(t, root+"/l2/g", "2")
	var r faultRecipe
	for _, ps := range faultPasses(root, startContainer(t), startContainer(t), startContainer(t)) {
		if ps.fw == fw && ps.mode == mode && ps.recipes[0].name == first {
			r = ps.recipes[ri]
		}
	}
	env := faultEnv(t)
	marker := filepath.Join(t.TempDir(), "failed")
	inside("PLUMB_FIREWALL", fw)

	ran, restored := 0, 0
	for _, s := range r.setup {
		mustPlumb(t, strings.Fields(s)...)
		// The warm-up's attach gives the bridge its link-local address
		// only once the kernel's linkwatch has seen its carrier: on a
		// busy machine that is up to a second later, after the detach
		// took the carrier again. A snapshot brings it up to date.
		snapshot(t)
	}
	before := settled(t, root)
	status := mustPlumb(t, "status")
	steps := planSteps(mustPlumb(t, append(r.args, "--dry-run")...))
	for k, step := range steps {
		if nftOnly && !strings.HasPrefix(step, "nft ") {
			continue
		}
		cases := faultsAt(k, step, marker)
		for _, c := range cases {
			if !share.mine() {
				continue
			}
			os.Remove(marker)
			ran++
			label := fmt.Sprintf("%s (%s, exec %s), step %d/%d %s (%s)", r.name, fw, mode, k+1, len(steps), c.name, step)
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
	// Leave nothing of the setup behind.
	for _, s := range r.setup {
		if f := strings.Fields(s); f[0] == "bridge" && f[1] == "up" {
			mustPlumb(t, "bridge", "down", f[2], "--force")
		}
	}
	t.Logf("fault matrix: %d cases ran (%s), %d restored the snapshot exactly", ran, fw, restored)
	if restored != ran {
		t.Errorf("%d of %d cases did not restore the snapshot", ran-restored, ran)
	}
}
