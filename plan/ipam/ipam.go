// Package ipam holds the rules of addresses by family: which subnets can
// carry a network, which addresses are hosts of a subnet, how the next free
// one is given out, and the names and MACs derived from an address. Every
// family-specific detail of plumb's networks lives here, so that IPv6 is a
// change in one place.
package ipam

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
)

// Family is an address family.
type Family int

// The families.
const (
	V4 Family = 4
	V6 Family = 6
)

// FamilyOf is the family of an address.
func FamilyOf(a netip.Addr) Family {
	if a.Is4() || a.Is4In6() {
		return V4
	}
	return V6
}

func (f Family) String() string {
	if f == V6 {
		return "IPv6"
	}
	return "IPv4"
}

// ForwardingSysctl is the kernel parameter that lets the host forward
// packets of the family between interfaces.
func (f Family) ForwardingSysctl() string {
	if f == V6 {
		return "net.ipv6.conf.all.forwarding"
	}
	return "net.ipv4.ip_forward"
}

// Supported is the families plumb sets up networks for: both.
func Supported(f Family) bool { return f == V4 || f == V6 }

// CheckSubnet says why a subnet cannot carry a network: host bits set, a
// reserved block, or no room for two hosts.
func CheckSubnet(p netip.Prefix) error {
	if !Supported(FamilyOf(p.Addr())) {
		return fmt.Errorf("%s is not a subnet of a family plumb sets up", p)
	}
	if p.Addr().Is4In6() {
		// FamilyOf calls it IPv4, and its prefix length counts 96 bits
		// more than an IPv4 one: said as it is, not as "no room".
		return fmt.Errorf("%s is written in IPv6's IPv4-mapped form (::ffff:0:0/96), which a network cannot use; %s", p, mappedHint(p))
	}
	if p.Masked() != p {
		return fmt.Errorf("%s has host bits set; the subnet is %s", p, p.Masked())
	}
	blocks, most := reserved, 30
	if FamilyOf(p.Addr()) == V6 {
		blocks, most = reserved6, 126
	}
	for _, r := range blocks {
		if p.Overlaps(r.block) {
			return fmt.Errorf("%s overlaps %s, %s; containers' packets there would not be routed", p, r.block, r.why)
		}
	}
	if p.Bits() > most {
		return fmt.Errorf("%s has no room for two hosts; use a prefix of /%d or shorter", p, most)
	}
	return nil
}

// mappedHint says which IPv4 subnet an IPv4-mapped prefix stands for.
func mappedHint(p netip.Prefix) string {
	if p.Bits() < 96 {
		return "give an IPv4 subnet such as 10.88.0.0/24, or an IPv6 one outside ::ffff:0:0/96"
	}
	return "give the IPv4 subnet " + netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96).Masked().String() + " instead"
}

// The lengths of a bridge's IPv6 subnet: at most /120 (256 addresses, room
// for a bridge's 1024 ports is not needed past that) and at least /48 (a
// site's whole allocation; anything shorter is a routing block, not a link).
const (
	MinBridgePrefix6 = 48
	MaxBridgePrefix6 = 120
)

// CheckBridgeSubnet is CheckSubnet for a bridge's subnet: an IPv6 one
// must also be from /48 to /120 long.
func CheckBridgeSubnet(p netip.Prefix) error {
	if err := CheckSubnet(p); err != nil {
		return err
	}
	if FamilyOf(p.Addr()) == V6 && (p.Bits() < MinBridgePrefix6 || p.Bits() > MaxBridgePrefix6) {
		return fmt.Errorf("%s is a /%d; a bridge's IPv6 subnet is /%d to /%d (such as /64)", p, p.Bits(), MinBridgePrefix6, MaxBridgePrefix6)
	}
	return nil
}

// reserved are the IPv4 blocks no container network can use (RFC 6890).
var reserved = []struct {
	block netip.Prefix
	why   string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), `"this network", which no host may use as a source`},
	{netip.MustParsePrefix("127.0.0.0/8"), "the loopback block, which never leaves a host"},
	{netip.MustParsePrefix("169.254.0.0/16"), "the link-local block, which is never forwarded"},
	{netip.MustParsePrefix("224.0.0.0/4"), "the multicast block"},
	{netip.MustParsePrefix("240.0.0.0/4"), "the reserved block (and the broadcast address), which hosts drop"},
}

// reserved6 are the IPv6 blocks no container network can use (RFC 6890,
// RFC 4291).
var reserved6 = []struct {
	block netip.Prefix
	why   string
}{
	{netip.MustParsePrefix("::/127"), "the unspecified and loopback addresses"},
	{netip.MustParsePrefix("::ffff:0:0/96"), "the IPv4-mapped block, which is IPv4 on the wire"},
	{netip.MustParsePrefix("fe80::/10"), "the link-local block, which is never forwarded"},
	{netip.MustParsePrefix("ff00::/8"), "the multicast block"},
}

// CheckHost says why a is not a host address of subnet: outside it, or its
// network or broadcast address.
func CheckHost(a netip.Addr, subnet netip.Prefix) error {
	switch {
	case !subnet.Contains(a):
		return fmt.Errorf("%s is outside the subnet %s", a, subnet)
	case a == subnet.Addr():
		return fmt.Errorf("%s is the network address of %s, not a host address", a, subnet)
	case a == Broadcast(subnet) && FamilyOf(a) == V6:
		return fmt.Errorf("%s is the last address of %s, which plumb does not give out", a, subnet)
	case a == Broadcast(subnet):
		return fmt.Errorf("%s is the broadcast address of %s, not a host address", a, subnet)
	}
	return nil
}

// FirstHost is a subnet's first host address, the default gateway.
func FirstHost(p netip.Prefix) netip.Addr { return p.Masked().Addr().Next() }

// Broadcast is an IPv4 subnet's broadcast address: its last. An IPv6 subnet
// has none; its last address is returned, which is not given out either.
func Broadcast(p netip.Prefix) netip.Addr {
	if FamilyOf(p.Addr()) == V4 {
		b := p.Masked().Addr().As4()
		host := uint32(1)<<(32-p.Bits()) - 1
		v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
		return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	}
	b := p.Masked().Addr().As16()
	for i := p.Bits(); i < 128; i++ {
		b[i/8] |= 1 << (7 - i%8)
	}
	return netip.AddrFrom16(b)
}

// ErrFull is a subnet with no free host address.
var ErrFull = errors.New("every address is in use")

// Next is the first host address of subnet that used does not hold: never
// the network or broadcast address.
func Next(subnet netip.Prefix, used func(netip.Addr) bool) (netip.Addr, error) {
	last := Broadcast(subnet)
	for ip := subnet.Masked().Addr().Next(); ip.Less(last); ip = ip.Next() {
		if !used(ip) {
			return ip, nil
		}
	}
	return netip.Addr{}, ErrFull
}

// SameHost is the address of subnet to with the host part a has in from:
// fd00:88::2 for 10.88.0.2 of 10.88.0.0/24 and fd00:88::/64, so that a
// container's two addresses read alike. ok is false when that host part
// does not fit, or lands on to's network or last address.
func SameHost(a netip.Addr, from, to netip.Prefix) (netip.Addr, bool) {
	hostBits := a.BitLen() - from.Bits()
	if to.Addr().BitLen()-to.Bits() < hostBits {
		return netip.Addr{}, false
	}
	src, dst := a.AsSlice(), to.Masked().Addr().AsSlice()
	for i := 0; i < hostBits; i++ {
		bit := len(src)*8 - 1 - i
		if src[bit/8]&(1<<(7-bit%8)) != 0 {
			d := len(dst)*8 - 1 - i
			dst[d/8] |= 1 << (7 - d%8)
		}
	}
	out, _ := netip.AddrFromSlice(dst)
	if CheckHost(out, to) != nil {
		return netip.Addr{}, false
	}
	return out, true
}

// Hex is the address's last four bytes in hex: eight characters that name
// links after it ("veth" + Hex fits the kernel's 15 bytes).
func Hex(a netip.Addr) string {
	b := a.AsSlice()
	return hex.EncodeToString(b[len(b)-4:])
}

// TunnelEnd is the VXLAN address of a mesh node whose pod subnet is
// subnet: its network address, alone (/32), as flannel gives it. Other
// nodes route the subnet through it; the host's own traffic to other
// nodes' pods comes from it.
func TunnelEnd(subnet netip.Prefix) netip.Addr { return subnet.Masked().Addr() }

// TunnelMAC is the VXLAN device's MAC of the node whose pod subnet is
// subnet: MAC of its tunnel end. Subnets of a mesh are disjoint, so their
// MACs are too, and every node knows every other's from the node list.
func TunnelMAC(subnet netip.Prefix) string { return MAC(TunnelEnd(subnet)) }

// MAC is a bridge's fixed MAC address derived from its gateway: locally
// administered (02), "P" for plumb (50), then the last four bytes of the
// address, as Docker derives 02:42:... from an address. Unique as long as
// gateways are.
func MAC(gw netip.Addr) string { return string(AppendMAC(make([]byte, 0, 17), gw)) }

// AppendMAC appends MAC(gw) to b.
func AppendMAC(b []byte, gw netip.Addr) []byte {
	const hex = "0123456789abcdef"
	a := gw.As16()
	b = append(b, "02:50"...)
	for _, x := range a[12:] {
		b = append(b, ':', hex[x>>4], hex[x&15])
	}
	return b
}

// MinMTU is the smallest MTU a link carrying the family may have: 68 for
// IPv4 (RFC 791), 1280 for IPv6 (RFC 8200).
func (f Family) MinMTU() int {
	if f == V6 {
		return 1280
	}
	return 68
}

// Range is the part of a subnet addresses are given out from, as CNI's
// host-local takes it (rangeStart, rangeEnd); a zero bound is the subnet's
// first or last host.
type Range struct {
	Start netip.Addr
	End   netip.Addr
}

// CheckRange says why r cannot be a range of subnet: a bound outside it,
// or not a host address of it, or the start after the end.
func CheckRange(subnet netip.Prefix, r Range) error {
	for _, b := range []netip.Addr{r.Start, r.End} {
		if !b.IsValid() {
			continue
		}
		if err := CheckHost(b, subnet); err != nil {
			return err
		}
	}
	if r.Start.IsValid() && r.End.IsValid() && r.End.Less(r.Start) {
		return fmt.Errorf("the range starts at %s after its end %s", r.Start, r.End)
	}
	return nil
}

// Contains reports whether a lies within r (a zero bound does not limit).
func (r Range) Contains(a netip.Addr) bool {
	return (!r.Start.IsValid() || !a.Less(r.Start)) && (!r.End.IsValid() || !r.End.Less(a))
}

// NextIn is Next limited to the range r of subnet.
func NextIn(subnet netip.Prefix, r Range, used func(netip.Addr) bool) (netip.Addr, error) {
	return Next(subnet, func(a netip.Addr) bool { return !r.Contains(a) || used(a) })
}
