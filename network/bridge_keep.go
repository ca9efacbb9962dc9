package network

import (
	"errors"
	"io/fs"

	"plumb/plan"
	"plumb/plan/firewall"
)

// BridgeKeep names the settings of a bridge asked for again (Change) that
// were not given, and that the bridge already up keeps: running `bridge
// up` again as first written must not lower an MTU raised since, nor turn
// NAT back on. A new bridge takes their defaults.
type BridgeKeep struct {
	MTU      bool // no --mtu
	NAT      bool // neither --no-nat nor --no-nat=false
	NAT6     bool // no --ipv6-nat
	DNS      bool // no --dns
	Internal bool // no --internal
	Isolate  bool // no --isolate
	Firewall bool // the back end (--firewall is for new objects)
}

// Existing is the bridge asked for, with the settings Keep names taken
// from the bridge already up (nil when there is none, or nothing to keep).
// A bridge on a mesh takes its subnet and MTU from the mesh first.
func (b *Bridge) Existing(env plan.Env) (plan.Recipe, error) {
	if b.Mesh != "" && !b.Cluster.IsValid() {
		m, err := b.onMesh(env)
		if err != nil {
			return nil, err
		}
		if kept, err := m.Existing(env); kept != nil || err != nil {
			return kept, err
		}
		return m, nil
	}
	if !b.Change || b.Keep == (BridgeKeep{}) {
		return nil, nil
	}
	rec, err := env.St.LoadHeader(plan.BridgeKind.Name(), b.Name.String())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	old, err := rec.BridgeSpec()
	if err != nil {
		return nil, nil // Update refuses it, saying why
	}
	c := *b
	c.Keep = BridgeKeep{}
	if c.Project == "" {
		c.Project = old.Project // a Compose project's bridge stays its own
	}
	if b.Keep.MTU {
		c.MTU = old.MTU
	}
	if b.Keep.NAT {
		c.NoNAT = old.NoNAT
	}
	if b.Keep.NAT6 {
		// IPv6 NAT is kept while there is an IPv6 subnet to masquerade.
		c.NAT6 = old.NAT6 && c.Subnet6.IsValid()
	}
	if b.Keep.DNS {
		c.DNS = old.DNS
	}
	if b.Keep.Internal {
		c.Internal = old.Internal
	}
	if b.Keep.Isolate {
		c.Isolate = old.Isolate
	}
	if b.Keep.Firewall {
		if c.Firewall, err = firewall.ByName(old.Firewall); err != nil {
			return nil, err
		}
	}
	return &c, nil
}

// checkMesh applies the rules of a bridge on a mesh that need no host: a
// mesh carries IPv4 alone, and what leaves the cluster is masqueraded.
func (b *Bridge) checkMesh() error {
	switch {
	case b.Subnet6.IsValid() || b.Subnet.IsValid() && !b.Subnet.Addr().Is4():
		return plan.Refuse("subnet", "a bridge on a mesh has an IPv4 subnet alone: meshes carry IPv4 only until dual stack is built for them")
	case b.NoNAT:
		return plan.Refuse("no-nat", "a bridge on a mesh masquerades only what leaves the cluster; without its rules the pods of other nodes could not reach its containers")
	}
	return nil
}

// onMesh is b with what it takes from its mesh: the cluster, the node's
// subnet when none is given (one given must lie inside it), and the
// mesh's MTU when none is given (one given must not exceed it).
func (b *Bridge) onMesh(env plan.Env) (*Bridge, error) {
	rec, err := env.St.LoadHeader(plan.MeshKind.Name(), b.Mesh)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, plan.Refuse("mesh", "mesh/%s is not up; run `plumb mesh up %s` first", b.Mesh, b.Mesh)
	} else if err != nil {
		return nil, err
	}
	m, err := rec.MeshFacts()
	if err != nil {
		return nil, err
	}
	c := *b
	c.Cluster = m.Cluster
	switch {
	case !c.Subnet.IsValid():
		c.Subnet = m.Subnet
	case !inside(c.Subnet, m.Subnet):
		return nil, plan.Refuse("subnet", "%s is not inside this node's subnet of mesh %s, %s", c.Subnet, b.Mesh, m.Subnet)
	}
	switch {
	case c.MTU == 0:
		c.MTU = m.MTU
	case c.MTU > m.MTU:
		return nil, plan.Refuse("mtu", "%d is above mesh %s's MTU %d: frames that large could not cross to other nodes", c.MTU, b.Mesh, m.MTU)
	}
	return &c, nil
}
