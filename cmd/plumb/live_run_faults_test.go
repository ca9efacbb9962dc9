package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestLiveRunFaults is the fault matrix for `plumb run -d` on a bridge: for
// every step k, (a) the step fails and plumb rolls back; (b) it runs and
// then reports a failure (it did its work half-way or whole: a write of
// an /etc file cut short) and plumb rolls back; (c) plumb gets SIGINT or
// SIGTERM while it runs and rolls back; (d) plumb is
// SIGKILLed just before step k, and just after it, then `plumb recover`;
// (e) plumb is SIGKILLed during the rollback of a failure at step k, then
// `plumb recover`. The container mounts a named volume, a host directory
// that -v makes (its mkdir is a step) and a tmpfs. Every tool the steps run is wrapped: sh too (it writes
// the container's hostname, hosts, resolv.conf and config.json), and the
// OCI runtime, whose `run --detach` returns once the container runs (so
// a kill after it leaves a running container for recover to delete). And
// the step that can fail half-way inside one command: `true` failing
// after `unshare --net=FILE` has mounted FILE, also with plumb SIGKILLed
// in the cleanup. After each case the namespace
// (links, addresses, routes, iptables, ip_forward, the mount table, every
// file under /run) equals the snapshot taken before, and a second recover
// does nothing. The wrapper matches a step by its argv joined with spaces,
// so the container's multi-line script is matched whole.
//
// The cases run in runFaultShards shares (every runFaultShards-th case),
// each a subtest in namespaces of its own, side by side; make test runs a
// sample of them in one (see faultStride).
func TestLiveRunFaults(t *testing.T) {
	t.Parallel()
	inShares(t, runFaultShards, testLiveRunFaults)
}

// runFaultShards is how many shares TestLiveRunFaults's cases run in.
const runFaultShards = 4

func testLiveRunFaults(t *testing.T, share *share) {
	if !isolateWorld(t) {
		return
	}
	mustPlumb(t, "layer", "import", busyboxTarball(t), "--name", "busybox")
	mustPlumb(t, "bridge", "up", "br0", "--subnet", "10.88.0.0/24")
	// A named volume made before (nocopy: the copy from the image keeps
	// what it copied, by design), a host directory -v makes, a tmpfs.
	mustPlumb(t, "volume", "create", "data")
	args := []string{"run", "web", "--layer", "busybox", "--net", "br0", "--publish", "8080:80",
		"-v", "data:/data:nocopy", "-v", "/run/vsrc:/vsrc", "--tmpfs", "/scratch", "-d", "--", "sleep", "2"}
	// Warm up: the bridge's first port gives it carrier and a link-local
	// address that stay (see TestLiveFaultMatrix), and the first mount makes
	// /run/mount.
	mustPlumb(t, args...)
	snapshot(t) // the bridge's carrier seen by the kernel's linkwatch (see TestLiveFaultMatrix)
	mustPlumb(t, "stop", "web", "--rm", "--time", "1")
	before := settled(t, "/run")
	status := mustPlumb(t, "status")

	type steps []struct {
		Argv []string `json:"argv"`
	}
	// The sandbox's, the root's and the container's plans, as one chain.
	var plans struct {
		Plans []struct {
			Steps steps `json:"steps"`
		} `json:"plans"`
	}
	dry := append(append(append([]string{}, args[:len(args)-3]...), "--dry-run", "-o", "json"), args[len(args)-3:]...)
	if err := json.Unmarshal([]byte(plumbStdout(t, dry...)), &plans); err != nil {
		t.Fatal(err)
	}
	var plan struct{ Steps steps }
	for _, p := range plans.Plans {
		plan.Steps = append(plan.Steps, p.Steps...)
	}
	if len(plans.Plans) != 3 {
		t.Fatalf("the dry run shows %d plans; want the sandbox's, the root's and the container's", len(plans.Plans))
	}
	tools := []string{"ip", "nsenter", "iptables", "iptables-restore", "sysctl", "mount", "umount", "mkdir", "rmdir", "rm", "touch", "sh", "crun"} // sysctl: the bridge's route_localnet, for the published port
	env := faultEnv(t, append(tools, "unshare")...)
	// For the half-way cases, unshare itself is not wrapped: the wrapper
	// runs the real tool with the real PATH, where unshare would find the
	// real hostname and true.
	halfEnv := faultEnv(t, append(tools, "true")...)
	marker := filepath.Join(t.TempDir(), "failed")
	var cases []fault
	writes := 0
	for k, s := range plan.Steps {
		step := strings.Join(s.Argv, " ")
		label := fmt.Sprintf("step %d/%d (%s)", k+1, len(plan.Steps), strings.SplitN(step, "\n", 2)[0])
		for _, f := range faultsAt(k, step, marker) {
			cases = append(cases, fault{label + " " + f.name, append(f.env, env...), f.clean})
		}
		if s.Argv[0] == "sh" {
			writes++
		}
	}
	// The /etc files and their mount points (busybox has no /etc) and
	// config.json: the matrix covers their writes.
	if writes != 7 {
		t.Errorf("the plan writes %d files with sh, want 7 (3 mount points, 3 files, config.json):\n%v", writes, plan.Steps)
	}
	// The wrapper sees "NAME ARGS...": true, with no arguments, is "true ".
	for _, half := range []string{"true "} {
		cases = append(cases,
			fault{"half-way: " + half + " fails", append([]string{"FAIL_ON=" + half}, halfEnv...), true},
			fault{"half-way: " + half + " fails, killed in the cleanup", append([]string{"FAIL_ON=" + half, "KILL_AFTER_FAIL=" + marker}, halfEnv...), false},
		)
	}
	restored, ran := 0, 0
	for _, c := range cases {
		if !share.mine() {
			continue
		}
		ran++
		os.Remove(marker)
		out, err := plumb(t, c.env, args...)
		if err == nil {
			t.Errorf("%s: plumb succeeded:\n%s", c.name, out)
			mustPlumb(t, "stop", "web", "--rm", "--time", "1")
			continue
		}
		rec, err := plumb(t, nil, "recover")
		if err != nil {
			t.Errorf("%s: recover failed: %v\n%s", c.name, err, rec)
			continue
		}
		if c.clean && !strings.Contains(rec, "nothing to recover") {
			t.Errorf("%s: plumb left its rollback to recover:\n%s\nplumb said:\n%s", c.name, rec, out)
			continue
		}
		if again := mustPlumb(t, "recover"); !strings.Contains(again, "nothing to recover") {
			t.Errorf("%s: second recover did something:\n%s", c.name, again)
		}
		if got := mustPlumb(t, "status"); got != status {
			t.Errorf("%s: journal differs:\n%s\nwant:\n%s", c.name, got, status)
			continue
		}
		if after := settled(t, "/run"); after != before {
			t.Errorf("%s: namespace differs from before:\n%s\nplumb said:\n%s", c.name, cmp.Diff(before, after), out)
			continue
		}
		restored++
	}
	t.Logf("run fault matrix: %d of its %d cases ran here, %d restored the snapshot exactly", ran, len(cases), restored)
	if restored != ran {
		t.Errorf("%d of %d cases did not restore the snapshot", ran-restored, ran)
	}
	mustPlumb(t, "bridge", "down", "br0")
	mustPlumb(t, "volume", "rm", "data")
	mustPlumb(t, "down", "layer/busybox")
}
