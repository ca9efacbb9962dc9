package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/rs/zerolog"

	"plumb/actions"
	"plumb/plan"
)

// StopCmd is `plumb stop`.
type StopCmd struct {
	Name   string `arg:"" predictor:"container" help:"The container."`
	RM     bool   `name:"rm" help:"Also delete its upper layer (what it wrote) and log."`
	Time   int    `name:"time" short:"t" default:"10" help:"Seconds to wait after SIGTERM before SIGKILL (a PID 1 without a handler ignores SIGTERM)."`
	DryRun bool   `name:"dry-run" help:"Print the commands and change nothing."`
	Output string `name:"output" short:"o" enum:"text,json,sh" default:"text" help:"${undo_output_help}"`
}

// Run stops the container and undoes its network and mount.
func (c *StopCmd) Run(d *deps) error {
	c.DryRun = printsOnly(c.DryRun, c.Output)
	if !c.DryRun {
		if err := d.lock(); err != nil {
			return err
		}
	}
	rec, err := d.store.Load(plan.ContainerKind.Name(), c.Name)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("plumb keeps no container named %s (`plumb ps -a` lists them)", c.Name)
	} else if err != nil {
		return err
	}
	if c.Time < 0 {
		return &plan.Refused{Flag: "time", Msg: "give 0 (SIGKILL at once) or more seconds"}
	}
	// Stopping needs no facts (the journal's undos do it); --rm needs
	// the layout to remove.
	f, ferr := rec.Container() // its directory is its own
	if whole, err := d.store.ContainerOf(rec); err == nil {
		f = whole // and its upper layer its root's, for the message below
	}
	if ferr != nil && c.RM {
		return fmt.Errorf("%w: its journal does not say where its upper layer is; nothing deleted", ferr)
	}
	opts := plan.DownOptions{Grace: c.Time}
	if c.Time == 0 {
		opts.Grace = -1 // docker stop -t 0: SIGKILL at once
	}
	if c.RM {
		opts.Purge = actions.RemoveTree{Path: f.Dir()}
	}
	td, err := plan.Remove(d.ctx, d.env(), []*plan.Record{rec}, opts, c.DryRun)
	if err != nil {
		return err
	}
	if c.DryRun {
		return render(d, td.Plan, c.Output)
	}
	fmt.Fprintf(d.stdout, "%s is stopped\n", rec.ID())
	if c.RM {
		fmt.Fprintf(d.stdout, "deleted %s\n", f.Dir())
	} else if ferr != nil {
		zerolog.Ctx(d.ctx).Warn().Msgf("%v: its upper layer is not known", ferr)
	} else if entries, err := os.ReadDir(f.Root.UpperDir); err == nil {
		fmt.Fprintf(d.stdout, "kept the upper layer %s (%d entries); `plumb stop %s --rm` would have deleted it\n", f.Root.UpperDir, len(entries), rec.Name)
	}
	return nil
}
