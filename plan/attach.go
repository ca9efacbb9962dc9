package plan

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"plumb/actions"
)

// Port is a published port: traffic to the host's Host port goes to the
// container's Container port.
type Port struct {
	Host      uint16
	Container uint16
	Proto     string // tcp or udp
}

func (p Port) String() string { return fmt.Sprintf("%d:%d/%s", p.Host, p.Container, p.Proto) }

// ParsePort reads HOST:CONTAINER[/tcp|/udp].
func ParsePort(s string) (Port, error) {
	spec, proto, hasProto := strings.Cut(s, "/")
	if !hasProto {
		proto = "tcp"
	}
	if proto != "tcp" && proto != "udp" {
		return Port{}, fmt.Errorf("%q: the protocol must be tcp or udp", s)
	}
	h, c, ok := strings.Cut(spec, ":")
	if !ok {
		return Port{}, fmt.Errorf("%q is not HOST:CONTAINER[/tcp|/udp], such as 8080:80", s)
	}
	hp, err1 := strconv.ParseUint(h, 10, 16)
	cp, err2 := strconv.ParseUint(c, 10, 16)
	if err1 != nil || err2 != nil || hp == 0 || cp == 0 {
		return Port{}, fmt.Errorf("%q: ports are numbers from 1 to 65535", s)
	}
	return Port{Host: uint16(hp), Container: uint16(cp), Proto: proto}, nil
}

// Attach joins a container to a bridge: a veth pair whose host end is
// plugged into the bridge and whose other end is created inside the
// container (no move between namespaces), renamed there, addressed, and
// routed through the gateway; published ports are DNAT rules in the
// bridge's chain.
type Attach struct {
	Bridge  *Record // the bridge, as recorded by `bridge up`
	Target  actions.Netns
	IP      netip.Addr // zero: the next free address
	If      actions.IfName
	Publish []Port
	// NewNetns: the target namespace is made by the same plan (plumb run),
	// so it cannot be probed yet; it must not exist.
	NewNetns bool
}

// AttachmentName files an attachment under its bridge and address.
func AttachmentName(bridge string, ip netip.Addr) string { return bridge + "-" + ip.String() }

// HostVeth is the host end's name: stable, unique (one address, one
// container) and within 15 bytes: "veth" and the address in hex.
func HostVeth(ip netip.Addr) actions.IfName {
	b := ip.As4()
	return actions.IfName(fmt.Sprintf("veth%02x%02x%02x%02x", b[0], b[1], b[2], b[3]))
}

func peerTemp(ip netip.Addr) actions.IfName {
	b := ip.As4()
	return actions.IfName(fmt.Sprintf("plmb%02x%02x%02x%02x", b[0], b[1], b[2], b[3]))
}

// Attachments lists the containers attached to a bridge, by address
// (headers only: Load one to undo it).
func Attachments(st *Store, bridge string) []*Record {
	recs, _ := st.Headers()
	type byIP struct {
		ip  netip.Addr
		rec *Record
	}
	var found []byIP
	for _, r := range recs {
		if (r.Kind == "attachment" || r.Kind == "container") && r.Details["bridge"] == bridge {
			ip, _ := netip.ParseAddr(r.Details["ip"])
			found = append(found, byIP{ip, r})
		}
	}
	// Each address parsed once: this runs twice per container of a call
	// for many, and parsing in every comparison cost ~0.45 ms a container
	// at 200.
	slices.SortFunc(found, func(a, b byIP) int { return a.ip.Compare(b.ip) })
	out := make([]*Record, len(found))
	for i, f := range found {
		out[i] = f.rec
	}
	return out
}

// bridgeNet reads a bridge record's subnet and gateway.
func bridgeNet(br *Record) (netip.Prefix, netip.Addr, error) {
	s, err1 := netip.ParsePrefix(br.Details["subnet"])
	g, err2 := netip.ParseAddr(br.Details["gateway"])
	if err1 != nil || err2 != nil {
		return netip.Prefix{}, netip.Addr{}, fmt.Errorf("%s: the journal has no valid subnet and gateway", br.ID())
	}
	return s, g, nil
}

// Allocate picks the address: the one asked for, checked, or the next free
// one of the subnet (never the network, broadcast or gateway address, never
// one plumb gave another container). Callers hold the store's lock, so
// concurrent attaches never collide.
func (a *Attach) Allocate(st *Store) error { return a.allocate(st, nil) }

// allocate is Allocate with the addresses this call gave out already.
func (a *Attach) allocate(st *Store, reserved map[netip.Addr]string) error {
	subnet, gw, err := bridgeNet(a.Bridge)
	if err != nil {
		return err
	}
	used := map[netip.Addr]string{gw: "the gateway"}
	for _, r := range Attachments(st, a.Bridge.Name) {
		if ip, err := netip.ParseAddr(r.Details["ip"]); err == nil {
			used[ip] = r.ID()
		}
	}
	for ip, by := range reserved {
		used[ip] = by
	}
	if a.IP.IsValid() {
		if err := checkHost("ip", a.IP, subnet); err != nil {
			return err
		}
		if by, taken := used[a.IP]; taken {
			return refuse("ip", "%s is taken by %s", a.IP, by)
		}
		return nil
	}
	last := broadcast(subnet)
	for ip := subnet.Addr().Next(); ip.Less(last); ip = ip.Next() {
		if _, taken := used[ip]; !taken {
			a.IP = ip
			return nil
		}
	}
	return refuse("ip", "the subnet %s of %s is full: every address is in use", subnet, a.Bridge.Name)
}

// Check applies the rules that need no host beyond plumb's records.
func (a *Attach) Check(st *Store) error {
	if a.Target.IsHost() {
		return refuse("", "give the container as --pid PID or --netns NAME")
	}
	if a.Bridge.State != StateUp {
		return refuse("", "%s is not up (state %s); run `plumb recover` first", a.Bridge.ID(), a.Bridge.State)
	}
	if r, err := FindAttachment(st, a.Bridge.Name, a.Target, netip.Addr{}); err == nil {
		return refuse(targetFlag(a.Target), "%s is already attached to %s as %s", a.Target.Label(), a.Bridge.Name, r.Details["ip"])
	}
	if len(a.Publish) > 0 && a.Bridge.Details["nat"] != "true" {
		return refuse("publish", "%s was made with --no-nat; published ports need its NAT chains", a.Bridge.ID())
	}
	seen := map[string]bool{}
	for _, p := range a.Publish {
		k := fmt.Sprintf("%d/%s", p.Host, p.Proto)
		if seen[k] {
			return refuse("publish", "host port %s is published twice", k)
		}
		seen[k] = true
	}
	return nil
}

// Plan is the attachment's steps, with the address already chosen.
func (a *Attach) Plan() *Plan {
	subnet, gw, _ := bridgeNet(a.Bridge)
	br := actions.IfName(a.Bridge.Name)
	host, tmp, in := HostVeth(a.IP), peerTemp(a.IP), a.Target
	mtu, _ := strconv.Atoi(a.Bridge.Details["mtu"])
	steps := []Step{
		{Action: actions.LinkAddVeth{Host: host, Peer: tmp, PeerIn: in, MTU: mtu}},
		{Action: actions.LinkSetMaster{Dev: host, Master: br}},
		{Action: actions.LinkSetUp{Dev: host}},
		{Action: actions.LinkRename{Dev: tmp, Name: a.If, In: in}},
		{Action: actions.AddrAdd{Addr: netip.PrefixFrom(a.IP, subnet.Bits()), Dev: a.If, In: in}},
		{Action: actions.LinkSetUp{Dev: a.If, In: in}},
		{Action: actions.LinkSetUp{Dev: "lo", In: in}},
		{Action: actions.RouteAddDefault{Via: gw, In: in}},
	}
	c := comment(br.String())
	var ports []string
	for _, p := range a.Publish {
		proto := p.Proto
		dnat := append([]string{"-p", proto, "-m", proto, "--dport", strconv.Itoa(int(p.Host))}, c...)
		accept := append([]string{"-d", a.IP.String() + "/32", "!", "-i", br.String(), "-o", br.String(), "-p", proto, "-m", proto, "--dport", strconv.Itoa(int(p.Container))}, c...)
		steps = append(steps,
			Step{Action: actions.IptablesAppend{Rule: actions.Rule{Table: actions.NAT, Chain: dnatChain(br.String()),
				Spec:    append(dnat, "-j", "DNAT", "--to-destination", fmt.Sprintf("%s:%d", a.IP, p.Container)),
				Purpose: fmt.Sprintf("send the host's port %d/%s to the container's %s:%d", p.Host, proto, a.IP, p.Container)}}},
			Step{Action: actions.IptablesAppend{Rule: actions.Rule{Table: actions.Filter, Chain: filterChain(br.String()),
				Spec:    append(accept, "-j", "ACCEPT"),
				Purpose: fmt.Sprintf("let new connections through to %s:%d/%s", a.IP, p.Container, proto)}}},
		)
		ports = append(ports, p.String())
	}
	details := map[string]string{"bridge": br.String(), "ip": a.IP.String(), "prefix_len": strconv.Itoa(subnet.Bits()),
		"gateway": gw.String(), "host_veth": host.String(), "if": a.If.String(), "target": a.Target.Label(),
		"ports": strings.Join(ports, ",")}
	return &Plan{Kind: "attachment", Name: AttachmentName(br.String(), a.IP), Target: in, Details: details, Steps: steps,
		Summary: fmt.Sprintf("%s %s on %s via %s", a.Target.Label(), a.IP, br, host)}
}

// Preflight checks the host: the container lives, the names are free, and
// no other attachment publishes the same host port.
func (a *Attach) Preflight(ctx context.Context, r actions.Runner, st *Store) error {
	if a.NewNetns {
		if _, err := a.Target.Identity(); err == nil {
			return refuse("<name>", "a network namespace named %s already exists", a.Target.Name)
		}
	} else if _, err := a.Target.Identity(); err != nil {
		return refuse(targetFlag(a.Target), "%v", err)
	}
	host, err := actions.LinkNames(ctx, r, actions.Netns{})
	if err != nil {
		return err
	}
	if _, ok := host[a.Bridge.Name]; !ok {
		return refuse("", "the bridge %s recorded by plumb no longer exists on the host; run `plumb bridge down %s --force` to clean up", a.Bridge.Name, a.Bridge.Name)
	}
	if _, ok := host[HostVeth(a.IP).String()]; ok {
		return refuse("ip", "an interface named %s already exists on the host", HostVeth(a.IP))
	}
	if !a.NewNetns {
		cont, err := actions.LinkNames(ctx, r, a.Target)
		if err != nil {
			return err
		}
		if _, ok := cont[a.If.String()]; ok {
			return refuse("if", "the container already has an interface named %s", a.If)
		}
	}
	recs, _ := st.Headers()
	for _, rec := range recs {
		if rec.Details["ports"] == "" {
			continue
		}
		for _, p := range strings.Split(rec.Details["ports"], ",") {
			q, err := ParsePort(p)
			if err != nil {
				continue
			}
			for _, mine := range a.Publish {
				if mine.Host == q.Host && mine.Proto == q.Proto {
					return refuse("publish", "host port %d/%s is already published by %s", q.Host, q.Proto, rec.ID())
				}
			}
		}
	}
	return nil
}

func targetFlag(t actions.Netns) string {
	if t.Name != "" {
		return "netns"
	}
	return "pid"
}

// FindAttachment finds a bridge's attachment by container or address.
func FindAttachment(st *Store, bridge string, target actions.Netns, ip netip.Addr) (*Record, error) {
	for _, r := range Attachments(st, bridge) {
		if ip.IsValid() && r.Details["ip"] == ip.String() {
			return r, nil
		}
		if !target.IsHost() && r.Details["target"] == target.Label() {
			return r, nil
		}
	}
	what := target.Label()
	if ip.IsValid() {
		what = ip.String()
	}
	return nil, fmt.Errorf("no container %s is attached to %s (`plumb bridge ls` lists them)", what, bridge)
}

// AttachAll checks and plans many containers' attachments to one bridge,
// made in one call: distinct containers, each its own address. It needs the
// store's lock, as Allocate does.
func AttachAll(st *Store, as []*Attach) ([]*Plan, error) {
	seen := map[string]bool{}
	reserved := map[netip.Addr]string{}
	var plans []*Plan
	for _, a := range as {
		if len(as) > 1 && len(a.Publish) > 0 {
			return nil, refuse("publish", "a host port leads to one container; publish ports in an attach of that container alone")
		}
		label := a.Target.Label()
		if seen[label] {
			return nil, refuse(targetFlag(a.Target), "%s is given twice", label)
		}
		seen[label] = true
		if err := a.Check(st); err != nil {
			return nil, err
		}
		if err := a.allocate(st, reserved); err != nil {
			return nil, err
		}
		reserved[a.IP] = label + " (in this call)"
		plans = append(plans, a.Plan())
	}
	return plans, nil
}

// PreflightAll is Preflight for many attachments: the host's links are
// listed once. The containers' own interfaces are not listed first (that
// would start a process per container): a name already taken there makes
// the rename fail, and the whole call rolls back.
func PreflightAll(ctx context.Context, r actions.Runner, as []*Attach) error {
	host, err := actions.LinkNames(ctx, r, actions.Netns{})
	if err != nil {
		return err
	}
	br := as[0].Bridge.Name // one bridge for the whole call
	if _, ok := host[br]; !ok {
		return refuse("", "the bridge %s recorded by plumb no longer exists on the host; run `plumb bridge down %s --force` to clean up", br, br)
	}
	for _, a := range as {
		if _, err := a.Target.Identity(); err != nil {
			return refuse(targetFlag(a.Target), "%v", err)
		}
		if _, ok := host[HostVeth(a.IP).String()]; ok {
			return refuse("", "an interface named %s (for %s) already exists on the host", HostVeth(a.IP), a.IP)
		}
	}
	return nil
}
