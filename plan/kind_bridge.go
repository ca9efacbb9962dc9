package plan

import (
	"fmt"
	"net/netip"
	"strings"

	"plumb/plan/ipam"
)

// BridgeKind is a bridge network's (bridge up).
var BridgeKind = Register(bridgeKind{})

type bridgeKind struct{ FactsCodec[BridgeFacts] }

func (bridgeKind) Name() string      { return "bridge" }
func (bridgeKind) FactsVersion() int { return 1 }

// BridgeFacts are a bridge network's (bridge up): what attachments need.
type BridgeFacts struct {
	Subnet  netip.Prefix `json:"subnet"`
	Gateway netip.Addr   `json:"gateway"`
	NAT     bool         `json:"nat"`
	MTU     int          `json:"mtu,omitempty"` // 0: the kernel's default
	// Firewall is the back end of the network's rules: "" iptables, or
	// "nftables". Its attachments' published ports go there too.
	Firewall string `json:"firewall,omitempty"`
	// Subnet6 and Gateway6 are the IPv6 side of a dual-stack network
	// (zero for one family: an IPv6-only network's are Subnet and
	// Gateway). NAT6 says its IPv6 is masqueraded (--ipv6-nat), not routed.
	Subnet6  netip.Prefix `json:"subnet6,omitzero"`
	Gateway6 netip.Addr   `json:"gateway6,omitzero"`
	NAT6     bool         `json:"nat6,omitempty"`
	// LoopbackGuard says the network's rules take the host's own
	// connections to 127.0.0.1 to published ports and drop new ones from
	// the bridge to 127.0.0.0/8: a bridge made before them lacks the
	// guard, and its attachments leave route_localnet alone.
	LoopbackGuard bool `json:"loopback_guard,omitempty"`
	// Mesh is the mesh the bridge is on ("" none): its subnet is the
	// node's of the mesh, its MTU the mesh's, and traffic to Cluster, the
	// mesh's cluster CIDR, leaves unmasqueraded.
	Mesh    string       `json:"mesh,omitempty"`
	Cluster netip.Prefix `json:"cluster,omitzero"`
	// DNS: a resolver answers the network's names at its gateway.
	DNS bool `json:"dns,omitempty"`
	// Project is the Compose project that made it ("" none): its down
	// removes it, and no other project's down does.
	Project string `json:"project,omitempty"`
	// Internal: nothing is forwarded into or out of it; its attachments
	// publish no port and get no default route through it.
	Internal bool `json:"internal,omitempty"`
	// Isolate: it forwards nothing to other isolated networks.
	Isolate bool `json:"isolate,omitempty"`
}

// Kind is BridgeKind.
func (BridgeFacts) Kind() Kind { return BridgeKind }

func (bridgeKind) DecodeDetails(d *DetailsReader) Facts {
	return BridgeFacts{Subnet: d.Prefix("subnet"), Gateway: d.Addr("gateway"), NAT: d.S("nat") == "true", MTU: d.Num("mtu"), Firewall: d.S("firewall"),
		Subnet6: d.Prefix("subnet6"), Gateway6: d.Addr("gateway6"), NAT6: d.S("nat6") == "true", LoopbackGuard: d.S("loopback_guard") == "true"}
}

// Family is one address family of a network: its subnet and gateway.
type Family struct {
	Subnet  netip.Prefix
	Gateway netip.Addr
}

// Families are the network's families: the first (IPv4 when it has one),
// then the IPv6 of a dual-stack network.
func (f BridgeFacts) Families() []Family {
	out := []Family{{f.Subnet, f.Gateway}}
	if f.Subnet6.IsValid() {
		out = append(out, Family{f.Subnet6, f.Gateway6})
	}
	return out
}

// Of is the network's family fam, ok false when it has none.
func (f BridgeFacts) Of(fam ipam.Family) (Family, bool) {
	for _, n := range f.Families() {
		if n.Subnet.IsValid() && ipam.FamilyOf(n.Subnet.Addr()) == fam {
			return n, true
		}
	}
	return Family{}, false
}

// Rules: a bridge's forwarding and NAT rules, and it is a bridge.
func (bridgeKind) Rules(Facts) (rules, bridged bool) { return true, true }

func (bridgeKind) Firewall(f Facts) string {
	b, _ := f.(BridgeFacts)
	return b.Firewall
}

func (bridgeKind) Subnets(f Facts) []netip.Prefix {
	b, _ := f.(BridgeFacts)
	var out []netip.Prefix
	for _, n := range b.Families() {
		out = append(out, n.Subnet)
	}
	return out
}

// Input is f less the loopback guard, which a bridge up adds of its own.
func (bridgeKind) Input(f Facts) Facts {
	b, ok := f.(BridgeFacts)
	if !ok {
		return f
	}
	b.LoopbackGuard = false
	return b
}

// ObjectLock is the bridge's network lock, exclusive.
func (bridgeKind) ObjectLock(name string) Lock { return NetworkLock(name, false) }

// Dependents are the attachments and containers on the bridge.
func (bridgeKind) Dependents(st *Store, rec *Record, _ Facts) []*Record {
	return Attachments(st, rec.Name)
}

// BeforeDown refuses a bridge with containers run on it, and one with
// attachments unless opts.Force (they are then undone first), or while a
// journal that could be one of its containers cannot be read; those
// removed with it are neither refused nor brought.
func (k bridgeKind) BeforeDown(env Env, rec *Record, opts DownOptions, _ bool) ([]*Record, error) {
	if err := unlistedMembers(env.St, rec.Name, nil); err != nil {
		return nil, err
	}
	var before []*Record
	for _, h := range opts.notRemoved(k.Dependents(env.St, rec, nil)) {
		a, err := env.St.Load(h.Kind, h.Name) // whole and checked: it is to be undone
		if err != nil {
			return nil, unlistedMembers(env.St, rec.Name, []error{err})
		}
		before = append(before, a)
	}
	var run, held []string
	var orphans, attached []*Record
	for _, a := range before {
		switch deps, _ := DependentsOf(env.St, a); {
		case a.Is(AttachmentKind):
			attached = append(attached, a)
		case IsHeld(a) && len(deps) == 0:
			// A sandbox no container holds any more (a removal cut
			// short): nothing's, so it goes first, as recover would.
			orphans = append(orphans, a)
		case IsHeld(a):
			held = append(held, namesOf(deps)...)
		default: // a container plumb runs
			run = append(run, a.Name)
		}
	}
	run = append(run, held...)
	if len(run) > 0 {
		// --force detaches attachments; a container is more than its
		// network, and stopping it is `plumb stop`'s to do.
		return nil, &Refused{Msg: fmt.Sprintf("%s has containers run on it: %s; stop them first (plumb stop NAME)", rec.Name, strings.Join(run, ", "))}
	}
	if len(attached) > 0 && !opts.Force {
		before = attached
		var ids []string
		for _, a := range before {
			f, err := a.AttachmentFacts()
			if err != nil {
				return nil, err
			}
			ids = append(ids, f.IP.String()+" ("+f.Target+")")
		}
		return nil, &Refused{Msg: fmt.Sprintf("%s has %d attached containers: %s; detach them, or use --force", rec.Name, len(before), strings.Join(ids, ", "))}
	}
	return append(orphans, attached...), nil
}
