package main

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLiveRunSignals: a foreground `plumb run` told SIGINT or SIGTERM
// passes it to the container's command, stops the container when the
// command ignores it (sleep as PID 1 does), undoes everything and exits;
// killed with SIGKILL, plumb leaves its container running, as Docker
// does, and `plumb stop` undoes it. Each time the network and the mount table end
// as they began.
func TestLiveRunSignals(t *testing.T) {
	t.Parallel()
	if !isolateWorld(t) {
		return
	}
	mustPlumb(t, "layer", "import", busyboxTarball(t), "--name", "bb")
	mustPlumb(t, "bridge", "up", "sig0", "--subnet", "10.91.0.0/24")
	// Warm the bridge: its first port gives it carrier and a link-local
	// address that stay (the kernel's doing, as for docker0).
	mustPlumb(t, "run", "warm", "--layer", "bb", "--net", "sig0", "-d", "--", "sleep", "60")
	snapshot(t) // the bridge's carrier seen by the kernel's linkwatch (see TestLiveFaultMatrix)
	mustPlumb(t, "stop", "warm", "--rm", "--time", "1")
	before, mounts := snapshot(t), mountTable(t)
	var stderr strings.Builder
	start := func() (*exec.Cmd, int) {
		cmd := exec.Command("plumb", "run", "fg", "--layer", "bb", "--net", "sig0", "--", "sleep", "60")
		stderr.Reset()
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 200; i++ {
			for _, l := range strings.Split(mustPlumb(t, "ps"), "\n") {
				if f := strings.Fields(l); len(f) > 2 && f[0] == "fg" && f[2] == "running" {
					pid, _ := strconv.Atoi(f[1])
					return cmd, pid
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatal("the foreground container did not start")
		return nil, 0
	}
	ended := func(cmd *exec.Cmd, within time.Duration) error {
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			return err
		case <-time.After(within):
			cmd.Process.Kill()
			t.Fatalf("plumb did not end within %s", within)
			return nil
		}
	}
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		cmd, _ := start()
		cmd.Process.Signal(sig)
		if err := ended(cmd, 20*time.Second); err == nil {
			t.Errorf("%s: plumb exited 0; want the container's status", sig)
		}
		if got := mustPlumb(t, "ps", "-a"); strings.Contains(got, "fg") {
			t.Errorf("%s: the container is still kept:\n%s\nplumb said:\n%s", sig, got, stderr.String())
		}
		if got := mustPlumb(t, "recover"); !strings.Contains(got, "nothing to recover") {
			t.Errorf("%s: plumb left its cleanup to recover:\n%s", sig, got)
		}
		sameSnapshot(t, before, sig.String())
		if got := mountTable(t); got != mounts {
			t.Errorf("%s: the mount table differs:\n%s\nwant:\n%s", sig, got, mounts)
		}
	}
	// `plumb stop` from elsewhere: the foreground plumb reports the
	// command's status (SIGTERM's, from the stop), nothing else.
	cmd, _ := start()
	mustPlumb(t, "stop", "fg", "--time", "1")
	err := ended(cmd, 10*time.Second)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 128+int(syscall.SIGTERM) && ee.ExitCode() != 128+int(syscall.SIGKILL) {
		t.Errorf("stopped from elsewhere: %v; want the command's status (143 or 137)", err)
	}
	if strings.Contains(stderr.String(), "error") {
		t.Errorf("stopped from elsewhere, plumb said:\n%s", stderr.String())
	}
	sameSnapshot(t, before, "stopped from elsewhere")

	// Killed with SIGKILL, plumb cannot pass anything on: the runtime it
	// ran dies with it, and the container runs on, as one whose docker run
	// was killed does (Docker's daemon keeps it); ps still shows it, and
	// plumb stop undoes it all.
	cmd, pid := start()
	cmd.Process.Kill()
	if _, err := cmd.Process.Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err != nil {
		t.Errorf("SIGKILL: the container's process %d did not outlive plumb: %v", pid, err)
	}
	if got := mustPlumb(t, "ps"); !strings.Contains(got, "running") {
		t.Errorf("SIGKILL: the container is not shown as running:\n%s", got)
	}
	mustPlumb(t, "stop", "fg", "--rm", "--time", "1")
	sameSnapshot(t, before, "SIGKILL, then stop")
	if got := mountTable(t); got != mounts {
		t.Errorf("SIGKILL: the mount table differs:\n%s\nwant:\n%s", got, mounts)
	}
	mustPlumb(t, "bridge", "down", "sig0")
	mustPlumb(t, "down", "layer/bb")
}

// mountTable is this mount namespace's mounts: mount point, type, source.
func mountTable(t *testing.T) string {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Fields(l)
		if len(f) > 5 {
			b.WriteString(f[4] + " " + f[len(f)-3] + " " + f[len(f)-2] + "\n")
		}
	}
	return b.String()
}
