package main

import (
	"errors"
	"fmt"

	"plumb/plan"
	"plumb/rootfs"
	"plumb/view"
)

// RecoverCmd is `plumb recover`.
type RecoverCmd struct {
	DryRun bool `name:"dry-run" help:"Print the undo commands recovery would run, and change nothing."`
}

// Help is the long help of `plumb recover --help`.
func (c *RecoverCmd) Help() string {
	return `A plan interrupted by a crash (SIGKILL, power loss) leaves its journal in the
state directory. recover undoes every step it records as started or done, in
reverse, including the one that was running (undos are idempotent, so undoing
what never happened is harmless). Running it again does nothing.`
}

// Run finishes every unfinished plan.
func (c *RecoverCmd) Run(d *deps) error {
	if c.DryRun {
		for _, h := range plan.Interrupted(d.store) {
			rec, err := d.store.Load(h.Kind, h.Name)
			if err != nil {
				return err
			}
			td, err := plan.Remove(d.ctx, d.env(), []*plan.Record{rec}, plan.DownOptions{Rollback: true}, true)
			if err != nil {
				return err
			}
			fmt.Fprintf(d.stdout, "# %s (state %s)\n", rec.ID(), rec.State)
			if err := td.Plan.Text(d.stdout); err != nil {
				return err
			}
		}
		left, err := rootfs.AbandonedStaging(d.store)
		for _, p := range left {
			fmt.Fprintf(d.stdout, "# would delete %s, left by a pull or import that was killed\n", p)
		}
		if _, errs := d.store.Headers(); len(errs) > 0 {
			return view.Unreadable(errs) // named, never undone
		}
		return err
	}
	if err := d.lock(); err != nil {
		return err
	}
	done, err := plan.Recover(d.ctx, d.runner, d.store)
	for _, id := range done {
		fmt.Fprintf(d.stdout, "recovered %s\n", id)
	}
	// A pull or import killed while it staged its layers left their
	// directory; none of plumb's journals names it.
	swept, serr := rootfs.SweepStaging(d.store)
	for _, p := range swept {
		fmt.Fprintf(d.stdout, "deleted %s, left by a pull or import that was killed\n", p)
	}
	err = errors.Join(err, serr)
	if len(done)+len(swept) == 0 && err == nil {
		fmt.Fprintln(d.stdout, "nothing to recover")
	}
	return err
}
