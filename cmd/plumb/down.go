package main

import "plumb/plan"

// DownCmd is `plumb down`.
type DownCmd struct {
	Name   string `arg:"" predictor:"object" help:"The object: NAME, or KIND/NAME when several kinds use the name."`
	DryRun bool   `name:"dry-run" help:"Print the undo commands and change nothing."`
	Output string `name:"output" short:"o" enum:"text,json,sh" default:"text" help:"${undo_output_help}"`
}

// Run undoes any object by name, with its kind's own rules (plan.Remove):
// a bridge with containers attached is refused, a busy overlay is refused
// with who holds it.
func (c *DownCmd) Run(d *deps) error {
	c.DryRun = printsOnly(c.DryRun, c.Output)
	if !c.DryRun {
		if err := d.lock(); err != nil {
			return err
		}
	}
	rec, err := plan.Find(d.store, c.Name)
	if err != nil {
		return err
	}
	switch {
	case rec.Is(plan.BridgeKind):
		return bridgeDown(d, rec, false, c.DryRun, c.Output)
	case rec.Is(plan.OverlayKind):
		return unmount(d, rec, rec.Name, false, false, c.DryRun, c.Output)
	}
	return downRecord(d, rec, c.DryRun, c.Output)
}
