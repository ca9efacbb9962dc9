package actions

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ShimName is the shim's process name (its comm): `plumb shim` stays
// beside a detached container for as long as it runs, keeping its output
// and its exit status, as conmon does for Podman and containerd-shim for
// containerd.
const ShimName = "plumb-shim"

// ShimStatusFD is the descriptor on which the shim tells plumb how the
// runtime's `run --detach` ended: "ok PID\n", or "fail CODE\n" and what
// the runtime and the container said.
const ShimStatusFD = 3

// ShimFiles are a detached container's files the shim keeps: its log, its
// exit status, the PID file the runtime writes, and the shim's own PID.
type ShimFiles struct {
	Log, Exit, PIDFile, ShimPID string
	// Then is a plumb command (argv without "plumb") the shim starts, in
	// a session of its own, once the container has ended and its status is
	// written: the rm of a container run with -d --rm.
	Then []string
}

// ShimStarter is a Runner that can run a detached container's runtime
// under a shim (plumb's Exec). Others start the runtime itself, its output
// going to the log.
type ShimStarter interface {
	StartShim(ctx context.Context, argv []string, f ShimFiles) error
}

// StartShim starts `plumb shim` in a session of its own, which runs argv
// (the runtime's run --detach), and returns once the runtime has: nil when
// the container runs, the runtime's status and what it said otherwise.
// Told to stop meanwhile, it kills the shim and the runtime (the caller
// deletes what the runtime made).
func (e Exec) StartShim(ctx context.Context, argv []string, f ShimFiles) error {
	self, err := e.lookPath("plumb")
	if err != nil {
		return err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	args := []string{"shim", "--log", f.Log, "--exit", f.Exit, "--pid-file", f.PIDFile}
	for _, a := range f.Then {
		args = append(args, "--then", a)
	}
	args = append(append(args, "--"), argv...)
	cmd := exec.Command(self, args...)
	cmd.Args[0] = "plumb"
	cmd.ExtraFiles = []*os.File{w} // ShimStatusFD
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Dir = "/" // it outlives plumb: no mount of the caller's kept busy
	if err := cmd.Start(); err != nil {
		w.Close()
		return &ExecError{Argv: argv, Code: -1, Err: fmt.Errorf("starting plumb shim: %w", err)}
	}
	w.Close()
	pid := cmd.Process.Pid
	// Reaped when it ends, whenever that is (plumb may be gone by then).
	go cmd.Wait()
	if err := os.WriteFile(f.ShimPID, []byte(strconv.Itoa(pid)+"\n"), 0o600); err != nil {
		syscall.Kill(-pid, syscall.SIGKILL)
		return err
	}
	done := make(chan string, 1)
	go func() {
		data, _ := io.ReadAll(bufio.NewReader(r))
		done <- string(data)
	}()
	var reply string
	select {
	case reply = <-done:
	case <-ctx.Done():
		// The shim's session: the shim and the runtime (the container,
		// once it runs, is in a session of its own).
		syscall.Kill(-pid, syscall.SIGKILL)
		<-done
		return &ExecError{Argv: argv, Code: -1, Stderr: "killed: plumb was told to stop", Err: context.Cause(ctx)}
	}
	head, rest, _ := strings.Cut(reply, "\n")
	switch word, arg, _ := strings.Cut(head, " "); word {
	case "ok":
		return nil
	case "fail":
		code, _ := strconv.Atoi(arg)
		return &ExecError{Argv: argv, Code: code, Stderr: strings.TrimSpace(rest)}
	}
	return &ExecError{Argv: argv, Code: -1, Stderr: "plumb shim ended before it said how " + argv[0] + " ended"}
}

// shimRunning says whether the shim whose PID file is path still runs:
// an ended one that nothing has reaped yet (a zombie, in a namespace
// whose first process does not reap) does not.
func shimRunning(path string) bool {
	data, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return false
	}
	comm, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm"))
	return err == nil && strings.TrimSpace(string(comm)) == ShimName && !exited(pid)
}
