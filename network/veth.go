package network

import (
	"context"
	"fmt"
	"net/netip"

	"plumb/actions"
	"plumb/plan"
	"plumb/plan/firewall"
	"plumb/plan/ipam"
)

// Veth is the document's point-to-point network ("DIY networking setup",
// steps 3–11): a veth pair between the host and one container, a default
// route through the host, forwarding, and NAT out through the uplink.
// Field names match the flags that fill them, so errors can name the flag.
type Veth struct {
	Target actions.Netns
	HostIf actions.IfName
	ContIf actions.IfName
	Subnet netip.Prefix
	HostIP netip.Addr
	ContIP netip.Addr
	Uplink actions.IfName // "" to find it from the default route
	NoNAT  bool
	// NAT6 masquerades an IPv6 subnet's traffic; without it IPv6 is
	// routed (forwarded with the container's own address).
	NAT6 bool
	// Firewall writes the forwarding and NAT rules; nil: the default.
	Firewall firewall.Backend
}

// Check applies the rules that need no host: addresses inside the subnet,
// neither its network nor its broadcast address, and distinct names.
func (v *Veth) Check() error {
	if v.Target.IsHost() {
		return plan.Refuse("", "give the container as --pid PID or --netns NAME")
	}
	if err := checkSubnet("subnet", v.Subnet); err != nil {
		return err
	}
	if err := checkHost("host-ip", v.HostIP, v.Subnet); err != nil {
		return err
	}
	if err := checkHost("cont-ip", v.ContIP, v.Subnet); err != nil {
		return err
	}
	if v.HostIP == v.ContIP {
		return plan.Refuse("cont-ip", "%s is also the host's address (--host-ip); the two ends need different addresses", v.ContIP)
	}
	if v.HostIf == v.ContIf {
		return plan.Refuse("cont-if", "%q is also the host end's name (--host-if); the two ends need different names", v.ContIf)
	}
	if v.NAT6 && ipam.FamilyOf(v.Subnet.Addr()) != ipam.V6 {
		return plan.Refuse("ipv6-nat", "%s is no IPv6 subnet to masquerade", v.Subnet)
	}
	if v.NAT6 && v.NoNAT {
		return plan.Refuse("ipv6-nat", "--no-nat leaves out forwarding and NAT")
	}
	if v.Uplink != "" && (v.Uplink == v.HostIf || v.Uplink == v.ContIf) {
		return plan.Refuse("uplink", "%q is one of the veth pair's own ends", v.Uplink)
	}
	return nil
}

func checkSubnet(flag string, p netip.Prefix) error {
	if err := ipam.CheckSubnet(p); err != nil {
		return plan.RefuseErr(flag, err)
	}
	return nil
}

func checkHost(flag string, a netip.Addr, subnet netip.Prefix) error {
	if err := ipam.CheckHost(a, subnet); err != nil {
		return plan.RefuseErr(flag, err)
	}
	return nil
}

// FindUplink is the uplink: the one given, or when NAT is wanted and no
// --uplink was given, the default route's device. It reads the host, so
// even --dry-run runs it; the recipe is left as it was given.
func (v *Veth) FindUplink(ctx context.Context, r actions.Runner) (actions.IfName, error) {
	if v.NoNAT || v.Uplink != "" {
		return v.Uplink, nil
	}
	dev, err := actions.DefaultRouteDev(ctx, r)
	if err != nil {
		return "", err
	}
	if dev == "" {
		return "", plan.Refuse("uplink", "this host has no default route to find the uplink by; give --uplink IF, or --no-nat to leave out forwarding and NAT")
	}
	name, err := actions.ParseIfName(dev)
	if err != nil {
		return "", fmt.Errorf("default route device: %w", err)
	}
	return name, nil
}

// Preflight checks the host before the first step so that most failures
// change nothing: the target is alive, the names are free, the uplink exists.
func (v *Veth) Preflight(ctx context.Context, env plan.Env) ([]string, error) {
	return nil, v.preflight(ctx, env.R)
}

func (v *Veth) preflight(ctx context.Context, r actions.Runner) error {
	if err := notOurs(v.Target); err != nil {
		return err
	}
	host, err := actions.FindLinks(ctx, r, actions.Netns{}, v.HostIf, v.ContIf, v.Uplink)
	if err != nil {
		return err
	}
	cont, err := actions.FindLinks(ctx, r, v.Target, v.ContIf)
	if err != nil {
		return err
	}
	if _, ok := host[v.HostIf.String()]; ok {
		return plan.Refuse("host-if", "an interface named %s already exists on the host and plumb did not make it", v.HostIf)
	}
	if _, ok := host[v.ContIf.String()]; ok {
		return plan.Refuse("cont-if", "an interface named %s already exists on the host, where the pair is created", v.ContIf)
	}
	if _, ok := cont[v.ContIf.String()]; ok {
		return plan.Refuse("cont-if", "an interface named %s already exists in the container (%s)", v.ContIf, v.Target)
	}
	// An uplink not given is the default route's device, which exists.
	if _, ok := host[v.Uplink.String()]; !v.NoNAT && v.Uplink != "" && !ok {
		return plan.Refuse("uplink", "the host has no interface named %s", v.Uplink)
	}
	return nil
}

// Plan lays out the document's commands with the input's values, in its
// order, the uplink found from the default route when NAT is wanted and
// none was given (in a copy: the recipe is left as given).
func (v *Veth) Plan(ctx context.Context, env plan.Env) ([]*plan.Plan, error) {
	up, err := v.FindUplink(ctx, env.R)
	if err != nil {
		return nil, err
	}
	w := *v
	w.Uplink = up
	return plan.One(w.plan())
}

// Again: the same input is nothing to do.
func (v *Veth) Again(rec *plan.Record, p *plan.Plan) (string, error) {
	return plan.Again(rec, p, "up", "plumb veth down --host-if "+p.Name)
}

func (v *Veth) plan() (*plan.Plan, error) {
	bits := v.Subnet.Bits()
	in := v.Target
	fam := ipam.FamilyOf(v.Subnet.Addr())
	nodad := fam == ipam.V6 // a link just made: nobody else can hold its addresses
	steps := []plan.Step{
		{Action: actions.LinkAddVeth{Host: v.HostIf, Peer: v.ContIf}},
		{Action: actions.LinkSetNetns{Name: v.ContIf, To: in}},
		{Action: actions.AddrAdd{Addr: netip.PrefixFrom(v.HostIP, bits), Dev: v.HostIf, NoDAD: nodad}},
		{Action: actions.LinkSetUp{Dev: v.HostIf}},
		{Action: actions.AddrAdd{Addr: netip.PrefixFrom(v.ContIP, bits), Dev: v.ContIf, In: in, NoDAD: nodad}},
		{Action: actions.LinkSetUp{Dev: v.ContIf, In: in}},
		{Action: actions.LinkSetUp{Dev: "lo", In: in}},
		{Action: actions.RouteAddDefault{Via: v.HostIP, In: in}},
	}
	facts := plan.VethFacts{Target: in.String(), HostIf: v.HostIf, ContIf: v.ContIf, Subnet: v.Subnet, HostIP: v.HostIP, ContIP: v.ContIP}
	if !v.NoNAT {
		host, up, obj := v.HostIf, v.Uplink, v.HostIf.String()
		fw := firewallOf(v.Firewall)
		out := fmt.Sprintf("let the container's packets be forwarded from %s out through %s", host, up)
		if fam == ipam.V6 && !v.NAT6 {
			out += fmt.Sprintf(" (IPv6 is routed with the container's own address, not masqueraded; --ipv6-nat masquerades it; hosts beyond need a route to %s through this host)", v.Subnet)
		}
		needs := []firewall.Need{
			firewall.AcceptForward{Family: fam, Object: obj, In: host, Out: up, Why: out},
			firewall.AcceptForward{Family: fam, Object: obj, In: up, Out: host, Replies: true,
				Why: fmt.Sprintf("let replies to the container's connections come back from %s to %s", up, host)},
		}
		if fam == ipam.V4 || v.NAT6 {
			needs = append(needs, firewall.Masquerade{Family: fam, Object: obj, Source: v.Subnet, Out: up,
				Why: fmt.Sprintf("rewrite the source of %s's packets leaving through %s to the host's address (NAT)", v.Subnet, up)})
		}
		rules, err := fw.Actions(needs...)
		if err != nil {
			return nil, plan.RefuseErr("", err)
		}
		steps = append(steps, forwarding(fam))
		steps = append(steps, stepsOf(rules)...)
		facts.Uplink, facts.Firewall = up, firewall.Recorded(fw)
	}
	summary := fmt.Sprintf("%s %s <-> %s %s in %s", v.HostIf, v.HostIP, v.ContIf, v.ContIP, v.Target)
	switch {
	case v.NoNAT:
	case fam == ipam.V6 && !v.NAT6:
		summary += ", routed via " + v.Uplink.String()
	default:
		summary += ", NAT via " + v.Uplink.String()
	}
	return &plan.Plan{Kind: plan.VethKind.Name(), Name: v.HostIf.String(), Target: in, Summary: summary, Facts: facts, Steps: steps}, nil
}

// forwarding is the step that lets the host forward a family's packets: a
// setting shared by every object that needs it.
func forwarding(f ipam.Family) plan.Step {
	key := f.ForwardingSysctl()
	return plan.Step{Action: actions.SysctlSet{Key: key, Value: "1"}, Shared: "sysctl " + key}
}

// stepsOf makes steps of actions.
func stepsOf(as []actions.Action) []plan.Step {
	steps := make([]plan.Step, len(as))
	for i, a := range as {
		steps[i] = plan.Step{Action: a}
	}
	return steps
}

// recordedFirewall is the back end an object's facts record: none when it
// writes no rule (iptables' "" otherwise, so journals and goldens of the
// iptables back end read as before).
func recordedFirewall(b firewall.Backend, rules bool) string {
	if !rules {
		return ""
	}
	return firewall.Recorded(b)
}

// firewallOf is the back end a recipe was given, or the default.
func firewallOf(b firewall.Backend) firewall.Backend {
	if b == nil {
		return firewall.Default()
	}
	return b
}

// Locks: a veth pair holds its host end's name.
func (v *Veth) Locks() []plan.Lock {
	return []plan.Lock{plan.ObjectLock(plan.VethKind.Name(), v.HostIf.String())}
}
