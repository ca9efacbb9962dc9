package plan

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// Issue 21 §2: a state directory other users can enter (an admin's
// `mkdir /var/lib/plumb`, 0755, or 0711) let them run the setuid files of
// the layers in it. Taking the lock makes it 0700, saying so, when it
// holds nothing but plumb's own entries, and refuses it, leaving its mode
// alone, when it holds anything else (it is then not plumb's alone). The
// directories plumb keeps layers and overlays in are tightened too.
func TestLockClosesStateDir(t *testing.T) {
	for _, c := range []struct {
		name    string
		mode    os.FileMode
		entries []string // made in the state directory first; a trailing / makes a directory
		want    os.FileMode
		warn    string // in the log; "" for no warning at all
		refused string // in the error; "" for none
	}{
		{name: "0700 is left as it is", mode: 0o700, entries: []string{"lock", "objects/", "layers/"}, want: 0o700},
		{name: "0755 of plumb's own is made 0700", mode: 0o755, entries: []string{"lock", "shared.json", "objects/", "index/", "image/", "lost+found/", "runtime/", "cache/", ".shared.json.tmp-1"}, want: 0o700,
			warn: "state directory %s was mode 0755, which let other users enter it and run the setuid files of the layers kept there; plumb made it 0700"},
		{name: "0711 of plumb's own is made 0700", mode: 0o711, want: 0o700,
			warn: "state directory %s was mode 0711, which let other users enter it"},
		{name: "0755 holding another's file is refused", mode: 0o755, entries: []string{"objects/", "notes.txt"}, want: 0o755,
			refused: "--state-dir: state directory %s is mode 0755: other users can enter it, and could run the setuid files and open the device nodes of the layers plumb keeps there; it holds what plumb does not make (notes.txt), so plumb leaves its mode alone: make it 0700 (chmod 700 %[1]s), or give a --state-dir of plumb's own"},
		{name: "0701 with more than three others is refused", mode: 0o701, entries: []string{"a", "b/", "c", "d"}, want: 0o701,
			refused: "(a, b, c, and 1 more)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state")
			mustDo(t, os.Mkdir(dir, 0o700))
			for _, e := range c.entries {
				p := filepath.Join(dir, e)
				if strings.HasSuffix(e, "/") {
					mustDo(t, os.Mkdir(p, 0o700))
				} else {
					mustDo(t, os.WriteFile(p, nil, 0o600))
				}
			}
			mustDo(t, os.Chmod(dir, c.mode))
			var log bytes.Buffer
			ctx := zerolog.New(&log).WithContext(context.Background())
			st := NewStore(dir)
			err := st.Lock(ctx, time.Second)
			st.Unlock()
			if c.refused == "" && err != nil {
				t.Fatalf("Lock() = %v", err)
			}
			if c.refused != "" {
				var r *Refused
				want := c.refused
				if strings.Contains(want, "%") {
					want = fmt.Sprintf(want, dir)
				}
				if !errors.As(err, &r) || !strings.Contains(err.Error(), want) {
					t.Fatalf("Lock() = %v; want a refusal holding %q", err, want)
				}
			}
			if fi, err := os.Stat(dir); err != nil {
				t.Fatal(err)
			} else if fi.Mode().Perm() != c.want {
				t.Errorf("state directory afterwards: mode %04o; want %04o", fi.Mode().Perm(), c.want)
			}
			switch {
			case c.warn == "" && log.Len() > 0:
				t.Errorf("logged %s", log.String())
			case c.warn != "" && !strings.Contains(log.String(), fmt.Sprintf(c.warn, dir)):
				t.Errorf("log %q; want a warning holding %q", log.String(), fmt.Sprintf(c.warn, dir))
			}
		})
	}
}

// A state directory 0750 or 0710 of group root is closed, as Docker's
// /var/lib/docker (0710 root:root) is: only root's group may enter it.
func TestLockKeepsRootGroupStateDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	mustDo(t, os.Mkdir(dir, 0o700))
	if err := os.Chown(dir, os.Geteuid(), 0); err != nil {
		t.Skipf("cannot give the state directory to group root: %v", err)
	}
	mustDo(t, os.Chmod(dir, 0o710))
	st := NewStore(dir)
	mustDo(t, st.Lock(context.Background(), time.Second))
	st.Unlock()
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o710 {
		t.Errorf("mode %04o; want 0710 left as it is", fi.Mode().Perm())
	}
	// The same mode for another group is open to that group: tightened.
	if err := os.Chown(dir, os.Geteuid(), 1); err != nil {
		t.Skipf("cannot give the state directory to group 1: %v", err)
	}
	mustDo(t, st.Lock(context.Background(), time.Second))
	st.Unlock()
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("mode %04o for group 1; want 0700", fi.Mode().Perm())
	}
}

// layers/, overlay/ and image/ an older plumb made 0755 are made 0700,
// saying so, whatever the state directory's mode.
func TestLockClosesLayoutDirs(t *testing.T) {
	dir := t.TempDir()
	st := NewStore(dir)
	for _, d := range []string{"layers", "overlay", "image"} {
		mustDo(t, os.Mkdir(filepath.Join(dir, d), 0o700))
		mustDo(t, os.Chmod(filepath.Join(dir, d), 0o755))
	}
	var log bytes.Buffer
	mustDo(t, st.Lock(zerolog.New(&log).WithContext(context.Background()), time.Second))
	st.Unlock()
	for _, d := range []string{"layers", "overlay", "image"} {
		p := filepath.Join(dir, d)
		if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: mode %04o; want 0700", d, fi.Mode().Perm())
		}
		if want := "directory " + p + " was mode 0755"; !strings.Contains(log.String(), want) {
			t.Errorf("log %q; want %q", log.String(), want)
		}
	}
}

// Issue 21 §4: a plumb killed while writing a journal or the ledger left
// .NAME.json.tmp-* for ever. Listing the journals under the lock deletes
// them (none can be being written: writes take the lock), and the files
// kept beside a journal that is gone (a removal killed half-way), and
// nothing else; listing without the lock changes nothing.
func TestLockSweepsTempFiles(t *testing.T) {
	dir := t.TempDir()
	st := NewStore(dir)
	mustDo(t, os.MkdirAll(filepath.Join(dir, "objects", "bridge"), 0o700))
	mustDo(t, os.MkdirAll(filepath.Join(dir, "objects", "container"), 0o700))
	temps := []string{"objects/bridge/.br0.json.tmp-123", "objects/container/.web.json.tmp-9", ".shared.json.tmp-42", "objects/bridge/gone.d/"}
	kept := []string{"objects/bridge/br0.json", "objects/bridge/.keep", ".json.tmp-dir/", "objects/bridge/.br1.json.tmp-7/", "objects/bridge/br0.d/", "objects/bridge/file.d"}
	for _, p := range append(temps, kept...) {
		if strings.HasSuffix(p, "/") {
			mustDo(t, os.Mkdir(filepath.Join(dir, p), 0o700))
			continue
		}
		mustDo(t, os.WriteFile(filepath.Join(dir, p), []byte("{"), 0o600))
	}
	if _, errs := st.List(); len(errs) != 1 { // br0.json's "{"
		t.Fatalf("List() without the lock: %v", errs)
	}
	for _, p := range append(temps, kept...) {
		if _, err := os.Lstat(filepath.Join(dir, p)); err != nil {
			t.Errorf("without the lock, %s: %v; want it kept", p, err)
		}
	}
	mustDo(t, st.Lock(context.Background(), time.Second))
	defer st.Unlock()
	if _, errs := st.Headers(); len(errs) != 1 {
		t.Fatalf("Headers() under the lock: %v", errs)
	}
	for _, p := range temps {
		if _, err := os.Lstat(filepath.Join(dir, p)); !errors.Is(err, syscall.ENOENT) {
			t.Errorf("%s: %v; want it deleted", p, err)
		}
	}
	for _, p := range kept {
		if _, err := os.Lstat(filepath.Join(dir, p)); err != nil {
			t.Errorf("%s: %v; want it kept", p, err)
		}
	}
}

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
