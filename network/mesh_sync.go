package network

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"slices"
	"strings"

	"plumb/actions"
	"plumb/plan"
)

// MeshSync makes a mesh's peers the given nodes (`plumb mesh sync`, and
// `mesh peer add|rm`, whose node set is the mesh's ± one): one update of
// the mesh that removes the peers gone, moves those whose address changed
// and adds the new, shown first like every plan; "nothing to do" when the
// set is the one in place. This node, found in the list by its address or
// its subnet, is skipped.
type MeshSync struct {
	Name  actions.IfName
	Nodes []plan.Peer
}

// Check: the nodes' own rules (duplicates, overlaps) are the node list
// reader's; what depends on the mesh is checked in Plan.
func (s *MeshSync) Check() error { return nil }

// Locks: the mesh, alone.
func (s *MeshSync) Locks() []plan.Lock { return []plan.Lock{plan.NetworkLock(s.Name.String(), false)} }

// Plan is the mesh with the new peer set, in place of the old.
func (s *MeshSync) Plan(_ context.Context, env plan.Env) ([]*plan.Plan, error) {
	rec, err := env.St.LoadHeader(plan.MeshKind.Name(), s.Name.String())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, plan.Refuse("", "mesh/%s is not up; run `plumb mesh up %s` first", s.Name, s.Name)
	} else if err != nil {
		return nil, err
	}
	f, err := rec.MeshFacts()
	if err != nil {
		return nil, err
	}
	peers, err := PeersOf(f, s.Nodes)
	if err != nil {
		return nil, err
	}
	f.Peers = peers
	return plan.One(&plan.Plan{Kind: plan.MeshKind.Name(), Name: rec.Name, Facts: f, Spec: rec.Spec, Summary: MeshSummary(rec.Name, f)}, nil)
}

// PeersOf are the peers of a node list for the mesh with facts f: every
// node but this one, sorted by subnet. It refuses, naming the node, one
// whose subnet is outside the cluster or overlaps this node's, or whose
// address is inside the cluster; a list that gives this node's address
// another subnet, or its subnet another address; and two nodes with one
// address or overlapping subnets.
func PeersOf(f plan.MeshFacts, nodes []plan.Peer) ([]plan.Peer, error) {
	var peers []plan.Peer
	for _, n := range nodes {
		switch {
		case n.IP == f.Local && n.Subnet == f.Subnet:
			continue // this node
		case n.IP == f.Local:
			return nil, plan.Refuse("nodes", "%s has this node's address, %s, with another subnet than this node's %s", n, f.Local, f.Subnet)
		case n.Subnet.Overlaps(f.Subnet):
			return nil, plan.Refuse("nodes", "%s has a subnet that overlaps this node's %s (this node is %s)", n, f.Subnet, f.Local)
		case !n.IP.Is4() || !n.Subnet.Addr().Is4():
			return nil, plan.Refuse("nodes", "%s is IPv6: meshes carry IPv4 only until dual stack is built for them", n)
		case !inside(n.Subnet, f.Cluster):
			return nil, plan.Refuse("nodes", "%s has a subnet outside the cluster's %s", n, f.Cluster)
		case f.Cluster.Contains(n.IP):
			return nil, plan.Refuse("nodes", "%s has an address inside the cluster's %s", n, f.Cluster)
		case n.Subnet.Masked() != n.Subnet:
			return nil, plan.Refuse("nodes", "%s: the subnet has host bits set", n)
		}
		peers = append(peers, n)
	}
	slices.SortFunc(peers, func(a, b plan.Peer) int { return comparePrefix(a.Subnet, b.Subnet) })
	for i := 1; i < len(peers); i++ {
		if peers[i-1].Subnet.Overlaps(peers[i].Subnet) {
			return nil, plan.Refuse("nodes", "%s and %s have overlapping subnets", peers[i-1], peers[i])
		}
	}
	seen := map[netip.Addr]plan.Peer{}
	for _, p := range peers {
		if q, dup := seen[p.IP]; dup {
			return nil, plan.Refuse("nodes", "%s and %s have one address", q, p)
		}
		seen[p.IP] = p
	}
	return peers, nil
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return cmp.Compare(a.Bits(), b.Bits())
}

// Again: the same peer set is nothing to do.
func (s *MeshSync) Again(rec *plan.Record, p *plan.Plan) (string, error) {
	return plan.Again(rec, p, "in sync", "plumb mesh down "+p.Name)
}

// Preflight is never reached with the mesh up (Plan refuses without it).
func (s *MeshSync) Preflight(context.Context, plan.Env) ([]string, error) { return nil, nil }

// Update turns the peer set in place into the new one, in three steps,
// each one batch fed its lines (see actions.TunnelFdb): ip removes the
// routes and neighbours of the peers gone, bridge removes their forwarding
// entries, moves those of peers whose address changed and adds the new
// ones', ip adds the new neighbours and routes. The steps are transient:
// the peers are the mesh's facts, and deleting its device takes their
// entries. The device is not read first (three more processes, as many
// as the sync's own): a device whose entries are not as the record says
// (plumb check names each) fails the sync, which is rolled back.
func (s *MeshSync) Update(_ context.Context, _ plan.Env, rec *plan.Record, p *plan.Plan) (*plan.Plan, error) {
	old, err := rec.MeshFacts()
	if err != nil {
		return nil, err
	}
	now := p.Facts.(plan.MeshFacts)
	dev := s.Name
	was := map[netip.Prefix]plan.Peer{}
	for _, q := range old.Peers {
		was[q.Subnet] = q
	}
	is := map[netip.Prefix]plan.Peer{}
	for _, q := range now.Peers {
		is[q.Subnet] = q
	}
	var gone, moved, added []actions.TunnelPeer
	for _, q := range old.Peers {
		if _, kept := is[q.Subnet]; !kept {
			gone = append(gone, actions.TunnelPeer{Subnet: q.Subnet, IP: q.IP})
		}
	}
	for _, q := range now.Peers {
		switch prev, had := was[q.Subnet]; {
		case had && prev.IP == q.IP:
		case had:
			moved = append(moved, actions.TunnelPeer{Subnet: q.Subnet, IP: q.IP, From: prev.IP})
		default:
			added = append(added, actions.TunnelPeer{Subnet: q.Subnet, IP: q.IP})
		}
	}
	// Node names may change with nothing else: facts only.
	now.Generation = old.Generation + 1
	up := &plan.Plan{Kind: p.Kind, Name: p.Name, Facts: now, Spec: p.Spec, Summary: MeshSummary(p.Name, now), Base: rec}
	if len(gone) > 0 {
		up.Steps = append(up.Steps, plan.Step{Action: actions.TunnelUnroute{Dev: dev, Peers: gone}, Transient: true})
	}
	if len(gone)+len(moved)+len(added) > 0 {
		up.Steps = append(up.Steps, plan.Step{Action: actions.TunnelFdb{Dev: dev, Del: gone, Move: moved, Add: added}, Transient: true})
	}
	if len(added) > 0 {
		up.Steps = append(up.Steps, plan.Step{Action: actions.TunnelRoute{Dev: dev, Peers: added}, Transient: true})
	}
	up.Changes = peerChanges(len(added), len(gone), len(moved))
	return up, nil
}

// peerChanges says what a sync changes: "peers +25 −25 ~25".
func peerChanges(added, removed, moved int) string {
	var parts []string
	if added > 0 {
		parts = append(parts, fmt.Sprintf("+%d", added))
	}
	if removed > 0 {
		parts = append(parts, fmt.Sprintf("−%d", removed))
	}
	if moved > 0 {
		parts = append(parts, fmt.Sprintf("~%d", moved))
	}
	if len(parts) == 0 {
		return "peer names"
	}
	return "peers " + strings.Join(parts, " ")
}
