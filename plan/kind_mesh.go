package plan

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"plumb/actions"
	"plumb/plan/ipam"
)

// MeshKind is a mesh's (mesh up): this node's VXLAN device, which carries
// its pod subnet to the other nodes of a cluster, flannel's model.
var MeshKind = Register(meshKind{})

type meshKind struct{ FactsCodec[MeshFacts] }

func (meshKind) Name() string      { return "mesh" }
func (meshKind) FactsVersion() int { return 1 }

// DecodeDetails: meshes came after typed facts; a map form holds nothing.
func (meshKind) DecodeDetails(*DetailsReader) Facts { return MeshFacts{} }

// MeshFacts are a mesh's on this node: its device's settings, and the
// other nodes it reaches. The peers are facts, not steps: deleting the
// device takes their routes, neighbours and forwarding entries with it,
// and a sync of a thousand peers keeps a record of tens of kilobytes.
type MeshFacts struct {
	VNI      uint32         `json:"vni"`
	Port     uint16         `json:"port"`
	Local    netip.Addr     `json:"local"`
	Underlay actions.IfName `json:"underlay"`
	Cluster  netip.Prefix   `json:"cluster"`
	Subnet   netip.Prefix   `json:"subnet"`
	MTU      int            `json:"mtu"`
	MAC      string         `json:"mac"`
	// Generation counts the changes of Peers: `check` names it, so that
	// after a crash and recover one can tell which set is in place.
	Generation int    `json:"generation,omitempty"`
	Peers      []Peer `json:"peers,omitempty"` // sorted by Subnet
}

// Kind is MeshKind.
func (MeshFacts) Kind() Kind { return MeshKind }

// same: every field equal, the peers in the same order (they are kept
// sorted), as their JSON would be.
func (f MeshFacts) same(o Facts) bool {
	g, ok := o.(MeshFacts)
	if !ok {
		return false
	}
	return f.VNI == g.VNI && f.Port == g.Port && f.Local == g.Local && f.Underlay == g.Underlay && f.Cluster == g.Cluster &&
		f.Subnet == g.Subnet && f.MTU == g.MTU && f.MAC == g.MAC && f.Generation == g.Generation && slices.Equal(f.Peers, g.Peers)
}

// Peer is another node of a mesh: its underlay address and pod subnet.
// It is kept as one line of text, "IP SUBNET [NAME]", so that a thousand
// peers make a record of 45 kB, not 100.
type Peer struct {
	IP     netip.Addr
	Subnet netip.Prefix
	Node   string
}

// MarshalText is "IP SUBNET [NAME]".
func (p Peer) MarshalText() ([]byte, error) {
	s := p.IP.String() + " " + p.Subnet.String()
	if p.Node != "" {
		s += " " + p.Node
	}
	return []byte(s), nil
}

// UnmarshalText reads MarshalText's form.
func (p *Peer) UnmarshalText(b []byte) error {
	f := strings.Fields(string(b))
	if len(f) < 2 || len(f) > 3 {
		return fmt.Errorf("peer %q: want IP SUBNET [NAME]", b)
	}
	ip, err := netip.ParseAddr(f[0])
	if err != nil {
		return fmt.Errorf("peer %q: %w", b, err)
	}
	sn, err := netip.ParsePrefix(f[1])
	if err != nil {
		return fmt.Errorf("peer %q: %w", b, err)
	}
	*p = Peer{IP: ip, Subnet: sn}
	if len(f) == 3 {
		p.Node = f[2]
	}
	return nil
}

// String is the peer as messages name it: "node-b (192.168.77.2, 10.244.2.0/24)".
func (p Peer) String() string {
	if p.Node != "" {
		return fmt.Sprintf("%s (%s, %s)", p.Node, p.IP, p.Subnet)
	}
	return fmt.Sprintf("%s (%s)", p.IP, p.Subnet)
}

// Subnets: the cluster's, so that no other network of this host takes a
// part of it (a bridge on the mesh is let in by its recipe).
func (meshKind) Subnets(f Facts) []netip.Prefix {
	m, _ := f.(MeshFacts)
	if !m.Cluster.IsValid() {
		return nil
	}
	return []netip.Prefix{m.Cluster}
}

// ObjectLock is the mesh's network lock: sync, peer and up take it
// exclusively.
func (meshKind) ObjectLock(name string) Lock { return NetworkLock(name, false) }

// MeshBridges are the bridges on mesh name.
func MeshBridges(st *Store, name string) []*Record {
	recs, _ := st.Headers()
	var out []*Record
	for _, r := range OfKind(recs, BridgeKind) {
		if f, err := r.BridgeFacts(); err == nil && f.Mesh == name {
			out = append(out, r)
		}
	}
	return out
}

// Dependents are the bridges on the mesh.
func (meshKind) Dependents(st *Store, rec *Record, _ Facts) []*Record {
	return MeshBridges(st, rec.Name)
}

// BeforeDown refuses a mesh that carries a bridge: its containers would
// lose the other nodes, and the bridge's rules name the mesh's device.
func (k meshKind) BeforeDown(env Env, rec *Record, opts DownOptions, _ bool) ([]*Record, error) {
	if brs := opts.notRemoved(k.Dependents(env.St, rec, nil)); len(brs) > 0 {
		names := make([]string, len(brs))
		for i, b := range brs {
			names[i] = b.Name
		}
		return nil, &Refused{Msg: fmt.Sprintf("mesh %s carries bridge %s; run `plumb bridge down %s` first", rec.Name, strings.Join(names, ", "), strings.Join(names, " "))}
	}
	return nil, nil
}

// MeshFacts are r's facts as a mesh's.
func (r *Record) MeshFacts() (MeshFacts, error) {
	f, err := r.Facts()
	if err != nil {
		return MeshFacts{}, err
	}
	m, ok := f.(MeshFacts)
	if !ok {
		return MeshFacts{}, fmt.Errorf("%s is not a mesh", r.ID())
	}
	return m, nil
}

// CheckFacts compares the peer set with the device's entries: for each
// peer, its route (onlink, through its tunnel end), its permanent
// neighbour and its forwarding entry; and entries of no peer, which
// someone else wrote. The note names the set's generation, so that after
// a crash and recover one can tell which set is in place.
func (meshKind) CheckFacts(ctx context.Context, r actions.Runner, rec *Record, f Facts) ([]Drift, string, error) {
	m, ok := f.(MeshFacts)
	if !ok {
		return nil, "", fmt.Errorf("%s: no mesh facts", rec.ID())
	}
	dev := actions.IfName(rec.Name)
	t, err := actions.ReadTunnel(ctx, r, dev)
	if err != nil {
		return nil, "", err
	}
	var drift []Drift
	add := func(a actions.Action, problem string, args ...any) {
		drift = append(drift, Drift{Command: actions.Quote(a.Argv()), Problem: fmt.Sprintf(problem, args...)})
	}
	macs := map[string]bool{}
	for _, p := range m.Peers {
		gw, mac := ipam.TunnelEnd(p.Subnet), ipam.TunnelMAC(p.Subnet)
		macs[mac] = true
		switch via, ok := t.Routes[p.Subnet]; {
		case !ok:
			add(actions.RouteAddOnlink{Dst: p.Subnet, Via: gw, Dev: dev}, "peer %s: its route is missing", p)
		case via != gw: // `add` would fail: there is one
			drift = append(drift, Drift{Command: fmt.Sprintf("ip route replace %s via %s dev %s onlink", p.Subnet, gw, dev),
				Problem: fmt.Sprintf("peer %s: its route goes elsewhere", p)})
		}
		switch got, ok := t.Neigh[gw]; {
		case !ok:
			add(actions.NeighAdd{IP: gw, MAC: mac, Dev: dev}, "peer %s: its permanent neighbour is missing", p)
		case got != mac:
			drift = append(drift, Drift{Command: fmt.Sprintf("ip neigh replace %s lladdr %s dev %s nud permanent", gw, mac, dev),
				Problem: fmt.Sprintf("peer %s: its permanent neighbour has the MAC %s", p, got)})
		}
		if dsts := t.Fdb[mac]; !slices.Contains(dsts, p.IP) || len(dsts) != 1 {
			add(actions.FdbAdd{MAC: mac, Dev: dev, Dst: p.IP}, "peer %s: its forwarding entry is missing or goes to %v", p, dsts)
		}
		delete(t.Routes, p.Subnet)
		delete(t.Neigh, gw)
	}
	for dst, via := range t.Routes {
		add(actions.RouteDel{Dst: dst, Via: via, Dev: dev}, "a route through %s that is no peer's", dev)
	}
	for ip, mac := range t.Neigh {
		add(actions.NeighDel{IP: ip, Dev: dev}, "a permanent neighbour (%s) on %s that is no peer's", mac, dev)
	}
	for mac, dsts := range t.Fdb {
		if !macs[mac] {
			for _, d := range dsts {
				add(actions.FdbDel{MAC: mac, Dev: dev, Dst: d}, "a forwarding entry on %s that is no peer's", dev)
			}
		}
	}
	slices.SortFunc(drift, func(a, b Drift) int { return strings.Compare(a.Command, b.Command) })
	return drift, fmt.Sprintf("peer set generation %d, %s", m.Generation, Count(len(m.Peers), "peer")), nil
}

// Count is n things, singular or plural: "1 peer", "2 peers".
func Count(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}
