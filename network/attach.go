package network

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"

	"plumb/actions"
	"plumb/plan"
	"plumb/plan/firewall"
	"plumb/plan/ipam"
)

// BridgeNetwork is a bridge as a Network (see network.go): its name and
// facts, as `bridge up` recorded them (or as a CNI config gives them).
type BridgeNetwork struct {
	Name actions.IfName
	plan.BridgeFacts
}

// LoadBridge reads a bridge plumb keeps, with an error that says what to do
// when there is none.
func LoadBridge(st *plan.Store, name string) (*plan.Record, error) {
	rec, err := st.Load(plan.BridgeKind.Name(), name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, noBridge(name)
	}
	return rec, err
}

func noBridge(name string) error {
	return &plan.Refused{Msg: fmt.Sprintf("plumb keeps no bridge named %s (create it with `plumb bridge up %s --subnet CIDR`)", name, name)}
}

// NetworkOf is a bridge record as a network containers can join: it must
// be up.
func NetworkOf(r *plan.Record) (BridgeNetwork, error) {
	if r.State != plan.StateUp {
		return BridgeNetwork{}, plan.Refuse("", "%s is not up (state %s); run `plumb recover` first", r.ID(), r.State)
	}
	f, err := r.BridgeFacts()
	if err != nil {
		return BridgeNetwork{}, err
	}
	return BridgeNetwork{Name: actions.IfName(r.Name), BridgeFacts: f}, nil
}

// LoadNetwork reads a bridge plumb keeps as a network containers can join:
// its journal's header, whose facts are all a network is (decoding and
// checking its steps was a tenth of an attach's CPU time).
func LoadNetwork(st *plan.Store, name string) (BridgeNetwork, error) {
	rec, err := st.LoadHeader(plan.BridgeKind.Name(), name)
	if errors.Is(err, fs.ErrNotExist) {
		return BridgeNetwork{}, noBridge(name)
	}
	if err != nil {
		return BridgeNetwork{}, err
	}
	return NetworkOf(rec)
}

// AttachmentID names an attachment: its object and its links on the host.
// The CLI derives it from the address (AddressID); a runtime names an
// attachment by its own identity.
type AttachmentID struct {
	Object   string         // the object's name under kind "attachment"
	HostVeth actions.IfName // the host end, plugged into the bridge
	PeerTemp actions.IfName // the container end's name until it is renamed
}

// AddressID is the CLI's identity of an attachment: filed under its bridge
// and address, its links named after the address in hex ("veth" and 8 hex
// digits: stable, unique, within 15 bytes).
func AddressID(bridge string, ip netip.Addr) AttachmentID {
	h := ipam.Hex(ip)
	if ipam.FamilyOf(ip) == ipam.V6 {
		// An IPv6-only network's: its last four bytes repeat from one
		// network to the next (fd00:66::2, fd00:67::2), and the host ends
		// of all networks share the host's namespace; a hash of the whole
		// address does not (a clash left is refused by Preflight).
		sum := sha256.Sum256(ip.AsSlice())
		h = hex.EncodeToString(sum[:4])
	}
	return AttachmentID{Object: bridge + "-" + ip.String(), HostVeth: actions.IfName("veth" + h), PeerTemp: actions.IfName("plmb" + h)}
}

// RuntimeID is the identity of an attachment a runtime names (CNI): its
// object is named after the network and the container ID, readable and
// within plumb's object-name rules, with a hash of all three that makes it
// unique; its links are named after its address, as the CLI's are (an
// address is given out once, under the lock, so the names never clash).
func RuntimeID(ref plan.RuntimeRef) AttachmentID {
	sum := sha256.Sum256([]byte(ref.Network + "\x00" + ref.ContainerID + "\x00" + ref.IfName))
	return AttachmentID{Object: objectWord(ref.Network, 24) + "-" + objectWord(ref.ContainerID, 12) + "-" + hex.EncodeToString(sum[:6])}
}

// objectWord is s cut to n bytes with every byte an object name refuses
// made '_' (CNI names are already of the allowed bytes).
func objectWord(s string, n int) string {
	b := []byte(s)
	if len(b) > n {
		b = b[:n]
	}
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			b[i] = '_'
		}
	}
	return string(b)
}

// RuntimeAttachments lists the attachments a runtime made on its network
// (headers only: Load one to undo it).
func RuntimeAttachments(st *plan.Store, network string) []*plan.Record {
	recs, _ := st.Headers()
	var out []*plan.Record
	for _, r := range recs {
		if f, ok := r.Attachment(); ok && r.Is(plan.AttachmentKind) && f.Runtime != nil && f.Runtime.Network == network {
			out = append(out, r)
		}
	}
	return out
}

// Route is a route the container gets, besides its subnet's own.
type Route struct {
	Dst netip.Prefix
	Via netip.Addr
}

// Attach joins a container to a network: a veth pair whose host end joins
// the network as its driver says (a bridge's: plugged into it) and whose
// other end is created inside the container (no move between namespaces),
// renamed there, addressed, and routed through the gateway; published
// ports are firewall rules of the network.
type Attach struct {
	// Network is the network joined by an attachment planned alone
	// (Allocate, Plan, Preflight); an AttachCall's attachments are
	// planned on the network it reads, and leave it nil.
	Network Network
	Target  actions.Netns
	IP      netip.Addr // zero: the next free address, set when planned
	// IP6 is the IPv6 address on a dual-stack network (given, or set
	// when planned: the IPv4 address's host part where that is free,
	// else the next free one). Given on an IPv6-only network, it becomes
	// IP.
	IP6     netip.Addr
	If      actions.IfName
	Publish []plan.Port
	// KeepPorts: no port was asked for, and a container already attached
	// (Republish) keeps those it publishes: running `bridge attach` again
	// to make sure a container is attached must not unpublish its ports
	// (--no-publish does).
	KeepPorts bool
	// ID names the attachment; zero: AddressID of its address.
	ID AttachmentID
	// NewNetns: the target namespace is made by the same plan (plumb run),
	// so it cannot be probed yet; it must not exist.
	NewNetns bool
	// Firewall writes the published ports' rules; nil: the bridge's back
	// end, as its facts record it.
	Firewall firewall.Backend
	// Range limits the addresses given out; zero: the whole subnet.
	// Range6 is the IPv6 subnet's of a dual-stack network.
	Range  ipam.Range
	Range6 ipam.Range
	// OwnRoutes: the container's routes are Routes alone (a CNI config's);
	// false: a default route through the gateway.
	OwnRoutes bool
	Routes    []Route
	// Hairpin turns on hairpin mode on the bridge port.
	Hairpin bool
	// Runtime is the runtime's name for the attachment (CNI), journaled.
	Runtime *plan.RuntimeRef
	// Pod is the Kubernetes pod the runtime names (CNI_ARGS), journaled.
	Pod *plan.PodRef
	// Name and Aliases are the names it answers to on its network, in
	// the network's names index (see names.go); Name "": its named
	// namespace's name, or its runtime's container ID.
	Name    string
	Aliases []string
	// StableMAC gives the container's end a MAC address made of its IPv4
	// address, as Docker gives 02:42:... : a container replaced with its
	// address keeps its MAC, so that the host's neighbour entry for it
	// stays right (with a new random one, what the host sends it goes to
	// the old MAC until the entry is probed again, seconds later).
	StableMAC bool
	// Taken are addresses an earlier container of the same dry run (a
	// Compose plan) was given on this network: not free for this one,
	// though the store does not hold them. Without it, each container of
	// a 50-service plan was planned again for each address before it
	// (1,275 plans instead of 50).
	Taken map[netip.Addr]bool `json:"-"`
	// Replaces are the objects (kind/name) this attachment replaces, in a
	// dry run of a replace that has not removed them yet: their hold on
	// the network and its addresses is no conflict.
	Replaces []string
}

// id is the attachment's identity on net: ID's parts where given, the
// address's (AddressID) for the rest.
func (a *Attach) id(net Network) AttachmentID {
	id := AddressID(net.Ref().Name, a.IP)
	if a.ID.Object != "" {
		id.Object = a.ID.Object
	}
	if a.ID.HostVeth != "" {
		id.HostVeth, id.PeerTemp = a.ID.HostVeth, a.ID.PeerTemp
	}
	return id
}

// Check applies the rules of the input alone.
func (a *Attach) Check() error {
	if a.Target.IsHost() {
		return plan.Refuse("", "give the container as --pid PID or --netns NAME")
	}
	if err := CheckAliases(a.Aliases, true); err != nil {
		return err
	}
	for i, p := range a.Publish {
		for _, q := range a.Publish[:i] {
			if p.Shares(q) {
				return plan.Refuse("publish", "host port %d/%s is published twice (%s and %s)", p.Host, p.Proto, q, p)
			}
		}
	}
	return nil
}

// checkRecords applies the rules that need plumb's records: the container
// is not attached to net yet, and published ports have NAT chains to go in.
func (a *Attach) checkRecords(st *plan.Store, net Network) error {
	name := net.Ref().Name
	if a.ID.Object != "" {
		// A runtime's identity: the same one twice is refused; one
		// container may have several interfaces on the network.
		if _, err := st.Load(plan.AttachmentKind.Name(), a.ID.Object); err == nil || !errors.Is(err, fs.ErrNotExist) {
			if err != nil {
				return err
			}
			return plan.Refuse("", "attachment/%s is already attached to %s", a.ID.Object, name)
		}
	} else if r, err := FindAttachment(st, name, a.Target, netip.Addr{}); err == nil && !slices.Contains(a.Replaces, r.ID()) {
		f, err := r.AttachmentFacts()
		if err != nil {
			return err
		}
		return plan.Refuse(targetFlag(a.Target), "%s is already attached to %s as %s", a.Target.Label(), name, f.IP)
	}
	if len(a.Publish) > 0 {
		if err := net.Rules().PublishRefused(net.Ref()); err != nil {
			return err
		}
	}
	for _, p := range a.Publish {
		if p.HostIP.IsValid() {
			if _, ok := net.Of(ipam.FamilyOf(p.HostIP)); !ok {
				return plan.Refuse("publish", "%s publishes on %s only, and %s has no %s subnet", p, ipam.FamilyOf(p.HostIP), name, ipam.FamilyOf(p.HostIP))
			}
		}
	}
	return nil
}

// Plan is the attachment's steps on its Network, with the address already
// chosen.
func (a *Attach) Plan() (*plan.Plan, error) { return a.plan(a.Network) }

// plan is the attachment's steps on net: planning reads net and a, and
// writes neither.
func (a *Attach) plan(net Network) (*plan.Plan, error) {
	br, id, in := actions.IfName(net.Ref().Name), a.id(net), a.Target
	first, second := firstFamilies(net)
	netRules := net.Rules()
	subnet := first.Subnet
	veth := actions.LinkAddVeth{Host: id.HostVeth, Peer: id.PeerTemp, PeerIn: in, MTU: net.LinkMTU()}
	if a.StableMAC && a.IP.Is4() {
		veth.PeerAddress = ipam.MAC(a.IP)
	}
	steps := []plan.Step{{Action: veth}}
	steps = append(steps, net.Join(id.HostVeth, a.Hairpin)...)
	steps = append(steps,
		plan.Step{Action: actions.LinkRename{Dev: id.PeerTemp, Name: a.If, In: in}},
		plan.Step{Action: actions.AddrAdd{Addr: netip.PrefixFrom(a.IP, subnet.Bits()), Dev: a.If, In: in, NoDAD: ipam.FamilyOf(a.IP) == ipam.V6}},
	)
	if a.IP6.IsValid() {
		steps = append(steps, plan.Step{Action: actions.AddrAdd{Addr: netip.PrefixFrom(a.IP6, second.Subnet.Bits()), Dev: a.If, In: in, NoDAD: true}})
	}
	steps = append(steps,
		plan.Step{Action: actions.LinkSetUp{Dev: a.If, In: in}},
		plan.Step{Action: actions.LinkSetUp{Dev: "lo", In: in}},
	)
	if !a.OwnRoutes && !netRules.Internal { // nothing leaves an internal network
		steps = append(steps, plan.Step{Action: actions.RouteAddDefault{Via: first.Gateway, In: in}})
		if a.IP6.IsValid() {
			steps = append(steps, plan.Step{Action: actions.RouteAddDefault{Via: second.Gateway, In: in}})
		}
	}
	for _, rt := range a.Routes {
		if rt.Dst.Bits() == 0 {
			steps = append(steps, plan.Step{Action: actions.RouteAddDefault{Via: rt.Via, In: in}})
		} else {
			steps = append(steps, plan.Step{Action: actions.RouteAdd{Dst: rt.Dst, Via: rt.Via, In: in}})
		}
	}
	needs := publishNeeds(br.String(), net.Device(), []netip.Addr{a.IP, a.IP6}, a.Publish)
	if len(needs) > 0 {
		fw := a.Firewall
		if fw == nil {
			// The bridge's rules are in the back end that made them: its
			// published ports go there too, whatever --firewall says now.
			b, err := firewall.ByName(netRules.Backend)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", net.Ref(), err)
			}
			fw = b
		}
		rules, err := fw.Actions(needs...)
		if err != nil {
			return nil, plan.RefuseErr("", err)
		}
		// Only on a bridge whose rules guard the host's loopback (one
		// made before them would let its containers reach it).
		if netRules.LoopbackGuard && slices.ContainsFunc(needs, func(n firewall.Need) bool { return n.(firewall.Publish).To.Is4() }) {
			steps = append(steps, routeLocalnet(net.Device()))
		}
		steps = append(steps, stepsOf(rules)...)
	}
	facts := plan.AttachmentFacts{Bridge: br.String(), IP: a.IP, PrefixLen: subnet.Bits(), Gateway: first.Gateway,
		HostVeth: id.HostVeth, If: a.If, Target: a.Target.Label(), Ports: a.Publish, Runtime: a.Runtime, Pod: a.Pod, Firewall: netRules.Backend}
	addrs := a.IP.String()
	if a.IP6.IsValid() {
		facts.IP6, facts.PrefixLen6, facts.Gateway6 = a.IP6, second.Subnet.Bits(), second.Gateway
		addrs += " " + a.IP6.String()
	}
	spec, err := plan.EncodeSpec(plan.AttachSpecVersion, plan.AttachSpecOf(facts))
	if err != nil {
		return nil, err
	}
	return &plan.Plan{Kind: plan.AttachmentKind.Name(), Name: id.Object, Target: in, Facts: facts, Spec: spec, Steps: steps, Names: a.Names(),
		Summary: fmt.Sprintf("%s %s on %s via %s", a.Target.Label(), addrs, br, id.HostVeth)}, nil
}

// publishNeeds is what publishing ports to a container at ips (the zero
// address skipped) needs of the bridge br's firewall: each port in each
// family the container has, as Docker maps both; a port given with a host
// address (0.0.0.0 or [::]) in that family alone.
func publishNeeds(network string, dev actions.IfName, ips []netip.Addr, ports []plan.Port) []firewall.Need {
	var needs []firewall.Need
	for _, ip := range ips {
		if !ip.IsValid() {
			continue
		}
		for _, p := range ports {
			if p.HostIP.IsValid() && ipam.FamilyOf(p.HostIP) != ipam.FamilyOf(ip) {
				continue
			}
			needs = append(needs, firewall.Publish{Network: network, Bridge: dev, Proto: p.Proto, HostPort: p.Host, To: ip, ToPort: p.Container})
		}
	}
	return needs
}

// routeLocalnet lets the bridge carry packets from the host's loopback, so
// that a published port answers at 127.0.0.1:PORT as at the host's other
// addresses (as the reference portmap plugin does, and Kubernetes users
// reach a hostPort): the host's connection to 127.0.0.1 is DNATed to the
// container in OUTPUT with its source still 127.0.0.1, which the kernel
// routes out of no interface but lo unless the interface's route_localnet
// is 1; the bridge's NAT rules then masquerade that source to the
// bridge's address. The setting is the bridge's, shared by its attachments
// that publish: it is restored with the last of them. IPv6 has no such
// setting: ::1 never leaves lo (RFC 4291), so [::1]:PORT is not published.
func routeLocalnet(br actions.IfName) plan.Step {
	key := actions.LinkSysctlKey("ipv4", br, "route_localnet")
	return plan.Step{Action: actions.SysctlSet{Key: key, Value: "1"}, Shared: "sysctl " + key}
}

// Preflight checks the host: the container lives, the names are free, and
// no other attachment publishes the same host port.
func (a *Attach) Preflight(ctx context.Context, r actions.Runner, st *plan.Store) error {
	return a.preflight(ctx, r, st, a.Network)
}

// preflight is Preflight on net.
func (a *Attach) preflight(ctx context.Context, r actions.Runner, st *plan.Store, net Network) error {
	if a.NewNetns {
		if _, err := a.Target.Identity(); err == nil {
			return plan.Refuse("<name>", "a network namespace named %s already exists", a.Target.Name)
		}
	} else if err := notOurs(a.Target); err != nil {
		return err
	}
	br, hv := net.Device(), a.id(net).HostVeth
	host, err := actions.FindLinks(ctx, r, actions.Netns{}, br, hv)
	if err != nil {
		return err
	}
	if _, ok := host[br.String()]; !ok {
		return deviceGone(net)
	}
	if hasLink(host, hv) {
		return plan.Refuse("ip", "an interface named %s already exists on the host", hv)
	}
	if !a.NewNetns {
		cont, err := actions.FindLinks(ctx, r, a.Target, a.If)
		if err != nil {
			return err
		}
		if hasLink(cont, a.If) {
			return plan.Refuse("if", "the container already has an interface named %s", a.If)
		}
	}
	return portsFree(st, a.Publish)
}

// portsFree refuses host ports another object publishes: by the index
// where there is one, else among every journal.
func portsFree(st *plan.Store, ports []plan.Port) error {
	if len(ports) == 0 {
		return nil
	}
	if st.Indexed() {
		for _, p := range ports {
			if r, found, _ := st.Publisher(p.Proto, p.Host); found {
				return plan.Refuse("publish", "host port %d/%s is already published by %s", p.Host, p.Proto, r.ID())
			}
		}
		return nil
	}
	recs, _ := st.Headers()
	for _, rec := range recs {
		f, ok := rec.Attachment()
		if !ok {
			continue
		}
		for _, q := range f.Ports {
			for _, mine := range ports {
				if mine.Host == q.Host && mine.Proto == q.Proto {
					return plan.Refuse("publish", "host port %d/%s is already published by %s", q.Host, q.Proto, rec.ID())
				}
			}
		}
	}
	return nil
}

// notOurs refuses a target that is gone, or whose network namespace is
// plumb's own (the host's: PID 1's, say): "attaching" it would give the
// host an address and a default route on the bridge.
func notOurs(t actions.Netns) error {
	id, err := t.Identity()
	if err != nil {
		return plan.Refuse(targetFlag(t), "%v", err)
	}
	if self, err := (actions.Netns{}).Identity(); err == nil && self == id {
		return plan.Refuse(targetFlag(t), "the network namespace of %s is plumb's own, the host's; give a container's", t.Label())
	}
	return nil
}

func hasLink(links map[string]int, name actions.IfName) bool {
	_, ok := links[name.String()]
	return ok
}

func targetFlag(t actions.Netns) string {
	if t.Name != "" {
		return "netns"
	}
	return "pid"
}

// FindAttachment finds a bridge's attachment by container or address: by
// the index where there is one, else among all the bridge's attachments.
func FindAttachment(st *plan.Store, bridge string, target actions.Netns, ip netip.Addr) (*plan.Record, error) {
	if r, ok := findIndexed(st, bridge, target, ip); ok {
		if r != nil {
			return r, nil
		}
		return nil, notAttached(bridge, target, ip)
	}
	for _, r := range plan.Attachments(st, bridge) {
		f, _ := r.Attachment() // Attachments lists those that have one
		if ip.IsValid() && (f.IP == ip || f.IP6 == ip) {
			return r, nil
		}
		if !target.IsHost() && f.Target == target.Label() {
			return r, nil
		}
	}
	return nil, notAttached(bridge, target, ip)
}

// findIndexed is FindAttachment by the index: ok false when there is none.
func findIndexed(st *plan.Store, bridge string, target actions.Netns, ip netip.Addr) (*plan.Record, bool) {
	if !st.Indexed() {
		return nil, false
	}
	if ip.IsValid() {
		if r, ok := st.Holder(filepath.Join(st.BridgeIndex(bridge), "ip-"+ip.String()), plan.HasAddr(bridge, ip)); ok {
			return r, true
		}
	}
	if !target.IsHost() {
		if r, found, _ := st.AttachedAs(bridge, target.Label()); found {
			return r, true
		}
	}
	return nil, true
}

func notAttached(bridge string, target actions.Netns, ip netip.Addr) error {
	what := target.Label()
	if ip.IsValid() {
		what = ip.String()
	}
	return fmt.Errorf("no container %s is attached to %s (`plumb bridge ls` lists them)", what, bridge)
}

// AttachCall is `bridge attach`: one container, or many in one call, joined
// to one bridge. Many share one lock and the host's checks, each gets its
// own address and journal, and all succeed or all are rolled back.
type AttachCall struct {
	Bridge string // the bridge, read from plumb's records under the lock
	List   []*Attach
	// Network is the bridge as the caller knows it, planned with when
	// plumb keeps no bridge of that name yet: a dry run of CNI's first ADD,
	// which would make it. Nil: the bridge must be kept.
	Network Network
}

// network is the network the call's attachments join, read from plumb's
// records (or the caller's, see Network): each stage reads it, so that
// none writes it into the attachments.
func (c *AttachCall) network(st *plan.Store) (Network, error) {
	net, err := LoadNetwork(st, c.Bridge)
	if err != nil && c.Network != nil {
		if _, lerr := st.Load(plan.BridgeKind.Name(), c.Bridge); errors.Is(lerr, fs.ErrNotExist) {
			return c.Network, nil
		}
	}
	if err != nil {
		return nil, err
	}
	return net, nil
}

// Check applies the rules of the input alone.
func (c *AttachCall) Check() error {
	switch {
	case len(c.List) == 0:
		return &plan.Refused{Msg: "give the container as --pid PID or --netns NAME (repeat them, or --from FILE, for several)"}
	case len(c.List) > 1 && (c.List[0].IP.IsValid() || c.List[0].IP6.IsValid()):
		return &plan.Refused{Flag: "ip", Msg: "an address is for one container; with several, each gets the next free one"}
	}
	seen := map[string]bool{}
	for _, a := range c.List {
		if len(c.List) > 1 && len(a.Publish) > 0 {
			return plan.Refuse("publish", "a host port leads to one container; publish ports in an attach of that container alone")
		}
		if err := a.Check(); err != nil {
			return err
		}
		label := a.Target.Label()
		if seen[label] {
			return plan.Refuse(targetFlag(a.Target), "%s is given twice", label)
		}
		seen[label] = true
	}
	return nil
}

// Plan plans each attachment, with the addresses Allocate gave out.
func (c *AttachCall) Plan(_ context.Context, env plan.Env) ([]*plan.Plan, error) {
	net, err := c.network(env.St)
	if err != nil {
		return nil, err
	}
	return planAll(net, c.List)
}

// Preflight checks the host: in full for one container; for many, the
// host's links listed once (see preflightAll).
func (c *AttachCall) Preflight(ctx context.Context, env plan.Env) ([]string, error) {
	net, err := c.network(env.St)
	if err != nil {
		return nil, err
	}
	if len(c.List) == 1 {
		return nil, c.List[0].preflight(ctx, env.R, env.St, net)
	}
	return nil, preflightAll(ctx, env.R, net, c.List)
}

// preflightAll is Preflight for many attachments: the host's links are
// listed once. The containers' own interfaces are not listed first (that
// would start a process per container): a name already taken there makes
// the rename fail, and the whole call rolls back.
func preflightAll(ctx context.Context, r actions.Runner, net Network, as []*Attach) error {
	for _, a := range as {
		if err := notOurs(a.Target); err != nil {
			return err
		}
	}
	br := net.Device()
	names := []actions.IfName{br}
	for _, a := range as {
		names = append(names, a.id(net).HostVeth)
	}
	host, err := actions.FindLinks(ctx, r, actions.Netns{}, names...)
	if err != nil {
		return err
	}
	if !hasLink(host, br) {
		return deviceGone(net)
	}
	for _, a := range as {
		if hv := a.id(net).HostVeth; hasLink(host, hv) {
			return plan.Refuse("", "an interface named %s (for %s) already exists on the host", hv, a.IP)
		}
	}
	return nil
}

// Locks: attaching shares the network with other attaches (its addresses
// are given out under its allocation lock); an attachment a runtime names
// is locked by that name, one named after its address when the address
// is reserved (see AttachCall.Allocate). Publishing a port takes the
// host's ports' lock (PortsLock).
func (c *AttachCall) Locks() []plan.Lock {
	out := []plan.Lock{plan.NetworkLock(c.Bridge, true)}
	ports := false
	for _, a := range c.List {
		if a.ID.Object != "" {
			out = append(out, plan.ObjectLock(plan.AttachmentKind.Name(), a.ID.Object))
		}
		ports = ports || len(a.Publish) > 0
	}
	if ports {
		out = append(out, plan.PortsLock())
	}
	return out
}

// Names are an attachment's names on its network: its Name (or the name
// attach gives it: its named namespace's, or its runtime's container ID),
// then its aliases, each once.
func (a *Attach) Names() []string {
	name := a.Name
	switch {
	case name != "":
	case a.Runtime != nil:
		name = a.Runtime.ContainerID
	case a.Target.Name != "":
		name = a.Target.Name
	}
	out := []string{}
	for _, n := range append([]string{name}, a.Aliases...) {
		if n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// CheckAliases refuses aliases of an object on no network, or that
// checkAlias refuses.
func CheckAliases(aliases []string, onNetwork bool) error {
	if !onNetwork && len(aliases) > 0 {
		return plan.Refuse("alias", "a name is answered on a bridge; give --net BRIDGE")
	}
	for _, n := range aliases {
		if err := checkAlias(n); err != nil {
			return err
		}
	}
	return nil
}

// checkAlias refuses a name no resolver could answer: an alias is a DNS
// name (RFC 1123 labels of letters, digits, '-' and '_', as Docker's are,
// joined by dots), at most 253 bytes.
func checkAlias(n string) error {
	bad := func(why string) error { return plan.Refuse("alias", "%q is not a name a resolver answers: %s", n, why) }
	if n == "" || len(n) > 253 {
		return bad("it has 1 to 253 bytes")
	}
	for _, label := range strings.Split(n, ".") {
		if label == "" || len(label) > 63 {
			return bad("each dot-separated part has 1 to 63 bytes")
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return bad("no part starts or ends with '-'")
		}
		for _, c := range []byte(label) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return bad("only letters, digits, '-', '_' and dots")
			}
		}
	}
	return nil
}
