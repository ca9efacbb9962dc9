package main

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"text/tabwriter"

	"github.com/rs/zerolog"

	"plumb/actions"
	"plumb/plan"
)

// BridgeCmd groups the docker0-like network's commands.
type BridgeCmd struct {
	Up     BridgeUpCmd     `cmd:"" help:"Create a bridge network with a gateway address, forwarding and NAT."`
	Attach BridgeAttachCmd `cmd:"" help:"Join a container to a bridge: a veth pair, an address, a default route, published ports."`
	Detach BridgeDetachCmd `cmd:"" help:"Undo what 'bridge attach' made for one container."`
	Down   BridgeDownCmd   `cmd:"" help:"Remove a bridge, its rules, and (with --force) its containers' attachments."`
	Ls     BridgeLsCmd     `cmd:"" help:"List bridges and the containers attached to them."`
}

// BridgeUpCmd is `plumb bridge up`.
type BridgeUpCmd struct {
	Name    actions.IfName `arg:"" help:"The bridge's interface name (like docker0)."`
	Subnet  subnetFlag     `name:"subnet" required:"" placeholder:"CIDR" help:"The network's subnet, such as 10.88.0.0/24."`
	Gateway addrFlag       `name:"gateway" placeholder:"IP" help:"The bridge's own address, the containers' gateway (default: the subnet's first host)."`
	Uplink  actions.IfName `name:"uplink" placeholder:"IF" help:"The interface traffic leaves by (default: the default route's); its MTU is checked."`
	NoNAT   bool           `name:"no-nat" help:"No forwarding and no iptables rules: containers reach each other and the host only."`
	MTU     int            `name:"mtu" help:"The bridge's MTU (and its veth pairs')."`
	DryRun  bool           `name:"dry-run" help:"Print the plan and change nothing."`
	Output  string         `name:"output" short:"o" enum:"text,json,sh" default:"text" help:"Plan format: text (one command a line), json, or sh (a bash runbook with rollback); json and sh imply --dry-run."`
}

// Help is the long help of `plumb bridge up --help`.
func (c *BridgeUpCmd) Help() string {
	return `Creates the bridge (ip link add NAME type bridge), gives it the gateway address,
brings it up, turns on forwarding, and adds its rules in chains of plumb's own:
filter PLUMB-NAME (jumped to from the top of FORWARD), nat PLUMB-NAME-NAT
(from POSTROUTING: -s SUBNET ! -o NAME -j MASQUERADE, as Docker does) and nat
PLUMB-NAME-DNAT (from PREROUTING and OUTPUT, for published ports). Every rule
carries -m comment --comment plumb:NAME. No chain policy is ever changed.`
}

func (c *BridgeUpCmd) recipe() *plan.Bridge {
	return &plan.Bridge{Name: c.Name, Subnet: c.Subnet.Prefix, Gateway: c.Gateway.Addr, Uplink: c.Uplink, NoNAT: c.NoNAT, MTU: c.MTU}
}

// Run plans the bridge and prints or applies it.
func (c *BridgeUpCmd) Run(d *deps) error {
	c.DryRun = c.DryRun || c.Output == "sh" // a runbook is printed, not run
	b := c.recipe()
	if err := b.Check(); err != nil {
		return err
	}
	p := b.Plan()
	if c.DryRun {
		return render(d, p, c.Output)
	}
	if err := d.lock(); err != nil {
		return err
	}
	rec, err := d.store.Load(p.Kind, p.Name)
	switch {
	case err == nil:
		return alreadyUp(d, rec, p, "up", "plumb bridge down "+p.Name)
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	warnings, err := b.Preflight(d.ctx, d.runner, d.store)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		zerolog.Ctx(d.ctx).Warn().Msg(w)
	}
	if _, err := plan.Apply(d.ctx, d.runner, d.store, p, d.mode); err != nil {
		return err
	}
	if c.Output == "json" {
		return p.JSON(d.stdout)
	}
	_, err = fmt.Fprintf(d.stdout, "%s is up: %s\n", p.ID(), p.Summary)
	return err
}

// portFlag is a published port, HOST:CONTAINER[/tcp|/udp].
type portFlag struct{ plan.Port }

func (f *portFlag) UnmarshalText(b []byte) error {
	p, err := plan.ParsePort(string(b))
	f.Port = p
	return err
}

// BridgeAttachCmd is `plumb bridge attach`.
type BridgeAttachCmd struct {
	Name    actions.IfName `arg:"" help:"The bridge, made by 'bridge up'."`
	PID     pidFlag        `name:"pid" xor:"target" required:"" placeholder:"PID" help:"The container's process."`
	Netns   netnsFlag      `name:"netns" xor:"target" required:"" placeholder:"NAME" help:"A named network namespace instead of a PID."`
	IP      addrFlag       `name:"ip" placeholder:"IP" help:"The container's address (default: the next free one of the subnet)."`
	If      actions.IfName `name:"if" default:"eth0" help:"The interface's name inside the container."`
	Publish []portFlag     `name:"publish" sep:"none" placeholder:"HOST:CONTAINER[/tcp|/udp]" help:"Make a container port reachable at a host port; repeat for more."`
	DryRun  bool           `name:"dry-run" help:"Print the plan and change nothing."`
	Output  string         `name:"output" short:"o" enum:"text,json,sh" default:"text" help:"Plan format: text (one command a line), json, or sh (a bash runbook with rollback); json and sh imply --dry-run."`
}

func target(pid pidFlag, netns netnsFlag) actions.Netns {
	if pid != 0 {
		return actions.Netns{PID: int(pid)}
	}
	return actions.Netns{Name: string(netns)}
}

// loadBridge reads a bridge's record, with an error that says what to do.
func loadBridge(d *deps, name string) (*plan.Record, error) {
	rec, err := d.store.Load("bridge", name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &plan.Refused{Msg: fmt.Sprintf("plumb keeps no bridge named %s (create it with `plumb bridge up %s --subnet CIDR`)", name, name)}
	}
	return rec, err
}

// Run plans the attachment and prints or applies it. The address is chosen
// under the state directory's lock, so concurrent attaches never collide.
func (c *BridgeAttachCmd) Run(d *deps) error {
	c.DryRun = c.DryRun || c.Output == "sh" // a runbook is printed, not run
	if !c.DryRun {
		if err := d.lock(); err != nil {
			return err
		}
	}
	br, err := loadBridge(d, c.Name.String())
	if err != nil {
		return err
	}
	a := &plan.Attach{Bridge: br, Target: target(c.PID, c.Netns), IP: c.IP.Addr, If: c.If}
	for _, p := range c.Publish {
		a.Publish = append(a.Publish, p.Port)
	}
	if err := a.Check(d.store); err != nil {
		return err
	}
	if err := a.Allocate(d.store); err != nil {
		return err
	}
	p := a.Plan()
	if c.DryRun {
		return render(d, p, c.Output)
	}
	if err := a.Preflight(d.ctx, d.runner, d.store); err != nil {
		return err
	}
	if _, err := plan.Apply(d.ctx, d.runner, d.store, p, d.mode); err != nil {
		return err
	}
	if c.Output == "json" {
		return p.JSON(d.stdout)
	}
	_, err = fmt.Fprintf(d.stdout, "%s is attached to %s as %s\n", a.Target.Label(), br.Name, a.IP)
	return err
}

// BridgeDetachCmd is `plumb bridge detach`.
type BridgeDetachCmd struct {
	Name   actions.IfName `arg:"" help:"The bridge."`
	PID    pidFlag        `name:"pid" xor:"which" required:"" placeholder:"PID" help:"The container's process."`
	Netns  netnsFlag      `name:"netns" xor:"which" required:"" placeholder:"NAME" help:"The container's named network namespace."`
	IP     addrFlag       `name:"ip" xor:"which" required:"" placeholder:"IP" help:"The container's address on the bridge."`
	DryRun bool           `name:"dry-run" help:"Print the undo commands and change nothing."`
	Output string         `name:"output" short:"o" enum:"text,json,sh" default:"text" help:"Format of --dry-run's output: text, json, or sh (a bash runbook); sh implies --dry-run."`
}

// Run undoes one attachment and releases its address.
func (c *BridgeDetachCmd) Run(d *deps) error {
	c.DryRun = c.DryRun || c.Output == "sh" // a runbook is printed, not run
	if _, err := loadBridge(d, c.Name.String()); err != nil {
		return err
	}
	var t actions.Netns
	if c.PID != 0 || c.Netns != "" {
		t = target(c.PID, c.Netns)
	}
	rec, err := plan.FindAttachment(d.store, c.Name.String(), t, c.IP.Addr)
	if err != nil {
		return err
	}
	return down(d, rec.Kind, rec.Name, c.DryRun, c.Output)
}

// BridgeDownCmd is `plumb bridge down`.
type BridgeDownCmd struct {
	Name   actions.IfName `arg:"" help:"The bridge."`
	Force  bool           `name:"force" help:"Detach its containers first."`
	DryRun bool           `name:"dry-run" help:"Print the undo commands and change nothing."`
	Output string         `name:"output" short:"o" enum:"text,json,sh" default:"text" help:"Format of --dry-run's output: text, json, or sh (a bash runbook); sh implies --dry-run."`
}

// Run removes the bridge; attached containers are refused unless --force.
func (c *BridgeDownCmd) Run(d *deps) error {
	c.DryRun = c.DryRun || c.Output == "sh" // a runbook is printed, not run
	if !c.DryRun {
		if err := d.lock(); err != nil {
			return err
		}
	}
	if _, err := loadBridge(d, c.Name.String()); err != nil {
		return err
	}
	var attached []*plan.Record
	for _, h := range plan.Attachments(d.store, c.Name.String()) {
		rec, err := d.store.Load(h.Kind, h.Name) // whole and checked: it is to be undone
		if err != nil {
			return err
		}
		attached = append(attached, rec)
	}
	if len(attached) > 0 && !c.Force {
		var ids []string
		for _, a := range attached {
			ids = append(ids, a.Details["ip"]+" ("+a.Details["target"]+")")
		}
		return &plan.Refused{Msg: fmt.Sprintf("%s has %d attached containers: %s; detach them, or use --force", c.Name, len(attached), strings.Join(ids, ", "))}
	}
	if c.DryRun {
		// Everything --force would run: each attachment's undos, then the bridge's.
		p := &plan.Plan{Kind: "bridge", Name: c.Name.String()}
		for _, rec := range append(attached, nil) {
			if rec == nil {
				var err error
				if rec, err = loadBridge(d, c.Name.String()); err != nil {
					return err
				}
			}
			undos, err := plan.UndoPlan(d.store, rec)
			if err != nil {
				return err
			}
			for _, u := range undos {
				p.Steps = append(p.Steps, plan.Step{Action: u})
			}
		}
		return render(d, p, c.Output)
	}
	for _, a := range attached {
		if _, err := plan.Down(d.ctx, d.runner, d.store, a); err != nil {
			return fmt.Errorf("detaching %s: %w", a.ID(), err)
		}
		fmt.Fprintf(d.stdout, "%s is detached\n", a.ID())
	}
	return down(d, "bridge", c.Name.String(), false, c.Output)
}

// BridgeLsCmd is `plumb bridge ls`.
type BridgeLsCmd struct {
	Output string `name:"output" short:"o" enum:"text,json" default:"text" help:"text or json."`
}

type lsAttachment struct {
	IP       string   `json:"ip"`
	HostVeth string   `json:"host_veth"`
	If       string   `json:"if"`
	Target   string   `json:"target"`
	Ports    []string `json:"ports"`
	State    string   `json:"state"`
}

type lsBridge struct {
	Name        string         `json:"name"`
	Subnet      string         `json:"subnet"`
	Gateway     string         `json:"gateway"`
	NAT         bool           `json:"nat"`
	State       string         `json:"state"`
	Attachments []lsAttachment `json:"attachments"`
}

// Run lists each bridge with its subnet, gateway and containers.
func (c *BridgeLsCmd) Run(d *deps) error {
	recs, errs := d.store.List()
	var out []lsBridge
	for _, r := range recs {
		if r.Kind != "bridge" {
			continue
		}
		b := lsBridge{Name: r.Name, Subnet: r.Details["subnet"], Gateway: r.Details["gateway"], NAT: r.Details["nat"] == "true", State: string(r.State), Attachments: []lsAttachment{}}
		for _, a := range plan.Attachments(d.store, r.Name) {
			ports := []string{}
			if p := a.Details["ports"]; p != "" {
				ports = strings.Split(p, ",")
			}
			b.Attachments = append(b.Attachments, lsAttachment{a.Details["ip"], a.Details["host_veth"], a.Details["if"], a.Details["target"], ports, string(a.State)})
		}
		out = append(out, b)
	}
	if c.Output == "json" {
		if out == nil {
			out = []lsBridge{}
		}
		if err := writeJSON(d.stdout, struct {
			FormatVersion int        `json:"format_version"`
			Bridges       []lsBridge `json:"bridges"`
		}{plan.FormatVersion, out}); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(d.stdout, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "BRIDGE\tSUBNET\tGATEWAY\tNAT\tSTATE\tCONTAINERS")
		for _, b := range out {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\n", b.Name, b.Subnet, b.Gateway, yesNo(b.NAT), b.State, len(b.Attachments))
			for _, a := range b.Attachments {
				ports := strings.Join(a.Ports, " ")
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", a.IP, a.HostVeth, a.Target, a.If, a.State, ports)
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%d journals cannot be read: %v", len(errs), errs)
	}
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
