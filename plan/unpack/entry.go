package unpack

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// create runs make (an *at call creating base in the directory pfd) once,
// and again after replacing what was there. It reports merge when name is
// a directory that a directory entry merges into.
func (u *unpacker) create(name, op string, dir bool, make func(pfd int, base string) error) (pfd int, merge bool, err error) {
	parent, base := path.Dir(name), path.Base(name)
	for try := 0; ; try++ {
		if pfd, err = u.dir(parent, true); err != nil {
			return -1, false, err
		}
		err = make(pfd, base)
		if err != unix.EEXIST || try > 0 {
			break
		}
		if merge, err = u.replace(pfd, name, base, dir); err != nil || merge {
			break
		}
	}
	if errno, ok := err.(unix.Errno); ok {
		return -1, false, &os.PathError{Op: op, Path: name, Err: errno}
	}
	if err != nil {
		return -1, false, err
	}
	if merge {
		pfd, err = u.dir(parent, true)
	}
	return pfd, merge, err
}

// mkdir makes (or merges into) a directory; its mode and times wait for
// finish.
func (u *unpacker) mkdir(name string, hdr *tar.Header, xattrs []xattr) error {
	var fd int
	if name == "." {
		fd = u.rootFD
	} else {
		_, _, err := u.create(name, "mkdir", true, func(pfd int, base string) error {
			return unix.Mkdirat(pfd, base, 0o700)
		})
		if err != nil {
			return err
		}
		if fd, err = u.dir(name, false); err != nil {
			return err
		}
	}
	if u.owner {
		if err := unix.Fchown(fd, hdr.Uid, hdr.Gid); err != nil {
			return fmt.Errorf("chown %d:%d: %w", hdr.Uid, hdr.Gid, err)
		}
	}
	for _, x := range xattrs {
		if err := unix.Fsetxattr(fd, x.key, x.value, 0); err != nil {
			return xattrError(x.key, err)
		}
	}
	at, mt := times(hdr)
	u.dirs = append(u.dirs, dirAttrs{name: name, mode: uint32(hdr.Mode & 0o7777), times: true, atime: at, mtime: mt})
	return nil
}

// file writes a regular file, then gives it its owner, xattrs, mode (after
// chown, which clears setuid and setgid) and times.
func (u *unpacker) file(ctx context.Context, name string, hdr *tar.Header, r io.Reader, xattrs []xattr) (int64, error) {
	if name == "." {
		return 0, fmt.Errorf("%w: a file cannot be the layer's top directory", ErrUnsafePath)
	}
	var fd int
	_, _, err := u.create(name, "create", false, func(pfd int, base string) (err error) {
		fd, err = openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(hdr.Mode&0o777))
		return err
	})
	if err != nil {
		return 0, err
	}
	n, err := u.copy(ctx, fd, r)
	if err == nil {
		err = u.attrs(fd, hdr, xattrs)
	}
	if cerr := unix.Close(fd); err == nil && cerr != nil {
		err = fmt.Errorf("close: %w", cerr)
	}
	return n, err
}

func openat(dfd int, name string, flags int, mode uint32) (int, error) {
	for {
		fd, err := unix.Openat(dfd, name, flags, mode)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// copy writes the entry's content to fd through the one big buffer.
func (u *unpacker) copy(ctx context.Context, fd int, r io.Reader) (int64, error) {
	var total int64
	for {
		n, rerr := io.ReadFull(r, u.buf)
		for b := u.buf[:n]; len(b) > 0; {
			w, err := unix.Write(fd, b)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return total, fmt.Errorf("write: %w", err)
			}
			b = b[w:]
			total += int64(w)
		}
		if err := u.space(int64(n)); err != nil {
			return total, err
		}
		switch rerr {
		case nil:
			if err := ctx.Err(); err != nil {
				return total, err
			}
		case io.EOF, io.ErrUnexpectedEOF:
			return total, nil
		default:
			return total, fmt.Errorf("reading the layer: %w", rerr)
		}
	}
}

// attrs gives an open file its owner, xattrs, mode and times, in that
// order: chown clears setuid, setgid and security.capability.
//
// The file was created with the header's permission bits: the chmod is
// left out where the umask took none of them and there are no setuid,
// setgid or sticky bits, and the chown where the owner is already right.
func (u *unpacker) attrs(fd int, hdr *tar.Header, xattrs []xattr) error {
	if u.owner && (hdr.Uid != u.uid || hdr.Gid != u.gid) {
		if err := unix.Fchown(fd, hdr.Uid, hdr.Gid); err != nil {
			return fmt.Errorf("chown %d:%d: %w", hdr.Uid, hdr.Gid, err)
		}
	}
	for _, x := range xattrs {
		if err := unix.Fsetxattr(fd, x.key, x.value, 0); err != nil {
			return xattrError(x.key, err)
		}
	}
	if mode := uint32(hdr.Mode & 0o7777); u.umask < 0 || mode&0o7000 != 0 || mode&uint32(u.umask) != 0 {
		if err := unix.Fchmod(fd, mode); err != nil {
			return fmt.Errorf("chmod %04o: %w", mode, err)
		}
	}
	at, mt := times(hdr)
	if err := futimens(fd, at, mt); err != nil {
		return fmt.Errorf("setting times: %w", err)
	}
	return nil
}

// symlink makes a symbolic link, its target stored as written: a target
// is only data until something follows it, and nothing here follows one
// out of dst.
func (u *unpacker) symlink(name string, hdr *tar.Header, xattrs []xattr) error {
	if name == "." {
		return fmt.Errorf("%w: a symbolic link cannot be the layer's top directory", ErrUnsafePath)
	}
	pfd, _, err := u.create(name, "symlink", false, func(pfd int, base string) error {
		return unix.Symlinkat(hdr.Linkname, pfd, base)
	})
	if err != nil {
		return err
	}
	return u.attrsAt(pfd, name, hdr, xattrs, false)
}

// attrsAt gives base in pfd (not a regular file or directory) its owner,
// xattrs, mode (unless a symlink) and times, never following a link.
func (u *unpacker) attrsAt(pfd int, name string, hdr *tar.Header, xattrs []xattr, chmod bool) error {
	base := path.Base(name)
	if u.owner {
		if err := unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("chown %d:%d: %w", hdr.Uid, hdr.Gid, err)
		}
	}
	for _, x := range xattrs {
		// No descriptor of a link or device node takes an xattr; the
		// directory's descriptor in /proc does, and l* does not follow
		// base.
		p := "/proc/self/fd/" + strconv.Itoa(pfd) + "/" + base
		if err := unix.Lsetxattr(p, x.key, x.value, 0); err != nil {
			return xattrError(x.key, err)
		}
	}
	if chmod {
		mode := uint32(hdr.Mode & 0o7777)
		err := unix.Fchmodat(pfd, base, mode, unix.AT_SYMLINK_NOFOLLOW)
		if err == unix.EOPNOTSUPP || err == unix.ENOSYS {
			// No fchmodat2 (Linux < 6.6): base is the node just
			// made, not a link, so following is moot.
			err = unix.Fchmodat(pfd, base, mode, 0)
		}
		if err != nil {
			return fmt.Errorf("chmod %04o: %w", mode, err)
		}
	}
	at, mt := times(hdr)
	ts := []unix.Timespec{at, mt}
	if err := unix.UtimesNanoAt(pfd, base, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("setting times: %w", err)
	}
	return nil
}

// hardlink links name to a file this layer already holds.
func (u *unpacker) hardlink(name string, hdr *tar.Header) error {
	target, err := localName(hdr.Linkname)
	if err != nil {
		return fmt.Errorf("hard link target: %w", err)
	}
	if name == "." || target == "." {
		return fmt.Errorf("%w: a hard link to or as the layer's top directory", ErrUnsafePath)
	}
	if target == name {
		if _, err := u.root.Lstat(name); err != nil {
			return fmt.Errorf("hard link to itself, and %s is not in the layer", name)
		}
		return nil
	}
	_, _, err = u.create(name, "link", false, func(int, string) error {
		err := u.root.Link(target, name)
		if errors.Is(err, fs.ErrExist) {
			return unix.EEXIST
		}
		return err
	})
	if err == nil {
		return nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		if low, _ := u.inLower(target); low != "" {
			return fmt.Errorf("%w: %s is in %s, not in this layer; a hard link cannot reach across overlay layers (image-spec#1204)", ErrLowerHardlink, target, low)
		}
		return fmt.Errorf("hard link to %s, which no earlier entry of the layer made", target)
	}
	if escapes(err) {
		return fmt.Errorf("%w: hard link %s to %s: %v", ErrUnsafePath, name, target, err)
	}
	return fmt.Errorf("hard link to %s: %w", target, err)
}

// inLower names the lower layer directory holding name, if one does.
func (u *unpacker) inLower(name string) (string, error) {
	lowers, err := u.openLowers(u.ctx)
	if err != nil {
		return "", err
	}
	for _, l := range lowers {
		r, err := os.OpenRoot(l.Name())
		if err != nil {
			return "", err
		}
		_, err = r.Lstat(name)
		r.Close()
		if err == nil {
			return l.Name(), nil
		}
	}
	return "", nil
}

// mknod makes a device node or a fifo.
func (u *unpacker) mknod(name string, hdr *tar.Header, xattrs []xattr) error {
	if name == "." {
		return fmt.Errorf("%w: a device cannot be the layer's top directory", ErrUnsafePath)
	}
	var mode uint32
	switch hdr.Typeflag {
	case tar.TypeChar:
		mode = unix.S_IFCHR
	case tar.TypeBlock:
		mode = unix.S_IFBLK
	case tar.TypeFifo:
		mode = unix.S_IFIFO
	}
	// The kernel's dev_t is 12 bits of major and 20 of minor: a larger
	// number would make another device than the header names.
	if hdr.Devmajor < 0 || hdr.Devmajor > 0xfff || hdr.Devminor < 0 || hdr.Devminor > 0xfffff {
		return fmt.Errorf("device number %d:%d out of range", hdr.Devmajor, hdr.Devminor)
	}
	dev := int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))
	pfd, _, err := u.create(name, "mknod", false, func(pfd int, base string) error {
		return unix.Mknodat(pfd, base, mode|0o600, dev)
	})
	if errors.Is(err, unix.EPERM) {
		return fmt.Errorf("%w: mknod %s %d:%d needs CAP_MKNOD", ErrNeedsRoot, name, hdr.Devmajor, hdr.Devminor)
	}
	if err != nil {
		return err
	}
	return u.attrsAt(pfd, name, hdr, xattrs, true)
}

func times(hdr *tar.Header) (atime, mtime unix.Timespec) {
	at := hdr.AccessTime
	if at.IsZero() {
		at = hdr.ModTime
	}
	return timespec(at), timespec(hdr.ModTime)
}

func timespec(t time.Time) unix.Timespec {
	return unix.Timespec{Sec: t.Unix(), Nsec: int64(t.Nanosecond())}
}

func futimens(fd int, atime, mtime unix.Timespec) error {
	return unix.UtimesNanoAt(fd, "", []unix.Timespec{atime, mtime}, unix.AT_EMPTY_PATH)
}

type xattr struct {
	key   string
	value []byte
}

const paxXattr = "SCHILY.xattr."

// xattrPolicy says whether a layer's xattr is kept, or refused (err).
func xattrPolicy(key string) (keep bool, err error) {
	switch {
	case strings.HasPrefix(key, "trusted."):
		return false, fmt.Errorf("%w: %s (overlayfs reads trusted.overlay.* as its own metadata; an archive must not forge it)", ErrForbiddenXattr, key)
	case strings.HasPrefix(key, "user.overlay."):
		return false, fmt.Errorf("%w: %s (overlayfs reads it as its own metadata under userxattr)", ErrForbiddenXattr, key)
	case strings.HasPrefix(key, "user."), key == "security.capability":
		return true, nil
	}
	return false, nil
}

// xattrs picks the xattrs of an entry from its PAX records: refused ones
// fail the entry before anything of it is written.
func (u *unpacker) xattrs(hdr *tar.Header) ([]xattr, error) {
	var out []xattr
	for k, v := range hdr.PAXRecords {
		key, ok := strings.CutPrefix(k, paxXattr)
		if !ok {
			continue
		}
		keep, err := xattrPolicy(key)
		if err != nil {
			return nil, err
		}
		if !keep {
			u.dropped[key] = true
			continue
		}
		out = append(out, xattr{key, []byte(v)})
	}
	return out, nil
}

func xattrError(key string, err error) error {
	if err == unix.EPERM && !strings.HasPrefix(key, "user.") {
		return fmt.Errorf("%w: setting xattr %s: %v", ErrNeedsRoot, key, err)
	}
	return fmt.Errorf("setting xattr %s: %w", key, err)
}

// spaceEvery is how many bytes are written between two looks at the free
// space of the layer's file system.
const spaceEvery = 8 << 20

// space looks, every spaceEvery bytes written, at the free space left on
// the layer's file system, and ends the unpack before it falls under
// Options.Reserve: a layer's size is known only once it is unpacked (a
// small gzip blob can hold gigabytes of zeros), and the state directory is
// often /run, a tmpfs the rest of the system needs too.
func (u *unpacker) space(n int64) error {
	if u.reserve <= 0 {
		return nil
	}
	u.written += n
	if u.written < spaceEvery {
		return nil
	}
	u.written = 0
	var st unix.Statfs_t
	if err := unix.Fstatfs(u.rootFD, &st); err != nil {
		return nil // not knowing is no reason to stop
	}
	if free := int64(st.Bavail) * st.Bsize; free < u.reserve {
		return fmt.Errorf("%w: %d bytes left on the layer's file system, under the %d kept free; free some space or use a larger --root", ErrNoSpace, free, u.reserve)
	}
	return nil
}

// inodesEvery is how many entries are made between two looks at the free
// inodes of the layer's file system.
const inodesEvery = 256

// inodes looks, every inodesEvery entries, at the free inodes left on the
// layer's file system, and ends the unpack before they fall under
// Options.ReserveInodes: space counts only the blocks regular files
// write, and 60,000 empty files take no block but fill a small tmpfs's
// inode table.
func (u *unpacker) inodes() error {
	if u.rinodes <= 0 {
		return nil
	}
	if u.entries++; u.entries < inodesEvery {
		return nil
	}
	u.entries = 0
	var st unix.Statfs_t
	if err := unix.Fstatfs(u.rootFD, &st); err != nil || st.Files == 0 {
		return nil // not knowing, or a file system without a count (btrfs)
	}
	if free := int64(st.Ffree); free < u.rinodes {
		return fmt.Errorf("%w: %d inodes left on the layer's file system, under the %d kept free; free some or use a larger --root", ErrNoInodes, free, u.rinodes)
	}
	return nil
}
