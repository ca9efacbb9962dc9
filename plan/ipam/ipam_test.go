package ipam

import (
	"net/netip"
	"strings"
	"testing"
)

func TestCheckSubnet(t *testing.T) {
	for _, tt := range []struct{ subnet, err string }{
		{"10.88.0.0/24", ""},
		{"10.88.0.0/30", ""},
		{"10.88.0.1/24", "host bits set"},
		{"10.88.0.0/31", "no room for two hosts"},
		{"fd00::/64", ""},
		{"fd00::/126", ""},
		{"fd00::/127", "no room for two hosts"},
		{"fd00::1/64", "host bits set"},
		{"fe80::/64", "link-local"},
		{"ff02::/16", "multicast"},
		{"::/0", "unspecified"},
		// IPv4-mapped: said as such, not "no room for two hosts" (its
		// length counts IPv6's 128 bits).
		{"::ffff:10.0.0.0/120", "IPv4-mapped form (::ffff:0:0/96), which a network cannot use; give the IPv4 subnet 10.0.0.0/24 instead"},
		{"::ffff:10.88.0.0/112", "give the IPv4 subnet 10.88.0.0/16 instead"},
	} {
		err := CheckSubnet(netip.MustParsePrefix(tt.subnet))
		if (err == nil) != (tt.err == "") || err != nil && !strings.Contains(err.Error(), tt.err) {
			t.Errorf("CheckSubnet(%s) = %v; want %q", tt.subnet, err, tt.err)
		}
	}
}

func TestCheckBridgeSubnet(t *testing.T) {
	for _, tt := range []struct{ subnet, err string }{
		{"10.88.0.0/30", ""}, {"fd00:88::/64", ""}, {"fd00:88::/48", ""}, {"fd00:88::/120", ""},
		{"fd00:88::/121", "a bridge's IPv6 subnet is /48 to /120"}, {"fd00::/47", "a bridge's IPv6 subnet is /48 to /120"},
		{"fe80::/64", "link-local"},
	} {
		err := CheckBridgeSubnet(netip.MustParsePrefix(tt.subnet))
		if (err == nil) != (tt.err == "") || err != nil && !strings.Contains(err.Error(), tt.err) {
			t.Errorf("CheckBridgeSubnet(%s) = %v; want %q", tt.subnet, err, tt.err)
		}
	}
}

func TestSameHost(t *testing.T) {
	p := netip.MustParsePrefix
	for _, tt := range []struct{ addr, from, to, want string }{
		{"10.88.0.2", "10.88.0.0/24", "fd00:88::/64", "fd00:88::2"},
		{"10.88.1.7", "10.88.0.0/16", "fd00:88::/64", "fd00:88::107"},
		{"10.88.1.7", "10.88.0.0/16", "fd00:88::/120", ""},                  // 16 host bits do not fit in 8
		{"10.88.0.255", "10.88.0.0/23", "fd00:88::/120", "fd00:88::ff"[:0]}, // the last address
	} {
		got, ok := SameHost(netip.MustParseAddr(tt.addr), p(tt.from), p(tt.to))
		if tt.want == "" && ok || tt.want != "" && (!ok || got.String() != tt.want) {
			t.Errorf("SameHost(%s, %s, %s) = %v, %v; want %q", tt.addr, tt.from, tt.to, got, ok, tt.want)
		}
	}
}

func TestCheckHost(t *testing.T) {
	s := netip.MustParsePrefix("10.88.0.0/29")
	for _, tt := range []struct{ addr, err string }{
		{"10.88.0.1", ""}, {"10.88.0.6", ""},
		{"10.88.0.0", "network address"}, {"10.88.0.7", "broadcast"}, {"10.88.1.1", "outside"},
	} {
		err := CheckHost(netip.MustParseAddr(tt.addr), s)
		if (err == nil) != (tt.err == "") || err != nil && !strings.Contains(err.Error(), tt.err) {
			t.Errorf("CheckHost(%s) = %v; want %q", tt.addr, err, tt.err)
		}
	}
}

func TestNext(t *testing.T) {
	s := netip.MustParsePrefix("10.88.0.0/30") // hosts .1 and .2
	used := map[netip.Addr]bool{netip.MustParseAddr("10.88.0.1"): true}
	a, err := Next(s, func(a netip.Addr) bool { return used[a] })
	if err != nil || a.String() != "10.88.0.2" {
		t.Fatalf("Next = %v, %v; want 10.88.0.2", a, err)
	}
	used[a] = true
	if _, err := Next(s, func(a netip.Addr) bool { return used[a] }); err != ErrFull {
		t.Errorf("full subnet: %v", err)
	}
}

func TestNames(t *testing.T) {
	for _, tt := range []struct{ addr, hex, mac string }{
		{"10.88.0.1", "0a580001", "02:50:0a:58:00:01"},
		{"255.255.255.255", "ffffffff", "02:50:ff:ff:ff:ff"},
		{"fd00:88::1:2", "00010002", "02:50:00:01:00:02"},
	} {
		a := netip.MustParseAddr(tt.addr)
		if Hex(a) != tt.hex || MAC(a) != tt.mac {
			t.Errorf("%s: Hex %s MAC %s; want %s %s", tt.addr, Hex(a), MAC(a), tt.hex, tt.mac)
		}
	}
}

func TestBroadcastAndFamily(t *testing.T) {
	if b := Broadcast(netip.MustParsePrefix("10.88.0.0/22")); b.String() != "10.88.3.255" {
		t.Errorf("Broadcast /22 = %s", b)
	}
	if b := Broadcast(netip.MustParsePrefix("fd00:88::/120")); b.String() != "fd00:88::ff" {
		t.Errorf("last of fd00:88::/120 = %s", b)
	}
	if V4.ForwardingSysctl() != "net.ipv4.ip_forward" || V6.ForwardingSysctl() != "net.ipv6.conf.all.forwarding" {
		t.Error("forwarding sysctls")
	}
	if FamilyOf(netip.MustParseAddr("::ffff:10.0.0.1")) != V4 || FamilyOf(netip.MustParseAddr("fd00::1")) != V6 {
		t.Error("FamilyOf")
	}
}

func TestRange(t *testing.T) {
	subnet := netip.MustParsePrefix("10.88.0.0/24")
	a := netip.MustParseAddr
	for _, tt := range []struct {
		r   Range
		err string
	}{
		{Range{}, ""},
		{Range{Start: a("10.88.0.10"), End: a("10.88.0.20")}, ""},
		{Range{Start: a("10.88.0.10")}, ""},
		{Range{Start: a("10.88.1.10")}, "outside the subnet"},
		{Range{End: a("10.88.0.255")}, "broadcast"},
		{Range{Start: a("10.88.0.0")}, "network address"},
		{Range{Start: a("10.88.0.20"), End: a("10.88.0.10")}, "after its end"},
	} {
		err := CheckRange(subnet, tt.r)
		if (err == nil) != (tt.err == "") || err != nil && !strings.Contains(err.Error(), tt.err) {
			t.Errorf("CheckRange(%v) = %v; want %q", tt.r, err, tt.err)
		}
	}
	r := Range{Start: a("10.88.0.10"), End: a("10.88.0.11")}
	used := map[netip.Addr]bool{}
	for _, want := range []string{"10.88.0.10", "10.88.0.11"} {
		got, err := NextIn(subnet, r, func(ip netip.Addr) bool { return used[ip] })
		if err != nil || got != a(want) {
			t.Fatalf("NextIn = %v, %v; want %s", got, err, want)
		}
		used[got] = true
	}
	if _, err := NextIn(subnet, r, func(ip netip.Addr) bool { return used[ip] }); err != ErrFull {
		t.Errorf("NextIn of a full range = %v; want ErrFull", err)
	}
	if got, _ := NextIn(subnet, Range{}, func(netip.Addr) bool { return false }); got != a("10.88.0.1") {
		t.Errorf("NextIn without bounds = %v; want the first host", got)
	}
}

// TestMAC: 02:50 and the address's last four bytes, in lower-case hex,
// as fmt's %02x wrote them before.
func TestMAC(t *testing.T) {
	for addr, want := range map[string]string{
		"10.88.0.1":       "02:50:0a:58:00:01",
		"10.244.255.0":    "02:50:0a:f4:ff:00",
		"0.0.0.0":         "02:50:00:00:00:00",
		"fd00::ab:cdef:1": "02:50:cd:ef:00:01",
	} {
		if got := MAC(netip.MustParseAddr(addr)); got != want {
			t.Errorf("MAC(%s) = %s, want %s", addr, got, want)
		}
	}
	if got := TunnelMAC(netip.MustParsePrefix("10.244.3.0/24")); got != "02:50:0a:f4:03:00" {
		t.Errorf("TunnelMAC = %s", got)
	}
}
