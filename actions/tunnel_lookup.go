package actions

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TunnelQuery names the entries of a VXLAN device a sync asks about: the
// routes, permanent neighbours and forwarding entries of the peers it
// adds, removes or moves. FdbTo are the destinations asked for of a MAC
// (invalid: whether the MAC has any).
type TunnelQuery struct {
	Routes []netip.Prefix
	Neigh  []netip.Addr
	Fdb    []string
	FdbTo  []netip.Addr // FdbTo[i] goes with Fdb[i]
}

// size is the number of entries asked about.
func (q TunnelQuery) size() int { return len(q.Routes) + len(q.Neigh) + len(q.Fdb) }

// TunnelLooker is a Runner that asks the kernel for single entries (a
// netlink get each) instead of dumping them all.
type TunnelLooker interface {
	LookupTunnel(ctx context.Context, dev IfName, q TunnelQuery) (*TunnelEntries, bool, error)
}

// LookupTunnel answers q as ReadTunnel would: each entry asked about is in
// the entries returned when, and as, the device holds it; Fdb[mac] holds
// the destination asked for when the device sends the MAC there, else
// another of its destinations. With few entries asked about of a device
// that holds many (at least 8 for each), each is asked for by itself: a
// peer added to a mesh of a thousand no longer reads three thousand
// entries. Anything else, or an answer a single get cannot settle (a more
// specific route, another routing table's, a MAC sent to several
// destinations), reads the whole device.
func LookupTunnel(ctx context.Context, r Runner, dev IfName, q TunnelQuery, held int) (*TunnelEntries, error) {
	if l, ok := r.(TunnelLooker); ok && !probesByCommand(r) && q.size() <= 96 && q.size()*8 <= 3*held {
		t, settled, err := l.LookupTunnel(ctx, dev, q)
		if err != nil || settled {
			return t, err
		}
	}
	return ReadTunnel(ctx, r, dev)
}

// LookupTunnel implements TunnelLooker with netlink gets on one socket:
// `ip route get fibmatch`, `ip neigh get` and `bridge fdb get … self`
// in-process. settled is false when an answer may differ from the dump's.
func (e Exec) LookupTunnel(_ context.Context, dev IfName, q TunnelQuery) (_ *TunnelEntries, settled bool, _ error) {
	ifc, err := net.InterfaceByName(dev.String())
	if err != nil {
		return nil, false, fmt.Errorf("reading %s's entries: %w", dev, err)
	}
	idx := uint32(ifc.Index)
	s, err := newNetlinkGetter()
	if err != nil {
		return nil, false, fmt.Errorf("reading %s's entries: %w", dev, err)
	}
	defer s.close()
	t := &TunnelEntries{Routes: map[netip.Prefix]netip.Addr{}, Neigh: map[netip.Addr]string{}, Fdb: map[string][]netip.Addr{}}
	for _, p := range q.Routes {
		ok, err := s.route(t, p, idx)
		if err != nil || !ok {
			return nil, false, err
		}
	}
	for _, a := range q.Neigh {
		if err := s.neigh(t, a, idx); err != nil {
			return nil, false, err
		}
	}
	for i, mac := range q.Fdb {
		var to netip.Addr
		if i < len(q.FdbTo) {
			to = q.FdbTo[i]
		}
		ok, err := s.fdb(t, mac, to, idx)
		if err != nil || !ok {
			return nil, false, err
		}
	}
	return t, true, nil
}

// netlinkGetter sends one request at a time and reads its answer.
type netlinkGetter struct {
	fd  int
	seq uint32
	buf []byte
}

func newNetlinkGetter() (*netlinkGetter, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, err
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return &netlinkGetter{fd: fd, buf: make([]byte, 1<<16)}, nil
}

func (s *netlinkGetter) close() { unix.Close(s.fd) }

// get sends a request of typ with header hdr (its struct's bytes) and
// attributes, and returns the answer: a message, or the kernel's errno.
func (s *netlinkGetter) get(typ uint16, hdr []byte, attrs ...attr) (*syscall.NetlinkMessage, error) {
	s.seq++
	req := make([]byte, unix.SizeofNlMsghdr, 64)
	req = append(req, hdr...)
	for _, a := range attrs {
		n := unix.SizeofRtAttr + len(a.val)
		h := unix.RtAttr{Len: uint16(n), Type: a.typ}
		req = append(req, unsafe.Slice((*byte)(unsafe.Pointer(&h)), unix.SizeofRtAttr)...)
		req = append(req, a.val...)
		for len(req)%unix.RTA_ALIGNTO != 0 {
			req = append(req, 0)
		}
	}
	*(*unix.NlMsghdr)(unsafe.Pointer(&req[0])) = unix.NlMsghdr{Len: uint32(len(req)), Type: typ, Flags: unix.NLM_F_REQUEST, Seq: s.seq}
	if err := unix.Sendto(s.fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, err
	}
	for {
		n, _, err := unix.Recvfrom(s.fd, s.buf, 0)
		if err != nil {
			return nil, err
		}
		msgs, err := syscall.ParseNetlinkMessage(s.buf[:n])
		if err != nil {
			return nil, err
		}
		for i := range msgs {
			m := &msgs[i]
			if m.Header.Seq != s.seq {
				continue
			}
			if m.Header.Type == unix.NLMSG_ERROR {
				if len(m.Data) < 4 {
					return nil, errors.New("a short netlink error")
				}
				if errno := -*(*int32)(unsafe.Pointer(&m.Data[0])); errno != 0 {
					return nil, syscall.Errno(errno)
				}
				continue // an acknowledgement
			}
			m.Data = slices.Clone(m.Data) // s.buf is read into again
			return m, nil
		}
	}
}

// route asks for the route a lookup of p's address finds: the table's
// entry (fibmatch), and which table (as `ip route get` asks). ok is false
// when that cannot tell whether main holds a route to p through dev: a
// route more specific than p, one of another table (the local one's for
// an address of the host's), a route of a special type.
func (s *netlinkGetter) route(t *TunnelEntries, p netip.Prefix, idx uint32) (ok bool, _ error) {
	rt := unix.RtMsg{Family: unix.AF_INET, Dst_len: 32, Flags: unix.RTM_F_FIB_MATCH | unix.RTM_F_LOOKUP_TABLE}
	dst := p.Addr().As4()
	m, err := s.get(unix.RTM_GETROUTE, unsafe.Slice((*byte)(unsafe.Pointer(&rt)), unix.SizeofRtMsg), attr{unix.RTA_DST, dst[:]})
	if errors.Is(err, unix.ENETUNREACH) {
		return true, nil // no route at all: none to p
	} else if err != nil {
		return false, nil
	}
	if m.Header.Type != unix.RTM_NEWROUTE || len(m.Data) < unix.SizeofRtMsg {
		return false, nil
	}
	got := (*unix.RtMsg)(unsafe.Pointer(&m.Data[0]))
	attrs, err := syscall.ParseNetlinkRouteAttr(m)
	if err != nil {
		return false, nil
	}
	table, oif := uint32(got.Table), uint32(0)
	var gw netip.Addr
	for _, a := range attrs {
		switch a.Attr.Type {
		case unix.RTA_TABLE:
			if len(a.Value) >= 4 {
				table = *(*uint32)(unsafe.Pointer(&a.Value[0]))
			}
		case unix.RTA_OIF:
			if len(a.Value) >= 4 {
				oif = *(*uint32)(unsafe.Pointer(&a.Value[0]))
			}
		case unix.RTA_GATEWAY:
			gw, _ = netip.AddrFromSlice(a.Value)
		}
	}
	switch bits := int(got.Dst_len); {
	case table != unix.RT_TABLE_MAIN || bits > p.Bits():
		return false, nil
	case bits < p.Bits():
		return true, nil // the longest match in main is shorter: no route to p there
	case got.Type != unix.RTN_UNICAST:
		return false, nil
	case oif != idx:
		return true, nil // main's route to p goes elsewhere (or by several ways): none of dev's
	}
	if got.Flags&unix.RTNH_F_ONLINK == 0 {
		gw = netip.Addr{}
	}
	t.Routes[p] = gw
	return true, nil
}

// neigh asks for a's neighbour entry on dev; only a permanent one counts.
func (s *netlinkGetter) neigh(t *TunnelEntries, a netip.Addr, idx uint32) error {
	nd := unix.NdMsg{Family: unix.AF_INET, Ifindex: int32(idx)}
	ip := a.As4()
	m, err := s.get(unix.RTM_GETNEIGH, unsafe.Slice((*byte)(unsafe.Pointer(&nd)), unix.SizeofNdMsg), attr{unix.NDA_DST, ip[:]})
	if errors.Is(err, unix.ENOENT) {
		return nil
	} else if err != nil {
		return fmt.Errorf("asking for the neighbour %s: %w", a, err)
	}
	if m.Header.Type != unix.RTM_NEWNEIGH || len(m.Data) < unix.SizeofNdMsg {
		return nil
	}
	got := (*unix.NdMsg)(unsafe.Pointer(&m.Data[0]))
	if got.State&unix.NUD_PERMANENT == 0 {
		return nil
	}
	for _, at := range neighAttrs(m.Data[unix.SizeofNdMsg:]) {
		if at.typ == unix.NDA_LLADDR {
			t.Neigh[a] = strings.ToLower(net.HardwareAddr(at.val).String())
		}
	}
	return nil
}

// fdb asks dev itself (not a bridge it would be a port of) for mac's
// forwarding entry, which names the MAC's first destination only: ok is
// false when that is not the one asked for, as another may be.
func (s *netlinkGetter) fdb(t *TunnelEntries, mac string, to netip.Addr, idx uint32) (ok bool, _ error) {
	hw, err := net.ParseMAC(mac)
	if err != nil || len(hw) != 6 {
		return false, nil
	}
	nd := unix.NdMsg{Family: unix.AF_BRIDGE, Ifindex: int32(idx), Flags: unix.NTF_SELF}
	m, err := s.get(unix.RTM_GETNEIGH, unsafe.Slice((*byte)(unsafe.Pointer(&nd)), unix.SizeofNdMsg), attr{unix.NDA_LLADDR, hw})
	if errors.Is(err, unix.ENOENT) {
		return true, nil
	} else if err != nil {
		return false, nil // a kernel without fdb get: the dump answers
	}
	if m.Header.Type != unix.RTM_NEWNEIGH || len(m.Data) < unix.SizeofNdMsg {
		return false, nil
	}
	var dst netip.Addr
	for _, at := range neighAttrs(m.Data[unix.SizeofNdMsg:]) {
		if at.typ == unix.NDA_DST {
			dst, _ = netip.AddrFromSlice(at.val)
		}
	}
	if !dst.IsValid() {
		return false, nil
	}
	dst = dst.Unmap()
	t.Fdb[strings.ToLower(mac)] = []netip.Addr{dst}
	return !to.IsValid() || dst == to, nil
}
