package plan

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// Store is plumb's state directory: one journal file per object, the ledger
// of shared host settings, and the lock that keeps two plumb processes from
// interleaving.
type Store struct {
	Layout
	lock *os.File
	// headers caches Headers until this process writes a journal: one
	// command reads every header once, not once per check.
	headers []*Record
	hdrErrs []error
}

// NewStore returns the store rooted at dir; nothing is touched until used.
func NewStore(dir string) *Store { return &Store{Layout: Layout{Dir: dir}} }

// Lock takes the state directory's lock, waiting up to wait for another
// plumb process to finish. Past that it names the holder and gives up.
func (s *Store) Lock(ctx context.Context, wait time.Duration) error {
	if s.lock != nil {
		return nil // this process holds it already
	}
	s.headers = nil // others may have written while we waited
	if err := os.MkdirAll(s.objects(), 0o700); err != nil {
		return &Refused{Flag: "state-dir", Msg: fmt.Sprintf("state directory %s cannot be created: %v", s.Dir, err)}
	}
	f, err := os.OpenFile(s.lockFile(), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return &Refused{Flag: "state-dir", Msg: fmt.Sprintf("state directory %s is not writable: %v", s.Dir, err)}
	}
	deadline := time.Now().Add(wait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return fmt.Errorf("locking %s: %w", f.Name(), err)
		}
		if time.Now().After(deadline) {
			holder, _ := os.ReadFile(f.Name())
			f.Close()
			who := strings.TrimSpace(string(holder))
			if who == "" {
				who = "another plumb process"
			}
			return fmt.Errorf("state directory %s is locked by %s; waited %s (raise it with --wait)", s.Dir, who, wait)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	// Say who holds it, for whoever waits next.
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(fmt.Sprintf("pid %d (%s) since %s\n", os.Getpid(), strings.Join(os.Args, " "), time.Now().UTC().Format(time.RFC3339))), 0)
	s.lock = f
	return nil
}

// Unlock releases the lock taken by Lock.
func (s *Store) Unlock() {
	if s.lock == nil {
		return
	}
	_ = s.lock.Truncate(0)
	_ = syscall.Flock(int(s.lock.Fd()), syscall.LOCK_UN)
	s.lock.Close()
	s.lock = nil
}

// Load reads one object's journal. It returns an error wrapping
// os.ErrNotExist when plumb keeps no such object.
func (s *Store) Load(kind, name string) (*Record, error) {
	return readRecord(s.journal(kind, name))
}

// List reads every journal in the store. Journals that cannot be read are
// returned as errors naming their path, never skipped silently.
func (s *Store) List() ([]*Record, []error) {
	files, _ := filepath.Glob(filepath.Join(s.objects(), "*", "*.json"))
	sort.Strings(files)
	var recs []*Record
	var errs []error
	for _, f := range files {
		r, err := readRecord(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		recs = append(recs, r)
	}
	return recs, errs
}

// Headers reads every journal's kind, name, state, summary and details, but
// not its steps: what listings, address allocation and lookups need, without
// decoding and checking every step of every object (which made each command
// slower as containers were added). Anything that undoes loads the journal
// whole, checked.
func (s *Store) Headers() ([]*Record, []error) {
	if s.headers != nil {
		return s.headers, s.hdrErrs
	}
	files, _ := filepath.Glob(filepath.Join(s.objects(), "*", "*.json"))
	sort.Strings(files)
	var recs []*Record
	var errs []error
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		r, err := decodeHeader(data)
		if err != nil {
			errs = append(errs, &CorruptError{f, err})
			continue
		}
		recs = append(recs, r)
	}
	if recs == nil {
		recs = []*Record{}
	}
	s.headers, s.hdrErrs = recs, errs
	return recs, errs
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
	var r Record
	if i := bytes.Index(data, stepsKey); i > 0 && bytes.HasSuffix(bytes.TrimRight(data[:i], " \n"), []byte(",")) {
		head := append(bytes.TrimSuffix(bytes.TrimRight(data[:i], " \n"), []byte(",")), '}')
		if err := json.Unmarshal(head, &r); err == nil && r.FormatVersion == FormatVersion && r.Kind != "" {
			return &r, nil
		}
	}
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

// Save writes a journal atomically: a reader sees the old file or the new
// one, never a mix, even after power loss.
func (s *Store) Save(r *Record) error {
	s.headers = nil
	r.Updated = time.Now().UTC()
	return writeFileAtomic(s.journal(r.Kind, r.Name), r)
}

// Remove deletes an object's journal once nothing of it is left.
func (s *Store) Remove(r *Record) error {
	s.headers = nil
	err := os.Remove(s.journal(r.Kind, r.Name))
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	return syncDir(filepath.Dir(s.journal(r.Kind, r.Name)))
}

func writeFileAtomic(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
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
