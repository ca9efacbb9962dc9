package main

import (
	"errors"
	"fmt"
	"os"

	"plumb/compose"
	"plumb/container"
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
what never happened is harmless). A container's sandbox or root file system
that no container holds any more (a crash between making them and the
container, or between removing the container and them) is removed too. An up of a Compose project killed half-way
is then rolled back from the project's journal, as its next compose up or
down would. Running it again does nothing.`
}

// Run finishes every unfinished plan.
func (c *RecoverCmd) Run(d *deps) error {
	if c.DryRun {
		for _, h := range plan.Interrupted(d.store) {
			if err := printUndo(d, h, fmt.Sprintf("state %s", h.State)); err != nil {
				return err
			}
		}
		for _, h := range plan.Orphans(d.store) {
			if err := printUndo(d, h, "held by no container"); err != nil {
				return err
			}
		}
		for _, name := range compose.InterruptedProjects(d.store.Layout) {
			fmt.Fprintf(d.stdout, "# compose/%s: an up was interrupted; recover rolls the project back from its journal, after the objects above\n", name)
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
	// A Compose project's up, killed: once its objects are whole again
	// (above), the project goes back to what it was before that up.
	projects := 0
	if err == nil {
		for _, name := range compose.InterruptedProjects(d.store.Layout) {
			projects++
			if perr := recoverProject(d, name); perr != nil {
				err = errors.Join(err, perr)
				continue
			}
			fmt.Fprintf(d.stdout, "recovered compose/%s\n", name)
		}
	}
	if len(done)+len(swept)+projects == 0 && err == nil {
		fmt.Fprintln(d.stdout, "nothing to recover")
	}
	return err
}

// printUndo prints, under a comment saying why, the undos recover would
// run for the object whose header is h.
func printUndo(d *deps, h *plan.Record, why string) error {
	rec, err := d.store.Load(h.Kind, h.Name)
	if err != nil {
		return err
	}
	td, err := plan.Remove(d.ctx, d.env(), []*plan.Record{rec}, plan.DownOptions{Rollback: true}, true)
	if err != nil {
		return err
	}
	fmt.Fprintf(d.stdout, "# %s (%s)\n", rec.ID(), why)
	return td.Plan.Text(d.stdout)
}

// recoverProject rolls back the interrupted up of project name, as the
// next compose up or down would, with the project as plumb's records
// know it (the file may be gone).
func recoverProject(d *deps, name string) error {
	p, err := compose.Recorded(d.store, name)
	if err != nil {
		return fmt.Errorf("compose project %s: %w", name, err)
	}
	rt, err := container.ChooseRuntime("", d.store.Layout.Dir, d.proc)
	if err != nil {
		return fmt.Errorf("compose project %s: %w", name, err)
	}
	resolv := os.Getenv("PLUMB_RESOLV_CONF")
	if resolv == "" {
		resolv = "/etc/resolv.conf"
	}
	return p.Recover(d.ctx, d.env(), compose.Options{Runtime: rt, ResolvConf: resolv}, false, d.stdout)
}
