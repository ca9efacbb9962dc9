package plan

import (
	"net/netip"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"

	"plumb/actions"
	"plumb/plan/firewall"
	"plumb/plan/ipam"
)

// The engine's tests run plans as data: the document's veth pair (what
// `plumb veth up` plans with its variables; package network's tests hold
// the recipe to the same commands) stands for any plan with links, a
// namespace, a shared setting and firewall rules.

// vethPair is the input of a veth plan, the document's by default.
type vethPair struct {
	Target         actions.Netns
	HostIf, ContIf actions.IfName
	Subnet         netip.Prefix
	HostIP, ContIP netip.Addr
	Uplink         actions.IfName
}

func docPair() vethPair {
	return vethPair{Target: actions.Netns{PID: 4242}, HostIf: "veth-host", ContIf: "veth-container",
		Subnet: netip.MustParsePrefix("10.200.0.0/24"),
		HostIP: netip.MustParseAddr("10.200.0.1"), ContIP: netip.MustParseAddr("10.200.0.2"), Uplink: "eth0"}
}

// selfPair is the document's pair in a namespace that exists for the whole
// test: our own process's.
func selfPair() vethPair {
	v := docPair()
	v.Target = selfTarget()
	return v
}

// plan is the document's steps 3–11 for v, as a veth's record keeps them.
func (v vethPair) plan() *Plan {
	bits, in := v.Subnet.Bits(), v.Target
	steps := []Step{
		{Action: actions.LinkAddVeth{Host: v.HostIf, Peer: v.ContIf}},
		{Action: actions.LinkSetNetns{Name: v.ContIf, To: in}},
		{Action: actions.AddrAdd{Addr: netip.PrefixFrom(v.HostIP, bits), Dev: v.HostIf}},
		{Action: actions.LinkSetUp{Dev: v.HostIf}},
		{Action: actions.AddrAdd{Addr: netip.PrefixFrom(v.ContIP, bits), Dev: v.ContIf, In: in}},
		{Action: actions.LinkSetUp{Dev: v.ContIf, In: in}},
		{Action: actions.LinkSetUp{Dev: "lo", In: in}},
		{Action: actions.RouteAddDefault{Via: v.HostIP, In: in}},
		{Action: actions.SysctlSet{Key: ipam.V4.ForwardingSysctl(), Value: "1"}, Shared: "sysctl " + ipam.V4.ForwardingSysctl()},
	}
	obj := v.HostIf.String()
	rules, err := firewall.Iptables{}.Actions(
		firewall.AcceptForward{Family: ipam.V4, Object: obj, In: v.HostIf, Out: v.Uplink},
		firewall.AcceptForward{Family: ipam.V4, Object: obj, In: v.Uplink, Out: v.HostIf, Replies: true},
		firewall.Masquerade{Family: ipam.V4, Object: obj, Source: v.Subnet, Out: v.Uplink})
	if err != nil {
		panic(err)
	}
	for _, a := range rules {
		steps = append(steps, Step{Action: a})
	}
	facts := VethFacts{Target: in.String(), HostIf: v.HostIf, ContIf: v.ContIf, Subnet: v.Subnet, HostIP: v.HostIP, ContIP: v.ContIP, Uplink: v.Uplink}
	return &Plan{Kind: VethKind.Name(), Name: obj, Target: in, Summary: obj + " (a test's veth pair)", Facts: facts, Steps: steps}
}

// TestVethPairIsTheDocument: the fixture's commands are the document's.
func TestVethPairIsTheDocument(t *testing.T) {
	want := []string{
		"ip link add veth-host type veth peer name veth-container",
		"ip link set veth-container netns 4242",
		"ip addr add 10.200.0.1/24 dev veth-host",
		"ip link set veth-host up",
		"nsenter -t 4242 -n ip addr add 10.200.0.2/24 dev veth-container",
		"nsenter -t 4242 -n ip link set veth-container up",
		"nsenter -t 4242 -n ip link set lo up",
		"nsenter -t 4242 -n ip route add default via 10.200.0.1",
		"sysctl -w net.ipv4.ip_forward=1",
		"iptables -A FORWARD -i veth-host -o eth0 -j ACCEPT",
		"iptables -A FORWARD -i eth0 -o veth-host -m state --state RELATED,ESTABLISHED -j ACCEPT",
		"iptables -t nat -A POSTROUTING -s 10.200.0.0/24 -o eth0 -j MASQUERADE",
	}
	if diff := cmp.Diff(want, lines(docPair().plan())); diff != "" {
		t.Errorf("fixture (-want +got):\n%s", diff)
	}
}

// selfTarget is a namespace that exists for the whole test: our own process.
func selfTarget() actions.Netns { return actions.Netns{PID: os.Getpid()} }
