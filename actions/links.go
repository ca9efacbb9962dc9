package actions

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// LinkReader is a Runner that reads a namespace's interfaces by name
// itself, without a process.
type LinkReader interface {
	// ReadLinks gives those of names that are interfaces in in, each with
	// its MTU.
	ReadLinks(ctx context.Context, in Netns, names []string) (map[string]int, error)
}

// FindLinks gives those of names that are interfaces in in, each with its
// MTU: read in-process where the runner can (a name looked up costs the
// same with 2000 links as with 2, where `ip -j link show` lists them all:
// 80 ms for 2000), else from `ip -j link show`.
func FindLinks(ctx context.Context, r Runner, in Netns, names ...IfName) (map[string]int, error) {
	ns := make([]string, 0, len(names))
	for _, n := range names {
		if n != "" {
			ns = append(ns, n.String())
		}
	}
	if lr, ok := r.(LinkReader); ok {
		return lr.ReadLinks(ctx, in, ns)
	}
	return findByIP(ctx, r, in, ns)
}

func findByIP(ctx context.Context, r Runner, in Netns, names []string) (map[string]int, error) {
	all, err := LinkNames(ctx, r, in)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, n := range names {
		if mtu, ok := all[n]; ok {
			out[n] = mtu
		}
	}
	return out, nil
}

// ReadLinks implements LinkReader: an ioctl (SIOCGIFMTU) by name on a
// socket made inside in, the same question `ip link show dev NAME` asks.
func (e Exec) ReadLinks(ctx context.Context, in Netns, names []string) (map[string]int, error) {
	if e.ProbeByCommand {
		return findByIP(ctx, e, in, names)
	}
	out := map[string]int{}
	err := withSocket(in, func(fd int) error {
		for _, n := range names {
			ifr, err := unix.NewIfreq(n)
			if err != nil {
				return err
			}
			switch err := unix.IoctlIfreq(fd, unix.SIOCGIFMTU, ifr); {
			case err == nil:
				out[n] = int(ifr.Uint32())
			case errors.Is(err, unix.ENODEV):
			default:
				return fmt.Errorf("reading interface %s: %w", n, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the links of %s: %w", in.Label(), err)
	}
	return out, nil
}

// RouteReader is a Runner that reads the host's routes itself.
type RouteReader interface {
	// ReadDefaultRouteDev is the interface of the first default route of
	// the main table that has one, "" for none.
	ReadDefaultRouteDev(ctx context.Context) (string, error)
}

// ReadDefaultRouteDev implements RouteReader: a netlink dump of the IPv4
// routes (RTM_GETROUTE), what `ip -j route show default` reads, then the
// interface's name by its index.
func (e Exec) ReadDefaultRouteDev(ctx context.Context) (string, error) {
	if e.ProbeByCommand {
		return defaultRouteDevByCommand(ctx, e)
	}
	rib, err := syscall.NetlinkRIB(unix.RTM_GETROUTE, unix.AF_INET)
	if err != nil {
		return "", fmt.Errorf("finding the default route: %w", err)
	}
	msgs, err := syscall.ParseNetlinkMessage(rib)
	if err != nil {
		return "", fmt.Errorf("finding the default route: %w", err)
	}
	for _, m := range msgs {
		if m.Header.Type != unix.RTM_NEWROUTE || len(m.Data) < unix.SizeofRtMsg {
			continue
		}
		rt := (*unix.RtMsg)(unsafe.Pointer(&m.Data[0]))
		if rt.Dst_len != 0 || rt.Type != unix.RTN_UNICAST {
			continue
		}
		attrs, err := syscall.ParseNetlinkRouteAttr(&m)
		if err != nil {
			continue
		}
		table, oif := uint32(rt.Table), uint32(0)
		for _, a := range attrs {
			switch {
			case a.Attr.Type == unix.RTA_TABLE && len(a.Value) >= 4:
				table = *(*uint32)(unsafe.Pointer(&a.Value[0]))
			case a.Attr.Type == unix.RTA_OIF && len(a.Value) >= 4:
				oif = *(*uint32)(unsafe.Pointer(&a.Value[0]))
			}
		}
		if table != unix.RT_TABLE_MAIN || oif == 0 {
			continue
		}
		return linkName(oif)
	}
	return "", nil
}

// linkName is the name of the host's interface with index i.
func linkName(i uint32) (string, error) {
	var name string
	err := withSocket(Netns{}, func(fd int) error {
		ifr, err := unix.NewIfreq("")
		if err != nil {
			return err
		}
		ifr.SetUint32(i)
		if err := unix.IoctlIfreq(fd, unix.SIOCGIFNAME, ifr); err != nil {
			return fmt.Errorf("naming interface %d: %w", i, err)
		}
		name = ifr.Name()
		return nil
	})
	return name, err
}

// MACReader is a Runner that reads a link's MAC address and MTU itself.
type MACReader interface {
	ReadMAC(ctx context.Context, in Netns, dev string) (mac string, mtu int, err error)
}

// ReadMAC implements MACReader: ioctls (SIOCGIFHWADDR, SIOCGIFMTU) by name
// on a socket made inside in, what `ip -j link show dev X` reports as
// address and mtu.
func (e Exec) ReadMAC(ctx context.Context, in Netns, dev string) (string, int, error) {
	if e.ProbeByCommand {
		l, err := showLink(ctx, e, in, IfName(dev))
		if err != nil {
			return "", 0, err
		}
		return l.MAC, l.MTU, nil
	}
	var mac string
	var mtu int
	err := withSocket(in, func(fd int) error {
		ifr, err := unix.NewIfreq(dev)
		if err != nil {
			return err
		}
		if err := unix.IoctlIfreq(fd, unix.SIOCGIFMTU, ifr); err != nil {
			return fmt.Errorf("link %s is missing in %s", dev, in.Label())
		}
		mtu = int(ifr.Uint32())
		if err := unix.IoctlIfreq(fd, unix.SIOCGIFHWADDR, ifr); err != nil {
			return fmt.Errorf("reading the address of %s: %w", dev, err)
		}
		// struct ifreq: the name (16 bytes), then a sockaddr whose data
		// (after its 2-byte family) is the hardware address.
		raw := (*[unix.IFNAMSIZ + 16]byte)(unsafe.Pointer(ifr))
		mac = net.HardwareAddr(raw[unix.IFNAMSIZ+2 : unix.IFNAMSIZ+8]).String()
		return nil
	})
	return mac, mtu, err
}

// withSocket runs fn with a socket made inside in (a socket keeps the
// namespace it was made in, so interface ioctls on it ask that one).
func withSocket(in Netns, fn func(fd int) error) error {
	open := func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		return fn(fd)
	}
	if in.IsHost() {
		return open()
	}
	return inside(in, "", open)
}
