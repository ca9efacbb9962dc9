package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	isolatepkg "plumb/internal/isolate"
)

// The helpers that live tests used to keep copies of, one of each: the
// preamble, container processes, the fault-injecting wrapper, and snapshots
// of a network namespace taken once the kernel has settled.

// isolateWorld is the preamble of a test on the stand-in host: isolate,
// then world inside. Like isolate, false means return at once.
func isolateWorld(t *testing.T) bool {
	t.Helper()
	if !isolate(t) {
		return false
	}
	world(t)
	return true
}

// world is the test's stand-in for a host (standIn), made in the test's
// own namespace, with the "internet" in the namespace inet.
func world(t *testing.T) {
	standIn(here(t), "inet")
}

// standIn makes the namespace that run works in a stand-in for a host: an
// uplink veth to a new namespace inet that plays the internet, a default
// route through it, and rules of someone else's that plumb must leave
// alone, in each table plumb writes to (iptables-nft keeps a table once
// made, as a host that has used it does: a snapshot then shows plumb's
// chains, not the table, come and go).
func standIn(run func(argv ...string) string, inet string) {
	for _, c := range []string{
		// No duplicate address detection: a link-local address that is still
		// "tentative" when the first snapshot is taken would differ later.
		"sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0",
		"ip link set lo up",
		"ip netns add " + inet,
		"ip link add uplink0 type veth peer name wan0 netns " + inet,
		"ip addr add 192.0.2.1/24 dev uplink0",
		"ip link set uplink0 up",
		"ip -n " + inet + " addr add 192.0.2.2/24 dev wan0",
		"ip -n " + inet + " link set wan0 up",
		"ip -n " + inet + " link set lo up",
		"ip route add default via 192.0.2.2",
		// IPv6 too (documentation prefix 2001:db8::/32 as the internet):
		// the uplink's address, a default route, and the internet's route
		// back to the containers' IPv6 subnets of the live tests, which it
		// needs when their IPv6 is routed, not masqueraded.
		"ip addr add 2001:db8::1/64 dev uplink0 nodad",
		"ip -n " + inet + " addr add 2001:db8::2/64 dev wan0 nodad",
		"ip -6 route add default via 2001:db8::2",
		"ip -n " + inet + " -6 route add fd00::/16 via 2001:db8::1",
		"iptables -A FORWARD -i keep0 -j DROP",
		"iptables -t nat -A POSTROUTING -o keep0 -j RETURN",
		"ip6tables -A FORWARD -i keep0 -j DROP",
		"ip6tables -t nat -A POSTROUTING -o keep0 -j RETURN",
		"iptables -t mangle -A FORWARD -i keep0 -j RETURN",
		"ip6tables -t mangle -A FORWARD -i keep0 -j RETURN",
	} {
		run(strings.Fields(c)...)
	}
}

// startContainer starts a process in a network namespace of its own, as the
// document's part one does, and returns its PID.
func startContainer(t *testing.T) int {
	t.Helper()
	return containerIn(t, "")
}

// containerIn starts a container process whose namespace is made from the
// network namespace at parent ("" for the test's own) and returns its PID
// once the process has moved into its new namespace.
func containerIn(t *testing.T, parent string) int {
	t.Helper()
	argv := []string{"unshare", "--net", "sleep", "3600"}
	if parent == "" {
		parent = "/proc/self/ns/net"
	} else {
		argv = append([]string{"nsenter", "--net=" + parent}, argv...)
	}
	from, err := os.Stat(parent)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	// nsenter starts in the test's own namespace, then enters parent's,
	// then unshare makes the new one: neither of the first two will do
	// (seen under load: an attach found the process still in parent's).
	own, err := os.Stat("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 400; i++ {
		if ns, err := os.Stat("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/ns/net"); err == nil && !os.SameFile(ns, from) && !os.SameFile(ns, own) {
			return cmd.Process.Pid
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("container process did not enter its namespace")
	return 0
}

// faultEnv puts the fault-injecting wrapper in front of the tools plumb
// runs (every stand-in tool unless some are named); cases add FAIL_ON,
// KILL_ON, KILL_AFTER or KILL_AFTER_FAIL.
func faultEnv(t *testing.T, tools ...string) []string {
	if len(tools) == 0 {
		tools = standins
	}
	wrap := t.TempDir()
	wrapper, _ := filepath.Abs("../../testdata/standin/failwrap.sh")
	for _, tool := range tools {
		if err := os.Symlink(wrapper, filepath.Join(wrap, tool)); err != nil {
			t.Fatal(err)
		}
	}
	path := os.Getenv("PATH")
	return []string{"PATH=" + wrap + ":" + path, "REAL_PATH=" + path}
}

var (
	counters  = regexp.MustCompile(`\[\d+:\d+\]`)
	macs      = regexp.MustCompile(`"(address|broadcast)":"[0-9a-f:]{17}"`)
	linkLocal = regexp.MustCompile(`fe80::[0-9a-f:]+`)
)

// netStateByTools is one reading of a network namespace's state as plumb
// could change it, by nine processes: links, addresses, routes,
// ip_forward and iptables. What is not configuration is masked, so that
// two alike namespaces compare equal: packet counters, random MACs and the
// link-local addresses the kernel makes from them, and whether such an
// address is still tentative. run runs a command in the namespace. The
// snapshots of the live tests were these until netState read the same
// in-process; TestLiveSnapshotAgrees keeps it to show that netState sees
// every change this one sees.
func netStateByTools(t *testing.T, run func(argv ...string) string) string {
	t.Helper()
	var b strings.Builder
	for _, c := range []string{"ip -j link show", "ip -j addr show", "ip -j route show table all"} {
		// One line per element, masked, then sorted: the kernel lists
		// local routes in the order of their (random) link-local addresses.
		var elems []json.RawMessage
		if err := json.Unmarshal([]byte(run(strings.Fields(c)...)), &elems); err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		var lines []string
		for _, e := range elems {
			l := macs.ReplaceAllString(string(e), `"$1":"MAC"`)
			// A new link's link-local address is "tentative" until the
			// kernel's duplicate address detection ends, where it is on:
			// a moment of the kernel's, not configuration.
			l = strings.ReplaceAll(l, `"tentative":true,`, "")
			lines = append(lines, linkLocal.ReplaceAllString(l, "fe80::LL"))
		}
		sort.Strings(lines)
		b.WriteString("$ " + c + "\n" + strings.Join(lines, "\n") + "\n")
	}
	b.WriteString(run("sysctl", "net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"))
	if _, err := exec.LookPath("nft"); err == nil {
		// plumb's nft tables (-s: no counter values). Not the whole
		// ruleset: iptables-nft's tables are iptables-save's above, and
		// iptables-nft leaves a built-in chain it made for a rule (nat
		// PREROUTING) when the rule goes, which iptables never shows.
		b.WriteString("$ nft -s list table ip plumb-*\n")
		for _, l := range strings.Split(run("nft", "list", "tables"), "\n") {
			if f := strings.Fields(l); len(f) == 3 && strings.HasPrefix(f[2], "plumb-") {
				b.WriteString(run("nft", "-s", "list", "table", f[1], f[2]))
			}
		}
	}
	for _, save := range []string{"iptables-save", "ip6tables-save"} {
		b.WriteString("$ " + save + "\n")
		for _, l := range strings.Split(run(save), "\n") {
			if !strings.HasPrefix(l, "#") {
				b.WriteString(counters.ReplaceAllString(l, "[0:0]") + "\n")
			}
		}
	}
	return b.String()
}

// here runs a command in the test's own namespace.
func here(t *testing.T) func(argv ...string) string {
	return func(argv ...string) string {
		t.Helper()
		return sh(t, argv...)
	}
}

// snapshot is the test namespace's network state (netState) once the
// kernel has settled.
func snapshot(t *testing.T) string {
	t.Helper()
	return netState(t, "")
}

// settled is snapshot together with the mount table and the files under
// root (fsSnapshot).
func settled(t *testing.T, root string) string {
	t.Helper()
	return netState(t, "") + fsSnapshot(t, root)
}

func sameSnapshot(t *testing.T, before string, when string) {
	t.Helper()
	if diff := cmp.Diff(before, snapshot(t)); diff != "" {
		t.Errorf("%s: namespace differs from before (-before +after):\n%s", when, diff)
	}
}

// fault is one fault a matrix injects at a step through failwrap.sh, and
// whether plumb then rolls back by itself (clean: recover finds nothing) or
// is killed, leaving the rest to recover.
type fault struct {
	name  string
	env   []string
	clean bool
}

// faultsAt are the six faults every fault matrix injects at its step k,
// whose command line is step: the step fails; fails half-way (it did its
// work, then failed); gets SIGINT or SIGTERM (turn by turn) while it runs;
// and plumb is SIGKILLed just before it, just after it, and in the rollback
// of its failure (marker is the file that failure leaves).
func faultsAt(k int, step, marker string) []fault {
	sig := []string{"INT", "TERM"}[k%2]
	return []fault{
		{"fails", []string{"FAIL_ON=" + step}, true},
		{"fails half-way", []string{"HALFWAY_ON=" + step}, true},
		{"SIG" + sig + " during", []string{"SIGNAL_ON=" + step, "SIGNAL=" + sig}, true},
		{"killed before", []string{"KILL_ON=" + step}, false},
		{"killed after", []string{"KILL_AFTER=" + step}, false},
		{"killed in rollback", []string{"FAIL_ON=" + step, "KILL_AFTER_FAIL=" + marker}, false},
	}
}

// planSteps are the steps of a plan's text (--dry-run), one string each as
// failwrap.sh names them: a command line, or for a step fed its input as a
// here-document (nft -f - <<'EOF' ... EOF) "nft -f - " and the input's
// first line ("create table ip plumb-br0", "add element ..."). Lines of
// comments (a call for many objects names each) are left out.
func planSteps(text string) []string {
	var steps []string
	lines := strings.Split(strings.TrimSpace(text), "\n")
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.HasPrefix(l, "#") {
			continue
		}
		if cmd, ok := strings.CutSuffix(l, " <<'EOF'"); ok && i+1 < len(lines) {
			steps = append(steps, cmd+" "+lines[i+1])
			for i < len(lines) && lines[i] != "EOF" {
				i++
			}
			continue
		}
		// As failwrap.sh sees it: argv joined, without the quotes that keep
		// a word such as '[fd00::2]:80' from the shell's globbing.
		steps = append(steps, unquoteWords(l))
	}
	return steps
}

// unquoteWords drops the single quotes of a rendered command line (plumb
// quotes words with them alone), joining the words as argv would be.
func unquoteWords(l string) string {
	if !strings.Contains(l, "'") {
		return l
	}
	var b strings.Builder
	in := false
	for i := 0; i < len(l); i++ {
		switch c := l[i]; {
		case c == '\'' && !in:
			in = true
		case c == '\'' && in:
			if strings.HasPrefix(l[i:], `'\''`) {
				b.WriteByte('\'')
				i += 3
				continue
			}
			in = false
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// firewalls are the back ends the live tests run with.
var firewalls = []string{"iptables", "nftables"}

// forFirewalls runs test once with each back end, as subtests named for
// it, side by side: each re-runs itself in namespaces of its own (isolate),
// with PLUMB_FIREWALL set there for every plumb it starts.
func forFirewalls(t *testing.T, test func(t *testing.T, fw string)) {
	withFirewalls(t, true, test)
}

// withFirewalls is forFirewalls (the test itself runs side by side with
// others too); without setEnv PLUMB_FIREWALL is empty
// (a CNI config chooses the back end).
func withFirewalls(t *testing.T, setEnv bool, test func(t *testing.T, fw string)) {
	t.Parallel()
	for _, fw := range firewalls {
		t.Run(fw, func(t *testing.T) {
			t.Parallel()
			if isolatepkg.Inside() {
				// Alone in the re-run process: t.Setenv refuses a parallel test.
				if setEnv {
					os.Setenv("PLUMB_FIREWALL", fw)
				} else {
					os.Setenv("PLUMB_FIREWALL", "")
				}
			}
			test(t, fw)
		})
	}
}

// faultStride is how sparsely make test samples the fault matrices: every
// faultStride-th case of each (its first always), so that the whole of
// make test stays near six minutes. PLUMB_FAULTS=all (make test-faults,
// which .ci/run runs too) runs every case: about 1,500 test-seconds more.
// Each case starts from the same state and restores it, so a sample
// shows what the whole would for the cases it holds.
var faultStride = func() int {
	if os.Getenv("PLUMB_FAULTS") == "all" {
		return 1
	}
	return 8
}()

// sample counts a fault case and says whether make test's sample holds it
// (see faultStride).
type sample struct{ seen int }

func (s *sample) take() bool {
	s.seen++
	return (s.seen-1)%faultStride == 0
}

// share is the part of a fault matrix's cases that one subtest runs: every
// n-th case of the sample, from the i-th. A matrix's cases each start from
// the same state and restore it, so that any share of them runs as well
// apart.
type share struct {
	i, n, seen int
	sample
}

// mine counts a case and says whether it is the share's.
func (s *share) mine() bool {
	if !s.take() {
		return false
	}
	s.seen++
	return (s.seen-1)%s.n == s.i
}

// shares is n, or 1 when make test samples the matrices (a share of a
// sample would be a few cases, each paying the setup).
func shares(n int) int {
	if faultStride > 1 {
		return 1
	}
	return n
}

// inShares runs test in n subtests side by side ("share-I-of-N"), each
// with its share of the cases; with n of 1, as it is, with all of them.
func inShares(t *testing.T, n int, test func(t *testing.T, s *share)) {
	n = shares(n)
	if n == 1 {
		test(t, &share{i: 0, n: 1})
		return
	}
	for i := 0; i < n; i++ {
		t.Run(fmt.Sprintf("share-%d-of-%d", i+1, n), func(t *testing.T) {
			t.Parallel()
			test(t, &share{i: i, n: n})
		})
	}
}

// inside sets the environment variable k to v for every plumb the test
// starts, in the re-run process that runs the test alone (see
// withFirewalls).
func inside(k, v string) {
	if isolatepkg.Inside() {
		os.Setenv(k, v)
	}
}

// nftGolden compares `nft -s list table ip TABLE` with the golden
// testdata/nft/NAME.nft when the back end is nftables (with iptables it
// checks that plumb made no nft table). -update rewrites the golden, as
// it does every golden (internal/isolate passes it to the re-run inside
// the namespaces).
func nftGolden(t *testing.T, fw, name, table string) {
	t.Helper()
	if fw != "nftables" {
		if out, err := exec.Command("nft", "list", "tables").CombinedOutput(); err == nil && strings.Contains(string(out), "plumb-") {
			t.Errorf("%s: the iptables back end made an nft table:\n%s", name, out)
		}
		return
	}
	got := sh(t, "nft", "-s", "list", "table", "ip", table)
	path := filepath.Join("..", "..", "testdata", "nft", name+".nft")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%s: %v (-update writes it)", name, err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("nft -s list table ip %s after %s (-golden +now):\n%s", table, name, diff)
	}
}

// noPlumbTables checks that no nft table of plumb's is left.
func noPlumbTables(t *testing.T) {
	t.Helper()
	if out, err := exec.Command("nft", "list", "tables").CombinedOutput(); err == nil && strings.Contains(string(out), "plumb-") {
		t.Errorf("nft tables of plumb's left:\n%s", out)
	}
}
