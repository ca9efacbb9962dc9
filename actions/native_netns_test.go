package actions

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestNativeNetns holds the namespace actions plumb does in-process to
// their commands (unshare, ip -n NAME link set lo up, ip netns del), in a
// throwaway network and mount namespace with a tmpfs on /run: the same
// namespace file and mount, loopback up, the same stderr and exit status
// where the tool fails; and every thread of plumb left in its own
// namespace.
func TestNativeNetns(t *testing.T) {
	if !inThrowawayMountNetns(t) {
		return
	}
	own := threadNamespaces(t)
	e := Exec{}
	for _, n := range []string{"tool", "native"} {
		if err := os.WriteFile(filepath.Join(NetnsDir, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := run(e, NetnsNew{Name: "tool"}); err != nil {
		t.Fatal(err)
	}
	if err := (NetnsNew{Name: "native"}).Do(); err != nil {
		t.Fatal(err)
	}
	if tool, native := netnsMount(t, "tool"), netnsMount(t, "native"); tool != native || tool == "" {
		t.Errorf("the namespaces' mounts differ:\ntool:   %q\nnative: %q", tool, native)
	}
	if err := (LinkSetUp{Dev: "lo", In: Netns{Name: "native"}}).Do(); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ip", "-n", "native", "-o", "link", "show", "lo").CombinedOutput()
	if err != nil || !regexp.MustCompile(`<LOOPBACK,UP,LOWER_UP>`).Match(out) {
		t.Errorf("lo after the native link set up: %v %s", err, out)
	}
	if got := threadNamespaces(t); got != own {
		t.Errorf("plumb's threads' namespaces: %s, were %s", got, own)
	}

	// Failures read as the tool's.
	same := func(what string, a Action, native func() error) {
		t.Helper()
		terr, nerr := run(e, a), native()
		var te, ne *ExecError
		if !errors.As(terr, &te) || !errors.As(nerr, &ne) {
			t.Errorf("%s: tool %v, in-process %v", what, terr, nerr)
			return
		}
		if te.Code != ne.Code || te.Stderr != ne.Stderr {
			t.Errorf("%s:\ntool:       %d %q\nin-process: %d %q", what, te.Code, te.Stderr, ne.Code, ne.Stderr)
		}
	}
	same("lo up in no namespace", LinkSetUp{Dev: "lo", In: Netns{Name: "nope"}}, LinkSetUp{Dev: "lo", In: Netns{Name: "nope"}}.Do)
	if err := os.WriteFile(filepath.Join(NetnsDir, "plain"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	same("lo up in a file that is no namespace", LinkSetUp{Dev: "lo", In: Netns{Name: "plain"}}, LinkSetUp{Dev: "lo", In: Netns{Name: "plain"}}.Do)

	for _, n := range []string{"tool", "native"} {
		if err := (NetnsDel{Name: n}).Do(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(NetnsDir, n)); !os.IsNotExist(err) {
			t.Errorf("%s after delete: %v", n, err)
		}
		if m := netnsMount(t, n); m != "" {
			t.Errorf("%s still mounted: %s", n, m)
		}
	}
	same("delete what is gone", NetnsDel{Name: "tool"}, NetnsDel{Name: "tool"}.Do)
	if g := (NetnsDel{}); !g.Gone(StderrOf(NetnsDel{Name: "tool"}.Do())) {
		t.Errorf("a namespace deleted twice is not read as gone")
	}
	// unshare cannot mount on a file that is not there; its message
	// names its own PID, which the in-process one has none of.
	err = (NetnsNew{Name: "absent"}).Do()
	var ee *ExecError
	if !errors.As(err, &ee) || ee.Code != 1 || !strings.HasSuffix(ee.Stderr, " on /run/netns/absent failed: No such file or directory\n") {
		t.Errorf("a namespace without its file: %#v", err)
	}
	if got := threadNamespaces(t); got != own {
		t.Errorf("plumb's threads' namespaces at the end: %s, were %s", got, own)
	}
}

// netnsMount is the mount table's line for NetnsDir/name, without its
// IDs; "" when nothing is mounted there.
func netnsMount(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) > 4 && f[4] == filepath.Join(NetnsDir, name) {
			return strings.Join(append(f[5:6], f[len(f)-3:]...), " ")
		}
	}
	return ""
}

// threadNamespaces is the network namespace of each of the process's
// threads, one identity when all share it.
func threadNamespaces(t *testing.T) string {
	t.Helper()
	tasks, err := filepath.Glob("/proc/self/task/*/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, p := range tasks {
		l, err := os.Readlink(p)
		if err == nil {
			seen[l] = true
		}
	}
	var out []string
	for l := range seen {
		out = append(out, l)
	}
	return strings.Join(out, ",")
}

// inThrowawayMountNetns runs the test again in a network and mount
// namespace of its own with a tmpfs on /run, as inThrowawayNetns does
// with the network alone; true in that run.
func inThrowawayMountNetns(t *testing.T) bool {
	t.Helper()
	if os.Getenv("PLUMB_TUNNEL_HELPER") != "" {
		if err := unix.Mount("tmpfs", "/run", "tmpfs", 0, "mode=755"); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(NetnsDir, 0o755); err != nil {
			t.Fatal(err)
		}
		return true
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: it makes network and mount namespaces")
	}
	cmd := exec.Command("unshare", "--net", "--mount", "--propagation", "private", "--", os.Args[0], "-test.run", "^"+t.Name()+"$", "-test.v")
	cmd.Env = append(os.Environ(), "PLUMB_TUNNEL_HELPER=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS") {
		t.Fatalf("in a throwaway namespace: %v\n%s", err, out)
	}
	return false
}
