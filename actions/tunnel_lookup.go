package actions

import (
	"context"
	"encoding/binary"
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
// routes, permanent neighbours and forwarding entries (by MAC) of the
// peers it adds, removes or moves.
type TunnelQuery struct {
	Routes []netip.Prefix
	Neigh  []netip.Addr
	Fdb    []string
}

// size is the number of entries asked about.
func (q TunnelQuery) size() int { return len(q.Routes) + len(q.Neigh) + len(q.Fdb) }

// TunnelLooker is a Runner that asks the kernel for single entries (a
// netlink get each) instead of dumping them all.
type TunnelLooker interface {
	LookupTunnel(ctx context.Context, dev IfName, q TunnelQuery) (*TunnelEntries, bool, error)
}

// LookupTunnel answers q as ReadTunnel would: each entry asked about is in
// the entries returned when, and as, the device holds it (Fdb[mac] with
// the MAC's first destination: a unicast MAC has one). With few entries
// asked about of a device
// that holds many (at least 8 for each), the neighbours and forwarding
// entries are asked for one by one (a get each) and the routes read from
// a dump the kernel filters to the device's: a peer added to a mesh of a
// thousand no longer reads and decodes every neighbour and forwarding
// entry of the host. Anything else, or an answer a get cannot settle (a
// MAC that is not unicast, a kernel that refuses a get), reads the whole
// device.
func LookupTunnel(ctx context.Context, r Runner, dev IfName, q TunnelQuery, held int) (*TunnelEntries, error) {
	if l, ok := r.(TunnelLooker); ok && !probesByCommand(r) && q.size() <= 96 && q.size()*8 <= 3*held {
		t, settled, err := l.LookupTunnel(ctx, dev, q)
		if err != nil || settled {
			return t, err
		}
	}
	return ReadTunnel(ctx, r, dev)
}

// LookupTunnel implements TunnelLooker on one netlink socket: the routes
// through dev of the main table by a dump filtered in the kernel (a route
// lookup, `ip route get`, proves a route there but never its absence: a
// rule, a metric or a TOS hides one), `ip neigh get` and `bridge fdb get
// … self` in-process. settled is false when an answer may differ from
// the whole device's.
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
	if len(q.Routes) > 0 {
		if ok, err := s.routesVia(t, q.Routes, idx); err != nil || !ok {
			return nil, false, err
		}
	}
	for _, a := range q.Neigh {
		if ok, err := s.neigh(t, a, idx); err != nil || !ok {
			return nil, false, err
		}
	}
	for _, mac := range q.Fdb {
		ok, err := s.fdb(t, mac, idx)
		if err != nil || !ok {
			return nil, false, err
		}
	}
	return t, true, nil
}

// request is a netlink message of typ with flags, header hdr (its
// struct's bytes) and attributes, numbered s.seq.
func (s *netlinkGetter) request(typ, flags uint16, hdr []byte, attrs ...attr) []byte {
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
	*(*unix.NlMsghdr)(unsafe.Pointer(&req[0])) = unix.NlMsghdr{Len: uint32(len(req)), Type: typ, Flags: flags, Seq: s.seq}
	return req
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
	return s.roundTrip(typ, unix.NLM_F_REQUEST, hdr, attrs...)
}

// ack sends a request of typ that changes something and waits for the
// kernel's acknowledgement: nil, or its errno.
func (s *netlinkGetter) ack(typ uint16, hdr []byte, attrs ...attr) error {
	_, err := s.roundTrip(typ, unix.NLM_F_REQUEST|unix.NLM_F_ACK, hdr, attrs...)
	return err
}

// roundTrip sends one request and reads until its answer: the first
// message of its sequence number, or the kernel's error; with NLM_F_ACK
// in flags, a zero error (the acknowledgement) is the answer, nil.
func (s *netlinkGetter) roundTrip(typ, flags uint16, hdr []byte, attrs ...attr) (*syscall.NetlinkMessage, error) {
	s.seq++
	req := s.request(typ, flags, hdr, attrs...)
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
				if flags&unix.NLM_F_ACK != 0 {
					return nil, nil
				}
				continue // an acknowledgement of a get
			}
			m.Data = slices.Clone(m.Data) // s.buf is read into again
			return m, nil
		}
	}
}

// routesVia puts into t the routes to prefixes of want that the main
// table has through the device idx, as ReadTunnel reads them: unicast,
// the gateway of onlink ones. The dump asks the kernel (strict checking,
// Linux 4.20) for the main table's unicast routes through idx alone, and
// each answer is checked here again, as an older kernel answers with
// every route. ok is false when the dump ended in an error (the kernel
// puts it in its last message): the whole device's read answers then.
func (s *netlinkGetter) routesVia(t *TunnelEntries, want []netip.Prefix, idx uint32) (ok bool, _ error) {
	wanted := make(map[netip.Prefix]bool, len(want))
	for _, p := range want {
		wanted[p] = true
	}
	_ = unix.SetsockoptInt(s.fd, unix.SOL_NETLINK, unix.NETLINK_GET_STRICT_CHK, 1)
	s.seq++
	rt := unix.RtMsg{Family: unix.AF_INET, Table: unix.RT_TABLE_MAIN, Type: unix.RTN_UNICAST}
	req := s.request(unix.RTM_GETROUTE, unix.NLM_F_REQUEST|unix.NLM_F_DUMP, unsafe.Slice((*byte)(unsafe.Pointer(&rt)), unix.SizeofRtMsg),
		attr{unix.RTA_OIF, binary.NativeEndian.AppendUint32(nil, idx)})
	if err := unix.Sendto(s.fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return false, nil
	}
	for {
		n, _, err := unix.Recvfrom(s.fd, s.buf, 0)
		if err != nil {
			return false, nil
		}
		// Walked in place, nothing allocated: a mesh of a thousand
		// answers a thousand routes.
		for b := s.buf[:n]; len(b) >= unix.SizeofNlMsghdr; {
			h := (*unix.NlMsghdr)(unsafe.Pointer(&b[0]))
			if h.Len < unix.SizeofNlMsghdr || int(h.Len) > len(b) {
				return false, nil // a message cut short
			}
			body := b[unix.SizeofNlMsghdr:h.Len]
			b = b[min(len(b), (int(h.Len)+unix.NLMSG_ALIGNTO-1)&^(unix.NLMSG_ALIGNTO-1)):]
			switch {
			case h.Seq != s.seq:
				continue
			case h.Flags&unix.NLM_F_DUMP_INTR != 0:
				return false, nil // the table changed meanwhile: read whole, again
			case h.Type == unix.NLMSG_DONE:
				// Its payload is the dump's error: none, or ENOENT for a
				// namespace whose main table was never made (no routes).
				var errno int32
				if len(body) >= 4 {
					errno = -*(*int32)(unsafe.Pointer(&body[0]))
				}
				return errno == 0 || syscall.Errno(errno) == unix.ENOENT, nil
			case h.Type == unix.NLMSG_ERROR:
				return false, nil // the dump refused (a device gone: ENODEV)
			case h.Type != unix.RTM_NEWROUTE || len(body) < unix.SizeofRtMsg:
				continue
			}
			rt := (*unix.RtMsg)(unsafe.Pointer(&body[0]))
			if rt.Type != unix.RTN_UNICAST || rt.Family != unix.AF_INET {
				continue
			}
			table, oif := uint32(rt.Table), uint32(0)
			var dst, gw netip.Addr
			eachAttr(body[unix.SizeofRtMsg:], func(typ uint16, val []byte) {
				switch typ {
				case unix.RTA_TABLE:
					if len(val) >= 4 {
						table = binary.NativeEndian.Uint32(val)
					}
				case unix.RTA_OIF:
					if len(val) >= 4 {
						oif = binary.NativeEndian.Uint32(val)
					}
				case unix.RTA_DST:
					dst, _ = netip.AddrFromSlice(val)
				case unix.RTA_GATEWAY:
					gw, _ = netip.AddrFromSlice(val)
				}
			})
			p := netip.PrefixFrom(dst, int(rt.Dst_len))
			if table != unix.RT_TABLE_MAIN || oif != idx || !dst.IsValid() || !wanted[p] {
				continue
			}
			if rt.Flags&unix.RTNH_F_ONLINK == 0 {
				gw = netip.Addr{} // not a peer's route
			}
			t.Routes[p] = gw
		}
	}
}

// neigh asks for a's neighbour entry on dev; only a permanent one counts.
// ok is false when the kernel would not say (one without neighbour gets,
// Linux 5.0): the dump answers then.
func (s *netlinkGetter) neigh(t *TunnelEntries, a netip.Addr, idx uint32) (ok bool, _ error) {
	nd := unix.NdMsg{Family: unix.AF_INET, Ifindex: int32(idx)}
	ip := a.As4()
	m, err := s.get(unix.RTM_GETNEIGH, unsafe.Slice((*byte)(unsafe.Pointer(&nd)), unix.SizeofNdMsg), attr{unix.NDA_DST, ip[:]})
	if errors.Is(err, unix.ENOENT) {
		return true, nil
	} else if err != nil {
		return false, nil
	}
	if m.Header.Type != unix.RTM_NEWNEIGH || len(m.Data) < unix.SizeofNdMsg {
		return false, nil
	}
	got := (*unix.NdMsg)(unsafe.Pointer(&m.Data[0]))
	if got.State&unix.NUD_PERMANENT == 0 {
		return true, nil
	}
	eachAttr(m.Data[unix.SizeofNdMsg:], func(typ uint16, val []byte) {
		if typ == unix.NDA_LLADDR {
			t.Neigh[a] = strings.ToLower(net.HardwareAddr(val).String())
		}
	})
	return true, nil
}

// fdb asks dev itself (not a bridge it would be a port of) for mac's
// forwarding entry. The answer names the entry's first destination only,
// which is its only one for a unicast MAC (the kernel appends further
// destinations to the all-zeros and multicast MACs' alone): ok is false
// for those.
func (s *netlinkGetter) fdb(t *TunnelEntries, mac string, idx uint32) (ok bool, _ error) {
	hw, err := net.ParseMAC(mac)
	if err != nil || len(hw) != 6 || hw[0]&1 == 1 || [6]byte(hw) == [6]byte{} {
		return false, nil
	}
	nd := unix.NdMsg{Family: unix.AF_BRIDGE, Ifindex: int32(idx), Flags: unix.NTF_SELF}
	m, err := s.get(unix.RTM_GETNEIGH, unsafe.Slice((*byte)(unsafe.Pointer(&nd)), unix.SizeofNdMsg), attr{unix.NDA_LLADDR, hw})
	if errors.Is(err, unix.ENOENT) {
		return true, nil
	} else if err != nil {
		return false, nil // a kernel without fdb gets (Linux 5.0): the dump answers
	}
	if m.Header.Type != unix.RTM_NEWNEIGH || len(m.Data) < unix.SizeofNdMsg {
		return false, nil
	}
	var dst netip.Addr
	eachAttr(m.Data[unix.SizeofNdMsg:], func(typ uint16, val []byte) {
		if typ == unix.NDA_DST {
			dst, _ = netip.AddrFromSlice(val)
		}
	})
	if !dst.IsValid() {
		return false, nil
	}
	t.Fdb[strings.ToLower(mac)] = []netip.Addr{dst.Unmap()}
	return true, nil
}
