package actions

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TunnelReader is a Runner that reads a VXLAN device's entries itself, by
// netlink dumps, without the two processes of ReadTunnel's commands: a
// sync reads them before it runs, and check to compare.
type TunnelReader interface {
	ReadTunnel(ctx context.Context, dev IfName) (*TunnelEntries, error)
}

// ReadTunnel implements TunnelReader: the host's IPv4 routes (those of
// the main table through dev; the gateway of onlink ones), its IPv4
// neighbours (dev's permanent ones) and its bridge neighbours (dev's
// forwarding entries), what `ip -j route show dev DEV`, `ip -j neigh show
// dev DEV nud permanent` and `bridge -j fdb show dev DEV` read.
//
// A dump the kernel marks interrupted (NLM_F_DUMP_INTR: the table changed
// while it was read, so entries may be missing or twice) is read again,
// up to three times: a sync would take an entry missing for absent.
func (e Exec) ReadTunnel(ctx context.Context, dev IfName) (*TunnelEntries, error) {
	for range 3 {
		t, err := e.readTunnel(dev)
		if !errors.Is(err, errInterrupted) {
			return t, err
		}
	}
	return nil, fmt.Errorf("reading %s's entries: the host's routes or neighbours changed while plumb read them, three times over; run the command again", dev)
}

// errInterrupted is a dump the kernel marked interrupted.
var errInterrupted = errors.New("netlink dump interrupted: the table changed while it was read")

// interrupted reports whether any of a dump's messages is marked so.
func interrupted(msgs []syscall.NetlinkMessage) bool {
	for _, m := range msgs {
		if m.Header.Flags&unix.NLM_F_DUMP_INTR != 0 {
			return true
		}
	}
	return false
}

func (e Exec) readTunnel(dev IfName) (*TunnelEntries, error) {
	ifc, err := net.InterfaceByName(dev.String())
	if err != nil {
		return nil, fmt.Errorf("reading %s's entries: %w", dev, err)
	}
	idx := uint32(ifc.Index)
	t := &TunnelEntries{Routes: map[netip.Prefix]netip.Addr{}, Neigh: map[netip.Addr]string{}, Fdb: map[string][]netip.Addr{}}
	msgs, err := dump(unix.RTM_GETROUTE, unix.AF_INET)
	if errors.Is(err, errInterrupted) {
		return nil, err
	} else if err != nil {
		return nil, fmt.Errorf("reading %s's routes: %w", dev, err)
	}
	for _, m := range msgs {
		if m.Header.Type != unix.RTM_NEWROUTE || len(m.Data) < unix.SizeofRtMsg {
			continue
		}
		rt := (*unix.RtMsg)(unsafe.Pointer(&m.Data[0]))
		attrs, err := syscall.ParseNetlinkRouteAttr(&m)
		if err != nil || rt.Type != unix.RTN_UNICAST {
			continue
		}
		table, oif := uint32(rt.Table), uint32(0)
		var dst, gw netip.Addr
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
			case unix.RTA_DST:
				dst, _ = netip.AddrFromSlice(a.Value)
			case unix.RTA_GATEWAY:
				gw, _ = netip.AddrFromSlice(a.Value)
			}
		}
		if table != unix.RT_TABLE_MAIN || oif != idx || !dst.IsValid() {
			continue
		}
		if rt.Flags&unix.RTNH_F_ONLINK == 0 {
			gw = netip.Addr{} // not a peer's route
		}
		t.Routes[netip.PrefixFrom(dst, int(rt.Dst_len))] = gw
	}
	for _, fam := range []int{unix.AF_INET, unix.AF_BRIDGE} {
		msgs, err := dumpNeigh(fam)
		if errors.Is(err, errInterrupted) {
			return nil, err
		} else if err != nil {
			return nil, fmt.Errorf("reading %s's neighbours: %w", dev, err)
		}
		for _, m := range msgs {
			if m.Header.Type != unix.RTM_NEWNEIGH || len(m.Data) < unix.SizeofNdMsg {
				continue
			}
			nd := (*unix.NdMsg)(unsafe.Pointer(&m.Data[0]))
			if uint32(nd.Ifindex) != idx {
				continue
			}
			var dst netip.Addr
			var mac string
			eachAttr(m.Data[unix.SizeofNdMsg:], func(typ uint16, val []byte) {
				switch typ {
				case unix.NDA_DST:
					dst, _ = netip.AddrFromSlice(val)
				case unix.NDA_LLADDR:
					mac = strings.ToLower(net.HardwareAddr(val).String())
				}
			})
			switch {
			case fam == unix.AF_INET && nd.State&unix.NUD_PERMANENT != 0 && dst.IsValid():
				t.Neigh[dst.Unmap()] = mac
			case fam == unix.AF_BRIDGE && dst.IsValid() && mac != "":
				t.Fdb[mac] = append(t.Fdb[mac], dst.Unmap())
			}
		}
	}
	return t, nil
}

// dump is a netlink dump of proto for family, its messages parsed.
func dump(proto, family int) ([]syscall.NetlinkMessage, error) {
	rib, err := syscall.NetlinkRIB(proto, family)
	if err != nil {
		return nil, err
	}
	msgs, err := syscall.ParseNetlinkMessage(rib)
	if err == nil && interrupted(msgs) {
		return nil, errInterrupted
	}
	return msgs, err
}

// attr is one netlink attribute.
type attr struct {
	typ uint16
	val []byte
}

// eachAttr calls f with each attribute in b, the bytes after a route or
// neighbour message's header, in place (syscall's parser knows only
// links', addresses' and routes').
func eachAttr(b []byte, f func(typ uint16, val []byte)) {
	for len(b) >= unix.SizeofRtAttr {
		a := (*unix.RtAttr)(unsafe.Pointer(&b[0]))
		if int(a.Len) < unix.SizeofRtAttr || int(a.Len) > len(b) {
			return
		}
		f(a.Type&^unix.NLA_F_NESTED, b[unix.SizeofRtAttr:a.Len])
		b = b[min(len(b), (int(a.Len)+unix.RTA_ALIGNTO-1)&^(unix.RTA_ALIGNTO-1)):]
	}
}

// dumpNeigh is a netlink dump of the neighbours of family, its messages
// parsed. The request carries a whole ndmsg: the kernel answers a bridge
// neighbour (fdb) dump asked with syscall.NetlinkRIB's one-byte rtgenmsg
// with nothing (measured: only NLMSG_DONE).
func dumpNeigh(family int) ([]syscall.NetlinkMessage, error) {
	s, err := newNetlinkGetter()
	if err != nil {
		return nil, err
	}
	defer s.close()
	s.seq++
	nd := unix.NdMsg{Family: uint8(family)}
	req := s.request(unix.RTM_GETNEIGH, unix.NLM_F_REQUEST|unix.NLM_F_DUMP, unsafe.Slice((*byte)(unsafe.Pointer(&nd)), unix.SizeofNdMsg))
	if err := unix.Sendto(s.fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, err
	}
	var out []syscall.NetlinkMessage
	for {
		buf := make([]byte, 1<<16) // the messages kept point into it
		n, _, err := unix.Recvfrom(s.fd, buf, 0)
		if err != nil {
			return nil, err
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return nil, err
		}
		if interrupted(msgs) {
			return nil, errInterrupted
		}
		for _, m := range msgs {
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				return out, nil
			case unix.NLMSG_ERROR:
				return nil, fmt.Errorf("netlink dump of family %d refused", family)
			}
			out = append(out, m)
		}
	}
}
