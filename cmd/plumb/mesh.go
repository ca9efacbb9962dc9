package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/rs/zerolog"

	"plumb/actions"
	"plumb/network"
	"plumb/network/nodes"
	"plumb/plan"
	"plumb/view"
)

// MeshCmd groups the commands of meshes: one VXLAN device per node that
// joins the bridges of several hosts, flannel's model.
type MeshCmd struct {
	Up      MeshUpCmd      `cmd:"" help:"Make this node's VXLAN device of a mesh, carrying its pod subnet to the other nodes."`
	Sync    MeshSyncCmd    `cmd:"" help:"Make the mesh's peers the nodes of a node list (kubectl get nodes -o json): adds, removes and moves in one plan."`
	Peer    MeshPeerCmd    `cmd:"" help:"Add or remove one peer."`
	Down    MeshDownCmd    `cmd:"" help:"Remove the mesh's device, and with it every peer's route, neighbour and forwarding entry."`
	Ls      MeshLsCmd      `cmd:"" help:"List meshes with their peer counts and the bridges on them."`
	Inspect MeshInspectCmd `cmd:"" help:"Show meshes in full, peers included (JSON)."`
}

// MeshUpCmd is `plumb mesh up`.
type MeshUpCmd struct {
	Name    actions.IfName `arg:"" help:"The mesh, and its VXLAN device's name on this node."`
	VNI     uint32         `name:"vni" required:"" placeholder:"N" help:"The VXLAN network identifier, the same on every node (1 to 16777215)."`
	Cluster subnetFlag     `name:"cluster" required:"" placeholder:"CIDR" help:"The cluster's pod CIDR, every node's subnet inside it (like 10.244.0.0/16): traffic to it is never masqueraded."`
	Subnet  subnetFlag     `name:"subnet" required:"" placeholder:"CIDR" help:"This node's pod subnet (a node's spec.podCIDR, like 10.244.1.0/24)."`
	Local   addrFlag       `name:"local" required:"" placeholder:"IP" help:"This node's address on the underlay, the network between the nodes (a node's InternalIP)."`
	Dev     actions.IfName `name:"dev" placeholder:"IF" help:"The underlay interface (default: the one that holds --local)."`
	Port    uint16         `name:"port" default:"8472" help:"The VXLAN UDP port, the same on every node (8472: the kernel's and flannel's)."`
	MTU     int            `name:"mtu" help:"The mesh's MTU, its bridges' and their pods' (default: the underlay's minus VXLAN's 50 bytes)."`
	DryRun  bool           `name:"dry-run" help:"Print the plan and change nothing."`
	Output  string         `name:"output" short:"o" enum:"text,json,sh" default:"text" help:"${plan_output_help}"`
}

// Help is the long help of `plumb mesh up --help`.
func (c *MeshUpCmd) Help() string {
	return `Makes the VXLAN device NAME (ip link add NAME ... type vxlan id VNI local IP
dev IF dstport PORT nolearning), its MAC 02:50 followed by the four bytes of
--subnet's network address, so that every node knows every other's from its
subnet alone; gives it that network address as a /32 (the source of this host's
traffic to other nodes' pods), brings it up and turns on forwarding. Its MTU
is the underlay's minus 50 (VXLAN's headers).

The mesh writes no firewall rule: 'plumb bridge up BR --mesh NAME' makes this
node's bridge on it, whose rules masquerade only what leaves --cluster. Peers
come from 'plumb mesh sync' or 'plumb mesh peer add'. Every node needs UDP
--port open to the others.`
}

// Run plans the mesh and prints or applies it.
func (c *MeshUpCmd) Run(d *deps) error {
	c.DryRun = printsOnly(c.DryRun, c.Output)
	m := &network.Mesh{Name: c.Name, VNI: c.VNI, Cluster: c.Cluster.Prefix, Subnet: c.Subnet.Prefix, Local: c.Local.Addr, Dev: c.Dev, Port: c.Port, MTU: c.MTU}
	return upSay(d, m, c.DryRun, c.Output, func(p *plan.Plan) string { return fmt.Sprintf("%s is up: %s", p.ID(), p.Summary) })
}

// MeshSyncCmd is `plumb mesh sync`.
type MeshSyncCmd struct {
	Name   actions.IfName `arg:"" predictor:"mesh" help:"The mesh."`
	Nodes  string         `name:"nodes" required:"" placeholder:"FILE" help:"The node list: the output of kubectl get nodes -o json, or a JSON or YAML list of {ip, subnet[, name]}; - reads stdin."`
	DryRun bool           `name:"dry-run" help:"Print the plan and change nothing."`
	Output string         `name:"output" short:"o" enum:"text,json,sh" default:"text" help:"${plan_output_help}"`
}

// Help is the long help of `plumb mesh sync --help`.
func (c *MeshSyncCmd) Help() string {
	return `Reads the cluster's nodes (spec.podCIDR or podCIDRs, and the first IPv4
InternalIP of each; a node that lacks either yet is skipped with a warning,
and stays a peer as it is if it was one),
leaves this node out (its entry: mesh up's --local and --subnet; a list
without it is refused, since it would remove every peer), and converges the mesh's
peers on them in one plan, shown first: routes and neighbours of nodes gone
removed (ip -batch), their forwarding entries removed, moved nodes' replaced
and new ones' added (bridge -batch), new neighbours and routes added (ip
-batch), each batch one step fed its lines. A crash or failure leaves the
old peer set or the new one, never a mix: plumb recover puts back the old.
With the set already in place it says "nothing to do". plumb check compares
the device's entries with the peer set. From a cluster:

  kubectl get nodes -o json | plumb mesh sync NAME --nodes -`
}

func (c *MeshSyncCmd) Run(d *deps) error {
	c.DryRun = printsOnly(c.DryRun, c.Output)
	peers, skipped, err := readNodes(d, c.Nodes)
	if err != nil {
		return err
	}
	return meshSync(d, &network.MeshSync{Name: c.Name, Nodes: peers, Whole: true, Skipped: skipped}, c.DryRun, c.Output)
}

// readNodes reads a node list from file (- is stdin), logging what it
// skipped and naming the nodes skipped.
func readNodes(d *deps, file string) ([]plan.Peer, []string, error) {
	var data []byte
	var err error
	if file == "-" {
		data, err = io.ReadAll(d.stdin)
	} else {
		data, err = os.ReadFile(file)
	}
	if err != nil {
		return nil, nil, plan.RefuseErr("nodes", err)
	}
	what := file
	if file == "-" {
		what = "stdin"
	}
	ns, warnings, skipped, err := nodes.ReadSkipping(data, what)
	if err != nil {
		return nil, nil, plan.RefuseErr("nodes", err)
	}
	for _, w := range warnings {
		zerolog.Ctx(d.ctx).Warn().Msg(w)
	}
	peers := make([]plan.Peer, len(ns))
	for i, n := range ns {
		peers[i] = plan.Peer{IP: n.IP, Subnet: n.Subnet, Node: n.Name}
	}
	return peers, skipped, nil
}

// meshSync applies a sync, saying what changed.
func meshSync(d *deps, s *network.MeshSync, dryRun bool, output string) error {
	if !dryRun {
		if err := privileged(); err != nil {
			return err
		}
	}
	out, err := plan.Up(d.ctx, d.env(), s, dryRun)
	if err != nil {
		return err
	}
	p := out.Plans[0]
	f, _ := p.Facts.(plan.MeshFacts)
	switch {
	case output != "text" && dryRun:
		err = render(d, p, output) // nothing to do: a plan of no step
	case out.Unchanged != nil || p.Base == nil && len(p.Steps) == 0:
		_, err = fmt.Fprintf(d.stdout, "mesh/%s: nothing to do (%s, generation %d)\n", s.Name, plan.Count(len(f.Peers), "peer"), f.Generation)
	case dryRun && len(p.Steps) == 0:
		_, err = fmt.Fprintf(d.stdout, "mesh/%s: only node names change; no command runs\n", s.Name)
	case dryRun:
		err = render(d, p, output)
	default:
		_, err = fmt.Fprintf(d.stdout, "mesh/%s is synced (%s): %s, generation %d\n", s.Name, p.Changes, plan.Count(len(f.Peers), "peer"), f.Generation)
	}
	return err
}

// MeshPeerCmd groups `plumb mesh peer add|rm`.
type MeshPeerCmd struct {
	Add MeshPeerAddCmd `cmd:"" help:"Add a peer, or move one (same subnet, new address)."`
	Rm  MeshPeerRmCmd  `cmd:"" help:"Remove a peer, by its address or its subnet."`
}

// MeshPeerAddCmd is `plumb mesh peer add`.
type MeshPeerAddCmd struct {
	Name     actions.IfName `arg:"" predictor:"mesh" help:"The mesh."`
	Node     addrFlag       `name:"node" required:"" placeholder:"IP" help:"The peer's address on the underlay."`
	Subnet   subnetFlag     `name:"subnet" required:"" placeholder:"CIDR" help:"The peer's pod subnet."`
	NodeName string         `name:"name" placeholder:"NAME" help:"The peer's node name, shown by ls and inspect."`
	DryRun   bool           `name:"dry-run" help:"Print the plan and change nothing."`
	Output   string         `name:"output" short:"o" enum:"text,json,sh" default:"text" help:"${plan_output_help}"`
}

func (c *MeshPeerAddCmd) Run(d *deps) error {
	c.DryRun = printsOnly(c.DryRun, c.Output)
	add := plan.Peer{IP: c.Node.Addr, Subnet: c.Subnet.Prefix, Node: c.NodeName}
	return meshSync(d, &network.MeshSync{Name: c.Name, Add: []plan.Peer{add}}, c.DryRun, c.Output)
}

// MeshPeerRmCmd is `plumb mesh peer rm`.
type MeshPeerRmCmd struct {
	Name   actions.IfName `arg:"" predictor:"mesh" help:"The mesh."`
	Node   addrFlag       `name:"node" placeholder:"IP" xor:"which" required:"" help:"The peer's address on the underlay."`
	Subnet subnetFlag     `name:"subnet" placeholder:"CIDR" xor:"which" required:"" help:"The peer's pod subnet."`
	DryRun bool           `name:"dry-run" help:"Print the plan and change nothing."`
	Output string         `name:"output" short:"o" enum:"text,json,sh" default:"text" help:"${plan_output_help}"`
}

func (c *MeshPeerRmCmd) Run(d *deps) error {
	c.DryRun = printsOnly(c.DryRun, c.Output)
	rm := plan.Peer{IP: c.Node.Addr, Subnet: c.Subnet.Prefix}
	return meshSync(d, &network.MeshSync{Name: c.Name, Remove: []plan.Peer{rm}}, c.DryRun, c.Output)
}

// findMesh is mesh name's record, or an error that says there is none.
func findMesh(load func(kind, name string) (*plan.Record, error), name string) (*plan.Record, error) {
	rec, err := load(plan.MeshKind.Name(), name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &plan.Refused{Msg: fmt.Sprintf("no such mesh: %s", name)}
	}
	return rec, err
}

// MeshDownCmd is `plumb mesh down`.
type MeshDownCmd struct {
	Name   actions.IfName `arg:"" predictor:"mesh" help:"The mesh."`
	DryRun bool           `name:"dry-run" help:"Print the undo commands and change nothing."`
	Output string         `name:"output" short:"o" enum:"text,json,sh" default:"text" help:"${undo_output_help}"`
}

// Help is the long help of `plumb mesh down --help`.
func (c *MeshDownCmd) Help() string {
	return `Deletes the VXLAN device, which takes every peer's route, neighbour and
forwarding entry with it, and gives back forwarding when no other object needs
it. Refused while a bridge is on the mesh (plumb bridge down BR first).`
}

func (c *MeshDownCmd) Run(d *deps) error {
	c.DryRun = printsOnly(c.DryRun, c.Output)
	if !c.DryRun {
		if err := d.lock(); err != nil {
			return err
		}
	}
	rec, err := findMesh(d.store.Load, c.Name.String())
	if err != nil {
		return err
	}
	td, err := plan.Remove(d.ctx, d.env(), []*plan.Record{rec}, plan.DownOptions{}, c.DryRun)
	switch {
	case err != nil:
		return keptAdvice(err)
	case c.DryRun:
		return render(d, td.Plan, c.Output)
	}
	_, err = fmt.Fprintf(d.stdout, "%s is down: %d undo commands run\n", rec.ID(), len(td.Ran))
	return err
}

// MeshLsCmd is `plumb mesh ls`.
type MeshLsCmd struct {
	Output view.Output `name:"output" short:"o" enum:"text,json" default:"text" help:"text or json."`
}

func (c *MeshLsCmd) Run(d *deps) error {
	t, err := view.Meshes(d.store)
	if err != nil {
		return err
	}
	return t.Write(d.stdout, c.Output)
}

// MeshInspectCmd is `plumb mesh inspect`.
type MeshInspectCmd struct {
	Names []string `arg:"" predictor:"mesh" help:"The meshes."`
}

func (c *MeshInspectCmd) Run(d *deps) error {
	rows := []view.MeshRow{}
	var errs []error
	for _, n := range c.Names {
		rec, err := findMesh(d.store.LoadHeader, n)
		if err == nil {
			var row view.MeshRow
			if row, err = view.MeshOf(d.store, rec); err == nil {
				rows = append(rows, row)
				continue
			}
		}
		errs = append(errs, err)
	}
	if err := view.WriteJSON(d.stdout, rows); err != nil {
		return err
	}
	return errors.Join(errs...)
}
