package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestLiveLimits: --memory, --cpus and --pids-limit as the runtime's
// cgroup limits, read back from the container's cgroup on the host, a
// fork past --pids-limit refused inside, inspect's HostConfig, the cgroup
// gone after rm. Where cgroup v2 offers no controllers (this project's
// machine, in "hybrid" mode: they are bound to cgroup v1), crun is refused
// with the reason and runc applies the limits through the v1 hierarchies,
// mounted again in the test's namespace as the host has them; on a host
// with cgroup v2 alone, crun applies them.
func TestLiveLimits(t *testing.T) {
	t.Parallel()
	if !isolate(t) {
		return
	}
	mustPlumb(t, "layer", "import", busyboxTarball(t), "--name", "bb")
	before := snapshot(t)
	controllers, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers")
	if err != nil {
		t.Fatal(err)
	}
	v2 := slices.Contains(strings.Fields(string(controllers)), "memory")
	rt, files := "crun", map[string]string{"memory.max": "67108864", "cpu.max": "50000 100000", "pids.max": "50"}
	if !v2 {
		out, err := plumb(t, nil, "run", "x", "--runtime", "crun", "--layer", "bb", "--memory", "64m", "--", "true")
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(out, "crun cannot apply it: this host's cgroup v2 hierarchy (/sys/fs/cgroup) has no memory controller") {
			t.Errorf("crun with --memory on cgroup v2 without controllers: %v\n%s", err, out)
		}
		v1Hierarchies(t, "memory", "cpu", "pids")
		rt, files = "runc", map[string]string{"memory/memory.limit_in_bytes": "67108864", "cpu/cpu.cfs_quota_us": "50000", "cpu/cpu.cfs_period_us": "100000", "pids/pids.max": "50"}
	}
	mustPlumb(t, "run", "lim", "--runtime", rt, "--layer", "bb", "--memory", "64m", "--cpus", "0.5", "--pids-limit", "50", "-d", "--", "sleep", "600")
	cgroup := func(file string) string {
		dir, name := filepath.Split(file)
		return filepath.Join("/sys/fs/cgroup", dir, "plumb-lim", name)
	}
	for file, want := range files {
		if got := strings.TrimSpace(read(t, cgroup(file))); got != want {
			t.Errorf("%s: %q, want %q", cgroup(file), got, want)
		}
	}
	// 60 processes at once: past 50, fork fails.
	out, _ := plumb(t, nil, "exec", "lim", "--", "sh", "-c", "for i in $(seq 60); do sleep 5 & done 2>&1; kill $(jobs -p) 2>/dev/null")
	if !strings.Contains(out, "can't fork") && !strings.Contains(out, "Resource temporarily unavailable") {
		t.Errorf("60 processes under --pids-limit 50: no fork failed:\n%s", out)
	}
	h := mustPlumb(t, "inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}}", "lim")
	if h != "67108864 500000000 50\n" {
		t.Errorf("inspect HostConfig: %q", h)
	}
	mustPlumb(t, "rm", "-f", "lim")
	for file := range files {
		if _, err := os.Stat(filepath.Dir(cgroup(file))); err == nil {
			t.Errorf("%s is still there after rm", filepath.Dir(cgroup(file)))
		}
	}
	// Refused before anything runs, as docker run refuses them.
	for args, want := range map[string]string{
		"--memory 1m":                    "the least memory limit is 6MB",
		"--memory-swap 64m":              "give --memory too",
		"--memory 64m --memory-swap 32m": "at least --memory",
		"--cpus 1000":                    "this host has",
		"--memory lots":                  `"lots" is not a size`,
		"--pids-limit 5":                 "at least 8: plumb's hook",
		"--pids-limit -5":                "or -1 for no limit",
	} {
		out, err := plumb(t, nil, append(append([]string{"run", "x", "--layer", "bb"}, strings.Fields(args)...), "--", "true")...)
		if err == nil || !strings.Contains(out, want) {
			t.Errorf("run %s: %v, want %q in:\n%s", args, err, want, out)
		}
	}
	sameSnapshot(t, before, "after rm")
}

// v1Hierarchies mounts, in the test's mount namespace, every cgroup v1
// hierarchy of init's mount table (each again with the same controllers,
// cpu,cpuacct together where they are: runc needs devices too), and skips
// the test when a controller named is in none: runc then applies limits
// there.
func v1Hierarchies(t *testing.T, controllers ...string) {
	t.Helper()
	data, err := os.ReadFile("/proc/1/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Unmount("/sys/fs/cgroup", unix.MNT_DETACH); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", "/sys/fs/cgroup", "tmpfs", 0, "mode=755"); err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		i := slices.Index(f, "-")
		if i < 0 || i+3 >= len(f) || f[i+1] != "cgroup" || !strings.HasPrefix(f[4], "/sys/fs/cgroup/") {
			continue
		}
		var opts []string
		for _, o := range strings.Split(f[i+3], ",") {
			if o != "rw" && o != "ro" {
				opts = append(opts, o)
			}
		}
		if err := os.MkdirAll(f[4], 0o755); err != nil {
			t.Fatal(err)
		}
		if err := unix.Mount("cgroup", f[4], "cgroup", 0, strings.Join(opts, ",")); err != nil {
			t.Fatalf("mounting the cgroup v1 hierarchy %s (%s): %v", f[4], strings.Join(opts, ","), err)
		}
		for _, o := range opts {
			found[o] = true
		}
	}
	for _, c := range controllers {
		if !found[c] {
			t.Skipf("this host has neither cgroup v2 controllers nor a cgroup v1 %s hierarchy: no limits can be applied here", c)
		}
	}
}
