package main

import (
	"fmt"

	"plumb/plan"
)

// LayerCmd groups the layer commands.
type LayerCmd struct {
	Import LayerImportCmd `cmd:"" help:"Unpack a root file system tarball as a layer that 'plumb run --layer' can name."`
}

// LayerImportCmd is `plumb layer import`.
type LayerImportCmd struct {
	File   pathFlag `arg:"" help:"A root file system as FILE.tar or FILE.tar.gz."`
	Name   string   `name:"name" required:"" help:"The layer's name."`
	DryRun bool     `name:"dry-run" help:"Print the plan and change nothing."`
	Output string   `name:"output" short:"o" enum:"text,json,sh" default:"text" help:"${plan_output_help}"`
}

// Run unpacks the tarball under STATE_DIR/layers/NAME.
func (c *LayerImportCmd) Run(d *deps) error {
	c.DryRun = printsOnly(c.DryRun, c.Output)
	return upSay(d, &plan.Layer{Name: c.Name, File: string(c.File)}, c.DryRun, c.Output, func(p *plan.Plan) string {
		return fmt.Sprintf("layer %s is %s", c.Name, p.Facts.(plan.LayerFacts).Dir)
	})
}
