package plan

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"plumb/actions"
	"plumb/plan/plantest"
)

// TestLayoutCheck: a root and a state directory may be one directory or
// two apart, never one inside the other.
func TestLayoutCheck(t *testing.T) {
	for _, c := range []struct {
		dir, root, refused string
	}{
		{"/run/plumb", "", ""},
		{"/run/plumb", "/run/plumb", ""},
		{"/run/plumb", "/var/lib/plumb", ""},
		{"/run/plumb", "/run/plumb-root", ""}, // a prefix of the name is not a parent
		{"/run/r/overlay/st", "/run/r", "state-dir"},
		{"/run/r", "/run/r/lib", "root"},
		{"/run/r/", "/run/r/./lib/..", ""},
	} {
		err := Layout{Dir: c.dir, Root: c.root}.Check()
		var r *Refused
		switch {
		case c.refused == "" && err != nil:
			t.Errorf("Check(%s, %s) = %v; want nil", c.dir, c.root, err)
		case c.refused != "" && (!errors.As(err, &r) || r.Flag != c.refused):
			t.Errorf("Check(%s, %s) = %v; want --%s refused", c.dir, c.root, err, c.refused)
		}
	}
}

// TestPurgeOnlyLaidOut: a purge deletes one overlay's directory below
// the root and nothing else, whatever the journal says, symbolic links
// followed; nothing runs when it is refused.
func TestPurgeOnlyLaidOut(t *testing.T) {
	base := t.TempDir()
	l := Layout{Dir: filepath.Join(base, "run"), Root: filepath.Join(base, "lib")}
	over := filepath.Join(l.Root, "overlay")
	if err := os.MkdirAll(filepath.Join(over, "web"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(l.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(l.Dir, filepath.Join(over, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(t.TempDir(), filepath.Join(over, "victim")); err != nil {
		t.Fatal(err)
	}
	nested := Layout{Dir: filepath.Join(over, "st"), Root: l.Root} // as a journal of a layout Check refuses
	if err := os.MkdirAll(nested.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		l    Layout
		a    actions.Action
		err  string // "" for allowed
	}{
		{"an overlay's directory", l, actions.RemoveTree{Path: filepath.Join(over, "web")}, ""},
		{"one not there yet", l, actions.RemoveTree{Path: filepath.Join(over, "gone")}, ""},
		{"the legacy layout's", l, actions.RemoveTree{Path: filepath.Join(l.Dir, "overlay", "web")}, ""},
		{"the overlays' directory", l, actions.RemoveTree{Path: over}, "right below"},
		{"below an overlay", l, actions.RemoveTree{Path: filepath.Join(over, "web", "upper")}, "right below"},
		{"a way out", l, actions.RemoveTree{Path: filepath.Join(over, "..", "..")}, "right below"},
		{"elsewhere", l, actions.RemoveTree{Path: "/etc"}, "right below"},
		{"relative", l, actions.RemoveTree{Path: "overlay/web"}, "right below"},
		{"a link to the state directory", l, actions.RemoveTree{Path: filepath.Join(over, "link")}, "symbolic link"},
		{"a link followed by its slash", l, actions.RemoveTree{Path: filepath.Join(over, "link") + "/"}, "named plainly"},
		{"through a link and back", l, actions.RemoveTree{Path: filepath.Join(over, "link") + "/../objects"}, "named plainly"},
		{"a link to elsewhere", l, actions.RemoveTree{Path: filepath.Join(over, "victim")}, "symbolic link"},
		{"the state directory", nested, actions.RemoveTree{Path: nested.Dir}, "it holds"},
		{"more than one tree", l, actions.RemoveTree{Path: filepath.Join(over, "web"), More: []string{"/etc"}}, "only an overlay's"},
		{"not a deletion", l, actions.Touch{Path: filepath.Join(over, "web")}, "only an overlay's"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.l.checkPurge(c.a)
			if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
				t.Fatalf("checkPurge(%v) = %v; want %q", c.a.Argv(), err, c.err)
			}
			if c.err == "" {
				return
			}
			st := NewStoreAt(c.l.Dir, c.l.Root)
			f := &plantest.FakeRunner{}
			if _, err := Purge(context.Background(), Env{R: f, St: st, Mode: Each}, "overlay", "x", c.a); err == nil || len(f.Calls) > 0 {
				t.Errorf("Purge ran %q, %v; want it refused", f.Calls, err)
			}
		})
	}
}
