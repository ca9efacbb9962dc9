package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"plumb/actions"
)

// busyboxTarball builds the demo's layer: Debian's busybox-static with a
// relative link per applet, as a tarball for `plumb layer import`.
func busyboxTarball(t *testing.T) string {
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatal("busybox not found — install the busybox-static package")
	}
	root := t.TempDir()
	for _, d := range []string{"bin", "proc", "tmp", "dev"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	data, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "bin", "busybox"), data, 0o755)
	list, err := exec.Command(bb, "--list").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, applet := range strings.Fields(string(list)) {
		if applet != "busybox" {
			os.Symlink("busybox", filepath.Join(root, "bin", applet))
		}
	}
	tarball := filepath.Join(t.TempDir(), "busybox.tar")
	sh(t, "tar", "-C", root, "-cf", tarball, ".")
	return tarball
}

// TestLiveRun is the document's Docker experiment done by plumb: two
// containers from one busybox layer on a bridge, a page served by httpd in
// one and fetched with wget from the other; a write in one container is
// invisible to the other and to the layer; stop, ps, a command that exits on
// its own; what a container may do (TestLiveRunConfined); a name Docker
// takes; and at the end the namespace is as it was.
func TestLiveRun(t *testing.T) {
	t.Parallel()
	if !isolateWorld(t) {
		return
	}
	before := snapshot(t)
	// Should the test fail half-way, no container is left running.
	t.Cleanup(func() {
		out, _ := exec.Command("sh", "-c", "for ns in $(ip netns list | cut -d' ' -f1); do ip netns pids $ns; done").Output()
		for _, p := range strings.Fields(string(out)) {
			exec.Command("kill", "-9", p).Run()
		}
	})
	site := t.TempDir()
	write(t, site+"/www/index.html", "<h1>hello from plumb</h1>\n")
	mustPlumb(t, "layer", "import", busyboxTarball(t), "--name", "busybox")
	mustPlumb(t, "bridge", "up", "plumb0", "--subnet", "10.88.0.0/24")

	pid := strings.TrimSpace(plumbStdout(t, "run", "web", "--layer", site, "--layer", "busybox", "--net", "plumb0", "-d",
		"--", "httpd", "-f", "-p", "5000", "-h", "/www"))
	if _, err := os.Stat("/proc/" + pid); err != nil {
		t.Fatalf("run -d printed %q, not a live PID", pid)
	}
	listening(t, "plumb-web", 5000)
	out, err := plumb(t, nil, "run", "client", "--layer", "busybox", "--net", "plumb0", "--", "wget", "-qO-", "http://10.88.0.2:5000/")
	if err != nil || !strings.Contains(out, "<h1>hello from plumb</h1>") {
		t.Errorf("client fetching the page: %v\n%s", err, out)
	}
	if ps := mustPlumb(t, "ps"); !strings.Contains(ps, "web ") || !strings.Contains(ps, "running") || strings.Contains(ps, "client") {
		t.Errorf("ps after the client ended:\n%s", ps)
	}

	// A write in one container: not in the other, not in the layer.
	mustPlumb(t, "run", "writer", "--layer", "busybox", "-d", "--", "sh", "-c", "echo secret > /tmp/f && sleep 600")
	eventually(t, "the writer's file", func() bool {
		data, _ := os.ReadFile("/run/plumb-root/overlay/writer/upper/tmp/f")
		return string(data) == "secret\n"
	})
	if out, err := plumb(t, nil, "run", "reader", "--layer", "busybox", "--", "cat", "/tmp/f"); err == nil || strings.Contains(out, "secret") {
		t.Errorf("another container read the writer's file: %v\n%s", err, out)
	}
	if _, err := os.Stat("/run/plumb-root/layers/busybox/tmp/f"); !os.IsNotExist(err) {
		t.Errorf("the write reached the layer: %v", err)
	}
	if got := read(t, "/run/plumb-root/overlay/writer/upper/tmp/f"); got != "secret\n" {
		t.Errorf("writer's upper layer holds %q", got)
	}
	mustPlumb(t, "stop", "writer", "--rm", "--time", "1")
	if ps := mustPlumb(t, "ps", "-a"); strings.Contains(ps, "writer") {
		t.Errorf("ps after stop:\n%s", ps)
	}

	// A command that exits on its own shows as exited, and stops cleanly.
	// (Polled: the container's start binds its /etc files and enters its
	// root before true runs.)
	mustPlumb(t, "run", "quick", "--layer", "busybox", "-d", "--", "true")
	var ps string
	for i := 0; i < 50; i++ {
		time.Sleep(100 * time.Millisecond)
		if ps = mustPlumb(t, "ps", "-a"); strings.Contains(ps, "quick") && strings.Contains(strings.SplitAfter(ps, "quick")[1], "exited") {
			break
		}
	}
	if !strings.Contains(ps, "quick") || !strings.Contains(strings.SplitAfter(ps, "quick")[1], "exited") {
		t.Errorf("ps of a container whose command ended:\n%s", ps)
	}
	mustPlumb(t, "stop", "quick", "--rm")

	// A name Docker takes and hostname(1) does not: its hostname is my-app,
	// and it stops cleanly, leaving nothing for recover.
	mustPlumb(t, "run", "my_app", "--layer", "busybox", "--net", "plumb0", "-d", "--", "sleep", "600")
	if out := plumbStdout(t, "run", "my_app2", "--layer", "busybox", "--", "hostname"); out != "my-app2\n" {
		t.Errorf("hostname of my_app2: %q", out)
	}
	mustPlumb(t, "stop", "my_app", "--rm", "--time", "1")
	if out := mustPlumb(t, "recover"); !strings.Contains(out, "nothing to recover") {
		t.Errorf("recover after my_app:\n%s", out)
	}
	// A hostname that hostname(1) would read as an option is refused: it
	// printed the host's name.
	host, _ := os.Hostname()
	if out, err := plumb(t, nil, "run", "h1", "--layer", "busybox", "--hostname=-a", "--", "hostname"); exitStatus(err) != 2 ||
		strings.Contains(out, host+"\n") || !strings.Contains(out, `--hostname: "-a" is not a hostname`) {
		t.Errorf("--hostname=-a: %v\n%s", err, out)
	}

	// The foreground run exits with the command's status.
	if _, err := plumb(t, nil, "run", "fails", "--layer", "busybox", "--", "sh", "-c", "exit 7"); err == nil || err.(*exec.ExitError).ExitCode() != 7 {
		t.Errorf("run of a command exiting 7: %v", err)
	}

	mustPlumb(t, "stop", "web", "--rm", "--time", "1")
	mustPlumb(t, "bridge", "down", "plumb0")
	mustPlumb(t, "down", "layer/busybox")
	if st := mustPlumb(t, "status"); strings.Count(st, "\n") != 1 {
		t.Errorf("objects left:\n%s", st)
	}
	if entries, _ := os.ReadDir("/run/plumb-root/overlay"); len(entries) != 0 {
		t.Errorf("container directories left: %v", entries)
	}
	sameSnapshot(t, before, "after stopping everything")
}

// eventually waits up to 10 s for cond, polling: a detached container
// takes a few hundred milliseconds to start its command (its script mounts
// its /proc, /sys, /dev and /etc files first).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: not there after 10 s", what)
}

// listening waits until something listens on TCP port in the network
// namespace netns (ss, run there).
func listening(t *testing.T, netns string, port int) {
	t.Helper()
	eventually(t, fmt.Sprintf("a listener on port %d in %s", port, netns), func() bool {
		out, _ := exec.Command("nsenter", "--net=/run/netns/"+netns, "ss", "-Hltn", fmt.Sprintf("sport = :%d", port)).Output()
		return strings.TrimSpace(string(out)) != ""
	})
}

func exitStatus(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// probe is what TestLiveRunConfined has a container report of itself, one
// line each: its capability sets, whether a device node of its layer and
// /dev/null open, its root's and /sys's mount options, each path Docker
// masks (how much of it can be read), and what writing under /proc/sys does.
const probe = `grep -E '^(CapBnd|CapPrm|CapInh|NoNewPrivs):' /proc/self/status
if cat /evilnull; then echo "DEVICE opened"; else echo "DEVICE refused"; fi
echo x >/dev/null && head -c 1 /dev/zero >/dev/null && echo "NULL works"
grep ' / / ' /proc/self/mountinfo | sed 's/^/ROOT /'
grep ' / /sys ' /proc/self/mountinfo | sed 's/^/SYS /'
for p in %s; do
  if [ -d $p ]; then echo "MASK $p $(ls -A $p | wc -l)"; elif [ -e $p ]; then echo "MASK $p $(cat $p 2>&1 | wc -c)"; fi
done
echo 1 >/proc/sys/net/ipv4/ip_forward && echo "PROCSYS written"
echo "PID $$"
`

// TestLiveRunConfined: a container is confined as docker run confines one
// by default. Inside it, Docker's capability set (CapBnd 00000000a80425fb);
// a character device copied into its layer (mknod in the layer's directory)
// cannot be opened, while /dev/null works; / is the overlay, mounted nodev
// and nosuid; /sys is read-only; Docker's masked paths read as empty and
// /proc/sys is read-only; its command is PID 1. --security-opt
// no-new-privileges sets NoNewPrivs. With --privileged: every capability
// plumb has, the device opens, nothing is masked.
func TestLiveRunConfined(t *testing.T) {
	t.Parallel()
	if !isolate(t) {
		return
	}
	layer := t.TempDir()
	for _, d := range []string{"proc", "dev", "tmp"} {
		os.MkdirAll(filepath.Join(layer, d), 0o755)
	}
	if err := unix.Mknod(filepath.Join(layer, "evilnull"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		t.Fatal(err)
	}
	mustPlumb(t, "layer", "import", busyboxTarball(t), "--name", "busybox")
	script := fmt.Sprintf(probe, strings.Join(actions.MaskedPaths, " "))
	run := func(flags ...string) string {
		args := append(append([]string{"run", "probe", "--layer", layer, "--layer", "busybox"}, flags...), "--", "sh", "-c", script)
		return plumbStdout(t, args...)
	}
	out := run("--security-opt", "no-new-privileges")
	t.Logf("a container by default:\n%s", out)
	for _, want := range []string{"CapBnd:\t00000000a80425fb", "CapPrm:\t00000000a80425fb", "CapInh:\t0000000000000000",
		"NoNewPrivs:\t1", "DEVICE refused", "NULL works", "PID 1"} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("inside a container: no %q", want)
		}
	}
	if root := regexp.MustCompile(`(?m)^ROOT \S+ \S+ \S+ / / (\S+) .*- overlay overlay `).FindStringSubmatch(out); root == nil ||
		!strings.Contains(root[1], "nodev") || !strings.Contains(root[1], "nosuid") {
		t.Errorf("/ is not the overlay mounted nodev,nosuid: %v", root)
	}
	if !regexp.MustCompile(`(?m)^SYS .* / /sys ro,`).MatchString(out) {
		t.Errorf("/sys is not read-only")
	}
	masks := regexp.MustCompile(`(?m)^MASK (\S+) (\d+)$`).FindAllStringSubmatch(out, -1)
	if len(masks) == 0 {
		t.Errorf("none of the masked paths is there to check")
	}
	for _, m := range masks {
		if m[2] != "0" {
			t.Errorf("%s is not masked: %s bytes or entries", m[1], m[2])
		}
	}
	if strings.Contains(out, "PROCSYS written") {
		t.Errorf("/proc/sys is writable")
	}

	// --privileged: today's behaviour, on purpose.
	own := regexp.MustCompile(`CapBnd:\s+(\S+)`).FindStringSubmatch(read(t, "/proc/self/status"))[1]
	out = run("--privileged")
	t.Logf("a --privileged container:\n%s", out)
	for _, want := range []string{"CapBnd:\t" + own, "DEVICE opened", "NULL works", "NoNewPrivs:\t0"} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("inside a --privileged container: no %q", want)
		}
	}
	unmasked := 0
	for _, m := range regexp.MustCompile(`(?m)^MASK (\S+) (\d+)$`).FindAllStringSubmatch(out, -1) {
		if m[2] != "0" {
			unmasked++
		}
	}
	if unmasked == 0 {
		t.Errorf("every masked path reads as empty in a --privileged container")
	}
	if regexp.MustCompile(`(?m)^SYS .* / /sys ro,`).MatchString(out) {
		t.Errorf("/sys is read-only in a --privileged container")
	}
	mustPlumb(t, "down", "layer/busybox")
}

// TestLiveRunNetnsDir: on a host that had no /run/netns, run then stop
// --rm leaves the mount table as it was (ip netns add made /run/netns a
// mount point of its own, which stayed), also when two containers overlap
// and the first one made /run/netns; the last one out removes it.
func TestLiveRunNetnsDir(t *testing.T) {
	t.Parallel()
	if !isolate(t) {
		return
	}
	mustPlumb(t, "layer", "import", busyboxTarball(t), "--name", "busybox")
	mounts := func() string { return read(t, "/proc/self/mountinfo") }
	before := mounts()
	if _, err := os.Stat("/run/netns"); !os.IsNotExist(err) {
		t.Fatalf("/run/netns is there before: %v", err)
	}
	mustPlumb(t, "run", "a", "--layer", "busybox", "-d", "--", "sleep", "600")
	if strings.Contains(mounts(), " /run/netns ") {
		t.Errorf("/run/netns became a mount point")
	}
	mustPlumb(t, "run", "b", "--layer", "busybox", "-d", "--", "sleep", "600")
	mustPlumb(t, "stop", "a", "--rm", "--time", "1")
	if _, err := os.Stat("/run/netns/plumb-b"); err != nil {
		t.Errorf("stopping a took b's namespace: %v", err)
	}
	mustPlumb(t, "stop", "b", "--rm", "--time", "1")
	if _, err := os.Stat("/run/netns"); !os.IsNotExist(err) {
		t.Errorf("/run/netns is left: %v", err)
	}
	if after := mounts(); after != before {
		t.Errorf("the mount table differs from before:\n%s", cmpLines(before, after))
	}
	mustPlumb(t, "down", "layer/busybox")
}

// cmpLines shows the lines only one of a and b has.
func cmpLines(a, b string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	ina, inb := in(a), in(b)
	var out []string
	for l := range ina {
		if !inb[l] {
			out = append(out, "- "+l)
		}
	}
	for l := range inb {
		if !ina[l] {
			out = append(out, "+ "+l)
		}
	}
	return strings.Join(out, "\n")
}

// plumbStdout runs plumb and returns its stdout alone (logs go to stderr).
func plumbStdout(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("plumb", args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("plumb %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}
