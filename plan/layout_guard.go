package plan

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"plumb/actions"
)

// Check refuses a root and a state directory of which one is inside the
// other (they may be the same directory, as before --root): a purge
// deletes a directory below the root, and with the state directory below
// it, `plumb overlay unmount --name st --purge` would delete the journals
// of every object plumb holds, and the lock.
func (l Layout) Check() error {
	dir, root := filepath.Clean(l.Dir), filepath.Clean(l.RootDir())
	if dir == root {
		return nil
	}
	if Within(dir, root) {
		return &Refused{Flag: "state-dir", Msg: fmt.Sprintf("the state directory %s is inside the root %s: give each a directory of its own (or the same one); a state directory already there can move: mv %s NEWDIR, then --state-dir NEWDIR", dir, root, dir)}
	}
	if Within(root, dir) {
		return &Refused{Flag: "root", Msg: fmt.Sprintf("the root %s is inside the state directory %s: give each a directory of its own (or the same one); a root already there can move: mv %s NEWDIR, then --root NEWDIR", root, dir, root)}
	}
	return nil
}

// checkPurge refuses a purge (Record.Purge) that is not the deletion of
// one laid-out overlay: a directory right below the root's overlay/ (or
// the state directory's, a plumb before --root kept them there) that holds
// neither the state directory nor the root, symbolic links followed. A
// journal is a file root can edit, and one from another layout can be
// recovered: the path it names is checked where it is planned and again
// where it runs.
func (l Layout) checkPurge(a actions.Action) error {
	rt, ok := a.(actions.RemoveTree)
	if !ok || len(rt.More) > 0 {
		return fmt.Errorf("plumb purges only an overlay's directory it laid out, not %q", actions.Quote(a.Argv()))
	}
	p := rt.Path
	if p != filepath.Clean(p) {
		// rm runs the path as written: with a trailing slash it follows a
		// link, and a/../b is resolved by the kernel through a's target.
		return fmt.Errorf("plumb purges only a directory named plainly, not %s (as %s)", p, filepath.Clean(p))
	}
	laidOut := false
	for _, base := range []string{l.overlaysDir(), l.Legacy().overlaysDir()} {
		if filepath.IsAbs(p) && filepath.Dir(p) == filepath.Clean(base) {
			laidOut = true
		}
	}
	if !laidOut {
		return fmt.Errorf("plumb purges only a directory right below %s, not %s", l.overlaysDir(), p)
	}
	if fi, err := os.Lstat(p); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		return fmt.Errorf("plumb will not purge %s: it is a symbolic link, not a directory it laid out", p)
	}
	real, err := filepath.EvalSymlinks(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // nothing to delete: deleting it again is what recover does
	} else if err != nil {
		return fmt.Errorf("purging %s: %w", p, err)
	}
	for _, keep := range []string{l.Dir, l.RootDir()} {
		k, err := filepath.EvalSymlinks(keep)
		if err != nil {
			k = filepath.Clean(keep)
		}
		if Within(k, real) {
			return fmt.Errorf("plumb will not delete %s: it holds %s", p, keep)
		}
	}
	return nil
}
