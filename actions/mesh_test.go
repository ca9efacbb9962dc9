package actions

import (
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// TestBridgeTool: bridge lines run as one `bridge -batch -`, wrapped into
// a namespace as ip's are, and are not firewall rules.
func TestBridgeTool(t *testing.T) {
	for _, tt := range []struct {
		in   Netns
		argv string
	}{
		{Netns{}, "bridge -batch -"},
		{Netns{PID: 4242}, "nsenter -t 4242 -n bridge -batch -"},
		{Netns{Name: "ctr"}, "ip netns exec ctr bridge -batch -"},
		{Netns{File: "/var/run/netns/cni-1"}, "nsenter --net=/var/run/netns/cni-1 bridge -batch -"},
	} {
		b := Batch{Tool: Bridge, In: tt.in}
		if got := Quote(b.Argv()); got != tt.argv {
			t.Errorf("%s: argv %s; want %s", tt.in.Label(), got, tt.argv)
		}
		if got := Quote(b.Inside()); got != "bridge -batch -" {
			t.Errorf("%s: inside %s; want bridge -batch -", tt.in.Label(), got)
		}
		if b.Atomic() {
			t.Errorf("%s: a bridge batch is atomic; it applies the lines before a failing one", tt.in.Label())
		}
	}
	for tool, argv := range map[Tool]string{IP: "ip -batch -", Iptables: "iptables-restore --noflush",
		Ip6tables: "ip6tables-restore --noflush", Nft: "nft -f -", Bridge: "bridge -batch -"} {
		b := Batch{Tool: tool}
		if got := Quote(b.Argv()); got != argv {
			t.Errorf("tool %d: argv %s; want %s", tool, got, argv)
		}
		if got := Quote(b.Inside()); got != argv {
			t.Errorf("tool %d: inside %s; want %s", tool, got, argv)
		}
		if fw := tool == Iptables || tool == Ip6tables || tool == Nft; tool.Firewall() != fw {
			t.Errorf("tool %d: Firewall() = %v, want %v", tool, !fw, fw)
		}
	}
	if argv := (Batch{}).Argv(); argv != nil {
		t.Errorf("the zero Batch runs %q", argv)
	}
	// Two bridge steps batch together; a bridge step and an ip step do not.
	fdb, _, _ := FdbAdd{MAC: "02:50:0a:f4:02:00", Dev: "m1", Dst: netip.MustParseAddr("192.168.77.2")}.Batch()
	rep, _, _ := FdbReplace{MAC: "02:50:0a:f4:03:00", Dev: "m1", Dst: netip.MustParseAddr("192.168.77.3")}.Batch()
	neigh, _, _ := NeighAdd{IP: netip.MustParseAddr("10.244.2.0"), MAC: "02:50:0a:f4:02:00", Dev: "m1"}.Batch()
	if fdb != rep || fdb == neigh {
		t.Errorf("batches: fdb add %+v, fdb replace %+v, neigh add %+v", fdb, rep, neigh)
	}
	// -force goes on past failing lines; each is named.
	stderr := "RTNETLINK answers: File exists\nCommand failed -:1\nRTNETLINK answers: File exists\nCommand failed -:3\n"
	if got := FailedLines(stderr); len(got) != 2 || got[1] != "RTNETLINK answers: File exists" || got[3] != got[1] {
		t.Errorf("FailedLines(%q) = %v", stderr, got)
	}
}

// answering is a Runner that prints out[command] and fails any other
// command as a missing device does.
type answering map[string]string

func (a answering) Run(_ context.Context, argv []string, _ []byte) ([]byte, error) {
	if out, ok := a[Quote(argv)]; ok {
		return []byte(out), nil
	}
	return nil, &ExecError{Argv: argv, Code: 1, Stderr: `Cannot find device "m1"`}
}

// TestMeshVerify: each of a mesh's steps is checked by reading the host,
// and what differs is named (`plumb check`, and recover asking a restore
// whether its effect is there).
func TestMeshVerify(t *testing.T) {
	vx := LinkAddVxlan{Name: "m1", MAC: "02:50:0a:f4:01:00", MTU: 1450, VNI: 42, Local: netip.MustParseAddr("192.168.77.1"), Dev: "eth0", Port: 8472}
	// iproute2 6.1's words, shortened.
	const link = "ip -d -j link show dev m1"
	good := `[{"ifname":"m1","mtu":1450,"address":"02:50:0A:F4:01:00","linkinfo":{"info_kind":"vxlan","info_data":` +
		`{"id":42,"local":"192.168.77.1","link":"eth0","port":8472,"learning":false,"ttl":0}}}]`
	peer, moved := netip.MustParseAddr("192.168.77.2"), netip.MustParseAddr("192.168.77.12")
	fdb := FdbAdd{MAC: "02:50:0a:f4:02:00", Dev: "m1", Dst: peer}
	rep := FdbReplace{MAC: "02:50:0a:f4:02:00", Dev: "m1", Dst: moved, From: peer}
	const fdbShow = "bridge -j fdb show dev m1"
	entries := `[{"mac":"02:50:0a:f4:03:00","dst":"192.168.77.3","flags":["self"],"state":"permanent"},` +
		`{"mac":"02:50:0a:f4:02:00","dst":"192.168.77.2","flags":["self"],"state":"permanent"}]`
	neigh := NeighAdd{IP: netip.MustParseAddr("10.244.2.0"), MAC: "02:50:0a:f4:02:00", Dev: "m1"}
	const neighShow = "ip -j neigh show 10.244.2.0 dev m1"
	route := RouteAddOnlink{Dst: netip.MustParsePrefix("10.244.2.0/24"), Via: netip.MustParseAddr("10.244.2.0"), Dev: "m1"}
	const routeShow = "ip -j route show 10.244.2.0/24 dev m1"
	for _, tt := range []struct {
		name string
		v    Verifier
		out  answering
		want string // "" when in place; else a part of the error
	}{
		{"vxlan", vx, answering{link: good}, ""},
		{"vxlan missing", vx, answering{}, "link m1 is missing"},
		{"vxlan not vxlan", vx, answering{link: `[{"ifname":"m1","mtu":1450,"linkinfo":{"info_kind":"bridge"}}]`}, "not a VXLAN device but bridge"},
		{"vxlan clamped", vx, answering{link: strings.Replace(good, `"mtu":1450`, `"mtu":1400`, 1)}, "MTU 1400, not 1450"},
		{"vxlan other", vx, answering{link: strings.NewReplacer(`"id":42`, `"id":7`, `"port":8472`, `"port":4789`,
			`"local":"192.168.77.1"`, `"local":"192.168.77.9"`, `"learning":false`, `"learning":true`,
			`01:00`, `01:99`, `"link":"eth0"`, `"link":"eth1"`).Replace(good)},
			"VXLAN device m1 has MAC 02:50:0A:F4:01:99, not 02:50:0a:f4:01:00; VNI 7, not 42; UDP port 4789, not 8472; " +
				"local address 192.168.77.9, not 192.168.77.1; underlay eth1, not eth0; learning on, where plumb made it nolearning"},
		{"vxlan no local", vx, answering{link: strings.Replace(good, `"local":"192.168.77.1",`, "", 1)}, "local address none, not 192.168.77.1"},
		{"vxlan garbage", vx, answering{link: "nope"}, "unreadable"},

		{"fdb", fdb, answering{fdbShow: entries}, ""},
		{"fdb upper case", fdb, answering{fdbShow: strings.ToUpper(entries)}, ""},
		{"fdb missing", fdb, answering{fdbShow: "[]"}, "m1 has no forwarding entry for 02:50:0a:f4:02:00 (to 192.168.77.2)"},
		{"fdb elsewhere", rep, answering{fdbShow: entries}, "m1's forwarding entry for 02:50:0a:f4:02:00 sends to 192.168.77.2, not 192.168.77.12"},
		{"fdb replaced", rep, answering{fdbShow: strings.Replace(entries, "192.168.77.2", "192.168.77.12", 1)}, ""},
		{"fdb replace undone", rep.Undo().(Verifier), answering{fdbShow: entries}, ""},
		{"fdb no device", fdb, answering{}, "link m1 is missing"},

		{"neigh", neigh, answering{neighShow: `[{"dst":"10.244.2.0","lladdr":"02:50:0a:f4:02:00","state":["PERMANENT"]}]`}, ""},
		{"neigh missing", neigh, answering{neighShow: "[]"}, "m1 has no neighbour entry for 10.244.2.0"},
		{"neigh other mac", neigh, answering{neighShow: `[{"dst":"10.244.2.0","lladdr":"02:50:0a:f4:09:00","state":["PERMANENT"]}]`},
			"m1's neighbour 10.244.2.0 is at 02:50:0a:f4:09:00, not 02:50:0a:f4:02:00"},
		{"neigh learnt", neigh, answering{neighShow: `[{"dst":"10.244.2.0","lladdr":"02:50:0a:f4:02:00","state":["REACHABLE"]}]`},
			"is REACHABLE, not PERMANENT"},

		{"route", route, answering{routeShow: `[{"dst":"10.244.2.0/24","gateway":"10.244.2.0","flags":["onlink"]}]`}, ""},
		{"route missing", route, answering{routeShow: "[]"}, "route to 10.244.2.0/24 via 10.244.2.0 on m1 is missing"},
		{"route elsewhere", route, answering{routeShow: `[{"dst":"10.244.2.0/24","gateway":"10.244.2.9","flags":["onlink"]}]`},
			"route to 10.244.2.0/24 on m1 goes via 10.244.2.9, not 10.244.2.0"},
		{"route not onlink", route, answering{routeShow: `[{"dst":"10.244.2.0/24","gateway":"10.244.2.0","flags":[]}]`}, "is not onlink"},
		{"route host", RouteAddOnlink{Dst: netip.MustParsePrefix("10.244.2.5/32"), Via: netip.MustParseAddr("10.244.2.0"), Dev: "m1"},
			answering{"ip -j route show 10.244.2.5/32 dev m1": `[{"dst":"10.244.2.5","gateway":"10.244.2.0","flags":["onlink"]}]`}, ""},
	} {
		err := tt.v.Verify(context.Background(), tt.out)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v; want it in place", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: %v; want an error with %q", tt.name, err, tt.want)
		}
	}
}

// TestMeshActionsLive runs each of a mesh's actions, its undo and its
// check for real, in a network namespace of its own that it throws away
// (TestMeshActionsHelper, run inside it).
func TestMeshActionsLive(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: it makes a network namespace")
	}
	own, err := Netns{}.Identity()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("unshare", "--net", "--mount", os.Args[0], "-test.v", "-test.run", "^TestMeshActionsHelper$")
	cmd.Env = append(os.Environ(), "PLUMB_TEST_NOT_NETNS="+own)
	out, err := cmd.CombinedOutput()
	if err == nil && strings.Contains(string(out), "--- SKIP: TestMeshActionsHelper") {
		t.Skipf("%s", out)
	}
	if err != nil || !strings.Contains(string(out), "--- PASS: TestMeshActionsHelper") {
		t.Fatalf("%v\n%s", err, out)
	}
}

// TestMeshActionsHelper runs inside TestMeshActionsLive's namespace. It
// makes and deletes links, routes and forwarding entries, so it refuses
// to run in the namespace of the test that started it
// ($PLUMB_TEST_NOT_NETNS) or in one that has any of its links already.
func TestMeshActionsHelper(t *testing.T) {
	not := os.Getenv("PLUMB_TEST_NOT_NETNS")
	if not == "" {
		t.Skip("run by TestMeshActionsLive, inside a namespace of its own")
	}
	if own, err := (Netns{}).Identity(); err != nil || own == not {
		t.Fatalf("not in a namespace of its own (%s, %v): refusing to touch it", own, err)
	}
	ctx := context.Background()
	r := Exec{ProbeByCommand: true}
	ls, err := links(ctx, r, Netns{})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		if slices.Contains([]string{"eth0", "eth0p", "m1", "m2", "m3"}, l.Name) {
			t.Fatalf("not a fresh network namespace (it has %s): refusing to touch it", l.Name)
		}
	}
	sh := func(cmds ...string) {
		t.Helper()
		for _, c := range cmds {
			if out, err := exec.Command("sh", "-c", c).CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", c, err, out)
			}
		}
	}
	sh("ip link add eth0 type veth peer name eth0p", "ip link set eth0p up", "ip link set eth0 up",
		"ip addr add 192.168.77.1/24 dev eth0")

	// do runs a, wants the error to be nil or to read as want says.
	do := func(a Action, want string) {
		t.Helper()
		err := run(r, a)
		stderr := StderrOf(err)
		switch want {
		case "":
			if err != nil {
				t.Fatalf("%s: %v", Quote(a.Argv()), err)
			}
		case "clash":
			if c, ok := a.(Clasher); err == nil || !ok || !c.Clash(stderr) {
				t.Fatalf("%s: %v; want a clash", Quote(a.Argv()), err)
			}
		case "gone":
			if g, ok := a.(Tolerant); err == nil || !ok || !g.Gone(stderr) {
				t.Fatalf("%s: %v; want it gone", Quote(a.Argv()), err)
			}
		}
	}
	verify := func(v Verifier, want string) {
		t.Helper()
		err := v.Verify(ctx, r)
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Fatalf("verify %T: %v; want %q", v, err, want)
		}
	}

	vx := LinkAddVxlan{Name: "m1", MAC: "02:50:0A:F4:01:00", MTU: 1450, VNI: 42, Local: netip.MustParseAddr("192.168.77.1"), Dev: "eth0", Port: 8472}
	if err := run(r, vx); strings.Contains(StderrOf(err), "Unknown device type") {
		t.Skip("this kernel has no VXLAN devices")
	} else if err != nil {
		t.Fatal(err)
	}
	verify(vx, "")
	do(vx, "clash")
	twin := vx
	twin.Name = "m2"
	do(twin, "clash") // same VNI and port
	verify(twin, "link m2 is missing")
	// The kernel clamps the MTU to the underlay's less 50, silently.
	fat := LinkAddVxlan{Name: "m3", MAC: "02:50:0a:f4:03:00", MTU: 9000, VNI: 43, Local: vx.Local, Dev: "eth0", Port: 8472}
	do(fat, "")
	verify(fat, "MTU 1450, not 9000")
	do(fat.Undo(), "")
	sh("ip addr add 10.244.1.0/32 dev m1", "ip link set m1 up")

	peer, moved := netip.MustParseAddr("192.168.77.2"), netip.MustParseAddr("192.168.77.12")
	fdb := FdbAdd{MAC: "02:50:0a:f4:02:00", Dev: "m1", Dst: peer}
	do(fdb, "")
	verify(fdb, "")
	do(fdb, "clash")
	do(fdb, "gone") // as a restore: there already
	rep := FdbReplace{MAC: fdb.MAC, Dev: "m1", Dst: moved, From: peer}
	do(rep, "")
	verify(rep, "")
	verify(fdb, "sends to 192.168.77.12, not 192.168.77.2")
	do(rep.Undo(), "")
	verify(fdb, "")
	do(rep.Undo(), "") // self-inverse: running it twice is harmless
	do(fdb.Undo(), "")
	verify(fdb, "no forwarding entry")
	do(fdb.Undo(), "gone")

	neigh := NeighAdd{IP: netip.MustParseAddr("10.244.2.0"), MAC: fdb.MAC, Dev: "m1"}
	do(neigh, "")
	verify(neigh, "")
	do(neigh, "clash")
	do(neigh, "gone")
	route := RouteAddOnlink{Dst: netip.MustParsePrefix("10.244.2.0/24"), Via: neigh.IP, Dev: "m1"}
	do(route, "")
	verify(route, "")
	do(route, "clash")
	do(route, "gone")
	do(route.Undo(), "")
	verify(route, "is missing")
	do(route.Undo(), "gone")
	do(neigh.Undo(), "")
	verify(neigh, "no neighbour entry")
	do(neigh.Undo(), "gone")

	// A sync's three processes, the bridge one failing at its second line.
	for _, a := range []Action{fdb, neigh, route} {
		do(a, "")
	}
	gone := FdbAdd{MAC: "02:50:0a:f4:04:00", Dev: "m1", Dst: netip.MustParseAddr("192.168.77.4")}
	var lines []string
	var b Batch
	for _, a := range []Batchable{FdbAdd{MAC: "02:50:0a:f4:03:00", Dev: "m1", Dst: netip.MustParseAddr("192.168.77.3")}, fdb, gone} {
		var line string
		b, line, _ = a.Batch()
		lines = append(lines, line)
	}
	_, err = r.Run(ctx, b.Argv(), b.Input(lines))
	if o := b.Outcome(StderrOf(err), lines); o != (Outcome{Failed: 1, Done: 1}) {
		t.Fatalf("%s: %v: outcome %+v; want line 2 failed, line 1 applied", Quote(b.Argv()), err, o)
	}
	t.Logf("bridge -batch - said: %q", StderrOf(err))
	verify(gone, "no forwarding entry") // not run: bridge stops at the failing line
	verify(FdbAdd{MAC: "02:50:0a:f4:03:00", Dev: "m1", Dst: netip.MustParseAddr("192.168.77.3")}, "")

	// Deleting the device takes every entry with it; the removals, and
	// a replace, then find nothing to do.
	do(vx.Undo(), "")
	verify(vx, "link m1 is missing")
	do(vx.Undo(), "gone")
	for _, a := range []Action{fdb.Undo(), rep, rep.Undo(), neigh.Undo(), route.Undo()} {
		do(a, "gone")
	}
	for _, v := range []Verifier{fdb, neigh, route} {
		verify(v, "link m1 is missing")
	}
}

// TestReadTunnelNetlink: a VXLAN device's entries read by netlink are
// those its commands read, in a namespace with a peer's route, neighbour
// and forwarding entry, a route that is no peer's, and entries of
// another device.
func TestReadTunnelNetlink(t *testing.T) {
	if !inThrowawayNetns(t) {
		return
	}
	for _, c := range []string{
		"ip link add e0 type veth peer name e1", "ip addr add 192.0.2.1/24 dev e0", "ip link set e0 up", "ip link set e1 up",
		"ip link add m1 type vxlan id 42 local 192.0.2.1 dev e0 dstport 8472 nolearning", "ip addr add 10.244.1.0/32 dev m1", "ip link set m1 up",
		"ip neigh add 10.244.2.0 lladdr 02:50:0a:f4:02:00 dev m1 nud permanent",
		"ip route add 10.244.2.0/24 via 10.244.2.0 dev m1 onlink",
		"bridge fdb add 02:50:0a:f4:02:00 dev m1 dst 192.0.2.2",
		"bridge fdb append 00:00:00:00:00:00 dev m1 dst 192.0.2.3",
		"ip route add 10.9.0.0/24 dev m1",
		"ip neigh add 192.0.2.9 lladdr 02:00:00:00:00:09 dev e0 nud permanent",
	} {
		if out, err := exec.Command("sh", "-c", c).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", c, err, out)
		}
	}
	ctx := context.Background()
	byNetlink, err := Exec{}.ReadTunnel(ctx, "m1")
	if err != nil {
		t.Fatal(err)
	}
	byCommand, err := ReadTunnel(ctx, Exec{ProbeByCommand: true}, "m1")
	if err != nil {
		t.Fatal(err)
	}
	eq := []cmp.Option{cmp.Comparer(func(a, b netip.Addr) bool { return a == b }), cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })}
	for _, e := range []*TunnelEntries{byCommand, byNetlink} {
		for _, d := range e.Fdb {
			slices.SortFunc(d, netip.Addr.Compare)
		}
	}
	if diff := cmp.Diff(byCommand, byNetlink, eq...); diff != "" {
		t.Errorf("netlink (+) and commands (-) differ:\n%s", diff)
	}
	if len(byNetlink.Routes) != 2 || byNetlink.Neigh[netip.MustParseAddr("10.244.2.0")] != "02:50:0a:f4:02:00" || len(byNetlink.Fdb) != 2 {
		t.Errorf("read: %+v", byNetlink)
	}
}

// TestTunnelGoneCut: a forced undo of a big batch whose lines find their
// work done says so on stderr, a line each, past the 64 KiB plumb keeps:
// the cut last line still reads as done, and a failure of another kind
// does not.
func TestTunnelGoneCut(t *testing.T) {
	line := "RTNETLINK answers: No such file or directory\nCommand failed -:1\n"
	big := strings.Repeat(line, 2000)
	cut := big[:maxStderr-7] // "…No such fi"
	if !(TunnelFdb{Force: true}).Gone(cut) {
		t.Errorf("a cut stderr of done lines is not gone:\n...%s", cut[len(cut)-80:])
	}
	if (TunnelFdb{Force: true}).Gone(cut[:len(cut)-200] + "RTNETLINK answers: Invalid argument\n" + line) {
		t.Error("an Invalid argument reads as done")
	}
	if (TunnelFdb{Force: true}).Gone("") {
		t.Error("no stderr reads as done")
	}
}

// TestLookupTunnel: entries asked for one by one (netlink gets, and the
// routes through the device by a filtered dump) answer as the whole
// device read does, in a namespace with what could fool a route lookup:
// a more specific route, another table's looked up first, a rule that
// makes the destination unreachable, a route through the device behind
// a better one through another, one with a TOS, the device's own
// address; before and after a default route. An answer a get cannot
// settle (the all-zeros MAC's destinations) says so.
func TestLookupTunnel(t *testing.T) {
	if !inThrowawayNetns(t) {
		return
	}
	sh := func(cs ...string) {
		for _, c := range cs {
			if out, err := exec.Command("sh", "-c", c).CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", c, err, out)
			}
		}
	}
	sh("ip link add e0 type veth peer name e1", "ip addr add 192.0.2.1/24 dev e0", "ip link set e0 up", "ip link set e1 up",
		"ip link add m1 type vxlan id 42 local 192.0.2.1 dev e0 dstport 8472 nolearning", "ip addr add 10.244.1.0/32 dev m1", "ip link set m1 up",
		// a peer
		"ip route add 10.244.2.0/24 via 10.244.2.0 dev m1 onlink", "ip neigh add 10.244.2.0 lladdr 02:50:0a:f4:02:00 dev m1 nud permanent",
		"bridge fdb add 02:50:0a:f4:02:00 dev m1 dst 192.0.2.2",
		// another peer's entry; the all-zeros MAC sent to two destinations
		// (only it and multicast ones take more than one)
		"bridge fdb add 02:50:0a:f4:03:00 dev m1 dst 192.0.2.3",
		"bridge fdb append 00:00:00:00:00:00 dev m1 dst 192.0.2.4", "bridge fdb append 00:00:00:00:00:00 dev m1 dst 192.0.2.5",
		// a route through m1 that is not onlink; one through another device
		"ip route add 10.9.0.0/24 dev m1", "ip route add 10.244.7.0/24 dev e0",
		// a more specific route than the one asked for
		"ip route add 10.244.5.0/24 via 10.244.5.0 dev m1 onlink", "ip route add 10.244.5.0/32 dev e0",
		// another table's route, looked up first
		"ip route add 10.244.6.0/24 via 10.244.6.0 dev m1 onlink", "ip route add 10.244.6.0/24 dev e0 table 100", "ip rule add to 10.244.6.0/24 table 100 pref 100",
		// a rule that makes the destination unreachable
		"ip route add 10.244.4.0/24 via 10.244.4.0 dev m1 onlink", "ip rule add to 10.244.4.0/24 unreachable pref 50",
		// through m1 behind a better route through e0; with a TOS
		"ip route add 10.244.30.0/24 via 10.244.30.0 dev m1 onlink metric 100", "ip route add 10.244.30.0/24 dev e0 metric 10",
		"ip route add 10.244.31.0/24 via 10.244.31.0 dev m1 onlink tos 0x10",
		// a neighbour that is not permanent
		"ip neigh add 10.244.8.0 lladdr 02:50:0a:f4:08:00 dev m1 nud reachable",
	)
	ctx := context.Background()
	p, a := netip.MustParsePrefix, netip.MustParseAddr
	settles := TunnelQuery{
		Routes: []netip.Prefix{p("10.244.2.0/24"), p("10.9.0.0/24"), p("10.244.7.0/24"), p("10.244.9.0/24"), p("10.244.5.0/24"),
			p("10.244.6.0/24"), p("10.244.4.0/24"), p("10.244.30.0/24"), p("10.244.31.0/24"), p("10.244.1.0/24")},
		Neigh: []netip.Addr{a("10.244.2.0"), a("10.244.8.0"), a("10.244.9.0")},
		Fdb:   []string{"02:50:0a:f4:02:00", "02:50:0a:f4:03:00", "02:50:0a:f4:09:00"},
	}
	for _, dflt := range []bool{false, true} {
		if dflt {
			sh("ip route add default via 192.0.2.254 dev e0")
		}
		all, err := Exec{}.ReadTunnel(ctx, "m1")
		if err != nil {
			t.Fatal(err)
		}
		got, settled, err := Exec{}.LookupTunnel(ctx, "m1", settles)
		if err != nil || !settled {
			t.Fatalf("default route %v: settled %v, %v", dflt, settled, err)
		}
		for _, r := range settles.Routes {
			wv, wok := all.Routes[r]
			if gv, gok := got.Routes[r]; gv != wv || gok != wok {
				t.Errorf("default route %v: route %s: got %v %v, the device holds %v %v", dflt, r, gv, gok, wv, wok)
			}
		}
		if len(got.Routes) != 7 { // not 10.244.7.0/24 (e0's), 10.244.9.0/24 (none), 10.244.1.0/24 (local)
			t.Errorf("default route %v: routes %v; want 7 of the 10 asked", dflt, got.Routes)
		}
		for _, n := range settles.Neigh {
			wv, wok := all.Neigh[n]
			if gv, gok := got.Neigh[n]; gv != wv || gok != wok {
				t.Errorf("default route %v: neighbour %s: got %q %v, the device holds %q %v", dflt, n, gv, gok, wv, wok)
			}
		}
		for _, mac := range settles.Fdb {
			if w, g := all.Fdb[mac], got.Fdb[mac]; !slices.Equal(w, g) {
				t.Errorf("default route %v: fdb %s: got %v, the device holds %v", dflt, mac, g, w)
			}
		}
		// A dump that ends in an error (here no such device: one
		// deleted meanwhile) settles nothing.
		if s, err := newNetlinkGetter(); err != nil {
			t.Fatal(err)
		} else {
			ok, err := s.routesVia(&TunnelEntries{Routes: map[netip.Prefix]netip.Addr{}}, []netip.Prefix{p("10.244.2.0/24")}, 99999)
			s.close()
			if ok || err != nil {
				t.Errorf("default route %v: a route dump of no device: settled %v, %v", dflt, ok, err)
			}
		}
		// The all-zeros MAC's destinations a get does not settle; then
		// LookupTunnel reads the whole device.
		q := TunnelQuery{Fdb: []string{"00:00:00:00:00:00"}}
		if _, settled, err := (Exec{}).LookupTunnel(ctx, "m1", q); err != nil || settled {
			t.Errorf("default route %v: %+v: settled %v, %v; want unsettled", dflt, q, settled, err)
		}
		if e, err := LookupTunnel(ctx, Exec{}, "m1", q, 1000); err != nil || len(e.Fdb["00:00:00:00:00:00"]) != 2 || len(e.Routes) < 7 {
			t.Errorf("default route %v: the whole device's read was not taken: %+v, %v", dflt, e, err)
		}
	}
}

// TestTunnelPeersJSON: the peers written at once are what encoding/json
// writes of them one by one (their MarshalText), empty and nil included.
func TestTunnelPeersJSON(t *testing.T) {
	ps := []TunnelPeer{
		{Subnet: netip.MustParsePrefix("10.244.2.0/24"), IP: netip.MustParseAddr("192.0.2.2")},
		{Subnet: netip.MustParsePrefix("10.244.3.0/24"), IP: netip.MustParseAddr("192.0.2.13"), From: netip.MustParseAddr("192.0.2.3")},
	}
	// An IPv6 zone, which only a journal written by hand could give
	// here, with what JSON escapes.
	zoned := []TunnelPeer{ps[0], {Subnet: netip.MustParsePrefix("fd00::/64"), IP: netip.MustParseAddr("fe80::1%e\"0\\x")}}
	for _, in := range [][]TunnelPeer{ps, ps[:1], {}, nil, zoned} {
		want, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		got, err := json.Marshal(TunnelPeers(in))
		if err != nil || string(got) != string(want) {
			t.Errorf("%v: %s, %v; want %s", in, got, err, want)
		}
		var back TunnelPeers
		if err := json.Unmarshal(got, &back); err != nil || len(back) != len(in) {
			t.Errorf("%s read back: %v, %v", got, back, err)
		}
	}
}

// inThrowawayNetns runs the calling test again in a network namespace of
// its own (it needs root) and reports whether this is that run: the
// caller returns when not, its outcome being the run's.
func inThrowawayNetns(t *testing.T) bool {
	t.Helper()
	if os.Getenv("PLUMB_TUNNEL_HELPER") != "" {
		return true
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: it makes a network namespace")
	}
	cmd := exec.Command("unshare", "--net", "--", os.Args[0], "-test.run", "^"+t.Name()+"$", "-test.v")
	cmd.Env = append(os.Environ(), "PLUMB_TUNNEL_HELPER=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS") {
		t.Fatalf("in a throwaway namespace: %v\n%s", err, out)
	}
	return false
}

// TestInterrupted: a dump with any message the kernel marked interrupted
// is read again (see ReadTunnel), one without is taken.
func TestInterrupted(t *testing.T) {
	msg := func(flags uint16) syscall.NetlinkMessage {
		return syscall.NetlinkMessage{Header: syscall.NlMsghdr{Type: unix.RTM_NEWROUTE, Flags: flags}}
	}
	for _, tc := range []struct {
		msgs []syscall.NetlinkMessage
		want bool
	}{
		{nil, false},
		{[]syscall.NetlinkMessage{msg(unix.NLM_F_MULTI), msg(unix.NLM_F_MULTI)}, false},
		{[]syscall.NetlinkMessage{msg(unix.NLM_F_MULTI), msg(unix.NLM_F_MULTI | unix.NLM_F_DUMP_INTR)}, true},
	} {
		if got := interrupted(tc.msgs); got != tc.want {
			t.Errorf("%+v: interrupted %v, want %v", tc.msgs, got, tc.want)
		}
	}
}
