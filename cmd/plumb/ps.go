package main

import "plumb/view"

// PsCmd is `plumb ps`.
type PsCmd struct {
	Output view.Output `name:"output" short:"o" enum:"text,json" default:"text" help:"text or json."`
}

// Run lists containers (see view.Ps).
func (c *PsCmd) Run(d *deps) error {
	t, err := view.Ps(d.store)
	if err != nil {
		return err
	}
	return t.Write(d.stdout, c.Output)
}
