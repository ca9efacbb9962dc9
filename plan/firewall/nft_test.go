package firewall

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"plumb/actions"
	"plumb/plan/ipam"
)

// TestNftVeth: the document's FORWARD and MASQUERADE rules are one table,
// plumb-OBJECT, in one transaction whose undo deletes it.
func TestNftVeth(t *testing.T) {
	got, err := Nft{}.Actions(
		AcceptForward{Family: ipam.V4, Object: "veth-host", In: "veth-host", Out: "eth0", Why: "out"},
		AcceptForward{Family: ipam.V4, Object: "veth-host", In: "eth0", Out: "veth-host", Replies: true, Why: "back"},
		Masquerade{Family: ipam.V4, Object: "veth-host", Source: netip.MustParsePrefix("10.200.0.0/24"), Out: "eth0", Why: "nat"},
	)
	if err != nil {
		t.Fatal(err)
	}
	want := []actions.Action{actions.NftApply{Input: []string{
		"create table ip plumb-veth-host",
		"table ip plumb-veth-host {",
		"\tchain forward {",
		"\t\ttype filter hook forward priority filter; policy accept;",
		"\t\t# out",
		`		iifname "veth-host" oifname "eth0" accept`,
		"\t\t# back",
		`		iifname "eth0" oifname "veth-host" ct state established,related accept`,
		"\t}",
		"\tchain postrouting {",
		"\t\ttype nat hook postrouting priority srcnat; policy accept;",
		"\t\t# nat",
		`		ip saddr 10.200.0.0/24 oifname "eth0" masquerade`,
		"\t}",
		"}"},
		Purpose: "create the table ip plumb-veth-host with veth-host's rules (forwarding, NAT), in one transaction; deleting the table removes them all",
		Made:    &actions.NftDelete{Family: "ip", Table: "plumb-veth-host"}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}
	if u := got[0].Undo(); strings.Join(u.Argv(), " ") != "nft delete table ip plumb-veth-host" {
		t.Errorf("undo %q", u.Argv())
	}
}

// TestNftPublish: a published port is an element, added by nft -f - and
// deleted by key; no rule is written.
func TestNftPublish(t *testing.T) {
	got, err := Nft{}.Actions(Publish{Network: "br0", Bridge: "br0", Proto: "udp", HostPort: 5353, To: netip.MustParseAddr("10.88.0.2"), ToPort: 53})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("%d actions", len(got))
	}
	a := got[0].(actions.NftApply)
	if in := strings.Join(a.Input, "\n"); in != "add element ip plumb-br0 ports { udp . 5353 : 10.88.0.2 . 53 }" {
		t.Errorf("input %q", in)
	}
	if u := actions.Quote(a.Undo().Argv()); u != "nft delete element ip plumb-br0 ports '{ udp . 5353 }'" {
		t.Errorf("undo %s", u)
	}
	if !a.Undo().(actions.Tolerant).Gone("Error: Could not process rule: No such file or directory") {
		t.Error("deleting an element that is gone is not done")
	}
}

// TestNftRefusesNames: a name nft would read as more than a name.
func TestNftRefusesNames(t *testing.T) {
	for _, name := range []actions.IfName{`br"0`, "br*", "br{", "br;x", "bré", "a#b"} {
		_, err := Nft{}.Actions(OwnRules{Family: ipam.V4, Network: name.String(), Hook: Forwarded},
			AcceptForward{Family: ipam.V4, Network: "ok", In: name, Out: name})
		if err == nil || !strings.Contains(err.Error(), "only letters, digits") {
			t.Errorf("%q: %v", name, err)
		}
	}
	if _, err := (Nft{}).Actions(AcceptForward{Family: ipam.V4, In: "a", Out: "b"}); err == nil {
		t.Error("a rule of no object was written")
	}
}

// TestHostWarningsNft: when plumb writes nft, the same traps, worded for
// its own tables; iptables-nft's own save is not asked for.
func TestHostWarningsNft(t *testing.T) {
	proc := t.TempDir()
	os.MkdirAll(filepath.Join(proc, "net"), 0o755)
	os.WriteFile(filepath.Join(proc, "net/ip_tables_names"), []byte("filter\n"), 0o644)
	run := answers{"nft -j list chains": nftBaseChainsDrop, "iptables-legacy-save": legacySave}
	got := Host{R: run, Proc: proc, Variant: "legacy", Backend: "nftables", Nft: func() bool { return true }}.Warnings(context.Background(), false, true)
	want := []string{"iptables-nft has FORWARD policy DROP: an accept in plumb's own nft table does not outlive it",
		"iptables-legacy holds 2 rules while plumb writes nftables", "iptables-legacy has FORWARD policy DROP",
		"nft chain inet firewalld filter_FORWARD hooks forward with policy drop: an accept in plumb's own table"}
	if len(got) != len(want) {
		t.Fatalf("warnings:\n%s", strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.Contains(got[i], want[i]) {
			t.Errorf("warning %d = %q, want %q", i, got[i], want[i])
		}
	}
}

const nftBaseChainsDrop = `{"nftables": [
 {"chain": {"family": "ip", "table": "filter", "name": "FORWARD", "hook": "forward", "policy": "drop"}},
 {"chain": {"family": "ip", "table": "plumb-br0", "name": "forward", "hook": "forward", "policy": "accept"}},
 {"chain": {"family": "inet", "table": "firewalld", "name": "filter_FORWARD", "hook": "forward", "policy": "drop"}}]}`

// TestHostMTU: the uplink's MTU, as the link list gives it, against the
// bridge's.
func TestHostMTU(t *testing.T) {
	if w := MTUWarning("eth0", 1450, 0); !strings.Contains(w, "the uplink eth0's MTU 1450 is smaller than the bridge's 1500") {
		t.Errorf("default bridge MTU: %q", w)
	}
	if w := MTUWarning("eth0", 1450, 1400); w != "" {
		t.Errorf("bridge MTU 1400: %q", w)
	}
	if w := MTUWarning("nosuch", 0, 9000); w != "" {
		t.Errorf("an uplink of unknown MTU: %q", w)
	}
}

// TestNftLoopback: published ports answer the host's own connections to
// 127.0.0.1 (IPv4), whose loopback source is masqueraded towards the
// bridge, and new connections from the bridge to 127.0.0.0/8 are dropped;
// IPv6 leaves ::1 out, which the kernel never routes off lo.
func TestNftLoopback(t *testing.T) {
	input := func(fam ipam.Family, extra ...Need) string {
		t.Helper()
		needs := append([]Need{OwnRules{Family: fam, Network: "br0", Hook: ForTheHost}}, extra...)
		got, err := Nft{}.Actions(needs...)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(got[0].(actions.NftApply).Input, "\n")
	}
	v4 := input(ipam.V4,
		Masquerade{Family: ipam.V4, Network: "br0", Source: netip.MustParsePrefix("127.0.0.0/8"), Out: "br0"},
		OwnRules{Family: ipam.V4, Network: "br0", Hook: Incoming},
		GuardLoopback{Network: "br0", In: "br0", Why: "guard"})
	for _, want := range []string{
		"\t\tfib daddr type local dnat ip to meta l4proto . th dport map @ports\n\t}\n\tchain forward",
		"\tchain output {\n\t\ttype nat hook output priority -100; policy accept;\n\t\t# the same for the host's own traffic to its addresses, 127.0.0.1 too (published ports, from the host)\n\t\tfib daddr type local dnat ip to meta l4proto . th dport map @ports\n",
		`		ip saddr 127.0.0.0/8 oifname "br0" masquerade`,
		"\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\t\t# guard\n\t\tiifname \"br0\" ip daddr 127.0.0.0/8 ct state invalid,new,untracked drop\n\t}",
	} {
		if !strings.Contains(v4, want) {
			t.Errorf("IPv4 table lacks %q:\n%s", want, v4)
		}
	}
	if strings.Contains(v4, "!= 127.0.0.0/8") {
		t.Errorf("IPv4 output chain still skips the loopback:\n%s", v4)
	}
	if v6 := input(ipam.V6); !strings.Contains(v6, "ip6 daddr != ::1 fib daddr type local dnat ip6 to") || strings.Contains(v6, "input") {
		t.Errorf("IPv6 table:\n%s", v6)
	}
}
