package actions

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// shimRunner stands in for the runtime: `state` says nothing runs, and
// `delete` ends the fake shim, as the real one ends with its container.
type shimRunner struct {
	mu    sync.Mutex
	calls []string
	shim  *exec.Cmd
}

func (s *shimRunner) Run(_ context.Context, argv []string, _ []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, strings.Join(argv, " "))
	if len(argv) > 3 && argv[3] == "delete" {
		s.shim.Process.Kill()
		s.shim.Wait()
	}
	if len(argv) > 3 && argv[3] == "state" {
		return nil, &ExecError{Argv: argv, Code: 1, Stderr: "container does not exist"}
	}
	return nil, nil
}

func (s *shimRunner) Start(context.Context, []string, string, bool) (int, error) { return 0, nil }

// fakeShim starts a process the shim's PID file can name: a copy of
// sleep, named as the shim (its comm).
func fakeShim(t *testing.T, dir string) (*exec.Cmd, string) {
	t.Helper()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip(err)
	}
	data, err := os.ReadFile(sleep)
	if err != nil {
		t.Fatal(err)
	}
	fake := filepath.Join(dir, ShimName)
	if err := os.WriteFile(fake, data, 0o755); err != nil {
		t.Fatal(err)
	}
	shim := exec.Command(fake, "30")
	if err := shim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shim.Process.Kill(); shim.Wait() })
	pidFile := filepath.Join(dir, "shim.pid")
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(shim.Process.Pid)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); !shimRunning(pidFile) && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond) // until the exec has named it
	}
	return shim, pidFile
}

// TestShimZombie: a shim that ended but was not reaped does not run.
func TestShimZombie(t *testing.T) {
	shim, pidFile := fakeShim(t, t.TempDir())
	if !shimRunning(pidFile) {
		t.Fatal("the shim does not run")
	}
	shim.Process.Kill()
	for deadline := time.Now().Add(5 * time.Second); !exited(shim.Process.Pid) && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if shimRunning(pidFile) {
		t.Error("a zombie shim is taken for a running one")
	}
}

// TestRuntimeDeleteLateContainer: plumb killed while the runtime created
// a detached container leaves its shim running; recover's delete, finding
// no container yet, waits for the shim, and deletes the container the
// runtime creates meanwhile (seen once in 80 SIGKILLs: it ran on, unknown
// to plumb).
func TestRuntimeDeleteLateContainer(t *testing.T) {
	dir := t.TempDir()
	shim, pidFile := fakeShim(t, dir)
	state := filepath.Join(dir, "state")
	go func() {
		time.Sleep(100 * time.Millisecond)
		os.MkdirAll(filepath.Join(state, "web"), 0o700) // the runtime creates it late
	}()
	r := &shimRunner{shim: shim}
	a := RuntimeDelete{Runtime: Runtime{Name: "crun", State: state}, ID: "web", GraceSeconds: -1, Shim: pidFile}
	start := time.Now()
	if err := a.Exec(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("took %v: the shim was waited for to the end", took)
	}
	if got := strings.Join(r.calls, "\n"); !strings.Contains(got, "crun --root "+state+" delete --force web") {
		t.Errorf("the container created late was not deleted; calls:\n%s", got)
	}
}

// TestShimWithoutPIDFile: a shim whose PID file plumb did not write (it
// was killed just after starting it) is still found running, by its
// command line, and waited for; another container's shim is not taken
// for it.
func TestShimWithoutPIDFile(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	// bash runs the script "shim" with argv "plumb shim --log LOG ...",
	// the command line a shim has.
	// (Not exec: bash keeps the command line; its sleep goes with its
	// process group.)
	if err := os.WriteFile(filepath.Join(dir, "shim"), []byte("sleep 30\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(dir, "web", "log")
	shim := &exec.Cmd{Path: bash, Args: []string{"plumb", "shim", "--log", log, "--exit", dir + "/exit.json", "--", "crun", "run"}, Dir: dir,
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true}}
	if err := shim.Start(); err != nil {
		t.Fatal(err)
	}
	kill := func() { syscall.Kill(-shim.Process.Pid, syscall.SIGKILL); shim.Wait() }
	t.Cleanup(kill)
	a := RuntimeDelete{ID: "web", Shim: filepath.Join(dir, "web", "shim.pid"), Log: log}
	for deadline := time.Now().Add(5 * time.Second); !a.shimRunning() && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond) // until the fork has exec'd bash
	}
	if !a.shimRunning() {
		t.Error("a shim with no PID file is not found running")
	}
	if other := (RuntimeDelete{ID: "web2", Shim: a.Shim, Log: log + "2"}); other.shimRunning() {
		t.Error("another container's shim is taken for web2's")
	}
	kill()
	if a.shimRunning() {
		t.Error("a shim that ended is found running")
	}
}
