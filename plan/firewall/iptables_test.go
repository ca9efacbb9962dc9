package firewall

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"plumb/actions"
	"plumb/plan/ipam"
)

func argvs(t *testing.T, needs ...Need) []string {
	t.Helper()
	as, err := Iptables{}.Actions(needs...)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range as {
		out = append(out, actions.Quote(a.Argv())+"  # undo: "+actions.Quote(a.Undo().Argv()))
	}
	return out
}

// TestIptablesHostRules: rules of no network are the document's, word for
// word, in the host's base chains.
func TestIptablesHostRules(t *testing.T) {
	got := argvs(t,
		AcceptForward{Family: ipam.V4, In: "veth-host", Out: "eth0"},
		AcceptForward{Family: ipam.V4, In: "eth0", Out: "veth-host", Replies: true},
		Masquerade{Family: ipam.V4, Source: netip.MustParsePrefix("10.200.0.0/24"), Out: "eth0"},
	)
	want := []string{
		"iptables -A FORWARD -i veth-host -o eth0 -j ACCEPT  # undo: iptables -D FORWARD -i veth-host -o eth0 -j ACCEPT",
		"iptables -A FORWARD -i eth0 -o veth-host -m state --state RELATED,ESTABLISHED -j ACCEPT  # undo: iptables -D FORWARD -i eth0 -o veth-host -m state --state RELATED,ESTABLISHED -j ACCEPT",
		"iptables -t nat -A POSTROUTING -s 10.200.0.0/24 -o eth0 -j MASQUERADE  # undo: iptables -t nat -D POSTROUTING -s 10.200.0.0/24 -o eth0 -j MASQUERADE",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestIptablesNetworkRules: a network's rules live in its own chains, each
// marked with its comment, jumped to from the base chains.
func TestIptablesNetworkRules(t *testing.T) {
	got := argvs(t,
		AcceptForward{Family: ipam.V4, Network: "br0", Out: "br0", Replies: true},
		JumpInto{Family: ipam.V4, Network: "br0", Hook: Forwarded},
		Masquerade{Family: ipam.V4, Network: "br0", Source: netip.MustParsePrefix("10.88.0.0/24"), Out: "br0", NotOut: true},
		Masquerade{Family: ipam.V4, Network: "br0", Source: netip.MustParsePrefix("127.0.0.0/8"), Out: "br0"},
		JumpInto{Family: ipam.V4, Network: "br0", Hook: ForTheHost},
		Publish{Network: "br0", Bridge: "br0", Proto: "udp", HostPort: 53, To: netip.MustParseAddr("10.88.0.5"), ToPort: 5353},
		OwnRules{Family: ipam.V4, Network: "br0", Hook: Incoming},
		GuardLoopback{Network: "br0", In: "br0"},
		JumpInto{Family: ipam.V4, Network: "br0", Hook: Incoming},
	)
	want := []string{
		"iptables -A PLUMB-br0 -o br0 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment plumb:br0 -j ACCEPT",
		"iptables -I FORWARD -m comment --comment plumb:br0 -j PLUMB-br0",
		"iptables -t nat -A PLUMB-br0-NAT -s 10.88.0.0/24 ! -o br0 -m comment --comment plumb:br0 -j MASQUERADE",
		// The host's own connections to 127.0.0.1 too (IPv4), their
		// loopback source masqueraded towards the bridge.
		"iptables -t nat -A PLUMB-br0-NAT -s 127.0.0.0/8 -o br0 -m comment --comment plumb:br0 -j MASQUERADE",
		"iptables -t nat -A PREROUTING -m addrtype --dst-type LOCAL -m comment --comment plumb:br0 -j PLUMB-br0-DNAT",
		"iptables -t nat -A OUTPUT -m addrtype --dst-type LOCAL -m comment --comment plumb:br0 -j PLUMB-br0-DNAT",
		"iptables -t nat -A PLUMB-br0-DNAT -p udp -m udp --dport 53 -m comment --comment plumb:br0 -j DNAT --to-destination 10.88.0.5:5353",
		"iptables -A PLUMB-br0 -d 10.88.0.5/32 ! -i br0 -o br0 -p udp -m udp --dport 5353 -m comment --comment plumb:br0 -j ACCEPT",
		// What route_localnet would let in from the bridge.
		"iptables -N PLUMB-br0-IN  # undo: iptables -X PLUMB-br0-IN",
		"iptables -A PLUMB-br0-IN -i br0 -d 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED -m comment --comment plumb:br0 -j DROP",
		"iptables -I INPUT -m comment --comment plumb:br0 -j PLUMB-br0-IN  # undo: iptables -D INPUT -m comment --comment plumb:br0 -j PLUMB-br0-IN",
	}
	for i := range got {
		if !strings.Contains(got[i], "-N ") && !strings.Contains(got[i], " INPUT ") {
			got[i], _, _ = strings.Cut(got[i], "  # undo:")
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestIptablesIPv6: IPv6 needs are the same rules in ip6tables' tables:
// the same chains, an IPv6 loopback, a bracketed DNAT destination.
func TestIptablesIPv6(t *testing.T) {
	got := argvs(t,
		OwnRules{Family: ipam.V6, Network: "br0", Hook: Forwarded},
		AcceptForward{Family: ipam.V6, Network: "br0", Out: "br0", Replies: true},
		JumpInto{Family: ipam.V6, Network: "br0", Hook: Forwarded},
		Masquerade{Family: ipam.V6, Network: "br0", Source: netip.MustParsePrefix("fd00:88::/64"), Out: "br0", NotOut: true},
		OwnRules{Family: ipam.V6, Network: "br0", Hook: ForTheHost},
		JumpInto{Family: ipam.V6, Network: "br0", Hook: ForTheHost},
		Publish{Network: "br0", Bridge: "br0", Proto: "tcp", HostPort: 8080, To: netip.MustParseAddr("fd00:88::5"), ToPort: 80},
	)
	want := []string{
		"ip6tables -N PLUMB-br0  # undo: ip6tables -X PLUMB-br0",
		"ip6tables -A PLUMB-br0 -o br0 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment plumb:br0 -j ACCEPT",
		"ip6tables -I FORWARD -m comment --comment plumb:br0 -j PLUMB-br0",
		"ip6tables -t nat -A PLUMB-br0-NAT -s fd00:88::/64 ! -o br0 -m comment --comment plumb:br0 -j MASQUERADE",
		"ip6tables -t nat -N PLUMB-br0-DNAT  # undo: ip6tables -t nat -X PLUMB-br0-DNAT",
		"ip6tables -t nat -A PREROUTING -m addrtype --dst-type LOCAL -m comment --comment plumb:br0 -j PLUMB-br0-DNAT",
		"ip6tables -t nat -A OUTPUT ! -d ::1/128 -m addrtype --dst-type LOCAL -m comment --comment plumb:br0 -j PLUMB-br0-DNAT",
		"ip6tables -t nat -A PLUMB-br0-DNAT -p tcp -m tcp --dport 8080 -m comment --comment plumb:br0 -j DNAT --to-destination '[fd00:88::5]:80'",
		"ip6tables -A PLUMB-br0 -d fd00:88::5/128 ! -i br0 -o br0 -p tcp -m tcp --dport 80 -m comment --comment plumb:br0 -j ACCEPT",
	}
	for i := range got {
		if !strings.Contains(got[i], "-N ") {
			got[i], _, _ = strings.Cut(got[i], "  # undo:")
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	as, _ := Iptables{}.Actions(OwnRules{Family: ipam.V6, Network: "br0", Hook: Forwarded})
	if b, _, _ := as[0].(actions.Batchable).Batch(); b.Tool != actions.Ip6tables {
		t.Errorf("an IPv6 chain batches with %v, not ip6tables-restore", b)
	}
}

// TestMasqueradeNotTo: a bridge on a mesh leaves traffic to the cluster
// (and multicast) unmasqueraded, with a RETURN for each destination before
// the MASQUERADE in the same chain, and the rest masqueraded with random
// source ports; nft writes one rule with a set.
func TestMasqueradeNotTo(t *testing.T) {
	m := Masquerade{Family: ipam.V4, Network: "cni0", Source: netip.MustParsePrefix("10.244.1.0/24"), Out: "cni0", NotOut: true,
		NotTo:       []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16"), netip.MustParsePrefix("224.0.0.0/4")},
		RandomFully: true}
	got := argvs(t, m)
	want := []string{
		"iptables -t nat -A PLUMB-cni0-NAT -s 10.244.1.0/24 -d 10.244.0.0/16 -m comment --comment plumb:cni0 -j RETURN  # undo: iptables -t nat -D PLUMB-cni0-NAT -s 10.244.1.0/24 -d 10.244.0.0/16 -m comment --comment plumb:cni0 -j RETURN",
		"iptables -t nat -A PLUMB-cni0-NAT -s 10.244.1.0/24 -d 224.0.0.0/4 -m comment --comment plumb:cni0 -j RETURN  # undo: iptables -t nat -D PLUMB-cni0-NAT -s 10.244.1.0/24 -d 224.0.0.0/4 -m comment --comment plumb:cni0 -j RETURN",
		"iptables -t nat -A PLUMB-cni0-NAT -s 10.244.1.0/24 ! -o cni0 -m comment --comment plumb:cni0 -j MASQUERADE --random-fully  # undo: iptables -t nat -D PLUMB-cni0-NAT -s 10.244.1.0/24 ! -o cni0 -m comment --comment plumb:cni0 -j MASQUERADE --random-fully",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("iptables (-want +got):\n%s", diff)
	}
	as, err := Nft{}.Actions(OwnRules{Family: ipam.V4, Network: "cni0", Hook: Outgoing}, m)
	if err != nil {
		t.Fatal(err)
	}
	in := strings.Join(as[0].(actions.NftApply).Input, "\n")
	if rule := `ip saddr 10.244.1.0/24 ip daddr != { 10.244.0.0/16, 224.0.0.0/4 } oifname != "cni0" masquerade fully-random`; !strings.Contains(in, rule) {
		t.Errorf("nft input lacks %q:\n%s", rule, in)
	}
}

// TestIsolation: an internal network's drops, and an isolated one's drop
// of what goes to the isolated group (but to a published port), are rules
// of its own in mangle (iptables: a chain jumped to from the top of mangle
// FORWARD, before any filter accept) and, with nft, a forward chain of its
// table that runs before the one of its accepts.
func TestIsolation(t *testing.T) {
	needs := []Need{
		OwnRules{Family: ipam.V4, Network: "br0", Hook: Isolation},
		DropForward{Family: ipam.V4, Network: "br0", In: "br0", Out: "br0", NotOut: true, OutGroup: IsolatedGroup, NotDNAT: true},
		DropForward{Family: ipam.V4, Network: "br0", In: "br0", NotIn: true, Out: "br0"},
		JumpInto{Family: ipam.V4, Network: "br0", Hook: Isolation},
		OwnRules{Family: ipam.V4, Network: "br0", Hook: Forwarded},
		AcceptForward{Family: ipam.V4, Network: "br0", In: "br0", Out: "br0"},
	}
	want := []string{
		"iptables -t mangle -N PLUMB-br0-ISO  # undo: iptables -t mangle -X PLUMB-br0-ISO",
		"iptables -t mangle -A PLUMB-br0-ISO -i br0 ! -o br0 -m devgroup --dst-group 28780 -m conntrack ! --ctstate DNAT -m comment --comment plumb:br0 -j DROP  # undo: iptables -t mangle -D PLUMB-br0-ISO -i br0 ! -o br0 -m devgroup --dst-group 28780 -m conntrack ! --ctstate DNAT -m comment --comment plumb:br0 -j DROP",
		"iptables -t mangle -A PLUMB-br0-ISO ! -i br0 -o br0 -m comment --comment plumb:br0 -j DROP  # undo: iptables -t mangle -D PLUMB-br0-ISO ! -i br0 -o br0 -m comment --comment plumb:br0 -j DROP",
		"iptables -t mangle -I FORWARD -m comment --comment plumb:br0 -j PLUMB-br0-ISO  # undo: iptables -t mangle -D FORWARD -m comment --comment plumb:br0 -j PLUMB-br0-ISO",
		"iptables -N PLUMB-br0  # undo: iptables -X PLUMB-br0",
		"iptables -A PLUMB-br0 -i br0 -o br0 -m comment --comment plumb:br0 -j ACCEPT  # undo: iptables -D PLUMB-br0 -i br0 -o br0 -m comment --comment plumb:br0 -j ACCEPT",
	}
	if diff := cmp.Diff(want, argvs(t, needs...)); diff != "" {
		t.Errorf("iptables (-want +got):\n%s", diff)
	}
	as, err := Nft{}.Actions(needs...)
	if err != nil {
		t.Fatal(err)
	}
	in := strings.Join(as[0].(actions.NftApply).Input, "\n")
	chain := "\tchain isolation {\n\t\ttype filter hook forward priority filter - 10; policy accept;\n" +
		"\t\tiifname \"br0\" oifname != \"br0\" oifgroup 28780 ct status ! dnat drop\n" +
		"\t\tiifname != \"br0\" oifname \"br0\" drop\n\t}\n" +
		"\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n" +
		"\t\tiifname \"br0\" oifname \"br0\" accept\n\t}"
	if !strings.Contains(in, chain) {
		t.Errorf("nft input lacks, drops in a chain of their own before the accepts:\n%s\nin:\n%s", chain, in)
	}
	if _, err := (Iptables{}).Actions(DropForward{Family: ipam.V4, In: "br0"}); err == nil {
		t.Error("iptables wrote a drop of no network's")
	}
	if _, err := (Nft{}).Actions(DropForward{Family: ipam.V4, In: "br0"}); err == nil {
		t.Error("nft wrote a drop of no network's")
	}
}
