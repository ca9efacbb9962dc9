package main

import (
	"io"
	"os"

	"github.com/containernetworking/cni/pkg/utils"

	"plumb/cni"
	"plumb/plan"
)

// CNICmd groups what the CLI says of plumb as a CNI plugin.
type CNICmd struct {
	Plan CNIPlanCmd `cmd:"" help:"Print the plan a CNI ADD or DEL would run with this environment and config; change nothing."`
}

// CNIPlanCmd is `plumb cni plan`.
type CNIPlanCmd struct {
	Command     string `name:"command" env:"CNI_COMMAND" enum:"ADD,DEL" default:"ADD" help:"ADD or DEL (${env})."`
	ContainerID string `name:"container-id" env:"CNI_CONTAINERID" required:"" placeholder:"ID" help:"The runtime's container ID (${env})."`
	Netns       string `name:"netns" env:"CNI_NETNS" placeholder:"PATH" help:"The container's network namespace file (${env}); DEL may leave it empty."`
	IfName      string `name:"ifname" env:"CNI_IFNAME" default:"eth0" help:"The interface's name in the container (${env})."`
	Config      string `name:"config" default:"-" placeholder:"FILE" help:"The plugin's config, as a runtime gives it on stdin (- reads stdin)."`
	Output      string `name:"output" short:"o" enum:"text,json,sh" default:"text" help:"text (one command a line), json, or sh (a bash runbook with rollback)."`
}

// Help is the long help of `plumb cni plan --help`.
func (c *CNIPlanCmd) Help() string {
	return `Given the environment a runtime sets (CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS,
CNI_IFNAME) and the plugin config it writes on stdin, prints the commands plumb,
started as a CNI plugin, would run: for ADD the bridge's plan when plumb keeps
no bridge of that name yet, then the container's attachment with the address
it would get now; for DEL the undos recorded for that attachment. Nothing is
changed and no lock is taken. Flags override the environment.`
}

// Run plans the call and prints the plan.
func (c *CNIPlanCmd) Run(d *deps) error {
	var in io.Reader = d.stdin
	if c.Config != "-" {
		f, err := os.Open(c.Config)
		if err != nil {
			return &plan.Refused{Flag: "config", Msg: err.Error()}
		}
		defer f.Close()
		in = f
	}
	data, err := io.ReadAll(in)
	if err != nil {
		return err
	}
	if e := utils.ValidateContainerID(c.ContainerID); e != nil {
		return &plan.Refused{Flag: "container-id", Msg: e.Msg}
	}
	conf, cerr := cni.ParseNetConf(data, d.cfg.Firewall.Name())
	if cerr != nil {
		return &plan.Refused{Flag: "config", Msg: cerr.Error()}
	}
	plug := &cni.Plugin{Env: d.env()}
	args := cni.Args{ContainerID: c.ContainerID, Netns: c.Netns, IfName: c.IfName}
	if c.Command == "DEL" {
		p, err := plug.PlanDel(d.ctx, conf, args)
		if err != nil {
			return err
		}
		return render(d, p, c.Output)
	}
	plans, err := plug.PlanAdd(d.ctx, conf, args)
	if err != nil {
		return err
	}
	return renderPlans(d, plans, c.Output, "cni-add-"+cni.ID(conf, args))
}
