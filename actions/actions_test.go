package actions

import (
	"encoding/json"
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestArgvAndUndo(t *testing.T) {
	pid := Netns{PID: 4242}
	named := Netns{Name: "ctr"}
	fwd := Rule{Table: Filter, Chain: "FORWARD", Spec: []string{"-i", "veth-host", "-o", "eth0", "-j", "ACCEPT"}}
	nat := Rule{Table: NAT, Chain: "POSTROUTING", Spec: []string{"-s", "10.200.0.0/24", "-o", "eth0", "-j", "MASQUERADE"}}
	peer, moved := netip.MustParseAddr("192.168.77.2"), netip.MustParseAddr("192.168.77.12")
	vtep, subnet := netip.MustParseAddr("10.244.2.0"), netip.MustParsePrefix("10.244.2.0/24")
	tests := []struct {
		name   string
		action Action
		argv   string
		undo   string // "" when there is none
		noted  bool
	}{
		{"veth", LinkAddVeth{Host: "veth-host", Peer: "veth-container"},
			"ip link add veth-host type veth peer name veth-container", "ip link del veth-host", false},
		{"veth peer in netns", LinkAddVeth{Host: "h", Peer: "p", PeerIn: pid},
			"ip link add h type veth peer name p netns 4242", "ip link del h", false},
		{"move", LinkSetNetns{Name: "veth-container", To: pid}, "ip link set veth-container netns 4242", "", true},
		{"move named", LinkSetNetns{Name: "veth-container", To: named}, "ip link set veth-container netns ctr", "", true},
		{"addr host", AddrAdd{Addr: netip.MustParsePrefix("10.200.0.1/24"), Dev: "veth-host"},
			"ip addr add 10.200.0.1/24 dev veth-host", "", true},
		{"addr pid", AddrAdd{Addr: netip.MustParsePrefix("10.200.0.2/24"), Dev: "veth-container", In: pid},
			"nsenter -t 4242 -n ip addr add 10.200.0.2/24 dev veth-container", "", true},
		{"addr named", AddrAdd{Addr: netip.MustParsePrefix("10.200.0.2/24"), Dev: "veth-container", In: named},
			"ip -n ctr addr add 10.200.0.2/24 dev veth-container", "", true},
		{"up", LinkSetUp{Dev: "veth-host"}, "ip link set veth-host up", "", true},
		{"lo", LinkSetUp{Dev: "lo", In: pid}, "nsenter -t 4242 -n ip link set lo up", "", true},
		{"route", RouteAddDefault{Via: netip.MustParseAddr("10.200.0.1"), In: pid},
			"nsenter -t 4242 -n ip route add default via 10.200.0.1", "", true},
		{"sysctl", SysctlSet{Key: "net.ipv4.ip_forward", Value: "1"}, "sysctl -w net.ipv4.ip_forward=1", "", true},
		{"route to", RouteAdd{Dst: netip.MustParsePrefix("198.51.100.0/24"), Via: netip.MustParseAddr("10.200.0.1"), In: Netns{File: "/proc/7/ns/net"}},
			"nsenter --net=/proc/7/ns/net ip route add 198.51.100.0/24 via 10.200.0.1", "", true},
		{"hairpin", LinkSetHairpin{Dev: "veth0a580002"}, "ip link set veth0a580002 type bridge_slave hairpin on", "", true},
		{"forward", IptablesAppend{Rule: fwd}, "iptables -A FORWARD -i veth-host -o eth0 -j ACCEPT",
			"iptables -D FORWARD -i veth-host -o eth0 -j ACCEPT", false},
		{"nat", IptablesAppend{Rule: nat}, "iptables -t nat -A POSTROUTING -s 10.200.0.0/24 -o eth0 -j MASQUERADE",
			"iptables -t nat -D POSTROUTING -s 10.200.0.0/24 -o eth0 -j MASQUERADE", false},
		{"del", LinkDel{Name: "veth-host"}, "ip link del veth-host", "", false},
		{"del in ns", LinkDel{Name: "eth0", In: pid}, "nsenter -t 4242 -n ip link del eth0", "", false},
		{"vxlan", LinkAddVxlan{Name: "m1", MAC: "02:50:0a:f4:01:00", MTU: 1450, VNI: 42, Local: netip.MustParseAddr("192.168.77.1"), Dev: "eth0", Port: 8472},
			"ip link add m1 address 02:50:0a:f4:01:00 mtu 1450 type vxlan id 42 local 192.168.77.1 dev eth0 dstport 8472 nolearning", "ip link del m1", false},
		{"fdb add", FdbAdd{MAC: "02:50:0a:f4:02:00", Dev: "m1", Dst: peer},
			"bridge fdb add 02:50:0a:f4:02:00 dev m1 dst 192.168.77.2", "bridge fdb del 02:50:0a:f4:02:00 dev m1 dst 192.168.77.2", false},
		{"fdb del", FdbDel{MAC: "02:50:0a:f4:02:00", Dev: "m1", Dst: peer},
			"bridge fdb del 02:50:0a:f4:02:00 dev m1 dst 192.168.77.2", "", true},
		{"fdb replace", FdbReplace{MAC: "02:50:0a:f4:02:00", Dev: "m1", Dst: moved, From: peer},
			"bridge fdb replace 02:50:0a:f4:02:00 dev m1 dst 192.168.77.12", "bridge fdb replace 02:50:0a:f4:02:00 dev m1 dst 192.168.77.2", false},
		{"neigh add", NeighAdd{IP: vtep, MAC: "02:50:0a:f4:02:00", Dev: "m1"},
			"ip neigh add 10.244.2.0 lladdr 02:50:0a:f4:02:00 dev m1 nud permanent", "ip neigh del 10.244.2.0 dev m1", false},
		{"neigh del", NeighDel{IP: vtep, Dev: "m1"}, "ip neigh del 10.244.2.0 dev m1", "", true},
		{"route onlink", RouteAddOnlink{Dst: subnet, Via: vtep, Dev: "m1"},
			"ip route add 10.244.2.0/24 via 10.244.2.0 dev m1 onlink", "ip route del 10.244.2.0/24 via 10.244.2.0 dev m1", false},
		{"route del", RouteDel{Dst: subnet, Via: vtep, Dev: "m1"}, "ip route del 10.244.2.0/24 via 10.244.2.0 dev m1", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Quote(tt.action.Argv()); got != tt.argv {
				t.Errorf("argv:\n got %s\nwant %s", got, tt.argv)
			}
			undo := ""
			if u := tt.action.Undo(); u != nil {
				undo = Quote(u.Argv())
			}
			if undo != tt.undo {
				t.Errorf("undo:\n got %q\nwant %q", undo, tt.undo)
			}
			_, covered := tt.action.(Noted)
			if covered != tt.noted {
				t.Errorf("Noted = %v, want %v", covered, tt.noted)
			}
			if tt.action.Why() == "" {
				t.Error("Why is empty")
			}
		})
	}
}

func TestGone(t *testing.T) {
	tests := []struct {
		undo   Tolerant
		stderr string
		gone   bool
	}{
		{LinkDel{Name: "x"}, `Cannot find device "x"`, true},
		{LinkDel{Name: "x"}, "RTNETLINK answers: Operation not permitted", false},
		{IptablesDelete{}, "iptables: Bad rule (does a matching rule exist in that chain?).", true},
		{IptablesDelete{}, "iptables v1.8.9 (nf_tables): Couldn't load match `state':No such file or directory", false},
		{IptablesDelete{}, "Another app is currently holding the xtables lock.", false},
		{IptablesDelete{}, "iptables v1.8.9 (nf_tables): Chain 'PLUMB-br0' does not exist", true},
		// A mesh's peers, as undos and as an update's restores (the
		// stderr of iproute2 6.1, LC_ALL=C; docs/design/mesh.md 4.3).
		{LinkDel{Name: "m1"}, `Cannot find device "m1"`, true},
		{FdbAdd{}, "RTNETLINK answers: File exists", true},
		{FdbAdd{}, `Cannot find device "m1"`, false},
		{FdbDel{}, "RTNETLINK answers: No such file or directory", true},
		{FdbDel{}, `Cannot find device "m1"`, true},
		{FdbDel{}, "RTNETLINK answers: Operation not permitted", false},
		{FdbReplace{}, `Cannot find device "m1"`, true},
		{FdbReplace{}, "RTNETLINK answers: Invalid argument", false},
		{NeighAdd{}, "RTNETLINK answers: File exists", true},
		{NeighAdd{}, `Cannot find device "m1"`, false},
		{NeighDel{}, "RTNETLINK answers: No such file or directory", true},
		{NeighDel{}, `Cannot find device "m1"`, true},
		{NeighDel{}, "RTNETLINK answers: Operation not permitted", false},
		{RouteAddOnlink{}, "RTNETLINK answers: File exists", true},
		{RouteAddOnlink{}, "Error: Nexthop has invalid gateway.", false},
		{RouteDel{}, "RTNETLINK answers: No such process", true},
		{RouteDel{}, `Cannot find device "m1"`, true},
		{RouteDel{}, "RTNETLINK answers: Operation not permitted", false},
	}
	for _, tt := range tests {
		if got := tt.undo.Gone(tt.stderr); got != tt.gone {
			t.Errorf("%T.Gone(%q) = %v, want %v", tt.undo, tt.stderr, got, tt.gone)
		}
	}
}

// TestClash: which failures of a mesh's steps mean that what they make was
// there before, someone else's, so that their undo must not run (the
// stderr of iproute2 6.1, LC_ALL=C; docs/design/mesh.md 4.3).
func TestClash(t *testing.T) {
	tests := []struct {
		a      Clasher
		stderr string
		clash  bool
	}{
		{LinkAddVxlan{}, "RTNETLINK answers: File exists", true},
		{LinkAddVxlan{}, "Error: A VXLAN device with the specified VNI already exists.", true},
		{LinkAddVxlan{}, `Error: argument "16777216" is wrong: invalid id`, false},
		{LinkAddVxlan{}, `Cannot find device "nosuch"`, false},
		{FdbAdd{}, "RTNETLINK answers: File exists", true},
		{FdbAdd{}, `Cannot find device "m1"`, false},
		{NeighAdd{}, "RTNETLINK answers: File exists", true},
		{NeighAdd{}, `Cannot find device "m1"`, false},
		{RouteAddOnlink{}, "RTNETLINK answers: File exists", true},
		{RouteAddOnlink{}, "Error: Nexthop has invalid gateway.", false},
		{RouteAddOnlink{}, "Error: Nexthop device is not up.", false},
	}
	for _, tt := range tests {
		if got := tt.a.Clash(tt.stderr); got != tt.clash {
			t.Errorf("%T.Clash(%q) = %v, want %v", tt.a, tt.stderr, got, tt.clash)
		}
	}
	// Removals and a replace make nothing that could be someone else's.
	for _, a := range []Action{FdbDel{}, FdbReplace{}, NeighDel{}, RouteDel{}} {
		if _, ok := a.(Clasher); ok {
			t.Errorf("%T is a Clasher; a failed removal has no one else's object to spare", a)
		}
	}
}

func TestParseIfName(t *testing.T) {
	ok := []string{"veth-host", "eth0", "z", "123456789012345", "br_0.1"}
	bad := map[string]string{
		"":                 "empty",
		"1234567890123456": "at most 15",
		".":                "not allowed",
		"..":               "not allowed",
		"a/b":              "'/'",
		"a:b":              "':'",
		"a b":              "whitespace",
		"a\tb":             "whitespace",
		"a\x01":            "control",
		"a":                "a word of the ip command, or the start of one",
		"br":               "a word of the ip command, or the start of one",
	}
	for _, s := range ok {
		if _, err := ParseIfName(s); err != nil {
			t.Errorf("ParseIfName(%q): %v", s, err)
		}
	}
	for s, want := range bad {
		_, err := ParseIfName(s)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseIfName(%q) = %v, want an error mentioning %q", s, err, want)
		}
	}
}

func TestQuote(t *testing.T) {
	tests := map[string][]string{
		"ip link add a type veth":                                  {"ip", "link", "add", "a", "type", "veth"},
		"echo 'a b' '' 'it'\\''s'":                                 {"echo", "a b", "", "it's"},
		"iptables --state RELATED,ESTABLISHED":                     {"iptables", "--state", "RELATED,ESTABLISHED"},
		"x '$HOME' 'a;b'":                                          {"x", "$HOME", "a;b"},
		"sh -c 'a\nb\tc'":                                          {"sh", "-c", "a\nb\tc"},
		`sh -c $'touch /owned; echo hi\x0d\x1b[Kecho hi \'q\' \\'`: {"sh", "-c", "touch /owned; echo hi\r\x1b[Kecho hi 'q' \\"},
	}
	for want, argv := range tests {
		if got := Quote(argv); got != want {
			t.Errorf("Quote(%q) = %s, want %s", argv, got, want)
		}
	}
	// bash reads back the very bytes, control characters included.
	word := "a\r\x1b[2K\x07\x7f'\\\"$(x)\n\tz"
	out, err := exec.Command("bash", "-c", "printf %s "+Quote([]string{word})).Output()
	if err != nil || string(out) != word {
		t.Errorf("bash read back %q, %v; want %q", out, err, word)
	}
}

func TestCodecRoundTrip(t *testing.T) {
	all := []Action{
		LinkAddVeth{Host: "h", Peer: "p", PeerIn: Netns{Name: "n"}},
		LinkDel{Name: "h", In: Netns{PID: 7}},
		LinkSetNetns{Name: "p", To: Netns{PID: 7}},
		LinkSetUp{Dev: "lo", In: Netns{PID: 7}},
		AddrAdd{Addr: netip.MustParsePrefix("10.0.0.1/24"), Dev: "h"},
		RouteAddDefault{Via: netip.MustParseAddr("10.0.0.1"), In: Netns{PID: 7}},
		SysctlSet{Key: "net.ipv4.ip_forward", Value: "0"},
		IptablesAppend{Rule: Rule{Table: NAT, Chain: "POSTROUTING", Spec: []string{"-j", "MASQUERADE"}, Purpose: "p"}},
		IptablesDelete{Rule: Rule{Table: Filter, Chain: "FORWARD", Spec: []string{"-j", "ACCEPT"}}},
	}
	for _, a := range all {
		e, err := Encode(a)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(e)
		var back Encoded
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		got, err := Decode(back)
		if err != nil {
			t.Fatalf("%s: %v", a.Kind(), err)
		}
		if diff := cmp.Diff(a, got, cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})); diff != "" {
			t.Errorf("%s round trip (-want +got):\n%s", a.Kind(), diff)
		}
	}
}

func TestDecodeRefusesTampering(t *testing.T) {
	e, _ := Encode(LinkDel{Name: "veth-host"})
	tests := map[string]func(*Encoded){
		"argv edited":   func(e *Encoded) { e.Argv = []string{"ip", "link", "del", "eth0"} },
		"spec edited":   func(e *Encoded) { e.Spec = []byte(`{"name":"eth0"}`) },
		"unknown kind":  func(e *Encoded) { e.Kind = "rm_rf" },
		"unknown field": func(e *Encoded) { e.Spec = []byte(`{"name":"veth-host","force":true}`) },
		"bad name":      func(e *Encoded) { e.Spec = []byte(`{"name":"a/b"}`); e.Argv = []string{"ip", "link", "del", "a/b"} },
		"truncated":     func(e *Encoded) { e.Spec = []byte(`{"name":"veth-`) },
	}
	for name, edit := range tests {
		t.Run(name, func(t *testing.T) {
			c := e
			c.Argv = append([]string(nil), e.Argv...)
			edit(&c)
			if a, err := Decode(c); err == nil {
				t.Errorf("Decode accepted a tampered action: %v", a.Argv())
			}
		})
	}
}

// TestBatchLines: each tool family says how its actions batch, from their
// fields, never from their rendered command: a namespace given by path
// batches with nsenter --net=PATH, a word a batch reader would misread
// keeps its action out of a batch.
func TestBatchLines(t *testing.T) {
	path := Netns{File: "/var/run/netns/cni-1"}
	tests := []struct {
		a        Action
		argv     string // the batch process
		line     string
		batched  bool
		inputEnd string
	}{
		{LinkSetUp{Dev: "eth0", In: path}, "nsenter --net=/var/run/netns/cni-1 ip -batch -", "link set eth0 up", true, "link set eth0 up\n"},
		{LinkSetUp{Dev: "eth0", In: Netns{Name: "c1"}}, "ip -n c1 -batch -", "link set eth0 up", true, "link set eth0 up\n"},
		{LinkDel{Name: "v1"}, "ip -batch -", "link del v1", true, "link del v1\n"},
		{IptablesAppend{Rule: Rule{Table: NAT, Chain: "POSTROUTING", Spec: []string{"-s", "10.0.0.0/24", "!", "-o", "br0", "-j", "MASQUERADE"}}},
			"iptables-restore --noflush", "nat\t-A POSTROUTING -s 10.0.0.0/24 ! -o br0 -j MASQUERADE", true, "*nat\n-A POSTROUTING -s 10.0.0.0/24 ! -o br0 -j MASQUERADE\nCOMMIT\n"},
		{IptablesNewChain{Chain: "PLUMB-br0"}, "iptables-restore --noflush", "filter\t-N PLUMB-br0", true, "*filter\n-N PLUMB-br0\nCOMMIT\n"},
		{IptablesAppend{Rule: Rule{Chain: "FORWARD", Spec: []string{"-m", "comment", "--comment", "two words", "-j", "ACCEPT"}}}, "", "", false, ""},
		{LinkSetUp{Dev: "a'b"}, "", "", false, ""},
		{LinkAddVxlan{Name: "m1", MAC: "02:50:0a:f4:01:00", MTU: 1450, VNI: 42, Local: netip.MustParseAddr("192.168.77.1"), Dev: "eth0", Port: 8472},
			"ip -batch -", "link add m1 address 02:50:0a:f4:01:00 mtu 1450 type vxlan id 42 local 192.168.77.1 dev eth0 dstport 8472 nolearning", true,
			"link add m1 address 02:50:0a:f4:01:00 mtu 1450 type vxlan id 42 local 192.168.77.1 dev eth0 dstport 8472 nolearning\n"},
		{FdbAdd{MAC: "02:50:0a:f4:02:00", Dev: "m1", Dst: netip.MustParseAddr("192.168.77.2")},
			"bridge -batch -", "fdb add 02:50:0a:f4:02:00 dev m1 dst 192.168.77.2", true, "fdb add 02:50:0a:f4:02:00 dev m1 dst 192.168.77.2\n"},
		{FdbDel{MAC: "02:50:0a:f4:02:00", Dev: "m1", Dst: netip.MustParseAddr("192.168.77.2")},
			"bridge -batch -", "fdb del 02:50:0a:f4:02:00 dev m1 dst 192.168.77.2", true, "fdb del 02:50:0a:f4:02:00 dev m1 dst 192.168.77.2\n"},
		{FdbReplace{MAC: "02:50:0a:f4:02:00", Dev: "m1", Dst: netip.MustParseAddr("192.168.77.12"), From: netip.MustParseAddr("192.168.77.2")},
			"bridge -batch -", "fdb replace 02:50:0a:f4:02:00 dev m1 dst 192.168.77.12", true, "fdb replace 02:50:0a:f4:02:00 dev m1 dst 192.168.77.12\n"},
		{FdbAdd{MAC: "02:50:0a:f4:02:00 self", Dev: "m1", Dst: netip.MustParseAddr("192.168.77.2")}, "", "", false, ""},
		{NeighAdd{IP: netip.MustParseAddr("10.244.2.0"), MAC: "02:50:0a:f4:02:00", Dev: "m1"},
			"ip -batch -", "neigh add 10.244.2.0 lladdr 02:50:0a:f4:02:00 dev m1 nud permanent", true, "neigh add 10.244.2.0 lladdr 02:50:0a:f4:02:00 dev m1 nud permanent\n"},
		{NeighDel{IP: netip.MustParseAddr("10.244.2.0"), Dev: "m1"}, "ip -batch -", "neigh del 10.244.2.0 dev m1", true, "neigh del 10.244.2.0 dev m1\n"},
		{RouteAddOnlink{Dst: netip.MustParsePrefix("10.244.2.0/24"), Via: netip.MustParseAddr("10.244.2.0"), Dev: "m1"},
			"ip -batch -", "route add 10.244.2.0/24 via 10.244.2.0 dev m1 onlink", true, "route add 10.244.2.0/24 via 10.244.2.0 dev m1 onlink\n"},
		{RouteDel{Dst: netip.MustParsePrefix("10.244.2.0/24"), Via: netip.MustParseAddr("10.244.2.0"), Dev: "m1"},
			"ip -batch -", "route del 10.244.2.0/24 via 10.244.2.0 dev m1", true, "route del 10.244.2.0/24 via 10.244.2.0 dev m1\n"},
	}
	for _, tt := range tests {
		b, line, ok := tt.a.(Batchable).Batch()
		if ok != tt.batched {
			t.Errorf("%s: batched %v; want %v", Quote(tt.a.Argv()), ok, tt.batched)
			continue
		}
		if !ok {
			continue
		}
		if got := Quote(b.Argv()); got != tt.argv || line != tt.line {
			t.Errorf("%s: %q in %q; want %q in %q", Quote(tt.a.Argv()), line, got, tt.line, tt.argv)
		}
		if got := string(b.Input([]string{line})); got != tt.inputEnd {
			t.Errorf("%s: input %q; want %q", Quote(tt.a.Argv()), got, tt.inputEnd)
		}
	}
}

// TestBatchOutcome: ip -batch stops at its failing line, the lines before
// it applied; iptables-restore applies nothing of the failing line's table
// block, and the blocks before it whole.
func TestBatchOutcome(t *testing.T) {
	ip, ipt, br := Batch{Tool: IP}, Batch{Tool: Iptables}, Batch{Tool: Bridge}
	four := []string{"a", "b", "c", "d"}
	filter := []string{"filter\t-N X", "filter\t-A X -j ACCEPT", "filter\t-I FORWARD -j X", "filter\t-A X -j DROP"}
	// input: 1 *filter, 2-3 rules, 4 COMMIT, 5 *nat, 6-7 rules, 8 COMMIT
	mixed := []string{"filter\t-N X", "filter\t-I FORWARD -j X", "nat\t-N Y", "nat\t-A POSTROUTING -j Y"}
	for _, tt := range []struct {
		b      Batch
		lines  []string
		stderr string
		want   Outcome
	}{
		{ip, four, "Error: ipv4: Address already assigned.\nCommand failed -:3", Outcome{Failed: 2, Done: 2}},
		{ip, four, "something else", Outcome{Unsure: true}},
		{ip, four, "Command failed -:9", Outcome{Unsure: true}}, // past the batch
		// bridge -batch -, measured (iproute2 6.1, exit 1): the lines
		// before the failing one applied, none after it.
		{br, four, "RTNETLINK answers: File exists\nCommand failed -:2\n", Outcome{Failed: 1, Done: 1}},
		{br, four, "Cannot find device \"m1\"\nCommand failed -:1\n", Outcome{Failed: 0, Done: 0}},
		{br, four, "RTNETLINK answers: No such file or directory\nCommand failed -:4\n", Outcome{Failed: 3, Done: 3}},
		{br, four, "Killed", Outcome{Unsure: true}},
		{br, four, "Command failed -:5", Outcome{Unsure: true}}, // past the batch
		{ipt, filter, "iptables-restore: line 3 failed", Outcome{Failed: 1}},
		{ipt, filter, "iptables-restore: unknown", Outcome{}},
		{ipt, mixed, "iptables-restore: line 3 failed", Outcome{Failed: 1}},
		{ipt, mixed, "iptables-restore: line 7 failed", Outcome{Failed: 3, Done: 2}},
		{ipt, mixed, "iptables-restore: line 8 failed", Outcome{Failed: 2, Done: 2}}, // nat's COMMIT: nat refused whole
		{ipt, mixed, "iptables-restore: line 4 failed", Outcome{Failed: 0}},          // filter's COMMIT
		{ipt, mixed, "Chain 'NOPE' does not exist\nError occurred at line: 8", Outcome{Failed: 2, Done: 2}},
		{ipt, mixed, "iptables-restore: line 9 failed", Outcome{Unsure: true}}, // past the input
		{ipt, mixed, "iptables-restore: unknown", Outcome{Unsure: true}},       // either block
	} {
		if got := tt.b.Outcome(tt.stderr, tt.lines); got != tt.want {
			t.Errorf("%v %q: %+v; want %+v", tt.b.Tool, tt.stderr, got, tt.want)
		}
	}
	want := "*filter\n-N X\n-I FORWARD -j X\nCOMMIT\n*nat\n-N Y\n-A POSTROUTING -j Y\nCOMMIT\n"
	if got := string(ipt.Input(mixed)); got != want {
		t.Errorf("input %q; want %q", got, want)
	}
}
