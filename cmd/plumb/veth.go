package main

import (
	"fmt"
	"net/netip"

	"plumb/actions"
	"plumb/network"
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
	Subnet subnetFlag     `name:"subnet" default:"10.200.0.0/24" help:"The pair's subnet (SUBNET), IPv4 or IPv6."`
	HostIP addrFlag       `name:"host-ip" default:"10.200.0.1" help:"Host end's address, the container's gateway (HOST_IP); with an IPv6 --subnet, its first host unless given."`
	ContIP addrFlag       `name:"cont-ip" default:"10.200.0.2" help:"Container end's address (CONT_IP); with an IPv6 --subnet, its second host unless given."`
	Uplink actions.IfName `name:"uplink" placeholder:"IF" help:"Interface NAT sends traffic out of (HOST_NET_IF); default: the default route's."`
	NoNAT  bool           `name:"no-nat" help:"Leave out forwarding and NAT: the container reaches the host only."`
	NAT6   bool           `name:"ipv6-nat" help:"Masquerade an IPv6 subnet's traffic too (default: routed, with the container's own address)."`
	DryRun bool           `name:"dry-run" help:"Print the plan and change nothing; needs no root."`
	Output string         `name:"output" short:"o" enum:"text,json,sh" default:"text" help:"${plan_output_help}"`
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

func (c *VethUpCmd) recipe() *network.Veth {
	v := &network.Veth{HostIf: c.HostIf, ContIf: c.ContIf, Subnet: c.Subnet.Prefix,
		HostIP: c.HostIP.Addr, ContIP: c.ContIP.Addr, Uplink: c.Uplink, NoNAT: c.NoNAT, NAT6: c.NAT6}
	if s := c.Subnet.Prefix; s.Addr().Is6() && s.Masked() == s {
		// The document's IPv4 defaults mean "the subnet's first two hosts".
		if v.HostIP == netip.MustParseAddr("10.200.0.1") {
			v.HostIP = s.Addr().Next()
		}
		if v.ContIP == netip.MustParseAddr("10.200.0.2") {
			v.ContIP = s.Addr().Next().Next()
		}
	}
	if c.PID != 0 {
		v.Target.PID = int(c.PID)
	} else {
		v.Target.Name = string(c.Netns)
	}
	return v
}

// Run plans the network and prints or applies it.
func (c *VethUpCmd) Run(d *deps) error {
	c.DryRun = printsOnly(c.DryRun, c.Output)
	r := c.recipe()
	r.Firewall = d.firewall
	return upSay(d, r, c.DryRun, c.Output, func(p *plan.Plan) string {
		return fmt.Sprintf("%s is up: %d steps applied", p.ID(), len(p.Steps))
	})
}

// VethDownCmd is `plumb veth down`.
type VethDownCmd struct {
	HostIf actions.IfName `name:"host-if" required:"" placeholder:"IF" help:"Host end of the pair that 'veth up' made; names the object."`
	DryRun bool           `name:"dry-run" help:"Print the undo commands and change nothing."`
	Output string         `name:"output" short:"o" enum:"text,json,sh" default:"text" help:"${undo_output_help}"`
}

// Run undoes the recorded steps in reverse.
func (c *VethDownCmd) Run(d *deps) error {
	c.DryRun = printsOnly(c.DryRun, c.Output)
	return down(d, plan.VethKind.Name(), c.HostIf.String(), c.DryRun, c.Output)
}
