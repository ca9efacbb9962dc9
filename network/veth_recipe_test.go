package network

import (
	"context"
	"errors"
	"net/netip"
	"plumb/actions"
	"plumb/plan"
	"plumb/plan/plantest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func docVeth() *Veth {
	return &Veth{
		Target: actions.Netns{PID: 4242},
		HostIf: "veth-host", ContIf: "veth-container",
		Subnet: netip.MustParsePrefix("10.200.0.0/24"),
		HostIP: netip.MustParseAddr("10.200.0.1"), ContIP: netip.MustParseAddr("10.200.0.2"),
		Uplink: "eth0",
	}
}

func TestVethPlan(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Veth)
		want []string
	}{
		{"document", func(*Veth) {}, plantest.DocVethCommands},
		{"no nat", func(v *Veth) { v.NoNAT = true; v.Uplink = "" }, plantest.DocVethCommands[:8]},
		{"named netns", func(v *Veth) { v.Target = actions.Netns{Name: "ctr"}; v.NoNAT = true }, []string{
			"ip link add veth-host type veth peer name veth-container",
			"ip link set veth-container netns ctr",
			"ip addr add 10.200.0.1/24 dev veth-host",
			"ip link set veth-host up",
			"ip -n ctr addr add 10.200.0.2/24 dev veth-container",
			"ip -n ctr link set veth-container up",
			"ip -n ctr link set lo up",
			"ip -n ctr route add default via 10.200.0.1",
		}},
		{"custom", func(v *Veth) {
			v.HostIf, v.ContIf, v.Uplink = "h0", "c0", "up0"
			v.Subnet = netip.MustParsePrefix("198.51.100.0/30")
			v.HostIP, v.ContIP = netip.MustParseAddr("198.51.100.2"), netip.MustParseAddr("198.51.100.1")
		}, []string{
			"ip link add h0 type veth peer name c0",
			"ip link set c0 netns 4242",
			"ip addr add 198.51.100.2/30 dev h0",
			"ip link set h0 up",
			"nsenter -t 4242 -n ip addr add 198.51.100.1/30 dev c0",
			"nsenter -t 4242 -n ip link set c0 up",
			"nsenter -t 4242 -n ip link set lo up",
			"nsenter -t 4242 -n ip route add default via 198.51.100.2",
			"sysctl -w net.ipv4.ip_forward=1",
			"iptables -A FORWARD -i h0 -o up0 -j ACCEPT",
			"iptables -A FORWARD -i up0 -o h0 -m state --state RELATED,ESTABLISHED -j ACCEPT",
			"iptables -t nat -A POSTROUTING -s 198.51.100.0/30 -o up0 -j MASQUERADE",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := docVeth()
			tt.edit(v)
			if err := v.Check(); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, lines(plantest.Must(v.plan()))); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVethCheck(t *testing.T) {
	tests := []struct {
		name, flag, msg string
		edit            func(*Veth)
	}{
		{"no target", "", "--pid PID or --netns NAME", func(v *Veth) { v.Target = actions.Netns{} }},
		{"ipv6 link-local", "subnet", "link-local", func(v *Veth) { v.Subnet = netip.MustParsePrefix("fe80::/64") }},
		{"ipv6 with IPv4 ends", "host-ip", "outside the subnet fd00::/64", func(v *Veth) { v.Subnet = netip.MustParsePrefix("fd00::/64") }},
		{"ipv6 nat on IPv4", "ipv6-nat", "no IPv6 subnet", func(v *Veth) { v.NAT6 = true }},
		{"host bits", "subnet", "host bits set; the subnet is 10.200.0.0/24", func(v *Veth) { v.Subnet = netip.MustParsePrefix("10.200.0.7/24") }},
		{"too small", "subnet", "no room for two hosts", func(v *Veth) {
			v.Subnet = netip.MustParsePrefix("10.200.0.0/31")
		}},
		{"host outside", "host-ip", "outside the subnet", func(v *Veth) { v.HostIP = netip.MustParseAddr("10.201.0.1") }},
		{"cont network", "cont-ip", "network address", func(v *Veth) { v.ContIP = netip.MustParseAddr("10.200.0.0") }},
		{"host broadcast", "host-ip", "broadcast address", func(v *Veth) { v.HostIP = netip.MustParseAddr("10.200.0.255") }},
		{"same ip", "cont-ip", "also the host's address", func(v *Veth) { v.ContIP = v.HostIP }},
		{"same name", "cont-if", "also the host end's name", func(v *Veth) { v.ContIf = v.HostIf }},
		{"uplink is pair", "uplink", "one of the veth pair's own ends", func(v *Veth) { v.Uplink = v.HostIf }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := docVeth()
			tt.edit(v)
			err := v.Check()
			var r *plan.Refused
			if !errors.As(err, &r) {
				t.Fatalf("Check() = %v, want a refusal", err)
			}
			if r.Flag != tt.flag || !strings.Contains(r.Msg, tt.msg) {
				t.Errorf("Check() = --%s: %s; want --%s: ...%s...", r.Flag, r.Msg, tt.flag, tt.msg)
			}
		})
	}
}

func TestFindUplink(t *testing.T) {
	v := docVeth()
	v.Uplink = ""
	up, err := v.FindUplink(context.Background(), &plantest.FakeRunner{})
	if err != nil {
		t.Fatal(err)
	}
	if up != "eth0" {
		t.Errorf("uplink = %q, want eth0 from the default route", up)
	}
	if v.Uplink != "" {
		t.Errorf("FindUplink wrote the recipe's uplink: %q", v.Uplink)
	}
}
