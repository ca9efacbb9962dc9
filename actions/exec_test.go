package actions

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestNeedsXtablesLock(t *testing.T) {
	tests := []struct {
		tool string
		want bool
	}{
		{"iptables", true},
		{"iptables-save", true},
		{"iptables-restore", true},
		{"ip6tables", true},
		{"ip6tables-save", true},
		{"ip6tables-restore", true},
		{"iptables-nft", true},
		{"iptables-legacy-restore", true},
		{"/usr/sbin/ip6tables", true},
		{"ip", false},
		{"ipset", false},
		{"nsenter", false},
		{"sysctl", false},
		{"ebtables", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := needsXtablesLock(tt.tool); got != tt.want {
			t.Errorf("needsXtablesLock(%q) = %v, want %v", tt.tool, got, tt.want)
		}
	}
}

// TestRunDiesWithPlumb: a step that Exec.Run started is killed when plumb
// is (SIGKILL, or a signal plumb does not catch), rather than running on
// beside `plumb recover`. The test runs itself as "plumb", which starts a
// step that writes its PID and sleeps, and is then SIGKILLed.
func TestRunDiesWithPlumb(t *testing.T) {
	if pidFile := os.Getenv("PLUMB_TEST_STEP_PID"); pidFile != "" {
		_, err := Exec{}.Run(context.Background(), []string{"sh", "-c", `echo $$ >"$0.tmp" && mv "$0.tmp" "$0" && exec sleep 30`, pidFile}, nil)
		t.Fatalf("the step ended: %v", err)
	}
	pidFile := filepath.Join(t.TempDir(), "pid")
	plumb := exec.Command(os.Args[0], "-test.run", "^TestRunDiesWithPlumb$")
	plumb.Env = append(os.Environ(), "PLUMB_TEST_STEP_PID="+pidFile)
	if err := plumb.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	for deadline := time.Now().Add(10 * time.Second); pid == 0; time.Sleep(5 * time.Millisecond) {
		if data, err := os.ReadFile(pidFile); err == nil {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(data)))
		} else if time.Now().After(deadline) {
			plumb.Process.Kill()
			plumb.Wait()
			t.Fatal("the step did not start")
		}
	}
	plumb.Process.Kill()
	plumb.Wait()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		// Gone, or a zombie its new parent has not reaped yet: either way
		// it runs no more.
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil || strings.Contains(string(stat), ") Z ") {
			return
		}
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("the step (PID %d) still runs after plumb was killed", pid)
		}
	}
}

// TestRunCLocale: a step runs in the C locale, whatever the caller's, so
// that the stderr plumb reads to tell "already there" or "already gone"
// is English. The caller's other variables reach it, and RunIn's extra
// ones come after.
func TestRunCLocale(t *testing.T) {
	t.Setenv("LANGUAGE", "de")
	t.Setenv("LC_ALL", "de_DE.UTF-8")
	t.Setenv("LANG", "de_DE.UTF-8")
	t.Setenv("PLUMB_TEST_KEPT", "yes")
	out, err := Exec{}.Run(context.Background(), []string{"sh", "-c", `printf '%s|%s|%s|%s' "$LC_ALL" "${LANGUAGE-unset}" "$LANG" "$PLUMB_TEST_KEPT"`}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(out), "C|unset|de_DE.UTF-8|yes"; got != want {
		t.Errorf("LC_ALL|LANGUAGE|LANG|PLUMB_TEST_KEPT = %q, want %q", got, want)
	}
	env := childEnv([]string{"LANGUAGE=de", "LC_ALL=de_DE", "A=1", "LC_ALLX=2"}, []string{"PLUMB_RUN_IN=pid 1"})
	if diff := strings.Join(env, " "); diff != "A=1 LC_ALLX=2 LC_ALL=C PLUMB_RUN_IN=pid 1" {
		t.Errorf("childEnv = %q", env)
	}
}
