package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// confinementProbe is what both containers print of their confinement: the
// capability sets, seccomp and no_new_privs, and the mount table.
const confinementProbe = `grep -E '^(CapBnd|CapEff|CapPrm|Seccomp|NoNewPrivs):' /proc/self/status; echo ---; cat /proc/self/mountinfo`

// TestLivePodmanSpec runs one image under podman (with crun) and under
// plumb, each with its defaults and no network (podman given back the
// three capabilities of Docker's 14 it drops), and compares what the
// container sees: the capability sets, the seccomp mode and no_new_privs
// are equal; the mount points and their flags (ro, nosuid, nodev,
// noexec) are equal but for the differences listed in podmanMountDiffs,
// each with its reason. A new difference fails the test.
func TestLivePodmanSpec(t *testing.T) {
	for _, tool := range []string{"podman", "crun"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skip(tool + " is not installed: this test compares plumb's containers with Debian's podman 4.3 on crun (apt-get install podman crun)")
		}
	}
	t.Parallel()
	if !isolatePodman(t) {
		return
	}
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "rootfs.tar")
	rootfsTarball(t, rootfs)
	confDir := filepath.Join(dir, "net.d")
	if err := os.MkdirAll(confDir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := podmanEnv{t: t, confDir: confDir}
	p.quiet("import", rootfs, "localhost/plumb-busybox:1")
	podman := func(flags ...string) string {
		args := append(append([]string{"run", "--rm", "--cgroups", "disabled", "--network", "none"}, flags...), "localhost/plumb-busybox:1", "sh", "-c", confinementProbe)
		return p.quiet(args...)
	}
	// podman 4.3's defaults are Docker's less NET_RAW, MKNOD and
	// AUDIT_WRITE (CapBnd 00000000800405fb); with them added, Docker's 14.
	if st, _ := splitProbe(podman()); !strings.Contains(st, "CapBnd:\t00000000800405fb\n") {
		t.Errorf("podman's own default capabilities:\n%s", st)
	}
	theirs := podman("--cap-add", "NET_RAW,MKNOD,AUDIT_WRITE")

	mustPlumb(t, "layer", "import", rootfs, "--name", "bb")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "plumb", "--log-level", "error", "run", "probe", "--layer", "bb", "--", "sh", "-c", confinementProbe)
	ours, err := cmd.Output()
	if err != nil {
		t.Fatalf("plumb run: %v", err)
	}
	podStatus, podMounts := splitProbe(theirs)
	ourStatus, ourMounts := splitProbe(string(ours))
	if podStatus != ourStatus {
		t.Errorf("/proc/self/status differs:\npodman:\n%s\nplumb:\n%s", podStatus, ourStatus)
	}
	var diffs []string
	for _, m := range sortedKeys(podMounts, ourMounts) {
		if podMounts[m] != ourMounts[m] {
			diffs = append(diffs, m+" podman:"+orAbsent(podMounts[m])+" plumb:"+orAbsent(ourMounts[m]))
		}
	}
	want := make([]string, 0, len(podmanMountDiffs))
	for d := range podmanMountDiffs {
		want = append(want, d)
	}
	sort.Strings(want)
	if strings.Join(diffs, "\n") != strings.Join(want, "\n") {
		t.Errorf("mount differences from podman:\n%s\nwant (each explained in podmanMountDiffs):\n%s", strings.Join(diffs, "\n"), strings.Join(want, "\n"))
	}
}

// podmanMountDiffs are where plumb's mount table differs from podman's on
// purpose, and why.
var podmanMountDiffs = map[string]string{
	"/ podman:(overlay rw) plumb:(overlay rw,nosuid,nodev)":              "plumb's root is nodev,nosuid: an image's device nodes do not open, its setuid bits grant nothing (--suid, --privileged lift it)",
	"/dev podman:(tmpfs rw,nosuid,noexec) plumb:(tmpfs rw,nosuid,nodev)": "Docker's /dev has no noexec; plumb's is nodev, its nodes bound from the host's, because crun runs without a devices cgroup",
	"/dev/full podman:(none) plumb:(devtmpfs rw,nosuid,noexec)":          "bound from the host's (podman makes the nodes with mknod)",
	"/dev/null podman:(none) plumb:(devtmpfs rw,nosuid,noexec)":          "bound from the host's",
	"/dev/random podman:(none) plumb:(devtmpfs rw,nosuid,noexec)":        "bound from the host's",
	"/dev/tty podman:(none) plumb:(devtmpfs rw,nosuid,noexec)":           "bound from the host's",
	"/dev/urandom podman:(none) plumb:(devtmpfs rw,nosuid,noexec)":       "bound from the host's",
	"/dev/zero podman:(none) plumb:(devtmpfs rw,nosuid,noexec)":          "bound from the host's",
	"/etc/resolv.conf podman:(none) plumb:(tmpfs rw)":                    "plumb binds /etc/resolv.conf with no network too, as Docker does; podman does not with --network none",
	"/proc/interrupts podman:(none) plumb:(devtmpfs ro)":                 "masked by Docker (moby's defaults), not by podman 4.3",
	"/run/.containerenv podman:(tmpfs rw) plumb:(none)":                  "podman's own marker file",
	"/sys/dev/block podman:(tmpfs ro) plumb:(none)":                      "masked by podman, not by Docker",
}

// splitProbe reads confinementProbe's output: the status lines, and each mount point
// with its flags that matter to confinement.
func splitProbe(out string) (status string, mounts map[string]string) {
	head, tail, _ := strings.Cut(out, "---\n")
	mounts = map[string]string{}
	for _, line := range strings.Split(tail, "\n") {
		f := strings.Fields(line)
		i := slices.Index(f, "-")
		if len(f) < 6 || i < 0 || i+1 >= len(f) {
			continue
		}
		var flags []string
		for _, o := range strings.Split(f[5], ",") {
			if slices.Contains([]string{"ro", "rw", "nosuid", "nodev", "noexec"}, o) {
				flags = append(flags, o)
			}
		}
		mounts[f[4]] = f[i+1] + " " + strings.Join(flags, ",")
	}
	return head, mounts
}

func sortedKeys(ms ...map[string]string) []string {
	var out []string
	for _, m := range ms {
		for k := range m {
			if !slices.Contains(out, k) {
				out = append(out, k)
			}
		}
	}
	sort.Strings(out)
	return out
}

func orAbsent(s string) string {
	if s == "" {
		return "(none)"
	}
	return "(" + s + ")"
}
