package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// etcProbe is what TestLiveRunEtc has a container report of itself,
// sections split by "---": its /etc/hostname, /etc/hosts, /etc/resolv.conf,
// its whole environment, its working directory and IDs, and the mounts on
// its /etc files.
const etcProbe = `cat /etc/hostname; echo ---
cat /etc/hosts; echo ---
cat /etc/resolv.conf; echo ---
env | sort; echo ---
pwd; id -u; id -g; id -G; echo ---
mount | grep ' on /etc/'`

// TestLiveRunEtc: a container gets, as Docker gives them, its
// /etc/hostname, an /etc/hosts with its address and name, an
// /etc/resolv.conf with the host's nameservers less the loopback one (a
// controlled host file, --resolv-conf), each bound from a file in its
// directory; and its command runs with exactly Docker's environment and
// -e (one taken from plumb's own), in its working directory (made), as the
// user named in the root's /etc/passwd, with that user's groups. The same
// inside a foreground run and a detached one; after stop the files are
// gone and the namespace, the mount table and the state directory are as
// before. A layer whose /etc/resolv.conf is a link out of the root is
// refused before anything runs.
func TestLiveRunEtc(t *testing.T) {
	t.Parallel()
	if !isolateWorld(t) {
		return
	}
	mustPlumb(t, "layer", "import", busyboxTarball(t), "--name", "busybox")
	mustPlumb(t, "bridge", "up", "etc0", "--subnet", "10.92.0.0/24")
	// Warm the bridge: its first port gives it carrier and a link-local
	// address that stay (the kernel's doing, as for docker0).
	mustPlumb(t, "run", "warm", "--layer", "busybox", "--net", "etc0", "-d", "--", "sleep", "60")
	snapshot(t) // the bridge's carrier seen by the kernel's linkwatch (see TestLiveFaultMatrix)
	mustPlumb(t, "stop", "warm", "--rm", "--time", "1")
	users := t.TempDir()
	write(t, users+"/etc/passwd", "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:App:/home/app:/bin/sh\n")
	write(t, users+"/etc/group", "root:x:0:\nwheel:x:10:root,app\napp:x:1000:\nstaff:x:50:app\n")
	resolv := filepath.Join(t.TempDir(), "resolv.conf")
	write(t, resolv, "# the host's\nnameserver 127.0.0.53\nnameserver 192.0.2.53\nnameserver ::1\nsearch example.test\noptions ndots:2\n")
	before, mounts, status := snapshot(t), mountTable(t), mustPlumb(t, "status")

	args := func(name string, detach bool, cmd string) []string {
		a := []string{"run", name, "--layer", users, "--layer", "busybox", "--net", "etc0", "--hostname", "probe.example",
			"--resolv-conf", resolv, "-e", "GREETING=hello world", "-e", "FROM_HOST", "-e", "UNSET_HERE", "-w", "/srv/app", "-u", "app"}
		if detach {
			a = append(a, "-d")
		}
		return append(a, "--", "sh", "-c", cmd)
	}
	check := func(when, report, ip string) {
		t.Helper()
		s := strings.Split(report, "---\n")
		if len(s) != 6 {
			t.Fatalf("%s: the container reported:\n%s", when, report)
		}
		if s[0] != "probe.example\n" {
			t.Errorf("%s: /etc/hostname is %q", when, s[0])
		}
		want := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\n" +
			"ff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n" + ip + "\tprobe.example probe\n"
		if s[1] != want {
			t.Errorf("%s: /etc/hosts (-want +got):\n%s", when, cmp.Diff(want, s[1]))
		}
		want = "nameserver 192.0.2.53\nsearch example.test\noptions ndots:2\n\n# Based on host file: '" + resolv + "' (legacy)\n# Overrides: []\n# Option ndots from: host\n"
		if s[2] != want {
			t.Errorf("%s: /etc/resolv.conf (-want +got):\n%s", when, cmp.Diff(want, s[2]))
		}
		// Exactly Docker's environment and -e (busybox sh adds PWD and
		// SHLVL): nothing of plumb's own, UNSET_HERE (unset where plumb
		// runs) absent.
		want = "FROM_HOST=plumb's own value\nGREETING=hello world\nHOME=/home/app\nHOSTNAME=probe.example\n" +
			"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nPWD=/srv/app\nSHLVL=1\n"
		if s[3] != want {
			t.Errorf("%s: the environment (-want +got):\n%s", when, cmp.Diff(want, s[3]))
		}
		ids := strings.Split(strings.TrimSpace(s[4]), "\n")
		if len(ids) != 4 || ids[0] != "/srv/app" || ids[1] != "1000" || ids[2] != "1000" {
			t.Errorf("%s: pwd, id -u, id -g: %q", when, ids)
		} else if g := strings.Fields(ids[3]); !slices.Contains(g, "10") || !slices.Contains(g, "50") || slices.Contains(g, "0") {
			t.Errorf("%s: id -G: %q, want app's groups 10 and 50", when, ids[3])
		}
		var binds []string
		for _, l := range strings.Split(strings.TrimSpace(s[5]), "\n") {
			if f := strings.Fields(l); len(f) > 4 && f[1] == "on" && f[3] == "type" {
				binds = append(binds, f[2])
			}
		}
		if diff := cmp.Diff([]string{"/etc/resolv.conf", "/etc/hostname", "/etc/hosts"}, binds); diff != "" { // in Docker's order
			t.Errorf("%s: the mounts on /etc (-want +got):\n%s\n%s", when, diff, s[5])
		}
	}

	// In the foreground: its output is the report.
	cmd := exec.Command("plumb", args("probe", false, etcProbe)...)
	cmd.Env = append(os.Environ(), "FROM_HOST=plumb's own value")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("plumb run: %v\n%s", err, stderr.String())
	}
	check("foreground", string(out), "10.92.0.2")
	// Nothing of it stays, the working directory it made in its upper
	// layer included, as docker run --rm deletes the container layer:
	// the name is free for the run below.
	for _, dir := range []string{"/run/plumb-root/overlay/probe", "/run/plumb-root/sandbox/probe"} {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("left of the foreground container: %s: %v", dir, err)
		}
	}

	// Detached: the files are in its sandbox's directory while it runs,
	// and gone after plumb stop, with the container's own directory.
	// (Its output is its log: the user app may write neither /tmp nor its
	// working directory, both root's.)
	cmd = exec.Command("plumb", args("probe", true, etcProbe+"; exec sleep 600")...)
	cmd.Env = append(os.Environ(), "FROM_HOST=plumb's own value")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("plumb run -d: %v\n%s", err, out)
	}
	eventually(t, "the detached container's report", func() bool {
		data, _ := exec.Command("plumb", "logs", "probe").CombinedOutput()
		return strings.Count(string(data), "---\n") == 5 && strings.Contains(string(data), " on /etc/resolv.conf ")
	})
	report, err := exec.Command("plumb", "logs", "probe").CombinedOutput()
	if err != nil {
		t.Fatalf("plumb logs probe: %v\n%s", err, report)
	}
	check("detached", string(report), "10.92.0.2")
	dir := "/run/plumb-root/sandbox/probe/"
	for f, want := range map[string]string{"hostname": "probe.example\n", "hosts": "10.92.0.2\tprobe.example probe\n", "resolv.conf": "nameserver 192.0.2.53\n"} {
		if got := read(t, dir+f); !strings.Contains(got, want) {
			t.Errorf("%s%s holds %q, want ...%q...", dir, f, got, want)
		}
		if fi, err := os.Stat(dir + f); err != nil || fi.Mode().Perm() != 0o644 {
			t.Errorf("%s%s: %v, %v; want mode 0644", dir, f, fi, err)
		}
	}
	mustPlumb(t, "stop", "probe", "--rm", "--time", "1")
	for _, dir := range []string{dir, "/run/plumb-root/overlay/probe"} {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("after stop --rm, %s: %v", dir, err)
		}
	}

	// A layer whose /etc/resolv.conf is a link out of the root: refused
	// (exit 2, one line) before anything runs; the host's file untouched.
	evil := t.TempDir()
	os.Mkdir(evil+"/etc", 0o755)
	os.Symlink("/etc/hostname", evil+"/etc/resolv.conf")
	hostname, _ := os.ReadFile("/etc/hostname")
	out2, err := plumb(t, nil, "run", "evil", "--layer", evil, "--layer", "busybox", "--", "true")
	if exitStatus(err) != 2 || !strings.Contains(out2, "plumb: error: --layer: "+evil+"/etc/resolv.conf is a symbolic link (to /etc/hostname)") {
		t.Errorf("a resolv.conf linking out of the root: %v\n%s", err, out2)
	}
	if now, _ := os.ReadFile("/etc/hostname"); string(now) != string(hostname) {
		t.Errorf("the host's /etc/hostname changed: %q", now)
	}

	if got := mustPlumb(t, "recover"); !strings.Contains(got, "nothing to recover") {
		t.Errorf("recover found:\n%s", got)
	}
	if got := mustPlumb(t, "status"); got != status {
		t.Errorf("the state directory keeps:\n%s\nwant:\n%s", got, status)
	}
	sameSnapshot(t, before, "after the containers")
	if got := mountTable(t); got != mounts {
		t.Errorf("the mount table differs:\n%s\nwant:\n%s", got, mounts)
	}
	mustPlumb(t, "bridge", "down", "etc0")
	mustPlumb(t, "down", "layer/busybox")
}
