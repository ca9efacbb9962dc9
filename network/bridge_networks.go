package network

import (
	"fmt"
	"net/netip"
	"plumb/plan"
)

// SetNetworks gives the bridge its subnets and gateways as `bridge up`
// takes them: one subnet, or one of each family in either order (IPv4 is
// kept first), and at most one gateway a family, each in a subnet's family.
// A refusal names the flag.
func (b *Bridge) SetNetworks(subnets []netip.Prefix, gateways []netip.Addr) error {
	if len(subnets) > 2 {
		return &plan.Refused{Flag: "subnet", Msg: "give one subnet, or one of each family (IPv4 and IPv6)"}
	}
	if len(subnets) == 2 && subnets[0].Addr().Is6() && subnets[1].Addr().Is4() {
		subnets = []netip.Prefix{subnets[1], subnets[0]} // IPv4 first
	}
	b.Subnet = subnets[0]
	if len(subnets) == 2 {
		if subnets[0].Addr().Is4() != subnets[1].Addr().Is6() || subnets[0].Addr().Is4In6() || subnets[1].Addr().Is4In6() {
			return &plan.Refused{Flag: "subnet", Msg: fmt.Sprintf("%s and %s are of one family; give one subnet of each", subnets[0], subnets[1])}
		}
		b.Subnet6 = subnets[1]
	}
	for _, g := range gateways {
		switch {
		case g.Is4() == b.Subnet.Addr().Is4() && !b.Gateway.IsValid():
			b.Gateway = g
		case g.Is6() && b.Subnet6.IsValid() && !b.Gateway6.IsValid():
			b.Gateway6 = g
		case g.Is4() == b.Subnet.Addr().Is4() || g.Is6() && b.Subnet6.IsValid():
			return &plan.Refused{Flag: "gateway", Msg: "give at most one gateway of each family"}
		default:
			return &plan.Refused{Flag: "gateway", Msg: fmt.Sprintf("%s is of neither subnet's family", g)}
		}
	}
	return nil
}
