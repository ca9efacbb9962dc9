package network

import (
	"errors"
	"net/netip"
	"plumb/plan"
	"strings"
	"testing"
)

func TestSetNetworks(t *testing.T) {
	p, a := netip.MustParsePrefix, netip.MustParseAddr
	for _, tc := range []struct {
		name     string
		subnets  []netip.Prefix
		gateways []netip.Addr
		want     Bridge
		flag     string // the refused flag; "" for none
		msg      string
	}{
		{name: "one", subnets: []netip.Prefix{p("10.88.0.0/24")}, want: Bridge{Subnet: p("10.88.0.0/24")}},
		{name: "IPv6 first is put second", subnets: []netip.Prefix{p("fd00:88::/64"), p("10.88.0.0/24")},
			gateways: []netip.Addr{a("fd00:88::9"), a("10.88.0.9")},
			want:     Bridge{Subnet: p("10.88.0.0/24"), Subnet6: p("fd00:88::/64"), Gateway: a("10.88.0.9"), Gateway6: a("fd00:88::9")}},
		{name: "IPv6 alone", subnets: []netip.Prefix{p("fd00:88::/64")}, gateways: []netip.Addr{a("fd00:88::1")},
			want: Bridge{Subnet: p("fd00:88::/64"), Gateway: a("fd00:88::1")}},
		{name: "three", subnets: []netip.Prefix{p("10.1.0.0/24"), p("10.2.0.0/24"), p("10.3.0.0/24")}, flag: "subnet", msg: "give one subnet, or one of each family"},
		{name: "one family twice", subnets: []netip.Prefix{p("10.1.0.0/24"), p("10.2.0.0/24")}, flag: "subnet", msg: "10.1.0.0/24 and 10.2.0.0/24 are of one family"},
		{name: "two gateways of a family", subnets: []netip.Prefix{p("10.1.0.0/24")}, gateways: []netip.Addr{a("10.1.0.1"), a("10.1.0.2")}, flag: "gateway", msg: "at most one gateway of each family"},
		{name: "gateway of no subnet's family", subnets: []netip.Prefix{p("10.1.0.0/24")}, gateways: []netip.Addr{a("fd00::1")}, flag: "gateway", msg: "fd00::1 is of neither subnet's family"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b Bridge
			err := b.SetNetworks(tc.subnets, tc.gateways)
			if tc.flag != "" {
				var r *plan.Refused
				if !errors.As(err, &r) || r.Flag != tc.flag || !strings.Contains(r.Msg, tc.msg) {
					t.Fatalf("SetNetworks = %v; want --%s refused with %q", err, tc.flag, tc.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if b.Subnet != tc.want.Subnet || b.Subnet6 != tc.want.Subnet6 || b.Gateway != tc.want.Gateway || b.Gateway6 != tc.want.Gateway6 {
				t.Errorf("SetNetworks gave %v %v %v %v; want %v %v %v %v", b.Subnet, b.Subnet6, b.Gateway, b.Gateway6,
					tc.want.Subnet, tc.want.Subnet6, tc.want.Gateway, tc.want.Gateway6)
			}
		})
	}
}
