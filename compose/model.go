package compose

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"plumb/actions"
	"plumb/container"
	"plumb/plan"
	"plumb/progress"
)

// The labels a project's containers carry, Docker Compose's own: what
// `plan` reads to know what the project has.
const (
	LabelProject = "com.docker.compose.project"
	LabelService = "com.docker.compose.service"
	LabelNumber  = "com.docker.compose.container-number"
	LabelHash    = "com.docker.compose.config-hash"
	// LabelSpec is plumb's own: the configuration the hash is of, so that
	// plan can say what changed.
	LabelSpec = "io.plumb.compose.config"
)

// Project is a Compose file as plumb's objects: its networks, volumes and
// services, in the order they are made.
type Project struct {
	Name     string
	Networks []Network
	Volumes  []Volume
	Services []Service // in start order: each after those it depends on
	// Disabled are the services of profiles not asked for: their
	// containers are neither made nor orphans.
	Disabled []string
	opts     Options // as Plan was given them: a rollback makes containers again with them
	removing bool    // Recover before a down: nothing is made again
	// Progress draws each change Apply makes while it runs (nil: none).
	Progress *progress.Tracker
}

// Network is a network of the project: a bridge plumb makes, or an
// external one it only joins.
type Network struct {
	Key      string         // the file's name for it
	Name     string         // PROJECT_KEY, or an external one's name
	Bridge   actions.IfName // Name, or a short stable one when Name is no interface name
	External bool
	Subnet   netip.Prefix // zero: the first free one of the pool, when made
	Gateway  netip.Addr
	Subnet6  netip.Prefix
	Gateway6 netip.Addr
	// IPv6 is enable_ipv6 without an IPv6 subnet: the first free /64 of
	// Pool6, when made.
	IPv6 bool
	// Internal: nothing is forwarded into or out of it (internal: true).
	Internal bool
}

// Volume is a named volume of the project.
type Volume struct {
	Key, Name string
	External  bool
}

// Service is one service: its containers' configuration and how many.
type Service struct {
	Name      string
	Replicas  int
	DependsOn []string
	Spec      Spec
	Ports     []plan.Port
}

// Spec is what a service's containers are made from, less its published
// ports: its hash, kept in each container's labels, says whether a
// container is still what the file asks for.
type Spec struct {
	Image      string            `json:"image"`
	ImageID    string            `json:"image_id,omitempty"` // filled when planning
	Entrypoint []string          `json:"entrypoint,omitempty"`
	Command    []string          `json:"command,omitempty"`
	HasEntry   bool              `json:"has_entrypoint,omitempty"`
	Env        []string          `json:"env,omitempty"`
	WorkDir    string            `json:"working_dir,omitempty"`
	User       string            `json:"user,omitempty"`
	Hostname   string            `json:"hostname,omitempty"`
	Networks   []NetRef          `json:"networks,omitempty"`
	Mounts     []container.Mount `json:"mounts,omitempty"`
	CapAdd     []string          `json:"cap_add,omitempty"`
	CapDrop    []string          `json:"cap_drop,omitempty"`
	ReadOnly   bool              `json:"read_only,omitempty"`
	// SecurityOpt as docker run's --security-opt: no-new-privileges,
	// seccomp=unconfined or seccomp=FILE.
	SecurityOpt []string         `json:"security_opt,omitempty"`
	Limits      container.Limits `json:"limits,omitzero"`
}

// NetRef is a service's place on one network.
type NetRef struct {
	Bridge  actions.IfName `json:"bridge"`
	Network string         `json:"network"` // the project's name for it (PROJECT_KEY)
	IP      netip.Addr     `json:"ip,omitzero"`
	Aliases []string       `json:"aliases,omitempty"`
}

// Hash is the spec's: sha256 of its JSON.
func (s Spec) Hash() string {
	sum := sha256.Sum256([]byte(s.JSON()))
	return hex.EncodeToString(sum[:])
}

// JSON is the spec as its label keeps it.
func (s Spec) JSON() string {
	b, _ := json.Marshal(s)
	return string(b)
}

// ContainerName is a replica's: PROJECT-SERVICE-N, as Docker Compose names them.
func ContainerName(project, service string, n int) string {
	return fmt.Sprintf("%s-%s-%d", project, service, n)
}

// BridgeName is the bridge of a network named name: the name itself when
// it is an interface name, else cmp- and 8 hex digits of its hash, the
// same on every host and every run.
func BridgeName(name string) actions.IfName {
	if n, err := actions.ParseIfName(name); err == nil {
		return n
	}
	sum := sha256.Sum256([]byte(name))
	return actions.IfName("cmp-" + hex.EncodeToString(sum[:4]))
}

// Model turns a loaded file into the project's objects; input the file
// gives that plumb cannot take (an address that is none, a port range) is
// refused, naming the service and key.
func Model(f *File) (*Project, error) {
	p := f.Project
	out := &Project{Name: p.Name}
	for _, key := range sorted(p.Networks) {
		n := p.Networks[key]
		net := Network{Key: key, Name: n.Name, External: bool(n.External)}
		if net.Name == "" {
			net.Name = p.Name + "_" + key
		}
		net.Bridge = BridgeName(net.Name)
		net.Internal = n.Internal
		if net.External && net.Internal {
			return nil, plan.Refuse("file", "networks.%s: an external network is what it was made: internal is its own", key)
		}
		for i, c := range n.Ipam.Config {
			where := fmt.Sprintf("networks.%s.ipam.config[%d]", key, i)
			sub, err := netip.ParsePrefix(c.Subnet)
			if err != nil {
				return nil, plan.Refuse("file", "%s: subnet %q: %v", where, c.Subnet, err)
			}
			var gw netip.Addr
			if c.Gateway != "" {
				if gw, err = netip.ParseAddr(c.Gateway); err != nil {
					return nil, plan.Refuse("file", "%s: gateway %q: %v", where, c.Gateway, err)
				}
			}
			switch {
			case sub.Addr().Is4() && !net.Subnet.IsValid():
				net.Subnet, net.Gateway = sub.Masked(), gw
			case sub.Addr().Is6() && !net.Subnet6.IsValid():
				net.Subnet6, net.Gateway6 = sub.Masked(), gw
			default:
				return nil, plan.Refuse("file", "%s: a second subnet of one family: plumb's bridges have one of each", where)
			}
		}
		if net.Subnet6.IsValid() && (n.EnableIPv6 == nil || !*n.EnableIPv6) {
			return nil, plan.Refuse("file", "networks.%s: an IPv6 subnet needs enable_ipv6: true", key)
		}
		if n.EnableIPv6 != nil && *n.EnableIPv6 && !net.Subnet6.IsValid() {
			net.IPv6 = !net.External // an external network's subnets are its own
		}
		if net.External && (net.Subnet.IsValid() || net.Subnet6.IsValid()) {
			return nil, plan.Refuse("file", "networks.%s: an external network's subnet is its own: give none", key)
		}
		out.Networks = append(out.Networks, net)
	}
	for _, key := range sorted(p.Volumes) {
		v := p.Volumes[key]
		vol := Volume{Key: key, Name: v.Name, External: bool(v.External)}
		if vol.Name == "" {
			vol.Name = p.Name + "_" + key
		}
		out.Volumes = append(out.Volumes, vol)
	}
	for _, name := range sorted(p.Services) {
		s, err := out.service(p, p.Services[name])
		if err != nil {
			return nil, err
		}
		out.Services = append(out.Services, s)
	}
	for name := range p.DisabledServices {
		out.Disabled = append(out.Disabled, name)
	}
	sort.Strings(out.Disabled)
	ordered, err := startOrder(out.Services)
	if err != nil {
		return nil, err
	}
	out.Services = ordered
	return out, nil
}

func (out *Project) network(key string) (Network, bool) {
	for _, n := range out.Networks {
		if n.Key == key {
			return n, true
		}
	}
	return Network{}, false
}

// internal says whether the project's network of that name is internal.
func (out *Project) internal(name string) bool {
	for _, n := range out.Networks {
		if n.Name == name {
			return n.Internal
		}
	}
	return false
}

func (out *Project) volume(key string) (Volume, bool) {
	for _, v := range out.Volumes {
		if v.Key == key {
			return v, true
		}
	}
	return Volume{}, false
}

func (out *Project) service(p *types.Project, s types.ServiceConfig) (Service, error) {
	bad := func(key, format string, args ...any) error {
		return plan.Refuse("file", "service %s: %s: %s", s.Name, key, fmt.Sprintf(format, args...))
	}
	svc := Service{Name: s.Name, Replicas: s.GetScale()}
	if svc.Replicas < 0 {
		return svc, bad("scale", "%d replicas", svc.Replicas)
	}
	if svc.Replicas > 1 && len(s.Ports) > 0 {
		return svc, bad("ports", "a host port leads to one container, and the service has %d replicas", svc.Replicas)
	}
	for d := range s.DependsOn {
		svc.DependsOn = append(svc.DependsOn, d)
	}
	sort.Strings(svc.DependsOn)
	if strings.HasPrefix(s.Image, "-") {
		return svc, bad("image", "%q is not an image reference", s.Image)
	}
	sp := Spec{Image: s.Image, WorkDir: s.WorkingDir, User: s.User, Hostname: s.Hostname, CapAdd: s.CapAdd, CapDrop: s.CapDrop, ReadOnly: s.ReadOnly, SecurityOpt: s.SecurityOpt}
	if s.Entrypoint != nil {
		sp.HasEntry, sp.Entrypoint = true, []string(s.Entrypoint)
	}
	sp.Command = []string(s.Command)
	for _, k := range sorted(s.Environment) {
		if v := s.Environment[k]; v != nil {
			sp.Env = append(sp.Env, k+"="+*v)
		} else {
			sp.Env = append(sp.Env, k)
		}
	}
	sp.Limits.Memory = int64(s.MemLimit)
	sp.Limits.NanoCPUs = int64(float64(s.CPUS)*1e9 + 0.5)
	sp.Limits.PidsLimit = s.PidsLimit
	for _, key := range s.NetworksByPriority() {
		n, ok := out.network(key)
		if !ok {
			return svc, bad("networks", "%s is not among the file's networks", key)
		}
		ref := NetRef{Bridge: n.Bridge, Network: n.Name, Aliases: []string{s.Name}}
		if c := s.Networks[key]; c != nil {
			if c.Ipv4Address != "" {
				ip, err := netip.ParseAddr(c.Ipv4Address)
				if err != nil || !ip.Is4() {
					return svc, bad("networks."+key+".ipv4_address", "%q is not an IPv4 address", c.Ipv4Address)
				}
				ref.IP = ip
			}
			for _, a := range c.Aliases {
				if !slices.Contains(ref.Aliases, a) {
					ref.Aliases = append(ref.Aliases, a)
				}
			}
		}
		if ref.IP.IsValid() && s.GetScale() > 1 {
			return svc, bad("networks."+key+".ipv4_address", "one address for %d replicas", s.GetScale())
		}
		sp.Networks = append(sp.Networks, ref)
	}
	if len(sp.Networks) == 0 {
		return svc, bad("networks", "none: plumb's services are on a network of the project")
	}
	sp.Networks = out.gatewayFirst(sp.Networks)
	for i, v := range s.Volumes {
		m, err := out.mount(v)
		if err != nil {
			return svc, bad(fmt.Sprintf("volumes[%d]", i), "%v", err)
		}
		sp.Mounts = append(sp.Mounts, m)
	}
	for _, t := range s.Tmpfs {
		m, err := container.ParseTmpfs(t)
		if err != nil {
			return svc, bad("tmpfs", "%v", err)
		}
		sp.Mounts = append(sp.Mounts, m)
	}
	for i, pc := range s.Ports {
		port, err := publishOf(pc)
		if err != nil {
			return svc, bad(fmt.Sprintf("ports[%d]", i), "%v", err)
		}
		svc.Ports = append(svc.Ports, port)
	}
	svc.Spec = sp
	if err := out.checkPorts(svc); err != nil {
		return svc, err
	}
	return svc, nil
}

// gatewayFirst puts first the network that gives a service its default
// route and its published ports: its first, by priority, that is not
// internal, as Docker picks its gateway; the others keep their order.
func (out *Project) gatewayFirst(refs []NetRef) []NetRef {
	if i := slices.IndexFunc(refs, func(r NetRef) bool { return !out.internal(r.Network) }); i > 0 {
		return append(append([]NetRef{refs[i]}, refs[:i]...), refs[i+1:]...)
	}
	return refs
}

// checkPorts refuses ports on a service whose networks are all internal:
// nothing from beyond them reaches it.
func (out *Project) checkPorts(s Service) error {
	if len(s.Ports) > 0 && !slices.ContainsFunc(s.Spec.Networks, func(r NetRef) bool { return !out.internal(r.Network) }) {
		return plan.Refuse("file", "service %s: ports: the service is on internal networks alone, which nothing from beyond reaches: it publishes no port", s.Name)
	}
	return nil
}

// externalsInternal takes from the bridges of the file's external
// networks whether each is internal (the file cannot say), then puts
// each service's gateway network first again and checks its ports.
func (out *Project) externalsInternal(st *plan.Store) error {
	changed := false
	for i, n := range out.Networks {
		if !n.External {
			continue
		}
		rec, err := st.LoadHeader(plan.BridgeKind.Name(), n.Bridge.String())
		if err != nil {
			continue // Plan refuses a missing one, naming it
		}
		if s, err := rec.BridgeSpec(); err == nil && s.Internal != n.Internal {
			out.Networks[i].Internal, changed = s.Internal, true
		}
	}
	if !changed {
		return nil
	}
	for i := range out.Services {
		s := &out.Services[i]
		s.Spec.Networks = out.gatewayFirst(s.Spec.Networks)
		if err := out.checkPorts(*s); err != nil {
			return err
		}
	}
	return nil
}

// mount is a service's volume as plumb run's mounts take it.
func (out *Project) mount(v types.ServiceVolumeConfig) (container.Mount, error) {
	m := container.Mount{Type: v.Type, Source: v.Source, Target: v.Target, ReadOnly: v.ReadOnly}
	switch v.Type {
	case types.VolumeTypeBind:
		m.Create = v.Bind == nil || bool(v.Bind.CreateHostPath)
		m.Propagation = "rprivate"
		if v.Bind != nil && v.Bind.Propagation != "" {
			m.Propagation = v.Bind.Propagation
		}
	case types.VolumeTypeVolume:
		if v.Source == "" {
			return m, fmt.Errorf("plumb has no anonymous volumes: name one in the file's volumes")
		}
		vol, ok := out.volume(v.Source)
		if !ok {
			return m, fmt.Errorf("volume %s is not among the file's volumes", v.Source)
		}
		m.Source = vol.Name
		m.NoCopy = v.Volume != nil && v.Volume.NoCopy
	case types.VolumeTypeTmpfs:
		if v.Tmpfs != nil {
			if v.Tmpfs.Size != 0 {
				m.Options = append(m.Options, fmt.Sprintf("size=%d", int64(v.Tmpfs.Size)))
			}
			if v.Tmpfs.Mode != 0 {
				m.Options = append(m.Options, fmt.Sprintf("mode=%o", v.Tmpfs.Mode))
			}
		}
	default:
		return m, fmt.Errorf("type %s: only bind, volume or tmpfs", v.Type)
	}
	return container.CheckMount(m)
}

// publishOf is a port as plumb publishes it: one host port for one container port.
func publishOf(pc types.ServicePortConfig) (plan.Port, error) {
	p := plan.Port{Proto: pc.Protocol}
	if p.Proto == "" {
		p.Proto = "tcp"
	}
	if p.Proto != "tcp" && p.Proto != "udp" {
		return p, fmt.Errorf("protocol %s: tcp or udp", p.Proto)
	}
	if pc.Published == "" {
		return p, fmt.Errorf("target %d has no published port: plumb publishes at a port you choose", pc.Target)
	}
	host, err := strconv.ParseUint(pc.Published, 10, 16)
	if err != nil || host == 0 {
		return p, fmt.Errorf("published %q: one port, 1 to 65535 (no ranges)", pc.Published)
	}
	if pc.Target == 0 || pc.Target > 65535 {
		return p, fmt.Errorf("target %d: 1 to 65535", pc.Target)
	}
	p.Host, p.Container = uint16(host), uint16(pc.Target)
	switch pc.HostIP {
	case "":
	case "0.0.0.0", "::":
		p.HostIP = netip.MustParseAddr(pc.HostIP)
	default:
		return p, fmt.Errorf("host_ip %s: plumb publishes on every address of a family (0.0.0.0 or ::)", pc.HostIP)
	}
	return p, nil
}

// startOrder sorts services so that each comes after those it depends
// on, by name where nothing orders them; a cycle is refused.
func startOrder(svcs []Service) ([]Service, error) {
	byName := map[string]Service{}
	for _, s := range svcs {
		byName[s.Name] = s
	}
	var out []Service
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(name string, path []string) error
	visit = func(name string, path []string) error {
		switch state[name] {
		case 1:
			return plan.Refuse("file", "depends_on goes round: %s", strings.Join(append(path, name), " → "))
		case 2:
			return nil
		}
		s, ok := byName[name]
		if !ok {
			return plan.Refuse("file", "service %s: depends_on %s: no such service (or not in the profiles given)", path[len(path)-1], name)
		}
		state[name] = 1
		for _, d := range s.DependsOn {
			if err := visit(d, append(path, name)); err != nil {
				return err
			}
		}
		state[name] = 2
		out = append(out, s)
		return nil
	}
	for _, s := range svcs {
		if err := visit(s.Name, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}
