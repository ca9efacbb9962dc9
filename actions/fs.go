package actions

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Mkdir creates a directory and any missing parents.
type Mkdir struct {
	Path string `json:"path"`
	// Scratch marks overlay's work directory, which holds only the kernel's
	// own scratch files (leftover whiteouts among them): when plumb created
	// it, its undo deletes it whole, after the unmount it depends on.
	Scratch bool `json:"scratch,omitempty"`
	// Holds, when set, says what the directory will hold that its undo
	// deletes with it (a named volume's data): as with Scratch, the undo
	// deletes it whole when this step created it.
	Holds string `json:"holds,omitempty"`
	// Purpose is the step's reason when it is not "create PATH, which does
	// not exist yet": a directory that may already be there, shared by
	// several objects (/run/netns).
	Purpose string `json:"purpose,omitempty"`
	// Mode, when set, is the mode Path is made with (`mkdir -p
	// --mode=700`: one word, which a reader cannot mistake for a path),
	// whatever the umask: the directories plumb keeps layers and overlays
	// in are its own, reachable by root alone. mkdir gives it to Path
	// only, not to the parents -p makes: a recipe makes each such
	// directory by a step of its own (plan's privateDirs).
	Mode fs.FileMode `json:"mode,omitempty"`
}

func (a Mkdir) Kind() string { return "mkdir" }
func (a Mkdir) Argv() []string {
	if a.Mode != 0 {
		return []string{"mkdir", "-p", fmt.Sprintf("--mode=%o", a.Mode.Perm()), a.Path}
	}
	return []string{"mkdir", "-p", a.Path}
}
func (a Mkdir) Why() string {
	if a.Purpose != "" {
		return a.Purpose
	}
	return fmt.Sprintf("create %s, which does not exist yet", a.Path)
}
func (a Mkdir) Undo() Action { return nil }
func (a Mkdir) UndoNote() string {
	if a.Scratch {
		return "deletes the work directory with overlay's scratch files, if this step created it"
	}
	if a.Holds != "" {
		return "deletes the directory and " + a.Holds + " with it, if this step created it"
	}
	return "removes the directories this step creates, if they are still empty"
}

// Prepare finds which directories this step will create (the missing path
// components, deepest first): only those are removed by the undo, and only
// while they are empty.
func (a Mkdir) Prepare(context.Context, Runner) (Action, error) {
	var created []string
	for p := filepath.Clean(a.Path); ; p = filepath.Dir(p) {
		if _, err := os.Lstat(p); err == nil {
			break
		} else if !os.IsNotExist(err) {
			return nil, fmt.Errorf("checking %s: %w", p, err)
		}
		created = append(created, p)
		if p == filepath.Dir(p) {
			break
		}
	}
	if len(created) == 0 {
		return nil, nil
	}
	if a.Scratch || a.Holds != "" {
		if len(created) > 1 {
			return nil, fmt.Errorf("directory %s: its parent %s does not exist", a.Path, filepath.Dir(a.Path))
		}
		return RemoveTree{Path: a.Path}, nil
	}
	return RmdirEmpty{Paths: created}, nil
}

// RmdirEmpty removes directories, deepest first, and keeps any that is not
// empty: plumb never deletes what a container wrote.
type RmdirEmpty struct {
	Paths []string `json:"paths"`
}

func (a RmdirEmpty) Kind() string { return "rmdir_empty" }
func (a RmdirEmpty) Argv() []string {
	return append([]string{"rmdir", "--ignore-fail-on-non-empty"}, a.Paths...)
}
func (a RmdirEmpty) Why() string  { return "remove the directories plumb created, if they are empty" }
func (a RmdirEmpty) Undo() Action { return nil }

// Gone: rmdir goes on past a missing directory and fails at the end; when
// every complaint is about a missing one, there was nothing left to remove.
func (a RmdirEmpty) Gone(stderr string) bool {
	return allLines(stderr, "No such file or directory")
}

func allLines(stderr, want string) bool {
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	for _, l := range lines {
		if !strings.Contains(l, want) {
			return false
		}
	}
	return len(lines) > 0 && lines[0] != ""
}

// OverlayMount mounts an overlay: read-only layers (topmost first) under an
// optional writable upper layer. With Dir set, the layer paths are relative
// to Dir and the command runs there (`env -C DIR`), so that many layers fit
// in the one page of mount options the kernel takes.
type OverlayMount struct {
	Lower  []string `json:"lower"`
	Upper  string   `json:"upper,omitempty"`
	Work   string   `json:"work,omitempty"`
	Merged string   `json:"merged"`
	Dir    string   `json:"dir,omitempty"`
	// NoDev and NoSuid mount it nodev (device nodes in the layers cannot be
	// opened) and nosuid (setuid and setgid bits grant nothing), as a
	// container's root is.
	NoDev  bool `json:"nodev,omitempty"`
	NoSuid bool `json:"nosuid,omitempty"`
}

func (a OverlayMount) Kind() string { return "overlay_mount" }

// Options is the -o string, with overlay's special characters escaped as the
// kernel documentation says (a backslash before ':' ',' and '\').
func (a OverlayMount) Options() string {
	esc := make([]string, len(a.Lower))
	for i, l := range a.Lower {
		esc[i] = EscapeOverlay(l)
	}
	o := "lowerdir=" + strings.Join(esc, ":")
	if a.Upper != "" {
		o += ",upperdir=" + EscapeOverlay(a.Upper) + ",workdir=" + EscapeOverlay(a.Work)
	}
	return o
}

// Argv: the mount flags come first in -o; mount(8) passes them as flags,
// so they take nothing from the one page of options the kernel reads.
func (a OverlayMount) Argv() []string {
	o := a.Options()
	if a.NoSuid {
		o = "nosuid," + o
	}
	if a.NoDev {
		o = "nodev," + o
	}
	argv := []string{"mount", "-t", "overlay", "overlay", "-o", o, a.Merged}
	if a.Dir != "" {
		argv = append([]string{"env", "-C", a.Dir}, argv...)
	}
	return argv
}

func (a OverlayMount) Why() string {
	if a.Upper == "" {
		return fmt.Sprintf("mount %d read-only layers as one view at %s", len(a.Lower), a.Merged)
	}
	return fmt.Sprintf("mount %d read-only layers under the writable %s as one view at %s", len(a.Lower), a.Upper, a.Merged)
}

func (a OverlayMount) Undo() Action { return Umount{Path: a.Merged} }

// EscapeOverlay escapes the characters overlay's option syntax gives meaning to.
func EscapeOverlay(p string) string { return overlayEscapes.Replace(p) }

// overlayEscapes is made once: a Replacer is costly to build, and each
// container's plan escapes every layer of its root.
var overlayEscapes = strings.NewReplacer(`\`, `\\`, `:`, `\:`, `,`, `\,`)

// Umount unmounts a file system; Lazy detaches it now and lets the kernel
// finish when the last user lets go (umount -l).
type Umount struct {
	Path string `json:"path"`
	Lazy bool   `json:"lazy,omitempty"`
}

func (a Umount) Kind() string { return "umount" }
func (a Umount) Argv() []string {
	if a.Lazy {
		return []string{"umount", "-l", a.Path}
	}
	return []string{"umount", a.Path}
}
func (a Umount) Why() string  { return fmt.Sprintf("unmount %s", a.Path) }
func (a Umount) Undo() Action { return nil }
func (a Umount) Barrier()     {}
func (a Umount) Gone(stderr string) bool {
	return strings.Contains(stderr, "not mounted") || strings.Contains(stderr, "no mount point specified") ||
		strings.Contains(stderr, "No such file or directory")
}

// RemoveTree deletes a directory and everything in it, staying on its file
// system: a work directory plumb made, or a layout the user asked to purge.
type RemoveTree struct {
	Path string `json:"path"`
	// More are further trees deleted by the same command: what an
	// interrupted unpack left beside a layer's directory.
	More []string `json:"more,omitempty"`
}

func (a RemoveTree) Kind() string { return "remove_tree" }
func (a RemoveTree) Argv() []string {
	return append([]string{"rm", "-rf", "--one-file-system", "--", a.Path}, a.More...)
}
func (a RemoveTree) Why() string {
	if len(a.More) > 0 {
		return fmt.Sprintf("delete %s and everything in it, and what an interrupted unpack left", a.Path)
	}
	return fmt.Sprintf("delete %s and everything in it (--purge)", a.Path)
}
func (a RemoveTree) Undo() Action { return nil }

// Shell lists the directories missing before mkdir, and undoes only those.
// It walks the cleaned path up, as Prepare does, so that the runbook and
// plumb undo the same directories. The list is read one directory a line,
// with dirname; a path holding a newline cannot be listed that way (the line
// splits, and $(dirname) drops trailing newlines), so for such a path the
// runbook tests the directories Prepare would consider, by name, in turn.
// The undo quotes each directory with printf %q, as the rollback evals it.
func (a Mkdir) Shell(n int) []string {
	v := fmt.Sprintf("made_%d", n)
	p := Quote([]string{a.Path})
	if a.Scratch || a.Holds != "" {
		return []string{
			fmt.Sprintf("[ -e %s ] && %s=0 || %s=1", p, v, v),
			Quote(a.Argv()),
			fmt.Sprintf(`[ "$%s" = 0 ] || undo+=(%s)`, v, Quote([]string{Quote(RemoveTree{Path: a.Path}.Argv())})),
		}
	}
	clean := filepath.Clean(a.Path)
	list := fmt.Sprintf(`mapfile -t %s < <(d=%s; while [ ! -e "$d" ]; do printf '%%s\n' "$d"; d=$(dirname "$d"); done)`, v, Quote([]string{clean}))
	if strings.Contains(clean, "\n") {
		var dirs []string
		for d := clean; ; d = filepath.Dir(d) {
			dirs = append(dirs, d)
			if d == filepath.Dir(d) {
				break
			}
		}
		list = fmt.Sprintf(`%s=(); for d in %s; do [ -e "$d" ] && break; %s+=("$d"); done`, v, Quote(dirs), v)
	}
	return []string{
		list,
		Quote(a.Argv()),
		fmt.Sprintf(`[ ${#%s[@]} = 0 ] || undo+=("rmdir --ignore-fail-on-non-empty $(printf '%%q ' "${%s[@]}")")`, v, v),
	}
}
