package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// The index finds, among thousands of objects, what one call needs without
// reading every journal: which addresses of a bridge are given out, whether
// a container is attached to it already, who publishes a host port, which
// plans did not end. A kubelet calls ADD once per pod; reading a thousand
// journals for each (about 20 ms, and 150 ms and more on a busy host) made
// every call slower than the last. Each entry is a small file named by what
// is looked up, holding the ID of the object it belongs to:
//
//	index/v1                       the index is complete: built once, under
//	                               the lock, from every journal; from then on
//	                               every save and remove keeps it
//	index/bridge/BR/ip-ADDR        an address of bridge BR given out
//	index/bridge/BR/target-KEY     a container attached to BR, by its target
//	index/port/PROTO-PORT          a host port published
//	index/unfinished/KIND=NAME     an object whose plan has not ended
//
// An entry is written before its journal and removed after it, so no
// journal lacks its entries; an entry whose journal is gone (a crash
// between the two) is stale: it is read as absent, except that its address
// is not given out again until `plumb recover` rebuilds the index.
// Without index/v1 (a state directory of an older plumb, or one whose
// journals could not all be read), everything is found by reading the
// journals, as before.
func (l Layout) IndexDir() string { return filepath.Join(l.Dir, "index") }

// IndexMark is the file that says the index is complete.
func (l Layout) IndexMark() string { return filepath.Join(l.IndexDir(), "v1") }

// BridgeIndex is the directory of a bridge's entries.
func (l Layout) BridgeIndex(bridge string) string {
	return filepath.Join(l.IndexDir(), "bridge", IndexKey(bridge))
}

func (l Layout) portEntry(proto string, port uint16) string {
	return filepath.Join(l.IndexDir(), "port", fmt.Sprintf("%s-%d", IndexKey(proto), port))
}

func (l Layout) unfinishedEntry(kind, name string) string {
	return filepath.Join(l.IndexDir(), "unfinished", IndexKey(kind+"="+name))
}

// IndexKey is s as one file name: escaped, or hashed when too long.
func IndexKey(s string) string {
	k := url.PathEscape(s)
	if len(k) > 200 || k == "." || k == ".." {
		sum := sha256.Sum256([]byte(s))
		return "h-" + hex.EncodeToString(sum[:])
	}
	return k
}

// entries are the index entries of r's facts (not its unfinished mark), as
// its kind says; none when they cannot be read.
func (l Layout) entries(r *Record) []string {
	ix, ok := capability[Indexed](r)
	if !ok {
		return nil
	}
	f, err := r.Facts()
	if err != nil {
		return nil
	}
	return ix.IndexEntries(l, f)
}

// Indexed reports whether the index is complete and current: index/v1
// is there, trusted, written since this boot (an index on a disk that lost
// entries to a power cut is not trusted again), and no journal directory
// changed after it (journals written by a plumb that keeps no index, an
// older one on the same state directory, or a crash between a journal and
// the mark: every indexed save and remove touches the mark after its
// journal). Otherwise everything is found by reading the journals, and
// BuildIndex, under the lock, builds the index again.
func (s *Store) Indexed() bool {
	if s.index == nil {
		ok := s.indexCurrent()
		s.index = &ok
	}
	return *s.index
}

func (s *Store) indexCurrent() bool {
	if s.indexDirs(s.IndexDir(), false) != nil {
		return false
	}
	data, why, err := s.readTrusted(s.IndexMark())
	if err != nil || why != "" || string(data) != indexMarkText() {
		return false
	}
	mark, err := os.Lstat(s.IndexMark())
	if err != nil {
		return false
	}
	kinds, err := os.ReadDir(s.objects())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false
	}
	for _, k := range kinds {
		fi, err := os.Lstat(filepath.Join(s.objects(), k.Name()))
		if err != nil || fi.ModTime().After(mark.ModTime()) {
			return false
		}
	}
	return true
}

// indexMarkText is what index/v1 holds: its version and this boot's ID.
func indexMarkText() string {
	boot, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	return "plumb index v1\nboot " + strings.TrimSpace(string(boot)) + "\n"
}

// touchIndex marks the index current after a journal written or removed.
func (s *Store) touchIndex() {
	now := time.Now()
	if os.Chtimes(s.IndexMark(), now, now) != nil {
		s.index = nil // look again
	}
}

// BuildIndex builds the index from every journal, from nothing (what a
// crashed build or an older plumb left goes): it needs the store's lock
// exclusive (see lock.go), as no other plumb may write an entry meanwhile. Journals
// that cannot be read leave it unbuilt (their addresses and ports are
// unknown), and everything is found by reading the journals instead.
func (s *Store) BuildIndex() error {
	if !s.exclusive() || s.Indexed() {
		return nil
	}
	recs, errs := s.Headers()
	if len(errs) > 0 {
		return nil
	}
	if err := os.RemoveAll(s.IndexDir()); err != nil {
		return err
	}
	s.put = nil
	for _, r := range recs {
		if err := s.indexPut(r); err != nil {
			return err
		}
	}
	if err := s.buildNames(recs); err != nil {
		return err
	}
	if err := s.WriteEntry(s.IndexMark(), indexMarkText()); err != nil {
		return err
	}
	ok := true
	s.index = &ok
	return nil
}

// RebuildIndex drops the index and builds it again from the journals:
// what recover does, so that stale entries go.
func (s *Store) RebuildIndex() error {
	if !s.exclusive() {
		return nil
	}
	if err := os.RemoveAll(s.IndexDir()); err != nil {
		return err
	}
	s.index, s.put = nil, nil
	return s.BuildIndex()
}

// indexDirs checks every directory from the index's down to dir, made
// 0700 where missing with create: none may be a symbolic link or another
// user's, as for the journals' (Store).
func (s *Store) indexDirs(dir string, create bool) error {
	rel, err := filepath.Rel(s.Dir, dir)
	if err != nil || strings.HasPrefix(rel, "..") {
		return fmt.Errorf("%s is not in the state directory", dir)
	}
	p := s.Dir
	for _, part := range strings.Split(rel, string(filepath.Separator)) {
		p = filepath.Join(p, part)
		why, err := s.CheckDir(p, create)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && !create {
				return nil
			}
			return err
		}
		if why != "" {
			return fmt.Errorf("%s %s", p, why)
		}
	}
	return nil
}

// indexPut writes r's entries, and its unfinished mark unless it is up,
// before its journal is written.
func (s *Store) indexPut(r *Record) error {
	id := r.ID()
	if s.put == nil {
		s.put = map[string]bool{}
	}
	if !s.put[id] {
		for _, e := range s.entries(r) {
			if err := s.WriteEntry(e, id); err != nil {
				return err
			}
		}
		s.put[id] = true
	}
	if r.State != StateUp {
		return s.WriteEntry(s.unfinishedEntry(r.Kind, r.Name), id)
	}
	return nil
}

// indexUp drops r's unfinished mark once its journal says it is up, and
// gives its names on its network (see names.go).
func (s *Store) indexUp(r *Record) {
	s.dropEntry(s.unfinishedEntry(r.Kind, r.Name), r.ID())
	s.indexNamesUp(r)
}

// indexDrop removes r's entries once its journal is gone.
func (s *Store) indexDrop(r *Record) {
	id := r.ID()
	for _, e := range s.entries(r) {
		s.dropEntry(e, id)
	}
	s.dropEntry(s.unfinishedEntry(r.Kind, r.Name), id)
	delete(s.put, id)
	s.indexNamesDrop(r)
}

// WriteEntry writes an entry holding id, unless it holds it already.
func (s *Store) WriteEntry(path, id string) error {
	if holder, ok := s.Entry(path); ok && holder == id {
		return nil
	}
	if err := s.indexDirs(filepath.Dir(path), true); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteString(id)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// dropEntry removes an entry if it is id's, and the directories it leaves
// empty, so an index with nothing in it is index/v1 alone, whatever it held
// before.
func (s *Store) dropEntry(path, id string) {
	if holder, ok := s.Entry(path); ok && holder == id {
		_ = os.Remove(path)
		for dir := filepath.Dir(path); dir != s.IndexDir() && strings.HasPrefix(dir, s.IndexDir()); dir = filepath.Dir(dir) {
			if os.Remove(dir) != nil {
				break // not empty
			}
		}
	}
}

// Entry is the ID an entry holds.
func (s *Store) Entry(path string) (string, bool) {
	data, why, err := s.readTrusted(path)
	if err != nil || why != "" {
		return "", false
	}
	return string(data), true
}

// Holder loads the object an entry names, if it is still what the entry
// says (match): false for none. An entry whose object is gone, or is
// another object of the same ID (a crash left the entry, and a retried
// ADD made the object again with another address), is stale: it is
// dropped, when this process holds the store's lock exclusive, or holds
// it shared and nobody holds the object's lock (an entry is written
// before its journal, under the object's lock: see lock.go).
func (s *Store) Holder(path string, match func(*Record) bool) (*Record, bool) {
	id, ok := s.Entry(path)
	if !ok {
		return nil, false
	}
	kind, name, ok := strings.Cut(id, "/")
	if !ok {
		return nil, false
	}
	r, err := s.Load(kind, name)
	if err == nil && match(r) {
		return r, true
	}
	if (s.exclusive() || s.lock != nil && !s.busy(kind, name)) && (err == nil || errors.Is(err, fs.ErrNotExist)) {
		s.dropEntry(path, id)
	}
	return nil, false
}

// Matchers of the entries: is r still what the entry says?
func HasAddr(bridge string, ip netip.Addr) func(*Record) bool {
	return func(r *Record) bool {
		f, ok := r.Attachment()
		return ok && f.Bridge == bridge && (f.IP == ip || f.IP6 == ip)
	}
}

func hasTarget(bridge, target string) func(*Record) bool {
	return func(r *Record) bool { f, ok := r.Attachment(); return ok && f.Bridge == bridge && f.Target == target }
}

func hasPort(proto string, port uint16) func(*Record) bool {
	return func(r *Record) bool {
		f, ok := r.Attachment()
		for _, p := range f.Ports {
			if ok && p.Proto == proto && p.Host == port {
				return true
			}
		}
		return false
	}
}

func unfinishedRec(r *Record) bool { return r.State != StateUp }

// SweepAddrs drops the stale address entries of bridge: what allocation
// does before it says a range is full.
func (s *Store) SweepAddrs(bridge string) {
	dir := s.BridgeIndex(bridge)
	names, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, n := range names {
		if a, ok := strings.CutPrefix(n.Name(), "ip-"); ok {
			if ip, err := netip.ParseAddr(a); err == nil {
				s.Holder(filepath.Join(dir, n.Name()), HasAddr(bridge, ip))
			}
		}
	}
}

// BridgeAddrs are the addresses of bridge given out, by the index; false
// when there is no index to ask.
func (s *Store) BridgeAddrs(bridge string) (map[netip.Addr]string, bool) {
	if !s.Indexed() || s.indexDirs(s.BridgeIndex(bridge), false) != nil {
		return nil, false
	}
	names, err := os.ReadDir(s.BridgeIndex(bridge))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, false
	}
	out := map[netip.Addr]string{}
	for _, n := range names {
		if a, ok := strings.CutPrefix(n.Name(), "ip-"); ok {
			if ip, err := netip.ParseAddr(a); err == nil {
				out[ip] = "another object (index entry " + n.Name() + ")"
			}
		}
	}
	return out, true
}

// AttachedAs is the object that attached target to bridge, by the index.
// known is false when there is no index to ask.
func (s *Store) AttachedAs(bridge, target string) (r *Record, found, known bool) {
	if !s.Indexed() {
		return nil, false, false
	}
	r, found = s.Holder(filepath.Join(s.BridgeIndex(bridge), "target-"+IndexKey(target)), hasTarget(bridge, target))
	return r, found, true
}

// Publisher is the object that publishes host port proto/port, by the
// index. known is false when there is no index to ask.
func (s *Store) Publisher(proto string, port uint16) (r *Record, found, known bool) {
	if !s.Indexed() {
		return nil, false, false
	}
	r, found = s.Holder(s.portEntry(proto, port), hasPort(proto, port))
	return r, found, true
}

// unfinished are the objects whose plan has not ended, by the index; false
// when there is no index to ask.
func (s *Store) unfinished() ([]*Record, bool) {
	if !s.Indexed() {
		return nil, false
	}
	dir := filepath.Join(s.IndexDir(), "unfinished")
	if s.indexDirs(dir, false) != nil {
		return nil, false
	}
	names, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, false
	}
	var out []*Record
	for _, n := range names {
		if r, ok := s.Holder(filepath.Join(dir, n.Name()), unfinishedRec); ok {
			out = append(out, r)
		}
	}
	return out, true
}

// SkipIndex makes s read the journals alone for what it would look up in
// the index, as a plumb does that finds no index: tests hold the two to
// the same answers.
func (s *Store) SkipIndex() { s.index = new(bool) }
