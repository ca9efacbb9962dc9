package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	isolatepkg "plumb/internal/isolate"
)

// Live tests run the real commands, as root, inside a network and mount
// namespace made for the test: the host's interfaces, rules and mounts are
// never touched, and traffic goes only to addresses inside namespaces the
// test made (TEST-NET-1, 192.0.2.0/24, stands in for the internet).

// isolate skips without root, and otherwise re-runs the calling test in a
// new network and mount namespace with a private /run, returning false in
// the outer process (whose only job was to start and wait for the inner).
func isolate(t *testing.T) bool {
	t.Helper()
	if !isolatepkg.Rerun(t, "network and mount namespace", "--net", "--mount") {
		return false
	}
	// A private /run: `ip netns add`, the state directory and the xtables
	// lock all live there, out of the host's sight.
	if err := unix.Mount("tmpfs", "/run", "tmpfs", 0, "mode=755"); err != nil {
		t.Fatalf("mounting a private /run: %v", err)
	}
	// Its root too, where the host's /var/lib/plumb would be written.
	os.Setenv("PLUMB_ROOT", "/run/plumb-root")
	cgroup2(t)
	return true
}

// cgroup2 mounts the cgroup v2 file system alone on /sys/fs/cgroup, in
// the test's own mount namespace, so that crun runs its containers on a
// host in "hybrid" mode (this project's CI machine; see NOTES.md). On a
// host with cgroup v2 alone it is the same mount again.
func cgroup2(t *testing.T) {
	t.Helper()
	if err := unix.Unmount("/sys/fs/cgroup", unix.MNT_DETACH); err != nil {
		t.Fatalf("unmounting the cgroup hierarchies in the test's mount namespace: %v", err)
	}
	if err := unix.Mount("none", "/sys/fs/cgroup", "cgroup2", 0, ""); err != nil {
		t.Fatalf("mounting cgroup2 for crun: %v", err)
	}
}

// stateEnv is the environment of a plumb keeping its state in state, and
// its root (--root) beside it, on the same file system: a root of its own
// for each state directory, never the host's /var/lib/plumb.
func stateEnv(state string) []string {
	return []string{"PLUMB_STATE_DIR=" + state, "PLUMB_ROOT=" + rootBeside(state)}
}

// rootBeside is the root stateEnv gives state.
func rootBeside(state string) string { return filepath.Clean(state) + "-root" }

// guarded is the preamble of a test that runs plumb with stand-in tools
// first on PATH: as root it runs inside namespaces of its own all the
// same, for a tool missing from the stand-ins reaches the host's (it
// happened: with ip6tables not yet a stand-in, TestBadInput's setup wrote
// the host's ip6tables). Without root it runs as it is: it can change
// nothing of the host. Like isolate, false means return at once.
func guarded(t *testing.T) bool {
	t.Helper()
	if os.Geteuid() != 0 {
		return true
	}
	return isolate(t)
}

func sh(t *testing.T, argv ...string) string {
	t.Helper()
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}

// listenIn opens a TCP listener inside another network namespace: a
// socket keeps the namespace it was made in (see inNetns).
func listenIn(t *testing.T, nsPath, addr string) net.Listener {
	network := "tcp4"
	if strings.HasPrefix(addr, "[") {
		network = "tcp6"
	}
	var l net.Listener
	err := inNetns(nsPath, func() (err error) {
		l, err = net.Listen(network, addr)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// dialFrom connects from inside the container to addr with bash's /dev/tcp
// and sends a line; the listener reports where the connection came from.
func dialFrom(t *testing.T, pid int, l net.Listener, addr string) string {
	t.Helper()
	got := make(chan string, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			got <- "accept: " + err.Error()
			return
		}
		defer c.Close()
		line, _ := bufio.NewReader(c).ReadString('\n')
		got <- c.RemoteAddr().(*net.TCPAddr).IP.String() + " said " + strings.TrimSpace(line)
	}()
	host, port, _ := net.SplitHostPort(addr)
	script := fmt.Sprintf("exec 3<>/dev/tcp/%s/%s && echo hello >&3", host, port) // bash takes an IPv6 host bare
	out, err := exec.Command("timeout", "5", "nsenter", "-t", strconv.Itoa(pid), "-n", "bash", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("connecting from the container to %s: %v\n%s", addr, err, out)
	}
	select {
	case s := <-got:
		return s
	case <-time.After(5 * time.Second):
		t.Fatalf("no connection arrived at %s", addr)
	}
	return ""
}

func plumb(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("plumb", args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustPlumb(t *testing.T, args ...string) string {
	t.Helper()
	out, err := plumb(t, nil, args...)
	if err != nil {
		t.Fatalf("plumb %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// TestLiveVeth, with each firewall back end: the document's network, the
// host end and the stand-in internet reached (NAT), up again a no-op, down
// back to the snapshot; with nftables the table's listing is a golden.
func TestLiveVeth(t *testing.T) { forFirewalls(t, testLiveVeth) }

func testLiveVeth(t *testing.T, fw string) {
	if !isolateWorld(t) {
		return
	}
	pid := startContainer(t)
	before := snapshot(t)

	// The container reaches the host end's address...
	mustPlumb(t, "veth", "up", "--pid", strconv.Itoa(pid))
	nftGolden(t, fw, "veth_up", "plumb-veth-host")
	hostL, err := net.Listen("tcp4", "10.200.0.1:8080")
	if err != nil {
		t.Fatal(err)
	}
	defer hostL.Close()
	if got := dialFrom(t, pid, hostL, "10.200.0.1:8080"); got != "10.200.0.2 said hello" {
		t.Errorf("host listener saw %q, want the container's own address", got)
	}
	// ...and the "internet", arriving with the uplink's address (NAT).
	inetL := listenIn(t, "/run/netns/inet", "192.0.2.2:9000")
	if got := dialFrom(t, pid, inetL, "192.0.2.2:9000"); got != "192.0.2.1 said hello" {
		t.Errorf("internet listener saw %q, want the uplink's address 192.0.2.1 (NAT)", got)
	}
	if fwd := strings.TrimSpace(sh(t, "sysctl", "-n", "net.ipv4.ip_forward")); fwd != "1" {
		t.Errorf("ip_forward = %s while up", fwd)
	}
	// Up again changes nothing.
	if out := mustPlumb(t, "veth", "up", "--pid", strconv.Itoa(pid)); !strings.Contains(out, "already up") {
		t.Errorf("second up said %q", out)
	}
	mustPlumb(t, "veth", "down", "--host-if", "veth-host")
	sameSnapshot(t, before, "after down")
	noPlumbTables(t)
}

// TestLiveVethRollback fails each step in turn (twelve with iptables, ten
// with nftables: its three rules are one table) with the real tools behind
// a wrapper, and checks the namespace is left as it was.
func TestLiveVethRollback(t *testing.T) { forFirewalls(t, testLiveVethRollback) }

func testLiveVethRollback(t *testing.T, fw string) {
	if !isolateWorld(t) {
		return
	}
	pid := startContainer(t)
	before := snapshot(t)
	steps := planSteps(mustPlumb(t, "veth", "up", "--pid", strconv.Itoa(pid), "--dry-run"))
	if want := map[string]int{"iptables": 12, "nftables": 10}[fw]; len(steps) != want {
		t.Fatalf("plan has %d steps, want %d", len(steps), want)
	}
	env := faultEnv(t)
	restored := 0
	for k, step := range steps {
		out, err := plumb(t, append(append([]string{}, env...), "FAIL_ON="+step),
			"veth", "up", "--pid", strconv.Itoa(pid))
		if err == nil || !strings.Contains(out, fmt.Sprintf("step %d of %d failed", k+1, len(steps))) {
			t.Errorf("step %d (%s): want a failure there, got %v:\n%s", k+1, step, err, out)
			continue
		}
		if diff := cmp.Diff(before, snapshot(t)); diff != "" {
			t.Errorf("failure at step %d (%s) left the namespace changed (-before +after):\n%s\nplumb said:\n%s", k+1, step, diff, out)
			continue
		}
		if status := mustPlumb(t, "status"); strings.Contains(status, "veth-host") {
			t.Errorf("failure at step %d left a journal:\n%s", k+1, status)
		}
		restored++
	}
	t.Logf("%d of %d injected failures restored the namespace exactly", restored, len(steps))
}
