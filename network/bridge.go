package network

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"

	"plumb/actions"
	"plumb/plan"
	"plumb/plan/firewall"
	"plumb/plan/ipam"
)

// Bridge is a docker0-like network: a bridge with the gateway address,
// forwarding, and rules in chains of plumb's own so that the network's rules
// are found, and removed, as one and never disturb rules plumb did not write.
type Bridge struct {
	Name    actions.IfName
	Subnet  netip.Prefix
	Gateway netip.Addr     // zero: the subnet's first host
	Uplink  actions.IfName // "" : the default route's; used to check the MTU
	NoNAT   bool
	MTU     int // 0: the kernel's default
	// Firewall writes the network's rules; nil: the default.
	Firewall firewall.Backend
	// Subnet6 and Gateway6 make the network dual stack: its IPv6 side
	// (an IPv6-only network's subnet is Subnet). Gateway6 zero: the
	// subnet's first host.
	Subnet6  netip.Prefix
	Gateway6 netip.Addr
	// NAT6 masquerades the network's IPv6 traffic as its IPv4 is; without
	// it IPv6 is routed (forwarded with the containers' own addresses),
	// Docker's default.
	NAT6 bool
	// Change: asked for again with other input, the bridge is changed
	// into the new one (Update) rather than refused, as `bridge up` does.
	// A CNI ADD asks for its bridge on every call, and a configuration
	// that differs from the bridge is refused, as the reference plugin
	// leaves an existing bridge as it is.
	Change bool
	// Keep: settings not given, that a bridge already up keeps (see
	// Existing).
	Keep BridgeKeep
	// Mesh puts the bridge on a mesh of this node (`bridge up --mesh`):
	// its subnet is the node's (or one inside it), its MTU the mesh's,
	// and what goes to the cluster leaves unmasqueraded. Existing reads
	// the mesh into Cluster and the defaults.
	Mesh    string
	Cluster netip.Prefix
	// DNS runs a resolver for the network on its gateway (bridge up
	// --dns): its containers' /etc/resolv.conf points there, and their
	// names and aliases resolve on the network, as on Docker's
	// user-defined networks.
	DNS bool
	// Project is the Compose project that makes it, kept in its facts.
	Project string
	// Internal: nothing is forwarded into or out of the network (its
	// containers reach each other and the host's address on it, nothing
	// beyond), no NAT, no published ports, no default route for its
	// containers, and its resolver asks no nameserver beyond it: Docker's
	// `--internal`.
	Internal bool
	// Isolate: the network forwards nothing to another isolated network,
	// as Docker's networks are kept apart (Compose's networks are). Its
	// bridge is in the device group firewall.IsolatedGroup, and its rules
	// drop what it would forward to an interface of that group.
	Isolate bool
}

// families is the bridge's families as its facts will record them.
func (b *Bridge) families() []plan.Family {
	out := []plan.Family{{Subnet: b.Subnet, Gateway: b.gateway()}}
	if b.Subnet6.IsValid() {
		out = append(out, plan.Family{Subnet: b.Subnet6, Gateway: b.gateway6()})
	}
	return out
}

// Check applies the rules that need no host.
func (b *Bridge) Check() error {
	if b.Name == "lo" {
		return plan.Refuse("<name>", "lo is the loopback interface")
	}
	if b.Mesh != "" {
		if err := b.checkMesh(); err != nil || !b.Subnet.IsValid() {
			return err // the subnet is the mesh's, read by Existing
		}
	}
	for _, n := range b.families() {
		if err := ipam.CheckBridgeSubnet(n.Subnet); err != nil {
			return plan.RefuseErr("subnet", err)
		}
		if err := checkHost("gateway", n.Gateway, n.Subnet); err != nil {
			return err
		}
	}
	if b.Subnet6.IsValid() && (ipam.FamilyOf(b.Subnet.Addr()) != ipam.V4 || ipam.FamilyOf(b.Subnet6.Addr()) != ipam.V6) {
		return plan.Refuse("subnet", "give at most one subnet of each family (%s, %s)", b.Subnet, b.Subnet6)
	}
	if b.NAT6 && b.v6() == nil {
		return plan.Refuse("ipv6-nat", "the network has no IPv6 subnet to masquerade")
	}
	if b.NAT6 && b.NoNAT {
		return plan.Refuse("ipv6-nat", "--no-nat leaves out forwarding and NAT for both families")
	}
	if b.Internal {
		switch {
		case b.NoNAT:
			return plan.Refuse("internal", "an internal network's rules drop what would leave it, and --no-nat writes no rules")
		case b.NAT6:
			return plan.Refuse("internal", "an internal network's traffic never leaves it: there is nothing to masquerade (--ipv6-nat)")
		case b.Mesh != "":
			return plan.Refuse("internal", "a network on mesh %s forwards to the other nodes: it cannot be internal", b.Mesh)
		case b.Uplink != "":
			return plan.Refuse("internal", "an internal network has no uplink: nothing leaves it by %s", b.Uplink)
		}
	}
	if b.Isolate && b.NoNAT {
		return plan.Refuse("isolate", "an isolated network's rules drop what it would forward to other isolated networks, and --no-nat writes no rules")
	}
	f := ipam.V4
	if b.v6() != nil {
		f = ipam.V6 // the larger minimum
	}
	if b.MTU != 0 && (b.MTU < f.MinMTU() || b.MTU > 65535) {
		return plan.Refuse("mtu", "%d is not an MTU the kernel takes for %s (%d to 65535)", b.MTU, f, f.MinMTU())
	}
	return nil
}

// v6 is the bridge's IPv6 family, nil when it has none.
func (b *Bridge) v6() *plan.Family {
	for _, n := range b.families() {
		if ipam.FamilyOf(n.Subnet.Addr()) == ipam.V6 {
			return &n
		}
	}
	return nil
}

// gateway6 is the IPv6 gateway of a dual-stack bridge.
func (b *Bridge) gateway6() netip.Addr {
	if b.Gateway6.IsValid() {
		return b.Gateway6
	}
	return ipam.FirstHost(b.Subnet6)
}

// gateway is the bridge's own address: the one given, or the subnet's
// first host.
func (b *Bridge) gateway() netip.Addr {
	if b.Gateway.IsValid() {
		return b.Gateway
	}
	return ipam.FirstHost(b.Subnet)
}

// Plan creates the bridge, gives it the gateway address, and unless NoNAT
// turns on forwarding with the network's own firewall rules for forwarding,
// NAT and published ports.
// A bridge on a mesh not read yet (Existing) reads it first.
func (b *Bridge) Plan(_ context.Context, env plan.Env) ([]*plan.Plan, error) {
	var l plan.Layout // where a resolver keeps its PID (DNS)
	if env.St != nil {
		l = env.St.Layout
	}
	if b.Mesh != "" && !b.Cluster.IsValid() {
		m, err := b.onMesh(env)
		if err != nil {
			return nil, err
		}
		return plan.One(m.plan(l))
	}
	return plan.One(b.plan(l))
}

// Again: the same input is nothing to do.
func (b *Bridge) Again(rec *plan.Record, p *plan.Plan) (string, error) {
	return plan.Again(rec, p, "up", "plumb bridge down "+p.Name)
}

func (b *Bridge) plan(l plan.Layout) (*plan.Plan, error) {
	br, gw := b.Name.String(), b.gateway()
	fw := firewallOf(b.Firewall)
	add := actions.LinkAddBridge{Name: b.Name, Address: ipam.MAC(gw)}
	if b.Isolate {
		add.Group = firewall.IsolatedGroup
	}
	steps := []plan.Step{{Action: add}}
	if b.MTU != 0 {
		steps = append(steps, plan.Step{Action: actions.LinkSetMTU{Dev: b.Name, MTU: b.MTU}})
	}
	// The host's end of every container's network takes no router
	// advertisement: with IPv6 forwarding off (an IPv4-only, internal or
	// --no-nat bridge) the kernel would act on one a container sent.
	steps = append(steps, plan.Step{Action: actions.LinkSysctlSet{Dev: b.Name, Key: actions.LinkSysctlKey("ipv6", b.Name, "accept_ra"), Value: "0"}})
	for _, n := range b.families() {
		// A fresh bridge's address needs no duplicate address detection:
		// it would only hold the address back (tentative) for a second.
		nodad := ipam.FamilyOf(n.Subnet.Addr()) == ipam.V6
		steps = append(steps, plan.Step{Action: actions.AddrAdd{Addr: netip.PrefixFrom(n.Gateway, n.Subnet.Bits()), Dev: b.Name, NoDAD: nodad}})
	}
	steps = append(steps, plan.Step{Action: actions.LinkSetUp{Dev: b.Name}})
	if b.DNS {
		steps = append(steps, plan.Step{Action: actions.ResolverStart{StateDir: l.Dir, Network: br, Listen: gw, PIDFile: l.ResolverPID(br), Internal: b.Internal}})
	}
	if !b.NoNAT {
		for _, n := range b.families() {
			fam := ipam.FamilyOf(n.Subnet.Addr())
			rules, err := fw.Actions(b.needs(fam, n.Subnet)...)
			if err != nil {
				return nil, plan.RefuseErr("", err)
			}
			if !b.Internal { // nothing of it is routed
				steps = append(steps, forwarding(fam))
			}
			steps = append(steps, stepsOf(rules)...)
		}
	}
	nat := "NAT"
	switch {
	case b.NoNAT:
		nat = "no NAT"
	case b.Internal:
		nat = "internal (nothing forwarded in or out)"
	}
	if b.Isolate && !b.Internal {
		nat += ", isolated from other isolated networks"
	}
	nated := !b.NoNAT && !b.Internal
	facts := plan.BridgeFacts{Subnet: b.Subnet, Gateway: gw, NAT: nated, MTU: b.MTU, Firewall: recordedFirewall(fw, !b.NoNAT),
		LoopbackGuard: nated && ipam.FamilyOf(b.Subnet.Addr()) == ipam.V4, Mesh: b.Mesh, Cluster: b.Cluster, DNS: b.DNS, Project: b.Project,
		Internal: b.Internal, Isolate: b.Isolate}
	summary := fmt.Sprintf("bridge %s %s gateway %s, %s", br, b.Subnet, gw, nat)
	if v6 := b.v6(); v6 != nil {
		facts.NAT6 = b.NAT6
		if b.Subnet6.IsValid() {
			facts.Subnet6, facts.Gateway6 = v6.Subnet, v6.Gateway
			summary = fmt.Sprintf("bridge %s %s gateway %s, %s gateway %s, %s", br, b.Subnet, gw, v6.Subnet, v6.Gateway, nat)
		}
		if nated {
			summary += ", IPv6 " + b.how6()
		}
	}
	if b.Mesh != "" {
		summary += fmt.Sprintf(" but to the cluster %s (mesh %s)", b.Cluster, b.Mesh)
	}
	if b.DNS {
		summary += ", names resolved at " + gw.String()
	}
	spec, err := plan.EncodeSpec(plan.BridgeSpecVersion, plan.BridgeSpec{Name: actions.IfName(br), Subnet: b.Subnet, Gateway: gw, Uplink: b.Uplink,
		NoNAT: b.NoNAT, MTU: b.MTU, Firewall: firewall.Recorded(fw), Subnet6: facts.Subnet6, Gateway6: facts.Gateway6, NAT6: b.NAT6,
		Mesh: b.Mesh, Cluster: b.Cluster, DNS: b.DNS, Project: b.Project, Internal: b.Internal, Isolate: b.Isolate})
	if err != nil {
		return nil, err
	}
	return &plan.Plan{Kind: plan.BridgeKind.Name(), Name: br, Steps: steps, Facts: facts, Spec: spec, Summary: summary}, nil
}

// how6 says what happens to the network's IPv6 traffic leaving it.
func (b *Bridge) how6() string {
	if b.NAT6 {
		return "masqueraded"
	}
	return "routed"
}

// loopback is IPv4's loopback block, the source of the host's connections
// to 127.0.0.1.
var loopback = netip.MustParsePrefix("127.0.0.0/8")

// needs are what the network needs of the firewall for one family: its
// own rules for forwarding, NAT (IPv4, and IPv6 with NAT6) and published
// ports.
func (b *Bridge) needs(fam ipam.Family, subnet netip.Prefix) []firewall.Need {
	br := b.Name.String()
	if b.Internal {
		// Docker's internal network: its containers reach each other,
		// and nothing is forwarded in or out.
		return []firewall.Need{
			firewall.OwnRules{Family: fam, Network: br, Hook: firewall.Isolation},
			firewall.DropForward{Family: fam, Network: br, In: b.Name, Out: b.Name, NotOut: true, Why: "keep the containers of the internal network " + br + " from reaching beyond it"},
			firewall.DropForward{Family: fam, Network: br, In: b.Name, NotIn: true, Out: b.Name, Why: "keep anything beyond the internal network " + br + " from reaching its containers"},
			firewall.JumpInto{Family: fam, Network: br, Hook: firewall.Isolation},
			firewall.OwnRules{Family: fam, Network: br, Hook: firewall.Forwarded},
			firewall.AcceptForward{Family: fam, Network: br, In: b.Name, Out: b.Name, Why: "let containers on " + br + " reach each other"},
			firewall.JumpInto{Family: fam, Network: br, Hook: firewall.Forwarded},
		}
	}
	var needs []firewall.Need
	if b.Isolate {
		needs = append(needs,
			firewall.OwnRules{Family: fam, Network: br, Hook: firewall.Isolation},
			firewall.DropForward{Family: fam, Network: br, In: b.Name, Out: b.Name, NotOut: true, OutGroup: firewall.IsolatedGroup, NotDNAT: true,
				Why: fmt.Sprintf("keep containers on %s from reaching other isolated networks (bridges of device group %d), but for their published ports at the host's addresses, as Docker keeps its networks apart", br, firewall.IsolatedGroup)},
			firewall.JumpInto{Family: fam, Network: br, Hook: firewall.Isolation})
	}
	beyond := "let containers on " + br + " reach beyond it"
	if fam == ipam.V6 && !b.NAT6 {
		beyond += " (IPv6 is routed with the containers' own addresses, not masqueraded, as Docker does by default; --ipv6-nat masquerades it; hosts beyond need a route to " + subnet.String() + " through this host)"
	}
	needs = append(needs,
		firewall.OwnRules{Family: fam, Network: br, Hook: firewall.Forwarded},
		firewall.AcceptForward{Family: fam, Network: br, In: b.Name, Out: b.Name, Why: "let containers on " + br + " reach each other"},
		firewall.AcceptForward{Family: fam, Network: br, In: b.Name, Out: b.Name, NotOut: true, Why: beyond},
		firewall.AcceptForward{Family: fam, Network: br, Out: b.Name, Replies: true, Why: "let replies come back to containers on " + br},
		firewall.JumpInto{Family: fam, Network: br, Hook: firewall.Forwarded},
	)
	if b.Mesh != "" {
		// The bridge's chain accepts what leaves it, and replies; new
		// connections from the pods of other nodes come in by the mesh.
		needs = slices.Insert(needs, len(needs)-1, firewall.Need(firewall.AcceptForward{Family: fam, Network: br, In: actions.IfName(b.Mesh), Out: b.Name,
			Why: "let pods on the other nodes of mesh " + b.Mesh + " reach containers on " + br}))
	}
	if fam == ipam.V4 || b.NAT6 {
		masq := firewall.Masquerade{Family: fam, Network: br, Source: subnet, Out: b.Name, NotOut: true,
			Why: fmt.Sprintf("rewrite the source of %s's traffic leaving %s to the host's address (NAT)", subnet, br)}
		if b.Mesh != "" {
			// Pods see each other's own addresses across the cluster, as
			// flannel leaves them; multicast is never masqueraded.
			masq.NotTo, masq.RandomFully = []netip.Prefix{b.Cluster, multicastNet}, true
			masq.Why = fmt.Sprintf("rewrite the source of %s's traffic leaving %s, but to the cluster %s and multicast, to the host's address (NAT)", subnet, br, b.Cluster)
		}
		needs = append(needs,
			firewall.OwnRules{Family: fam, Network: br, Hook: firewall.Outgoing},
			masq,
		)
		if fam == ipam.V4 {
			// The host's own connections to a published port at
			// 127.0.0.1 reach the bridge with that source
			// (route_localnet, which an attachment that publishes sets):
			// no container could answer it, so it becomes the bridge's
			// address, as the reference portmap plugin does.
			needs = append(needs, firewall.Masquerade{Family: fam, Network: br, Source: loopback, Out: b.Name,
				Why: fmt.Sprintf("rewrite the source of the host's connections from its loopback to published ports on %s to %s's address", br, br)})
		}
		needs = append(needs, firewall.JumpInto{Family: fam, Network: br, Hook: firewall.Outgoing})
	}
	needs = append(needs,
		firewall.OwnRules{Family: fam, Network: br, Hook: firewall.ForTheHost},
		firewall.JumpInto{Family: fam, Network: br, Hook: firewall.ForTheHost},
	)
	if fam == ipam.V4 {
		needs = append(needs,
			firewall.OwnRules{Family: fam, Network: br, Hook: firewall.Incoming},
			firewall.GuardLoopback{Network: br, In: b.Name,
				Why: "drop new connections from " + br + " to the host's loopback (127.0.0.0/8), which route_localnet would let through to services listening there alone"},
			firewall.JumpInto{Family: fam, Network: br, Hook: firewall.Incoming},
		)
	}
	return needs
}

// Preflight checks the host: the name is free, the subnet overlaps no route
// of the host, nameserver, or other plumb network. It returns warnings for
// what works but may surprise (an MTU above the uplink's).
func (b *Bridge) Preflight(ctx context.Context, env plan.Env) (warnings []string, err error) {
	r, st := env.R, env.St
	// plumb's own networks first: no process needed.
	recs, _ := st.Headers()
	for _, rec := range recs {
		if b.Mesh != "" && rec.Is(plan.MeshKind) && rec.Name == b.Mesh {
			continue // its cluster holds this bridge's subnet, checked by Existing
		}
		for _, s := range rec.Subnets() {
			for _, n := range b.families() {
				if s.Overlaps(n.Subnet) {
					return nil, plan.Refuse("subnet", "%s overlaps %s's subnet %s", n.Subnet, rec.ID(), s)
				}
			}
		}
	}
	links, err := actions.LinkNames(ctx, r, actions.Netns{})
	if err != nil {
		return nil, err
	}
	if _, taken := links[b.Name.String()]; taken {
		return nil, plan.Refuse("<name>", "an interface named %s already exists on the host and plumb did not make it", b.Name)
	}
	// The default route's device is looked up, not written back: checking
	// leaves the recipe as it was given.
	uplink := b.Uplink
	if uplink == "" {
		dev, err := actions.DefaultRouteDev(ctx, r)
		if err != nil {
			return nil, err
		}
		uplink = actions.IfName(dev)
	} else if _, ok := links[uplink.String()]; !ok {
		return nil, plan.Refuse("uplink", "the host has no interface named %s", uplink)
	}
	if w := firewall.MTUWarning(uplink.String(), links[uplink.String()], b.MTU); w != "" {
		warnings = append(warnings, w)
	}
	for _, n := range b.families() {
		if err := hostHolds(ctx, r, "subnet", n.Subnet, "subnet", "containers"); err != nil {
			return nil, err
		}
	}
	if b.DNS {
		// The resolver listens on the host: what the host's INPUT drops
		// never reaches it (Docker's embedded DNS is inside each
		// container and meets no such chain).
		for _, c := range (firewall.Host{R: env.R, Proc: env.Proc}).InputDrops(ctx) {
			warnings = append(warnings, fmt.Sprintf("%s drops by its policy what no rule accepts: the resolver of %s answers at %s:53, which its containers reach through INPUT (for example iptables -I INPUT -i %s -p udp --dport 53 -j ACCEPT, and tcp); plumb changes no policy", c, b.Name, b.gateway(), b.Name))
		}
	}
	return warnings, nil
}

// hostHolds refuses p, given as flag, when a route of the host overlaps
// it (choose another what) or it holds one of the host's nameservers,
// which who could not reach.
func hostHolds(ctx context.Context, r actions.Runner, flag string, p netip.Prefix, what, who string) error {
	routes, err := actions.Routes(ctx, r, p.Addr())
	if err != nil {
		return err
	}
	for _, rt := range routes {
		if rt.Overlaps(p) {
			return plan.Refuse(flag, "%s overlaps the host's route to %s; choose another %s", p, rt, what)
		}
	}
	for _, ns := range nameservers() {
		if p.Contains(ns) {
			return plan.Refuse(flag, "%s contains the host's nameserver %s; %s could not reach it", p, ns, who)
		}
	}
	return nil
}

// nameservers reads the host's resolvers, as Docker checks them.
func nameservers() []netip.Addr {
	f, err := os.Open("/etc/resolv.conf")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []netip.Addr
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "nameserver" {
			if a, err := netip.ParseAddr(fields[1]); err == nil {
				out = append(out, a)
			}
		}
	}
	return out
}

// Locks: a network is made alone.
// A bridge on a mesh holds the mesh too, shared: the mesh cannot go, nor
// change, while the bridge takes its settings.
func (b *Bridge) Locks() []plan.Lock {
	locks := []plan.Lock{plan.NetworkLock(b.Name.String(), false)}
	if b.Mesh != "" {
		locks = append(locks, plan.NetworkLock(b.Mesh, true))
	}
	return locks
}

// FreeSubnet is the first subnet of pool (a /24 of an IPv4 pool, a /64 of
// an IPv6 one) that no plumb network, route of the host or nameserver of
// its holds, nor one of skip (subnets already chosen by the same plan):
// how a Compose network without ipam gets one, as Podman gives
// 10.89.N.0/24 to each new network.
func FreeSubnet(ctx context.Context, env plan.Env, pool netip.Prefix, skip []netip.Prefix) (netip.Prefix, error) {
	size := 24
	if pool.Addr().Is6() {
		size = 64
	}
	if pool.Bits() > size {
		return netip.Prefix{}, fmt.Errorf("pool %s: a prefix of /%d or shorter", pool, size)
	}
	recs, _ := env.St.Headers()
	for _, rec := range recs {
		skip = append(skip, rec.Subnets()...)
	}
	routes, err := actions.Routes(ctx, env.R, pool.Addr())
	if err != nil {
		return netip.Prefix{}, err
	}
	ns := nameservers()
	// At most 65,536 candidates: the first /64s of a /48 (the pool's
	// bits beyond 16 are never needed for a host's networks).
	n := 1 << min(size-pool.Bits(), 16)
	for i := 0; i < n; i++ {
		p := nthSubnet(pool.Masked().Addr(), size, i)
		taken := slices.ContainsFunc(skip, p.Overlaps) || slices.ContainsFunc(routes, p.Overlaps) || slices.ContainsFunc(ns, p.Contains)
		if !taken {
			return p, nil
		}
	}
	return netip.Prefix{}, plan.Refuse("", "every /%d of %s is taken by a network, a route or a nameserver of this host: give the network a subnet (ipam.config)", size, pool)
}

// nthSubnet is the i-th /size subnet from base (i < 65,536): the subnet
// number sits in the 16 bits just above the host part (size 24 or 64,
// byte aligned).
func nthSubnet(base netip.Addr, size, i int) netip.Prefix {
	bump := func(b []byte) {
		end := size / 8
		v := uint16(b[end-2])<<8 | uint16(b[end-1]) + uint16(i)
		b[end-2], b[end-1] = byte(v>>8), byte(v)
	}
	if base.Is4() {
		a := base.As4()
		bump(a[:])
		return netip.PrefixFrom(netip.AddrFrom4(a), size)
	}
	a := base.As16()
	bump(a[:])
	return netip.PrefixFrom(netip.AddrFrom16(a), size)
}
