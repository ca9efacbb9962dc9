package main

import (
	"fmt"
	"net/netip"
	"strings"

	"plumb/actions"
	"plumb/network"
	"plumb/plan"
	"plumb/view"
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
	Name     actions.IfName `arg:"" help:"The bridge's interface name (like docker0)."`
	Subnet   []subnetFlag   `name:"subnet" sep:"none" placeholder:"CIDR" help:"The network's subnet, such as 10.88.0.0/24; repeat with an IPv6 one (fd00:88::/64) for dual stack, or give that alone (required but with --mesh)."`
	Mesh     string         `name:"mesh" placeholder:"MESH" predictor:"mesh" help:"Put the bridge on this node's mesh: its subnet is the node's of the mesh (default) or inside it, its MTU the mesh's, and only what leaves the mesh's cluster CIDR is masqueraded."`
	Gateway  []addrFlag     `name:"gateway" sep:"none" placeholder:"IP" help:"The bridge's own address, the containers' gateway (default: the subnet's first host); one per family."`
	Uplink   actions.IfName `name:"uplink" placeholder:"IF" help:"The interface traffic leaves by (default: the default route's); its MTU is checked."`
	NoNAT    *bool          `name:"no-nat" help:"No forwarding and no iptables rules: containers reach each other and the host only (--no-nat=false gives a bridge already up NAT again)."`
	DNS      *bool          `name:"dns" help:"Run a resolver for the network on its gateway (plumb dns serve): containers' /etc/resolv.conf points there, and their names and aliases (--alias) resolve to their addresses on this network only, as on Docker's user-defined networks; other names go to the host's nameservers."`
	NAT6     *bool          `name:"ipv6-nat" help:"Masquerade the IPv6 subnet's traffic as IPv4's is (default: IPv6 is routed with the containers' own addresses, as Docker does; --ipv6-nat=false stops)."`
	Internal *bool          `name:"internal" help:"Forward nothing into or out of the network, as Docker's --internal: its containers reach each other and the host's address on it alone, get no default route, publish no port, and (with --dns) resolve no name beyond it (--internal=false on a bridge already up replaces it, refused while containers are attached)."`
	Isolate  *bool          `name:"isolate" help:"Forward nothing to other isolated networks (Compose's networks are), as Docker keeps its networks apart: the bridge joins device group 28780, and its rules drop what it would forward to a bridge of that group."`
	MTU      int            `name:"mtu" help:"The bridge's MTU (and its veth pairs'; default: the kernel's, 1500; on a bridge already up, not given or 0 keeps its MTU)."`
	DryRun   bool           `name:"dry-run" help:"Print the plan and change nothing."`
	Output   string         `name:"output" short:"o" enum:"text,json,sh" default:"text" help:"${plan_output_help}"`
}

// Help is the long help of `plumb bridge up --help`.
func (c *BridgeUpCmd) Help() string {
	return `Creates the bridge (ip link add NAME type bridge), gives it the gateway address,
brings it up, turns on forwarding, and adds its rules in chains of plumb's own:
filter PLUMB-NAME (jumped to from the top of FORWARD), nat PLUMB-NAME-NAT
(from POSTROUTING: -s SUBNET ! -o NAME -j MASQUERADE, as Docker does) and nat
PLUMB-NAME-DNAT (from PREROUTING and OUTPUT, for published ports). Every rule
carries -m comment --comment plumb:NAME. No chain policy is ever changed.

Dual stack: --subnet 10.88.0.0/24 --subnet fd00:88::/64 gives the bridge an
address in each (the IPv6 one added nodad), turns on both forwarding settings,
and writes the same chains with ip6tables (or a table ip6 plumb-NAME with
nftables). IPv6 is routed, not masqueraded, unless --ipv6-nat: hosts beyond
need a route to the IPv6 subnet through this host.

Again on a bridge already up, it changes the bridge into the one asked for,
showing the plan first: the MTU in place, the rest by a down and an up
(refused while containers are attached). A setting whose flag is not given
is kept as the bridge has it: its MTU, NAT, IPv6 NAT, --dns, --internal,
--isolate, and its firewall back end (--firewall is for new objects).

--internal and --isolate drop traffic, with rules of the network's own:
iptables' mangle PLUMB-NAME-ISO (jumped to from the top of mangle FORWARD,
which runs before filter FORWARD and every network's accepts), or drop rules
in the network's nft table.`
}

func (c *BridgeUpCmd) recipe() (*network.Bridge, error) {
	b := &network.Bridge{Name: c.Name, Uplink: c.Uplink, NoNAT: c.NoNAT != nil && *c.NoNAT, MTU: c.MTU, NAT6: c.NAT6 != nil && *c.NAT6, Change: true,
		DNS: c.DNS != nil && *c.DNS, Internal: c.Internal != nil && *c.Internal, Isolate: c.Isolate != nil && *c.Isolate,
		Keep: network.BridgeKeep{MTU: c.MTU == 0, NAT: c.NoNAT == nil, NAT6: c.NAT6 == nil, DNS: c.DNS == nil, Internal: c.Internal == nil, Isolate: c.Isolate == nil, Firewall: true}}
	b.Mesh = c.Mesh
	if len(c.Subnet) == 0 {
		if c.Mesh == "" {
			return nil, &plan.Refused{Flag: "subnet", Msg: "give the network's subnet (--subnet CIDR), or --mesh MESH to take this node's subnet of a mesh"}
		}
		if len(c.Gateway) > 0 {
			return nil, &plan.Refused{Flag: "gateway", Msg: "a bridge on a mesh takes its subnet's first host as gateway unless --subnet is given"}
		}
		return b, nil
	}
	subnets := make([]netip.Prefix, len(c.Subnet))
	for i, s := range c.Subnet {
		subnets[i] = s.Prefix
	}
	gateways := make([]netip.Addr, len(c.Gateway))
	for i, g := range c.Gateway {
		gateways[i] = g.Addr
	}
	if err := b.SetNetworks(subnets, gateways); err != nil {
		return nil, err
	}
	return b, nil
}

// Run plans the bridge and prints or applies it.
func (c *BridgeUpCmd) Run(d *deps) error {
	c.DryRun = printsOnly(c.DryRun, c.Output)
	r, err := c.recipe()
	if err != nil {
		return err
	}
	r.Firewall = d.firewall
	return upSay(d, r, c.DryRun, c.Output, func(p *plan.Plan) string {
		if p.Replace {
			return fmt.Sprintf("%s is replaced (%s): %s", p.ID(), p.Changes, p.Summary)
		}
		if p.Base != nil {
			return fmt.Sprintf("%s is updated (%d steps: %s): %s", p.ID(), len(p.Steps), p.Changes, p.Summary)
		}
		return fmt.Sprintf("%s is up: %s", p.ID(), p.Summary)
	})
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
	Name      actions.IfName `arg:"" predictor:"bridge" help:"The bridge, made by 'bridge up'."`
	PID       []pidFlag      `name:"pid" placeholder:"PID" help:"The container's process; repeat to attach several containers in one call."`
	Netns     []netnsFlag    `name:"netns" sep:"none" placeholder:"NAME" help:"A named network namespace instead of a PID; repeatable."`
	From      string         `name:"from" placeholder:"FILE" help:"Containers to attach, one a line: a PID, 'pid PID' or 'netns NAME' (- reads stdin)."`
	IP        []addrFlag     `name:"ip" sep:"none" placeholder:"IP" help:"The container's address (default: the next free one of the subnet; on a dual-stack bridge the IPv6 one has the IPv4 one's host part where free); one per family; one container only."`
	If        actions.IfName `name:"if" default:"eth0" help:"The interface's name inside the container."`
	Publish   []portFlag     `name:"publish" sep:"none" placeholder:"[HOSTIP:]HOST:CONTAINER[/tcp|/udp]" help:"Make a container port reachable at a host port, in each family the container has (HOSTIP 0.0.0.0 or [::]: that family alone); repeat for more; one container only."`
	NoPublish bool           `name:"no-publish" help:"Publish no port: a container already attached stops publishing those it did (without --publish or this, attaching it again keeps them)."`
	Alias     []string       `name:"alias" sep:"none" placeholder:"NAME" help:"A name the container answers to on the bridge, besides its namespace's name (--netns); repeat for more."`
	DryRun    bool           `name:"dry-run" help:"Print the plan and change nothing."`
	Output    string         `name:"output" short:"o" enum:"text,json,sh" default:"text" help:"${plan_output_help}"`
}

// Help is the long help of `plumb bridge attach --help`.
func (c *BridgeAttachCmd) Help() string {
	return `Several containers (--pid and --netns repeated, or --from FILE) are attached in
one call: one lock, each its own address and journal, and all or none: when a
step fails, every container of the call is rolled back. In batch mode the
host's steps of up to 25 containers run as one ip -batch and each container's
steps as one process, several at a time; the plan still shows every command.`
}

// Run plans the attachments and prints or applies them. Addresses are
// chosen under the state directory's lock, so concurrent attaches never
// collide.
func (c *BridgeAttachCmd) Run(d *deps) error {
	c.DryRun = printsOnly(c.DryRun, c.Output)
	if c.NoPublish && len(c.Publish) > 0 {
		return &plan.Refused{Flag: "no-publish", Msg: "give --publish or --no-publish, not both"}
	}
	list := fromFlags(c.PID, c.Netns, nil)
	if err := list.Read(c.From, d.stdin, false); err != nil {
		return err
	}
	call := &network.AttachCall{Bridge: c.Name.String()}
	for _, t := range list.Targets {
		a := &network.Attach{Target: t, If: c.If, Aliases: c.Alias}
		switch len(c.IP) {
		case 0:
		case 1:
			a.IP = c.IP[0].Addr
		case 2:
			a.IP, a.IP6 = c.IP[0].Addr, c.IP[1].Addr
		default:
			return &plan.Refused{Flag: "ip", Msg: "give at most one address of each family"}
		}
		for _, p := range c.Publish {
			a.Publish = append(a.Publish, p.Port)
		}
		a.KeepPorts = len(c.Publish) == 0 && !c.NoPublish
		call.List = append(call.List, a)
	}
	out, err := up(d, call, c.DryRun, c.Output, fmt.Sprintf("%s-%d-containers", c.Name, len(call.List)))
	if out == nil || err != nil {
		return err
	}
	if p := out.Plans[0]; p.Base != nil {
		// Only the ports change in place; kept ports (KeepPorts) never
		// change, so the ports are those asked for (none: --no-publish).
		fmt.Fprintf(d.stdout, "%s is updated (%d steps): publishes %s\n", p.ID(), len(p.Steps), portList(call.List[0].Publish))
		return nil
	}
	for _, a := range call.List {
		as := a.IP.String()
		if a.IP6.IsValid() {
			as += " and " + a.IP6.String()
		}
		fmt.Fprintf(d.stdout, "%s is attached to %s as %s\n", a.Target.Label(), c.Name, as)
	}
	return nil
}

// BridgeDetachCmd is `plumb bridge detach`.
type BridgeDetachCmd struct {
	Name   actions.IfName `arg:"" predictor:"bridge" help:"The bridge."`
	PID    []pidFlag      `name:"pid" placeholder:"PID" help:"The container's process; repeat to detach several in one call."`
	Netns  []netnsFlag    `name:"netns" sep:"none" placeholder:"NAME" help:"The container's named network namespace; repeatable."`
	IP     []addrFlag     `name:"ip" placeholder:"IP" help:"The container's address on the bridge; repeatable."`
	From   string         `name:"from" placeholder:"FILE" help:"Containers to detach, one a line: a PID, 'pid PID', 'netns NAME' or 'ip ADDR' (- reads stdin)."`
	DryRun bool           `name:"dry-run" help:"Print the undo commands and change nothing."`
	Output string         `name:"output" short:"o" enum:"text,json,sh" default:"text" help:"${undo_output_help}"`
}

// Help is the long help of `plumb bridge detach --help`.
func (c *BridgeDetachCmd) Help() string {
	return `Runs the undos recorded by 'bridge attach': deleting the host end of the veth
pair, which takes the container's end, its address and routes with it. The
kernel waits for a grace period for each link deleted on its own (about 20 ms);
when several containers are detached in batch mode, plumb puts their links in
a link group of its own and deletes the group in one request (ip link del group N).`
}

// Run undoes the attachments and releases their addresses.
func (c *BridgeDetachCmd) Run(d *deps) error {
	c.DryRun = printsOnly(c.DryRun, c.Output)
	list := fromFlags(c.PID, c.Netns, c.IP)
	if err := list.Read(c.From, d.stdin, true); err != nil {
		return err
	}
	if list.Len() == 0 {
		return &plan.Refused{Msg: "give the container as --pid PID, --netns NAME or --ip IP (repeat them, or --from FILE, for several)"}
	}
	if !c.DryRun {
		if err := d.lock(); err != nil {
			return err
		}
	}
	found, err := network.FindDetachments(d.store, c.Name.String(), list.Targets, list.IPs)
	if err != nil {
		return err
	}
	if len(found) == 1 {
		return down(d, found[0].Kind, found[0].Name, c.DryRun, c.Output)
	}
	var recs []*plan.Record
	for _, h := range found {
		rec, err := d.store.Load(h.Kind, h.Name) // whole and checked: it is to be undone
		if err != nil {
			return err
		}
		recs = append(recs, rec)
	}
	td, err := plan.Remove(d.ctx, d.env(), recs, plan.DownOptions{}, c.DryRun)
	if c.DryRun {
		if err != nil {
			return err
		}
		td.Plan.Kind, td.Plan.Name = plan.BridgeKind.Name(), c.Name.String()
		return render(d, td.Plan, c.Output)
	}
	if td != nil {
		sayDetached(d, td.Gone)
	}
	if err != nil {
		return fmt.Errorf("detaching: %w; the journals keep what is left, run this again or `plumb recover`", err)
	}
	return nil
}

// sayDetached names each attachment that is gone.
func sayDetached(d *deps, gone []*plan.Record) {
	for _, rec := range gone {
		fmt.Fprintf(d.stdout, "%s is detached\n", rec.ID())
	}
}

// BridgeDownCmd is `plumb bridge down`.
type BridgeDownCmd struct {
	Name   actions.IfName `arg:"" predictor:"bridge" help:"The bridge."`
	Force  bool           `name:"force" help:"Detach its containers first."`
	DryRun bool           `name:"dry-run" help:"Print the undo commands and change nothing."`
	Output string         `name:"output" short:"o" enum:"text,json,sh" default:"text" help:"${undo_output_help}"`
}

// Run removes the bridge; attached containers are refused unless --force.
func (c *BridgeDownCmd) Run(d *deps) error {
	c.DryRun = printsOnly(c.DryRun, c.Output)
	if !c.DryRun {
		if err := d.lock(); err != nil {
			return err
		}
	}
	br, err := network.LoadBridge(d.store, c.Name.String())
	if err != nil {
		return err
	}
	return bridgeDown(d, br, c.Force, c.DryRun, c.Output)
}

// bridgeDown removes a bridge, its attachments first with force.
func bridgeDown(d *deps, br *plan.Record, force, dryRun bool, output string) error {
	td, err := plan.Remove(d.ctx, d.env(), []*plan.Record{br}, plan.DownOptions{Force: force}, dryRun)
	if td != nil {
		sayDetached(d, td.Detached)
	}
	switch {
	case err != nil:
		return keptAdvice(err)
	case dryRun:
		return render(d, td.Plan, output)
	}
	_, err = fmt.Fprintf(d.stdout, "%s is down: %d undo commands run\n", br.ID(), len(td.Ran))
	return err
}

// BridgeLsCmd is `plumb bridge ls`.
type BridgeLsCmd struct {
	Output view.Output `name:"output" short:"o" enum:"text,json" default:"text" help:"text or json."`
}

// Run lists each bridge with its subnet, gateway and containers.
func (c *BridgeLsCmd) Run(d *deps) error {
	t, err := view.Bridges(d.store)
	if err != nil {
		return err
	}
	return t.Write(d.stdout, c.Output)
}

// portList says published ports, "no port" for none.
func portList(ports []plan.Port) string {
	if len(ports) == 0 {
		return "no port"
	}
	s := make([]string, len(ports))
	for i, p := range ports {
		s[i] = p.String()
	}
	return strings.Join(s, " ")
}
