package main

import "plumb/view"

// The words a Docker user types without thinking, each the same command
// (the same type, so the same code path and plan) as the plumb command its
// help names.

// NetworkCmd is docker network's words for the bridge commands.
type NetworkCmd struct {
	Create     BridgeUpCmd       `cmd:"" help:"The same as 'plumb bridge up' (docker network create): a bridge network."`
	Ls         BridgeLsCmd       `cmd:"" help:"The same as 'plumb bridge ls' (docker network ls)."`
	Rm         BridgeDownCmd     `cmd:"" help:"The same as 'plumb bridge down' (docker network rm)."`
	Connect    BridgeAttachCmd   `cmd:"" help:"The same as 'plumb bridge attach' (docker network connect; the container by --pid or --netns)."`
	Disconnect BridgeDetachCmd   `cmd:"" help:"The same as 'plumb bridge detach' (docker network disconnect)."`
	Inspect    NetworkInspectCmd `cmd:"" help:"The same as 'plumb inspect bridge/NAME' (docker network inspect)."`
}

// NetworkInspectCmd is `plumb network inspect NAME`: `plumb inspect
// bridge/NAME`.
type NetworkInspectCmd struct {
	Name   string      `arg:"" predictor:"bridge" help:"The bridge."`
	Output view.Output `name:"output" short:"o" enum:"text,json" default:"text" help:"text, or json in docker inspect's terms."`
	Format string      `name:"format" short:"f" placeholder:"TEMPLATE" help:"A Go template over the document -o json prints, as docker inspect -f."`
}

// Run prints the bridge as inspect does.
func (c *NetworkInspectCmd) Run(d *deps) error {
	in := InspectCmd{Name: "bridge/" + c.Name, Output: c.Output, Format: c.Format}
	return in.Run(d)
}
