package network

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"

	"plumb/actions"
	"plumb/plan"
	"plumb/plan/firewall"
	"plumb/plan/ipam"
)

// VXLAN's cost on the wire: an outer IPv4 header (20), UDP (8), VXLAN (8)
// and the inner Ethernet header (14), as flannel counts it.
const vxlanOverhead = 50

// DefaultVXLANPort is the kernel's and flannel's VXLAN port (not IANA's
// 4789): nodes that run flannel today use it.
const DefaultVXLANPort = 8472

// maxVNI is the largest VXLAN network identifier (24 bits).
const maxVNI = 1<<24 - 1

// Mesh is this node's side of a VXLAN mesh (`plumb mesh up`), flannel's
// vxlan backend as commands: a VXLAN device that carries the node's pod
// subnet to the other nodes of the cluster, its MAC derived from that
// subnet so that no node needs to be told another's.
type Mesh struct {
	Name    actions.IfName
	VNI     uint32
	Cluster netip.Prefix
	Subnet  netip.Prefix
	Local   netip.Addr
	Dev     actions.IfName // "": the interface that holds Local
	Port    uint16         // 0: DefaultVXLANPort
	MTU     int            // 0: the underlay's minus 50
}

// MeshSpecVersion is the version of MeshSpec's JSON.
const MeshSpecVersion = 1

// MeshSpec is a mesh's input as stored: what `plumb mesh up` was given.
type MeshSpec struct {
	Name    actions.IfName `json:"name"`
	VNI     uint32         `json:"vni"`
	Cluster netip.Prefix   `json:"cluster"`
	Subnet  netip.Prefix   `json:"subnet"`
	Local   netip.Addr     `json:"local"`
	Dev     actions.IfName `json:"dev,omitempty"`
	Port    uint16         `json:"port"`
	MTU     int            `json:"mtu,omitempty"`
}

var (
	loopbackNet  = netip.MustParsePrefix("127.0.0.0/8")
	multicastNet = netip.MustParsePrefix("224.0.0.0/4")
)

// port is the UDP port the mesh's VXLAN uses.
func (m *Mesh) port() uint16 {
	if m.Port == 0 {
		return DefaultVXLANPort
	}
	return m.Port
}

// Check applies the rules that need no host.
func (m *Mesh) Check() error {
	if m.VNI < 1 || m.VNI > maxVNI {
		return plan.Refuse("vni", "%d is not a VXLAN network identifier (1 to %d)", m.VNI, maxVNI)
	}
	if err := checkMeshPrefix("cluster", m.Cluster); err != nil {
		return err
	}
	if err := checkMeshPrefix("subnet", m.Subnet); err != nil {
		return err
	}
	if !inside(m.Subnet, m.Cluster) {
		return plan.Refuse("subnet", "%s is not inside the cluster's %s", m.Subnet, m.Cluster)
	}
	if m.Subnet.Bits() > 30 {
		return plan.Refuse("subnet", "%s is too small for a node: a bridge needs a gateway and hosts (at most /30)", m.Subnet)
	}
	for _, p := range []netip.Prefix{loopbackNet, multicastNet} {
		if m.Cluster.Overlaps(p) {
			return plan.Refuse("cluster", "%s overlaps %s, which is never routed to pods", m.Cluster, p)
		}
	}
	if !m.Local.IsValid() || !underlayAddr(m.Local) {
		return plan.Refuse("local", "give this node's IPv4 address on the underlay (the network between the nodes), not a loopback, multicast, link-local or unspecified one")
	}
	if m.Subnet.Bits() == m.Cluster.Bits() {
		return plan.Refuse("subnet", "%s is the whole cluster: no other node would have a subnet of its own", m.Subnet)
	}
	if m.Cluster.Contains(m.Local) {
		return plan.Refuse("local", "%s is inside the cluster's %s: traffic between the nodes would be routed into the mesh itself", m.Local, m.Cluster)
	}
	if m.MTU != 0 && (m.MTU < ipam.V4.MinMTU() || m.MTU > 65535) {
		return plan.Refuse("mtu", "%d is not an MTU the kernel takes for IPv4 (%d to 65535)", m.MTU, ipam.V4.MinMTU())
	}
	return nil
}

// checkMeshPrefix refuses what a mesh cannot carry: an IPv6 prefix (until
// dual stack is built for meshes: a VTEP's MAC is made of an IPv4
// subnet), or one with host bits.
func checkMeshPrefix(flag string, p netip.Prefix) error {
	switch {
	case !p.IsValid():
		return plan.Refuse(flag, "give an IPv4 CIDR, such as 10.244.0.0/16")
	case !p.Addr().Is4():
		return plan.Refuse(flag, "%s is IPv6: meshes carry IPv4 only until dual stack is built for them", p)
	case p.Masked() != p:
		return plan.Refuse(flag, "%s has host bits set; the network is %s", p, p.Masked())
	}
	return nil
}

// inside reports whether p lies within outer.
func inside(p, outer netip.Prefix) bool {
	return p.Bits() >= outer.Bits() && outer.Contains(p.Addr())
}

// Plan makes the VXLAN device, gives it the node's VTEP address, brings it
// up and turns on forwarding. The mesh writes no firewall rule: the
// bridge on it masquerades what leaves the cluster.
func (m *Mesh) Plan(ctx context.Context, env plan.Env) ([]*plan.Plan, error) {
	dev, err := m.underlay(ctx, env.R)
	if err != nil {
		return nil, err
	}
	links, err := actions.LinkNames(ctx, env.R, actions.Netns{})
	if err != nil {
		return nil, err
	}
	under, ok := links[dev.String()]
	if !ok {
		return nil, plan.Refuse("dev", "the host has no interface named %s", dev)
	}
	mtu := m.MTU
	if room := under - vxlanOverhead; mtu == 0 || mtu > room {
		if room < ipam.V4.MinMTU() {
			return nil, plan.Refuse("dev", "%s's MTU %d leaves no room for VXLAN's %d bytes (an IPv4 link needs %d)", dev, under, vxlanOverhead, ipam.V4.MinMTU())
		}
		if mtu > room {
			return nil, plan.Refuse("mtu", "%d leaves no room for VXLAN's %d bytes on %s (MTU %d): at most %d", mtu, vxlanOverhead, dev, under, room)
		}
		mtu = room
	}
	f := plan.MeshFacts{VNI: m.VNI, Port: m.port(), Local: m.Local, Underlay: dev, Cluster: m.Cluster, Subnet: m.Subnet, MTU: mtu, MAC: ipam.TunnelMAC(m.Subnet)}
	// Asked again with the same settings, the mesh is the same input
	// whatever its peers: they are sync's.
	if rec, err := env.St.LoadHeader(plan.MeshKind.Name(), m.Name.String()); err == nil {
		if old, err := rec.MeshFacts(); err == nil {
			f.Peers, f.Generation = old.Peers, old.Generation
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	steps := []plan.Step{
		{Action: actions.LinkAddVxlan{Name: m.Name, MAC: f.MAC, MTU: mtu, VNI: m.VNI, Local: m.Local, Dev: dev, Port: f.Port}},
		{Action: actions.AddrAdd{Addr: netip.PrefixFrom(ipam.TunnelEnd(m.Subnet), 32), Dev: m.Name}},
		{Action: actions.LinkSetUp{Dev: m.Name}},
		forwarding(ipam.V4),
	}
	spec, err := plan.EncodeSpec(MeshSpecVersion, MeshSpec{Name: m.Name, VNI: m.VNI, Cluster: m.Cluster, Subnet: m.Subnet, Local: m.Local,
		Dev: m.Dev, Port: f.Port, MTU: m.MTU})
	if err != nil {
		return nil, err
	}
	return plan.One(&plan.Plan{Kind: plan.MeshKind.Name(), Name: m.Name.String(), Steps: steps, Facts: f, Spec: spec, Summary: MeshSummary(m.Name.String(), f)}, nil)
}

// MeshSummary is a mesh's line in status listings.
func MeshSummary(name string, f plan.MeshFacts) string {
	return fmt.Sprintf("mesh %s vni %d: %s of %s from %s (%s), mtu %d, %s", name, f.VNI, f.Subnet, f.Cluster, f.Local, f.Underlay, f.MTU, plan.Count(len(f.Peers), "peer"))
}

// underlay is the interface the mesh's VXLAN packets leave by: --dev,
// which must hold --local, or the one that holds it.
func (m *Mesh) underlay(ctx context.Context, r actions.Runner) (actions.IfName, error) {
	holder, err := actions.AddrDev(ctx, r, m.Local)
	if err != nil {
		return "", err
	}
	switch {
	case holder == "" && m.Dev == "":
		return "", plan.Refuse("local", "%s is not an address of this host; give this node's address on the underlay", m.Local)
	case holder == "":
		return "", plan.Refuse("local", "%s is not an address of %s (nor of any interface of this host)", m.Local, m.Dev)
	case m.Dev != "" && holder != m.Dev.String():
		return "", plan.Refuse("dev", "%s is an address of %s, not of %s", m.Local, holder, m.Dev)
	}
	return actions.IfName(holder), nil
}

// Again: the same settings are nothing to do; other settings are a new
// mesh (its MAC, VNI and addresses are what the other nodes know it by).
func (m *Mesh) Again(rec *plan.Record, p *plan.Plan) (string, error) {
	if rec.State == plan.StateUp && !plan.SameInput(rec, p) {
		old, err := rec.MeshFacts()
		now, _ := p.Facts.(plan.MeshFacts)
		if err == nil {
			var cs []plan.Change
			cs = plan.Differ(cs, "vni", old.VNI, now.VNI)
			cs = plan.Differ(cs, "port", old.Port, now.Port)
			cs = plan.Differ(cs, "local", old.Local, now.Local)
			cs = plan.Differ(cs, "dev", old.Underlay, now.Underlay)
			cs = plan.Differ(cs, "cluster", old.Cluster, now.Cluster)
			cs = plan.Differ(cs, "subnet", old.Subnet, now.Subnet)
			cs = plan.Differ(cs, "mtu", old.MTU, now.MTU)
			// Down is refused while a bridge is on it: the advice says so.
			return "", plan.Refuse("", "%s is already up with other settings (%s): other nodes know it by them; run `plumb bridge down` of each bridge on it, then `plumb mesh down %s`, first",
				rec.ID(), plan.JoinChanges(cs), p.Name)
		}
	}
	return plan.Again(rec, p, "up", "plumb mesh down "+p.Name)
}

// Preflight checks the host: the name is free, and the cluster overlaps
// no route of the host, nameserver, or other plumb network.
func (m *Mesh) Preflight(ctx context.Context, env plan.Env) ([]string, error) {
	recs, _ := env.St.Headers()
	for _, rec := range recs {
		if f, err := rec.MeshFacts(); err == nil && f.VNI == m.VNI && f.Port == m.port() {
			return nil, plan.Refuse("vni", "%s has VNI %d on port %d already: the kernel takes one device for each", rec.ID(), m.VNI, m.port())
		}
		for _, s := range rec.Subnets() {
			if s.Overlaps(m.Cluster) {
				return nil, plan.Refuse("cluster", "%s overlaps %s's subnet %s", m.Cluster, rec.ID(), s)
			}
		}
	}
	links, err := actions.LinkNames(ctx, env.R, actions.Netns{})
	if err != nil {
		return nil, err
	}
	if _, taken := links[m.Name.String()]; taken {
		return nil, plan.Refuse("<name>", "an interface named %s already exists on the host and plumb did not make it", m.Name)
	}
	if err := hostHolds(ctx, env.R, "cluster", m.Cluster, "cluster CIDR", "pods"); err != nil {
		return nil, err
	}
	var warnings []string
	for _, c := range (firewall.Host{R: env.R, Proc: env.Proc}).InputDrops(ctx) {
		warnings = append(warnings, fmt.Sprintf("%s drops by its policy what no rule accepts: VXLAN's UDP port %d must reach this host from the other nodes (for example iptables -I INPUT -p udp --dport %d -s NODES_CIDR -j ACCEPT); plumb changes no policy", c, m.port(), m.port()))
	}
	return warnings, nil
}

// Locks: a mesh is made alone.
func (m *Mesh) Locks() []plan.Lock { return []plan.Lock{plan.NetworkLock(m.Name.String(), false)} }
