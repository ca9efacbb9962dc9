package compose

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"

	"plumb/actions"
	"plumb/container"
	"plumb/network"
	"plumb/plan"
	"plumb/plan/firewall"
	"plumb/supervise"
	"plumb/volume"
)

// Pool is where a network without ipam gets its subnet: a free /24 of it.
var Pool = netip.MustParsePrefix("10.89.0.0/16")

// Pool6 is where a network with enable_ipv6 and no IPv6 subnet gets one:
// a free /64 of it, the first (as Pool's), so that a plan says which.
// Podman picks a random ULA /64; a fixed pool keeps plans reproducible.
var Pool6 = netip.MustParsePrefix("fd00:89::/48")

// Options are how a project is converged.
type Options struct {
	// RemoveOrphans removes the containers of services the file no
	// longer has; without it they are named and left.
	RemoveOrphans bool
	// Runtime runs the containers; ResolvConf is the host's resolv.conf
	// (see container.Container).
	Runtime    actions.Runtime
	ResolvConf string
	// Grace is how long a container being removed gets from SIGTERM to
	// SIGKILL, as plan.DownOptions takes it (0: Docker's 10 s).
	Grace int
	// Firewall writes the rules of the networks the project makes (nil:
	// the default); their containers' published ports follow each
	// bridge's.
	Firewall firewall.Backend
}

// Change is what becomes of one object of the project: made, replaced,
// removed or kept, and why.
type Change struct {
	Service string // "" for a network or a volume
	Kind    string // network, volume, container
	Name    string
	Do      string // create, replace, remove, keep
	Why     string
	// Plans are what runs: a removal's undos, then a creation's steps.
	Plans []*plan.Plan
	// remove and create do it, planned or applied.
	remove []*plan.Record
	purge  string // the container's directory, deleted with it
	grace  int
	// What applying did, for the project's rollback: the records it
	// removed, and whether it made its object.
	removed    []*plan.Record
	unfinished *plan.Record // removed in part: its removal failed
	made       bool
	bridge     string      // a network's bridge
	oldPorts   []plan.Port // an update's ports before it
	// oldNames are an update's records' names before it, by record ID;
	// oldLabels its container's labels.
	oldNames  map[string][]string
	oldLabels map[string]string
	create    func(ctx context.Context, env plan.Env, dryRun bool) ([]*plan.Plan, error)
}

// String says what becomes of the object, and why.
func (c Change) String() string {
	s := fmt.Sprintf("%s %s: %s", c.Kind, c.Name, c.Do)
	if c.Why != "" {
		s += " (" + c.Why + ")"
	}
	return s
}

// Current are a project's containers, as their records and labels say.
type Current struct {
	Containers map[string]*plan.Record // by name
}

// Read finds the project's containers in st by their labels.
func Read(st *plan.Store, project string) (*Current, error) {
	if st == nil {
		return nil, errors.New("no store")
	}
	// A journal that cannot be read is not known to be the project's;
	// a container of that name is refused when made (Again).
	recs, _ := st.Headers()
	cur := &Current{Containers: map[string]*plan.Record{}}
	for _, r := range recs {
		if !r.Is(plan.ContainerKind) {
			continue
		}
		f, err := r.Container()
		if err != nil || f.Labels[LabelProject] != project {
			continue
		}
		cur.Containers[r.Name] = r
	}
	return cur, nil
}

// ContainerIn is rec's facts with its network filled in from its sandbox
// among recs (see plan.Store.ContainerOf): a container removed with its
// sandbox, as the project's journal keeps them.
func ContainerIn(rec *plan.Record, recs []*plan.Record) (plan.ContainerFacts, error) {
	f, err := rec.Container()
	if err != nil || f.Sandbox == "" || f.NetworkMode != "" {
		return f, err
	}
	for _, r := range recs {
		if r.Is(plan.SandboxKind) && r.Name == f.Sandbox {
			sb, err := r.Sandbox()
			if err != nil {
				return f, err
			}
			f.Net = sb.Net
			return f, nil
		}
	}
	return f, fmt.Errorf("%s: its sandbox %s is not among the records kept", rec.ID(), f.Sandbox)
}

// labels reads a container's record's labels.
func labels(r *plan.Record) map[string]string {
	f, _ := r.Container()
	return f.Labels
}

// Plan compares the project with what st holds, and returns the changes
// in the order they run: networks and volumes, services in start order,
// then removals of replicas and services the file no longer has.
func (p *Project) Plan(ctx context.Context, env plan.Env, o Options) ([]*Change, error) {
	cur, err := Read(env.St, p.Name)
	if err != nil {
		return nil, err
	}
	p.opts = o
	if err := p.externalsInternal(env.St); err != nil {
		return nil, err
	}
	var out []*Change
	nets := map[actions.IfName]*network.BridgeNetwork{} // bridges made by this plan
	var chosen []netip.Prefix
	for _, n := range p.Networks {
		c, bn, err := p.networkChange(ctx, env, n, chosen)
		if err != nil {
			return nil, err
		}
		if bn != nil {
			nets[n.Bridge], chosen = bn, append(chosen, bn.Subnet)
			if bn.Subnet6.IsValid() {
				chosen = append(chosen, bn.Subnet6)
			}
		}
		if c != nil {
			out = append(out, c)
		}
	}
	for _, v := range p.Volumes {
		rec, err := env.St.LoadHeader(plan.VolumeKind.Name(), v.Name)
		switch {
		case err == nil && !v.External:
			if f, ferr := rec.VolumeFacts(); ferr != nil || f.Project != p.Name {
				return nil, plan.Refuse("file", "volumes.%s: a volume named %s exists and is not project %s's (%s): name it external: true in the file to use it, or give the volume another name", v.Key, v.Name, p.Name, madeBy(f.Project, "plumb volume create or run -v"))
			}
		case err == nil:
		case !errors.Is(err, fs.ErrNotExist):
			return nil, err
		case v.External:
			return nil, plan.Refuse("file", "volumes.%s: external volume %s does not exist (plumb volume create %s)", v.Key, v.Name, v.Name)
		default:
			vol := &volume.Volume{Name: v.Name, Project: p.Name}
			out = append(out, &Change{Kind: "volume", Name: v.Name, Do: "create", create: recipe(vol)})
		}
	}
	kept := map[string]bool{}
	given := dryAlloc{}
	for _, s := range p.Services {
		for n := 1; n <= s.Replicas; n++ {
			name := ContainerName(p.Name, s.Name, n)
			kept[name] = true
			if cur.Containers[name] == nil {
				if other, err := env.St.LoadHeader(plan.ContainerKind.Name(), name); err == nil {
					f, _ := other.Container()
					return nil, plan.Refuse("file", "service %s: its container %s would have the name of a container that is not project %s's (%s)", s.Name, name, p.Name, madeBy(f.Labels[LabelProject], "plumb run"))
				}
			}
			c, err := p.containerChange(env, s, n, cur.Containers[name], nets, o, given)
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
	}
	names := make([]string, 0, len(cur.Containers))
	for name := range cur.Containers {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if kept[name] {
			continue
		}
		rec := cur.Containers[name]
		svc := labels(rec)[LabelService]
		c := &Change{Service: svc, Kind: "container", Name: name, Do: "remove", grace: o.Grace}
		if slices.Contains(p.Disabled, svc) {
			continue // a service of a profile not asked for: left as it is, as Compose does
		}
		if slices.ContainsFunc(p.Services, func(s Service) bool { return s.Name == svc }) {
			c.Why = "scaled down"
		} else if !o.RemoveOrphans {
			c.Do, c.Why = "orphan", "its service is not in the file: --remove-orphans removes it"
			out = append(out, c)
			continue
		} else {
			c.Why = "its service is not in the file"
		}
		if err := p.removal(env, c, rec); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	// A scaled-down replica's removal goes with its service, in start
	// order; what the file no longer has goes last.
	rank := map[string]int{"": 0}
	for i, s := range p.Services {
		rank[s.Name] = i + 1
	}
	slices.SortStableFunc(out, func(a, b *Change) int {
		ra, ok := rank[a.Service]
		if !ok {
			ra = len(p.Services) + 1
		}
		rb, ok := rank[b.Service]
		if !ok {
			rb = len(p.Services) + 1
		}
		return ra - rb
	})
	return out, nil
}

// recipe is a creation that is rc brought up.
func recipe(rc plan.Recipe) func(context.Context, plan.Env, bool) ([]*plan.Plan, error) {
	return func(ctx context.Context, env plan.Env, dryRun bool) ([]*plan.Plan, error) {
		out, err := plan.Up(ctx, env, rc, dryRun)
		if err != nil {
			return nil, err
		}
		return out.Plans, nil
	}
}

// networkChange is the change of one network: nil when it is as the file
// says; the bridge it will be when this plan makes it.
func (p *Project) networkChange(ctx context.Context, env plan.Env, n Network, chosen []netip.Prefix) (*Change, *network.BridgeNetwork, error) {
	rec, err := env.St.LoadHeader(plan.BridgeKind.Name(), n.Bridge.String())
	switch {
	case err == nil:
		s, err := rec.BridgeSpec()
		if err != nil {
			return nil, nil, err
		}
		if !n.External && s.Project != p.Name {
			return nil, nil, plan.Refuse("file", "networks.%s: a network named %s is up and is not project %s's (%s): name it external: true in the file to join it, or give the network another name", n.Key, n.Name, p.Name, madeBy(s.Project, "plumb bridge up"))
		}
		var diff []string
		if n.Subnet.IsValid() && n.Subnet != s.Subnet {
			diff = append(diff, fmt.Sprintf("subnet %s → %s", s.Subnet, n.Subnet))
		}
		if n.Gateway.IsValid() && n.Gateway != s.Gateway {
			diff = append(diff, fmt.Sprintf("gateway %s → %s", s.Gateway, n.Gateway))
		}
		if n.Subnet6 != s.Subnet6 && !n.External && !(n.IPv6 && s.Subnet6.IsValid()) {
			diff = append(diff, fmt.Sprintf("IPv6 subnet %s → %s", orNone(s.Subnet6), orNone(n.Subnet6)))
		}
		if !n.External && n.Internal != s.Internal {
			diff = append(diff, fmt.Sprintf("internal %t → %t", s.Internal, n.Internal))
		}
		if !n.External && !s.Isolate {
			// Made before a project's networks were isolated.
			diff = append(diff, "isolated false → true")
		}
		if len(diff) > 0 {
			return nil, nil, plan.Refuse("file", "network %s (bridge %s) is up with other settings (%s): `plumb compose down`, then up, remakes it", n.Name, n.Bridge, strings.Join(diff, ", "))
		}
		return nil, nil, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, nil, err
	case n.External:
		return nil, nil, plan.Refuse("file", "networks.%s: external network %s is not a bridge plumb keeps (plumb bridge up %s --subnet CIDR)", n.Key, n.Name, n.Bridge)
	}
	// Docker keeps its networks apart: a project's are isolated from every
	// other isolated network, its own other networks too.
	b := &network.Bridge{Name: n.Bridge, Subnet: n.Subnet, Gateway: n.Gateway, Subnet6: n.Subnet6, Gateway6: n.Gateway6, DNS: true, Project: p.Name,
		Internal: n.Internal, Isolate: true, Firewall: p.opts.Firewall}
	why := ""
	if !b.Subnet.IsValid() {
		sub, err := network.FreeSubnet(ctx, env, Pool, chosen)
		if err != nil {
			return nil, nil, err
		}
		b.Subnet, why = sub, "subnet "+sub.String()+", the first free one of "+Pool.String()
	}
	if n.IPv6 {
		sub, err := network.FreeSubnet(ctx, env, Pool6, chosen)
		if err != nil {
			return nil, nil, err
		}
		b.Subnet6 = sub
		if why != "" {
			why += "; "
		}
		why += "IPv6 subnet " + sub.String() + ", the first free one of " + Pool6.String()
	}
	if err := b.Check(); err != nil {
		return nil, nil, err
	}
	// The bridge as its plan records it: what the containers planned on it
	// before it is made read (its gateway, rules, resolver).
	planned, err := b.Plan(ctx, env)
	if err != nil {
		return nil, nil, err
	}
	facts, ok := planned[0].Facts.(plan.BridgeFacts)
	if !ok {
		return nil, nil, fmt.Errorf("network %s: its plan's facts are not a bridge's", n.Name)
	}
	bn := &network.BridgeNetwork{Name: n.Bridge, BridgeFacts: facts}
	name := n.Name
	if name != n.Bridge.String() {
		name += " (bridge " + n.Bridge.String() + ")"
	}
	return &Change{Kind: "network", Name: name, Do: "create", Why: why, create: recipe(b), bridge: n.Bridge.String()}, bn, nil
}

func orNone(p netip.Prefix) string {
	if !p.IsValid() {
		return "none"
	}
	return p.String()
}

// containerChange is what becomes of replica n of s: kept when it runs
// what the file says, else made (or replaced).
func (p *Project) containerChange(env plan.Env, s Service, n int, rec *plan.Record, nets map[actions.IfName]*network.BridgeNetwork, o Options, given dryAlloc) (*Change, error) {
	name := ContainerName(p.Name, s.Name, n)
	c := &Change{Service: s.Name, Kind: "container", Name: name, Do: "create", grace: o.Grace}
	rc, err := p.containerRecipe(env, s, n, nets, o)
	if err != nil {
		return nil, fmt.Errorf("service %s: %w", s.Name, err)
	}
	// The image's ID is part of what the container is made from: an image
	// imported again under its tag replaces the containers of its services.
	spec := s.Spec
	spec.ImageID = rc.ImageID
	hash, text := spec.Hash(), spec.JSON()
	rc.Labels[LabelHash], rc.Labels[LabelSpec] = hash, text
	if rec != nil {
		f, err := env.St.ContainerOf(rec)
		if err != nil {
			return nil, err
		}
		_, state := plan.ContainerState(rec)
		var ports []plan.Port
		if f.Net != nil {
			ports = f.Net.Ports
		}
		switch {
		case state != "running":
			c.Do, c.Why = "replace", "it is "+state
		case f.Labels[LabelHash] != hash && onlyAliases(f.Labels[LabelSpec], spec):
			// In place: the names it answers to, on each network, and
			// its labels change; the container and its process stay.
			was, _ := parseSpec(f.Labels[LabelSpec])
			why := []string{aliasChange(was, spec)}
			if !slices.Equal(ports, s.Ports) {
				why = append(why, fmt.Sprintf("published ports %s → %s", portList(ports), portList(s.Ports)))
			}
			c.Do, c.Why = "update", strings.Join(why, "; ")
			c.oldPorts = ports
			labels := maps.Clone(f.Labels)
			labels[LabelHash], labels[LabelSpec] = hash, text
			renames, err := p.renames(env, rec, f, spec, labels)
			if err != nil {
				return nil, err
			}
			c.oldNames, c.oldLabels = map[string][]string{}, f.Labels
			for _, r := range renames {
				c.oldNames[r.Rec.ID()] = r.Rec.Names
			}
			portsChange := !slices.Equal(ports, s.Ports)
			c.create = func(ctx context.Context, env plan.Env, dryRun bool) ([]*plan.Plan, error) {
				var plans []*plan.Plan
				if portsChange {
					var err error
					if plans, err = republish(ctx, env, rec, s.Ports, dryRun); err != nil {
						return nil, err
					}
				}
				for _, r := range renames {
					up, err := rename(ctx, env, r, dryRun)
					if err != nil {
						return nil, err
					}
					plans = append(plans, up...)
				}
				return plans, nil
			}
			return c, nil
		case f.Labels[LabelHash] != hash:
			c.Do, c.Why = "replace", changed(f.Labels[LabelSpec], text)
		case !slices.Equal(ports, s.Ports):
			// In place: the rules of the ports change, the container
			// and its process stay.
			c.Do, c.Why = "update", fmt.Sprintf("published ports %s → %s", portList(ports), portList(s.Ports))
			c.oldPorts = ports
			c.create = func(ctx context.Context, env plan.Env, dryRun bool) ([]*plan.Plan, error) {
				return republish(ctx, env, rec, s.Ports, dryRun)
			}
			return c, nil
		default:
			c.Do = "keep"
			return c, nil
		}
		if err := p.removal(env, c, rec); err != nil {
			return nil, err
		}
	}
	old := oldOf(c.remove)
	c.create = func(ctx context.Context, env plan.Env, dryRun bool) ([]*plan.Plan, error) {
		ct := *rc // each planning allocates anew
		return p.createContainer(ctx, env, s, &ct, nets, dryRun, given, old)
	}
	return c, nil
}

// parseSpec reads a container's configuration label.
func parseSpec(text string) (Spec, bool) {
	var sp Spec
	if text == "" || json.Unmarshal([]byte(text), &sp) != nil {
		return Spec{}, false
	}
	return sp, true
}

// withoutAliases is sp with no network's aliases: what a container is
// made from, less the names it answers to, which change in place.
func withoutAliases(sp Spec) Spec {
	sp.Networks = slices.Clone(sp.Networks)
	for i := range sp.Networks {
		sp.Networks[i].Aliases = nil
	}
	return sp
}

// onlyAliases reports whether the configuration label was says a
// container made as now is, but for its aliases.
func onlyAliases(was string, now Spec) bool {
	old, ok := parseSpec(was)
	return ok && withoutAliases(old).JSON() == withoutAliases(now).JSON()
}

// aliasChange says how the aliases differ: "aliases on shop_front www →
// www, shop".
func aliasChange(was, now Spec) string {
	var out []string
	for i, n := range now.Networks {
		var old []string
		if i < len(was.Networks) {
			old = was.Networks[i].Aliases
		}
		if !slices.Equal(old, n.Aliases) {
			out = append(out, fmt.Sprintf("aliases on %s %s → %s", n.Network, orNoneList(old), orNoneList(n.Aliases)))
		}
	}
	return strings.Join(out, "; ")
}

func orNoneList(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, ", ")
}

// renames are the renames of a container whose aliases change: its own
// record (its first network's names, and its labels) and each of its
// other networks' attachments.
func (p *Project) renames(env plan.Env, rec *plan.Record, f plan.ContainerFacts, sp Spec, labels map[string]string) ([]*network.Rename, error) {
	// As an attachment names itself: its container's name, then aliases.
	names := func(aliases []string) []string { return (&network.Attach{Name: rec.Name, Aliases: aliases}).Names() }
	out := []*network.Rename{{Rec: rec, Names: names(sp.Networks[0].Aliases), Labels: labels}}
	if f.Sandbox != "" && f.NetworkMode == "" {
		// Its first network's names are its sandbox's, which holds the
		// attachment the resolver reads.
		sb, err := env.St.LoadHeader(plan.SandboxKind.Name(), f.Sandbox)
		if err != nil {
			return nil, err
		}
		out = append(out, &network.Rename{Rec: sb, Names: names(sp.Networks[0].Aliases)})
	}
	if len(sp.Networks) == 1 {
		return out, nil
	}
	target := actions.Netns{Name: f.Netns}.Label()
	recs, _ := env.St.Headers()
	for _, ref := range sp.Networks[1:] {
		var found *plan.Record
		for _, r := range recs {
			if af, err := r.AttachmentFacts(); err == nil && r.Is(plan.AttachmentKind) && af.Target == target && af.Bridge == ref.Bridge.String() {
				found = r
			}
		}
		if found == nil {
			return nil, fmt.Errorf("container %s has no attachment to %s: plumb compose up --force-recreate is not built; plumb compose down, then up", rec.Name, ref.Network)
		}
		out = append(out, &network.Rename{Rec: found, Names: names(ref.Aliases)})
	}
	return out, nil
}

// rename changes one record's names (and labels) in place.
func rename(ctx context.Context, env plan.Env, r *network.Rename, dryRun bool) ([]*plan.Plan, error) {
	if !dryRun {
		// The record as it is now: a republish before it rewrote it.
		cur, err := env.St.LoadHeader(r.Rec.Kind, r.Rec.Name)
		if err != nil {
			return nil, err
		}
		rr := *r
		rr.Rec = cur
		r = &rr
	}
	out, err := plan.Up(ctx, env, r, dryRun)
	if err != nil {
		return nil, err
	}
	return out.Plans, nil
}

// replaced is what a replaced container held: its address on each
// network, which the new one keeps (its names resolve as before, its
// published ports lead to the same address), and the objects a dry run
// has not removed.
type replaced struct {
	addrs map[actions.IfName]netip.Addr
	ids   []string
}

func oldOf(recs []*plan.Record) replaced {
	r := replaced{addrs: map[actions.IfName]netip.Addr{}}
	for _, rec := range recs {
		r.ids = append(r.ids, rec.ID())
		var f *plan.AttachmentFacts
		if rec.Is(plan.ContainerKind) {
			cf, err := ContainerIn(rec, recs)
			if err == nil {
				f = cf.Net
			}
		} else if af, err := rec.AttachmentFacts(); err == nil {
			f = &af
		}
		if f != nil {
			r.addrs[actions.IfName(f.Bridge)] = f.IP
		}
	}
	return r
}

// addr is the address to ask for on br: the file's, else the replaced
// container's.
func (r replaced) addr(br actions.IfName, asked netip.Addr) netip.Addr {
	if asked.IsValid() {
		return asked
	}
	return r.addrs[br]
}

// changed names what differs between two specs' JSON: "image, command
// changed"; when the old one is not known, "its configuration changed".
func changed(old, now string) string {
	var a, b map[string]json.RawMessage
	if json.Unmarshal([]byte(old), &a) != nil || json.Unmarshal([]byte(now), &b) != nil {
		return "its configuration changed"
	}
	var keys []string
	for k, v := range b {
		if string(a[k]) != string(v) {
			keys = append(keys, k)
		}
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return "its configuration changed"
	}
	sort.Strings(keys)
	return strings.Join(keys, ", ") + " changed"
}

func portList(ps []plan.Port) string {
	if len(ps) == 0 {
		return "none"
	}
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return strings.Join(out, ",")
}

// removal plans the removal of a container: the attachments of its
// further networks first, then the container, its directory with it.
func (p *Project) removal(env plan.Env, c *Change, rec *plan.Record) error {
	f, err := rec.Container()
	if err != nil {
		return err
	}
	target := actions.Netns{Name: f.Netns}
	recs, _ := env.St.Headers()
	var ids []*plan.Record
	for _, r := range recs {
		if r.Is(plan.AttachmentKind) {
			if af, err := r.AttachmentFacts(); err == nil && af.Target == target.Label() {
				ids = append(ids, r)
			}
		}
	}
	// What the container holds goes with it (plan.Remove): listed after
	// it, never removed on its own (see run), for the project's journal,
	// whose rollback makes the container again with its network.
	ids = append(ids, f.HeldRefs()...)
	// Headers have no steps: the records whose undos run are read whole.
	for _, r := range append(ids[:len(ids):len(ids)], rec) {
		full, err := env.St.Load(r.Kind, r.Name)
		if err != nil {
			return err
		}
		c.remove = append(c.remove, full)
	}
	c.purge = f.Dir()
	return nil
}

// containerRecipe is replica n of s as plumb run's recipe: built when
// planning, so that a missing image or a bad mount is refused before
// anything runs.
func (p *Project) containerRecipe(env plan.Env, s Service, n int, nets map[actions.IfName]*network.BridgeNetwork, o Options) (*container.Container, error) {
	name := ContainerName(p.Name, s.Name, n)
	sp := s.Spec
	first := sp.Networks[0]
	ct := container.Container{Name: name, Bridge: first.Bridge.String(), IP: first.IP, Aliases: first.Aliases, Hostname: sp.Hostname,
		Env: sp.Env, WorkDir: sp.WorkDir, User: sp.User, CapAdd: sp.CapAdd, CapDrop: sp.CapDrop, ReadOnly: sp.ReadOnly, SecurityOpt: sp.SecurityOpt,
		Limits: sp.Limits, Mounts: sp.Mounts, Publish: s.Ports, Runtime: o.Runtime, ResolvConf: o.ResolvConf,
		Network: nets[first.Bridge], StableMAC: true,
		Labels: map[string]string{LabelProject: p.Name, LabelService: s.Name, LabelNumber: strconv.Itoa(n)}}
	in := supervise.Input{Container: ct, Image: sp.Image}
	switch {
	case sp.HasEntry:
		none := ""
		in.Entrypoint = &none
		in.Container.Cmd = append(slices.Clone(sp.Entrypoint), sp.Command...)
	default:
		in.Container.Cmd = sp.Command
	}
	rc, err := supervise.Container(env.St, in)
	if err != nil {
		return nil, err
	}
	return rc, rc.Check()
}

// createContainer plans (or makes) replica n of s from rc, then attaches
// it to the service's further networks.
func (p *Project) createContainer(ctx context.Context, env plan.Env, s Service, rc *container.Container, nets map[actions.IfName]*network.BridgeNetwork, dryRun bool, given dryAlloc, old replaced) ([]*plan.Plan, error) {
	name, sp := rc.Name, s.Spec
	first := sp.Networks[0]
	var replaces []string
	if dryRun {
		replaces = old.ids
	}
	rc.Replaces = replaces
	plans, err := given.up(ctx, env, first.Bridge, old.addr(first.Bridge, first.IP), dryRun, func(ip netip.Addr, taken map[netip.Addr]bool) (plan.Recipe, error) {
		rc.IP, rc.Taken = ip, taken
		return rc, nil
	})
	if err != nil {
		return nil, err
	}
	for i, ref := range sp.Networks[1:] {
		// No default route: the first network's is the container's.
		a := &network.Attach{Target: actions.Netns{Name: container.NetnsName(name)}, If: actions.IfName(fmt.Sprintf("eth%d", i+1)),
			Name: name, Aliases: ref.Aliases, NewNetns: dryRun, OwnRoutes: true, Replaces: replaces, StableMAC: true}
		call := &network.AttachCall{Bridge: ref.Bridge.String(), List: []*network.Attach{a}}
		if bn := nets[ref.Bridge]; bn != nil {
			call.Network = bn
		}
		up, err := given.up(ctx, env, ref.Bridge, old.addr(ref.Bridge, ref.IP), dryRun, func(ip netip.Addr, taken map[netip.Addr]bool) (plan.Recipe, error) {
			a.IP, a.Taken = ip, taken
			return call, nil
		})
		if err != nil {
			if !dryRun {
				err = p.undoCreated(ctx, env, name, err)
			}
			return nil, err
		}
		plans = append(plans, up...)
	}
	return plans, nil
}

// undoCreated removes a container this up made when what follows it
// failed: a service is made whole or not at all.
func (p *Project) undoCreated(ctx context.Context, env plan.Env, name string, cause error) error {
	rec, err := env.St.Load(plan.ContainerKind.Name(), name)
	if err != nil {
		return cause
	}
	if f, err := rec.Container(); err != nil || f.Labels[LabelProject] != p.Name {
		// Never another's: a name another project (or plumb run) holds.
		return errors.Join(cause, fmt.Errorf("container %s is not project %s's: left as it is", name, p.Name))
	}
	c := &Change{Kind: "container", Name: name, grace: p.opts.Grace}
	if err := p.removal(env, c, rec); err != nil {
		return errors.Join(cause, err)
	}
	if _, err := c.run(ctx, env, false); err != nil {
		return errors.Join(cause, fmt.Errorf("removing %s again: %w", name, err))
	}
	return cause
}

// run plans (dryRun) or applies the change; it returns the plans.
func (c *Change) run(ctx context.Context, env plan.Env, dryRun bool) ([]*plan.Plan, error) {
	var plans []*plan.Plan
	for i, rec := range c.remove {
		if plan.IsHeld(rec) {
			// Removed with its container; kept for a rollback's remake,
			// which reads the container's network from its sandbox.
			if !dryRun {
				c.removed = append(c.removed, rec)
			}
			continue
		}
		opts := plan.DownOptions{}
		if rec.Is(plan.ContainerKind) {
			opts.Grace = c.grace
			if i == len(c.remove)-1 && c.purge != "" {
				opts.Purge = actions.RemoveTree{Path: c.purge}
			}
		}
		if !dryRun {
			// What was read when planning may be gone by now.
			fresh, err := env.St.Load(rec.Kind, rec.Name)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			} else if err != nil {
				return plans, err
			}
			rec = fresh
		}
		if dryRun && (rec.Is(plan.BridgeKind) || rec.Is(plan.VolumeKind)) {
			// A down's dry run removes the containers before their
			// network and volumes only on paper: their undos, as they
			// would run once the containers are gone (Remove would refuse
			// them now).
			undos, err := plan.UndoPlan(env.St, rec)
			if err != nil {
				return plans, err
			}
			up := &plan.Plan{Kind: rec.Kind, Name: rec.Name, Summary: rec.Summary}
			for _, u := range undos {
				up.Steps = append(up.Steps, plan.Step{Action: u})
			}
			plans = append(plans, up)
			continue
		}
		td, err := plan.Remove(ctx, env, []*plan.Record{rec}, opts, dryRun)
		if err != nil {
			if !dryRun {
				// Part of it may be undone: the rollback finishes
				// the removal, then makes it again.
				c.removed = append(c.removed, rec)
				c.unfinished = rec
			}
			return plans, err
		}
		if !dryRun {
			c.removed = append(c.removed, rec)
		}
		if td != nil && td.Plan != nil {
			plans = append(plans, td.Plan)
		}
	}
	if c.create != nil {
		ps, err := c.create(ctx, env, dryRun)
		if err != nil {
			return plans, err
		}
		c.made = !dryRun
		plans = append(plans, ps...)
	}
	return plans, nil
}

// dryAlloc are the addresses a dry run has given out on each bridge: a
// dry run reserves none, so without it every container of one plan would
// be shown with the first free address of its bridge.
type dryAlloc map[actions.IfName]map[netip.Addr]bool

// up brings up the recipe mk makes for address asked (zero: the next
// free). In a dry run, an address an earlier container of the plan was
// shown with is skipped, as applying would: mk is given them, for the
// allocation to pass over (network.Attach.Taken), and one given again
// all the same is tried past.
func (g dryAlloc) up(ctx context.Context, env plan.Env, br actions.IfName, asked netip.Addr, dryRun bool, mk func(netip.Addr, map[netip.Addr]bool) (plan.Recipe, error)) ([]*plan.Plan, error) {
	ip := asked
	var taken map[netip.Addr]bool
	if dryRun && !asked.IsValid() {
		taken = g[br]
	}
	for try := 0; ; try++ {
		rc, err := mk(ip, taken)
		if err != nil {
			return nil, err
		}
		out, err := plan.Up(ctx, env, rc, dryRun)
		if err != nil {
			if dryRun && !asked.IsValid() && ip.IsValid() && try < 1024 {
				ip = ip.Next() // taken by an object the store keeps
				continue
			}
			return nil, err
		}
		if !dryRun {
			return out.Plans, nil
		}
		got := addrOf(out.Plans)
		if got.IsValid() && g[br][got] && !asked.IsValid() && try < 1024 {
			ip = got.Next()
			continue
		}
		if g[br] == nil {
			g[br] = map[netip.Addr]bool{}
		}
		g[br][got] = true
		return out.Plans, nil
	}
}

// addrOf is the address a container's or an attachment's plan gives it.
func addrOf(plans []*plan.Plan) netip.Addr {
	for _, p := range plans {
		switch f := p.Facts.(type) {
		case plan.SandboxFacts:
			if f.Net != nil {
				return f.Net.IP
			}
		case plan.ContainerFacts:
			if f.Net != nil {
				return f.Net.IP
			}
		case plan.AttachmentFacts:
			return f.IP
		}
	}
	return netip.Addr{}
}

// attachedRecord is the header of the record that holds container rec's
// attachment: its sandbox's, or its own for a container of version 1.
func attachedRecord(st *plan.Store, rec *plan.Record) (*plan.Record, error) {
	f, err := rec.Container()
	if err != nil || f.Sandbox == "" {
		return rec, err
	}
	return st.LoadHeader(plan.SandboxKind.Name(), f.Sandbox)
}

// madeBy says who made an object that is not the project's.
func madeBy(project, otherwise string) string {
	if project != "" {
		return "made by project " + project
	}
	return "made by " + otherwise
}

// republish takes the ports container rec publishes to ports, in place.
func republish(ctx context.Context, env plan.Env, rec *plan.Record, ports []plan.Port, dryRun bool) ([]*plan.Plan, error) {
	rec, err := attachedRecord(env.St, rec)
	if err != nil {
		return nil, err
	}
	out, err := plan.Up(ctx, env, &network.RepublishContainer{Rec: rec, Ports: ports}, dryRun)
	if err != nil {
		return nil, err
	}
	return out.Plans, nil
}
