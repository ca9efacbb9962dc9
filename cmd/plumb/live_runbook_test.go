package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// host is a stand-in host made as a named network namespace inside the
// test's own, with an uplink to its own "internet" and a container process:
// two such hosts, set up alike, can be compared after different routes to
// the same state (plumb applying a plan, bash running its runbook).
type host struct {
	t     *testing.T
	name  string
	state string
}

func newHost(t *testing.T, name string) *host {
	sh(t, "ip", "netns", "add", name)
	h := &host{t: t, name: name, state: t.TempDir()}
	standIn(h.run, name+"-inet")
	return h
}

// container starts a fresh container process on the host.
func (h *host) container() int {
	return containerIn(h.t, "/run/netns/"+h.name)
}

// run runs a command on the host, failing the test if it fails.
func (h *host) run(argv ...string) string {
	h.t.Helper()
	out, err := h.try(nil, argv...)
	if err != nil {
		h.t.Fatalf("%s on %s: %v\n%s", strings.Join(argv, " "), h.name, err, out)
	}
	return out
}

// try runs a command on the host (nsenter --net: the test's mount namespace
// stays, so overlay mounts would too) with plumb's state for this host.
func (h *host) try(env []string, argv ...string) (string, error) {
	cmd := exec.Command("nsenter", append([]string{"--net=/run/netns/" + h.name}, argv...)...)
	cmd.Env = append(append(os.Environ(), stateEnv(h.state)...), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// snapshot is the host's network state (netState, which masks what differs
// between two alike hosts by chance) once the kernel has settled.
func (h *host) snapshot() string {
	return netState(h.t, "/run/netns/"+h.name)
}

// runbook writes what `plumb ... -o sh` printed for h.
func (h *host) runbook(args ...string) string {
	path := filepath.Join(h.t.TempDir(), "runbook.sh")
	if err := os.WriteFile(path, []byte(h.run(append([]string{"plumb"}, append(args, "-o", "sh")...)...)), 0o755); err != nil {
		h.t.Fatal(err)
	}
	return path
}

// TestLiveRunbook: each recipe's runbook, run by bash on a fresh host, gives
// the state plumb gives applying the same plan on another; and with a
// failure injected at each step it rolls the host back to where it started.
// With each firewall back end (nft's runbooks feed nft -f - a
// here-document); the overlay's, which writes no rule, with iptables only.
func TestLiveRunbook(t *testing.T) { forFirewalls(t, testLiveRunbook) }

func testLiveRunbook(t *testing.T, fw string) {
	if !isolate(t) {
		return
	}
	sh(t, "ip", "link", "set", "lo", "up")
	byPlumb, byBash, failing := newHost(t, "hosta"), newHost(t, "hostb"), newHost(t, "hostc")
	wrapEnv := faultEnv(t)
	recipes := []struct {
		name string
		args func(pid int) []string
		pre  func(h *host) // on every host first
	}{
		{"veth up", func(pid int) []string { return []string{"veth", "up", "--pid", strconv.Itoa(pid)} }, nil},
		{"bridge up", func(int) []string { return []string{"bridge", "up", "br0", "--subnet", "10.88.0.0/24"} }, nil},
		{"bridge attach", func(pid int) []string {
			return []string{"bridge", "attach", "br1", "--pid", strconv.Itoa(pid), "--publish", "8080:80"}
		}, func(h *host) {
			// A bridge that has had a port once, as in the fault matrix:
			// its carrier history and link-local address are the kernel's.
			h.run("plumb", "bridge", "up", "br1", "--subnet", "10.89.0.0/24")
			pid := strconv.Itoa(h.container())
			h.run("plumb", "bridge", "attach", "br1", "--pid", pid)
			h.run("plumb", "bridge", "detach", "br1", "--pid", pid)
		}},
		// Dual stack: the IPv6 side's steps (addresses nodad, the IPv6
		// forwarding setting, ip6tables or the table ip6, a port in both
		// families) fail and roll back as the IPv4 side's do.
		{"dual-stack bridge up", func(int) []string {
			return []string{"bridge", "up", "br2", "--subnet", "10.90.0.0/24", "--subnet", "fd00:90::/64"}
		}, nil},
		{"dual-stack bridge attach", func(pid int) []string {
			return []string{"bridge", "attach", "br3", "--pid", strconv.Itoa(pid), "--publish", "8081:80"}
		}, func(h *host) {
			h.run("plumb", "bridge", "up", "br3", "--subnet", "10.91.0.0/24", "--subnet", "fd00:91::/64")
			pid := strconv.Itoa(h.container())
			h.run("plumb", "bridge", "attach", "br3", "--pid", pid)
			h.run("plumb", "bridge", "detach", "br3", "--pid", pid)
		}},
	}
	cases, rolledBack := 0, 0
	var picked sample // make test's sample of the failing steps (see faultStride)
	for _, r := range recipes {
		if r.pre != nil {
			for _, h := range []*host{byPlumb, byBash, failing} {
				r.pre(h)
			}
		}
		h := failing
		args := r.args(h.container())
		start := h.snapshot()
		steps := planSteps(h.run(append([]string{"plumb"}, append(args, "--dry-run")...)...))
		script := h.runbook(args...)
		for k, step := range steps {
			if !picked.take() {
				continue
			}
			cases++
			out, err := h.try(append(append([]string{}, wrapEnv...), "FAIL_ON="+step), "bash", script)
			if err == nil || !strings.Contains(out, "rolling back") {
				t.Errorf("%s: runbook with step %d failing: %v\n%s", r.name, k+1, err, out)
				continue
			}
			if diff := cmp.Diff(start, h.snapshot()); diff != "" {
				t.Errorf("%s: runbook failing at step %d (%s) did not roll back (-start +after):\n%s\n%s", r.name, k+1, step, diff, out)
				continue
			}
			rolledBack++
		}
		byPlumb.run(append([]string{"plumb"}, r.args(byPlumb.container())...)...)
		if out, err := byBash.try(nil, "bash", byBash.runbook(r.args(byBash.container())...)); err != nil {
			t.Fatalf("%s: runbook failed: %v\n%s", r.name, err, out)
		}
		if diff := cmp.Diff(byPlumb.snapshot(), byBash.snapshot()); diff != "" {
			t.Errorf("%s: runbook and plumb differ (-plumb +runbook):\n%s", r.name, diff)
		}
	}
	if fw != "iptables" {
		t.Logf("runbooks (%s): %d steps failed on purpose, %d rolled the host back exactly; each runbook's result equals plumb's", fw, cases, rolledBack)
		if rolledBack != cases {
			t.Errorf("%d of %d runbook failures did not roll back", cases-rolledBack, cases)
		}
		return
	}
	// The overlay runbook, on two scratch file systems laid out alike: the
	// same mounts and files (paths relative to each root), and a rollback
	// from a failure at each step.
	roots := []string{scratch(t), scratch(t), scratch(t)}
	args := func(root string) []string {
		return []string{"overlay", "mount", "--lower", root + "/l1", "--lower", root + "/l2",
			"--upper", root + "/c/upper", "--work", root + "/c/work", "--merged", root + "/c/merged", "--name", filepath.Base(root)}
	}
	view := func(root string) string {
		all := fsSnapshot(t, root)
		var mine []string
		for _, l := range strings.Split(all, "\n") {
			if strings.Contains(l, root) { // this root's mounts and files only
				l = regexp.MustCompile(`^\d+ \d+ \d+:\d+ `).ReplaceAllString(l, "")
				mine = append(mine, strings.ReplaceAll(l, root, "ROOT"))
			}
		}
		return strings.Join(mine, "\n")
	}
	for _, root := range roots {
		write(t, root+"/l1/a", "1")
		write(t, root+"/l2/b", "2")
	}
	failRoot := roots[2]
	start := view(failRoot)
	steps := strings.Split(strings.TrimSpace(mustPlumb(t, append(args(failRoot), "--dry-run")...)), "\n")
	script := filepath.Join(t.TempDir(), "overlay.sh")
	os.WriteFile(script, []byte(mustPlumb(t, append(args(failRoot), "-o", "sh")...)), 0o755)
	for k, step := range steps {
		if !picked.take() {
			continue
		}
		cases++
		cmd := exec.Command("bash", script)
		cmd.Env = append(append(os.Environ(), wrapEnv...), "FAIL_ON="+step)
		if out, err := cmd.CombinedOutput(); err == nil {
			t.Errorf("overlay runbook with step %d failing succeeded:\n%s", k+1, out)
			continue
		}
		if diff := cmp.Diff(start, view(failRoot)); diff != "" {
			t.Errorf("overlay runbook failing at step %d did not roll back:\n%s", k+1, diff)
			continue
		}
		rolledBack++
	}
	mustPlumb(t, args(roots[0])...)
	script = filepath.Join(t.TempDir(), "overlay-b.sh")
	os.WriteFile(script, []byte(mustPlumb(t, append(args(roots[1]), "-o", "sh")...)), 0o755)
	if out, err := exec.Command("bash", script).CombinedOutput(); err != nil {
		t.Fatalf("overlay runbook: %v\n%s", err, out)
	}
	if diff := cmp.Diff(view(roots[0]), view(roots[1])); diff != "" {
		t.Errorf("overlay: runbook and plumb differ (-plumb +runbook):\n%s", diff)
	}
	exec.Command("umount", roots[1]+"/c/merged").Run()
	mustPlumb(t, "overlay", "unmount", "--name", filepath.Base(roots[0]))

	t.Logf("runbooks (%s): %d steps failed on purpose, %d rolled the host back exactly; each runbook's result equals plumb's", fw, cases, rolledBack)
}
