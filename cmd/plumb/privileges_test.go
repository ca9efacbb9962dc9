package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestNotRoot: without root (here: setpriv to an ordinary user), a command
// that would change the host is refused before anything runs, naming what
// is missing and that a dry run works; the dry run does.
func TestNotRoot(t *testing.T) {
	self, err := exec.LookPath("plumb")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o777)
	as := func(args ...string) *exec.Cmd {
		if os.Geteuid() == 0 {
			// In a network namespace of its own, should the refusal fail.
			args = append([]string{"--net", "setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", self}, args...)
			return exec.Command("unshare", args...)
		}
		return exec.Command(self, args...)
	}
	cmd := as("bridge", "up", "brx", "--subnet", "10.79.0.0/24")
	cmd.Env = append(os.Environ(), stateEnv(filepath.Join(dir, "state"))...)
	out, err := cmd.CombinedOutput()
	if cmd.ProcessState.ExitCode() != 2 || !strings.Contains(string(out), "needs root (or CAP_NET_ADMIN and CAP_SYS_ADMIN); --dry-run") {
		t.Fatalf("bridge up as an ordinary user: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "step") {
		t.Errorf("a step ran:\n%s", out)
	}
	cmd = as("bridge", "up", "brx", "--subnet", "10.79.0.0/24", "--dry-run")
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "ip link add brx") {
		t.Errorf("the dry run as an ordinary user: %v\n%s", err, out)
	}
}
