package main

import "plumb/view"

// PsCmd is `plumb ps`.
type PsCmd struct {
	All    bool        `name:"all" short:"a" help:"Exited containers too, with their exit status (as docker ps -a)."`
	Output view.Output `name:"output" short:"o" enum:"text,json" default:"text" help:"text or json."`
}

// Run lists containers (see view.Ps): running ones, or all with -a.
func (c *PsCmd) Run(d *deps) error {
	t, err := view.Ps(d.store, c.All)
	if err != nil {
		return err
	}
	return t.Write(d.stdout, c.Output)
}
