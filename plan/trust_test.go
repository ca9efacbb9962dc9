package plan

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"plumb/actions"
	"plumb/plan/plantest"
)

// Issue 12, row 4: a state directory, journal, ledger or lock that another
// user could have written is never trusted. These tests make such files in
// a temporary directory (chown to nobody, chmod, symlinks) and check that
// plumb refuses them by name and runs nothing recorded in them.

const nobody = 65534

// victimJournal saves, in st, a layer journal left applying whose undo
// deletes victim (a directory holding a file): what another user would
// write to have root's `plumb recover` run `rm -rf -- victim`.
func victimJournal(t *testing.T, st *Store) (path, victim string) {
	t.Helper()
	victim = filepath.Join(t.TempDir(), "victim")
	if err := os.MkdirAll(victim, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(victim, "precious"), []byte("keep me\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ex := actions.Extract{File: "/x.tar", Dir: victim}
	a, err := encode(ex)
	if err != nil {
		t.Fatal(err)
	}
	u, err := encode(ex.Undo())
	if err != nil {
		t.Fatal(err)
	}
	rec := &Record{FormatVersion: FormatVersion, Kind: "layer", Name: "x", State: StateApplying,
		Steps: []StepRecord{{Action: *a, Status: Started, Undo: u}}}
	if err := st.Save(rec); err != nil {
		t.Fatal(err)
	}
	return st.Journal("layer", "x"), victim
}

// wantNothingUndone checks that recover refused (exit 2: a *Refused) naming
// what, ran nothing, and left victim.
func wantNothingUndone(t *testing.T, st *Store, what, victim string) {
	t.Helper()
	f := &plantest.FakeRunner{}
	_, err := Recover(context.Background(), f, st)
	var r *Refused
	if !errors.As(err, &r) || !strings.Contains(err.Error(), what) {
		t.Errorf("Recover() = %v; want a refusal naming %s", err, what)
	}
	if len(f.Calls) != 0 {
		t.Errorf("Recover() ran %q; want nothing run from an untrusted journal", f.Calls)
	}
	if _, err := os.Stat(filepath.Join(victim, "precious")); err != nil {
		t.Errorf("victim: %v", err)
	}
}

// TestLockDoesNotFollowSymlink: `ln -s /some/file ST/lock; plumb recover`
// truncated /some/file. The lock is opened without following links.
func TestLockDoesNotFollowSymlink(t *testing.T) {
	dir := t.TempDir()
	some := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(some, []byte("not plumb's\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(some, filepath.Join(dir, "lock")); err != nil {
		t.Fatal(err)
	}
	st := NewStore(dir)
	err := st.Lock(context.Background(), time.Second)
	st.Unlock()
	var r *Refused
	if !errors.As(err, &r) || !strings.Contains(err.Error(), filepath.Join(dir, "lock")+" is a symbolic link") {
		t.Errorf("Lock() = %v; want a refusal naming the link", err)
	}
	if data, _ := os.ReadFile(some); string(data) != "not plumb's\n" {
		t.Errorf("the file the link points to now holds %q", data)
	}
}

// TestForeignLockRefused: a lock file of another user, or one that others
// may write, is refused before it is written.
func TestForeignLockRefused(t *testing.T) {
	for name, spoil := range map[string]func(string) error{
		"owned by nobody":       func(p string) error { return os.Chown(p, nobody, nobody) },
		"writable by others":    func(p string) error { return os.Chmod(p, 0o666) },
		"a second hard link":    func(p string) error { return os.Link(p, p+".other") },
		"a named pipe (mkfifo)": nil,
	} {
		t.Run(name, func(t *testing.T) {
			if strings.HasPrefix(name, "owned") && os.Geteuid() != 0 {
				t.Skip("chown to another user needs root")
			}
			dir := t.TempDir()
			lock := filepath.Join(dir, "lock")
			if err := os.WriteFile(lock, []byte("theirs\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if spoil == nil {
				os.Remove(lock)
				if err := mkfifo(lock); err != nil {
					t.Fatal(err)
				}
			} else if err := spoil(lock); err != nil {
				t.Fatal(err)
			}
			st := NewStore(dir)
			err := st.Lock(context.Background(), time.Second)
			st.Unlock()
			var r *Refused
			if !errors.As(err, &r) || !strings.Contains(err.Error(), lock) {
				t.Fatalf("Lock() = %v; want a refusal naming %s", err, lock)
			}
			if spoil != nil {
				if data, _ := os.ReadFile(lock); string(data) != "theirs\n" {
					t.Errorf("the lock file now holds %q", data)
				}
			}
		})
	}
}

// TestForeignJournalNotUndone: another user's journal (or one others may
// write) in the state directory is named and never undone.
func TestForeignJournalNotUndone(t *testing.T) {
	spoils := map[string]func(t *testing.T, st *Store, journal string) string{
		// Each spoils the store and returns the path the refusal must name.
		"journal owned by nobody": func(t *testing.T, st *Store, j string) string { chown(t, j); return j },
		"journal writable by group": func(t *testing.T, st *Store, j string) string {
			chmod(t, j, 0o620)
			return j
		},
		"journal a symlink to one of nobody's": func(t *testing.T, st *Store, j string) string {
			other := filepath.Join(t.TempDir(), "x.json")
			if err := os.Rename(j, other); err != nil {
				t.Fatal(err)
			}
			chown(t, other)
			if err := os.Symlink(other, j); err != nil {
				t.Fatal(err)
			}
			return j
		},
		"journal with a second hard link": func(t *testing.T, st *Store, j string) string {
			if err := os.Link(j, filepath.Join(filepath.Dir(j), "other")); err != nil {
				t.Fatal(err)
			}
			return j
		},
		"kind directory owned by nobody": func(t *testing.T, st *Store, j string) string {
			chown(t, filepath.Dir(j))
			return filepath.Dir(j)
		},
		"kind directory writable by others": func(t *testing.T, st *Store, j string) string {
			chmod(t, filepath.Dir(j), 0o777)
			return filepath.Dir(j)
		},
		"kind directory a symlink": func(t *testing.T, st *Store, j string) string {
			kind := filepath.Dir(j)
			elsewhere := filepath.Join(t.TempDir(), "layer")
			if err := os.Rename(kind, elsewhere); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(elsewhere, kind); err != nil {
				t.Fatal(err)
			}
			return kind
		},
		"objects owned by nobody": func(t *testing.T, st *Store, j string) string {
			chown(t, st.objects())
			return st.objects()
		},
		"state directory writable by others": func(t *testing.T, st *Store, j string) string {
			chmod(t, st.Dir, 0o777)
			return st.Dir
		},
		"state directory owned by nobody": func(t *testing.T, st *Store, j string) string {
			chown(t, st.Dir)
			return st.Dir
		},
		"state directory in a directory others may write": func(t *testing.T, st *Store, j string) string {
			chmod(t, filepath.Dir(st.Dir), 0o777) // no sticky bit: anyone could swap it
			return filepath.Dir(st.Dir)
		},
	}
	for name, spoil := range spoils {
		t.Run(name, func(t *testing.T) {
			if strings.Contains(name, "nobody") && os.Geteuid() != 0 {
				t.Skip("chown to another user needs root")
			}
			st := NewStore(filepath.Join(t.TempDir(), "state"))
			journal, victim := victimJournal(t, st)
			what := spoil(t, st, journal)
			st = NewStore(st.Dir) // a new plumb process
			wantNothingUndone(t, st, what, victim)

			// Dry runs read without the lock: they still do not trust it.
			st = NewStore(st.Dir)
			recs, errs := st.List()
			if len(recs) != 0 || len(errs) == 0 || !strings.Contains(errors.Join(errs...).Error(), what) {
				t.Errorf("List() = %d records, errors %v; want none, and an error naming %s", len(recs), errs, what)
			}
			hdrs, errs := st.Headers()
			if len(hdrs) != 0 || len(errs) == 0 || !strings.Contains(errors.Join(errs...).Error(), what) {
				t.Errorf("Headers() = %d records, errors %v; want none, and an error naming %s", len(hdrs), errs, what)
			}
			if rec, err := st.Load("layer", "x"); err == nil || !strings.Contains(err.Error(), what) {
				t.Errorf("Load() = %v, %v; want an error naming %s", rec, err, what)
			}
		})
	}
}

// TestForeignLedgerRefused: shared.json holds undos too (restoring
// ip_forward); another user's is not read.
func TestForeignLedgerRefused(t *testing.T) {
	st := NewStore(t.TempDir())
	if _, err := Apply(context.Background(), &plantest.FakeRunner{}, st, selfPair().plan(), Each); err != nil {
		t.Fatal(err)
	}
	chmod(t, st.ledger(), 0o606)
	st = NewStore(st.Dir)
	if _, err := st.LoadLedger(); err == nil || !strings.Contains(err.Error(), st.ledger()) {
		t.Errorf("loadLedger() = %v; want an error naming %s", err, st.ledger())
	}
}

// TestOwnStateDirTrusted: what plumb itself makes, and what an older plumb
// or a person made with mkdir (root's 0755, journals 0644), is trusted;
// plumb makes its directories 0700 and its files 0600.
func TestOwnStateDirTrusted(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "run", "plumb")
	st := NewStore(dir)
	if err := st.Lock(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := Apply(ctx, &plantest.FakeRunner{}, st, selfPair().plan(), Each); err != nil {
		t.Fatal(err)
	}
	st.Unlock()
	for path, want := range map[string]os.FileMode{
		filepath.Dir(dir): 0o700, dir: 0o700, st.objects(): 0o700, filepath.Dir(st.Journal("veth", "x")): 0o700,
		st.lockFile(): 0o600, st.ledger(): 0o600, st.Journal("veth", "veth-host"): 0o600,
	} {
		fi, err := os.Lstat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %04o; want %04o", path, fi.Mode().Perm(), want)
		}
	}
	// As made by hand: 0755 directories, 0644 files.
	for _, p := range []string{dir, st.objects(), filepath.Dir(st.Journal("veth", "x"))} {
		chmod(t, p, 0o755)
	}
	for _, p := range []string{st.lockFile(), st.ledger(), st.Journal("veth", "veth-host")} {
		chmod(t, p, 0o644)
	}
	st = NewStore(dir)
	if recs, errs := st.List(); len(recs) != 1 || len(errs) != 0 {
		t.Fatalf("List() = %d records, %v", len(recs), errs)
	}
	if err := st.Lock(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	defer st.Unlock()
	rec, err := st.Load("veth", "veth-host")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Unwind(ctx, &plantest.FakeRunner{}, st, rec); err != nil {
		t.Fatal(err)
	}
}

// TestStateDirUnderStickyDir: a state directory in a directory anyone may
// write but with the sticky bit (/tmp, a tmpfs /run) is trusted: no one
// else can rename or replace it there.
func TestStateDirUnderStickyDir(t *testing.T) {
	parent := t.TempDir()
	chmod(t, parent, 0o1777)
	st := NewStore(filepath.Join(parent, "plumb"))
	if err := st.Lock(context.Background(), time.Second); err != nil {
		t.Fatal(err)
	}
	st.Unlock()
}

// TestJournalNamesStayInside: an object named with a path (`plumb down
// ../../x`) is never read from outside the state directory.
func TestJournalNamesStayInside(t *testing.T) {
	root := t.TempDir()
	st := NewStore(filepath.Join(root, "state"))
	if err := st.Lock(context.Background(), time.Second); err != nil {
		t.Fatal(err)
	}
	defer st.Unlock()
	if err := os.WriteFile(filepath.Join(root, "x.json"), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, kn := range [][2]string{{"..", "../x"}, {"layer", "../../x"}, {"", "x"}, {"layer", ""}, {"layer", "."}} {
		_, err := st.Load(kn[0], kn[1])
		var r *Refused
		if !errors.As(err, &r) {
			t.Errorf("Load(%q, %q) = %v; want it refused", kn[0], kn[1], err)
		}
	}
	if err := st.Save(&Record{FormatVersion: FormatVersion, Kind: "layer", Name: "../../y", State: StateUp}); err == nil {
		t.Error("Save() of a name with a path succeeded")
	}
}

func chown(t *testing.T, path string) {
	t.Helper()
	if err := os.Lchown(path, nobody, nobody); err != nil {
		t.Fatal(err)
	}
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if mode&0o1000 != 0 {
		mode = mode&0o777 | os.ModeSticky
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func mkfifo(path string) error { return syscall.Mkfifo(path, 0o600) }
