package plan

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"plumb/actions"
)

// Store is plumb's state directory: one journal file per object, the ledger
// of shared host settings, and the lock that keeps two plumb processes from
// interleaving.
//
// plumb runs the undos its journals record, as root: whoever can write a
// journal can have it run any command. So it trusts its state directory
// only when no other user can write there: the directory, its parents,
// objects/ and objects/KIND/ must belong to the user running plumb (or to
// root) and be writable by no one else (a parent may be, with the sticky
// bit, as /tmp is); the lock, the ledger and every journal must be regular
// files of that user, writable by no one else, with one link, and are
// opened without following a symbolic link. What plumb creates there it
// creates 0700 (directories) and 0600 (files), and taking the lock closes
// a state directory other users could enter (closeDirs): the layers in it
// hold setuid files and device nodes. What fails this is refused,
// named, and never read; a journal that fails it in a listing is named
// like an unreadable one (CorruptError) and never undone.
type Store struct {
	Layout
	// lock is the store's lock when this process holds it, shared with
	// lockShared; held are the others it holds, in the lock order, and
	// wait how long a lock is waited for (see lock.go).
	lock       *os.File
	lockShared bool
	held       []heldLock
	wait       time.Duration
	// headers caches Headers until this process writes a journal: one
	// command reads every header once, not once per check.
	headers []*Record
	hdrErrs []error
	// uid is the user plumb runs as: the one, besides root, it trusts.
	uid int
	// rootTrusted is set once the state directory and its parents were
	// checked: only their owners, whom plumb trusts, could change that;
	// dataTrusted once the root (--root) and its parents were.
	rootTrusted bool
	dataTrusted bool
	// dirs are the directories under it found trusted (see trustedDir).
	dirsMu sync.Mutex
	dirs   map[string]bool
	// write writes a journal's bytes to its new file: f.Write, or in
	// tests a stand-in for a full disk.
	write func(f *os.File, data []byte) (int, error)
	// index: whether index/v1 is there (nil: not looked yet); put: the
	// objects whose entries this process wrote (see index.go).
	index *bool
	put   map[string]bool
	// decoded is, by object, the facts its last record read decoded, with
	// their JSON: a record read again with the same facts takes them
	// rather than decode them again.
	decodedMu sync.Mutex
	decoded   map[string]*decodedFacts
}

// shareDecoded gives r the facts an earlier read of its object decoded,
// when its facts are the same bytes, and keeps r's for the next read.
func (s *Store) shareDecoded(r *Record) {
	if r.FactsJSON == nil {
		return
	}
	s.decodedMu.Lock()
	defer s.decodedMu.Unlock()
	id := r.ID()
	if d := s.decoded[id]; d != nil && d.facts != nil && bytes.Equal(d.from, r.FactsJSON) {
		r.decoded = decodedFacts{from: r.FactsJSON, facts: d.facts}
	}
	if s.decoded == nil {
		s.decoded = map[string]*decodedFacts{}
	}
	s.decoded[id] = &r.decoded
}

// NewStore returns the store in state directory dir, which holds its root
// too (as a plumb before --root kept it); nothing is touched until used.
func NewStore(dir string) *Store { return NewStoreAt(dir, "") }

// NewStoreAt returns the store in state directory dir with its root at
// root ("": in dir); nothing is touched until used.
func NewStoreAt(dir, root string) *Store {
	return &Store{Layout: Layout{Dir: dir, Root: root}, uid: os.Geteuid()}
}

// Lock takes the state directory's lock exclusive, waiting up to wait for
// other plumb processes to finish: what a command that works on the whole
// store holds (see lock.go). Past that it names the holder and gives up.
// It makes the state directory (0700) and objects/ when they are missing,
// and refuses a state directory, or a lock, that it does not trust.
func (s *Store) Lock(ctx context.Context, wait time.Duration) error {
	if s.lock != nil {
		if s.lockShared {
			return fmt.Errorf("plumb holds the state directory's lock shared and would take it exclusive: a lock is never upgraded")
		}
		return nil // this process holds it already
	}
	return s.takeStore(ctx, wait, false)
}

// sweepTemps deletes, in dir, the temporary files of journals and of the
// ledger (.NAME.json.tmp-*) among names (dir's entries) that a plumb
// killed while writing one left, when this process holds the lock: every
// write happens under it, so none is being written. It runs where the
// entries are read anyway (journals), costing no read of its own; one
// that cannot be deleted is left for the next time: it holds nothing
// plumb reads.
func (s *Store) sweepTemps(dir string, names []fs.DirEntry) {
	if !s.exclusive() {
		return
	}
	for _, e := range names {
		if isTemp(e.Name()) && e.Type().IsRegular() {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// isTemp reports whether name is one of writeAtomic's temporary files.
func isTemp(name string) bool {
	return strings.HasPrefix(name, ".") && strings.Contains(name, ".json.tmp-")
}

// layoutDirs are the directories plumb keeps layers and overlays in, right
// under the root, and those a plumb before --root kept in the state
// directory.
func (l Layout) layoutDirs() []string {
	dirs := []string{l.layersDir(), l.overlaysDir(), l.ImageDir()}
	if l.Split() {
		old := l.Legacy()
		dirs = append(dirs, old.layersDir(), old.overlaysDir(), old.ImageDir())
	}
	return dirs
}

// ownNames are the entries plumb makes in its state directory (layers,
// overlay and image: a plumb before --root made them there; runtime: the
// OCI runtime's state; dns: resolvers' PID files; compose: projects'
// journals; cache: seccomp filters crun compiled); lost+found is there
// when the state directory is a file system of its own.
var ownNames = map[string]bool{"lock": true, "locks": true, "shared.json": true, "objects": true, "index": true,
	"layers": true, "overlay": true, "image": true, "lost+found": true, "runtime": true, "dns": true, "compose": true,
	"cache": true, "sandbox": true}

// rootNames are the entries plumb makes in its root.
var rootNames = map[string]bool{"layers": true, "overlay": true, "image": true, "lost+found": true, "sandbox": true}

// othersCanEnter reports whether users other than the owner and root can
// enter or list the directory fi: any bit for others, or for a group that
// is not root's (0710 and 0750 with group root are closed, as Docker's
// /var/lib/docker is).
func othersCanEnter(fi fs.FileInfo) bool {
	perm := fi.Mode().Perm()
	if perm&0o007 != 0 {
		return true
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return perm&0o070 != 0 && (!ok || st.Gid != 0)
}

// closeDirs makes sure that no other user can enter the state directory,
// the root, nor the directories of layers and overlays in them (made by
// an older plumb, or by an admin's `mkdir /var/lib/plumb`, 0755): through
// them any local user could run an image's setuid-root file or open its
// device nodes.
//
// A state directory (or root) plumb could have made (it holds nothing but
// plumb's own entries) is tightened to 0700, with a warning naming its old mode
// and its new one: it is plumb's, and an admin who made it 0755 meant it
// for plumb. One that holds anything else is refused and left alone: it
// is not plumb's alone (--state-dir /var/lib, say), and taking others'
// access to it would break what else lives there. The layout directories
// are always plumb's, and are tightened.
func (s *Store) closeDirs(ctx context.Context) error {
	if err := s.closeTop(ctx, s.Dir, "state-dir", "state directory", ownNames, false); err != nil {
		return err
	}
	// A root that is not trusted is left alone here: what uses it refuses it.
	if s.Split() && s.TrustRoot(false) == nil {
		if err := s.closeTop(ctx, s.RootDir(), "root", "root", rootNames, true); err != nil {
			return err
		}
	}
	for _, d := range s.layoutDirs() {
		fi, err := os.Lstat(d)
		if err != nil || !fi.IsDir() || !othersCanEnter(fi) {
			continue // missing, or not a directory: what uses it says so
		}
		if err := s.tighten(ctx, d, fi, "state-dir", "directory"); err != nil {
			return err
		}
	}
	return nil
}

// closeTop is closeDirs for the state directory or the root, dir (flag
// and what name it), whose own entries are own: a missing one is left to
// what makes it when missing is set.
func (s *Store) closeTop(ctx context.Context, dir, flag, what string, own map[string]bool, missing bool) error {
	fi, err := os.Stat(dir)
	if missing && errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return &Refused{Flag: flag, Msg: fmt.Sprintf("%s %s cannot be read: %v", what, dir, err)}
	}
	if !othersCanEnter(fi) {
		return nil
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return &Refused{Flag: flag, Msg: fmt.Sprintf("%s %s cannot be read: %v", what, dir, err)}
	}
	var others []string
	for _, e := range ents {
		if !own[e.Name()] && !isTemp(e.Name()) {
			others = append(others, e.Name())
		}
	}
	if len(others) > 0 {
		if len(others) > 3 {
			others = append(others[:3], fmt.Sprintf("and %d more", len(others)-3))
		}
		return &Refused{Flag: flag, Msg: fmt.Sprintf("%s %s is mode %04o: other users can enter it, and could run the setuid files and open the device nodes of the layers plumb keeps there; it holds what plumb does not make (%s), so plumb leaves its mode alone: make it 0700 (chmod 700 %s), or give a --%s of plumb's own",
			what, dir, fi.Mode().Perm(), strings.Join(others, ", "), actions.Quote([]string{dir}), flag)}
	}
	return s.tighten(ctx, dir, fi, flag, what)
}

// tighten takes every permission of group and others from dir (what, as
// a message names it, and flag, the flag that gave it), saying so.
func (s *Store) tighten(ctx context.Context, dir string, fi fs.FileInfo, flag, what string) error {
	mode := fi.Mode().Perm() &^ 0o077
	if err := os.Chmod(dir, mode|fi.Mode()&(fs.ModeSetgid|fs.ModeSticky)); err != nil {
		return &Refused{Flag: flag, Msg: fmt.Sprintf("%s %s is mode %04o, which other users can enter; making it %04o failed: %v", what, dir, fi.Mode().Perm(), mode, err)}
	}
	zerolog.Ctx(ctx).Warn().Msgf("%s %s was mode %04o, which let other users enter it and run the setuid files of the layers kept there; plumb made it %04o", what, dir, fi.Mode().Perm(), mode)
	return nil
}

// Unlock releases every lock this process holds (Lock's, LockFor's), the
// last in the order first.
func (s *Store) Unlock() {
	for i := len(s.held) - 1; i >= 0; i-- {
		unlockFile(s.held[i].f, !s.held[i].Shared)
	}
	s.held = nil
	if s.lock == nil {
		return
	}
	unlockFile(s.lock, !s.lockShared)
	s.lock, s.lockShared = nil, false
}

// Load reads one object's journal. It returns an error wrapping
// os.ErrNotExist when plumb keeps no such object.
func (s *Store) Load(kind, name string) (*Record, error) {
	if err := checkName(kind, name); err != nil {
		return nil, err
	}
	if err := s.TrustDirs(kind, false); err != nil {
		return nil, err
	}
	r, err := s.readRecord(s.Journal(kind, name))
	if err == nil {
		s.own(r)
		s.shareDecoded(r)
	}
	return r, err
}

// own makes r, read from this store, read the files its facts keep
// beside its journal from it.
func (s *Store) own(r *Record) *Record {
	r.beside = s.besideReader(r.Kind, r.Name)
	return r
}

// LoadHeader reads one journal's header (see Headers): its kind, name,
// state, summary and details, trusted as Load's, without decoding and
// checking its steps, which a reader of its facts alone does not need.
func (s *Store) LoadHeader(kind, name string) (*Record, error) {
	if err := checkName(kind, name); err != nil {
		return nil, err
	}
	if err := s.TrustDirs(kind, false); err != nil {
		return nil, err
	}
	path := s.Journal(kind, name)
	data, err := s.readJournal(path)
	if err != nil {
		return nil, err
	}
	r, err := decodeHeader(data)
	if err != nil {
		return nil, &CorruptError{Path: path, Err: err}
	}
	s.own(r)
	s.shareDecoded(r)
	return r, nil
}

// List reads every journal in the store. Journals that cannot be read or
// trusted are returned as errors naming their path, never skipped
// silently.
func (s *Store) List() ([]*Record, []error) {
	files, errs := s.journals()
	var recs []*Record
	for _, f := range files {
		r, err := s.readRecord(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed since it was listed: that object is gone
		}
		if err != nil {
			errs = append(errs, asCorrupt(f, err))
			continue
		}
		recs = append(recs, s.own(r))
	}
	return recs, errs
}

// Headers reads every journal's kind, name, state, summary and details, but
// not its steps: what listings, address allocation and lookups need, without
// decoding and checking every step of every object (which made each command
// slower as containers were added). Anything that undoes loads the journal
// whole, checked. Journals that cannot be read or trusted are returned as
// errors, as List does.
func (s *Store) Headers() ([]*Record, []error) {
	if s.headers != nil {
		return s.headers, s.hdrErrs
	}
	files, errs := s.journals()
	// Read on every CPU, each reader with its buffer: decoding JSON is
	// most of a listing's time (half of it with a thousand journals).
	type header struct {
		r   *Record
		err error
	}
	read := make([]header, len(files))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), 1+len(files)/64) {
		wg.Go(func() {
			var buf []byte
			for i := int(next.Add(1) - 1); i < len(files); i = int(next.Add(1) - 1) {
				read[i].r, buf, read[i].err = s.readHeader(files[i], buf[:0])
			}
		})
	}
	wg.Wait()
	var recs []*Record
	for i, h := range read {
		if errors.Is(h.err, fs.ErrNotExist) {
			continue // removed since it was listed: that object is gone
		}
		if h.err != nil {
			errs = append(errs, asCorrupt(files[i], h.err))
			continue
		}
		recs = append(recs, s.own(h.r))
	}
	if recs == nil {
		recs = []*Record{}
	}
	s.headers, s.hdrErrs = recs, errs
	return recs, errs
}

// readHeader reads the header of the journal at path (see Headers), into
// buf, which it gives back for the next: one buffer for every journal, and
// read only as far as the steps, which plumb writes last. A thousand
// journals (a container's is 20 KB, most of it steps) cost a thousand
// buffers and every step's bytes before. The journal is trusted first, as
// readJournal trusts it; a header that does not decode on its own is
// decoded from the whole journal. A journal that cannot be decoded is a
// CorruptError.
func (s *Store) readHeader(path string, buf []byte) (*Record, []byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		if isLink(path) {
			return nil, buf, &CorruptError{Path: path, Err: s.distrusted("is a symbolic link"), untrusted: true}
		}
		return nil, buf, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, buf, err
	}
	if why := s.distrust(fi, false); why != "" {
		return nil, buf, &CorruptError{Path: path, Err: s.distrusted(why), untrusted: true}
	}
	const chunk = 8 << 10
	atSteps := false
	for !atSteps {
		if cap(buf)-len(buf) < chunk/2 {
			buf = slices.Grow(buf, chunk)
		}
		from := max(0, len(buf)-len(stepsKey))
		n, err := f.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		atSteps = bytes.Contains(buf[from:], stepsKey)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, buf, err
		}
	}
	if atSteps {
		if r, ok := decodeHead(buf); ok {
			return r, buf, nil
		}
		rest, err := io.ReadAll(f)
		if err != nil {
			return nil, buf, err
		}
		buf = append(buf, rest...)
	}
	r, err := decodeHeader(buf)
	if err != nil {
		return nil, buf, &CorruptError{Path: path, Err: err}
	}
	return r, buf, nil
}

// journals lists the journal files (objects/KIND/NAME.json), sorted, once
// the directories that hold them are trusted. A kind's directory that is
// not is an error naming it, and none of its journals is listed.
func (s *Store) journals() ([]string, []error) {
	if err := s.TrustDirs("", false); err != nil {
		return nil, []error{err}
	}
	if s.exclusive() {
		// The ledger's temporary files, beside it.
		if ents, err := os.ReadDir(s.Dir); err == nil {
			s.sweepTemps(s.Dir, ents)
		}
	}
	kinds, err := os.ReadDir(s.objects())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, []error{fmt.Errorf("listing %s: %w", s.objects(), err)}
	}
	var files []string
	var errs []error
	for _, k := range kinds {
		if !k.IsDir() && k.Type()&fs.ModeSymlink == 0 {
			continue // a stray file: it holds no journals
		}
		dir := filepath.Join(s.objects(), k.Name())
		if why, err := s.CheckDir(dir, false); why != "" || err != nil {
			if why != "" {
				err = s.distrusted(why)
			}
			errs = append(errs, &CorruptError{Path: dir, Err: err, dir: true, untrusted: why != ""})
			continue
		}
		names, err := os.ReadDir(dir)
		if err != nil {
			errs = append(errs, &CorruptError{Path: dir, Err: err, dir: true})
			continue
		}
		s.sweepTemps(dir, names)
		s.sweepOrphans(dir, names)
		for _, n := range names {
			if strings.HasSuffix(n.Name(), ".json") {
				files = append(files, filepath.Join(dir, n.Name()))
			}
		}
	}
	sort.Strings(files)
	return files, errs
}

// asCorrupt is err, a journal's that cannot be read, as a CorruptError
// naming path.
func asCorrupt(path string, err error) error {
	var ce *CorruptError
	if errors.As(err, &ce) {
		return err
	}
	return &CorruptError{Path: path, Err: err}
}

// stepsKey is where a journal's steps start: plumb writes them last, as a
// top-level key indented by two spaces (a JSON string cannot hold a raw
// newline, so no value can look like it).
var stepsKey = []byte("\n  \"steps\": ")

// decodeHeader decodes a journal's fields before its steps: the cost of a
// header does not grow with the steps (scanning them made every command
// slower as containers were added). A journal written otherwise (by hand,
// fields in another order) is decoded whole.
func decodeHeader(data []byte) (*Record, error) {
	if r, ok := decodeHead(data); ok {
		return r, nil
	}
	var r Record
	var whole struct {
		Record
		Steps json.RawMessage `json:"steps"` // shadows Record.Steps: left undecoded
	}
	if err := json.Unmarshal(data, &whole); err != nil {
		return nil, err
	}
	if r = whole.Record; r.FormatVersion != FormatVersion || r.Kind == "" {
		return nil, fmt.Errorf("format version %d or kind missing", r.FormatVersion)
	}
	return &r, nil
}

// decodeHead decodes the fields of a journal written by plumb before its
// steps (data may end anywhere after the steps' key); false when data is
// not so written, or its header does not decode as this plumb's.
func decodeHead(data []byte) (*Record, bool) {
	i := bytes.Index(data, stepsKey)
	if i <= 0 {
		return nil, false
	}
	head, ok := bytes.CutSuffix(bytes.TrimRight(data[:i], " \n"), []byte(","))
	if !ok {
		return nil, false
	}
	// A copy, closed by '}': appending to data itself wrote '}' over its
	// ',', and a whole decode after a failed one read that.
	var r Record
	if err := json.Unmarshal(append(slices.Clip(head), '}'), &r); err != nil || r.FormatVersion != FormatVersion || r.Kind == "" {
		return nil, false
	}
	return &r, true
}

// Save writes a journal atomically: a reader sees the old file or the new
// one, never a mix, even after power loss.
func (s *Store) Save(r *Record) error {
	if err := checkName(r.Kind, r.Name); err != nil {
		return err
	}
	r.Updated = time.Now().UTC()
	r.upgradeFacts()
	if err := s.TrustDirs(r.Kind, true); err != nil {
		s.headers = nil
		return err
	}
	beside, known, err := s.saveBeside(r)
	if err != nil {
		return fmt.Errorf("writing %s's facts beside its journal: %w", r.ID(), err)
	}
	data, err := r.journalJSON()
	if err != nil {
		return fmt.Errorf("encoding %s: %w", r.ID(), err)
	}
	indexed := s.Indexed()
	if indexed {
		if err := s.indexPut(r); err != nil {
			return fmt.Errorf("indexing %s: %w", r.ID(), err)
		}
	}
	if err := s.writeBytes(s.Journal(r.Kind, r.Name), append(data, '\n')); err != nil {
		s.headers = nil
		return err
	}
	if indexed {
		if r.State == StateUp {
			s.indexUp(r)
		}
		s.touchIndex()
	}
	if known && r.State == StateUp && r.Updating == nil {
		s.sweepBeside(r.Kind, r.Name, beside)
	}
	if r.beside == nil {
		s.own(r)
	}
	h := *r
	h.Steps = nil
	s.cacheHeader(&h, false)
	return nil
}

// cacheHeader puts a journal just written (or, with gone, removed) into the
// headers already read, where they are: a command that writes a journal
// and then lists them (an attach allocates, then checks) reads each of a
// thousand journals once, not once before and once after.
func (s *Store) cacheHeader(h *Record, gone bool) {
	if s.headers == nil {
		return
	}
	// In the order of journals(): by path, kind/NAME.json.
	i, found := slices.BinarySearchFunc(s.headers, h, func(a, b *Record) int {
		return cmp.Or(strings.Compare(a.Kind, b.Kind), strings.Compare(a.Name+".json", b.Name+".json"))
	})
	switch {
	case found && gone:
		s.headers = slices.Delete(s.headers, i, i+1)
	case found:
		s.headers[i] = h
	case !gone:
		s.headers = slices.Insert(s.headers, i, h)
	}
}

// Remove deletes an object's journal once nothing of it is left.
func (s *Store) Remove(r *Record) error {
	if err := checkName(r.Kind, r.Name); err != nil {
		return err
	}
	err := os.Remove(s.Journal(r.Kind, r.Name))
	if err != nil && !os.IsNotExist(err) {
		s.headers = nil
		return err
	}
	s.cacheHeader(r, true)
	if s.Indexed() {
		s.indexDrop(r)
		s.touchIndex()
	}
	if err := s.removeBeside(r.Kind, r.Name); err != nil {
		return err
	}
	return syncDir(filepath.Dir(s.Journal(r.Kind, r.Name)))
}

// writeAtomic writes v as JSON to path, in a directory trustDirs made: a
// new file (0600, never an existing one), synced, renamed over path.
func (s *Store) writeAtomic(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding %s: %w", path, err)
	}
	return s.writeBytes(path, append(data, '\n'))
}

// writeBytes is writeAtomic of data, written as it is.
func (s *Store) writeBytes(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	renamed := false
	defer func() {
		if !renamed {
			os.Remove(tmp.Name())
		}
	}()
	write := s.write
	if write == nil {
		write = (*os.File).Write
	}
	if _, err := write(tmp, data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("syncing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	renamed = true // nothing left to remove: two failing syscalls a save
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// isFull reports whether err is the file system saying it is full.
func isFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// checkName refuses a kind or name that would put a journal outside its
// kind's directory (`plumb down ../../x` read STATE/../x.json).
func checkName(kind, name string) error {
	for _, n := range []string{kind, name} {
		if n == "" || n == "." || n == ".." || strings.ContainsAny(n, "/\x00") {
			return &Refused{Msg: fmt.Sprintf("%q is not an object plumb could keep: a kind and a name are never empty, . or .., and hold no /", kind+"/"+name)}
		}
	}
	return nil
}

// TrustDirs checks the directories a journal of kind lives in (the state
// directory and its parents once, then objects/ and, unless kind is "",
// objects/KIND), making the missing ones 0700 when create is set. Reading,
// a missing one is no error: nothing in it is read.
func (s *Store) TrustDirs(kind string, create bool) error {
	if !s.rootTrusted {
		if err := s.trustRoot(create); err != nil {
			return err
		}
	}
	dirs := []string{s.objects()}
	if kind != "" {
		dirs = append(dirs, filepath.Join(s.objects(), kind))
	}
	for _, d := range dirs {
		why, err := s.CheckDir(d, create)
		if err != nil {
			return &Refused{Flag: "state-dir", Msg: fmt.Sprintf("%s cannot be made or read: %v", d, err)}
		}
		if why != "" {
			return s.Untrusted(d, why)
		}
	}
	return nil
}

// trustRoot checks the state directory, made 0700 (with missing parents)
// when create is set: it must be trusted (see Store), and so must each
// parent, as written and as its links resolve, or another user could
// rename it and put one of theirs in its place. A parent may be writable
// by others with the sticky bit (/tmp, a tmpfs /run): then only its owner
// can rename what is in it.
func (s *Store) trustRoot(create bool) error {
	if err := s.trustTop(s.Dir, "state-dir", "state directory", create, false); err != nil {
		return err
	}
	_, err := os.Stat(s.Dir)
	s.rootTrusted = err == nil // a missing one is checked when made
	return nil
}

// TrustRoot checks the root (--root) as trustRoot checks the state
// directory, made 0700 (with missing parents) when create is set: plumb
// keeps setuid files, device nodes and what containers wrote there, and
// unpacks and mounts what it finds. While it is missing (and not made),
// the directories above it that are there are checked: a step of a plan
// would make it below them.
func (s *Store) TrustRoot(create bool) error {
	if s.dataTrusted || !s.Split() {
		return nil
	}
	if err := s.trustTop(s.RootDir(), "root", "root", create, true); err != nil {
		return err
	}
	_, err := os.Stat(s.RootDir())
	s.dataTrusted = err == nil
	return nil
}

// trustTop is trustRoot for dir, the state directory or the root (flag
// and what name it). With above, a missing dir has its parents that are
// there checked.
func (s *Store) trustTop(dir, flag, what string, create, above bool) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return &Refused{Flag: flag, Msg: fmt.Sprintf("%s %s: %v", what, dir, err)}
	}
	if create {
		if err := os.MkdirAll(abs, 0o700); err != nil {
			return &Refused{Flag: flag, Msg: fmt.Sprintf("%s %s cannot be created: %v", what, dir, err)}
		}
	}
	fi, err := os.Stat(abs)
	missing := errors.Is(err, fs.ErrNotExist) && !create
	if missing && !above {
		return nil // nothing to read yet
	}
	if err != nil && !missing {
		return &Refused{Flag: flag, Msg: fmt.Sprintf("%s %s cannot be read: %v", what, dir, err)}
	}
	parents := ancestors(abs)
	if real, err := filepath.EvalSymlinks(abs); err == nil && real != abs {
		parents = append(parents, ancestors(real)...)
	}
	for _, p := range parents {
		pfi, err := os.Stat(p)
		if missing && errors.Is(err, fs.ErrNotExist) {
			continue // made below the first one there
		}
		if err != nil {
			return &Refused{Flag: flag, Msg: fmt.Sprintf("%s, a parent of the %s, cannot be read: %v", p, what, err)}
		}
		if why := s.distrustParent(pfi); why != "" {
			return &Refused{Flag: flag, Msg: fmt.Sprintf("%s, a parent of the %s %s, %s; %s", p, what, dir, why, advice(flag))}
		}
	}
	if missing {
		return nil
	}
	if why := s.distrust(fi, true); why != "" {
		return &Refused{Flag: flag, Msg: fmt.Sprintf("%s %s %s; %s", what, dir, why, advice(flag))}
	}
	return nil
}

// advice ends a refusal of the state directory (flag state-dir) or the
// root (flag root), or of one of their parents.
func advice(flag string) string {
	if flag == "root" {
		return "plumb unpacks and mounts what it keeps there, setuid files and device nodes among it, so it keeps them only where no other user can write: fix that (chown, chmod go-w), or give another --root"
	}
	return rootAdvice
}

// rootAdvice ends a refusal of the state directory or one of its parents.
const rootAdvice = "plumb runs the undos its journals record, so it keeps them only where no other user can write: fix that (chown, chmod go-w), or give another --state-dir"

// insideAdvice ends a refusal, for why, of something in the state
// directory.
func insideAdvice(why string) string {
	if strings.HasPrefix(why, "is owned") || strings.HasPrefix(why, "is writable") {
		return "another user may have written it: check it, then fix it (chown, chmod go-w) or remove it"
	}
	return "plumb never made it so, another user may have: check it, then remove it"
}

// Untrusted refuses path, in the state directory, for why.
func (s *Store) Untrusted(path, why string) *Refused {
	return &Refused{Flag: "state-dir", Msg: fmt.Sprintf("%s %s; %s", path, why, insideAdvice(why))}
}

// distrusted is why, of a journal or a kind's directory in a listing, as
// the refusal a CorruptError holds.
func (s *Store) distrusted(why string) *Refused {
	return &Refused{Msg: fmt.Sprintf("it %s; %s", why, insideAdvice(why))}
}

// CheckDir checks a directory in the state directory, never through a
// symbolic link, making it 0700 if missing and create is set. It says why
// plumb does not trust it, or "" (also when it is missing and not made).
func (s *Store) CheckDir(path string, create bool) (why string, err error) {
	if !create && s.trustedDir(path) {
		return "", nil
	}
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		if !create {
			return "", nil
		}
		if err = os.Mkdir(path, 0o700); err == nil || errors.Is(err, fs.ErrExist) {
			fi, err = os.Lstat(path)
		}
	}
	if err != nil {
		return "", err
	}
	why = s.distrust(fi, true)
	if why == "" {
		s.trustDir(path)
	}
	return why, nil
}

// trustedDir reports whether this process found path a trusted directory
// already. Only reads use it: a directory trusted once can change only by
// its owner's doing, whom plumb trusts (as rootTrusted), and one removed
// since is then read as missing. A write checks again, so that a removed
// directory is made again. Measured: a Compose plan of 50 services
// checked the same directories some 2,000 times, 30 ms of its 350.
func (s *Store) trustedDir(path string) bool {
	s.dirsMu.Lock()
	defer s.dirsMu.Unlock()
	return s.dirs[path]
}

func (s *Store) trustDir(path string) {
	s.dirsMu.Lock()
	defer s.dirsMu.Unlock()
	if s.dirs == nil {
		s.dirs = map[string]bool{}
	}
	s.dirs[path] = true
}

// readTrusted reads a file of the state directory (a journal, the ledger)
// without following a symbolic link, once it is trusted (see Store). For
// a file that is not, it says why and reads nothing.
func (s *Store) readTrusted(path string) (data []byte, why string, err error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		if isLink(path) {
			return nil, "is a symbolic link", nil
		}
		return nil, "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, "", err
	}
	if why := s.distrust(fi, false); why != "" {
		return nil, why, nil
	}
	var b bytes.Buffer
	b.Grow(int(fi.Size()) + bytes.MinRead)
	if _, err := b.ReadFrom(f); err != nil {
		return nil, "", err
	}
	return b.Bytes(), "", nil
}

// readJournal is readTrusted for a journal: one that is not trusted is a
// CorruptError holding a *Refused.
func (s *Store) readJournal(path string) ([]byte, error) {
	data, why, err := s.readTrusted(path)
	if why != "" {
		return nil, &CorruptError{Path: path, Err: s.distrusted(why), untrusted: true}
	}
	return data, err
}

// distrust says why plumb does not trust fi, a file (or, with dir, a
// directory) in its state directory, read without following a link: ""
// when it does.
func (s *Store) distrust(fi fs.FileInfo, dir bool) string {
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return "is a symbolic link"
	case dir && !fi.IsDir():
		return "is not a directory"
	case !dir && !fi.Mode().IsRegular():
		return "is not a regular file"
	}
	if why := s.distrustOwner(fi); why != "" {
		return why
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Sprintf("is writable by group or others (mode %04o)", fi.Mode().Perm())
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && !dir && st.Nlink > 1 {
		return fmt.Sprintf("has %d hard links", st.Nlink)
	}
	return ""
}

// distrustParent is distrust for a parent of the state directory: others
// may write it if its sticky bit is set.
func (s *Store) distrustParent(fi fs.FileInfo) string {
	if !fi.IsDir() {
		return "is not a directory"
	}
	if why := s.distrustOwner(fi); why != "" {
		return why
	}
	if fi.Mode().Perm()&0o022 != 0 && fi.Mode()&fs.ModeSticky == 0 {
		return fmt.Sprintf("is writable by group or others without the sticky bit (mode %04o)", fi.Mode().Perm())
	}
	return ""
}

func (s *Store) distrustOwner(fi fs.FileInfo) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "has no owner plumb can read"
	}
	if int(st.Uid) == s.uid || st.Uid == 0 {
		return ""
	}
	if s.uid == 0 {
		return fmt.Sprintf("is owned by uid %d, not by root, who runs plumb", st.Uid)
	}
	return fmt.Sprintf("is owned by uid %d, not by uid %d, who runs plumb, or root", st.Uid, s.uid)
}

// ancestors is every directory above abs, up to /.
func ancestors(abs string) []string {
	var out []string
	for p := filepath.Dir(abs); ; p = filepath.Dir(p) {
		out = append(out, p)
		if p == filepath.Dir(p) {
			return out
		}
	}
}

// isLink reports whether path is a symbolic link.
func isLink(path string) bool {
	fi, err := os.Lstat(path)
	return err == nil && fi.Mode()&fs.ModeSymlink != 0
}

// Usable says why plumb could not keep its journals in the state directory
// now, changing nothing and starting no process: the directory, or what
// holds it, is not trusted, is not a directory, or cannot be written (nor,
// while it is missing, the directory it would be made in). CNI's STATUS
// asks this every few seconds.
func (s *Store) Usable() error {
	if err := s.TrustDirs("", false); err != nil {
		return err
	}
	for dir := s.Dir; ; dir = filepath.Dir(dir) {
		fi, err := os.Stat(dir)
		if errors.Is(err, fs.ErrNotExist) && dir != filepath.Dir(dir) {
			continue
		}
		if err != nil {
			return fmt.Errorf("state directory %s: %w", s.Dir, err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("state directory %s: %s is not a directory", s.Dir, dir)
		}
		if err := syscall.Access(dir, 2 /* W_OK */); err != nil {
			return fmt.Errorf("state directory %s: %s is not writable: %w", s.Dir, dir, err)
		}
		return nil
	}
}

// WriteJSON writes v as JSON to path under the state directory, made
// (0700) when missing: atomically, synced, as journals are written. For
// what a way in keeps beside the journals (a Compose project's up).
func (s *Store) WriteJSON(path string, v any) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return s.writeAtomic(path, v)
}
