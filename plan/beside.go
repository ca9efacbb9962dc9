package plan

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Facts too big to write at every save keep a part in a file beside their
// journal (objects/KIND/NAME.d/FILE), named by its content, which the
// journal names: a mesh's thousand peers made a journal of 37 kB, written
// three times by every sync and `peer add`, and decoded, checked and
// indented again at each read and write, most of the time of a peer
// added to a thousand. The file is written before the journal that names
// it and never changed; a journal being updated names the old facts' file
// and the new, so a crash leaves both for recover. Files no journal names
// are removed once an update ends, but the newest of them, which a reader
// of the journal before may be about to read.

// besideFacts are facts that keep a part beside their journal.
type besideFacts interface {
	Facts
	// besideFile is the part as written: its file's name (made of its
	// content) and bytes; "" when there is no part.
	besideFile() (string, []byte)
	// besideName is the file facts decoded from a journal name; "" when
	// none, or for facts not decoded.
	besideName() string
	// withBeside is the facts with their part read from data, the bytes
	// of the file besideName names.
	withBeside(data []byte) (Facts, error)
}

// besideDir holds the files an object's facts keep beside its journal.
func (l Layout) besideDir(kind, name string) string {
	return filepath.Join(l.objects(), kind, name+".d")
}

// besideReader reads a file of kind/name's facts, trusted as journals are.
func (s *Store) besideReader(kind, name string) func(string) ([]byte, error) {
	return func(file string) ([]byte, error) {
		if !besideFileName(file) {
			return nil, fmt.Errorf("%q is not a file plumb keeps beside a journal", file)
		}
		dir := s.besideDir(kind, name)
		if why, err := s.CheckDir(dir, false); why != "" {
			return nil, &CorruptError{Path: dir, Err: s.distrusted(why), dir: true, untrusted: true}
		} else if err != nil {
			return nil, err
		}
		data, err := s.readJournal(filepath.Join(dir, file))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s, which its journal names, is missing (removed by hand, or the object changed while it was read: run the command again)", filepath.Join(dir, file))
		}
		return data, err
	}
}

// besideFileName reports whether file can be a file kept beside a
// journal: a plain name, not one of writeBytes' temporary files.
func besideFileName(file string) bool {
	return file != "" && file[0] != '.' && !strings.ContainsAny(file, "/\x00")
}

// saveBeside writes the file r's facts keep beside its journal when it is
// not there yet, before the journal that names it is written. It returns
// the file's name ("" when the facts keep none), and whether that is
// known: it is not for facts that cannot be read.
func (s *Store) saveBeside(r *Record) (file string, known bool, err error) {
	if r.FactsJSON == nil {
		return "", true, nil
	}
	k, err := kindOf(r)
	if err != nil || r.FactsVersion != k.FactsVersion() {
		return "", false, nil // facts of before: none beside
	}
	f, err := k.DecodeFacts(r.FactsJSON) // the part beside not read
	if err != nil {
		return "", false, nil
	}
	b, ok := f.(besideFacts)
	if !ok {
		return "", true, nil
	}
	named := b.besideName()
	d := &r.decoded
	if d.facts == nil || !sameBytes(d.from, r.FactsJSON) {
		// Read from a journal: its file is there (or the record is
		// broken, and says so when its facts are read).
		if named != "" {
			s.touchBeside(r.Kind, r.Name, named)
		}
		return named, true, nil
	}
	name, data := d.facts.(besideFacts).besideFile()
	if name != named {
		return "", false, fmt.Errorf("its facts changed after they were set (the journal names %q, they make %q)", named, name)
	}
	if name == "" {
		return "", true, nil
	}
	dir := s.besideDir(r.Kind, r.Name)
	if why, err := s.CheckDir(dir, true); why != "" {
		return "", false, &CorruptError{Path: dir, Err: s.distrusted(why), dir: true, untrusted: true}
	} else if err != nil {
		return "", false, err
	}
	path := filepath.Join(dir, name)
	if fi, err := os.Lstat(path); err == nil && fi.Mode().IsRegular() && fi.Size() == int64(len(data)) {
		s.touchBeside(r.Kind, r.Name, name)
		return name, true, nil
	}
	if err := s.writeBytes(path, data); err != nil {
		return "", false, err
	}
	return name, true, nil
}

// touchBeside marks a file named again as the newest, so that the sweep
// after keeps it longest.
func (s *Store) touchBeside(kind, name, file string) {
	now := time.Now()
	_ = os.Chtimes(filepath.Join(s.besideDir(kind, name), file), now, now)
}

// sweepBeside removes the files of kind/name's facts but keep and the
// newest other, and temporary files a write killed left, in a directory
// trusted as the reader trusts it (not a link elsewhere).
func (s *Store) sweepBeside(kind, name, keep string) {
	dir := s.besideDir(kind, name)
	// Checked again, not from the trust this process found already.
	if fi, err := os.Lstat(dir); err != nil || s.distrust(fi, true) != "" {
		return
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	type file struct {
		name string
		mod  time.Time
	}
	var others []file
	for _, e := range ents {
		switch {
		case !e.Type().IsRegular() || e.Name() == keep:
		case strings.HasPrefix(e.Name(), ".") && strings.Contains(e.Name(), ".tmp-"):
			_ = os.Remove(filepath.Join(dir, e.Name()))
		case besideFileName(e.Name()):
			if fi, err := e.Info(); err == nil {
				others = append(others, file{e.Name(), fi.ModTime()})
			}
		}
	}
	slices.SortFunc(others, func(a, b file) int { return b.mod.Compare(a.mod) })
	for _, f := range others[min(1, len(others)):] {
		_ = os.Remove(filepath.Join(dir, f.name))
	}
}

// removeBeside removes kind/name's files, its journal gone (none is no
// error: RemoveAll says nothing of a path missing).
func (s *Store) removeBeside(kind, name string) error {
	return os.RemoveAll(s.besideDir(kind, name))
}

// sweepOrphans removes, holding the store exclusive, the directories of
// files kept beside journals that are gone: a removal killed between the
// journal and its files left them.
func (s *Store) sweepOrphans(dir string, names []fs.DirEntry) {
	if !s.exclusive() {
		return
	}
	for _, e := range names {
		obj, ok := strings.CutSuffix(e.Name(), ".d")
		if !ok || !e.IsDir() || obj == "" {
			continue
		}
		if _, err := os.Lstat(filepath.Join(dir, obj+".json")); errors.Is(err, fs.ErrNotExist) {
			_ = os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}
