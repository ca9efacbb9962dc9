package main

import (
	"fmt"

	"github.com/rs/zerolog"

	"plumb/plan"
)

// MigrateCmd is `plumb migrate`: the move of what a plumb before --root
// kept in the state directory to the root, and its step that rewrites a
// journal.
type MigrateCmd struct {
	Move    MigrateMoveCmd    `cmd:"" default:"withargs" help:"Move the layers, overlay layouts and images an older plumb kept in --state-dir to --root (the default of plumb migrate)."`
	Journal MigrateJournalCmd `cmd:"" help:"Rewrite the paths one journal names to where they moved (the step plumb migrate runs for each journal)."`
}

// MigrateMoveCmd plans and applies the move.
type MigrateMoveCmd struct {
	DryRun bool   `name:"dry-run" help:"Print the plan and change nothing."`
	Output string `name:"output" short:"o" enum:"text,json,sh" default:"text" help:"${plan_output_help}"`
}

func (c *MigrateMoveCmd) Help() string {
	return `An older plumb kept images (image/), imported layers (layers/) and the upper
directories of overlays and containers (overlay/) in the state directory, a tmpfs
that a reboot empties. plumb reads them there as they are, and keeps new ones under
--root; this moves the old ones there: mkdir of what the root lacks, mv of each
entry, a rewrite of each journal that names one, then rmdir of the emptied
directories, shown first like every plan and rolled back when a step fails. While
an overlay or a container of the old place is mounted it is refused, naming it: a
mount's directories cannot move. Stop them first.`
}

// Run moves, or prints the plan.
func (c *MigrateMoveCmd) Run(d *deps) error {
	c.DryRun = printsOnly(c.DryRun, c.Output)
	if !c.DryRun {
		if err := d.lock(); err != nil {
			return err
		}
	}
	p, err := plan.Migrate(d.store)
	if err != nil {
		return err
	}
	if p == nil {
		zerolog.Ctx(d.ctx).Info().Msgf("%s holds nothing of an older plumb to move to %s", d.store.Dir, d.store.RootDir())
		return nil
	}
	if c.DryRun {
		return render(d, p, c.Output)
	}
	rec, err := plan.Apply(d.ctx, d.runner, d.store, p, d.mode)
	if err != nil {
		return err
	}
	if err := plan.MigrateDone(d.store, rec); err != nil {
		return err
	}
	fmt.Fprintf(d.stdout, "%s\n", p.Summary)
	return nil
}

// MigrateJournalCmd is one step of a migration, which a person can also
// type. It takes no lock: the plan that runs it holds it.
type MigrateJournalCmd struct {
	From    []string `name:"from" required:"" placeholder:"PATH" help:"A path the journal names, as it was. Repeat it, each with its --to."`
	To      []string `name:"to" required:"" placeholder:"PATH" help:"Where that path is now."`
	Journal pathFlag `arg:"" help:"The journal: STATE_DIR/objects/KIND/NAME.json."`
}

// Run rewrites the journal.
func (c *MigrateJournalCmd) Run(d *deps) error {
	return plan.RewriteJournal(string(c.Journal), c.From, c.To)
}
