package plan

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// The names index says, for each network, which names its attachments
// answer to and at which addresses: what a resolver of the network (the
// Compose issue's) reads, without reading every journal. Each name an
// object answers to is an entry, a file holding its addresses:
//
//	index/names/NET/NAME/ID     "NAME\n10.88.0.2 fd00:88::2\n": kind/name
//	                            ID answers to NAME on network NET
//
// (NAME and ID escaped or hashed as indexKey does: the entry says the
// name). A name several objects answer to
// (an alias they share) has an entry for each. An object's entries are
// written when its journal first says it is up, and removed when its
// journal is (detach, down, rollback, recover, CNI DEL all remove journals
// through Store.Remove); BuildIndex writes them again from the journals,
// which record the names (Record.Names). Entries are written by rename (a
// reader sees a whole one or none) under the network's names lock
// (namesLock), which keeps a directory from being removed while another
// process writes into it. Like the rest of the index they are a cache:
// nothing prints them.

// NameMember is an object of a network, as the names index keeps it.
type NameMember struct {
	ID    string // kind/name of the object
	Names []string
	Addrs []netip.Addr
}

func (l Layout) NamesDir(network string) string {
	return filepath.Join(l.IndexDir(), "names", IndexKey(network))
}

func (l Layout) nameEntry(network, name, id string) string {
	return filepath.Join(l.NamesDir(network), IndexKey(name), IndexKey(id))
}

// Names are the names network's attachments answer to, each with its
// addresses (IPv4 first, then IPv6, as attached; a name several objects
// share has all of theirs, in the order of the objects' IDs). By the names
// index when there is one, else by reading the journals. An entry whose
// journal is gone (a crash between the two) is left out.
func (s *Store) Names(network string) map[string][]netip.Addr {
	if s.Indexed() {
		if out, err := s.indexedNames(network); err == nil {
			return out
		}
	}
	recs, _ := s.Headers()
	var ms []NameMember
	for _, r := range recs {
		if m, net, ok := nameMember(r); ok && net == network {
			ms = append(ms, m)
		}
	}
	slices.SortFunc(ms, func(a, b NameMember) int { return cmp.Compare(a.ID, b.ID) })
	out := map[string][]netip.Addr{}
	for _, m := range ms {
		for _, n := range m.Names {
			out[n] = append(out[n], m.Addrs...)
		}
	}
	return out
}

// Lookup is the addresses name has on network: nil for none.
func (s *Store) Lookup(network, name string) []netip.Addr { return s.Names(network)[name] }

// indexedNames reads network's entries.
func (s *Store) indexedNames(network string) (map[string][]netip.Addr, error) {
	out := map[string][]netip.Addr{}
	dir := s.NamesDir(network)
	if err := s.indexDirs(dir, false); err != nil {
		return nil, err
	}
	names, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if !n.IsDir() {
			continue
		}
		holders, err := os.ReadDir(filepath.Join(dir, n.Name()))
		if err != nil {
			continue // removed since it was listed
		}
		// ReadDir sorts by file name: escaped IDs sort as IDs do.
		for _, h := range holders {
			id, err := url.PathUnescape(h.Name())
			kind, obj, ok := strings.Cut(id, "/")
			if err != nil || !ok {
				continue
			}
			if _, err := os.Lstat(s.Journal(kind, obj)); errors.Is(err, fs.ErrNotExist) {
				continue // stale: recover drops it
			}
			data, why, err := s.readTrusted(filepath.Join(dir, n.Name(), h.Name()))
			if err != nil || why != "" {
				continue
			}
			name, addrs, _ := strings.Cut(string(data), "\n")
			for _, f := range strings.Fields(addrs) {
				if ip, err := netip.ParseAddr(f); err == nil {
					out[name] = append(out[name], ip)
				}
			}
		}
	}
	return out, nil
}

// nameMember is r as a member of its network: false for an object that
// joins no network, or is not up.
func nameMember(r *Record) (m NameMember, network string, ok bool) {
	f, isNet := r.Attachment()
	if !isNet || f.Bridge == "" || r.State != StateUp {
		return m, "", false
	}
	var addrs []netip.Addr
	for _, ip := range f.IPs() {
		if ip.IsValid() {
			addrs = append(addrs, ip)
		}
	}
	return NameMember{ID: r.ID(), Names: recordNames(r, f), Addrs: addrs}, f.Bridge, true
}

// SelfNamed kinds' objects answer on their network to their own name (a
// container plumb runs): what a journal written before names were kept
// gives them.
type SelfNamed interface{ SelfNamed() }

func isSelfNamed(r *Record) bool {
	_, ok := capability[SelfNamed](r)
	return ok
}

// recordNames are the names r's journal records; for a journal written
// before names were, the ones attach would have given it: a container's
// name, a runtime's container ID, a named namespace's name.
func recordNames(r *Record, f AttachmentFacts) []string {
	if r.Names != nil {
		return r.Names
	}
	switch {
	case isSelfNamed(r):
		return []string{r.Name}
	case f.Runtime != nil:
		return []string{f.Runtime.ContainerID}
	case r.Target != nil && r.Target.Name != "":
		return []string{r.Target.Name}
	}
	return []string{}
}

// putNames writes m's entries on network, under its names lock.
func (s *Store) putNames(network string, m NameMember) error {
	var text []string
	for _, ip := range m.Addrs {
		text = append(text, ip.String())
	}
	return s.withLock(context.Background(), namesLock(network), func() error {
		for _, n := range m.Names {
			path := s.nameEntry(network, n, m.ID)
			content := n + "\n" + strings.Join(text, " ") + "\n"
			if data, why, err := s.readTrusted(path); err == nil && why == "" && string(data) == content {
				continue
			}
			if err := s.writeByRename(path, content); err != nil {
				return fmt.Errorf("indexing the name %s of %s on %s: %w", n, m.ID, network, err)
			}
		}
		return nil
	})
}

// dropNames removes r's entries, and the directories they leave empty,
// under its network's names lock.
func (s *Store) dropNames(r *Record) error {
	f, ok := r.Attachment()
	if !ok || f.Bridge == "" {
		return nil
	}
	id, network := r.ID(), f.Bridge
	return s.withLock(context.Background(), namesLock(network), func() error {
		for _, n := range recordNames(r, f) {
			path := s.nameEntry(network, n, id)
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			for dir := filepath.Dir(path); dir != s.IndexDir() && strings.HasPrefix(dir, s.IndexDir()); dir = filepath.Dir(dir) {
				if os.Remove(dir) != nil {
					break // not empty
				}
			}
		}
		return nil
	})
}

// writeByRename writes content to path through a new file renamed over
// it: a reader sees the old entry or the new one. Not synced: the index
// is not trusted after a power cut (see indexed).
func (s *Store) writeByRename(path, content string) error {
	dir := filepath.Dir(path)
	if err := s.indexDirs(dir, true); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(content)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// buildNames writes the entries of every object of recs that is up:
// BuildIndex's part, under the store's lock exclusive.
func (s *Store) buildNames(recs []*Record) error {
	for _, r := range recs {
		if m, network, ok := nameMember(r); ok {
			if err := s.putNames(network, m); err != nil {
				return err
			}
		}
	}
	return nil
}

// indexNamesUp and indexNamesDrop keep the names index with the journals.
// A names file that cannot be written leaves the index untrusted: the
// next command that takes the store's lock builds it again.
func (s *Store) indexNamesUp(r *Record) {
	m, network, ok := nameMember(r)
	if !ok {
		return
	}
	if err := s.putNames(network, m); err != nil {
		s.distrustIndex()
	}
}

func (s *Store) indexNamesDrop(r *Record) {
	if err := s.dropNames(r); err != nil {
		s.distrustIndex()
	}
}

func (s *Store) distrustIndex() {
	_ = os.Remove(s.IndexMark())
	s.index = nil
}
