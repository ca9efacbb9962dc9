// Package config holds the one Config of a plumb process: where its state
// is kept, how it runs commands and which firewall back end new objects
// get. cmd/plumb builds it once, from flags and environment variables, and
// passes it down; no package below cmd reads the environment for it.
package config

import (
	"context"
	"time"

	"plumb/actions"
	"plumb/plan"
	"plumb/plan/firewall"
)

// Config is what every command and the CNI plugin share.
type Config struct {
	// StateDir is where journals, the index and locks are kept
	// (--state-dir, PLUMB_STATE_DIR; /run/plumb), an absolute path.
	StateDir string
	// RootDir is where data that outlives a boot is kept (--root: images,
	// layers, upper directories); "" keeps it in StateDir, as today.
	RootDir string
	// Firewall is the back end of the rules of objects made now
	// (--firewall, PLUMB_FIREWALL); an object keeps the one it was made with.
	Firewall firewall.Backend
	// Exec is how steps run: batched (the default) or one process each
	// (--exec, PLUMB_EXEC=each), links then read by ip -j link show.
	Exec plan.Mode
	// Wait is how long to wait for another plumb holding a lock
	// (--wait; PLUMB_WAIT for the CNI plugin).
	Wait time.Duration
	// Proc is the /proc read for the host's firewalls ("" is /proc;
	// PLUMB_PROC, for tests).
	Proc string
	// Self runs a step that is one of plumb's own commands inside this
	// process; SelfPath (PLUMB_SELF) names a binary that runs them as
	// processes instead (see actions.Exec).
	Self     func(ctx context.Context, args []string) (code int, stderr string)
	SelfPath string
}

// Runner is the runner of real processes this Config asks for.
func (c Config) Runner() actions.Exec {
	return actions.Exec{ProbeByCommand: c.Exec == plan.Each, Self: c.Self, SelfPath: c.SelfPath}
}

// Store is the state directory's store.
func (c Config) Store() *plan.Store { return plan.NewStore(c.StateDir) }

// Env is what plan's bring-up and teardown work with, for one call: its
// own record of the warnings it logged.
func (c Config) Env(r actions.Runner, st *plan.Store) plan.Env {
	return plan.Env{R: r, St: st, Wait: c.Wait, Mode: c.Exec, Proc: c.Proc, Warned: &plan.Warned{}}
}
