package actions

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"
)

// Native is an action whose command is a trivial file operation (mkdir,
// a small file written, rm, rmdir, touch, the overlay's mount and umount)
// that plumb can do itself, with exactly the effect of its command line:
// the same modes, the same refusals, and on failure the tool's own
// C-locale message as its stderr, so that Gone and Clash read it as they
// read the tool's. The plan, the
// journal, --dry-run and -o sh still show the command; only the process
// start is saved (about 1 ms each on a quiet machine, 5 under load; a run
// --rm has about 25 of them).
type Native interface {
	Action
	// Do does what Argv would do.
	Do() error
}

// NativeRunner is a Runner that can do a Native action in-process.
type NativeRunner interface {
	// RunNative does a in-process, or reports false when its command must
	// run as a process (a stand-in is first on PATH, --exec each).
	RunNative(ctx context.Context, a Native) (bool, error)
}

// systemDirs are where the real tools live: a tool found elsewhere on PATH
// (a test's stand-in or fault wrapper) runs as a process, as the design
// promises ("a test can put stand-ins first on PATH").
var systemDirs = []string{"/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/local/bin", "/usr/local/sbin"}

// RunNative implements NativeRunner.
func (e Exec) RunNative(ctx context.Context, a Native) (bool, error) {
	if e.ProbeByCommand {
		return false, nil
	}
	if c, ok := a.(nativeOK); ok && !c.NativeOK() {
		return false, nil
	}
	argv := a.Argv()
	if !systemTool(argv[0]) {
		return false, nil // a stand-in, or not found: the process start reports it
	}
	zerolog.Ctx(ctx).Debug().Msgf("in-process: %s", Quote(argv))
	return true, a.Do()
}

// systemTool says whether the tool PATH finds for name is a real one, in
// one of systemDirs.
func systemTool(name string) bool {
	path, err := exec.LookPath(name)
	if err != nil {
		return false
	}
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	return slices.Contains(systemDirs, filepath.Dir(path))
}

// InProcess says whether a is an action plumb does itself when the real
// tool is on PATH (Native, and not one of its cases that needs a process).
func InProcess(a Action) bool {
	if _, ok := a.(Native); !ok {
		return false
	}
	c, ok := a.(nativeOK)
	return !ok || c.NativeOK()
}

// Groupable is an in-process action whose undo is harmless when the
// action never ran: it removes only a file or directory the action would
// have made in plumb's own directories, or refuses what it did not make.
// The executor lets consecutive such steps share one journal write ahead,
// so a crash among them leaves all of them started and recover runs all
// their undos. An action whose undo would remove what another tool made
// in the meantime (ip netns del of a namespace file, umount of a mount
// point) is not one: the step before it is its guard, and must be
// journaled done before it starts.
type Groupable interface {
	Native
	Groupable()
}

// toolError is a failed native action as its tool would have failed.
func toolError(a Action, lines ...string) error {
	return &ExecError{Argv: a.Argv(), Code: 1, Stderr: strings.Join(lines, "\n") + "\n"}
}

// strerror is errno's C-locale text, as coreutils prints it.
func strerror(err error) string {
	var errno unix.Errno
	if errors.As(err, &errno) {
		s := errno.Error()
		return strings.ToUpper(s[:1]) + s[1:]
	}
	return err.Error()
}

// quoteTool is how coreutils quotes a file name in a message: 'NAME'.
func quoteTool(p string) string { return "'" + strings.ReplaceAll(p, "'", `'\''`) + "'" }

// Do implements Native: mkdir -p [--mode=M] PATH. Parents are made with
// 0777 less the umask (as mkdir -p makes them), PATH with Mode exactly
// when given; an existing directory is left as it is.
func (a Mkdir) Do() error {
	target := filepath.Clean(a.Path)
	var prefixes []string
	for p := target; ; p = filepath.Dir(p) {
		prefixes = append(prefixes, p)
		if p == filepath.Dir(p) {
			break
		}
	}
	for i := len(prefixes) - 1; i >= 0; i-- {
		p := prefixes[i]
		err := unix.Mkdir(p, 0o777)
		if err == unix.EEXIST {
			fi, serr := os.Stat(p)
			switch {
			case serr == nil && fi.IsDir():
				continue
			case serr == nil && i > 0:
				// What mkdir says once the next one fails: ENOTDIR.
				err = unix.ENOTDIR
			}
		}
		if err != nil {
			return toolError(a, fmt.Sprintf("mkdir: cannot create directory %s: %s", quoteTool(p), strerror(err)))
		}
		if i == 0 && a.Mode != 0 {
			if err := unix.Chmod(p, uint32(a.Mode.Perm())); err != nil {
				return toolError(a, fmt.Sprintf("mkdir: cannot set permissions of %s: %s", quoteTool(p), strerror(err)))
			}
		}
	}
	return nil
}

// writeShell is `umask U; CMD >"$path"` in-process: the file is opened as
// the shell's redirection opens it, and a new one gets 0666 less U.
func writeShell(a Action, path string, umask fs.FileMode, content string) error {
	_, statErr := os.Lstat(path)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o666&^umask)
	if err != nil {
		msg := strerror(err)
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
			msg = "Directory nonexistent" // dash's words for both, on a redirection
		}
		return toolError(a, fmt.Sprintf("sh: 1: cannot create %s: %s", path, msg))
	}
	if errors.Is(statErr, fs.ErrNotExist) {
		// plumb's own umask may be stricter than the one the command sets.
		if err := f.Chmod(0o666 &^ umask); err != nil {
			f.Close()
			return toolError(a, fmt.Sprintf("sh: 1: %s", strerror(err)))
		}
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return toolError(a, fmt.Sprintf("sh: 1: printf: I/O error: %s", strerror(err)))
	}
	if err := f.Close(); err != nil {
		return toolError(a, fmt.Sprintf("sh: 1: %s", strerror(err)))
	}
	return nil
}

// Do implements Native: sh -c 'umask 022; printf %s "$1" >"$2"'.
func (a WriteFile) Do() error { return writeShell(a, a.Path, 0o022, a.Content) }

// Do implements Native: sh -c 'umask 077; cat >"$1"' fed the content.
func (a WriteConfig) Do() error { return writeShell(a, a.Path, 0o077, a.Content) }

// Do implements Native: rm -f -- PATH (a missing file is no error; a
// directory is refused).
func (a RemoveFile) Do() error {
	err := unix.Unlink(a.Path)
	if err == nil || err == unix.ENOENT {
		return nil
	}
	if err == unix.EISDIR {
		return toolError(a, fmt.Sprintf("rm: cannot remove %s: Is a directory", quoteTool(a.Path)))
	}
	return toolError(a, fmt.Sprintf("rm: cannot remove %s: %s", quoteTool(a.Path), strerror(err)))
}

// Do implements Native: rmdir --ignore-fail-on-non-empty PATH...: goes on
// past a failure, and fails at the end, as rmdir does.
func (a RmdirEmpty) Do() error {
	var lines []string
	for _, p := range a.Paths {
		err := unix.Rmdir(p)
		if err == nil || err == unix.ENOTEMPTY || err == unix.EEXIST {
			continue
		}
		lines = append(lines, fmt.Sprintf("rmdir: failed to remove %s: %s", quoteTool(p), strerror(err)))
	}
	if len(lines) > 0 {
		return toolError(a, lines...)
	}
	return nil
}

// Do implements Native: rm -rf --one-file-system -- PATH...: deletes each
// tree, refusing to go into a directory on another file system.
func (a RemoveTree) Do() error {
	var lines []string
	for _, p := range append([]string{a.Path}, a.More...) {
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			if err != unix.ENOENT {
				lines = append(lines, fmt.Sprintf("rm: cannot remove %s: %s", quoteTool(p), strerror(err)))
			}
			continue
		}
		lines = append(lines, removeTree(p, st.Dev)...)
	}
	if len(lines) > 0 {
		return toolError(a, lines...)
	}
	return nil
}

func removeTree(p string, dev uint64) []string {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		if err == unix.ENOENT {
			return nil
		}
		return []string{fmt.Sprintf("rm: cannot remove %s: %s", quoteTool(p), strerror(err))}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		if err := unix.Unlink(p); err != nil && err != unix.ENOENT {
			return []string{fmt.Sprintf("rm: cannot remove %s: %s", quoteTool(p), strerror(err))}
		}
		return nil
	}
	if st.Dev != dev {
		return []string{fmt.Sprintf("rm: skipping %s, since it's on a different device", quoteTool(p))}
	}
	entries, err := os.ReadDir(p)
	if err != nil {
		return []string{fmt.Sprintf("rm: cannot remove %s: %s", quoteTool(p), strerror(err))}
	}
	var lines []string
	for _, e := range entries {
		lines = append(lines, removeTree(filepath.Join(p, e.Name()), dev)...)
	}
	if len(lines) > 0 {
		return lines
	}
	if err := unix.Rmdir(p); err != nil && err != unix.ENOENT {
		return []string{fmt.Sprintf("rm: cannot remove %s: %s", quoteTool(p), strerror(err))}
	}
	return nil
}

// Do implements Native: touch PATH (made 0666 less the umask, or its times
// set to now).
func (a Touch) Do() error {
	f, err := os.OpenFile(a.Path, os.O_WRONLY|os.O_CREATE, 0o666)
	if err != nil {
		return toolError(a, fmt.Sprintf("touch: cannot touch %s: %s", quoteTool(a.Path), strerror(err)))
	}
	f.Close()
	now := time.Now()
	if err := os.Chtimes(a.Path, now, now); err != nil {
		return toolError(a, fmt.Sprintf("touch: setting times of %s: %s", quoteTool(a.Path), strerror(err)))
	}
	return nil
}

// nativeOK is a Native action that can be done in-process only in some of
// its forms.
type nativeOK interface{ NativeOK() bool }

// NativeOK: an overlay whose layers are relative to Dir runs where mount
// runs (env -C), which a process of its own gives.
func (a OverlayMount) NativeOK() bool { return a.Dir == "" }

// Do implements Native: mount -t overlay overlay -o [nodev,][nosuid,]OPTS
// MERGED, with the flags as mount(8) passes them (MS_NODEV, MS_NOSUID) and
// the rest as the file system's data. mount(8) refuses an overlay already
// mounted at MERGED; so does this.
func (a OverlayMount) Do() error {
	if mountedAt(a.Merged, "overlay") {
		return &ExecError{Argv: a.Argv(), Code: 32, Stderr: fmt.Sprintf("mount: %s: overlay already mounted on %s.\n", a.Merged, a.Merged)}
	}
	var flags uintptr
	if a.NoDev {
		flags |= unix.MS_NODEV
	}
	if a.NoSuid {
		flags |= unix.MS_NOSUID
	}
	if err := unix.Mount("overlay", a.Merged, "overlay", flags, a.Options()); err != nil {
		msg := strerror(err)
		if err == unix.ENODEV {
			msg = "unknown filesystem type 'overlay'"
		}
		return &ExecError{Argv: a.Argv(), Code: 32, Stderr: fmt.Sprintf("mount: %s: %s.\n", a.Merged, msg)}
	}
	return nil
}

// mountedAt reports whether a file system of type fstype is mounted at
// path, from /proc/self/mountinfo.
func mountedAt(path, fstype string) bool {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 10 {
			continue
		}
		i := 6
		for i < len(f) && f[i] != "-" {
			i++
		}
		if i+1 < len(f) && unescapeMount(f[4]) == path && f[i+1] == fstype {
			return true
		}
	}
	return false
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%o", &v); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Do implements Native: umount [-l] PATH.
func (a Umount) Do() error {
	var flags int
	if a.Lazy {
		flags = unix.MNT_DETACH
	}
	err := unix.Unmount(a.Path, flags)
	switch err {
	case nil:
		return nil
	case unix.EINVAL:
		return &ExecError{Argv: a.Argv(), Code: 32, Stderr: fmt.Sprintf("umount: %s: not mounted.\n", a.Path)}
	case unix.EBUSY:
		return &ExecError{Argv: a.Argv(), Code: 32, Stderr: fmt.Sprintf("umount: %s: target is busy.\n", a.Path)}
	}
	return &ExecError{Argv: a.Argv(), Code: 32, Stderr: fmt.Sprintf("umount: %s: %s.\n", a.Path, strerror(err))}
}

// Groupable: each removes only the file or directory it would have made,
// in plumb's own directories (a container's, a layer's), or has no undo.
// Touch's undo, rm -f of a namespace's file, fails with EBUSY on a
// namespace another tool mounted there.
func (WriteFile) Groupable()   {}
func (WriteConfig) Groupable() {}
func (Touch) Groupable()       {}
func (RemoveFile) Groupable()  {}
func (RmdirEmpty) Groupable()  {}
func (RemoveTree) Groupable()  {}
