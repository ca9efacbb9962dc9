package main

import (
	"os"

	"plumb/compose"
	"plumb/plan"
	"plumb/view"
)

// StatusCmd is `plumb status`.
type StatusCmd struct {
	Output view.Output `name:"output" short:"o" enum:"text,json" default:"text" help:"text or json."`
	All    bool        `name:"all" help:"List each layer of an image on a row of its own; without it, an image's layers that are up are counted on the image's row."`
}

// Run lists every object (see view.Status), and each Compose project
// whose up was interrupted: its journal is left for recover to roll back.
// A sandbox or root file system that nothing holds says so (plan.Orphans).
func (c *StatusCmd) Run(d *deps) error {
	t, err := view.Status(d.store, c.All)
	if err != nil {
		return err
	}
	orphans := map[string]bool{}
	for _, r := range plan.Orphans(d.store) {
		orphans[r.ID()] = true
	}
	for i, row := range t.Rows {
		if orphans[row.Kind+"/"+row.Name] {
			t.Rows[i].Summary += "; held by no container (left by a crash): plumb recover removes it"
		}
	}
	for _, name := range compose.InterruptedProjects(d.store.Layout) {
		row := view.StatusRow{Kind: "compose", Name: name, State: plan.State("interrupted"),
			Summary: "an up was interrupted; plumb recover (or its next compose up or down) rolls the project back"}
		if fi, err := os.Stat(compose.JournalPath(d.store.Layout, name)); err == nil {
			row.Updated = fi.ModTime().UTC().Format("2006-01-02T15:04:05Z07:00")
		}
		t.Rows = append(t.Rows, row)
	}
	return t.Write(d.stdout, c.Output)
}
