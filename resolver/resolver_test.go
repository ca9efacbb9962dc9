package resolver

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/miekg/dns"

	"plumb/actions"
	"plumb/network"
	"plumb/plan"
	"plumb/plan/plantest"
)

// attach records an attachment to net of a named namespace, as attach
// writes it: its names go to the network's names index.
func attach(t *testing.T, st *plan.Store, net network.BridgeNetwork, _, ip, name string, aliases ...string) {
	t.Helper()
	a := &network.Attach{Network: net, Target: plantest.SelfTarget(), If: "eth0", IP: netip.MustParseAddr(ip), Name: name, Aliases: aliases}
	if _, err := plan.Apply(context.Background(), &plantest.FakeRunner{}, st, plantest.Must(a.Plan()), plan.Each); err != nil {
		t.Fatal(err)
	}
}

func bridge(name, subnet string) network.BridgeNetwork {
	p := netip.MustParsePrefix(subnet)
	return network.BridgeNetwork{Name: actions.IfName(name), BridgeFacts: plan.BridgeFacts{Subnet: p, Gateway: p.Addr().Next(), NAT: true}}
}

func query(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	return m
}

func answers(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		switch r := rr.(type) {
		case *dns.A:
			out = append(out, r.A.String())
		case *dns.AAAA:
			out = append(out, r.AAAA.String())
		}
	}
	return out
}

// TestResolve: a network's names and aliases resolve to their addresses
// on it, in any case, with a trailing dot or not; another network's do
// not (nil: asked upstream); a name with no address of the type asked is
// NOERROR with no answer; a name attached after the server started
// resolves without telling it.
func TestResolve(t *testing.T) {
	st := plan.NewStore(t.TempDir())
	front, back := bridge("front", "10.89.0.0/24"), bridge("back", "10.90.0.0/24")
	attach(t, st, front, "plumb-web-1", "10.89.0.3", "shop-web-1", "web", "www")
	attach(t, st, back, "plumb-db-1", "10.90.0.2", "shop-db-1", "db")
	s := &Server{Layout: st.Layout, Network: "front", Subnets: []netip.Prefix{netip.MustParsePrefix("10.89.0.0/24")}}
	for _, c := range []struct {
		name  string
		qtype uint16
		want  []string // nil: not the network's
	}{
		{"web", dns.TypeA, []string{"10.89.0.3"}},
		{"WWW.", dns.TypeA, []string{"10.89.0.3"}},
		{"shop-web-1", dns.TypeA, []string{"10.89.0.3"}},
		{"web", dns.TypeAAAA, []string{}},
		{"db", dns.TypeA, nil},
		{"shop-db-1", dns.TypeA, nil},
		{"example.org", dns.TypeA, nil},
	} {
		m := s.Resolve(query(c.name, c.qtype))
		switch {
		case c.want == nil && m != nil:
			t.Errorf("%s: answered %v, want it asked upstream", c.name, answers(m))
		case c.want != nil && m == nil:
			t.Errorf("%s: not answered, want %v", c.name, c.want)
		case c.want != nil && (m.Rcode != dns.RcodeSuccess || len(answers(m)) != len(c.want) || len(c.want) > 0 && answers(m)[0] != c.want[0]):
			t.Errorf("%s: rcode %d, answers %v, want %v", c.name, m.Rcode, answers(m), c.want)
		}
	}
	attach(t, st, front, "plumb-api-1", "10.89.0.4", "shop-api-1", "api")
	if m := s.Resolve(query("api", dns.TypeA)); m == nil || len(answers(m)) != 1 || answers(m)[0] != "10.89.0.4" {
		t.Errorf("a name attached since: %v", m)
	}
	// A name given in capitals is answered in any case, as DNS compares.
	attach(t, st, front, "plumb-Up-1", "10.89.0.5", "shop-Up-1", "UPPER")
	for _, n := range []string{"upper", "UPPER.", "Shop-up-1"} {
		if m := s.Resolve(query(n, dns.TypeA)); m == nil || len(answers(m)) != 1 || answers(m)[0] != "10.89.0.5" {
			t.Errorf("%s: %v", n, m)
		}
	}
}

// TestMember: a query from outside the network's subnets is refused, from
// its record when no subnets are given.
func TestMember(t *testing.T) {
	st := plan.NewStore(t.TempDir())
	s := &Server{Layout: st.Layout, Network: "front"}
	if s.member(netip.MustParseAddr("10.89.0.7")) {
		t.Error("a network plumb does not keep has members")
	}
	s.Subnets = []netip.Prefix{netip.MustParsePrefix("10.89.0.0/24"), netip.MustParsePrefix("fd00:89::/64")}
	for ip, want := range map[string]bool{"10.89.0.7": true, "fd00:89::7": true, "10.90.0.7": false, "192.0.2.9": false} {
		if got := s.member(netip.MustParseAddr(ip)); got != want {
			t.Errorf("%s: member %v, want %v", ip, got, want)
		}
	}
}

// TestServe: over UDP and TCP, the network's names are answered, and
// other names are asked of the upstream nameserver, whose answer comes
// back; with no upstream they are refused.
func TestServe(t *testing.T) {
	st := plan.NewStore(t.TempDir())
	attach(t, st, bridge("front", "10.89.0.0/24"), "plumb-web-1", "10.89.0.3", "shop-web-1", "web")
	// The upstream: a nameserver that knows example.org, over UDP and TCP.
	upAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(int(freePort(t))))
	h := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		rr, _ := dns.NewRR(q.Question[0].Name + " 60 IN A 192.0.2.80")
		m.Answer = append(m.Answer, rr)
		w.WriteMsg(m)
	})
	for _, proto := range []string{"udp", "tcp"} {
		started := make(chan struct{})
		srv := &dns.Server{Addr: upAddr, Net: proto, Handler: h, NotifyStartedFunc: func() { close(started) }}
		go srv.ListenAndServe()
		<-started
		defer srv.Shutdown()
	}
	// Forty replicas: an answer over UDP larger than 512 bytes is cut, with
	// TC set (the client asks again over TCP, which gets them all).
	for i := 10; i < 50; i++ {
		attach(t, st, bridge("front", "10.89.0.0/24"), "plumb-w", "10.89.0."+strconv.Itoa(i), "shop-w-"+strconv.Itoa(i), "w")
	}
	for _, c := range []struct {
		upstream []string
		name     string
		rcode    int
		want     string
	}{
		{nil, "w", dns.RcodeSuccess, "10.89.0.10"},
		{[]string{upAddr}, "web", dns.RcodeSuccess, "10.89.0.3"},
		{[]string{upAddr}, "example.org", dns.RcodeSuccess, "192.0.2.80"},
		{nil, "example.org", dns.RcodeRefused, ""},
	} {
		port := freePort(t)
		s := &Server{Layout: st.Layout, Network: "front", Listen: netip.MustParseAddr("127.0.0.1"), Port: port, Upstream: c.upstream, Subnets: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
		ctx, cancel := context.WithCancel(context.Background())
		ready := make(chan struct{})
		done := make(chan error, 1)
		go func() { done <- s.Serve(ctx, func() { close(ready) }) }()
		select {
		case <-ready:
		case err := <-done:
			t.Fatal(err)
		}
		for _, proto := range []string{"udp", "tcp"} {
			cl := &dns.Client{Net: proto, Timeout: 2 * time.Second}
			m, _, err := cl.Exchange(query(c.name, dns.TypeA), net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))))
			if err != nil {
				t.Fatalf("%s %s: %v", proto, c.name, err)
			}
			got := ""
			if a := answers(m); len(a) > 0 {
				got = a[0]
			}
			if m.Rcode != c.rcode || got != c.want {
				t.Errorf("%s %s (upstream %v): rcode %d, answer %q; want %d, %q", proto, c.name, c.upstream, m.Rcode, got, c.rcode, c.want)
			}
			if c.name == "w" {
				n := len(answers(m))
				if proto == "udp" && (!m.Truncated || n >= 40) || proto == "tcp" && (m.Truncated || n != 40) {
					t.Errorf("%s: %d answers, truncated %v, %d bytes", proto, n, m.Truncated, m.Len())
				}
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}
}

// freePort is a port free on 127.0.0.1 for both UDP and TCP, as far as
// can be told.
func freePort(t *testing.T) uint16 {
	t.Helper()
	for i := 0; i < 20; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if pc, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
			pc.Close()
			return uint16(port)
		}
	}
	t.Fatal("no free port")
	return 0
}

// TestResolveFor: a container on two networks asks its first network's
// resolver, and finds the names of both; an address no container has on
// the network finds only the network's own.
func TestResolveFor(t *testing.T) {
	st := plan.NewStore(t.TempDir())
	front, back := bridge("front", "10.89.0.0/24"), bridge("back", "10.90.0.0/24")
	attach(t, st, front, "plumb-web-1", "10.89.0.3", "shop-web-1", "web")
	attach(t, st, back, "plumb-web-1", "10.90.0.3", "shop-web-1", "web")
	attach(t, st, back, "plumb-db-1", "10.90.0.2", "shop-db-1", "db")
	s := &Server{Layout: st.Layout, Network: "front"}
	if m := s.ResolveFor(query("db", dns.TypeA), netip.MustParseAddr("10.89.0.3")); m == nil || len(answers(m)) != 1 || answers(m)[0] != "10.90.0.2" {
		t.Errorf("web, on both, asks front for db: %v", m)
	}
	if m := s.ResolveFor(query("db", dns.TypeA), netip.MustParseAddr("10.89.0.99")); m != nil {
		t.Errorf("an address of no container asks front for db: %v", answers(m))
	}
}
