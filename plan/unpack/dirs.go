package unpack

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// unpacker is the state of one Apply: nothing in it is shared.
type unpacker struct {
	root       *os.Root // dst
	rootDir    *os.File // dst, for its descriptor
	rootFD     int
	lowers     []*os.File // Options.Lower, topmost first, once openLowers ran
	lowerPaths []string
	ready      func(context.Context) error
	lowersOpen bool
	lowersErr  error
	ctx        context.Context
	owner      bool   // chown entries to their header's owner (we are root)
	uid, gid   int    // who owns what Apply creates, before any chown
	umask      int    // the process's, or -1 when not known (every mode is then set)
	opaqueKey  string // trusted.overlay.opaque or user.overlay.opaque
	buf        []byte // copy buffer

	// cache holds descriptors of directories of dst by entry path (lexical,
	// as the archive names them), each opened through root or by an *at
	// call on a descriptor from it; bounded, least recently used goes.
	cache map[string]cached
	clock uint64

	dirs       []dirAttrs      // modes and times set when all is written
	whiteouts  map[string]bool // whiteouts made, by path
	opaqueDirs map[string]bool // directories made opaque, by path
	dropped    map[string]bool // xattr names not applied

	reserve int64 // Options.Reserve
	rinodes int64 // Options.ReserveInodes
	entries int   // entries made since the free inodes were last looked at
	written int64 // bytes written since the free space was last looked at
}

type cached struct {
	fd   int
	used uint64
}

// dirAttrs is what a directory gets once its contents are written: its
// mode (a 0555 directory must stay writable until then) and its times
// (creating entries in it changes them).
type dirAttrs struct {
	name         string
	mode         uint32
	times        bool
	atime, mtime unix.Timespec
	dead         bool // replaced by a later entry
}

const cacheSize = 64

func open(dst string, opts Options) (*unpacker, error) {
	root, err := os.OpenRoot(dst)
	if err != nil {
		return nil, fmt.Errorf("layer directory: %w", err)
	}
	u := &unpacker{
		root:       root,
		owner:      os.Geteuid() == 0,
		opaqueKey:  "trusted.overlay.opaque",
		buf:        make([]byte, bufferSize),
		cache:      map[string]cached{},
		whiteouts:  map[string]bool{},
		opaqueDirs: map[string]bool{},
		dropped:    map[string]bool{},
	}
	if opts.UserXattr {
		u.opaqueKey = "user.overlay.opaque"
	}
	if u.rootDir, err = root.Open("."); err != nil {
		u.close()
		return nil, fmt.Errorf("layer directory: %w", err)
	}
	if names, err := u.rootDir.Readdirnames(1); err != io.EOF {
		u.close()
		if err != nil {
			return nil, fmt.Errorf("layer directory: %w", err)
		}
		return nil, fmt.Errorf("layer directory %s is not empty (it holds %q): a layer is unpacked into a new directory", dst, names[0])
	}
	u.rootFD = int(u.rootDir.Fd())
	// What Apply creates is owned by its effective uid and gid, unless dst
	// is setgid (directories made under it inherit that); its mode is the
	// one asked for less the umask, unless dst has a default ACL. Knowing
	// both saves a chown and a chmod per file where they would change
	// nothing.
	var st unix.Stat_t
	if err := unix.Fstat(u.rootFD, &st); err != nil {
		u.close()
		return nil, fmt.Errorf("layer directory: %w", err)
	}
	u.uid, u.gid, u.umask = os.Geteuid(), os.Getegid(), umask()
	if st.Mode&unix.S_ISGID != 0 {
		u.gid = -1
	}
	if _, err := unix.Fgetxattr(u.rootFD, "system.posix_acl_default", nil); err != unix.ENODATA && err != unix.ENOTSUP {
		u.umask = -1
	}
	u.lowerPaths, u.ready, u.reserve, u.rinodes = opts.Lower, opts.Ready, opts.Reserve, opts.ReserveInodes
	return u, nil
}

// openLowers opens the lower layers the first time one is needed (a
// directory the layer implies, a hard link to a file it does not have):
// most layers never need them, so layers unpacked side by side wait for
// the ones below only then.
func (u *unpacker) openLowers(ctx context.Context) ([]*os.File, error) {
	if u.lowersOpen {
		return u.lowers, u.lowersErr
	}
	u.lowersOpen = true
	if len(u.lowerPaths) > 0 && u.ready != nil {
		if u.lowersErr = u.ready(ctx); u.lowersErr != nil {
			return nil, u.lowersErr
		}
	}
	for _, l := range u.lowerPaths {
		f, err := os.OpenFile(l, os.O_RDONLY|unix.O_DIRECTORY, 0)
		if err != nil {
			u.lowersErr = fmt.Errorf("lower layer: %w", err)
			return nil, u.lowersErr
		}
		u.lowers = append(u.lowers, f)
	}
	return u.lowers, nil
}

func (u *unpacker) close() {
	u.forgetAll()
	for _, f := range u.lowers {
		f.Close()
	}
	if u.rootDir != nil {
		u.rootDir.Close()
	}
	u.root.Close()
}

// dir returns a descriptor of the directory name ("." is dst), valid until
// the next call of dir, forget or forgetAll. With create, missing
// directories are made as implied ones. A symbolic link on the way is
// followed only by os.Root, which refuses to leave dst.
func (u *unpacker) dir(name string, create bool) (int, error) {
	if name == "." {
		return u.rootFD, nil
	}
	u.clock++
	if c, ok := u.cache[name]; ok {
		c.used = u.clock
		u.cache[name] = c
		return c.fd, nil
	}
	pfd, err := u.dir(path.Dir(name), create)
	if err != nil {
		return -1, err
	}
	base := path.Base(name)
	fd, err := openDir(pfd, base)
	switch {
	case err == unix.ENOENT && create:
		fd, err = u.implied(pfd, name, base)
	case err == unix.ELOOP || err == unix.ENOTDIR:
		fd, err = u.follow(pfd, name, base)
	case err != nil:
		err = &os.PathError{Op: "open", Path: name, Err: err}
	}
	if err != nil {
		return -1, err
	}
	u.remember(name, fd)
	return fd, nil
}

// follow opens the directory a symbolic link name leads to, through
// os.Root: a link out of dst (absolute, or with `..` past the top) is
// refused.
func (u *unpacker) follow(pfd int, name, base string) (int, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return -1, &os.PathError{Op: "stat", Path: name, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFLNK {
		return -1, fmt.Errorf("%s is not a directory", name)
	}
	f, err := u.root.OpenFile(name, os.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		target, _ := u.root.Readlink(name)
		if escapes(err) || strings.HasPrefix(target, "/") {
			return -1, fmt.Errorf("%w: %s is a symbolic link to %q: %v", ErrUnsafePath, name, target, err)
		}
		return -1, fmt.Errorf("%s is a symbolic link to %q, not to a directory of the layer: %w", name, target, err)
	}
	defer f.Close()
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "dup", Path: name, Err: err}
	}
	return fd, nil
}

func openDir(pfd int, base string) (int, error) {
	for {
		fd, err := unix.Openat(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

func (u *unpacker) remember(name string, fd int) {
	if len(u.cache) >= cacheSize {
		var oldest string
		var min uint64 = 1<<64 - 1
		for k, c := range u.cache {
			if c.used < min {
				oldest, min = k, c.used
			}
		}
		unix.Close(u.cache[oldest].fd)
		delete(u.cache, oldest)
	}
	u.clock++
	u.cache[name] = cached{fd: fd, used: u.clock}
}

// forget drops what is known of name and everything beneath it, which an
// entry of the archive is about to replace.
func (u *unpacker) forget(name string) {
	for k, c := range u.cache {
		if k == name || beneath(name, k) {
			unix.Close(c.fd)
			delete(u.cache, k)
		}
	}
	for p := range u.whiteouts {
		if p == name || beneath(name, p) {
			delete(u.whiteouts, p)
		}
	}
	for p := range u.opaqueDirs {
		if p == name || beneath(name, p) {
			delete(u.opaqueDirs, p)
		}
	}
}

// forgetAll closes every cached descriptor: after a directory is removed,
// one reached through a symbolic link may be of a removed directory.
func (u *unpacker) forgetAll() {
	for k, c := range u.cache {
		unix.Close(c.fd)
		delete(u.cache, k)
	}
}

// replace removes what is at name (base in pfd) so that an entry of the
// archive can take its place, as tar does: the later entry wins. A
// directory over a directory is merged instead (merge is true). Every
// descriptor from dir may be closed afterwards.
func (u *unpacker) replace(pfd int, name, base string, dir bool) (merge bool, err error) {
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return false, &os.PathError{Op: "stat", Path: name, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		if err := unix.Unlinkat(pfd, base, 0); err != nil {
			return false, &os.PathError{Op: "unlink", Path: name, Err: err}
		}
		u.forget(name)
		return false, nil
	}
	if dir {
		return true, nil
	}
	if err := u.root.RemoveAll(name); err != nil {
		return false, err
	}
	u.forget(name)
	u.forgetAll()
	for i := range u.dirs {
		if d := &u.dirs[i]; d.name == name || beneath(name, d.name) {
			d.dead = true
		}
	}
	return false, nil
}

// implied makes the directory name, which the archive implies without
// listing it, with the attributes of the same directory in the layers
// below (containerd's mkparent), or 0755 and root's when none has it.
func (u *unpacker) implied(pfd int, name, base string) (int, error) {
	low, err := u.lower(name)
	if err != nil {
		return -1, err
	}
	if err := unix.Mkdirat(pfd, base, 0o700); err != nil {
		return -1, &os.PathError{Op: "mkdir", Path: name, Err: err}
	}
	fd, err := openDir(pfd, base)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: name, Err: err}
	}
	d := dirAttrs{name: name, mode: 0o755}
	uid, gid := 0, 0
	if low != nil {
		d.mode = low.mode
		d.times, d.atime, d.mtime = true, low.atime, low.mtime
		uid, gid = low.uid, low.gid
		for _, x := range low.xattrs {
			if err := unix.Fsetxattr(fd, x.key, x.value, 0); err != nil {
				unix.Close(fd)
				return -1, fmt.Errorf("implied directory %s: %w", name, xattrError(x.key, err))
			}
		}
	}
	if u.owner {
		if err := unix.Fchown(fd, uid, gid); err != nil {
			unix.Close(fd)
			return -1, &os.PathError{Op: "chown", Path: name, Err: err}
		}
	}
	u.dirs = append(u.dirs, d)
	return fd, nil
}

type lowerAttrs struct {
	mode         uint32
	uid, gid     int
	atime, mtime unix.Timespec
	xattrs       []xattr
}

// lower finds the directory name in the layers below as the merged view
// would show it: the first layer that has it, unless a layer above it hides
// it (a whiteout or a non-directory on the way, or an opaque directory).
func (u *unpacker) lower(name string) (*lowerAttrs, error) {
	comps := strings.Split(name, "/")
	lowers, err := u.openLowers(u.ctx)
	if err != nil {
		return nil, err
	}
	for i, l := range lowers {
		a, stop, err := u.lowerOne(int(l.Fd()), comps)
		if err != nil {
			return nil, fmt.Errorf("lower layer %d (%s): %w", i, l.Name(), err)
		}
		if a != nil || stop {
			return a, nil
		}
	}
	return nil, nil
}

func (u *unpacker) lowerOne(top int, comps []string) (a *lowerAttrs, stop bool, err error) {
	cur := top
	defer func() {
		if cur != top {
			unix.Close(cur)
		}
	}()
	opaque := false
	for i, c := range comps {
		fd, err := openDir(cur, c)
		switch err {
		case nil:
		case unix.ENOENT:
			return nil, opaque, nil
		case unix.ENOTDIR, unix.ELOOP:
			return nil, true, nil // a whiteout, file or link hides what is below
		default:
			return nil, false, err
		}
		if cur != top {
			unix.Close(cur)
		}
		cur = fd
		if i < len(comps)-1 && isOpaque(fd, u.opaqueKey) {
			opaque = true
		}
	}
	var st unix.Stat_t
	if err := unix.Fstat(cur, &st); err != nil {
		return nil, false, err
	}
	a = &lowerAttrs{mode: st.Mode & 0o7777, uid: int(st.Uid), gid: int(st.Gid), atime: st.Atim, mtime: st.Mtim}
	a.xattrs, err = u.keptXattrs(cur)
	return a, true, err
}

func isOpaque(fd int, key string) bool {
	var v [1]byte
	n, err := unix.Fgetxattr(fd, key, v[:])
	return err == nil && n == 1 && v[0] == 'y'
}

// keptXattrs lists the xattrs of fd that a layer may carry.
func (u *unpacker) keptXattrs(fd int) ([]xattr, error) {
	sz, err := unix.Flistxattr(fd, nil)
	if err != nil || sz == 0 {
		if errorsIsAny(err, unix.ENOTSUP) {
			return nil, nil
		}
		return nil, err
	}
	list := make([]byte, sz)
	if sz, err = unix.Flistxattr(fd, list); err != nil {
		return nil, err
	}
	var out []xattr
	for k := range strings.SplitSeq(strings.TrimRight(string(list[:sz]), "\x00"), "\x00") {
		if keep, _ := xattrPolicy(k); !keep {
			continue
		}
		n, err := unix.Fgetxattr(fd, k, nil)
		if err != nil {
			continue
		}
		v := make([]byte, n)
		if n, err = unix.Fgetxattr(fd, k, v); err != nil {
			continue
		}
		out = append(out, xattr{k, v[:n]})
	}
	return out, nil
}

// finish gives every directory its mode and times, now that nothing more
// is written in it.
func (u *unpacker) finish() error {
	for _, d := range u.dirs {
		if d.dead {
			continue
		}
		var err error
		if d.name == "." {
			err = unix.Fchmod(u.rootFD, d.mode)
			if err == nil && d.times {
				err = futimens(u.rootFD, d.atime, d.mtime)
			}
		} else {
			pfd, derr := u.dir(path.Dir(d.name), false)
			if derr != nil {
				continue // removed since, with its parent
			}
			err = u.finishDir(pfd, path.Base(d.name), d)
		}
		if err != nil {
			return &os.PathError{Op: "chmod", Path: d.name, Err: err}
		}
	}
	return nil
}

func (u *unpacker) finishDir(pfd int, base string, d dirAttrs) error {
	err := unix.Fchmodat(pfd, base, d.mode, unix.AT_SYMLINK_NOFOLLOW)
	if err == unix.EOPNOTSUPP {
		// No fchmodat2 (Linux < 6.6), or base is now a symlink.
		fd, err := openDir(pfd, base)
		if err != nil {
			return nil // replaced by a later entry
		}
		defer unix.Close(fd)
		if err := unix.Fchmod(fd, d.mode); err != nil {
			return err
		}
		if d.times {
			return futimens(fd, d.atime, d.mtime)
		}
		return nil
	}
	if err != nil || !d.times {
		return err
	}
	return unix.UtimesNanoAt(pfd, base, []unix.Timespec{d.atime, d.mtime}, unix.AT_SYMLINK_NOFOLLOW)
}

// umask reads the process's umask without changing it (umask(2) can only
// set it, and a set-and-restore would race other goroutines); -1 when
// /proc does not say.
func umask() int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Umask:"); ok {
			if n, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32); err == nil {
				return int(n)
			}
		}
	}
	return -1
}
