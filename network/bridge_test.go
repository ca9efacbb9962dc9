package network

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"plumb/actions"
	"plumb/plan"
	"plumb/plan/plantest"
)

func TestParsePort(t *testing.T) {
	good := map[string]plan.Port{
		"8080:80":          {Host: 8080, Container: 80, Proto: "tcp"},
		"53:53/udp":        {Host: 53, Container: 53, Proto: "udp"},
		"1:65535/tcp":      {Host: 1, Container: 65535, Proto: "tcp"},
		"0.0.0.0:8080:80":  {Host: 8080, Container: 80, Proto: "tcp", HostIP: netip.IPv4Unspecified()},
		"[::]:8080:80/udp": {Host: 8080, Container: 80, Proto: "udp", HostIP: netip.IPv6Unspecified()},
	}
	for s, want := range good {
		got, err := plan.ParsePort(s)
		if err != nil || got != want {
			t.Errorf("ParsePort(%q) = %v, %v; want %v", s, got, err, want)
		}
		if again, err := plan.ParsePort(got.String()); err != nil || again != got {
			t.Errorf("ParsePort(%q.String()) = %v, %v", s, again, err)
		}
	}
	for _, s := range []string{"8080", "8080:", ":80", "0:80", "8080:70000", "8080:80/sctp", "a:b", "80:80/",
		"127.0.0.1:8080:80", "[::1]:8080:80", "[0.0.0.0]:8080:80", ":::8080:80", "[::]8080:80", "x:8080:80"} {
		if _, err := plan.ParsePort(s); err == nil {
			t.Errorf("ParsePort(%q) accepted", s)
		}
	}
}

func TestBridgeCheck(t *testing.T) {
	tests := []struct {
		name, flag, msg string
		b               Bridge
	}{
		{"lo", "<name>", "loopback", Bridge{Name: "lo", Subnet: netip.MustParsePrefix("10.88.0.0/24")}},
		{"host bits", "subnet", "host bits set", Bridge{Name: "br0", Subnet: netip.MustParsePrefix("10.88.0.1/24")}},
		{"gateway outside", "gateway", "outside the subnet", Bridge{Name: "br0", Subnet: netip.MustParsePrefix("10.88.0.0/24"), Gateway: netip.MustParseAddr("10.89.0.1")}},
		{"gateway broadcast", "gateway", "broadcast", Bridge{Name: "br0", Subnet: netip.MustParsePrefix("10.88.0.0/24"), Gateway: netip.MustParseAddr("10.88.0.255")}},
		{"mtu", "mtu", "68 to 65535", Bridge{Name: "br0", Subnet: netip.MustParsePrefix("10.88.0.0/24"), MTU: 20}},
	}
	for _, tt := range tests {
		var r *plan.Refused
		if err := tt.b.Check(); !errors.As(err, &r) || r.Flag != tt.flag || !strings.Contains(r.Msg, tt.msg) {
			t.Errorf("%s: Check() = %v; want --%s: ...%s...", tt.name, err, tt.flag, tt.msg)
		}
	}
	b := Bridge{Name: "br0", Subnet: netip.MustParsePrefix("10.88.0.0/24")}
	if err := b.Check(); err != nil || b.gateway() != netip.MustParseAddr("10.88.0.1") {
		t.Errorf("default gateway = %v (%v); want the first host", b.gateway(), err)
	}
}

func TestBridgePlanNoNAT(t *testing.T) {
	b := Bridge{Name: "br0", Subnet: netip.MustParsePrefix("10.88.0.0/24"), NoNAT: true, MTU: 1400}
	if err := b.Check(); err != nil {
		t.Fatal(err)
	}
	want := []string{"ip link add br0 address 02:50:0a:58:00:01 type bridge", "ip link set br0 mtu 1400", "sysctl -e -w net.ipv6.conf.br0.accept_ra=0", "ip addr add 10.88.0.1/24 dev br0", "ip link set br0 up"}
	if diff := cmp.Diff(want, lines(plantest.Must(b.plan(plan.Layout{})))); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
}

// bridgeUp applies a bridge with the fake runner and returns its record.
func bridgeUp(t *testing.T, st *plan.Store, subnet string) BridgeNetwork {
	t.Helper()
	b := Bridge{Name: "br0", Subnet: netip.MustParsePrefix(subnet)}
	if err := b.Check(); err != nil {
		t.Fatal(err)
	}
	rec, err := plan.Apply(context.Background(), &plantest.FakeRunner{}, st, plantest.Must(b.plan(plan.Layout{})), plan.Each)
	if err != nil {
		t.Fatal(err)
	}
	return plantest.Must(NetworkOf(rec))
}

func TestAllocate(t *testing.T) {
	st := plan.NewStore(t.TempDir())
	br := bridgeUp(t, st, "10.88.0.0/29") // hosts .1 (gateway) to .6
	var got []string
	for i := 0; i < 5; i++ {
		a := &Attach{Network: br, Target: plantest.SelfTarget(), If: "eth0"}
		if err := a.Allocate(st); err != nil {
			t.Fatalf("attach %d: %v", i, err)
		}
		// Record it as applied so the next allocation sees it.
		rec := withFacts(&plan.Record{FormatVersion: plan.FormatVersion, Kind: "attachment", Name: AddressID("br0", a.IP).Object, State: plan.StateUp}, plantest.Must(a.Plan()).Facts)
		if err := st.Save(rec); err != nil {
			t.Fatal(err)
		}
		got = append(got, a.IP.String())
	}
	if diff := cmp.Diff([]string{"10.88.0.2", "10.88.0.3", "10.88.0.4", "10.88.0.5", "10.88.0.6"}, got); diff != "" {
		t.Errorf("allocated (-want +got):\n%s", diff)
	}
	a := &Attach{Network: br, Target: plantest.SelfTarget(), If: "eth0"}
	var r *plan.Refused
	if err := a.Allocate(st); !errors.As(err, &r) || !strings.Contains(r.Msg, "is full") {
		t.Errorf("full subnet: %v", err)
	}
	// A released address is given out again.
	rec, _ := st.Load("attachment", "br0-10.88.0.4")
	st.Remove(rec)
	if err := a.Allocate(st); err != nil || a.IP.String() != "10.88.0.4" {
		t.Errorf("after release: %v %v", a.IP, err)
	}
	for ip, msg := range map[string]string{"10.88.0.1": "taken by the gateway", "10.88.0.3": "taken by attachment/br0-10.88.0.3",
		"10.88.0.7": "broadcast", "10.88.0.0": "network address", "10.88.1.2": "outside the subnet"} {
		a := &Attach{Network: br, Target: plantest.SelfTarget(), IP: netip.MustParseAddr(ip)}
		if err := a.Allocate(st); !errors.As(err, &r) || r.Flag != "ip" || !strings.Contains(r.Msg, msg) {
			t.Errorf("--ip %s: %v; want ...%s...", ip, err, msg)
		}
	}
}

func TestAttachPlan(t *testing.T) {
	st := plan.NewStore(t.TempDir())
	br := bridgeUp(t, st, "10.88.0.0/24")
	a := &Attach{Network: br, Target: actions.Netns{PID: 4242}, IP: netip.MustParseAddr("10.88.0.7"), If: "eth0",
		Publish: []plan.Port{{Host: 8080, Container: 80, Proto: "tcp"}}}
	if err := a.checkRecords(st, a.Network); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"ip link add veth0a580007 type veth peer name plmb0a580007 netns 4242",
		"ip link set veth0a580007 master br0",
		"ip link set veth0a580007 up",
		"nsenter -t 4242 -n ip link set plmb0a580007 name eth0",
		"nsenter -t 4242 -n ip addr add 10.88.0.7/24 dev eth0",
		"nsenter -t 4242 -n ip link set eth0 up",
		"nsenter -t 4242 -n ip link set lo up",
		"nsenter -t 4242 -n ip route add default via 10.88.0.1",
		// The bridge carries the host's loopback to the published port.
		"sysctl -w net.ipv4.conf.br0.route_localnet=1",
		"iptables -t nat -A PLUMB-br0-DNAT -p tcp -m tcp --dport 8080 -m comment --comment plumb:br0 -j DNAT --to-destination 10.88.0.7:80",
		"iptables -A PLUMB-br0 -d 10.88.0.7/32 ! -i br0 -o br0 -p tcp -m tcp --dport 80 -m comment --comment plumb:br0 -j ACCEPT",
	}
	p := plantest.Must(a.Plan())
	if diff := cmp.Diff(want, lines(p)); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	if len(AddressID("br0", netip.MustParseAddr("255.255.255.255")).HostVeth) > 15 {
		t.Error("host veth name over 15 bytes")
	}
	// A bridge made before the loopback guard: its attachments leave
	// route_localnet alone.
	br.LoopbackGuard = false
	a.Network = br
	if diff := cmp.Diff(append(want[:8:8], want[9:]...), lines(plantest.Must(a.Plan()))); diff != "" {
		t.Errorf("plan on a bridge without the loopback guard (-want +got):\n%s", diff)
	}
	// A bridge made without NAT has no chains for published ports.
	br.NAT = false
	a.Network = br
	var r *plan.Refused
	if err := a.checkRecords(st, a.Network); !errors.As(err, &r) || r.Flag != "publish" {
		t.Errorf("publish on a --no-nat bridge: %v", err)
	}
}

// TestAttachRollbackKeepsBridge: a failing attach undoes its own steps
// only, and releases its address.
func TestAttachRollbackKeepsBridge(t *testing.T) {
	st := plan.NewStore(t.TempDir())
	br := bridgeUp(t, st, "10.88.0.0/24")
	a := &Attach{Network: br, Target: plantest.SelfTarget(), If: "eth0", Publish: []plan.Port{{Host: 8080, Container: 80, Proto: "tcp"}}}
	if err := a.Allocate(st); err != nil {
		t.Fatal(err)
	}
	p := plantest.Must(a.Plan())
	last := lines(p)[len(p.Steps)-1]
	f := &plantest.FakeRunner{FailOn: last}
	if _, err := plan.Apply(context.Background(), f, st, p, plan.Each); err == nil {
		t.Fatal("attach did not fail")
	}
	undos := f.Calls[slices.Index(f.Calls, last)+1:]
	want := []string{
		"iptables -D PLUMB-br0 -d 10.88.0.2/32 ! -i br0 -o br0 -p tcp -m tcp --dport 80 -m comment --comment plumb:br0 -j ACCEPT",
		"iptables -t nat -D PLUMB-br0-DNAT -p tcp -m tcp --dport 8080 -m comment --comment plumb:br0 -j DNAT --to-destination 10.88.0.2:80",
		// The value found before (the fake's 0), as the last holder.
		"sysctl -w net.ipv4.conf.br0.route_localnet=0",
		"ip link del veth0a580002",
	}
	if diff := cmp.Diff(want, undos); diff != "" {
		t.Errorf("undos (-want +got):\n%s", diff)
	}
	if got := plan.Attachments(st, "br0"); len(got) != 0 {
		t.Errorf("attachment kept after rollback: %v", got[0].ID())
	}
	if _, err := st.Load("bridge", "br0"); err != nil {
		t.Errorf("bridge record gone: %v", err)
	}
}

// TestAddressIDIPv6: the links of IPv6-only networks' containers with the
// same last bytes are named apart; an IPv4 address's names are as before.
func TestAddressIDIPv6(t *testing.T) {
	a, b := AddressID("br6", netip.MustParseAddr("fd00:66::2")), AddressID("br7", netip.MustParseAddr("fd00:67::2"))
	if a.HostVeth == b.HostVeth || len(a.HostVeth) != 12 || len(a.PeerTemp) != 12 {
		t.Errorf("IPv6 names: %s %s", a.HostVeth, b.HostVeth)
	}
	if v4 := AddressID("br0", netip.MustParseAddr("10.88.0.2")); v4.HostVeth != "veth0a580002" || v4.PeerTemp != "plmb0a580002" {
		t.Errorf("IPv4 names: %+v", v4)
	}
}

// TestAttachCheckPorts: a host port twice in one family is refused; in
// each family apart (0.0.0.0 and [::]) it may lead to two container ports.
func TestAttachCheckPorts(t *testing.T) {
	for _, tt := range []struct {
		ports []string
		err   string
	}{
		{[]string{"8080:80", "8081:80"}, ""},
		{[]string{"8080:80", "8080:80/udp"}, ""},
		{[]string{"0.0.0.0:8080:80", "[::]:8080:81"}, ""},
		{[]string{"8080:80", "8080:81"}, "host port 8080/tcp is published twice (8080:80/tcp and 8080:81/tcp)"},
		{[]string{"8080:80", "8080:80"}, "host port 8080/tcp is published twice"},
		{[]string{"[::]:8080:80", "8080:81"}, "host port 8080/tcp is published twice ([::]:8080:80/tcp and 8080:81/tcp)"},
		{[]string{"0.0.0.0:8080:80", "0.0.0.0:8080:80"}, "published twice"},
	} {
		a := Attach{Target: actions.Netns{Name: "c1"}}
		for _, s := range tt.ports {
			p, err := plan.ParsePort(s)
			if err != nil {
				t.Fatal(err)
			}
			a.Publish = append(a.Publish, p)
		}
		err := a.Check()
		var r *plan.Refused
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%v: %v", tt.ports, err)
		case tt.err != "" && (!errors.As(err, &r) || r.Flag != "publish" || !strings.Contains(r.Msg, tt.err)):
			t.Errorf("%v: %v; want --publish: %s", tt.ports, err, tt.err)
		}
	}
}

// TestRouteLocalnetShared: the bridge's route_localnet is set by the first
// attachment that publishes (reading the value to restore), kept while
// another one publishes, and restored with the last of them; an
// attachment that publishes nothing leaves it alone.
func TestRouteLocalnetShared(t *testing.T) {
	ctx := context.Background()
	st := plan.NewStore(t.TempDir())
	br := bridgeUp(t, st, "10.88.0.0/24")
	f := &plantest.FakeRunner{}
	var recs []*plan.Record
	for i, ports := range [][]plan.Port{{{Host: 8080, Container: 80, Proto: "tcp"}}, nil, {{Host: 8081, Container: 80, Proto: "tcp"}}} {
		a := &Attach{Network: br, Target: plantest.SelfTarget(), IP: netip.AddrFrom4([4]byte{10, 88, 0, byte(2 + i)}), If: "eth0", Publish: ports}
		rec, err := plan.Apply(ctx, f, st, plantest.Must(a.Plan()), plan.Each)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	const set, read, restore = "sysctl -w net.ipv4.conf.br0.route_localnet=1", "sysctl -n net.ipv4.conf.br0.route_localnet", "sysctl -w net.ipv4.conf.br0.route_localnet=0"
	count := func(line string) (n int) {
		for _, c := range f.Calls {
			if c == line {
				n++
			}
		}
		return n
	}
	if count(set) != 2 || count(read) != 1 {
		t.Errorf("two publishers: %d sets, %d reads of the old value; want 2, 1:\n%s", count(set), count(read), strings.Join(f.Calls, "\n"))
	}
	for i, want := range []int{0, 0, 1} { // the first publisher, the one that publishes nothing, the last publisher
		if _, err := plan.Unwind(ctx, f, st, recs[i]); err != nil {
			t.Fatal(err)
		}
		if got := count(restore); got != want {
			t.Errorf("after down of %s: route_localnet restored %d times; want %d", recs[i].ID(), got, want)
		}
	}
}

// TestRouteLocalnetKey: a bridge whose name holds a dot gets the slashed
// form of the key, which sysctl does not split at that dot.
func TestRouteLocalnetKey(t *testing.T) {
	for br, want := range map[actions.IfName]string{
		"br0":  "sysctl -w net.ipv4.conf.br0.route_localnet=1",
		"br.0": "sysctl -w net/ipv4/conf/br.0/route_localnet=1",
	} {
		s := routeLocalnet(br)
		if got := actions.Quote(s.Action.Argv()); got != want || s.Shared != "sysctl "+strings.Fields(want)[2][:len(strings.Fields(want)[2])-2] {
			t.Errorf("routeLocalnet(%s) = %s (shared %q); want %s", br, got, s.Shared, want)
		}
		if why := s.Action.Why(); !strings.Contains(why, "let "+br.String()+" carry the host's loopback traffic") {
			t.Errorf("routeLocalnet(%s) says %q", br, why)
		}
	}
}

// TestBridgeAgainOlderRecord: a bridge recorded by a plumb before the
// loopback guard (no loopback_guard fact) is the same input as asked
// today, so `bridge up` again and a CNI ADD onto it see it up, not
// "already up with other settings"; other input is still refused.
func TestBridgeAgainOlderRecord(t *testing.T) {
	b := Bridge{Name: "br0", Subnet: netip.MustParsePrefix("10.88.0.0/24")}
	if err := b.Check(); err != nil {
		t.Fatal(err)
	}
	p := plantest.Must(b.plan(plan.Layout{}))
	rec, err := plan.Apply(context.Background(), &plantest.FakeRunner{}, plan.NewStore(t.TempDir()), p, plan.Each)
	if err != nil {
		t.Fatal(err)
	}
	f, err := rec.BridgeFacts()
	if err != nil || !f.LoopbackGuard {
		t.Fatalf("a NAT bridge's record has no loopback_guard: %+v, %v", f, err)
	}
	f.LoopbackGuard = false
	withFacts(rec, f)
	if state, err := b.Again(rec, p); err != nil || state != "up" {
		t.Errorf("Again of an older record: %q, %v; want up", state, err)
	}
	other := Bridge{Name: "br0", Subnet: netip.MustParsePrefix("10.89.0.0/24")}
	if err := other.Check(); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Again(rec, plantest.Must(other.plan(plan.Layout{}))); err == nil {
		t.Error("Again with another subnet: no refusal")
	}
}
