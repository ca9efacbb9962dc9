package main

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestLiveLogs: a detached container's output, kept by its shim. stdout's
// lines come back on stdout and stderr's on stderr, --tail and
// --timestamps as docker logs has them, -f follows until the container
// ends; its exit status shows in ps ("exited (3)") and exec refuses it;
// stop keeps a log with something in it, stop --rm deletes it; rm deletes
// what stop kept, removes an ended container, refuses a running one but
// with -f (which kills at once); and the namespace is as before.
func TestLiveLogs(t *testing.T) {
	t.Parallel()
	if !isolate(t) {
		return
	}
	mustPlumb(t, "layer", "import", busyboxTarball(t), "--name", "bb")
	before := snapshot(t)
	logs := func(args ...string) (string, string) {
		t.Helper()
		cmd := exec.Command("plumb", append([]string{"logs"}, args...)...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("plumb logs %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return string(out), stderr.String()
	}
	mustPlumb(t, "run", "talk", "--layer", "bb", "-d", "--", "sh", "-c", "echo two >&2; sleep 0.2; echo one; echo three; exit 3")
	var ps string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if ps = mustPlumb(t, "ps", "-a"); strings.Contains(ps, "exited (3)") {
			break
		}
	}
	if !strings.Contains(ps, "exited (3)") {
		t.Fatalf("ps does not show the exit status:\n%s", ps)
	}
	if running := mustPlumb(t, "ps"); strings.Contains(running, "talk") {
		t.Errorf("ps without -a lists the exited container:\n%s", running)
	}
	st := mustPlumb(t, "inspect", "-f", "{{.State.Status}} {{.State.Running}} {{.State.Pid}} {{.State.ExitCode}} {{.State.Journal}}", "talk")
	if st != "exited false 0 3 up\n" {
		t.Errorf("inspect State: %q", st)
	}
	if out, errs := logs("talk"); out != "one\nthree\n" || errs != "two\n" {
		t.Errorf("logs: stdout %q, stderr %q; want %q and %q", out, errs, "one\nthree\n", "two\n")
	}
	// The two streams are two pipes, copied side by side: only the sleep
	// orders stderr's line before stdout's in the log, as in Docker's.
	if out, errs := logs("--tail", "1", "talk"); out != "three\n" || errs != "" {
		t.Errorf("logs --tail 1: stdout %q, stderr %q; want %q", out, errs, "three\n")
	}
	stamped := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z (one|three)$`)
	out, _ := logs("-t", "talk")
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if !stamped.MatchString(l) {
			t.Errorf("logs -t: %q is not a time and a line", l)
		}
	}
	if out, err := plumb(t, nil, "exec", "talk", "--", "true"); err == nil || !strings.Contains(out, "container talk is not running (exited)") {
		t.Errorf("exec of an exited container: %v\n%s", err, out)
	}
	// stop keeps what it said, for logs; --rm would have deleted it.
	mustPlumb(t, "stop", "talk")
	if out, _ := logs("talk"); out != "one\nthree\n" {
		t.Errorf("logs after stop: %q", out)
	}
	// rm deletes what stop kept.
	if out := mustPlumb(t, "rm", "talk"); !strings.Contains(out, "deleted /run/plumb-root/overlay/talk, what container talk left when it stopped") {
		t.Errorf("rm of a stopped container:\n%s", out)
	}
	if _, err := os.Stat("/run/plumb-root/overlay/talk"); !os.IsNotExist(err) {
		t.Errorf("rm left the stopped container's directory: %v", err)
	}

	// -f: what is written while it runs, until it ends.
	mustPlumb(t, "run", "count", "--layer", "bb", "-d", "--", "sh", "-c", "for i in 1 2 3; do echo $i; sleep 0.3; done")
	start := time.Now()
	if out, _ := logs("-f", "count"); out != "1\n2\n3\n" {
		t.Errorf("logs -f: %q", out)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("logs -f took %s to see the container end", took)
	}
	// rm of a container that ended is stop --rm; a running one, only -f.
	mustPlumb(t, "run", "long", "--layer", "bb", "-d", "--", "sleep", "600")
	if out, err := plumb(t, nil, "rm", "count", "long"); exitStatus(err) != 1 ||
		!strings.Contains(out, "container/count is removed: deleted /run/plumb-root/overlay/count") ||
		!strings.Contains(out, "container long is running: stop it first (plumb stop long), or plumb rm -f long") {
		t.Errorf("rm of an ended and a running container: %v\n%s", err, out)
	}
	if _, err := os.Stat("/run/plumb-root/overlay/count"); !os.IsNotExist(err) {
		t.Errorf("rm left the container's directory: %v", err)
	}
	start = time.Now()
	mustPlumb(t, "rm", "-f", "long")
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("rm -f took %s: it waited for SIGTERM", took)
	}
	if _, err := os.Stat("/run/plumb-root/overlay/long"); !os.IsNotExist(err) {
		t.Errorf("rm -f left the container's directory: %v", err)
	}
	if out, err := plumb(t, nil, "logs", "count"); err == nil || !strings.Contains(out, "plumb keeps no container named count, nor its log") {
		t.Errorf("logs of a removed container: %v\n%s", err, out)
	}
	if out, err := plumb(t, nil, "rm", "count"); exitStatus(err) != 1 || !strings.Contains(out, "plumb keeps no container named count (`plumb ps -a` lists them), nor what a stopped one left") {
		t.Errorf("rm of a removed container: %v\n%s", err, out)
	}
	// -d --rm: the shim removes the container once its command has ended.
	mustPlumb(t, "run", "brief", "--layer", "bb", "-d", "--rm", "--", "sh", "-c", "sleep 0.3")
	gone := false
	for deadline := time.Now().Add(15 * time.Second); !gone && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		_, err := os.Stat("/run/plumb-root/overlay/brief")
		gone = os.IsNotExist(err) && !strings.Contains(mustPlumb(t, "ps", "-a"), "brief")
	}
	if !gone {
		t.Errorf("run -d --rm: still there after its command ended:\n%s", mustPlumb(t, "ps", "-a"))
	}
	sameSnapshot(t, before, "after stop")
}
