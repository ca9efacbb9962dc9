package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	isolatepkg "plumb/internal/isolate"
)

// TestLiveExec: a container on the OCI runtime, seen through plumb exec:
// Docker's 14 capabilities and its seccomp filter (Seccomp: 2), a syscall
// the profile denies (unshare of a user namespace) refused with EPERM, the
// exit status passed through, -e, -u and -w over the container's own, and
// --security-opt seccomp=unconfined without a filter; the root mounted
// nodev,nosuid, a cgroup namespace of its own and, on runc, a cgroup one
// level below the root (/plumb-NAME), gone after stop. exec of a
// container that is not running is refused; after stop the namespace is
// as before. Once with crun, once with runc; with crun, a second
// container loads the filter the first one's crun compiled, with the same
// effect.
func TestLiveExec(t *testing.T) {
	t.Parallel()
	for _, rt := range []string{"crun", "runc"} {
		t.Run(rt, func(t *testing.T) {
			t.Parallel()
			if _, err := exec.LookPath(rt); err != nil {
				t.Skipf("%s is not installed (make test installs it as root): %v", rt, err)
			}
			if isolatepkg.Inside() {
				os.Setenv("PLUMB_RUNTIME", rt) // alone in the re-run process
			}
			testLiveExec(t, rt)
		})
	}
}

func testLiveExec(t *testing.T, rt string) {
	if !isolate(t) {
		return
	}
	mustPlumb(t, "layer", "import", busyboxTarball(t), "--name", "bb")
	users := t.TempDir()
	write(t, users+"/etc/passwd", "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:App:/home/app:/bin/sh\n")
	write(t, users+"/etc/group", "root:x:0:\napp:x:1000:\n")
	before := snapshot(t)
	// The cgroup hierarchy is the host's, shared by the tests beside:
	// each runtime's container has a name of its own.
	box := "box-" + rt
	mustPlumb(t, "run", box, "--layer", users, "--layer", "bb", "-e", "WHO=container", "-d", "--", "sleep", "600")

	out := plumbStdout(t, "exec", box, "--", "sh", "-c", "grep -E '^(CapBnd|Seccomp):' /proc/self/status; echo WHO=$WHO; id -u; cat /proc/self/cgroup; grep ' / / ' /proc/self/mountinfo")
	for _, want := range []string{"CapBnd:\t00000000a80425fb\n", "Seccomp:\t2\n", "WHO=container\n", "0\n", "0::/\n", " / / rw,nosuid,nodev,"} {
		if !strings.Contains(out, want) {
			t.Errorf("plumb exec: no %q in:\n%s", want, out)
		}
	}
	// Docker's profile denies unshare(CLONE_NEWUSER) without CAP_SYS_ADMIN.
	cmd := exec.Command("plumb", "exec", box, "--", "unshare", "-U", "true")
	res, err := cmd.CombinedOutput()
	if !strings.Contains(string(res), "Operation not permitted") {
		t.Errorf("unshare -U in the container: %v\n%s", err, res)
	}
	// The command's status is plumb's.
	err = exec.Command("plumb", "exec", box, "--", "sh", "-c", "exit 7").Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Errorf("exit 7 in the container: plumb exec gave %v", err)
	}
	out = plumbStdout(t, "exec", "-e", "WHO=exec", "-u", "app", "-w", "/etc", box, "--", "sh", "-c", "echo WHO=$WHO HOME=$HOME; id -u; pwd")
	if want := "WHO=exec HOME=/home/app\n1000\n/etc\n"; out != want {
		t.Errorf("exec -e -u -w: %q, want %q", out, want)
	}
	// runc's container has a cgroup one level below the root; inside, its
	// own cgroup namespace shows it as the root ("0::/" above), as Docker's
	// do. crun runs with --cgroup-manager=disabled: no cgroup of its own.
	cgroup := "/sys/fs/cgroup/plumb-" + box
	procs, err := os.ReadFile(cgroup + "/cgroup.procs")
	if rt == "runc" && (err != nil || len(procs) == 0) {
		t.Errorf("the container's cgroup: %q, %v", procs, err)
	}
	if rt == "crun" && !os.IsNotExist(err) {
		t.Errorf("crun made a cgroup %s: %v", cgroup, err)
	}
	mustPlumb(t, "stop", box, "--rm", "--time", "1")
	if _, err := os.Stat(cgroup); !os.IsNotExist(err) {
		t.Errorf("the container's cgroup after stop: %v", err)
	}
	if rt == "crun" {
		testCachedFilter(t, box, users)
	}

	mustPlumb(t, "run", "open", "--layer", "bb", "--security-opt", "seccomp=unconfined", "-d", "--", "sleep", "600")
	if out := plumbStdout(t, "exec", "open", "--", "grep", "^Seccomp:", "/proc/self/status"); out != "Seccomp:\t0\n" {
		t.Errorf("seccomp=unconfined: %q", out)
	}
	mustPlumb(t, "stop", "open", "--rm", "--time", "1")
	if out, err := plumb(t, nil, "exec", "open", "--", "true"); err == nil || !strings.Contains(out, "plumb keeps no container named open") {
		t.Errorf("exec of a stopped container: %v\n%s", err, out)
	}
	// run -t in the foreground: the command's stdin is a terminal the
	// runtime made (script gives plumb one of its own).
	tty, err := exec.Command("script", "-qc", "plumb --log-level error run tty-"+rt+" --layer bb -t -- tty", "/dev/null").Output()
	if err != nil || !strings.Contains(string(tty), "/dev/pts/") {
		t.Errorf("run -t: %v, %q", err, tty)
	}
	if out, err := plumb(t, nil, "run", "x", "--layer", "bb", "-d", "-t", "--", "true"); err == nil || !strings.Contains(out, "-i and -t are for the foreground") {
		t.Errorf("run -d -t: %v\n%s", err, out)
	}
	if out, err := plumb(t, nil, "run", "x", "--layer", "bb", "-t", "--", "true"); err == nil || !strings.Contains(out, "plumb's stdin is not a terminal") {
		t.Errorf("run -t with no terminal: %v\n%s", err, out)
	}
	sameSnapshot(t, before, "after stop")
	if entries, _ := os.ReadDir("/run/plumb-root/overlay"); len(entries) != 0 {
		t.Errorf("left in the overlay directory: %v", entries)
	}
}

// testCachedFilter: the first container kept the filter crun compiled
// (its poststart hook); a second one with the same profile hands it to
// crun as run.oci.seccomp_bpf_data, and is confined as the first was.
func testCachedFilter(t *testing.T, box, users string) {
	state := os.Getenv("PLUMB_STATE_DIR")
	if state == "" {
		state = "/run/plumb"
	}
	kept, _ := filepath.Glob(filepath.Join(state, "cache", "seccomp", "*"))
	if len(kept) != 1 {
		t.Fatalf("kept filters after the first container: %v", kept)
	}
	plan := plumbStdout(t, "run", box, "--layer", users, "--layer", "bb", "--dry-run", "-d", "--", "sleep", "600")
	if !strings.Contains(plan, `"run.oci.seccomp_bpf_data": "`) || strings.Contains(plan, "seccomp.bpf") {
		t.Errorf("the second container's plan neither loads the kept filter nor only that:\n%s", plan)
	}
	mustPlumb(t, "run", box, "--layer", users, "--layer", "bb", "-d", "--", "sleep", "600")
	if out := plumbStdout(t, "exec", box, "--", "grep", "^Seccomp:", "/proc/self/status"); out != "Seccomp:\t2\n" {
		t.Errorf("with the kept filter: %q", out)
	}
	res, err := exec.Command("plumb", "exec", box, "--", "unshare", "-U", "true").CombinedOutput()
	if !strings.Contains(string(res), "Operation not permitted") {
		t.Errorf("unshare -U in the container with the kept filter: %v\n%s", err, res)
	}
	mustPlumb(t, "stop", box, "--rm", "--time", "1")
}
