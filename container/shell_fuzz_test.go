package container

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"plumb/actions"
	"plumb/network"
	"plumb/plan"
	"plumb/plan/plantest"
	"plumb/rootfs"
)

// FuzzShell renders -o sh runbooks of every recipe (and of a teardown) from
// random names, paths and container arguments, and checks that
//
//   - bash -n accepts each runbook;
//   - run by bash with every tool it may call stubbed (PATH holds the stubs
//     and nothing else), the runbook calls exactly the plan's commands, in
//     order, with exactly the plan's argv, and nothing else;
//   - when one step fails, the rollback then calls exactly the undos plumb
//     itself would record for the steps done, in reverse, with their exact
//     argv (the undo strings are eval'd, so this is where quoting is tested
//     twice over).
//
// Besides each step's command, a runbook reads the host where a step's undo
// depends on it, as plumb does at apply time; these reads are expected
// explicitly, just before the step's command:
//
//   - SysctlSet: `sysctl -n KEY` (the stub prints 0, as fakeRunner does);
//   - Mkdir: `dirname D` for each missing directory D as it walks up from
//     the cleaned path (none for overlay's work directory or a sandbox's,
//     which need only `[ -e ]`, and none for a path with a newline, whose
//     candidates are listed by name).
//
// The stubs log their argv NUL-separated and do nothing, except mkdir and
// dirname, which run the real tools (the missing directories a later step
// reads must be those an earlier mkdir left, as on a host), and sysctl -n.
// mkdir makes only what lies under the test's own directory: a plan's
// directory outside it (/run/netns) is left as the host has it, both by
// the stub and by expectedCalls, so that the test changes nothing on the
// host and expects the reads of the host as it is.
// Expected undos come from the actions themselves: Prepare, run against the
// same directories in the same order (a Mkdir's undo is what it finds
// missing), or Undo. A shared setting (ip_forward) is expected back at what
// the runbook found, as a runbook keeps no ledger.
//
// Argv cannot hold a NUL byte (neither os.Args nor bash can carry one), so
// NULs are dropped from the input; ".." path elements become "__" so that
// every path stays under the test's own directory, where mkdir really runs.
func FuzzShell(f *testing.F) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		f.Skip("bash is not installed")
	}
	stubs := writeStubs(f, f.TempDir())
	for i, seed := range []struct {
		name, path, arg string
	}{
		{"web", "layers/busybox", "httpd"},
		// issue 12's examples: a newline in a container's argument, a bridge
		// named for a command substitution, a double quote in a name.
		{"web", "layers/l", "echo hello\necho x >PWNED #"},
		{"$(id>&2)", "a/$(>P)/b", "$(id>&2)"},
		{`a"b`, `p"q/r`, `"; id; "`},
		{"a'b", "it's/'", `'\''`},
		{"`id`", "x/`id`", "`id`"},
		{"br\\0", "s\nt/u", "x\ny"},
		{"x", "\r\x1b[2J/\u202e", "\xff\xfe"},
		{"-x", "-n/--", "-"},
		{"web", "a//b/./c/", "${HOME}"},
	} {
		// Every kind of plan, in turn run through (fail 0) and failing at
		// a step that fail picks, modulo the plan's length.
		for kind := range uint8(fuzzKinds) {
			f.Add(kind, seed.name, seed.path, seed.arg, uint8((i+int(kind))%2)*200)
		}
	}
	f.Fuzz(func(t *testing.T, kind uint8, name, path, arg string, fail uint8) {
		name, path, arg = bounded(name), bounded(path), bounded(arg)
		root, work := t.TempDir(), t.TempDir()
		p := fuzzPlan(t, root, kind, name, path, arg)
		if p == nil {
			return // input the recipe refuses: no runbook is printed
		}
		var rb bytes.Buffer
		// The header's command line, joined as the CLI joins os.Args.
		if err := p.Shell(&rb, "plumb "+strings.Join([]string{name, path, arg}, " ")); err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(work, "rb.sh")
		if err := os.WriteFile(file, rb.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(bash, "-n", file).CombinedOutput(); err != nil {
			t.Fatalf("bash -n refuses the runbook: %v\n%s\n%s", err, out, rb.String())
		}
		before, err := snapshot(root)
		if err != nil {
			t.Fatal(err)
		}
		x := expectedCalls(t, root, p, int(fail)%(len(p.Steps)+1))
		if err := removeNew(root, before); err != nil {
			t.Fatal(err)
		}
		got, stdout, stderr, err := runStubbed(bash, file, work, stubs, root, x.failAt)
		if (err != nil) != (x.failAt > 0) {
			t.Fatalf("runbook exit: %v, want a failure: %v\nstderr:\n%s\nrunbook:\n%s", err, x.failAt > 0, stderr, rb.String())
		}
		if d := cmp.Diff(x.calls, got); d != "" {
			t.Fatalf("runbook calls differ from the plan's (-want +got):\n%s\nstderr:\n%s\nrunbook:\n%s", d, stderr, rb.String())
		}
		// Bash's builtins are not stubbed: what input could make them do
		// shows as output, or as a file in the runbook's directory.
		if len(stdout) > 0 {
			t.Fatalf("the runbook wrote to stdout:\n%s\nrunbook:\n%s", stdout, rb.String())
		}
		if err := checkStderr(p.ID(), len(p.Steps), x, string(stderr)); err != nil {
			t.Fatalf("%v\nrunbook:\n%s", err, rb.String())
		}
		if ents, _ := os.ReadDir(work); len(ents) != 3 { // rb.sh, calls, count
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			t.Fatalf("the runbook's directory holds %q\nrunbook:\n%s", names, rb.String())
		}
	})
}

// fuzzKinds is how many plans fuzzPlan can make.
const fuzzKinds = 7

// fuzzPlan makes one plan of kind from the input, or nil when its recipe
// refuses the input (as the CLI would, before printing any runbook). Names
// that are not valid where they go fall back to ordinary ones, so that the
// other fields are still exercised.
func fuzzPlan(t *testing.T, root string, kind uint8, name, path, arg string) *plan.Plan {
	ctx := context.Background()
	st := plan.NewStore(filepath.Join(root, "st"))
	env := plan.Env{R: &plantest.FakeRunner{}, St: st}
	under := func(s string) string { return root + "/" + inside(s) }
	ifname := func(s, dflt string) actions.IfName {
		if len(s) > 15 {
			s = s[:15]
		}
		if n, err := actions.ParseIfName(s); err == nil && n != "lo" {
			return n
		}
		return actions.IfName(dflt)
	}
	objName := func(s, dflt string) string {
		if plan.CheckObjectName("", s) == nil && len(NetnsName(s)) <= 64 {
			return s
		}
		return dflt
	}
	planOf := func(rc plan.Recipe) *plan.Plan {
		if err := rc.Check(); err != nil {
			var r *plan.Refused
			if !errors.As(err, &r) {
				t.Fatalf("Check: %v", err)
			}
			return nil
		}
		var ps []*plan.Plan
		_, err := plan.Allocate(ctx, env, rc, false)
		if err == nil {
			ps, err = rc.Plan(ctx, env)
		}
		if err != nil {
			var r *plan.Refused
			if !errors.As(err, &r) {
				t.Fatalf("Plan: %v", err)
			}
			return nil
		}
		if last := ps[len(ps)-1]; len(ps) > 1 {
			// A container's sandbox, root and process, as one runbook
			// (as `run -o sh` prints them).
			return plan.Joined(last.Kind, last.Name, ps)
		}
		return ps[0]
	}
	bridge := func(n actions.IfName) *network.Bridge {
		return &network.Bridge{Name: n, Subnet: netip.MustParsePrefix("10.88.0.0/24")}
	}
	// keep applies a bridge to the store with the fake runner, as
	// `bridge up` would have, for the plans that need one.
	keep := func(b *network.Bridge) *plan.Record {
		p := planOf(b)
		rec, err := plan.Apply(ctx, &plantest.FakeRunner{}, st, p, plan.Each)
		if err != nil {
			t.Fatal(err)
		}
		return rec
	}
	switch kind % fuzzKinds {
	case 0: // bridge up NAME
		return planOf(bridge(ifname(name, "br0")))
	case 1: // veth up, into a named namespace or one given by path
		host := ifname(name, "veth-host")
		cont := actions.IfName("veth-cont")
		up := ifname(arg, "eth0")
		if up == host || up == cont {
			up = "eth0"
		}
		target := actions.Netns{Name: arg}
		if arg == "" || arg == "." || arg == ".." || len(arg) > 255 ||
			strings.ContainsFunc(arg, func(r rune) bool { return r == '/' || r < 0x20 || r == ' ' || r == '\t' }) {
			target = actions.Netns{File: under(path)}
		}
		return planOf(&network.Veth{Target: target, HostIf: host, ContIf: cont, Uplink: up,
			Subnet: netip.MustParsePrefix("10.200.0.0/24"), HostIP: netip.MustParseAddr("10.200.0.1"), ContIP: netip.MustParseAddr("10.200.0.2")})
	case 2: // overlay mount with the paths given
		d := under(path)
		return planOf(&rootfs.Overlay{Lower: []string{under(arg), d + "/l2"}, Upper: d + "/u", Work: d + "/w", Merged: d + "/m", Name: objName(name, "")})
	case 3: // run, --net none
		return planOf(&Container{Name: objName(name, "web"), Layers: []string{under(path), under("l2")}, Cmd: []string{arg, name, path}, Hostname: hostname(name), Runtime: testRuntime})
	case 4: // run on a bridge, with a port published
		keep(bridge(ifname(arg, "br0")))
		return planOf(&Container{Name: objName(name, "web"), Layers: []string{under(path)}, Cmd: []string{"sh", "-c", arg},
			Bridge: string(ifname(arg, "br0")), Publish: []plan.Port{{Host: 8080, Container: 80, Proto: "tcp"}}, Runtime: testRuntime})
	case 5: // layer import, into a state directory given by the input
		env.St = plan.NewStore(root + "/st/" + inside(arg))
		return planOf(&rootfs.Layer{Name: objName(name, "l"), File: under(path)})
	case 6: // bridge down: the runbook of a teardown
		rec := keep(bridge(ifname(name, "br0")))
		td, err := plan.Remove(ctx, env, []*plan.Record{rec}, plan.DownOptions{}, true)
		if err != nil {
			t.Fatal(err)
		}
		return td.Plan
	}
	panic("unreachable")
}

// hostname is s when `run --hostname` takes it, else "" (the container's name).
func hostname(s string) string {
	if s == "" || len(s) > 64 || strings.ContainsAny(s, " \t\n/") {
		return ""
	}
	return s
}

// bounded is s without NUL bytes, which no argv can hold, and at most 200
// bytes long, so that no path the fuzzer makes is too long for the kernel
// (a name past 255 bytes fails plumb's own Prepare, not only its mkdir).
func bounded(s string) string {
	s = strings.ReplaceAll(s, "\x00", "")
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// inside is s as a path that stays below the directory it is joined to.
func inside(s string) string {
	el := strings.Split(s, "/")
	for i, e := range el {
		if e == ".." {
			el[i] = "__"
		}
	}
	return strings.Join(el, "/")
}

// expected is what a runbook must do: the calls the stubs log, which of
// them is to fail (1-based; 0: none), and, when one does, the undos its
// rollback names on stderr, in the order run.
type expected struct {
	calls  [][]string
	failAt int
	echoed []string // each undo as pushed; "" for mkdir's, whose words printf %q writes
}

// expectedCalls is what the runbook of p must do when step failStep
// (1-based; 0: none) fails: the reads and command of each step up to it,
// then the undos of the steps before it, in reverse. It makes the
// directories each Mkdir makes, as the mkdir stub will, so that each
// Mkdir's reads and undo are those of the host as the earlier steps leave
// it.
func expectedCalls(t *testing.T, root string, p *plan.Plan, failStep int) expected {
	ctx := context.Background()
	var x expected
	var undos [][]string
	var echoed []string
	for i, s := range p.Steps {
		a := s.Action
		switch a := a.(type) {
		case actions.SysctlSet:
			x.calls = append(x.calls, []string{"sysctl", "-n", a.Key})
		case actions.Mkdir:
			if d := filepath.Clean(a.Path); !a.Scratch && a.Holds == "" && !strings.Contains(d, "\n") {
				for ; !exists(d); d = filepath.Dir(d) {
					x.calls = append(x.calls, []string{"dirname", d})
				}
			}
		case actions.StartContainer:
			if i+1 == failStep {
				failStep = 0 // started in the background: its status is not the runbook's
			}
		}
		var undo actions.Action
		if pr, ok := a.(actions.Preparer); ok {
			u, err := pr.Prepare(ctx, &plantest.FakeRunner{})
			if err != nil {
				t.Fatalf("step %d: %v", i+1, err)
			}
			undo = u
		} else {
			undo = a.Undo()
		}
		x.calls = append(x.calls, a.Argv())
		if i+1 == failStep {
			x.failAt = len(x.calls)
			// A step that can fail half-way cleans up after itself in
			// its own line, before the rollback (not echoed as an undo).
			if c, ok := a.(interface{ Cleanup() actions.Action }); ok {
				x.calls = append(x.calls, c.Cleanup().Argv())
			}
			for j := len(undos) - 1; j >= 0; j-- {
				x.calls = append(x.calls, undos[j])
				x.echoed = append(x.echoed, echoed[j])
			}
			return x
		}
		if m, ok := a.(actions.Mkdir); ok && under(root, m.Path) {
			if err := os.MkdirAll(m.Path, 0o755); err != nil {
				t.Fatalf("step %d: %v", i+1, err)
			}
		}
		if undo == nil {
			continue
		}
		undos = append(undos, undo.Argv())
		switch u := undo.(type) {
		case actions.RmdirEmpty:
			echoed = append(echoed, "")
		case actions.SysctlSet: // the old value, appended to the quoted rest
			echoed = append(echoed, actions.Quote([]string{"sysctl", "-w", u.Key + "="})+u.Value)
		case actions.StopContainer: // the runbook has no PID file to remove
			echoed = append(echoed, actions.Quote(actions.StopContainer{Netns: u.Netns}.Argv()))
		default:
			echoed = append(echoed, actions.Quote(undo.Argv()))
		}
	}
	return x
}

// checkStderr checks that the runbook said on stderr exactly what it
// should: that it is done, or that a step failed and each undo it ran.
func checkStderr(id string, steps int, x expected, stderr string) error {
	if x.failAt == 0 {
		if want := fmt.Sprintf("runbook: %s: %d steps done\n", plan.Visible(id), steps); stderr != want {
			return fmt.Errorf("stderr is %q, want %q", stderr, want)
		}
		return nil
	}
	rest, ok := strings.CutPrefix(stderr, fmt.Sprintf("stub: call %d fails, as asked\nrunbook: a step failed (exit 3); rolling back\n", x.failAt))
	if !ok {
		return fmt.Errorf("stderr does not begin with the failure and the rollback: %q", stderr)
	}
	for _, e := range x.echoed {
		prefix := "runbook: undo: " + e + "\n"
		if e == "" { // printf %q writes no newline
			prefix = "runbook: undo: rmdir --ignore-fail-on-non-empty "
			if i := strings.IndexByte(rest, '\n'); i >= 0 && strings.HasPrefix(rest, prefix) {
				prefix = rest[:i+1]
			}
		}
		if rest, ok = strings.CutPrefix(rest, prefix); !ok {
			return fmt.Errorf("stderr has %q where %q was to be", rest, prefix)
		}
	}
	if rest != "" {
		return fmt.Errorf("stderr has %q after the undos", rest)
	}
	return nil
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// under says whether path lies below root, where the test may make
// directories; the mkdir stub draws the same line (see writeStubs).
func under(root, path string) bool {
	return strings.HasPrefix(filepath.Clean(path), filepath.Clean(root)+"/")
}

// snapshot lists every path under root.
func snapshot(root string) (map[string]bool, error) {
	seen := map[string]bool{}
	err := filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		seen[p] = true
		return err
	})
	return seen, err
}

// removeNew removes what was made under root since before was taken, so
// that the runbook starts from the directories expectedCalls started from.
func removeNew(root string, before map[string]bool) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || before[p] {
			return err
		}
		if err := os.RemoveAll(p); err != nil {
			return err
		}
		if d.IsDir() {
			return filepath.SkipDir
		}
		return nil
	})
}

// stubbed is every tool a runbook of plumb's may call.
var stubbed = []string{"ip", "nsenter", "sysctl", "iptables", "iptables-restore", "ip6tables", "ip6tables-restore",
	"mount", "umount", "mkdir", "rmdir", "rm", "env", "touch", "unshare", "hostname", "tar", "sh", "dirname", "xargs", "kill", "crun"}

// writeStubs writes one stub script, linked under every tool's name, into
// dir/bin and returns that directory. The stub logs its argv (count, name,
// arguments, each NUL-terminated) to $STUB_LOG, counts its calls in
// $STUB_COUNT, fails the call numbered $STUB_FAIL_AT, answers `sysctl -n`
// with 0, runs the real dirname, and the real mkdir when every path it is
// given lies under $STUB_ROOT (the test's directory; elsewhere it only logs). It uses only /bin/sh's
// builtins and absolute paths: the runbook's PATH holds nothing else.
func writeStubs(tb testing.TB, dir string) string {
	tb.Helper()
	real := map[string]string{}
	for _, tool := range []string{"mkdir", "dirname"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			tb.Skipf("%s is not installed", tool)
		}
		real[tool] = p
	}
	script := `#!/bin/sh
read n <"$STUB_COUNT"
n=$((n + 1))
echo "$n" >"$STUB_COUNT"
printf '%s\0' "$#" "${0##*/}" "$@" >>"$STUB_LOG"
if [ "$n" = "${STUB_FAIL_AT:-0}" ]; then
	echo "stub: call $n fails, as asked" >&2
	exit 3
fi
case ${0##*/} in
sysctl) if [ "$1" = -n ]; then echo 0; fi ;;
mkdir)
	for a; do
		case $a in
		-*) ;;
		"$STUB_ROOT"/*) ;;
		*) exit 0 ;;
		esac
	done
	exec ` + real["mkdir"] + ` "$@" ;;
dirname) exec ` + real["dirname"] + ` "$@" ;;
esac
exit 0
`
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		tb.Fatal(err)
	}
	stub := filepath.Join(dir, "stub")
	if err := os.WriteFile(stub, []byte(script), 0o755); err != nil {
		tb.Fatal(err)
	}
	for _, tool := range stubbed {
		if err := os.Symlink(stub, filepath.Join(bin, tool)); err != nil {
			tb.Fatal(err)
		}
	}
	return bin
}

// runStubbed runs the runbook with bash in dir, PATH the stubs alone, and
// returns the calls the stubs logged. The runbook's fd 3 is a pipe read to
// its end, so a container started in the background has logged before the
// calls are read.
func runStubbed(bash, file, dir, stubs, root string, failAt int) (calls [][]string, stdout, stderr []byte, err error) {
	log, count := filepath.Join(dir, "calls"), filepath.Join(dir, "count")
	if err := os.WriteFile(count, []byte("0\n"), 0o600); err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bash, file)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + stubs, "LC_ALL=C.UTF-8", "STUB_LOG=" + log, "STUB_COUNT=" + count, "STUB_ROOT=" + filepath.Clean(root), "STUB_FAIL_AT=" + strconv.Itoa(failAt)}
	var outb, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &outb, &errb
	r, w, perr := os.Pipe()
	if perr != nil {
		return nil, nil, nil, perr
	}
	defer r.Close()
	cmd.ExtraFiles = []*os.File{w}
	if err := cmd.Start(); err != nil {
		w.Close()
		return nil, nil, nil, err
	}
	w.Close()
	err = cmd.Wait()
	_ = r.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, rerr := io.Copy(io.Discard, r); rerr != nil {
		return nil, nil, errb.Bytes(), fmt.Errorf("waiting for the runbook's background processes: %w", rerr)
	}
	data, rerr := os.ReadFile(log)
	if rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
		return nil, nil, errb.Bytes(), rerr
	}
	calls, perr = parseCalls(data)
	if perr != nil {
		return nil, nil, errb.Bytes(), perr
	}
	return calls, outb.Bytes(), errb.Bytes(), err
}

// parseCalls reads the stubs' log: per call, the argument count, the
// tool's name and its arguments, each NUL-terminated.
func parseCalls(data []byte) ([][]string, error) {
	fields := strings.Split(string(data), "\x00")
	if len(fields) > 0 && fields[len(fields)-1] == "" {
		fields = fields[:len(fields)-1]
	}
	var calls [][]string
	for len(fields) > 0 {
		n, err := strconv.Atoi(fields[0])
		if err != nil || len(fields) < n+2 {
			return nil, fmt.Errorf("stub log: bad record at %q", fields)
		}
		calls = append(calls, append([]string(nil), fields[1:n+2]...))
		fields = fields[n+2:]
	}
	return calls, nil
}
