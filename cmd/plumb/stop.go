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
	Name   string `arg:"" help:"The container."`
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
		return fmt.Errorf("plumb keeps no container named %s (`plumb ps` lists them)", c.Name)
	} else if err != nil {
		return err
	}
	if c.Time < 1 {
		return &plan.Refused{Flag: "time", Msg: "give at least 1 second"}
	}
	// Stopping needs no facts (the journal's undos do it); --rm needs
	// the layout to remove.
	f, ferr := rec.Container()
	var purge actions.Action
	if c.RM {
		if ferr != nil {
			return ferr
		}
		purge = actions.RemoveTree{Path: f.Root.Layout}
	}
	td, err := plan.TearDown(d.ctx, d.env(), rec, plan.DownOptions{Grace: c.Time}, c.DryRun)
	if err != nil {
		return err
	}
	if c.DryRun {
		if purge != nil {
			td.Plan.Steps = append(td.Plan.Steps, plan.Step{Action: purge})
		}
		return render(d, td.Plan, c.Output)
	}
	fmt.Fprintf(d.stdout, "%s is stopped\n", rec.ID())
	if purge != nil {
		if err := plan.RunOne(d.ctx, d.runner, purge); err != nil {
			return err
		}
		fmt.Fprintf(d.stdout, "deleted %s\n", f.Root.Layout)
	} else if ferr != nil {
		zerolog.Ctx(d.ctx).Warn().Msgf("%v: its upper layer is not known", ferr)
	} else if entries, err := os.ReadDir(f.Root.UpperDir); err == nil {
		fmt.Fprintf(d.stdout, "kept the upper layer %s (%d entries); `plumb stop %s --rm` would have deleted it\n", f.Root.UpperDir, len(entries), rec.Name)
	}
	return nil
}
