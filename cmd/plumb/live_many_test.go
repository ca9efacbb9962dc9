package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestLiveAttachMany attaches 40 containers (30 named namespaces from a
// --from file, 10 by PID) in one call, in both exec modes: a container
// whose eth0 name is taken makes the call fail and every container is
// rolled back to the namespace's exact state; then all 40 are attached,
// talk to each other, pass `plumb check`, and are detached in one call.
func TestLiveAttachMany(t *testing.T) {
	t.Parallel()
	if !isolateWorld(t) {
		return
	}
	mustPlumb(t, "bridge", "up", "br0", "--subnet", "10.88.0.0/24")
	// A bridge keeps the IPv6 link-local address its first port gave it:
	// warm it with one attach and detach, so "before" is a bridge that has
	// had a container.
	warm := startContainer(t)
	mustPlumb(t, "bridge", "attach", "br0", "--pid", strconv.Itoa(warm))
	snapshot(t) // the bridge's carrier seen by the kernel's linkwatch (see TestLiveFaultMatrix)
	mustPlumb(t, "bridge", "detach", "br0", "--pid", strconv.Itoa(warm))

	var lines []string
	for i := 1; i <= 30; i++ {
		sh(t, "ip", "netns", "add", fmt.Sprintf("c%d", i))
		lines = append(lines, fmt.Sprintf("netns c%d", i))
	}
	var pids []int
	args := []string{"bridge", "attach", "br0", "--from", filepath.Join(t.TempDir(), "containers")}
	for i := 0; i < 10; i++ {
		pids = append(pids, startContainer(t))
		args = append(args, "--pid", strconv.Itoa(pids[i]))
	}
	if err := os.WriteFile(args[4], []byte("# the test's containers\n"+strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t)

	// c17 already has an eth0: its rename fails, and all 40 are rolled back.
	sh(t, "ip", "-n", "c17", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p")
	for _, mode := range []string{"batch", "each"} {
		out, err := plumb(t, []string{"PLUMB_EXEC=" + mode}, args...)
		if err == nil {
			t.Fatalf("%s: attach with a taken name succeeded:\n%s", mode, out)
		}
		if !strings.Contains(out, "step 4 of 8 failed: ip -n c17 link set") || !strings.Contains(out, "rolled back all 40 objects of this call") ||
			!strings.Contains(out, "the host is as it was before") {
			t.Errorf("%s: the error does not name the failing step and the rollback:\n%s", mode, out)
		}
		sameSnapshot(t, before, mode+" rollback of 40 containers")
		if got := sh(t, "ip", "-n", "c1", "-o", "link", "show"); strings.Count(got, "\n") != 1 {
			t.Errorf("%s: container c1 keeps links after the rollback:\n%s", mode, got)
		}
		if st := mustPlumb(t, "status"); strings.Contains(st, "attachment/") {
			t.Errorf("%s: journals kept after the rollback:\n%s", mode, st)
		}
	}
	sh(t, "ip", "-n", "c17", "link", "del", "eth0")

	start := time.Now()
	out := mustPlumb(t, args...)
	t.Logf("40 containers attached in one call in %s", time.Since(start).Round(time.Millisecond))
	if n := strings.Count(out, " is attached to br0 as "); n != 40 {
		t.Fatalf("%d containers said attached; want 40:\n%s", n, out)
	}
	if !strings.Contains(out, "steps as one process: ip -batch -") {
		t.Errorf("the host's steps did not run as one batch:\n%s", out)
	}
	// Traffic: a listener in c1 answers a container attached by PID, which
	// arrives from its own address.
	m := attachedAs.FindStringSubmatch(out[strings.Index(out, "netns c1 is attached"):])
	l := listenIn(t, "/run/netns/c1", m[1]+":9000")
	if got := dialFrom(t, pids[9], l, m[1]+":9000"); !strings.HasPrefix(got, "10.88.0.") || !strings.HasSuffix(got, " said hello") {
		t.Errorf("container %d to c1: %q", pids[9], got)
	}
	if got := mustPlumb(t, "check"); strings.Count(got, "ok    attachment/br0-") != 40 {
		t.Errorf("plumb check does not find all 40 in effect:\n%s", got)
	}

	// All of them detached in one call: their links deleted as one group.
	detach := append([]string{"bridge", "detach"}, args[2:]...)
	start = time.Now()
	out = mustPlumb(t, detach...)
	t.Logf("40 containers detached in one call in %s", time.Since(start).Round(time.Millisecond))
	if n := strings.Count(out, " is detached"); n != 40 || !strings.Contains(out, "40 links deleted in one request, as link group") {
		t.Errorf("detach of 40: %d detached, or not as one link group:\n%s", n, out)
	}
	sameSnapshot(t, before, "detach of 40 containers")
	mustPlumb(t, "bridge", "down", "br0")
}
