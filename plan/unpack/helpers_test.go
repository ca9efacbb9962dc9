package unpack

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// ent is one entry of a test layer.
type ent struct {
	hdr  tar.Header
	body string
}

var epoch = time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)

func reg(name, body string, mode int64) ent {
	return ent{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(body)), ModTime: epoch}, body: body}
}

func dir(name string, mode int64) ent {
	return ent{hdr: tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, ModTime: epoch}}
}

func sym(name, target string) ent {
	return ent{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777, ModTime: epoch}}
}

func hard(name, target string) ent {
	return ent{hdr: tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target, ModTime: epoch}}
}

// wh is a whiteout marker as image builders write them: an empty file.
func wh(name string) ent { return reg(name, "", 0o644) }

func dev(name string, typ byte, major, minor int64, mode int64) ent {
	return ent{hdr: tar.Header{Typeflag: typ, Name: name, Mode: mode, Devmajor: major, Devminor: minor, ModTime: epoch}}
}

// with returns e with xattrs as PAX records (SCHILY.xattr.*).
func (e ent) with(kv ...string) ent {
	e.hdr.PAXRecords = map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		e.hdr.PAXRecords["SCHILY.xattr."+kv[i]] = kv[i+1]
	}
	e.hdr.Format = tar.FormatPAX
	return e
}

func (e ent) owned(uid, gid int) ent {
	e.hdr.Uid, e.hdr.Gid = uid, gid
	return e
}

func (e ent) at(mtime, atime time.Time) ent {
	e.hdr.ModTime, e.hdr.AccessTime = mtime, atime
	e.hdr.Format = tar.FormatPAX // atime and sub-second times need PAX
	return e
}

// layer writes ents as an uncompressed layer tar.
func layer(t testing.TB, ents ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := e.hdr
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatalf("writing test layer entry %q: %v", h.Name, err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func isRoot() bool { return os.Geteuid() == 0 }

// opaqueKey is the xattr Apply marks opaque directories with in tests:
// trusted.* needs root, user.* does not.
func testOpts() Options { return Options{UserXattr: !isRoot()} }

func opaqueXattr() string {
	if isRoot() {
		return "trusted.overlay.opaque"
	}
	return "user.overlay.opaque"
}

// describe lists a tree, one line per entry, sorted: its path, type, mode,
// content or target, link count above one, and the xattrs a layer may
// hold. Owners are left out (they depend on who runs the test).
func describe(t testing.TB, top string, skip ...string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(top, p)
		if rel == "." {
			return nil
		}
		if slices.Contains(skip, rel) {
			return filepath.SkipDir
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		mode := fmt.Sprintf("%04o", st.Mode&0o7777)
		var line string
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			line = "dir " + mode
		case unix.S_IFREG:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			line = fmt.Sprintf("file %s %q", mode, b)
		case unix.S_IFLNK:
			target, _ := os.Readlink(p)
			line = "link -> " + target
		case unix.S_IFCHR:
			if st.Rdev == 0 {
				line = "whiteout"
			} else {
				line = fmt.Sprintf("char %d:%d %s", unix.Major(st.Rdev), unix.Minor(st.Rdev), mode)
			}
		case unix.S_IFBLK:
			line = fmt.Sprintf("block %d:%d %s", unix.Major(st.Rdev), unix.Minor(st.Rdev), mode)
		case unix.S_IFIFO:
			line = "fifo " + mode
		default:
			line = fmt.Sprintf("type %o", st.Mode&unix.S_IFMT)
		}
		if st.Nlink > 1 && st.Mode&unix.S_IFMT != unix.S_IFDIR {
			line += fmt.Sprintf(" links=%d", st.Nlink)
		}
		for _, x := range listXattrs(p) {
			line += " " + x
		}
		out = append(out, rel+": "+line)
		return nil
	})
	if err != nil {
		t.Fatalf("listing %s: %v", top, err)
	}
	// In tree order: a directory before what it holds.
	key := func(l string) string { return strings.ReplaceAll(strings.SplitN(l, ": ", 2)[0], "/", "\x00") }
	sort.SliceStable(out, func(i, j int) bool { return key(out[i]) < key(out[j]) })
	return out
}

// listXattrs returns a path's xattrs (not followed) as key=value, opaque
// markers as "opaque".
func listXattrs(p string) []string {
	sz, err := unix.Llistxattr(p, nil)
	if err != nil || sz == 0 {
		return nil
	}
	buf := make([]byte, sz)
	sz, _ = unix.Llistxattr(p, buf)
	var out []string
	for _, k := range strings.Split(strings.TrimRight(string(buf[:sz]), "\x00"), "\x00") {
		if k == "" || strings.HasPrefix(k, "security.selinux") {
			continue
		}
		v := make([]byte, 256)
		n, err := unix.Lgetxattr(p, k, v)
		if err != nil {
			continue
		}
		if k == opaqueXattr() && string(v[:n]) == "y" {
			out = append(out, "opaque")
			continue
		}
		out = append(out, fmt.Sprintf("%s=%q", k, v[:n]))
	}
	sort.Strings(out)
	return out
}

// unpackLowers applies each layer (bottom first) to its own directory
// under parent, each with the ones already made as its lowers, and returns
// the directories topmost first, as Options.Lower takes them.
func unpackLowers(t testing.TB, parent string, layers ...[]ent) []string {
	t.Helper()
	var lower []string
	for i, l := range layers {
		d := filepath.Join(parent, fmt.Sprintf("lower%d", i))
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		opts := testOpts()
		opts.Lower = lower
		if _, err := Apply(context.Background(), d, bytes.NewReader(layer(t, l...)), opts); err != nil {
			t.Fatalf("unpacking lower layer %d: %v", i, err)
		}
		lower = append([]string{d}, lower...)
	}
	return lower
}

// tempDir is t.TempDir, whose removal works without root even after a
// layer made read-only directories in it.
func tempDir(t testing.TB) string {
	t.Helper()
	d := t.TempDir()
	t.Cleanup(func() { makeWritable(d) })
	return d
}

// makeWritable lets the owner write every directory under top, never
// following a symlink.
func makeWritable(top string) {
	filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o700)
		}
		return nil
	})
}
