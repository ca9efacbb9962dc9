package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
// its own; and at the end the namespace is as it was.
func TestLiveRun(t *testing.T) {
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
	time.Sleep(200 * time.Millisecond)
	out, err := plumb(t, nil, "run", "client", "--layer", "busybox", "--net", "plumb0", "--", "wget", "-qO-", "http://10.88.0.2:5000/")
	if err != nil || !strings.Contains(out, "<h1>hello from plumb</h1>") {
		t.Errorf("client fetching the page: %v\n%s", err, out)
	}
	if ps := mustPlumb(t, "ps"); !strings.Contains(ps, "web ") || !strings.Contains(ps, "running") || strings.Contains(ps, "client") {
		t.Errorf("ps after the client ended:\n%s", ps)
	}

	// A write in one container: not in the other, not in the layer.
	mustPlumb(t, "run", "writer", "--layer", "busybox", "-d", "--", "sh", "-c", "echo secret > /tmp/f && sleep 600")
	time.Sleep(200 * time.Millisecond)
	if out, err := plumb(t, nil, "run", "reader", "--layer", "busybox", "--", "cat", "/tmp/f"); err == nil || strings.Contains(out, "secret") {
		t.Errorf("another container read the writer's file: %v\n%s", err, out)
	}
	if _, err := os.Stat("/run/plumb/layers/busybox/tmp/f"); !os.IsNotExist(err) {
		t.Errorf("the write reached the layer: %v", err)
	}
	if got := read(t, "/run/plumb/overlay/writer/upper/tmp/f"); got != "secret\n" {
		t.Errorf("writer's upper layer holds %q", got)
	}
	mustPlumb(t, "stop", "writer", "--rm", "--time", "1")
	if ps := mustPlumb(t, "ps"); strings.Contains(ps, "writer") {
		t.Errorf("ps after stop:\n%s", ps)
	}

	// A command that exits on its own shows as exited, and stops cleanly.
	mustPlumb(t, "run", "quick", "--layer", "busybox", "-d", "--", "true")
	time.Sleep(300 * time.Millisecond)
	if ps := mustPlumb(t, "ps"); !strings.Contains(ps, "quick") || !strings.Contains(strings.SplitAfter(ps, "quick")[1], "exited") {
		t.Errorf("ps of a container whose command ended:\n%s", ps)
	}
	mustPlumb(t, "stop", "quick", "--rm")

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
	if entries, _ := os.ReadDir("/run/plumb/overlay"); len(entries) != 0 {
		t.Errorf("container directories left: %v", entries)
	}
	sameSnapshot(t, before, "after stopping everything")
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
