// Package unpack applies one image layer — an uncompressed OCI or Docker
// layer tar stream — to a directory of its own, in the form overlayfs reads
// as a lower directory.
//
// It exists because plumb stacks an image as Docker's overlay2 does: each
// layer unpacked once, into a directory named by its diff_id, and mounted as
// one overlay lower directory among the others. go-containerregistry only
// flattens an image into one tree, and GNU tar knows nothing of whiteouts
// (it writes .wh.* as plain files and, with --xattrs, trusts
// trusted.overlay.* from the archive), so the per-layer step is plumb's own.
// The rules it follows are those gathered, with their sources, in
// image-layers.md (in the shared docs beside the repository):
//
//   - DIR/.wh..wh..opq sets the opaque xattr on DIR and is not written;
//     DIR/.wh.NAME becomes the character device DIR/NAME 0/0 and is not
//     written; a plain whiteout beneath a directory made opaque by the same
//     layer is skipped, whatever the entry order.
//   - A directory the layer implies but does not list takes the mode, owner,
//     times and xattrs of the same directory in the layers below.
//   - Hard links work within the layer only; a link to a file that is only in
//     a lower layer is an error (overlay cannot link across layers).
//   - xattrs: user.* and security.capability are kept, trusted.* (and
//     user.overlay.*, overlay's metadata under userxattr) are refused, others
//     are not applied and are listed in the Result.
//   - Nothing is ever written outside the directory, whatever the archive
//     holds: names are cleaned and must be local, and every operation goes
//     through an os.Root or an *at() call on a directory descriptor opened
//     through it, never following a symbolic link in the last component.
//
// The digest of the uncompressed stream is computed while it is read, in the
// same pass, so the caller can check it against the image's diff_id.
package unpack

import (
	"archive/tar"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// Errors a caller (or a test) can tell apart with errors.Is. Every error
// Apply returns also names the entry it is about.
var (
	// ErrUnsafePath: a name or link target that is not local (`..`, an
	// absolute hard link target after stripping), or a write through a
	// symbolic link that leads outside the directory.
	ErrUnsafePath = errors.New("path leads outside the layer directory")
	// ErrBadWhiteout: `.wh.` with an empty name, `.` or `..`, or a whiteout
	// used as a directory.
	ErrBadWhiteout = errors.New("invalid whiteout")
	// ErrForbiddenXattr: an xattr overlayfs would read as its own metadata
	// (trusted.*, user.overlay.*).
	ErrForbiddenXattr = errors.New("xattr forbidden in a layer")
	// ErrLowerHardlink: a hard link to a file that is not in this layer but
	// in a layer below; overlay lower directories cannot share an inode.
	ErrLowerHardlink = errors.New("hard link to a file in a lower layer")
	// ErrNeedsRoot: a device node (mknod needs CAP_MKNOD) or security.*
	// xattr that cannot be made without privilege.
	ErrNeedsRoot = errors.New("needs root")
	// ErrNoSpace: the layer would take the space Options.Reserve keeps free.
	ErrNoSpace = errors.New("file system nearly full")
	// ErrDigestMismatch: the stream's sha256 is not Options.DiffID.
	ErrDigestMismatch = errors.New("layer digest mismatch")
	// ErrNoInodes: the layer would take the inodes Options.ReserveInodes
	// keeps free (a small layer of many empty files fills a tmpfs's
	// inode table long before its blocks).
	ErrNoInodes = errors.New("file system nearly out of inodes")
	// ErrTooManyEntries: the layer holds more than Options.MaxEntries.
	ErrTooManyEntries = errors.New("too many entries in the layer")
	// ErrTooLarge: the uncompressed stream is longer than Options.MaxBytes.
	ErrTooLarge = errors.New("layer too large")
	// ErrTrailer: more than Options.MaxTrailer bytes follow the tar's end.
	ErrTrailer = errors.New("data after the tar's end")
)

// Options carries what Apply needs from outside the stream.
type Options struct {
	// Lower lists the directories of the layers below this one, topmost
	// first (as overlay's lowerdir= does). A directory this layer implies
	// without listing it takes its attributes from the first of them that
	// has it.
	Lower []string
	// Ready, when set, is called once before the lower layers are first
	// read, and waits until they are all there: layers unpacked side by
	// side wait for the ones below only when they need them. Its error
	// ends Apply.
	Ready func(ctx context.Context) error
	// DiffID, when set ("sha256:<64 hex>"), is what the stream's digest must
	// be; a mismatch is an error (ErrDigestMismatch).
	DiffID string
	// Reserve, when above 0, is how many bytes of the layer's file system
	// must stay free: the unpack ends (ErrNoSpace) before it takes them.
	Reserve int64
	// ReserveInodes, when above 0, is how many inodes of the layer's file
	// system must stay free: the unpack ends (ErrNoInodes) before it takes
	// them.
	ReserveInodes int64
	// MaxEntries, when above 0, is the most tar entries the layer may hold
	// (ErrTooManyEntries past it).
	MaxEntries int
	// MaxBytes, when above 0, is the longest the uncompressed stream may be
	// (ErrTooLarge past it), padding included.
	MaxBytes int64
	// MaxTrailer, when above 0, is how many bytes may follow the tar's
	// end-of-archive marker (ErrTrailer past it). They are part of the
	// digest, so they are read; a tar writer pads to its record size
	// (10240 bytes for GNU tar), and a stream that goes on for gigabytes
	// is made to keep the reader busy.
	MaxTrailer int64
	// Count, when set, is told of each piece of the stream read, on the
	// reading goroutine, as it is read; its error ends Apply. A caller
	// keeps a budget for an image's layers with it.
	Count func(n int64) error
	// UserXattr marks opaque directories with user.overlay.opaque, for an
	// overlay mounted with -o userxattr (in a user namespace), instead of
	// trusted.overlay.opaque.
	UserXattr bool
}

// Result reports what Apply read and wrote.
type Result struct {
	Digest    string // sha256 of the whole uncompressed stream, "sha256:<hex>"
	Bytes     int64  // length of that stream
	Size      int64  // bytes of regular file content written
	Entries   int    // tar entries read
	Whiteouts int    // whiteouts made (0/0 character devices)
	Opaque    int    // directories marked opaque
	Skipped   int    // entries not applied: AUFS metadata, whiteouts beneath an opaque directory or over an entry of this layer
	// DroppedXattrs lists, sorted, the xattr names found in the archive and
	// not applied (neither user.*, nor security.capability, nor refused).
	DroppedXattrs []string
}

const (
	whPrefix   = ".wh."
	whMeta     = ".wh..wh."
	whOpaque   = ".wh..wh..opq"
	bufferSize = 512 << 10
)

// Apply unpacks the layer tar stream r (uncompressed) into dst, which must
// be an existing, empty directory.
//
// The contract with the caller: dst is a temporary directory, renamed into
// place only when Apply returns no error. On any error — a refused entry, a
// cancelled ctx, a digest that is not Options.DiffID — dst holds a part of
// the layer and the caller deletes it. Apply never writes outside dst,
// whether it fails or not.
//
// A directory entry for the top (`./`) gives dst its mode, owner and times.
// As root (effective uid 0) every entry gets the owner its header names, as
// GNU tar does; otherwise entries stay owned by the caller. Device nodes need
// root.
//
// Apply reads and hashes r on a goroutine of its own while the calling one
// unpacks, and returns only once that goroutine has stopped reading r. It
// keeps no state between calls: it is safe to run concurrently for
// different dst.
func Apply(ctx context.Context, dst string, r io.Reader, opts Options) (Result, error) {
	var res Result
	want, err := parseDiffID(opts.DiffID)
	if err != nil {
		return res, err
	}
	u, err := open(dst, opts)
	if err != nil {
		return res, err
	}
	u.ctx = ctx
	defer u.close()

	s := newStream(r, opts)
	defer s.close()
	tr := tar.NewReader(s)
	for {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return res, fmt.Errorf("reading the layer after %d entries: %w", res.Entries, err)
		}
		res.Entries++
		if opts.MaxEntries > 0 && res.Entries > opts.MaxEntries {
			return res, fmt.Errorf("%w: more than %d", ErrTooManyEntries, opts.MaxEntries)
		}
		if err := u.inodes(); err != nil {
			return res, fmt.Errorf("entry %q: %w", hdr.Name, err)
		}
		if err := u.entry(ctx, hdr, tr, &res); err != nil {
			return res, fmt.Errorf("entry %q: %w", hdr.Name, err)
		}
	}
	// The diff_id covers the whole stream, padding after the end-of-archive
	// blocks included: read it to the end.
	if res.Bytes, res.Digest, err = s.finish(opts.MaxTrailer); err != nil {
		return res, fmt.Errorf("reading the layer's end: %w", err)
	}
	if want != "" && res.Digest != want {
		return res, fmt.Errorf("%w: the stream is %s, its diff_id says %s", ErrDigestMismatch, res.Digest, want)
	}
	if err := u.finish(); err != nil {
		return res, err
	}
	for k := range u.dropped {
		res.DroppedXattrs = append(res.DroppedXattrs, k)
	}
	slices.Sort(res.DroppedXattrs)
	return res, nil
}

func parseDiffID(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	if !IsDigest(s) {
		return "", fmt.Errorf("diff_id %q is not sha256:<64 lower-case hex digits>", s)
	}
	return s, nil
}

// IsDigest reports whether s is "sha256:" and 64 lower-case hex digits: the
// only form of digest that may name a directory or a journal.
func IsDigest(s string) bool {
	h, ok := strings.CutPrefix(s, "sha256:")
	if !ok || len(h) != 64 || strings.ToLower(h) != h {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil
}

// entry applies one tar entry.
func (u *unpacker) entry(ctx context.Context, hdr *tar.Header, tr *tar.Reader, res *Result) error {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	name, err := localName(hdr.Name)
	if err != nil {
		return err
	}
	dir, base := path.Split(name)
	dir = path.Clean(dir) // "." for the top
	if strings.Contains(name, whPrefix) {
		comps := strings.Split(name, "/")
		for i, c := range comps {
			last := i == len(comps)-1
			if strings.HasPrefix(c, whMeta) && (!last || c != whOpaque) {
				// AUFS metadata (.wh..wh.plnk, .wh..wh.aufs, ...):
				// not part of the file system the layer describes.
				res.Skipped++
				return nil
			}
			if !last && strings.HasPrefix(c, whPrefix) {
				return fmt.Errorf("%w: %q is a whiteout, not a directory", ErrBadWhiteout, c)
			}
		}
	}
	switch {
	case base == whOpaque:
		return u.opaque(dir, res)
	case strings.HasPrefix(base, whPrefix):
		return u.whiteout(dir, base[len(whPrefix):], hdr, res)
	}
	xattrs, err := u.xattrs(hdr)
	if err != nil {
		return err
	}
	if err := checkOwner(hdr); err != nil {
		return err
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		return u.mkdir(name, hdr, xattrs)
	case tar.TypeReg, tar.TypeGNUSparse, tar.TypeCont:
		n, err := u.file(ctx, name, hdr, tr, xattrs)
		res.Size += n
		return err
	case tar.TypeSymlink:
		return u.symlink(name, hdr, xattrs)
	case tar.TypeLink:
		return u.hardlink(name, hdr)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return u.mknod(name, hdr, xattrs)
	default:
		return fmt.Errorf("entry type %q is not one a layer can hold", hdr.Typeflag)
	}
}

// localName cleans an entry name or hard link target: path.Clean, leading
// slashes stripped, then it must be local (no `..` out of the layer).
func localName(name string) (string, error) {
	n := path.Clean(strings.TrimLeft(name, "/"))
	if n != "." && !filepath.IsLocal(n) {
		return "", fmt.Errorf("%w: %q", ErrUnsafePath, name)
	}
	return n, nil
}

func checkOwner(hdr *tar.Header) error {
	const max = 1<<32 - 2 // -1 (1<<32-1) means "unchanged" to chown
	if hdr.Uid < 0 || hdr.Uid > max || hdr.Gid < 0 || hdr.Gid > max {
		return fmt.Errorf("owner %d:%d out of range", hdr.Uid, hdr.Gid)
	}
	return nil
}

// opaque marks dir opaque to the layers below, and takes back the
// whiteouts this layer already made beneath it (they would hide nothing and
// show as phantom entries).
func (u *unpacker) opaque(dir string, res *Result) error {
	fd, err := u.dir(dir, true)
	if err != nil {
		return err
	}
	if err := unix.Fsetxattr(fd, u.opaqueKey, []byte("y"), 0); err != nil {
		return xattrError(u.opaqueKey, err)
	}
	if !u.opaqueDirs[dir] {
		u.opaqueDirs[dir] = true
		res.Opaque++
	}
	for p := range u.whiteouts {
		if !beneath(dir, p) {
			continue
		}
		delete(u.whiteouts, p)
		pfd, err := u.dir(path.Dir(p), false)
		if err != nil {
			continue // gone with its directory
		}
		var st unix.Stat_t
		b := path.Base(p)
		if unix.Fstatat(pfd, b, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && isWhiteout(&st) {
			if err := unix.Unlinkat(pfd, b, 0); err != nil {
				return fmt.Errorf("removing whiteout %s beneath opaque %s: %w", p, dir, err)
			}
			res.Whiteouts--
			res.Skipped++
		}
	}
	return nil
}

// whiteout makes dir/name a 0/0 character device owned as the header says.
func (u *unpacker) whiteout(dir, name string, hdr *tar.Header, res *Result) error {
	if name == "" || name == "." || name == ".." {
		return fmt.Errorf("%w: %q names no file", ErrBadWhiteout, whPrefix+name)
	}
	if err := checkOwner(hdr); err != nil {
		return err
	}
	// The directory is made even when the whiteout is skipped: the layer
	// implies it either way, whatever the order of its entries.
	fd, err := u.dir(dir, true)
	if err != nil {
		return err
	}
	p := path.Join(dir, name)
	if u.opaqueBeneath(p) {
		res.Skipped++
		return nil
	}
	if err := unix.Mknodat(fd, name, unix.S_IFCHR, 0); err != nil {
		if err == unix.EEXIST {
			// An entry of this layer (or the same whiteout again):
			// a whiteout applies to the layers below only.
			res.Skipped++
			return nil
		}
		return fmt.Errorf("mknod %s c 0 0: %w", p, err)
	}
	if u.owner {
		if err := unix.Fchownat(fd, name, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("chown %d:%d %s: %w", hdr.Uid, hdr.Gid, p, err)
		}
	}
	// The marker's times, as for every entry: the same layer unpacked twice
	// is the same tree.
	at, mt := times(hdr)
	if err := unix.UtimesNanoAt(fd, name, []unix.Timespec{at, mt}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("setting the times of %s: %w", p, err)
	}
	u.whiteouts[p] = true
	res.Whiteouts++
	return nil
}

// opaqueBeneath reports whether p is beneath a directory this layer made
// opaque.
func (u *unpacker) opaqueBeneath(p string) bool {
	if len(u.opaqueDirs) == 0 {
		return false
	}
	for d := path.Dir(p); ; d = path.Dir(d) {
		if u.opaqueDirs[d] {
			return true
		}
		if d == "." {
			return false
		}
	}
}

// beneath reports whether p is strictly beneath dir ("." is the top).
func beneath(dir, p string) bool {
	return dir == "." && p != "." || strings.HasPrefix(p, dir+"/")
}

func isWhiteout(st *unix.Stat_t) bool {
	return st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0
}

func errorsIsAny(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

// escapes reports whether err is os.Root's refusal to leave its directory
// (its error is not exported).
func escapes(err error) bool {
	for ; err != nil; err = errors.Unwrap(err) {
		if err.Error() == "path escapes from parent" {
			return true
		}
	}
	return false
}
