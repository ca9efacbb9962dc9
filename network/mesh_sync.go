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
	"plumb/network/nodes"
	"plumb/plan"
	"plumb/plan/ipam"
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
	// Whole: Nodes is the whole cluster, this node with it (mesh sync);
	// a list without this node, of another cluster or an empty one, is
	// refused rather than taken to remove every peer.
	Whole bool
	// Add and Remove change the peers the record holds when it is planned,
	// under the mesh's lock (peer add, peer rm), instead of Nodes: two of
	// them at once each change the set by their own peer. Remove matches
	// a peer's address or its subnet, whichever is valid.
	Add    []plan.Peer
	Remove []plan.Peer
	// Skipped are nodes the list names but could not give (no pod subnet
	// or address yet): a peer of that name stays as it is, rather than be
	// cut off for a moment of the API's.
	Skipped []string
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
	if rec.State != plan.StateUp {
		return nil, plan.Refuse("", "%s has an unfinished plan (state %s); run `plumb recover` first", rec.ID(), rec.State)
	}
	list := s.Nodes
	for _, p := range f.Peers {
		if p.Node != "" && slices.Contains(s.Skipped, p.Node) && !slices.ContainsFunc(list, func(n plan.Peer) bool { return n.Node == p.Node }) {
			list = append(slices.Clip(list), p)
		}
	}
	if len(s.Add) > 0 || len(s.Remove) > 0 {
		list = slices.Clone(f.Peers)
		for _, rm := range s.Remove {
			n := len(list)
			list = slices.DeleteFunc(list, func(p plan.Peer) bool {
				return rm.IP.IsValid() && p.IP == rm.IP || rm.Subnet.IsValid() && p.Subnet == rm.Subnet
			})
			if len(list) == n {
				what := rm.Subnet.String()
				if rm.IP.IsValid() {
					what = rm.IP.String()
				}
				return nil, plan.Refuse("", "mesh %s has no peer %s", s.Name, what)
			}
		}
		for _, a := range s.Add { // a peer of the subnet is moved
			list = append(slices.DeleteFunc(list, func(p plan.Peer) bool { return p.Subnet == a.Subnet }), a)
		}
	}
	peers, err := PeersOf(f, list)
	if err != nil {
		return nil, err
	}
	if s.Whole && !slices.ContainsFunc(s.Nodes, func(n plan.Peer) bool { return n.IP == f.Local && n.Subnet == f.Subnet }) {
		return nil, plan.Refuse("nodes", "the list does not hold this node (%s, %s): a list of another cluster, or an empty one, would remove every peer; give the whole cluster's nodes (or use plumb mesh peer rm)", f.Local, f.Subnet)
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
func PeersOf(f plan.MeshFacts, list []plan.Peer) ([]plan.Peer, error) {
	peers := make([]plan.Peer, 0, len(list))
	for _, n := range list {
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
		case n.Subnet.Bits() > 30:
			return nil, plan.Refuse("nodes", "%s: the subnet is too small for a node: a bridge needs a gateway and hosts (at most /30)", n)
		case !underlayAddr(n.IP):
			return nil, plan.Refuse("nodes", "%s: %s cannot be a node's address (loopback, multicast, link-local, broadcast or unspecified)", n, n.IP)
		}
		if err := nodes.CheckName(n.Node); err != nil {
			return nil, plan.Refuse("nodes", "%v", err)
		}
		peers = append(peers, n)
	}
	slices.SortFunc(peers, func(a, b plan.Peer) int { return comparePrefix(a.Subnet, b.Subnet) })
	for i := 1; i < len(peers); i++ {
		if peers[i-1].Subnet.Overlaps(peers[i].Subnet) {
			return nil, plan.Refuse("nodes", "%s and %s have overlapping subnets", peers[i-1], peers[i])
		}
	}
	// Two nodes with one address: the peers in address order, each next
	// to its duplicate (a slice, not a map of a thousand).
	byIP := make([]int, len(peers))
	for i := range byIP {
		byIP[i] = i
	}
	slices.SortFunc(byIP, func(a, b int) int { return cmp.Or(peers[a].IP.Compare(peers[b].IP), cmp.Compare(a, b)) })
	for k := 1; k < len(byIP); k++ {
		if a, b := peers[byIP[k-1]], peers[byIP[k]]; a.IP == b.IP {
			return nil, plan.Refuse("nodes", "%s and %s have one address", a, b)
		}
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
// entries. The device is read first (two processes): an entry the sync
// would add that is there already, or one it would remove that is not,
// is refused before anything runs (plumb check names them), so that no
// undo ever removes what someone else wrote.
func (s *MeshSync) Update(ctx context.Context, env plan.Env, rec *plan.Record, p *plan.Plan) (*plan.Plan, error) {
	old, err := rec.MeshFacts()
	if err != nil {
		return nil, err
	}
	now := p.Facts.(plan.MeshFacts)
	dev := s.Name
	gone, moved, added, err := peerDiff(old.Peers, now.Peers)
	if err != nil {
		return nil, err
	}
	if len(gone)+len(moved)+len(added) > 0 {
		if err := s.expect(ctx, env, len(old.Peers), gone, moved, added); err != nil {
			return nil, err
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

// peerDiff is what turns the peer set was into is, both kept sorted by
// subnet: the peers gone, those whose address changed, the new. A walk
// of the two lists, not maps of them: a peer added to a thousand made
// two maps of a thousand, a third of what the command allocated. A set
// that holds a subnet twice (a journal written by hand: plumb's sets come
// from PeersOf, which refuses one) is refused, as the walk would take the
// second for a peer gone.
func peerDiff(was, is []plan.Peer) (gone, moved, added []actions.TunnelPeer, err error) {
	bySubnet := func(a, b plan.Peer) int { return comparePrefix(a.Subnet, b.Subnet) }
	for _, set := range []*[]plan.Peer{&was, &is} {
		if !slices.IsSortedFunc(*set, bySubnet) {
			*set = slices.SortedFunc(slices.Values(*set), bySubnet)
		}
		for i := 1; i < len(*set); i++ {
			if (*set)[i-1].Subnet == (*set)[i].Subnet {
				return nil, nil, nil, plan.Refuse("", "the peer set holds %s twice (%s, %s); its journal was changed by hand?", (*set)[i].Subnet, (*set)[i-1], (*set)[i])
			}
		}
	}
	i, j := 0, 0
	for i < len(was) || j < len(is) {
		c := 0
		switch {
		case i == len(was):
			c = 1
		case j == len(is):
			c = -1
		default:
			c = comparePrefix(was[i].Subnet, is[j].Subnet)
		}
		switch {
		case c < 0:
			gone = append(gone, actions.TunnelPeer{Subnet: was[i].Subnet, IP: was[i].IP})
			i++
		case c > 0:
			added = append(added, actions.TunnelPeer{Subnet: is[j].Subnet, IP: is[j].IP})
			j++
		default:
			if was[i].IP != is[j].IP {
				moved = append(moved, actions.TunnelPeer{Subnet: is[j].Subnet, IP: is[j].IP, From: was[i].IP})
			}
			i, j = i+1, j+1
		}
	}
	return gone, moved, added, nil
}

// expect refuses a sync whose entries are not as the record says: one to
// add there already, or one to remove or move missing. Only those entries
// are asked about (of a device holding held peers' entries).
func (s *MeshSync) expect(ctx context.Context, env plan.Env, held int, gone, moved, added []actions.TunnelPeer) error {
	var q actions.TunnelQuery
	for _, p := range slices.Concat(added, gone) {
		q.Routes = append(q.Routes, p.Subnet)
		q.Neigh = append(q.Neigh, ipam.TunnelEnd(p.Subnet))
	}
	for _, p := range slices.Concat(added, gone, moved) {
		q.Fdb = append(q.Fdb, ipam.TunnelMAC(p.Subnet))
	}
	t, err := actions.LookupTunnel(ctx, env.R, s.Name, q, held)
	if err != nil {
		return err
	}
	var wrong []string
	for _, q := range added {
		end, mac := ipam.TunnelEnd(q.Subnet), ipam.TunnelMAC(q.Subnet)
		if _, ok := t.Routes[q.Subnet]; ok {
			wrong = append(wrong, "a route to "+q.Subnet.String())
		}
		if _, ok := t.Neigh[end]; ok {
			wrong = append(wrong, "a neighbour "+end.String())
		}
		if _, ok := t.Fdb[mac]; ok {
			wrong = append(wrong, "a forwarding entry for "+mac)
		}
	}
	for _, q := range gone {
		// Not only there: as the peer's, so that removing it (and, on a
		// failure, putting it back) touches nothing of anyone else's.
		end := ipam.TunnelEnd(q.Subnet)
		if via, ok := t.Routes[q.Subnet]; !ok || via != end {
			wrong = append(wrong, "no route to "+q.Subnet.String()+" via "+end.String()+" onlink")
		}
		if mac, ok := t.Neigh[end]; !ok || mac != ipam.TunnelMAC(q.Subnet) {
			wrong = append(wrong, "no neighbour "+end.String()+" at "+ipam.TunnelMAC(q.Subnet))
		}
	}
	for _, q := range append(slices.Clone(gone), moved...) {
		mac, ip := ipam.TunnelMAC(q.Subnet), q.IP
		if q.From.IsValid() {
			ip = q.From
		}
		if !slices.Contains(t.Fdb[mac], ip) {
			wrong = append(wrong, "no forwarding entry "+mac+" to "+ip.String())
		}
	}
	if len(wrong) > 0 {
		if len(wrong) > 3 {
			wrong = append(wrong[:3], fmt.Sprintf("%d more", len(wrong)-3))
		}
		return plan.Refuse("", "%s's entries are not as mesh/%s records them (%s); run `plumb check mesh/%s`, then remove or restore them", s.Name, s.Name, strings.Join(wrong, ", "), s.Name)
	}
	return nil
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

// underlayAddr reports whether a can be a node's address on the underlay.
func underlayAddr(a netip.Addr) bool {
	return a.Is4() && !a.IsUnspecified() && !a.IsLoopback() && !a.IsMulticast() && !a.IsLinkLocalUnicast() && a != netip.AddrFrom4([4]byte{255, 255, 255, 255})
}
