// Package resolver is a network's DNS resolver, as Docker's embedded DNS
// and Podman's aardvark-dns are: it answers the names of the containers on
// one network — their names, Compose's service names and aliases — with
// their addresses on that network, and asks the host's nameservers
// everything else. The names come from the state directory's names index
// (plan.Store.Names), read on every query: attach and detach write the
// index and the resolver needs no signal, no restart and no file of its
// own. Names of other networks are not answered, so a container resolves
// only the services it shares a network with.
package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"plumb/plan"
)

// TTL is the time to live of its answers: short, since a replaced
// container comes back with another address.
const TTL = 5

// Server answers for one network.
type Server struct {
	// Layout is the state directory whose names index it reads: a store
	// of its own for each query, since a Store caches what it read.
	Layout  plan.Layout
	Network string
	Listen  netip.Addr
	Port    uint16 // 0: 53
	// Subnets are the network's, whose addresses it answers; nil: read
	// from the bridge's record on each query.
	Subnets []netip.Prefix
	// Upstream are the host's nameservers (host:53), asked in turn for
	// the names the network does not have; none: such names are refused.
	Upstream []string
	client   *dns.Client
}

// Upstreams are the nameservers of a resolv.conf file, as host:port.
func Upstreams(path string) []string {
	cfg, err := dns.ClientConfigFromFile(path)
	if err != nil {
		return nil
	}
	var out []string
	for _, s := range cfg.Servers {
		out = append(out, net.JoinHostPort(s, cfg.Port))
	}
	return out
}

// Serve listens on Listen:53 over UDP and TCP, calls ready once both
// listen, and answers until ctx ends.
func (s *Server) Serve(ctx context.Context, ready func()) error {
	s.client = &dns.Client{Timeout: time.Second}
	port := s.Port
	if port == 0 {
		port = 53
	}
	addr := net.JoinHostPort(s.Listen.String(), strconv.Itoa(int(port)))
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return fmt.Errorf("listening on %s/udp: %w", addr, err)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		pc.Close()
		return fmt.Errorf("listening on %s/tcp: %w", addr, err)
	}
	h := dns.HandlerFunc(s.answer)
	servers := []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: l, Handler: h}}
	errs := make(chan error, len(servers))
	for _, srv := range servers {
		go func() { errs <- srv.ActivateAndServe() }()
	}
	if ready != nil {
		ready()
	}
	select {
	case <-ctx.Done():
	case err = <-errs:
	}
	for _, srv := range servers {
		srv.Shutdown()
	}
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// answer answers one query: from the network's names, else upstream;
// a query from outside the network is refused (the resolver listens on
// the host's address on the bridge, which other hosts may reach). An
// answer over UDP is cut to what the client takes (512 bytes, or its
// EDNS0 size), with the TC bit that sends it to TCP.
func (s *Server) answer(w dns.ResponseWriter, q *dns.Msg) {
	from := addrOf(w.RemoteAddr())
	var m *dns.Msg
	if !s.member(from) {
		m = new(dns.Msg)
		m.SetRcode(q, dns.RcodeRefused)
	} else if m = s.ResolveFor(q, from); m == nil {
		m = s.forward(w, q)
	}
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		size := dns.MinMsgSize
		if opt := q.IsEdns0(); opt != nil && int(opt.UDPSize()) > size {
			size = int(opt.UDPSize())
		}
		m.Truncate(size)
	}
	w.WriteMsg(m)
}

func addrOf(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case *net.UDPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	}
	return netip.Addr{}
}

// member says whether from is on the network: inside its subnets, as
// the bridge's record gives them (Subnets, when set, stand in for it).
func (s *Server) member(from netip.Addr) bool {
	subnets := s.Subnets
	if subnets == nil {
		rec, err := plan.NewStoreAt(s.Layout.Dir, s.Layout.Root).LoadHeader(plan.BridgeKind.Name(), s.Network)
		if err != nil {
			return false
		}
		f, err := rec.BridgeFacts()
		if err != nil {
			return false
		}
		subnets = []netip.Prefix{f.Subnet}
		if f.Subnet6.IsValid() {
			subnets = append(subnets, f.Subnet6)
		}
	}
	for _, p := range subnets {
		if p.Contains(from) {
			return true
		}
	}
	return false
}

// ResolveFor is the answer to q asked by from: from the network's names,
// else from those of the other networks the asking container is on (a
// container on two networks asks the first one's resolver, and finds the
// services of both, as Docker's embedded DNS answers); nil: ask upstream.
func (s *Server) ResolveFor(q *dns.Msg, from netip.Addr) *dns.Msg {
	if m := s.Resolve(q); m != nil || !from.IsValid() {
		return m
	}
	st := plan.NewStoreAt(s.Layout.Dir, s.Layout.Root)
	for _, n := range s.networksOf(st, from) {
		other := *s
		other.Network = n
		if m := other.Resolve(q); m != nil {
			return m
		}
	}
	return nil
}

// networksOf are the other networks of the container that has address
// from on this one: the bridges its other attachments (or its own, for
// an attachment) are on.
func (s *Server) networksOf(st *plan.Store, from netip.Addr) []string {
	recs, _ := st.Headers()
	var target string
	for _, r := range recs {
		if f, ok := r.Attachment(); ok && f.Bridge == s.Network && (f.IP == from || f.IP6 == from) {
			target = f.Target
			break
		}
	}
	if target == "" {
		return nil
	}
	var out []string
	for _, r := range recs {
		if f, ok := r.Attachment(); ok && f.Target == target && f.Bridge != s.Network {
			out = append(out, f.Bridge)
		}
	}
	return out
}

// Resolve is the answer to q from the network's names; nil when the
// network has no such name (ask upstream).
func (s *Server) Resolve(q *dns.Msg) *dns.Msg {
	if len(q.Question) != 1 {
		m := new(dns.Msg)
		return m.SetRcode(q, dns.RcodeFormatError)
	}
	qq := q.Question[0]
	name := strings.ToLower(strings.TrimSuffix(qq.Name, "."))
	if qq.Qclass != dns.ClassINET || name == "" {
		return nil
	}
	// Names are answered whatever their case, as DNS compares them; the
	// index keeps them as given.
	var addrs []netip.Addr
	for n, as := range plan.NewStoreAt(s.Layout.Dir, s.Layout.Root).Names(s.Network) {
		if strings.EqualFold(n, name) {
			addrs = append(addrs, as...)
		}
	}
	if len(addrs) == 0 {
		return nil
	}
	m := new(dns.Msg)
	m.SetReply(q)
	m.Authoritative = true
	m.RecursionAvailable = true
	hdr := dns.RR_Header{Name: qq.Name, Class: dns.ClassINET, Ttl: TTL}
	for _, a := range addrs {
		switch {
		case a.Is4() && (qq.Qtype == dns.TypeA || qq.Qtype == dns.TypeANY):
			h := hdr
			h.Rrtype = dns.TypeA
			m.Answer = append(m.Answer, &dns.A{Hdr: h, A: a.AsSlice()})
		case a.Is6() && (qq.Qtype == dns.TypeAAAA || qq.Qtype == dns.TypeANY):
			h := hdr
			h.Rrtype = dns.TypeAAAA
			m.Answer = append(m.Answer, &dns.AAAA{Hdr: h, AAAA: a.AsSlice()})
		}
	}
	return m // no record of the type asked: NOERROR, no answer
}

// forward asks the host's nameservers in turn; SERVFAIL when none answers.
func (s *Server) forward(w dns.ResponseWriter, q *dns.Msg) *dns.Msg {
	network := "udp"
	if _, ok := w.RemoteAddr().(*net.TCPAddr); ok {
		network = "tcp"
	}
	c := *s.client
	c.Net = network
	self := net.JoinHostPort(s.Listen.String(), "53")
	for _, up := range s.Upstream {
		if up == self {
			continue // itself: a loop
		}
		r, _, err := c.Exchange(q, up)
		if err == nil && r != nil {
			r.Id = q.Id
			return r
		}
	}
	m := new(dns.Msg)
	if len(s.Upstream) == 0 {
		return m.SetRcode(q, dns.RcodeRefused)
	}
	return m.SetRcode(q, dns.RcodeServerFailure)
}
