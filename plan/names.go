package plan

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// The names index says, for each network, which names its attachments
// answer to and at which addresses: what a resolver of the network (the
// Compose issue's) reads, without reading every journal. A network's
// names are one file, index/names/NET, holding its members, each an
// object's ID, names and addresses:
//
//	{"version": 1, "members": [{"id": "container/web", "names": ["web", "www"],
//	  "addrs": ["10.88.0.2", "fd00:88::2"]}]}
//
// An object becomes a member when its journal first says it is up, and
// stops being one when its journal is removed (detach, down, rollback,
// recover, CNI DEL all remove journals through Store.Remove); BuildIndex
// writes every network's members again from the journals, which record
// the names (Record.Names). The file is rewritten whole, by rename, under
// the network's names lock (namesLock), so a reader needs no lock. Like
// the rest of the index it is a cache: nothing prints it.

// namesVersion is the version of a names file's JSON.
const namesVersion = 1

// NameMember is an object of a network, as the names index keeps it.
type NameMember struct {
	ID    string       `json:"id"` // kind/name of the object
	Names []string     `json:"names"`
	Addrs []netip.Addr `json:"addrs"`
}

type namesFile struct {
	Version int          `json:"version"`
	Members []NameMember `json:"members"`
}

func (l Layout) namesEntry(network string) string {
	return filepath.Join(l.indexDir(), "names", indexKey(network))
}

// Names are the names network's attachments answer to, each with its
// addresses (IPv4 first, then IPv6, as attached; a name several objects
// share has all of theirs, in the order of the objects' IDs). By the names
// index when there is one, else by reading the journals. A member whose
// journal is gone (a crash between the two) is left out.
func (s *Store) Names(network string) map[string][]netip.Addr {
	out := map[string][]netip.Addr{}
	for _, m := range s.NameMembers(network) {
		for _, n := range m.Names {
			out[n] = append(out[n], m.Addrs...)
		}
	}
	return out
}

// Lookup is the addresses name has on network: nil for none.
func (s *Store) Lookup(network, name string) []netip.Addr { return s.Names(network)[name] }

// NameMembers are network's members, by ID.
func (s *Store) NameMembers(network string) []NameMember {
	if s.indexed() {
		if f, err := s.readNames(network); err == nil {
			return slices.DeleteFunc(f.Members, func(m NameMember) bool {
				kind, name, _ := strings.Cut(m.ID, "/")
				_, err := os.Lstat(s.journal(kind, name))
				return errors.Is(err, fs.ErrNotExist)
			})
		}
	}
	recs, _ := s.Headers()
	var out []NameMember
	for _, r := range recs {
		if m, net, ok := nameMember(r); ok && net == network {
			out = append(out, m)
		}
	}
	return out
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

// recordNames are the names r's journal records; for a journal written
// before names were, the ones attach would have given it: a container's
// name, a runtime's container ID, a named namespace's name.
func recordNames(r *Record, f AttachmentFacts) []string {
	if r.Names != nil {
		return r.Names
	}
	switch {
	case r.Kind == "container":
		return []string{r.Name}
	case f.Runtime != nil:
		return []string{f.Runtime.ContainerID}
	case r.Target != nil && r.Target.Name != "":
		return []string{r.Target.Name}
	}
	return []string{}
}

// readNames reads network's names file: an empty one when there is none.
func (s *Store) readNames(network string) (namesFile, error) {
	var f namesFile
	path := s.namesEntry(network)
	if err := s.indexDirs(filepath.Dir(path), false); err != nil {
		return f, err
	}
	data, why, err := s.readTrusted(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return namesFile{Version: namesVersion}, nil
	case err != nil:
		return f, err
	case why != "":
		return f, fmt.Errorf("%s %s", path, why)
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return f, fmt.Errorf("reading %s: %w", path, err)
	}
	if f.Version != namesVersion {
		return f, fmt.Errorf("%s: version %d, this plumb reads %d", path, f.Version, namesVersion)
	}
	return f, nil
}

// writeNames writes network's names file whole, by rename (a reader sees
// the old one or the new one), or removes it, and the directories it
// leaves empty, when it has no member.
func (s *Store) writeNames(network string, f namesFile) error {
	path := s.namesEntry(network)
	if len(f.Members) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		_ = os.Remove(filepath.Dir(path)) // when empty
		return nil
	}
	slices.SortFunc(f.Members, func(a, b NameMember) int { return cmp.Compare(a.ID, b.ID) })
	f.Version = namesVersion
	data, err := json.Marshal(f)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := s.indexDirs(dir, true); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// changeNames applies change to network's names file under its lock.
func (s *Store) changeNames(network string, change func(*namesFile) bool) error {
	return s.withLock(context.Background(), namesLock(network), func() error {
		f, err := s.readNames(network)
		if err != nil {
			// A file that cannot be read is a cache: written again from
			// the journals by the next rebuild, until then replaced.
			f = namesFile{Version: namesVersion}
		}
		if !change(&f) {
			return nil
		}
		return s.writeNames(network, f)
	})
}

// putNames makes r a member of its network, once its journal says it is
// up (the index is kept).
func (s *Store) putNames(r *Record) error {
	m, network, ok := nameMember(r)
	if !ok {
		return nil
	}
	return s.changeNames(network, func(f *namesFile) bool {
		i := slices.IndexFunc(f.Members, func(o NameMember) bool { return o.ID == m.ID })
		switch {
		case i < 0:
			f.Members = append(f.Members, m)
		case slices.Equal(f.Members[i].Names, m.Names) && slices.Equal(f.Members[i].Addrs, m.Addrs):
			return false
		default:
			f.Members[i] = m
		}
		return true
	})
}

// dropNames removes r from its network's members, once its journal is
// gone.
func (s *Store) dropNames(r *Record) error {
	f, ok := r.Attachment()
	if !ok || f.Bridge == "" {
		return nil
	}
	id := r.ID()
	return s.changeNames(f.Bridge, func(f *namesFile) bool {
		n := len(f.Members)
		f.Members = slices.DeleteFunc(f.Members, func(m NameMember) bool { return m.ID == id })
		return len(f.Members) != n
	})
}

// buildNames writes every network's names from recs, each file once:
// BuildIndex's part, under the store's lock exclusive.
func (s *Store) buildNames(recs []*Record) error {
	byNet := map[string][]NameMember{}
	for _, r := range recs {
		if m, network, ok := nameMember(r); ok {
			byNet[network] = append(byNet[network], m)
		}
	}
	for network, ms := range byNet {
		if err := s.withLock(context.Background(), namesLock(network), func() error {
			return s.writeNames(network, namesFile{Members: ms})
		}); err != nil {
			return fmt.Errorf("indexing the names of %s: %w", network, err)
		}
	}
	return nil
}

// names are an attachment's names on its network: its Name (or the name
// attach gives it: its named namespace's, or its runtime's container ID),
// then its aliases, each once.
func (a *Attach) names() []string {
	name := a.Name
	switch {
	case name != "":
	case a.Runtime != nil:
		name = a.Runtime.ContainerID
	case a.Target.Name != "":
		name = a.Target.Name
	}
	out := []string{}
	for _, n := range append([]string{name}, a.Aliases...) {
		if n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// indexNamesUp and indexNamesDrop keep the names index with the journals.
// A names file that cannot be written leaves the index untrusted: the
// next command that takes the store's lock builds it again.
func (s *Store) indexNamesUp(r *Record) {
	if err := s.putNames(r); err != nil {
		s.distrustIndex()
	}
}

func (s *Store) indexNamesDrop(r *Record) {
	if err := s.dropNames(r); err != nil {
		s.distrustIndex()
	}
}

func (s *Store) distrustIndex() {
	_ = os.Remove(s.indexMark())
	s.index = nil
}

// checkAliases refuses aliases of an object on no network, or that
// checkAlias refuses.
func checkAliases(aliases []string, onNetwork bool) error {
	if !onNetwork && len(aliases) > 0 {
		return refuse("alias", "a name is answered on a bridge; give --net BRIDGE")
	}
	for _, n := range aliases {
		if err := checkAlias(n); err != nil {
			return err
		}
	}
	return nil
}

// checkAlias refuses a name no resolver could answer: an alias is a DNS
// name (RFC 1123 labels of letters, digits, '-' and '_', as Docker's are,
// joined by dots), at most 253 bytes.
func checkAlias(n string) error {
	bad := func(why string) error { return refuse("alias", "%q is not a name a resolver answers: %s", n, why) }
	if n == "" || len(n) > 253 {
		return bad("it has 1 to 253 bytes")
	}
	for _, label := range strings.Split(n, ".") {
		if label == "" || len(label) > 63 {
			return bad("each dot-separated part has 1 to 63 bytes")
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return bad("no part starts or ends with '-'")
		}
		for _, c := range []byte(label) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return bad("only letters, digits, '-', '_' and dots")
			}
		}
	}
	return nil
}
