package actions

import (
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
	"syscall"
	"time"
)

// ResolverStart starts a network's resolver, `plumb dns serve`, in the
// background: it answers the names of the network's containers (the
// state directory's names index, read on every query, so attach and
// detach need not tell it) on the network's gateway, port 53, and asks
// the host's nameservers the rest. `plumb dns start` returns once the
// resolver listens, or fails with what it said. Its undo stops it.
type ResolverStart struct {
	StateDir string     `json:"state_dir"`
	Network  string     `json:"network"`
	Listen   netip.Addr `json:"listen"`
	PIDFile  string     `json:"pid_file"`
	// Internal: the network is internal, and its resolver asks no
	// nameserver beyond it.
	Internal bool `json:"internal,omitempty"`
}

func (a ResolverStart) Kind() string { return "resolver_start" }
func (a ResolverStart) Argv() []string {
	argv := []string{"plumb", "--state-dir", a.StateDir, "dns", "start", "--pid-file", a.PIDFile, "--listen", a.Listen.String()}
	if a.Internal {
		argv = append(argv, "--internal")
	}
	return append(argv, a.Network)
}
func (a ResolverStart) Why() string {
	if a.Internal {
		return fmt.Sprintf("answer the names of %s's containers at %s:53, and refuse the rest (an internal network reaches no nameserver)", a.Network, a.Listen)
	}
	return fmt.Sprintf("answer the names of %s's containers at %s:53, and the host's nameservers' for the rest", a.Network, a.Listen)
}
func (a ResolverStart) Undo() Action { return ResolverStop{PIDFile: a.PIDFile, Network: a.Network} }

// ResolverStop stops a resolver ResolverStart started: SIGTERM to the PID
// its file names, when that process is a resolver of the network; gone
// already counts as done.
type ResolverStop struct {
	PIDFile string `json:"pid_file"`
	Network string `json:"network"`
}

func (a ResolverStop) Kind() string { return "resolver_stop" }
func (a ResolverStop) Argv() []string {
	return []string{"plumb", "dns", "stop", "--pid-file", a.PIDFile, a.Network}
}
func (a ResolverStop) Why() string      { return fmt.Sprintf("stop %s's resolver", a.Network) }
func (a ResolverStop) Undo() Action     { return nil }
func (a ResolverStop) UndoNote() string { return "it is itself an undo" }

// StartResolver is `plumb dns start`: it starts self's `dns serve` (args)
// in a session of its own, its output discarded, and returns once it
// listens (it writes "ok" on descriptor 3) with its PID written to
// pidFile, or with what it said when it could not.
func StartResolver(self string, args []string, pidFile string) error {
	if err := os.MkdirAll(filepath.Dir(pidFile), 0o700); err != nil {
		return err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	cmd := exec.Command(self, args...)
	cmd.Args[0] = "plumb"
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Dir = "/"
	if err := cmd.Start(); err != nil {
		w.Close()
		return &ExecError{Argv: append([]string{"plumb"}, args...), Code: -1, Err: err}
	}
	w.Close()
	// Its PID is written first: a plumb killed while it starts leaves the
	// file, which the step's undo (plumb dns stop) reads.
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return err
	}
	said, _ := io.ReadAll(io.LimitReader(r, 4096))
	if msg := string(said); msg != "ok\n" {
		cmd.Process.Kill()
		cmd.Wait()
		os.Remove(pidFile)
		if msg == "" {
			msg = "it ended without a word"
		}
		return &ExecError{Argv: append([]string{"plumb"}, args...), Code: 1, Stderr: strings.TrimSpace(strings.TrimPrefix(msg, "fail "))}
	}
	cmd.Process.Release()
	return nil
}

// StopResolver is `plumb dns stop`: SIGTERM to the resolver pidFile
// names when alive(pid) says it is the network's, SIGKILL after 5 s; its
// file removed. Nothing running, or no file, is done already.
func StopResolver(pidFile string, alive func(pid int) bool) error {
	b, err := os.ReadFile(pidFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return fmt.Errorf("%s holds no PID: %q", pidFile, b)
	}
	if alive(pid) {
		syscall.Kill(pid, syscall.SIGTERM)
		for i := 0; i < 100 && alive(pid); i++ {
			time.Sleep(50 * time.Millisecond)
		}
		if alive(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if err := os.Remove(pidFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// ResolverAlive says whether pid is a resolver of network: its command
// line is plumb's dns serve of that network (a PID file may outlive its
// process, and the PID be another's since).
func ResolverAlive(pid int, network string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	for i := 0; i+2 < len(args); i++ {
		if args[i] == "dns" && args[i+1] == "serve" {
			return args[len(args)-1] == network
		}
	}
	return false
}

// Verify: the PID file names a live resolver of the network.
func (a ResolverStart) Verify(context.Context, Runner) error {
	b, err := os.ReadFile(a.PIDFile)
	if err != nil {
		return fmt.Errorf("%s's resolver: %v", a.Network, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || !ResolverAlive(pid, a.Network) {
		return fmt.Errorf("%s's resolver (PID %s) is not running: names on it do not resolve", a.Network, strings.TrimSpace(string(b)))
	}
	return nil
}
