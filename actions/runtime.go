package actions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Runtime names an OCI runtime (crun or runc) and the directory where it
// keeps the state of the containers plumb gives it (its --root): plumb's
// own, so that a container of Podman's or containerd's with the same name
// never meets one of plumb's.
type Runtime struct {
	Name  string `json:"runtime"`
	State string `json:"state"`
	// NoCgroups runs crun with --cgroup-manager=disabled: the container
	// gets no cgroup of its own (there is no limit to apply).
	NoCgroups bool `json:"no_cgroups,omitempty"`
}

// argv is the runtime's command line up to its subcommand.
func (r Runtime) argv(sub ...string) []string {
	out := []string{r.Name, "--root", r.State}
	if r.NoCgroups {
		out = append(out, "--cgroup-manager=disabled")
	}
	return append(out, sub...)
}

// WriteConfig writes a bundle's config.json, fed on stdin: the plan shows
// the whole runtime configuration as a here-document, the way it shows
// nft's input. Mode 0600: it names every path of the container.
type WriteConfig struct {
	Path    string `json:"path"`
	Content string `json:"content"`
}

func (a WriteConfig) Kind() string { return "write_config" }
func (a WriteConfig) Argv() []string {
	return []string{"sh", "-c", `umask 077; cat >"$1"`, "sh", a.Path}
}
func (a WriteConfig) Why() string {
	return fmt.Sprintf("write the OCI runtime configuration of the container's bundle, %s", a.Path)
}
func (a WriteConfig) Stdin() []byte { return []byte(a.Content) }

// Undo deletes the file; it runs after a failed write too, which may have
// written part of it.
func (a WriteConfig) Undo() Action { return RemoveFile{Path: a.Path} }

// RuntimeRun creates and starts a container from its bundle with the OCI
// runtime: `crun run --detach` returns once the process runs, its output
// going to Log; in the foreground (Attach) the runtime stays, sharing
// plumb's stdio, passing signals on and exiting with the process's status.
// Either way the runtime writes the process's PID to PIDFile.
type RuntimeRun struct {
	Runtime
	ID      string `json:"id"`
	Bundle  string `json:"bundle"`
	PIDFile string `json:"pid_file"`
	Log     string `json:"log"`
	// Exit and Shim are the files of the shim that keeps a detached
	// container's log and status (see ShimStarter): the exit status, the
	// shim's PID. Empty in journals from before the shim.
	Exit   string `json:"exit,omitempty"`
	Shim   string `json:"shim,omitempty"`
	Attach bool   `json:"attach,omitempty"`
	// Monitor keeps the PID of the runtime that runs in the foreground,
	// which plumb waits for.
	Monitor string `json:"monitor,omitempty"`
	// Remove is the plumb command (without "plumb") the shim starts once a
	// detached container has ended: its rm, for run -d --rm.
	Remove []string `json:"remove,omitempty"`
}

func (a RuntimeRun) Kind() string { return "runtime_run" }
func (a RuntimeRun) Argv() []string {
	argv := a.argv("run")
	if !a.Attach {
		argv = append(argv, "--detach")
	}
	return append(argv, "--pid-file", a.PIDFile, "--bundle", a.Bundle, a.ID)
}
func (a RuntimeRun) Why() string {
	how := "in the background, its output kept in " + a.Log
	if len(a.Remove) > 0 {
		how += ", removed when its command ends (plumb " + Quote(a.Remove) + ")"
	}
	if a.Attach {
		how = "in the foreground"
	}
	return fmt.Sprintf("create and start the container %s with %s from its bundle, %s", a.ID, a.Name, how)
}
func (a RuntimeRun) Undo() Action {
	files := []string{a.PIDFile}
	for _, f := range []string{a.Monitor, a.Exit, a.Shim} {
		if f != "" {
			files = append(files, f)
		}
	}
	// Killed at once when the run is rolled back or recovered; `plumb
	// stop` and `down` give it the grace period (see plan.StopGrace).
	d := RuntimeDelete{Runtime: a.Runtime, ID: a.ID, Files: files, GraceSeconds: -1, Shim: a.Shim}
	if !a.Attach {
		d.Log, d.LogAlways = a.Log, true
	}
	return d
}

// Cleanup: a runtime that fails after it created the container leaves it
// created (or stopped): delete it, so that the failed step leaves nothing.
func (a RuntimeRun) Cleanup() Action { return a.Undo() }

// Shell starts it as plumb does: detached, with its output to the log.
// The runtime's own messages go there too, so when it fails the runbook
// shows the log on its stderr (with bash's $(<FILE), no tool of its own),
// as plumb reads the runtime's error back from the log.
func (a RuntimeRun) Shell(int) []string {
	line, said := Quote(a.Argv()), ""
	if !a.Attach {
		log := Quote([]string{a.Log})
		line += " >>" + log + " 2>&1 </dev/null"
		said = "[ ! -s " + log + " ] || printf '%s\\n' \"$(<" + log + ")\" >&2 || true; "
	}
	return []string{
		line + " || { status=$?; " + said + Quote(a.Cleanup().Argv()) + " 2>/dev/null || true; (exit $status); }",
		"undo+=(" + Quote([]string{strings.Join(a.Undo().(RuntimeDelete).Shell(0), "\n")}) + ")",
	}
}

// Exec runs the runtime and, when it fails, deletes what it left: the
// container, and what this run added to the log (its error is the
// runtime's message, read from there first).
func (a RuntimeRun) Exec(ctx context.Context, r Runner) error {
	s, ok := r.(Starter)
	if !ok {
		return errors.New("this runner cannot start long-running processes")
	}
	from := int64(-1) // no log before this run
	if fi, err := os.Stat(a.Log); err == nil && !a.Attach {
		from = fi.Size()
	}
	err := a.start(ctx, s, max(from, 0))
	if err == nil {
		return nil
	}
	if !a.Attach {
		if from < 0 {
			os.Remove(a.Log)
		} else {
			os.Truncate(a.Log, from)
		}
	}
	// Not ctx: plumb told to stop still cleans up its step.
	if cerr := a.Undo().(RuntimeDelete).Exec(context.WithoutCancel(ctx), r); cerr != nil {
		return fmt.Errorf("%w; cleaning up after it failed too, run it by hand: %v", err, cerr)
	}
	return err
}

func (a RuntimeRun) start(ctx context.Context, s Starter, from int64) error {
	if ss, ok := s.(ShimStarter); ok && !a.Attach && a.Shim != "" {
		return ss.StartShim(ctx, a.Argv(), ShimFiles{Log: a.Log, Exit: a.Exit, PIDFile: a.PIDFile, ShimPID: a.Shim, Then: a.Remove})
	}
	if !a.Attach {
		// The log gets the runtime's own messages too: what it says when
		// it fails is read back from there.
		pid, err := s.Start(ctx, a.Argv(), a.Log, false)
		if err != nil {
			return err
		}
		code, err := waitCtx(ctx, pid)
		if err != nil {
			return err
		}
		if code != 0 {
			return &ExecError{Argv: a.Argv(), Code: code, Stderr: tailFrom(a.Log, from)}
		}
		return nil
	}
	pid, err := s.Start(ctx, a.Argv(), "", true)
	if err != nil {
		return err
	}
	if err := os.WriteFile(a.Monitor, []byte(strconv.Itoa(pid)+"\n"), 0o600); err != nil {
		return err
	}
	// The step is done once the process runs: the runtime has written its
	// PID. A runtime that ends first failed to start it (a command that
	// ends at once still has its PID written before it runs).
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if data, err := os.ReadFile(a.PIDFile); err == nil && len(strings.TrimSpace(string(data))) > 0 {
			return nil
		}
		if exited(pid) {
			if data, err := os.ReadFile(a.PIDFile); err == nil && len(strings.TrimSpace(string(data))) > 0 {
				return nil
			}
			code, _ := waitChild(pid)
			return &ExecError{Argv: a.Argv(), Code: code, Stderr: fmt.Sprintf("%s ended before the container's process started (what it said is above)", a.Name)}
		}
	}
	return fmt.Errorf("%s did not start the container within a minute", a.Name)
}

// waitCtx is waitChild for a child that plumb kills when ctx ends (plumb
// told to stop): the child is then "killed", code -1, as the runner
// reports a process it killed.
func waitCtx(ctx context.Context, pid int) (int, error) {
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			syscall.Kill(pid, syscall.SIGKILL)
		case <-done:
		}
	}()
	code, err := waitChild(pid)
	if err == nil && ctx.Err() != nil && code == 128+int(syscall.SIGKILL) {
		return -1, &ExecError{Code: -1, Stderr: "killed: plumb was told to stop", Err: context.Cause(ctx)}
	}
	return code, err
}

// exited says whether plumb's child pid has ended and waits to be reaped
// (a zombie), without reaping it.
func exited(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// The state follows the command, which is in parentheses and may hold any.
	s := string(stat)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && f[0] == "Z"
}

// waitChild reaps a child of plumb's and gives its status as a shell does.
func waitChild(pid int) (int, error) {
	var ws syscall.WaitStatus
	for {
		_, err := syscall.Wait4(pid, &ws, 0, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return -1, err
		}
		break
	}
	return ShellStatus(ws), nil
}

// ShellStatus is a wait status as a shell gives it: the exit code, or
// 128 plus the signal that ended the process.
func ShellStatus(ws syscall.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// tailFrom is what a file holds past offset from, at most 4 KiB of its end.
func tailFrom(path string, from int64) string {
	data, err := os.ReadFile(path)
	if err != nil || int64(len(data)) < from {
		return ""
	}
	data = data[from:]
	if len(data) > 4096 {
		data = data[len(data)-4096:]
	}
	return strings.TrimSpace(string(data))
}

// RuntimeDelete stops a container as docker stop does (SIGTERM, SIGKILL
// after the grace period) and deletes it from the runtime's state: the
// command shown is the last of these, `crun delete --force`.
type RuntimeDelete struct {
	Runtime
	ID string `json:"id"`
	// GraceSeconds is how long to wait after SIGTERM; 0 means Grace, and
	// a negative value no SIGTERM at all: `delete --force` kills it at
	// once, as the rollback of a run that failed does (nothing was told
	// it runs, so nothing waits for it to finish its work).
	GraceSeconds int `json:"grace_seconds,omitempty"`
	// Files are removed once it is deleted: the PID files of the run.
	Files []string `json:"files,omitempty"`
	// Log, the detached container's output, is removed when empty: what
	// the container said stays for the user (stop --rm deletes it). With
	// LogAlways it is removed whatever it holds: the rollback of a run,
	// whose failure plumb has told already (what a stop leaves, as
	// plan.StopGrace makes it, keeps a log that is not empty).
	Log       string `json:"log,omitempty"`
	LogAlways bool   `json:"log_always,omitempty"`
	// Shim is the PID file of the container's shim, waited for after the
	// delete (it writes the exit file as the container ends).
	Shim string `json:"shim,omitempty"`
}

func (a RuntimeDelete) Kind() string   { return "runtime_delete" }
func (a RuntimeDelete) Argv() []string { return a.argv("delete", "--force", a.ID) }
func (a RuntimeDelete) Why() string {
	if a.GraceSeconds < 0 {
		return fmt.Sprintf("kill the container %s (SIGKILL) and delete it from %s's state", a.ID, a.Name)
	}
	return fmt.Sprintf("stop the container %s (SIGTERM, SIGKILL after %s) and delete it from %s's state", a.ID, a.grace(), a.Name)
}
func (a RuntimeDelete) Undo() Action { return nil }

// Gone: the runtime does not know the container (runc says so; crun
// deletes a missing one without complaint, but fails when the container's
// state directory goes while it reads it: a foreground `crun run` removes
// it as the process ends).
func (a RuntimeDelete) Gone(stderr string) bool {
	return strings.Contains(stderr, "not exist") ||
		strings.Contains(stderr, "No such file or directory") && strings.Contains(stderr, filepath.Join(a.State, a.ID))
}

func (a RuntimeDelete) grace() time.Duration { return graceOf(a.GraceSeconds) }

// Shell stops it as plumb does, then deletes it.
func (a RuntimeDelete) Shell(int) []string {
	kill := func(sig string) string { return Quote(a.argv("kill", a.ID, sig)) + " 2>/dev/null" }
	state := Quote(a.argv("state", a.ID)) + " 2>/dev/null | grep -q '\"status\": *\"running\"'"
	logRm := rmEmpty(a.Log)
	if a.LogAlways && a.Log != "" {
		logRm = "; " + Quote([]string{"rm", "-f", "--", a.Log})
	}
	if a.grace() == 0 {
		return []string{Quote(a.Argv()) + rmFiles(a.Files) + logRm}
	}
	return []string{
		kill("TERM") + " && for i in $(seq " + strconv.Itoa(int(a.grace()/(100*time.Millisecond))) + "); do " + state + " || break; sleep 0.1; done",
		kill("KILL") + " || true",
		Quote(a.Argv()) + rmFiles(a.Files) + logRm,
	}
}

// Exec sends SIGTERM to the container's process, waits up to the grace
// period for it to end, then deletes the container with --force (SIGKILL
// to what is left).
func (a RuntimeDelete) Exec(ctx context.Context, r Runner) error {
	deleted := a.known()
	if deleted {
		if err := a.stopAndDelete(ctx, r); err != nil {
			return err
		}
	}
	// The shim ends once its container is gone. One still running when
	// the runtime knew no container was starting one when plumb was
	// killed (recover): the runtime may create it while this waits, and
	// it is then deleted too, or it would run on with nothing of plumb's
	// left to stop it.
	for deadline := time.Now().Add(5 * time.Second); a.shimRunning() && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if !deleted && a.known() {
			deleted = true
			if err := a.stopAndDelete(ctx, r); err != nil {
				return err
			}
		}
	}
	for _, f := range a.Files {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if fi, err := os.Stat(a.Log); a.Log != "" && err == nil && (fi.Size() == 0 || a.LogAlways) {
		return os.Remove(a.Log)
	}
	return nil
}

// shimRunning says whether the container's shim runs: by its PID file, or,
// while there is none, by its command line. plumb writes the file just
// after it starts the shim; killed in between, it leaves a shim that goes
// on to start the container and to write its exit status and log into
// the container's directory, which recover would otherwise undo from
// under it (found by a hostile test, 4 kills in 17).
func (a RuntimeDelete) shimRunning() bool {
	if a.Shim == "" {
		return false
	}
	if _, err := os.Lstat(a.Shim); err == nil {
		return shimRunning(a.Shim)
	}
	return findShim(a.Log) > 0
}

// findShim is the PID of a running `plumb shim --log LOG ...`, 0 when
// none runs (or log is "").
func findShim(log string) int {
	if log == "" {
		return 0
	}
	want := "\x00--log\x00" + log + "\x00"
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmd, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err == nil && strings.HasPrefix(string(cmd), "plumb\x00shim\x00") && strings.Contains(string(cmd), want) && !exited(pid) {
			return pid
		}
	}
	return 0
}

// known reports whether the runtime may still know the container: its
// state directory (ROOT/ID, crun's and runc's alike) exists. A foreground
// `crun run` deletes it as the process ends, so the `state` and `delete
// --force` after it (about 2 process starts of the runtime, the slowest
// of a run's teardown) would only be told the container does not exist.
// A read of the host, not a step (DESIGN: "Reading is not a step").
func (a RuntimeDelete) known() bool {
	if a.State == "" {
		return true
	}
	_, err := os.Lstat(filepath.Join(a.State, a.ID))
	return !errors.Is(err, os.ErrNotExist)
}

// stopAndDelete is the runtime's part of Exec: SIGTERM and the grace
// period when the process still runs, then delete --force.
func (a RuntimeDelete) stopAndDelete(ctx context.Context, r Runner) error {
	if a.grace() > 0 && a.running(ctx, r) {
		if _, err := r.Run(ctx, a.argv("kill", a.ID, "TERM"), nil); err == nil {
			for deadline := time.Now().Add(a.grace()); time.Now().Before(deadline) && a.running(ctx, r); {
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
	if _, err := r.Run(ctx, a.Argv(), nil); err != nil && !a.Gone(StderrOf(err)) {
		return err
	}
	return nil
}

// rmEmpty is the runbook's removal of a file when it is empty, or "".
func rmEmpty(path string) string {
	if path == "" {
		return ""
	}
	q := Quote([]string{path})
	return "; [ -s " + q + " ] || rm -f -- " + q
}

// rmFiles is the runbook's removal of files after a command, or "".
func rmFiles(files []string) string {
	if len(files) == 0 {
		return ""
	}
	return " && " + Quote(append([]string{"rm", "-f", "--"}, files...))
}

// running asks the runtime whether the container's process still runs.
func (a RuntimeDelete) running(ctx context.Context, r Runner) bool {
	out, err := r.Run(ctx, a.argv("state", a.ID), nil)
	if err != nil {
		return false
	}
	var st struct {
		Status string `json:"status"`
	}
	return json.Unmarshal(out, &st) == nil && st.Status == "running"
}

// RuntimeExec runs a process in a running container (crun exec
// --process FILE ID), sharing plumb's stdio. It is not a step: it changes
// nothing that needs undoing.
type RuntimeExec struct {
	Runtime
	ID      string
	Process string // the process's JSON, as config.json's "process"
	Tty     bool
}

// Argv is the command that runs.
func (a RuntimeExec) Argv() []string {
	argv := a.argv("exec", "--process", a.Process)
	if a.Tty {
		argv = append(argv, "--tty")
	}
	return append(argv, a.ID)
}

// Run runs it and gives the process's status as a shell does.
func (a RuntimeExec) Run(ctx context.Context, r Runner) (int, error) {
	s, ok := r.(Starter)
	if !ok {
		return 0, errors.New("this runner cannot start processes attached to plumb's terminal")
	}
	// Signals plumb gets go to the runtime, which passes them to the
	// process: Ctrl-C ends the command, not plumb before it.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	defer signal.Stop(sigs)
	pid, err := s.Start(ctx, a.Argv(), "", true)
	if err != nil {
		return 0, err
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case sig := <-sigs:
				_ = syscall.Kill(pid, sig.(syscall.Signal))
			case <-done:
				return
			}
		}
	}()
	return waitChild(pid)
}
