package actions

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// NetnsAdd makes a named network namespace (ip netns add): the container's
// network exists, by name, before its process does, so every network step
// can be planned and shown before anything runs.
type NetnsAdd struct {
	Name string `json:"name"`
}

func (a NetnsAdd) Kind() string   { return "netns_add" }
func (a NetnsAdd) Argv() []string { return []string{"ip", "netns", "add", a.Name} }
func (a NetnsAdd) Why() string {
	return fmt.Sprintf("make the container's network namespace %s", a.Name)
}
func (a NetnsAdd) Undo() Action { return NetnsDel(a) }
func (a NetnsAdd) Verify(context.Context, Runner) error {
	if _, err := os.Stat(Netns{Name: a.Name}.Path()); err != nil {
		return fmt.Errorf("network namespace %s is missing", a.Name)
	}
	return nil
}

// NetnsDel deletes a named network namespace.
type NetnsDel struct {
	Name string `json:"name"`
}

func (a NetnsDel) Kind() string   { return "netns_del" }
func (a NetnsDel) Argv() []string { return []string{"ip", "netns", "del", a.Name} }
func (a NetnsDel) Why() string    { return fmt.Sprintf("delete the network namespace %s", a.Name) }
func (a NetnsDel) Undo() Action   { return nil }
func (a NetnsDel) Gone(stderr string) bool {
	return strings.Contains(stderr, "No such file or directory")
}

// Touch creates an empty file, the mount point of a namespace kept by name.
type Touch struct {
	Path string `json:"path"`
}

func (a Touch) Kind() string   { return "touch" }
func (a Touch) Argv() []string { return []string{"touch", a.Path} }
func (a Touch) Why() string {
	return fmt.Sprintf("create %s to keep the container's UTS namespace", a.Path)
}
func (a Touch) Undo() Action { return RemoveFile{Path: a.Path} }

// RemoveFile deletes one file; a missing file is already gone.
type RemoveFile struct {
	Path string `json:"path"`
}

func (a RemoveFile) Kind() string   { return "remove_file" }
func (a RemoveFile) Argv() []string { return []string{"rm", "-f", "--", a.Path} }
func (a RemoveFile) Why() string    { return fmt.Sprintf("delete %s", a.Path) }
func (a RemoveFile) Undo() Action   { return nil }

// UTSNew makes a UTS namespace kept at File (unshare --uts=FILE) with the
// container's hostname, set by the host's own hostname command.
type UTSNew struct {
	File     string `json:"file"`
	Hostname string `json:"hostname"`
}

func (a UTSNew) Kind() string { return "uts_new" }
func (a UTSNew) Argv() []string {
	return []string{"unshare", "--uts=" + a.File, "hostname", a.Hostname}
}
func (a UTSNew) Why() string {
	return fmt.Sprintf("give the container its own hostname, %s", a.Hostname)
}
func (a UTSNew) Undo() Action { return Umount{Path: a.File} }

// StartContainer starts CMD with the overlay as its root, in new PID, mount
// and IPC namespaces, inside the network and UTS namespaces made for it,
// with /proc mounted inside. It runs on past the command: Exec starts it.
type StartContainer struct {
	Netns   string   `json:"netns"`
	UTS     string   `json:"uts"`
	Root    string   `json:"root"`
	Cmd     []string `json:"cmd"`
	Log     string   `json:"log"`              // the detached container's stdout and stderr
	Attach  bool     `json:"attach,omitempty"` // stdio is plumb's own (run in the foreground)
	PIDFile string   `json:"pid_file"`
}

func (a StartContainer) Kind() string { return "start_container" }
func (a StartContainer) Argv() []string {
	argv := []string{"nsenter", "--net=" + Netns{Name: a.Netns}.Path(), "--uts=" + a.UTS,
		"unshare", "--pid", "--mount", "--ipc", "--fork", "--kill-child", "--mount-proc", "--root=" + a.Root, "--wd=/", "--"}
	return append(argv, a.Cmd...)
}
func (a StartContainer) Why() string {
	return "start " + Quote(a.Cmd) + " in the container: new PID, mount and IPC namespaces, the overlay as its root, /proc inside"
}
func (a StartContainer) Undo() Action { return StopContainer{Netns: a.Netns, PIDFile: a.PIDFile} }

// Starter is a Runner that can also start a process and leave it running.
type Starter interface {
	Start(ctx context.Context, argv []string, log string, attach bool) (pid int, err error)
}

// Exec starts the container and records its PID.
func (a StartContainer) Exec(ctx context.Context, r Runner) error {
	s, ok := r.(Starter)
	if !ok {
		return errors.New("this runner cannot start long-running processes")
	}
	pid, err := s.Start(ctx, a.Argv(), a.Log, a.Attach)
	if err != nil {
		return err
	}
	return os.WriteFile(a.PIDFile, []byte(strconv.Itoa(pid)+"\n"), 0o600)
}

// Shell starts it in the background and keeps its PID, as -d does.
func (a StartContainer) Shell(n int) []string {
	return []string{
		Quote(a.Argv()) + " >" + Quote([]string{a.Log}) + " 2>&1 </dev/null &",
		"echo $! >" + Quote([]string{a.PIDFile}),
		"undo+=(" + Quote([]string{Quote(StopContainer{Netns: a.Netns}.Argv())}) + ")",
	}
}

// StopContainer ends every process in the container's network namespace:
// SIGTERM, then SIGKILL to those left after a grace period. Processes are
// found by namespace (ip netns pids), never by a PID that may have been reused.
type StopContainer struct {
	Netns   string `json:"netns"`
	PIDFile string `json:"pid_file,omitempty"`
	// GraceSeconds is how long to wait after SIGTERM before SIGKILL; 0
	// means Grace. A container's PID 1 ignores SIGTERM unless it handles it.
	GraceSeconds int `json:"grace_seconds,omitempty"`
}

// Grace is how long stop waits after SIGTERM before SIGKILL, as docker stop.
const Grace = 10 * time.Second

func (a StopContainer) grace() time.Duration {
	if a.GraceSeconds > 0 {
		return time.Duration(a.GraceSeconds) * time.Second
	}
	return Grace
}

func (a StopContainer) Kind() string { return "stop_container" }
func (a StopContainer) Argv() []string {
	// The name is quoted inside the script: sh -c parses it again.
	return []string{"sh", "-c", "ip netns pids " + Quote([]string{a.Netns}) + " | xargs -r kill -TERM"}
}
func (a StopContainer) Why() string {
	return fmt.Sprintf("stop the container's processes (SIGTERM, SIGKILL after %s)", a.grace())
}
func (a StopContainer) Undo() Action { return nil }

// Exec sends SIGTERM, waits, then SIGKILL.
func (a StopContainer) Exec(ctx context.Context, r Runner) error {
	pids := func() []int {
		out, err := r.Run(ctx, []string{"ip", "netns", "pids", a.Netns}, nil)
		if err != nil {
			return nil // the namespace is gone, and its processes with it
		}
		var ps []int
		for _, f := range strings.Fields(string(out)) {
			if p, err := strconv.Atoi(f); err == nil && p != os.Getpid() {
				ps = append(ps, p)
			}
		}
		return ps
	}
	signal := func(sig syscall.Signal, ps []int) {
		for _, p := range ps {
			_ = syscall.Kill(p, sig)
		}
	}
	ps := pids()
	signal(syscall.SIGTERM, ps)
	for deadline := time.Now().Add(a.grace()); len(ps) > 0 && time.Now().Before(deadline); ps = pids() {
		reap(ps)
		time.Sleep(100 * time.Millisecond)
	}
	if len(ps) > 0 {
		signal(syscall.SIGKILL, ps)
		for i := 0; i < 100 && len(ps) > 0; i, ps = i+1, pids() {
			reap(ps)
			time.Sleep(20 * time.Millisecond)
		}
	}
	if len(ps) > 0 {
		return fmt.Errorf("processes %v of %s did not end", ps, a.Netns)
	}
	if a.PIDFile != "" {
		_ = os.Remove(a.PIDFile)
	}
	return nil
}

// reap collects those of ps that are plumb's own children and have ended,
// so that they do not linger as zombies in the namespace's process list.
func reap(ps []int) {
	for _, p := range ps {
		var ws syscall.WaitStatus
		_, _ = syscall.Wait4(p, &ws, syscall.WNOHANG, nil)
	}
}

// Extract unpacks a root file system tarball (plain or compressed; tar
// detects which) into a layer directory.
type Extract struct {
	File string `json:"file"`
	Dir  string `json:"dir"`
}

func (a Extract) Kind() string { return "extract" }
func (a Extract) Argv() []string {
	return []string{"tar", "-xf", a.File, "-C", a.Dir, "--numeric-owner"}
}
func (a Extract) Why() string  { return fmt.Sprintf("unpack %s as the layer %s", a.File, a.Dir) }
func (a Extract) Undo() Action { return RemoveTree{Path: a.Dir} }
