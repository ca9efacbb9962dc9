package plan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"plumb/actions"
)

// A plumb before --root kept its layers, overlays and images in the state
// directory. `plumb migrate` moves them to the root, as a plan shown first
// like every other: a mkdir of each directory of the root that is missing,
// an mv of each layer, overlay layout, image layer and short link, a
// rewrite of each journal that names one of them (its facts and its
// steps, undos included), and last the old directories, if empty. A step
// that fails rolls back those before it; a crash leaves the plan's journal
// to `plumb recover`.
//
// It is a command of its own, never a side effect of the first command
// under the lock: a mount's paths cannot move, so while an overlay or a
// container of the old place is mounted it is refused, naming them, and
// the user decides when to stop them. Until then plumb reads the old place
// as it is: journals record absolute paths, and LayerDir and OverlayOf
// find what is there alone.

// migrateName names the plan's journal (of MigrateKind) while it runs; it
// is removed once the plan is done (nothing is left to tear down).
const migrateName = "root"

// move is one entry of the old layout and where it goes.
type move struct{ from, to string }

// legacyPairs are the directories of the old layout whose entries move,
// each with the directory of the root they move to. image/staging is not
// among them: it holds only what a pull is unpacking now, which the pull
// deletes.
func (l Layout) legacyPairs() [][2]string {
	old := l.Legacy()
	return [][2]string{
		{old.layersDir(), l.layersDir()},
		{old.overlaysDir(), l.overlaysDir()},
		{filepath.Dir(old.ImageLayer("x")), filepath.Dir(l.ImageLayer("x"))},
		{filepath.Dir(old.ImageLink("x")), filepath.Dir(l.ImageLink("x"))},
	}
}

// legacyMoves lists what the old layout holds, each entry with its new
// path.
func (l Layout) legacyMoves() ([]move, error) {
	var moves []move
	for _, p := range l.legacyPairs() {
		ents, err := os.ReadDir(p[0])
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", p[0], err)
		}
		for _, e := range ents {
			moves = append(moves, move{filepath.Join(p[0], e.Name()), filepath.Join(p[1], e.Name())})
		}
	}
	return moves, nil
}

// LegacyLeft reports whether the state directory holds what a plumb before
// --root kept there: `plumb migrate` would move it.
func (s *Store) LegacyLeft() bool {
	if !s.Split() {
		return false
	}
	moves, err := s.legacyMoves()
	return err == nil && len(moves) > 0
}

// Migrate plans the move of the old layout to the root (see above); nil
// when there is nothing to move. It refuses a root that is the state
// directory, an entry whose new path is taken, a mount in the old place
// (a container's or an overlay's, named), an unfinished plan that names
// the old place, and journals that cannot be read (they could name it).
func Migrate(st *Store) (*Plan, error) {
	if !st.Split() {
		return nil, Refuse("root", "the root is the state directory %s: there is nothing to move", st.Dir)
	}
	if err := st.TrustRoot(false); err != nil {
		return nil, err
	}
	moves, err := st.legacyMoves()
	if err != nil || len(moves) == 0 {
		return nil, err
	}
	for _, m := range moves {
		if IsThere(m.to) {
			return nil, Refuse("root", "%s is there already, so %s cannot move there: one of them is left from elsewhere; remove it, then run this again", m.to, m.from)
		}
	}
	old := st.Legacy().layoutDirs()
	if err := refuseMounted(st, old); err != nil {
		return nil, err
	}
	rewrites, err := st.journalRewrites(moves)
	if err != nil {
		return nil, err
	}

	var steps []Step
	made := map[string]bool{}
	exists := func(p string) bool { return made[p] || IsThere(p) }
	for _, p := range st.legacyPairs() {
		if !slices.ContainsFunc(moves, func(m move) bool { return filepath.Dir(m.to) == p[1] }) {
			continue
		}
		for _, s := range st.PrivateDirs(p[1], exists) {
			steps = append(steps, s)
			made[s.Action.(actions.Mkdir).Path] = true
		}
	}
	for _, m := range moves {
		steps = append(steps, Step{Action: actions.Move{From: m.from, To: m.to}})
	}
	for _, r := range rewrites {
		steps = append(steps, Step{Action: r})
	}
	// The old directories, deepest first, if empty (image/staging may
	// hold a pull's layers).
	var left []string
	for _, d := range []string{filepath.Dir(st.Legacy().ImageLink("x")), filepath.Dir(st.Legacy().ImageLayer("x")),
		st.Legacy().StagingRoot(), st.Legacy().ImageDir(), st.Legacy().layersDir(), st.Legacy().overlaysDir()} {
		if IsThere(d) {
			left = append(left, d)
		}
	}
	if len(left) > 0 {
		steps = append(steps, Step{Action: actions.RmdirEmpty{Paths: left}})
	}
	return &Plan{Kind: MigrateKind.Name(), Name: migrateName,
		Summary: fmt.Sprintf("move %d layers, layouts and image layers from %s to %s, and rewrite %d journals", len(moves), st.Dir, st.RootDir(), len(rewrites)),
		Steps:   steps}, nil
}

// MigrateDone removes the journal of a migration that finished: it moved
// what it moved for good, and leaves nothing to tear down.
func MigrateDone(st *Store, rec *Record) error { return st.Remove(rec) }

// refuseMounted refuses a migration while anything is mounted in the old
// layout's directories (dirs): by the journals, an overlay mount step that
// names one (an overlay, a container, whose layers or upper directory are
// there), and by the mount table, any mount below them.
func refuseMounted(st *Store, dirs []string) error {
	under := func(p string) bool {
		return slices.ContainsFunc(dirs, func(d string) bool { return Within(p, d) })
	}
	recs, errs := st.List()
	if len(errs) > 0 {
		return Refuse("", "journals plumb cannot read could name what moves: %v; fix or remove them, then run this again", errors.Join(errs...))
	}
	var busy []string
	for _, r := range recs {
		for i := range r.Steps {
			a, err := r.Steps[i].Action.Decode()
			if err != nil {
				continue
			}
			m, ok := a.(actions.OverlayMount)
			if !ok {
				continue
			}
			paths := []string{m.Upper, m.Work, m.Merged}
			for _, l := range m.Lower {
				if !filepath.IsAbs(l) {
					l = filepath.Join(m.Dir, l)
				}
				paths = append(paths, l)
			}
			if slices.ContainsFunc(paths, func(p string) bool { return p != "" && under(p) }) {
				busy = append(busy, fmt.Sprintf("%s (mounted at %s)", r.ID(), m.Merged))
				break
			}
		}
	}
	if len(busy) > 0 {
		return Refuse("", "what plumb would move from %s is mounted by %s, and a mount's directories cannot move: stop or unmount them (plumb stop NAME, plumb overlay unmount --name NAME), then run this again", st.Dir, strings.Join(busy, ", "))
	}
	mounts, err := actions.Mounts()
	if err != nil {
		return fmt.Errorf("reading the mount table: %w", err)
	}
	var points []string
	for p := range mounts {
		if under(p) {
			points = append(points, p)
		}
	}
	if len(points) > 0 {
		sort.Strings(points)
		return Refuse("", "%s is mounted where plumb would move it from, and a mount cannot move: unmount it, then run this again", strings.Join(points, ", "))
	}
	return nil
}

// journalRewrites are the steps that rewrite each journal naming a path
// that moves, with those paths alone. A journal whose plan did not end is
// refused: `plumb recover` finishes it first.
func (s *Store) journalRewrites(moves []move) ([]actions.RewriteJournal, error) {
	files, errs := s.journals()
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	// Each entry that moves, then the directories of layers and layouts
	// themselves, which the steps that made them name (mkdir --mode=700
	// STATE/layers, and its undo): no journal names both an old and a
	// new one, so the rewrite undoes exactly.
	candidates := append(slices.Clip(moves),
		move{s.Legacy().layersDir(), s.layersDir()}, move{s.Legacy().overlaysDir(), s.overlaysDir()})
	var out []actions.RewriteJournal
	for _, f := range files {
		if s.kindOf(f) == MigrateKind.Name() {
			continue
		}
		data, err := s.readJournal(f)
		if err != nil {
			return nil, err
		}
		var from, to []string
		for _, m := range candidates {
			if _, n := rewritePaths(data, []string{m.from}, []string{m.to}); n > 0 {
				from, to = append(from, m.from), append(to, m.to)
			}
		}
		if len(from) == 0 {
			continue
		}
		if h, err := decodeHeader(data); err != nil || h.State != StateUp {
			state := "unreadable"
			if err == nil {
				state = string(h.State)
			}
			return nil, Refuse("", "%s names what plumb would move, and its plan did not end (state %s); run `plumb recover` first", f, state)
		}
		out = append(out, actions.RewriteJournal{Path: f, From: from, To: to})
	}
	return out, nil
}

// RewriteJournal is the step `plumb migrate journal`: the journal at path
// (objects/KIND/NAME.json of a state directory) with each path from[i], and
// what is below it, rewritten to to[i], written back as plumb writes a
// journal. The result must still be a journal plumb reads.
func RewriteJournal(path string, from, to []string) error {
	if len(from) != len(to) || len(from) == 0 {
		return Refuse("", "give each --from with its --to")
	}
	objects := filepath.Dir(filepath.Dir(path))
	if filepath.Base(objects) != "objects" || filepath.Ext(path) != ".json" {
		return Refuse("<journal>", "%s is not a journal (STATE_DIR/objects/KIND/NAME.json)", path)
	}
	st := NewStore(filepath.Dir(objects))
	if err := st.TrustDirs(filepath.Base(filepath.Dir(path)), false); err != nil {
		return err
	}
	data, err := st.readJournal(path)
	if err != nil {
		return err
	}
	out, n := rewritePaths(data, from, to)
	if n == 0 {
		return nil // rewritten already: a step run twice
	}
	if _, err := decodeHeader(out); err != nil || !json.Valid(out) {
		return fmt.Errorf("%s would not read back once rewritten: %v", path, err)
	}
	return st.writeBytes(path, out)
}

// rewritePaths replaces in data (a journal's JSON) each path from[i] by
// to[i] where it stands whole: as a string of its own, or the start of a
// longer path (/a/l/x in /a/l/x/upper), in a list (a:b), or in a sentence;
// not /a/l/x in /a/l/xy nor in /b/a/l/x. n is how many it replaced.
func rewritePaths(data []byte, from, to []string) ([]byte, int) {
	n := 0
	for i, f := range from {
		old, repl := jsonText(f), jsonText(to[i])
		var b bytes.Buffer
		last := 0 // data[:last] is in b
		for at := 0; ; {
			j := bytes.Index(data[at:], old)
			if j < 0 {
				break
			}
			j += at
			end := j + len(old)
			if (j == 0 || !pathByte(data[j-1])) && (end == len(data) || !pathByte(data[end]) || data[end] == '/') {
				b.Write(data[last:j])
				b.Write(repl)
				last = end
				n++
			}
			at = end
		}
		b.Write(data[last:])
		data = b.Bytes()
	}
	return data, n
}

// jsonText is s as it stands inside a JSON string.
func jsonText(s string) []byte {
	b, _ := json.Marshal(s)
	return b[1 : len(b)-1]
}

// pathByte reports whether c can be part of a path's name.
func pathByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' || c == '/' || c >= 0x80
}
