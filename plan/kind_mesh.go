package plan

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"plumb/actions"
	"plumb/plan/ipam"
)

// MeshKind is a mesh's (mesh up): this node's VXLAN device, which carries
// its pod subnet to the other nodes of a cluster, flannel's model.
var MeshKind = Register(meshKind{})

type meshKind struct{ FactsCodec[MeshFacts] }

func (meshKind) Name() string { return "mesh" }

// FactsVersion 2 keeps the peers beside the journal (see beside.go);
// version 1 held them in it, and is still read.
func (meshKind) FactsVersion() int { return 2 }

// DecodeOlderFacts reads version 1: the peers in the journal.
func (meshKind) DecodeOlderFacts(version int, data json.RawMessage) (Facts, error) {
	if version != 1 {
		return nil, fmt.Errorf("no version %d of a mesh's facts", version)
	}
	var v1 struct {
		meshFactsJSON
		Peers []Peer `json:"peers,omitempty"`
	}
	if err := strictUnmarshal(data, &v1); err != nil {
		return nil, err
	}
	f := v1.meshFactsJSON.facts()
	f.Peers = v1.Peers
	return f, nil
}

// DecodeDetails: meshes came after typed facts; a map form holds nothing.
func (meshKind) DecodeDetails(*DetailsReader) Facts { return MeshFacts{} }

// MeshFacts are a mesh's on this node: its device's settings, and the
// other nodes it reaches. The peers are facts, not steps: deleting the
// device takes their routes, neighbours and forwarding entries with it.
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
	Generation int
	// Peers, sorted by Subnet, are kept beside the journal, a line each,
	// in a file named by their content (peer_set), which is written once
	// rather than at every save of the journal.
	Peers []Peer
	// peerSet is the file facts read from a journal named, and
	// peerCount the peers it counted.
	peerSet   string
	peerCount int
}

// meshFactsJSON is MeshFacts as a journal holds them.
type meshFactsJSON struct {
	VNI        uint32         `json:"vni"`
	Port       uint16         `json:"port"`
	Local      netip.Addr     `json:"local"`
	Underlay   actions.IfName `json:"underlay"`
	Cluster    netip.Prefix   `json:"cluster"`
	Subnet     netip.Prefix   `json:"subnet"`
	MTU        int            `json:"mtu"`
	MAC        string         `json:"mac"`
	Generation int            `json:"generation,omitempty"`
	PeerSet    string         `json:"peer_set,omitempty"`
	PeerCount  int            `json:"peer_count,omitempty"` // for a reader of the journal
}

func (j meshFactsJSON) facts() MeshFacts {
	return MeshFacts{VNI: j.VNI, Port: j.Port, Local: j.Local, Underlay: j.Underlay, Cluster: j.Cluster, Subnet: j.Subnet,
		MTU: j.MTU, MAC: j.MAC, Generation: j.Generation, peerSet: j.PeerSet, peerCount: j.PeerCount}
}

// MarshalJSON names the peers' file, not the peers.
func (f MeshFacts) MarshalJSON() ([]byte, error) {
	name, _ := f.besideFile()
	return json.Marshal(meshFactsJSON{VNI: f.VNI, Port: f.Port, Local: f.Local, Underlay: f.Underlay, Cluster: f.Cluster, Subnet: f.Subnet,
		MTU: f.MTU, MAC: f.MAC, Generation: f.Generation, PeerSet: name, PeerCount: len(f.Peers)})
}

// UnmarshalJSON reads the facts but the peers, which withBeside reads.
func (f *MeshFacts) UnmarshalJSON(data []byte) error {
	var j meshFactsJSON
	if err := strictUnmarshal(data, &j); err != nil {
		return err
	}
	if (j.PeerSet == "") != (j.PeerCount == 0) {
		return fmt.Errorf("peer_set %q with peer_count %d", j.PeerSet, j.PeerCount)
	}
	*f = j.facts()
	return nil
}

func (f MeshFacts) besideName() string { return f.peerSet }

// lastPeerSet is the peer set last written out: a save names it, and
// writes it, from the same peers.
var lastPeerSet struct {
	sync.Mutex
	peers []Peer
	name  string
	text  []byte // never changed: callers only read it
}

// besideFile is the peers a line each ("IP SUBNET [NAME]"), in a file
// named "peers-" and the first 128 bits of their SHA-256 in hex.
func (f MeshFacts) besideFile() (string, []byte) {
	if len(f.Peers) == 0 {
		return "", nil
	}
	l := &lastPeerSet
	l.Lock()
	defer l.Unlock()
	if !slices.Equal(l.peers, f.Peers) {
		b := make([]byte, 0, 48*len(f.Peers)) // "IP SUBNET NAME\n" of most
		for _, p := range f.Peers {
			b = p.appendText(b)
			b = append(b, '\n')
		}
		l.peers, l.text, l.name = slices.Clone(f.Peers), b, peerSetName(b)
	}
	return l.name, l.text
}

// peerSetName is the name of the file that holds text.
func peerSetName(text []byte) string {
	sum := sha256.Sum256(text)
	return "peers-" + hex.EncodeToString(sum[:16])
}

// withBeside reads the peers from their file, which must hold what its
// name says, and as many as the journal counted.
func (f MeshFacts) withBeside(data []byte) (Facts, error) {
	if name := peerSetName(data); name != f.peerSet {
		return nil, fmt.Errorf("it does not hold what its name says (its content is %s's): changed by hand?", name)
	}
	want := f.peerCount
	text := string(data)
	peers := make([]Peer, 0, want)
	for line := range strings.Lines(text) {
		var p Peer
		if err := p.parse(strings.TrimSuffix(line, "\n")); err != nil {
			return nil, err
		}
		peers = append(peers, p)
	}
	if len(peers) != want {
		return nil, fmt.Errorf("it holds %d peers, the journal counts %d", len(peers), want)
	}
	f.Peers = peers
	return f, nil
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
// It is kept as one line of text, "IP SUBNET [NAME]".
type Peer struct {
	IP     netip.Addr
	Subnet netip.Prefix
	Node   string
}

// MarshalText is "IP SUBNET [NAME]".
func (p Peer) MarshalText() ([]byte, error) { return p.appendText(nil), nil }

func (p Peer) appendText(b []byte) []byte {
	b = append(p.IP.AppendTo(b), ' ')
	b = p.Subnet.AppendTo(b)
	if p.Node != "" {
		b = append(append(b, ' '), p.Node...)
	}
	return b
}

// UnmarshalText reads MarshalText's form.
func (p *Peer) UnmarshalText(b []byte) error { return p.parse(string(b)) }

func (p *Peer) parse(s string) error {
	var buf [3]string
	f := fields(buf[:0], s)
	if len(f) < 2 || len(f) > 3 {
		return fmt.Errorf("peer %q: want IP SUBNET [NAME]", s)
	}
	ip, err := netip.ParseAddr(f[0])
	if err != nil {
		return fmt.Errorf("peer %q: %w", s, err)
	}
	sn, err := netip.ParsePrefix(f[1])
	if err != nil {
		return fmt.Errorf("peer %q: %w", s, err)
	}
	*p = Peer{IP: ip, Subnet: sn}
	if len(f) == 3 {
		p.Node = f[2]
	}
	return nil
}

// fields is strings.Fields(s) appended to f, which holds a peer's without
// allocating: a thousand peers are read at every sync.
func fields(f []string, s string) []string {
	for {
		s = strings.TrimLeft(s, " \t\r\n")
		if s == "" {
			return f
		}
		i := strings.IndexAny(s, " \t\r\n")
		if i < 0 {
			return append(f, s)
		}
		f, s = append(f, s[:i]), s[i:]
	}
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
