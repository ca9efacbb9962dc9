package main

import "plumb/view"

// StatusCmd is `plumb status`.
type StatusCmd struct {
	Output view.Output `name:"output" short:"o" enum:"text,json" default:"text" help:"text or json."`
	All    bool        `name:"all" help:"List each layer of an image on a row of its own; without it, an image's layers that are up are counted on the image's row."`
}

// Run lists every object (see view.Status).
func (c *StatusCmd) Run(d *deps) error {
	t, err := view.Status(d.store, c.All)
	if err != nil {
		return err
	}
	return t.Write(d.stdout, c.Output)
}
