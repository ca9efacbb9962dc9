package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/rs/zerolog"

	"plumb/actions"
	"plumb/plan"
)

// VethCmd groups the point-to-point network's commands.
type VethCmd struct {
	Up   VethUpCmd   `cmd:"" help:"Connect a container to the host with a veth pair, a route, forwarding and NAT."`
	Down VethDownCmd `cmd:"" help:"Undo what 'veth up' applied, from its journal."`
}

// VethUpCmd is `plumb veth up`; its defaults are the document's variables.
type VethUpCmd struct {
	PID    pidFlag        `name:"pid" xor:"target" required:"" placeholder:"PID" help:"The container's process (the document's CONTAINER_PID)."`
	Netns  netnsFlag      `name:"netns" xor:"target" required:"" placeholder:"NAME" help:"A named network namespace (ip netns add NAME) instead of a PID."`
	HostIf actions.IfName `name:"host-if" default:"veth-host" help:"Host end of the veth pair (HOST_IF)."`
	ContIf actions.IfName `name:"cont-if" default:"veth-container" help:"Container end of the veth pair (CONT_IF)."`
	Subnet subnetFlag     `name:"subnet" default:"10.200.0.0/24" help:"The pair's subnet (SUBNET)."`
	HostIP addrFlag       `name:"host-ip" default:"10.200.0.1" help:"Host end's address, the container's gateway (HOST_IP)."`
	ContIP addrFlag       `name:"cont-ip" default:"10.200.0.2" help:"Container end's address (CONT_IP)."`
	Uplink actions.IfName `name:"uplink" placeholder:"IF" help:"Interface NAT sends traffic out of (HOST_NET_IF); default: the default route's."`
	NoNAT  bool           `name:"no-nat" help:"Leave out forwarding and NAT: the container reaches the host only."`
	DryRun bool           `name:"dry-run" help:"Print the plan and change nothing; needs no root."`
	Output string         `name:"output" short:"o" enum:"text,json,sh" default:"text" help:"Plan format: text (one command a line), json, or sh (a bash runbook with rollback); sh implies --dry-run."`
}

// Help is the long help of `plumb veth up --help`.
func (c *VethUpCmd) Help() string {
	return `Runs the document's steps 3–11 with its variables as defaults:

  ip link add veth-host type veth peer name veth-container
  ip link set veth-container netns $CONTAINER_PID
  ... addresses, links up, default route, ip_forward, FORWARD and NAT rules

Each step is journaled in the state directory before it runs. If one fails,
the steps already done are undone in reverse and plumb exits 1. 'plumb veth
down --host-if veth-host' later undoes exactly what was applied.`
}

func (c *VethUpCmd) recipe() *plan.Veth {
	v := &plan.Veth{HostIf: c.HostIf, ContIf: c.ContIf, Subnet: c.Subnet.Prefix,
		HostIP: c.HostIP.Addr, ContIP: c.ContIP.Addr, Uplink: c.Uplink, NoNAT: c.NoNAT}
	if c.PID != 0 {
		v.Target.PID = int(c.PID)
	} else {
		v.Target.Name = string(c.Netns)
	}
	return v
}

// Run plans the network and prints or applies it.
func (c *VethUpCmd) Run(d *deps) error {
	c.DryRun = c.DryRun || c.Output == "sh" // a runbook is printed, not run
	v := c.recipe()
	if err := v.Check(); err != nil {
		return err
	}
	if err := v.FindUplink(d.ctx, d.runner); err != nil {
		return err
	}
	p := v.Plan()
	if c.DryRun {
		if rec, err := d.store.Load(p.Kind, p.Name); err == nil && rec.State == plan.StateUp {
			zerolog.Ctx(d.ctx).Warn().Msgf("%s is already up; applying would change nothing", p.ID())
		}
		return render(d, p, c.Output)
	}
	if err := d.lock(); err != nil {
		return err
	}
	rec, err := d.store.Load(p.Kind, p.Name)
	switch {
	case err == nil:
		return alreadyUp(d, rec, p, "up", fmt.Sprintf("plumb veth down --host-if %s", p.Name))
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	if err := v.Preflight(d.ctx, d.runner); err != nil {
		return err
	}
	if _, err := plan.Apply(d.ctx, d.runner, d.store, p, d.mode); err != nil {
		return err
	}
	if c.Output == "json" {
		return p.JSON(d.stdout)
	}
	_, err = fmt.Fprintf(d.stdout, "%s is up: %d steps applied\n", p.ID(), len(p.Steps))
	return err
}

// alreadyUp answers `up` for an object plumb already keeps: nothing to do
// when it was applied with the same steps, a refusal otherwise.
func alreadyUp(d *deps, rec *plan.Record, p *plan.Plan, state, downCmd string) error {
	if rec.State != plan.StateUp {
		return &plan.Refused{Msg: fmt.Sprintf("%s has an unfinished plan (state %s); run `plumb recover` first", rec.ID(), rec.State)}
	}
	if !plan.SameInput(rec, p) {
		return &plan.Refused{Msg: fmt.Sprintf("%s is already %s with other settings (%s); run `%s` first", rec.ID(), state, rec.Summary, downCmd)}
	}
	_, err := fmt.Fprintf(d.stdout, "%s is already %s (since %s); nothing changed\n", rec.ID(), state, rec.Created.Format("2006-01-02 15:04:05 MST"))
	return err
}

// VethDownCmd is `plumb veth down`.
type VethDownCmd struct {
	HostIf actions.IfName `name:"host-if" required:"" placeholder:"IF" help:"Host end of the pair that 'veth up' made; names the object."`
	DryRun bool           `name:"dry-run" help:"Print the undo commands and change nothing."`
	Output string         `name:"output" short:"o" enum:"text,json,sh" default:"text" help:"Format of --dry-run's output: text, json, or sh (a bash runbook); sh implies --dry-run."`
}

// Run undoes the recorded steps in reverse.
func (c *VethDownCmd) Run(d *deps) error {
	c.DryRun = c.DryRun || c.Output == "sh" // a runbook is printed, not run
	return down(d, "veth", c.HostIf.String(), c.DryRun, c.Output)
}

// down undoes one recorded object of any kind.
func down(d *deps, kind, name string, dryRun bool, output string) error {
	if !dryRun {
		if err := d.lock(); err != nil {
			return err
		}
	}
	rec, err := d.store.Load(kind, name)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("plumb keeps no %s named %s in %s (`plumb status` lists what it keeps)", kind, name, d.store.Dir)
	}
	if err != nil {
		return err
	}
	if dryRun {
		undos, err := plan.UndoPlan(d.store, rec)
		if err != nil {
			return err
		}
		p := &plan.Plan{Kind: kind, Name: name}
		for _, u := range undos {
			p.Steps = append(p.Steps, plan.Step{Action: u})
		}
		return render(d, p, output)
	}
	ran, err := plan.Down(d.ctx, d.runner, d.store, rec)
	if err != nil {
		return fmt.Errorf("%s: %w; the journal keeps what is left, run this again or `plumb recover`", rec.ID(), err)
	}
	_, err = fmt.Fprintf(d.stdout, "%s is down: %d undo commands run\n", rec.ID(), len(ran))
	return err
}

func render(d *deps, p *plan.Plan, format string) error {
	switch format {
	case "json":
		return p.JSON(d.stdout)
	case "sh":
		return p.Shell(d.stdout, "plumb "+strings.Join(os.Args[1:], " "))
	}
	return p.Text(d.stdout)
}
