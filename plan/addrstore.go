package plan

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// AddrStore keeps which addresses of one network are given out, and to
// whom, shaped like host-local's backend.Store (containernetworking/plugins,
// plugins/ipam/host-local/backend): Lock, Reserve, ReleaseByID, GetByID.
// A network whose addresses are shared by several hosts (a mesh) brings
// its own. plumb gives out the lowest free address, so it keeps no
// LastReservedIP.
type AddrStore interface {
	// Lock holds the network's addresses, for a choice and the Reserve
	// that follows it, until Unlock.
	Lock(ctx context.Context) error
	Unlock()
	// Reserve gives ip, of range rangeID, to id's interface ifname: false
	// when another holds it. Giving it again to the same id is true.
	Reserve(id, ifname string, ip netip.Addr, rangeID string) (bool, error)
	// ReleaseByID gives back every address id holds.
	ReleaseByID(id, ifname string) error
	// GetByID is every address id holds, sorted.
	GetByID(id, ifname string) []netip.Addr
}

// localAddrs is the AddrStore of a network on this host: the index's
// entries index/bridge/NET/ip-ADDR, each holding its object's ID (see
// index.go), written under the network's allocation lock. An object has
// one interface on a network, so ifname is not kept. An entry is written
// before its object's journal (Reserve, then Save) and removed after it:
// one whose journal is gone, and whose object nobody locks, is stale.
type localAddrs struct {
	st      *Store
	network string
}

// LocalAddrs is the AddrStore of network kept in st's index.
func LocalAddrs(st *Store, network string) AddrStore { return localAddrs{st, network} }

func (l localAddrs) Lock(ctx context.Context) error { return l.st.lockOne(ctx, allocLock(l.network)) }

func (l localAddrs) Unlock() { l.st.unlock(allocLock(l.network)) }

func (l localAddrs) entry(ip netip.Addr) string {
	return filepath.Join(l.st.BridgeIndex(l.network), "ip-"+ip.String())
}

func (l localAddrs) Reserve(id, _ string, ip netip.Addr, _ string) (bool, error) {
	path := l.entry(ip)
	if err := l.st.indexDirs(filepath.Dir(path), true); err != nil {
		return false, fmt.Errorf("reserving %s on %s: %w", ip, l.network, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if errors.Is(err, fs.ErrExist) {
		holder, ok := l.st.Entry(path)
		return ok && holder == id, nil
	}
	if err != nil {
		return false, fmt.Errorf("reserving %s on %s: %w", ip, l.network, err)
	}
	_, err = f.WriteString(id)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return false, fmt.Errorf("reserving %s on %s: %w", ip, l.network, err)
	}
	return true, nil
}

func (l localAddrs) ReleaseByID(id, _ string) error {
	for _, ip := range l.GetByID(id, "") {
		l.st.dropEntry(l.entry(ip), id)
	}
	return nil
}

func (l localAddrs) GetByID(id, _ string) []netip.Addr {
	var out []netip.Addr
	for ip, holder := range l.st.AddrEntries(l.network) {
		if holder == id {
			out = append(out, ip)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Less(out[j]) })
	return out
}

// AddrEntries are network's address entries, by what they hold, read
// whether or not the index is complete: addresses reserved by processes
// that have not written their journal yet are there alone.
func (s *Store) AddrEntries(network string) map[netip.Addr]string {
	out := map[netip.Addr]string{}
	dir := s.BridgeIndex(network)
	if s.indexDirs(dir, false) != nil {
		return out
	}
	names, err := os.ReadDir(dir)
	if err != nil {
		return out
	}
	for _, n := range names {
		a, ok := strings.CutPrefix(n.Name(), "ip-")
		if !ok {
			continue
		}
		ip, err := netip.ParseAddr(a)
		if err != nil {
			continue
		}
		if holder, ok := s.Entry(filepath.Join(dir, n.Name())); ok {
			out[ip] = holder
		}
	}
	return out
}
