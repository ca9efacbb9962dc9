package supervise

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"plumb/actions"
	"plumb/plan"
)

// Process is a container's first process as supervision sees it.
type Process interface {
	// Wait waits for it to end and gives its status as a shell does: its
	// exit code, or 128 + the signal that killed it.
	Wait() int
	// Signal passes sig to the container's command.
	Signal(sig os.Signal)
}

// Script is the start script plumb started (nsenter ... unshare --fork),
// by its PID: the container's command is its child.
type Script struct{ PID int }

// Wait implements Process. plumb started the script, so it can reap it.
func (s Script) Wait() int {
	proc, err := os.FindProcess(s.PID)
	if err != nil {
		return 0
	}
	ps, err := proc.Wait()
	if err != nil {
		return 0
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// Signal implements Process: sig goes to the script's child (unshare
// --fork runs the command as its child, PID 1 of the container), or to the
// script itself when it has no child yet.
func (s Script) Signal(sig os.Signal) {
	target := s.PID
	if kids, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", s.PID, s.PID)); err == nil {
		if f := strings.Fields(string(kids)); len(f) > 0 {
			if k, err := strconv.Atoi(f[0]); err == nil {
				target = k
			}
		}
	}
	if p, err := os.FindProcess(target); err == nil {
		_ = p.Signal(sig)
	}
}

// Runtime is the OCI runtime run in the foreground (crun run, runc run),
// by its PID: it waits for the container's process, passes it the signals
// it gets, and exits with its status.
type Runtime struct{ PID int }

// Wait implements Process.
func (r Runtime) Wait() int { return Script(r).Wait() }

// Signal implements Process: the runtime passes sig on.
func (r Runtime) Signal(sig os.Signal) {
	if p, err := os.FindProcess(r.PID); err == nil {
		_ = p.Signal(sig)
	}
}

// ProcessOf is the first process of a container record that run in the
// foreground: the runtime, whose PID its Monitor file keeps, or, for a
// container of plumb before runtimes, the start script.
func ProcessOf(rec *plan.Record) (Process, error) {
	f, err := rec.Container()
	if err != nil {
		return nil, err
	}
	if f.Runtime == "" {
		pid, _ := plan.ContainerState(rec)
		return Script{PID: pid}, nil
	}
	data, err := os.ReadFile(plan.OverlayAt(f.Dir()).Monitor)
	if err != nil {
		return nil, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rec.ID(), err)
	}
	return Runtime{PID: pid}, nil
}

// StopAfter is how long a foreground container has to end after plumb
// passed it SIGINT or SIGTERM, before it is stopped.
const StopAfter = 2 * time.Second

// Foreground is a container run in the foreground: its journal's name and
// creation time (which tell it from a container of the same name run
// later) and its first process.
type Foreground struct {
	Name    string
	Created time.Time
	Proc    Process
	// StopAfter is the grace a signalled container gets; 0 is StopAfter.
	StopAfter time.Duration
}

// Supervise waits for the container's command with other plumb commands
// free to run meanwhile (the store's lock is let go), then undoes
// everything and gives the command's status. SIGINT or SIGTERM is passed
// to the command, as `docker run` does; if it has not ended StopAfter
// later, it is stopped (SIGTERM, then SIGKILL StopAfter after) and
// everything is undone all the same. A `plumb stop` from elsewhere ends it
// too: its status is still the one given.
func (f Foreground) Supervise(ctx context.Context, env plan.Env) (int, error) {
	after := f.StopAfter
	if after == 0 {
		after = StopAfter
	}
	env.St.Unlock()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	exited := make(chan int, 1)
	go func() { exited <- f.Proc.Wait() }()
	status, grace := 0, 0
	var sig os.Signal
	select {
	case status = <-exited:
	case sig = <-sigs:
	case <-ctx.Done(): // a signal that came before this wait began
		sig = syscall.SIGTERM
	}
	if sig != nil {
		// From here a second signal ends plumb at once (its default), as
		// for every other command; the container dies with plumb.
		signal.Stop(sigs)
		zerolog.Ctx(ctx).Warn().Msgf("%s received: passing it to the container's command", unix.SignalName(sig.(syscall.Signal)))
		f.Proc.Signal(sig)
		select {
		case status = <-exited:
		case <-time.After(after):
		}
		grace = int(after / time.Second)
	}
	ctx = context.WithoutCancel(ctx) // the undo must run, even after a signal
	undone, err := f.tearDown(ctx, env, grace, status)
	if err != nil || !undone || sig == nil {
		return status, err
	}
	select { // stopped by the teardown, if not before
	case status = <-exited:
	case <-time.After(time.Second):
	}
	return status, nil
}

// tearDown undoes the container, unless `plumb stop` did (and perhaps a
// new container of the same name was run since: not this one's to undo).
func (f Foreground) tearDown(ctx context.Context, env plan.Env, grace, status int) (bool, error) {
	if err := env.St.Lock(ctx, env.Wait); err != nil {
		return false, err
	}
	rec, err := env.St.Load(plan.ContainerKind.Name(), f.Name)
	if errors.Is(err, fs.ErrNotExist) || err == nil && !rec.Created.Equal(f.Created) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	// A container of version 1 keeps the network others joined in its own
	// record: it stays, exited, its status written as a shim writes it,
	// until they are gone (plumb rm). One of version 2 goes; its sandbox
	// stays while they live (plan.Remove).
	if members, err := plan.DependentsOf(env.St, rec); err == nil && len(members) > 0 {
		if f, err := rec.Container(); err == nil && f.Dir() != "" {
			writeExit(plan.OverlayAt(f.Dir()).Exit, plan.ExitStatus{ExitCode: status, StartedAt: rec.Created, FinishedAt: time.Now().UTC()})
		}
		var names []string
		for _, m := range members {
			names = append(names, m.Name)
		}
		zerolog.Ctx(ctx).Warn().Msgf("container %s ended; %s still share its network, so it stays (ps -a) until they are removed: then plumb rm %s", f.Name, strings.Join(names, ", "), f.Name)
		return false, nil
	}
	// Its directory goes too, upper layer included, as docker run --rm's
	// container layer does: the name is free for the next run, which
	// never takes another's upper layer.
	opts := plan.DownOptions{Grace: grace}
	if f, err := rec.Container(); err == nil && f.Dir() != "" {
		opts.Purge = actions.RemoveTree{Path: f.Dir()}
	}
	if _, err := plan.Remove(ctx, env, []*plan.Record{rec}, opts, false); err != nil {
		return false, fmt.Errorf("cleaning up %w", err)
	}
	return true, nil
}
