package main

import "plumb/view"

// InspectCmd is `plumb inspect`.
type InspectCmd struct {
	Name   string      `arg:"" predictor:"object" help:"The object: NAME, or KIND/NAME when several kinds use the name."`
	Output view.Output `name:"output" short:"o" enum:"text,json" default:"text" help:"text, or json in docker inspect's terms."`
	Format string      `name:"format" short:"f" placeholder:"TEMPLATE" help:"A Go template over the document -o json prints, as docker inspect -f: {{.NetworkSettings.IPAddress}}."`
}

// Help is the long help of `plumb inspect --help`.
func (c *InspectCmd) Help() string {
	return `Shows one object in full. -o json speaks docker inspect's language where it
fits: NetworkSettings (IPAddress, IPPrefixLen, Gateway, GlobalIPv6Address,
GlobalIPv6PrefixLen, IPv6Gateway, MacAddress, SandboxKey, Networks, Ports) for a network attachment or veth, GraphDriver (Name "overlay",
Data with LowerDir, UpperDir, WorkDir, MergedDir) for an overlay; then the steps
applied, each with its status and recorded undo.`
}

// Run prints the object.
func (c *InspectCmd) Run(d *deps) error {
	v, err := view.Inspect(d.ctx, d.env(), c.Name)
	if err != nil {
		return err
	}
	return view.Print(d.stdout, v, c.Output, c.Format)
}
