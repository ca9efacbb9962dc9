package plan

import (
	"context"
	"fmt"
	"net/netip"

	"plumb/actions"
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
}

// Check applies the rules that need no host: addresses inside the subnet,
// neither its network nor its broadcast address, and distinct names.
func (v *Veth) Check() error {
	if v.Target.IsHost() {
		return refuse("", "give the container as --pid PID or --netns NAME")
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
		return refuse("cont-ip", "%s is also the host's address (--host-ip); the two ends need different addresses", v.ContIP)
	}
	if v.HostIf == v.ContIf {
		return refuse("cont-if", "%q is also the host end's name (--host-if); the two ends need different names", v.ContIf)
	}
	if v.Uplink != "" && (v.Uplink == v.HostIf || v.Uplink == v.ContIf) {
		return refuse("uplink", "%q is one of the veth pair's own ends", v.Uplink)
	}
	return nil
}

func checkSubnet(flag string, p netip.Prefix) error {
	if !p.Addr().Is4() {
		return refuse(flag, "%s is not an IPv4 subnet; plumb sets up IPv4 networks", p)
	}
	if p.Masked() != p {
		return refuse(flag, "%s has host bits set; the subnet is %s", p, p.Masked())
	}
	if p.Bits() > 30 {
		return refuse(flag, "%s has no room for two hosts; use a prefix of /30 or shorter", p)
	}
	return nil
}

func checkHost(flag string, a netip.Addr, subnet netip.Prefix) error {
	switch {
	case !subnet.Contains(a):
		return refuse(flag, "%s is outside the subnet %s", a, subnet)
	case a == subnet.Addr():
		return refuse(flag, "%s is the network address of %s, not a host address", a, subnet)
	case a == broadcast(subnet):
		return refuse(flag, "%s is the broadcast address of %s, not a host address", a, subnet)
	}
	return nil
}

func broadcast(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// FindUplink fills in the uplink from the default route when NAT is wanted
// and no --uplink was given. It reads the host, so even --dry-run runs it.
func (v *Veth) FindUplink(ctx context.Context, r actions.Runner) error {
	if v.NoNAT || v.Uplink != "" {
		return nil
	}
	dev, err := actions.DefaultRouteDev(ctx, r)
	if err != nil {
		return err
	}
	if dev == "" {
		return refuse("uplink", "this host has no default route to find the uplink by; give --uplink IF, or --no-nat to leave out forwarding and NAT")
	}
	name, err := actions.ParseIfName(dev)
	if err != nil {
		return fmt.Errorf("default route device: %w", err)
	}
	v.Uplink = name
	return nil
}

// Preflight checks the host before the first step so that most failures
// change nothing: the target is alive, the names are free, the uplink exists.
func (v *Veth) Preflight(ctx context.Context, r actions.Runner) error {
	if _, err := v.Target.Identity(); err != nil {
		flag := "pid"
		if v.Target.Name != "" {
			flag = "netns"
		}
		return refuse(flag, "%v", err)
	}
	host, err := actions.LinkNames(ctx, r, actions.Netns{})
	if err != nil {
		return err
	}
	cont, err := actions.LinkNames(ctx, r, v.Target)
	if err != nil {
		return err
	}
	if _, ok := host[v.HostIf.String()]; ok {
		return refuse("host-if", "an interface named %s already exists on the host and plumb did not make it", v.HostIf)
	}
	if _, ok := host[v.ContIf.String()]; ok {
		return refuse("cont-if", "an interface named %s already exists on the host, where the pair is created", v.ContIf)
	}
	if _, ok := cont[v.ContIf.String()]; ok {
		return refuse("cont-if", "an interface named %s already exists in the container (%s)", v.ContIf, v.Target)
	}
	if _, ok := host[v.Uplink.String()]; !v.NoNAT && !ok {
		return refuse("uplink", "the host has no interface named %s", v.Uplink)
	}
	return nil
}

// Plan is the document's commands with the input's values, in its order.
func (v *Veth) Plan() *Plan {
	bits := v.Subnet.Bits()
	in := v.Target
	steps := []Step{
		{Action: actions.LinkAddVeth{Host: v.HostIf, Peer: v.ContIf}},
		{Action: actions.LinkSetNetns{Name: v.ContIf, To: in}},
		{Action: actions.AddrAdd{Addr: netip.PrefixFrom(v.HostIP, bits), Dev: v.HostIf}},
		{Action: actions.LinkSetUp{Dev: v.HostIf}},
		{Action: actions.AddrAdd{Addr: netip.PrefixFrom(v.ContIP, bits), Dev: v.ContIf, In: in}},
		{Action: actions.LinkSetUp{Dev: v.ContIf, In: in}},
		{Action: actions.LinkSetUp{Dev: "lo", In: in}},
		{Action: actions.RouteAddDefault{Via: v.HostIP, In: in}},
	}
	if !v.NoNAT {
		up, host := v.Uplink.String(), v.HostIf.String()
		steps = append(steps,
			Step{Action: actions.SysctlSet{Key: "net.ipv4.ip_forward", Value: "1"}, Shared: "sysctl net.ipv4.ip_forward"},
			Step{Action: actions.IptablesAppend{Rule: actions.Rule{Table: actions.Filter, Chain: "FORWARD",
				Spec:    []string{"-i", host, "-o", up, "-j", "ACCEPT"},
				Purpose: fmt.Sprintf("let the container's packets be forwarded from %s out through %s", host, up)}}},
			Step{Action: actions.IptablesAppend{Rule: actions.Rule{Table: actions.Filter, Chain: "FORWARD",
				Spec:    []string{"-i", up, "-o", host, "-m", "state", "--state", "RELATED,ESTABLISHED", "-j", "ACCEPT"},
				Purpose: fmt.Sprintf("let replies to the container's connections come back from %s to %s", up, host)}}},
			Step{Action: actions.IptablesAppend{Rule: actions.Rule{Table: actions.NAT, Chain: "POSTROUTING",
				Spec:    []string{"-s", v.Subnet.String(), "-o", up, "-j", "MASQUERADE"},
				Purpose: fmt.Sprintf("rewrite the source of %s's packets leaving through %s to the host's address (NAT)", v.Subnet, up)}}},
		)
	}
	summary := fmt.Sprintf("%s %s <-> %s %s in %s", v.HostIf, v.HostIP, v.ContIf, v.ContIP, v.Target)
	if !v.NoNAT {
		summary += ", NAT via " + v.Uplink.String()
	}
	details := map[string]string{
		"target": in.String(), "host_if": v.HostIf.String(), "cont_if": v.ContIf.String(),
		"subnet": v.Subnet.String(), "host_ip": v.HostIP.String(), "cont_ip": v.ContIP.String(),
	}
	if !v.NoNAT {
		details["uplink"] = v.Uplink.String()
	}
	return &Plan{Kind: "veth", Name: v.HostIf.String(), Target: in, Summary: summary, Details: details, Steps: steps}
}
