package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"plumb/config"
	"plumb/plan"
	"plumb/plan/firewall"
)

// The process's one config.Config is built here: from the flags (whose
// defaults kong takes from PLUMB_STATE_DIR, PLUMB_EXEC and PLUMB_FIREWALL)
// for the CLI, from the environment alone for the CNI plugin. These are
// the only places plumb reads its environment variables (XTABLES_LOCKFILE
// aside: actions reads it, the xtables tools' own convention).

// inProcess runs plumb's own steps in this process (see actions.Exec.Self):
// set by main, not by the tests that call run, whose steps run as processes.
var inProcess func(ctx context.Context, args []string) (code int, stderr string)

// cliConfig is the CLI's Config: its global flags, PLUMB_PROC (the /proc
// read for the host's firewalls, tests) and PLUMB_SELF (the binary that
// runs plumb's own steps, tests).
func cliConfig(cli *CLI) (config.Config, error) {
	fw, err := firewall.ByName(cli.Firewall)
	if err != nil {
		return config.Config{}, fmt.Errorf("--firewall: %w", err)
	}
	cfg := config.Config{StateDir: string(cli.StateDir), RootDir: string(cli.Root), Firewall: fw, Wait: cli.Wait,
		Proc: os.Getenv("PLUMB_PROC"), Self: inProcess, SelfPath: os.Getenv("PLUMB_SELF")}
	if cli.ExecMode == "each" {
		cfg.Exec = plan.Each
	}
	if err := cfg.Store().Layout.Check(); err != nil {
		return config.Config{}, err
	}
	return cfg, nil
}

// cniConfig is the CNI plugin's Config, from its environment: the CLI's
// variables PLUMB_STATE_DIR, PLUMB_ROOT (none: the root is the state
// directory; CNI keeps nothing there), PLUMB_EXEC, PLUMB_PROC and PLUMB_SELF, and
// PLUMB_WAIT (how long to wait for the state directory's lock, 60s). The
// firewall back end is the network config's, PLUMB_FIREWALL its default
// (see cni.ParseNetConf).
func cniConfig(getenv func(string) string) config.Config {
	dir := getenv("PLUMB_STATE_DIR")
	if dir == "" {
		dir = "/run/plumb"
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	wait := 60 * time.Second
	if w, err := time.ParseDuration(getenv("PLUMB_WAIT")); err == nil {
		wait = w
	}
	cfg := config.Config{StateDir: dir, RootDir: getenv("PLUMB_ROOT"), Wait: wait, Proc: getenv("PLUMB_PROC"), Self: inProcess, SelfPath: getenv("PLUMB_SELF")}
	if getenv("PLUMB_EXEC") == "each" {
		cfg.Exec = plan.Each
	}
	return cfg
}

// newDeps is a command's dependencies, with cfg.
func newDeps(ctx context.Context, cfg config.Config, stdin io.Reader, stdout io.Writer) *deps {
	return &deps{ctx: ctx, cfg: cfg, runner: cfg.Runner(), store: cfg.Store(), stdin: stdin, stdout: stdout,
		wait: cfg.Wait, mode: cfg.Exec, firewall: cfg.Firewall, proc: cfg.Proc, warned: &plan.Warned{}}
}
