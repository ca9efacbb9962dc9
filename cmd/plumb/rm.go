package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/rs/zerolog"

	"plumb/actions"
	"plumb/plan"
)

// RmCmd is `plumb rm`: docker rm's words for what plumb stop --rm does,
// and for the upper layer a stop without --rm kept.
type RmCmd struct {
	Names  []string `arg:"" predictor:"container" help:"The containers."`
	Force  bool     `name:"force" short:"f" help:"Remove a running container too, killing it at once (SIGKILL), as docker rm -f."`
	DryRun bool     `name:"dry-run" help:"Print the commands and change nothing."`
	Output string   `name:"output" short:"o" enum:"text,json,sh" default:"text" help:"${undo_output_help}"`
	// IfShim is the PID of the shim of a container run with -d --rm,
	// which runs this rm: a container of that name whose shim is another
	// (run again since) is left alone.
	IfShim int `name:"if-shim" hidden:"" help:"Remove only the container whose shim has this PID."`
}

// Help is the long help of `plumb rm --help`.
func (c *RmCmd) Help() string {
	return `Removes containers as docker rm does. A container that has ended (run -d,
its command exited) is torn down as plumb stop --rm tears it down: its
network and mount undone from the journal, then ROOT/overlay/NAME (its upper
layer, /etc files and log) deleted. A running one is refused unless -f, which
kills it at once (plumb stop --rm --time 0). A container stopped without --rm
left only ROOT/overlay/NAME: rm deletes it. Each name is removed on its own;
rm goes on after a refusal and fails at the end, naming them.`
}

// Run removes each container.
func (c *RmCmd) Run(d *deps) error {
	c.DryRun = printsOnly(c.DryRun, c.Output)
	if !c.DryRun {
		if err := d.lock(); err != nil {
			return err
		}
	}
	var errs []error
	for _, name := range membersFirst(d.store, c.Names) {
		if err := c.remove(d, name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// membersFirst orders names so that containers which joined another's
// network come before the others: rm -f OWNER MEMBER removes both.
func membersFirst(st *plan.Store, names []string) []string {
	var members, rest []string
	for _, n := range names {
		if rec, err := st.LoadHeader(plan.ContainerKind.Name(), n); err == nil {
			if f, err := rec.Container(); err == nil && f.NetworkMode != "" {
				members = append(members, n)
				continue
			}
		}
		rest = append(rest, n)
	}
	return append(members, rest...)
}

func (c *RmCmd) remove(d *deps, name string) error {
	rec, err := d.store.Load(plan.ContainerKind.Name(), name)
	if errors.Is(err, fs.ErrNotExist) {
		return c.removeKept(d, name)
	} else if err != nil {
		return err
	}
	f, err := rec.Container()
	if err != nil {
		return fmt.Errorf("%w: its journal does not say where its upper layer is; nothing removed", err)
	}
	if c.IfShim != 0 && f.Dir() != "" {
		if data, err := os.ReadFile(plan.OverlayAt(f.Dir()).Shim); err != nil || strings.TrimSpace(string(data)) != strconv.Itoa(c.IfShim) {
			zerolog.Ctx(d.ctx).Info().Msgf("container %s is not the one shim %d ran: left alone", name, c.IfShim)
			return nil
		}
	}
	if _, state := plan.ContainerState(rec); state != "exited" && !c.Force {
		return fmt.Errorf("container %s is %s: stop it first (plumb stop %s), or plumb rm -f %s", name, state, name, name)
	}
	opts := plan.DownOptions{Grace: -1, Purge: actions.RemoveTree{Path: f.Dir()}}
	td, err := plan.Remove(d.ctx, d.env(), []*plan.Record{rec}, opts, c.DryRun)
	if err != nil {
		return err
	}
	if c.DryRun {
		return render(d, td.Plan, c.Output)
	}
	fmt.Fprintf(d.stdout, "%s is removed: deleted %s\n", rec.ID(), f.Dir())
	return nil
}

// removeKept deletes what a container stopped without --rm left: its
// directory under ROOT/overlay, which no journal holds any more.
func (c *RmCmd) removeKept(d *deps, name string) error {
	// A removal cut short (plumb killed) may have left the container's
	// root file system and sandbox, which nothing holds now: they go
	// first, as recover would take them.
	finished, purged := 0, false
	for _, o := range plan.Orphans(d.store) {
		if o.Name != name {
			continue
		}
		rec, err := d.store.Load(o.Kind, o.Name)
		if err != nil {
			return err
		}
		opts := plan.DownOptions{}
		if rec.Is(plan.RootfsKind) {
			opts.Purge, purged = actions.RemoveTree{Path: d.store.Layout.Overlay(name).Base}, true
		}
		td, err := plan.Remove(d.ctx, d.env(), []*plan.Record{rec}, opts, c.DryRun)
		if err != nil {
			return err
		}
		if c.DryRun {
			if err := render(d, td.Plan, c.Output); err != nil {
				return err
			}
			continue
		}
		finished++
		fmt.Fprintf(d.stdout, "%s is removed: container %s, which held it, was gone\n", rec.ID(), name)
	}
	dir := d.store.Layout.Overlay(name).Base
	if purged {
		return nil // the root file system's removal deleted dir
	}
	if _, err := os.Lstat(dir); err != nil {
		if c.DryRun || finished > 0 {
			return nil
		}
		if _, err := d.store.LoadHeader(plan.SandboxKind.Name(), name); err == nil {
			return fmt.Errorf("plumb keeps no container named %s; sandbox/%s is still held by the containers that joined it", name, name)
		}
		return fmt.Errorf("plumb keeps no container named %s (`plumb ps -a` lists them), nor what a stopped one left in %s", name, dir)
	}
	// Never under a mount: a container plumb keeps no journal of (run by
	// a runbook) would lose its upper layer while it runs.
	mounts, err := actions.Mounts()
	if err != nil {
		return err
	}
	for m := range mounts {
		if m == dir || strings.HasPrefix(m, dir+"/") {
			return fmt.Errorf("%s is mounted, though plumb keeps no container named %s (one a runbook made?): undo it first (its runbook's rollback), then plumb rm %s", m, name, name)
		}
	}
	rm := actions.RemoveTree{Path: dir}
	if c.DryRun {
		fmt.Fprintln(d.stdout, actions.Quote(rm.Argv()))
		return nil
	}
	if _, err := d.runner.Run(d.ctx, rm.Argv(), nil); err != nil {
		return err
	}
	zerolog.Ctx(d.ctx).Debug().Str("dir", dir).Msg("deleted what a stopped container left")
	fmt.Fprintf(d.stdout, "deleted %s, what container %s left when it stopped\n", dir, name)
	return nil
}
