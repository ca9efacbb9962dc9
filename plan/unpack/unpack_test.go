package unpack

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// A capability set as security.capability holds it (VFS_CAP_REVISION_2,
// effective): cap_net_raw, what ping needs.
func netRawCap() string {
	b := make([]byte, 20)
	binary.LittleEndian.PutUint32(b[0:], 0x02000000|1)
	binary.LittleEndian.PutUint32(b[4:], 1<<13)
	return string(b)
}

// TestApply applies one layer, over the layers below it where the case
// has some, in a directory beside a sentinel directory "out": the tree
// Apply leaves must be the one wanted, and nothing beside it may change,
// whatever the layer holds. $OUT in a link target is the sentinel's
// absolute path, so that a link followed by mistake writes into the
// test's own directory.
func TestApply(t *testing.T) {
	tests := []struct {
		name   string
		root   string // why the case needs root, if it does
		nonenv bool   // the case is about running without root
		lower  [][]ent
		layer  []ent
		opts   Options
		want   []string // the tree of dst, as describe gives it
		err    error    // wanted error (errors.Is), and then want is not checked
		errHas string   // and a piece of its message
		check  func(t *testing.T, dst string, res Result)
	}{
		{
			name:  "whiteout: .wh.NAME becomes a 0/0 character device, the marker is not written",
			lower: [][]ent{{dir("etc", 0o755), reg("etc/passwd", "root", 0o644), reg("etc/shadow", "x", 0o640)}},
			layer: []ent{dir("etc", 0o755), wh("etc/.wh.shadow")},
			want:  []string{"etc: dir 0755", "etc/shadow: whiteout"},
			check: func(t *testing.T, dst string, res Result) {
				if res.Whiteouts != 1 {
					t.Errorf("Whiteouts = %d, want 1", res.Whiteouts)
				}
				// The marker's time, not the unpack's: one layer, one tree.
				if fi, err := os.Lstat(filepath.Join(dst, "etc/shadow")); err != nil || !fi.ModTime().Equal(epoch) {
					t.Errorf("whiteout's mtime: %v, %v; want %v", fi.ModTime(), err, epoch)
				}
			},
		},
		{
			name:  "opaque directory: the xattr on the directory, the marker not written",
			lower: [][]ent{{dir("data", 0o755), reg("data/old", "old", 0o644)}},
			layer: []ent{dir("data", 0o755), wh("data/.wh..wh..opq"), reg("data/new", "new", 0o644)},
			want:  []string{"data: dir 0755 opaque", `data/new: file 0644 "new"`},
		},
		{
			name:  "opaque before its directory's entry: the directory's entry keeps it",
			layer: []ent{wh("data/.wh..wh..opq"), dir("data", 0o750)},
			want:  []string{"data: dir 0750 opaque"},
		},
		{
			name:  "opaque then whiteout in one layer: the whiteout is skipped",
			layer: []ent{dir("d", 0o755), wh("d/.wh..wh..opq"), wh("d/.wh.x"), wh("d/sub/.wh.y")},
			want:  []string{"d: dir 0755 opaque", "d/sub: dir 0755"},
			check: func(t *testing.T, dst string, res Result) {
				if res.Whiteouts != 0 || res.Opaque != 1 {
					t.Errorf("Whiteouts, Opaque = %d, %d, want 0, 1", res.Whiteouts, res.Opaque)
				}
			},
		},
		{
			name:  "whiteout then opaque in one layer: the whiteout already made is taken back",
			layer: []ent{dir("d", 0o755), wh("d/.wh.x"), wh("d/sub/.wh.y"), wh("d/.wh..wh..opq"), wh("e/.wh.z")},
			want:  []string{"d: dir 0755 opaque", "d/sub: dir 0755", "e: dir 0755", "e/z: whiteout"},
			check: func(t *testing.T, dst string, res Result) {
				if res.Whiteouts != 1 {
					t.Errorf("Whiteouts = %d, want 1 (e/z)", res.Whiteouts)
				}
			},
		},
		{
			name:  "opaque top directory",
			layer: []ent{wh(".wh..wh..opq"), wh(".wh.gone"), reg("kept", "k", 0o600)},
			want:  []string{`kept: file 0600 "k"`},
			check: func(t *testing.T, dst string, res Result) {
				if x := listXattrs(dst); len(x) != 1 || x[0] != "opaque" {
					t.Errorf("top directory's xattrs = %q, want opaque", x)
				}
			},
		},
		{
			name:   "bare .wh. is refused",
			layer:  []ent{wh("etc/.wh.")},
			err:    ErrBadWhiteout,
			errHas: `"etc/.wh."`,
		},
		{
			name:  ".wh.. is refused",
			layer: []ent{wh("etc/.wh..")},
			err:   ErrBadWhiteout,
		},
		{
			name:  ".wh... is refused",
			layer: []ent{wh(".wh...")},
			err:   ErrBadWhiteout,
		},
		{
			name:   "a whiteout used as a directory is refused",
			layer:  []ent{reg(".wh.a/b", "", 0o644)},
			err:    ErrBadWhiteout,
			errHas: `".wh.a"`,
		},
		{
			name:  "a whiteout of a file of the same layer leaves the file, in either order",
			layer: []ent{reg("a", "a", 0o644), wh(".wh.a"), wh(".wh.b"), reg("b", "b", 0o644)},
			want:  []string{`a: file 0644 "a"`, `b: file 0644 "b"`},
		},
		{
			name:  "AUFS metadata is skipped",
			layer: []ent{dir(".wh..wh.plnk", 0o700), reg(".wh..wh.plnk/1234.5", "x", 0o644), reg("a/.wh..wh.aufs", "", 0o644), reg("f", "f", 0o644)},
			want:  []string{`f: file 0644 "f"`},
		},
		{
			name:  "hard link within the layer",
			layer: []ent{dir("bin", 0o755), reg("bin/busybox", "bb", 0o755), hard("bin/sh", "bin/busybox"), hard("/bin/ls", "/bin/busybox")},
			want:  []string{"bin: dir 0755", `bin/busybox: file 0755 "bb" links=3`, `bin/ls: file 0755 "bb" links=3`, `bin/sh: file 0755 "bb" links=3`},
		},
		{
			name:   "hard link to a file of a lower layer is a clear error",
			lower:  [][]ent{{dir("bin", 0o755), reg("bin/busybox", "bb", 0o755)}},
			layer:  []ent{dir("bin", 0o755), hard("bin/sh", "bin/busybox")},
			err:    ErrLowerHardlink,
			errHas: `entry "bin/sh": hard link to a file in a lower layer: bin/busybox is in`,
		},
		{
			name:   "hard link to nothing is an error",
			layer:  []ent{hard("sh", "busybox")},
			errHas: "hard link to busybox, which no earlier entry of the layer made",
		},
		{
			name:   "hard link out of the layer is refused",
			layer:  []ent{hard("h", "../out/f")},
			err:    ErrUnsafePath,
			errHas: `"../out/f"`,
		},
		{
			name:   "hard link through a symlink out of the layer is refused",
			layer:  []ent{sym("s", "../out"), hard("h", "s/f")},
			err:    ErrUnsafePath,
			errHas: `entry "h"`,
		},
		{
			name:   "hard link with an absolute target stays in the layer",
			layer:  []ent{hard("h", "$OUT/f")},
			errHas: "which no earlier entry of the layer made",
		},
		{
			name:  "implied parent of /tmp keeps 1777 from the layer below",
			lower: [][]ent{{dir("tmp", 0o1777), dir("usr", 0o755)}, {reg("usr/x", "", 0o644)}},
			layer: []ent{reg("tmp/implied/file", "f", 0o644), dir("var", 0o755)},
			want:  []string{"tmp: dir 1777", "tmp/implied: dir 0755", `tmp/implied/file: file 0644 "f"`, "var: dir 0755"},
			check: func(t *testing.T, dst string, res Result) {
				st, err := os.Stat(filepath.Join(dst, "tmp"))
				if err != nil {
					t.Fatal(err)
				}
				if !st.ModTime().Equal(epoch) {
					t.Errorf("implied tmp mtime = %v, want the lower's %v", st.ModTime(), epoch)
				}
			},
		},
		{
			name:  "implied parent: a whiteout above hides the directory below",
			lower: [][]ent{{dir("tmp", 0o1777)}, {wh(".wh.tmp")}},
			layer: []ent{reg("tmp/f", "", 0o644)},
			want:  []string{"tmp: dir 0755", `tmp/f: file 0644 ""`},
		},
		{
			name:  "implied parent: an opaque directory above hides the one below",
			lower: [][]ent{{dir("a", 0o755), dir("a/b", 0o700)}, {dir("a", 0o755), wh("a/.wh..wh..opq")}},
			layer: []ent{reg("a/b/f", "", 0o644)},
			want:  []string{"a: dir 0755", "a/b: dir 0755", `a/b/f: file 0644 ""`},
		},
		{
			name:  "implied parent keeps the user xattrs of the layer below",
			lower: [][]ent{{dir("d", 0o711).with("user.note", "kept")}},
			layer: []ent{reg("d/f", "", 0o644)},
			want:  []string{`d: dir 0711 user.note="kept"`, `d/f: file 0644 ""`},
		},
		{
			name:   "../x is refused",
			layer:  []ent{reg("../x", "escape", 0o644)},
			err:    ErrUnsafePath,
			errHas: `entry "../x"`,
		},
		{
			name:  "a/../../x is refused",
			layer: []ent{reg("a/../../x", "escape", 0o644)},
			err:   ErrUnsafePath,
		},
		{
			name:  "/../x is refused, not cleaned into x",
			layer: []ent{reg("/../x", "escape", 0o644)},
			err:   ErrUnsafePath,
		},
		{
			name:  "absolute names are made relative",
			layer: []ent{dir("/etc", 0o755), reg("/etc/hosts", "h", 0o644), reg("//x", "x", 0o600), reg("./y", "y", 0o600)},
			want:  []string{"etc: dir 0755", `etc/hosts: file 0644 "h"`, `x: file 0600 "x"`, `y: file 0600 "y"`},
		},
		{
			name:   "absolute symlink followed by a write through it is refused",
			layer:  []ent{sym("s", "$OUT"), reg("s/f", "pwned", 0o644)},
			err:    ErrUnsafePath,
			errHas: `entry "s/f": path leads outside the layer directory: s is a symbolic link to`,
		},
		{
			name:  "absolute symlink to the layer's own directory is refused too",
			layer: []ent{dir("etc", 0o755), sym("s", "/etc"), reg("s/f", "x", 0o644)},
			err:   ErrUnsafePath,
		},
		{
			name:  "relative symlink out of the layer followed by a write is refused",
			layer: []ent{sym("s", "../out"), reg("s/f", "pwned", 0o644)},
			err:   ErrUnsafePath,
		},
		{
			name:  "relative symlink ../.. followed by a write is refused",
			layer: []ent{dir("a", 0o755), sym("a/s", "../.."), reg("a/s/out/f", "pwned", 0o644)},
			err:   ErrUnsafePath,
		},
		{
			name:  "symlink chain out of the layer is refused",
			layer: []ent{sym("s1", "s2"), sym("s2", "../out"), dir("s1/d", 0o755)},
			err:   ErrUnsafePath,
		},
		{
			name:  "relative symlink within the layer is followed",
			layer: []ent{dir("d", 0o755), sym("s", "d"), reg("s/f", "in", 0o644)},
			want:  []string{"d: dir 0755", `d/f: file 0644 "in"`, "s: link -> d"},
		},
		{
			name:  "a file over a symlink replaces the link, never writes through it",
			layer: []ent{sym("f", "../out/f"), reg("f", "mine", 0o644), sym("g", "$OUT/f"), dir("g", 0o755)},
			want:  []string{`f: file 0644 "mine"`, "g: dir 0755"},
		},
		{
			name:  "symlink targets are stored as written",
			layer: []ent{sym("abs", "/usr/lib"), sym("up", "../../.."), sym("dangling", "nowhere")},
			want:  []string{"abs: link -> /usr/lib", "dangling: link -> nowhere", "up: link -> ../../.."},
		},
		{
			name:   "whiteout through an absolute symlink is refused",
			layer:  []ent{sym("s", "$OUT"), wh("s/.wh.f")},
			err:    ErrUnsafePath,
			errHas: `entry "s/.wh.f"`,
		},
		{
			name:  "whiteout through a relative symlink out of the layer is refused",
			layer: []ent{sym("s", "../out"), wh("s/.wh.f")},
			err:   ErrUnsafePath,
		},
		{
			name:  "opaque marker through a symlink out of the layer is refused",
			layer: []ent{sym("s", "../out"), wh("s/.wh..wh..opq")},
			err:   ErrUnsafePath,
		},
		{
			name:  "later entries replace earlier ones",
			layer: []ent{reg("a", "1", 0o644), reg("a", "2", 0o600), dir("b", 0o755), reg("b/x", "", 0o644), reg("b", "file", 0o644), reg("c", "", 0o644), dir("c", 0o700), dir("c", 0o750)},
			want:  []string{`a: file 0600 "2"`, `b: file 0644 "file"`, "c: dir 0750"},
		},
		{
			name:  "setuid, setgid and sticky are kept",
			layer: []ent{reg("su", "", 0o4755), reg("wall", "", 0o2755), dir("shared", 0o3777), dir("ro", 0o555), reg("ro/f", "", 0o400)},
			want:  []string{`ro: dir 0555`, `ro/f: file 0400 ""`, "shared: dir 3777", `su: file 4755 ""`, `wall: file 2755 ""`},
		},
		{
			name:  "setuid survives chown to another owner",
			root:  "chown",
			layer: []ent{reg("su", "", 0o4755).owned(0, 0), reg("newgrp", "", 0o6755).owned(1000, 1000)},
			want:  []string{`newgrp: file 6755 ""`, `su: file 4755 ""`},
			check: func(t *testing.T, dst string, res Result) {
				ownedBy(t, dst, "newgrp", 1000, 1000)
			},
		},
		{
			name:  "owners as the headers say",
			root:  "chown",
			layer: []ent{dir("home", 0o755), dir("home/u", 0o700).owned(1000, 100), reg("home/u/f", "", 0o600).owned(1000, 100), sym("home/u/l", "f").owned(1000, 100), wh("home/.wh.gone").owned(7, 8), reg("implied/f", "", 0o644).owned(1, 1)},
			want:  []string{"home: dir 0755", "home/gone: whiteout", "home/u: dir 0700", `home/u/f: file 0600 ""`, "home/u/l: link -> f", "implied: dir 0755", `implied/f: file 0644 ""`},
			check: func(t *testing.T, dst string, res Result) {
				ownedBy(t, dst, "home/u", 1000, 100)
				ownedBy(t, dst, "home/u/f", 1000, 100)
				ownedBy(t, dst, "home/u/l", 1000, 100)
				ownedBy(t, dst, "home/gone", 7, 8)
				ownedBy(t, dst, "implied", 0, 0)
			},
		},
		{
			name:  "implied parent takes its owner from the layer below",
			root:  "chown",
			lower: [][]ent{{dir("home", 0o755), dir("home/u", 0o750).owned(1000, 100)}},
			layer: []ent{reg("home/u/f", "", 0o600).owned(1000, 100)},
			want:  []string{"home: dir 0755", "home/u: dir 0750", `home/u/f: file 0600 ""`},
			check: func(t *testing.T, dst string, res Result) {
				ownedBy(t, dst, "home/u", 1000, 100)
			},
		},
		{
			name:  "device nodes and fifos",
			root:  "mknod",
			layer: []ent{dir("dev", 0o755), dev("dev/null", '3', 1, 3, 0o666), dev("dev/loop0", '4', 7, 0, 0o660), dev("dev/initctl", '6', 0, 0, 0o600)},
			want:  []string{"dev: dir 0755", "dev/initctl: fifo 0600", "dev/loop0: block 7:0 0660", "dev/null: char 1:3 0666"},
		},
		{
			name:   "device nodes need root",
			nonenv: true,
			layer:  []ent{dev("null", '3', 1, 3, 0o666)},
			err:    ErrNeedsRoot,
			errHas: `entry "null": needs root: mknod null 1:3 needs CAP_MKNOD`,
		},
		{
			name:   "device number out of range is refused",
			layer:  []ent{dev("null", '3', 1<<12, 3, 0o666)},
			errHas: "device number 4096:3 out of range",
		},
		{
			name:   "trusted.overlay.opaque from the archive is refused",
			layer:  []ent{dir("d", 0o755).with("trusted.overlay.opaque", "y")},
			err:    ErrForbiddenXattr,
			errHas: `entry "d/": xattr forbidden in a layer: trusted.overlay.opaque`,
		},
		{
			name:  "trusted.overlay.redirect from the archive is refused, before the entry is made",
			layer: []ent{reg("f", "", 0o644).with("trusted.overlay.redirect", "/etc")},
			err:   ErrForbiddenXattr,
			want:  []string{},
		},
		{
			name:  "user.overlay.* from the archive is refused",
			layer: []ent{reg("f", "", 0o644).with("user.overlay.opaque", "y")},
			err:   ErrForbiddenXattr,
		},
		{
			name:  "user.* xattrs are kept, others are dropped and listed",
			layer: []ent{reg("f", "", 0o644).with("user.mime_type", "text/plain", "security.selinux", "system_u:object_r:bin_t:s0", "system.posix_acl_access", "x")},
			want:  []string{`f: file 0644 "" user.mime_type="text/plain"`},
			check: func(t *testing.T, dst string, res Result) {
				if diff := cmp.Diff([]string{"security.selinux", "system.posix_acl_access"}, res.DroppedXattrs); diff != "" {
					t.Errorf("DroppedXattrs (-want +got):\n%s", diff)
				}
			},
		},
		{
			name:  "security.capability is kept, after chown (which clears it)",
			root:  "setting security.capability",
			layer: []ent{dir("bin", 0o755), reg("bin/ping", "elf", 0o755).owned(0, 0).with("security.capability", netRawCap())},
			want:  []string{"bin: dir 0755", `bin/ping: file 0755 "elf" ` + fmt.Sprintf("security.capability=%q", netRawCap())},
		},
		{
			name:  "times are kept, directories' set after their contents",
			layer: []ent{dir("d", 0o755).at(epoch, epoch.Add(time.Hour)), reg("d/f", "f", 0o644).at(epoch.Add(time.Minute+time.Nanosecond*123456789), epoch.Add(2*time.Hour)), sym("d/l", "f").at(epoch.Add(time.Second), epoch), dir("d/sub", 0o755), reg("d/sub/g", "", 0o644)},
			want:  []string{"d: dir 0755", `d/f: file 0644 "f"`, "d/l: link -> f", "d/sub: dir 0755", `d/sub/g: file 0644 ""`},
			check: func(t *testing.T, dst string, res Result) {
				checkTimes(t, dst, "d", epoch, epoch.Add(time.Hour))
				checkTimes(t, dst, "d/f", epoch.Add(time.Minute+123456789), epoch.Add(2*time.Hour))
				checkTimes(t, dst, "d/l", epoch.Add(time.Second), epoch)
				checkTimes(t, dst, "d/sub", epoch, epoch)
			},
		},
		{
			name:  "digest and sizes",
			layer: []ent{reg("a", "12345", 0o644), reg("b", "678", 0o644)},
			want:  []string{`a: file 0644 "12345"`, `b: file 0644 "678"`},
			check: func(t *testing.T, dst string, res Result) {
				if res.Size != 8 || res.Entries != 2 || res.Bytes != 3072 {
					t.Errorf("Size, Entries, Bytes = %d, %d, %d, want 8, 2, 3072", res.Size, res.Entries, res.Bytes)
				}
			},
		},
		{
			name:   "digest mismatch is an error",
			layer:  []ent{reg("a", "12345", 0o644)},
			opts:   Options{DiffID: "sha256:" + strings.Repeat("0", 64)},
			err:    ErrDigestMismatch,
			errHas: "layer digest mismatch: the stream is sha256:",
		},
		{
			name:   "a diff_id that is not sha256 is refused before anything is read",
			layer:  []ent{reg("a", "12345", 0o644)},
			opts:   Options{DiffID: "sha512:00"},
			errHas: `diff_id "sha512:00" is not sha256:<64 lower-case hex digits>`,
			want:   []string{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.root != "" && !isRoot() {
				t.Skipf("needs root for %s (CI runs it as root)", tc.root)
			}
			if tc.nonenv && isRoot() {
				t.Skip("is about running without root")
			}
			parent := tempDir(t)
			out := filepath.Join(parent, "out")
			if err := os.Mkdir(out, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(out, "f"), []byte("sentinel"), 0o644); err != nil {
				t.Fatal(err)
			}
			lower := unpackLowers(t, parent, tc.lower...)
			dst := filepath.Join(parent, "dst")
			if err := os.Mkdir(dst, 0o700); err != nil {
				t.Fatal(err)
			}
			before := describe(t, parent, "dst")

			var ents []ent
			for _, e := range tc.layer {
				e.hdr.Linkname = strings.ReplaceAll(e.hdr.Linkname, "$OUT", out)
				ents = append(ents, e)
			}
			opts := tc.opts
			opts.Lower, opts.UserXattr = lower, testOpts().UserXattr
			stream := layer(t, ents...)
			res, err := Apply(context.Background(), dst, bytes.NewReader(stream), opts)

			if diff := cmp.Diff(before, describe(t, parent, "dst")); diff != "" {
				t.Fatalf("Apply changed what is beside dst (-before +after):\n%s", diff)
			}
			switch {
			case err != nil && tc.err == nil && tc.errHas == "":
				t.Fatalf("Apply: %v", err)
			case err == nil && (tc.err != nil || tc.errHas != ""):
				t.Fatalf("Apply succeeded, want an error %v %q", tc.err, tc.errHas)
			case err != nil && tc.err != nil && !errors.Is(err, tc.err):
				t.Fatalf("Apply: %v, want errors.Is %v", err, tc.err)
			case err != nil && !strings.Contains(err.Error(), tc.errHas):
				t.Fatalf("Apply: %v, want it to say %q", err, tc.errHas)
			}
			if err != nil {
				t.Logf("refused, as wanted: %v", err)
				if tc.want != nil {
					if diff := cmp.Diff(tc.want, inside(describe(t, dst))); diff != "" {
						t.Errorf("tree after the error (-want +got):\n%s", diff)
					}
				}
				return
			}
			if res.Digest != digest(stream) {
				t.Errorf("Digest = %s, want %s", res.Digest, digest(stream))
			}
			if res.Bytes != int64(len(stream)) {
				t.Errorf("Bytes = %d, want %d", res.Bytes, len(stream))
			}
			if tc.check != nil {
				tc.check(t, dst, res) // first: reading the tree changes atimes
			}
			if diff := cmp.Diff(tc.want, describe(t, dst)); diff != "" {
				t.Errorf("tree (-want +got):\n%s", diff)
			}
		})
	}
}

func inside(lines []string) []string {
	if lines == nil {
		return []string{}
	}
	return lines
}

func ownedBy(t *testing.T, dst, name string, uid, gid uint32) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(dst, name), &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != uid || st.Gid != gid {
		t.Errorf("%s owned %d:%d, want %d:%d", name, st.Uid, st.Gid, uid, gid)
	}
}

func checkTimes(t *testing.T, dst, name string, mtime, atime time.Time) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(dst, name), &st); err != nil {
		t.Fatal(err)
	}
	m := time.Unix(st.Mtim.Unix())
	a := time.Unix(st.Atim.Unix())
	if !m.Equal(mtime) || !a.Equal(atime) {
		t.Errorf("%s: mtime %v atime %v, want %v %v", name, m.UTC(), a.UTC(), mtime, atime)
	}
}

func TestApplyRefusesNonEmpty(t *testing.T) {
	dst := t.TempDir()
	if err := os.WriteFile(filepath.Join(dst, "old"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Apply(context.Background(), dst, bytes.NewReader(layer(t, reg("a", "", 0o644))), Options{})
	if err == nil || !strings.Contains(err.Error(), `is not empty (it holds "old")`) {
		t.Fatalf("Apply into a non-empty directory: %v", err)
	}
}

func TestApplyCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Apply(ctx, t.TempDir(), bytes.NewReader(layer(t, reg("a", "", 0o644))), Options{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Apply with a cancelled context: %v", err)
	}
}

func TestApplyDigestMatches(t *testing.T) {
	stream := layer(t, reg("a", "x", 0o644))
	// Trailing bytes after the end-of-archive blocks are part of the
	// stream the diff_id is of.
	stream = append(stream, make([]byte, 10240)...)
	res, err := Apply(context.Background(), t.TempDir(), bytes.NewReader(stream), Options{DiffID: digest(stream)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Bytes != int64(len(stream)) {
		t.Errorf("Bytes = %d, want %d", res.Bytes, len(stream))
	}
}

// TestApplyConcurrent unpacks layers side by side: no state is shared.
func TestApplyConcurrent(t *testing.T) {
	var ents []ent
	for i := range 50 {
		d := string(rune('a' + i%7))
		ents = append(ents, reg(d+"/f"+string(rune('A'+i)), strings.Repeat("x", i*100), 0o644), wh(d+"/.wh.g"+string(rune('A'+i))))
	}
	stream := layer(t, ents...)
	want := digest(stream)
	errs := make(chan error, 8)
	dirs := make([]string, 8)
	for i := range dirs {
		dirs[i] = t.TempDir()
		go func() {
			_, err := Apply(context.Background(), dirs[i], bytes.NewReader(stream), Options{DiffID: want})
			errs <- err
		}()
	}
	for range dirs {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	first := describe(t, dirs[0])
	for _, d := range dirs[1:] {
		if diff := cmp.Diff(first, describe(t, d)); diff != "" {
			t.Fatalf("concurrent unpacks differ:\n%s", diff)
		}
	}
}

// TestApplyModesWhateverUmask: Apply leaves out a chmod only where the
// umask took nothing; with a umask that takes bits, every mode is still
// the header's.
func TestApplyModesWhateverUmask(t *testing.T) {
	old := unix.Umask(0o077)
	defer unix.Umask(old)
	dst := tempDir(t)
	stream := layer(t, dir("d", 0o755), reg("d/f", "", 0o644), reg("d/x", "", 0o755), reg("d/p", "", 0o600))
	if _, err := Apply(context.Background(), dst, bytes.NewReader(stream), Options{}); err != nil {
		t.Fatal(err)
	}
	want := []string{"d: dir 0755", `d/f: file 0644 ""`, `d/p: file 0600 ""`, `d/x: file 0755 ""`}
	if diff := cmp.Diff(want, describe(t, dst)); diff != "" {
		t.Errorf("tree under umask 077 (-want +got):\n%s", diff)
	}
}

// TestApplySetgidDirectory: in a setgid directory new files take its
// group; Apply still gives every entry the header's.
func TestApplySetgidDirectory(t *testing.T) {
	if !isRoot() {
		t.Skip("needs root to chown (CI runs it as root)")
	}
	dst := tempDir(t)
	if err := os.Chown(dst, 0, 4321); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dst, 0o2755); err != nil {
		t.Fatal(err)
	}
	stream := layer(t, reg("f", "", 0o644), dir("d", 0o755), reg("d/g", "", 0o644).owned(0, 5))
	if _, err := Apply(context.Background(), dst, bytes.NewReader(stream), Options{}); err != nil {
		t.Fatal(err)
	}
	ownedBy(t, dst, "f", 0, 0)
	ownedBy(t, dst, "d", 0, 0)
	ownedBy(t, dst, "d/g", 0, 5)
}

// TestApplyKeepsReserve: a layer that would eat into the space kept free
// (here: more than any file system has) stops with ErrNoSpace once it has
// written a few megabytes, not after filling the file system; with no
// reserve the same layer unpacks.
func TestApplyKeepsReserve(t *testing.T) {
	stream := layer(t, reg("zeros", string(make([]byte, 3*spaceEvery)), 0o644))
	_, err := Apply(context.Background(), t.TempDir(), bytes.NewReader(stream), Options{Reserve: 1 << 62})
	if !errors.Is(err, ErrNoSpace) {
		t.Errorf("with a reserve no file system has: %v, want ErrNoSpace", err)
	}
	if _, err := Apply(context.Background(), t.TempDir(), bytes.NewReader(stream), Options{}); err != nil {
		t.Errorf("without a reserve: %v", err)
	}
}

// TestApplyLimits: each limit stops the unpack with its own error when the
// layer passes it, and lets through a layer just within it. The padded
// stream is what a hostile archive carries after the tar's end: zeros that
// are hashed but never written.
func TestApplyLimits(t *testing.T) {
	var many []ent
	for i := range 2 * inodesEvery {
		many = append(many, reg(fmt.Sprintf("f%d", i), "", 0o644))
	}
	manyFiles := layer(t, many...)
	small := layer(t, reg("a", "hello", 0o644))
	padded := append(append([]byte{}, small...), make([]byte, 4<<20)...)
	tests := []struct {
		name   string
		stream []byte
		opts   Options
		want   error
	}{
		{"entries over the cap", manyFiles, Options{MaxEntries: len(many) - 1}, ErrTooManyEntries},
		{"entries at the cap", manyFiles, Options{MaxEntries: len(many)}, nil},
		{"inodes under the reserve", manyFiles, Options{ReserveInodes: 1 << 62}, ErrNoInodes},
		{"inodes without a reserve", manyFiles, Options{}, nil},
		{"padding past the trailer limit", padded, Options{MaxTrailer: 16 << 10}, ErrTrailer},
		{"padding within the trailer limit", padded, Options{MaxTrailer: 8 << 20}, nil},
		{"tar writer's own padding", small, Options{MaxTrailer: 1}, nil},
		{"stream over the size limit", padded, Options{MaxBytes: 1 << 20}, ErrTooLarge},
		{"stream within the size limit", padded, Options{MaxBytes: 5 << 20}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			opts.UserXattr = !isRoot()
			opts.DiffID = digest(tc.stream)
			_, err := Apply(context.Background(), tempDir(t), bytes.NewReader(tc.stream), opts)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// TestApplyCount: Count sees every byte of the stream, and its error ends
// the unpack (an image's budget, a pull's minimum rate).
func TestApplyCount(t *testing.T) {
	stream := layer(t, reg("a", string(make([]byte, 3<<20)), 0o644))
	var seen int64
	if _, err := Apply(context.Background(), tempDir(t), bytes.NewReader(stream), Options{UserXattr: !isRoot(), Count: func(n int64) error { seen += n; return nil }}); err != nil {
		t.Fatal(err)
	}
	if seen != int64(len(stream)) {
		t.Errorf("Count saw %d bytes, the stream has %d", seen, len(stream))
	}
	stop := errors.New("over budget")
	if _, err := Apply(context.Background(), tempDir(t), bytes.NewReader(stream), Options{UserXattr: !isRoot(), Count: func(int64) error { return stop }}); !errors.Is(err, stop) {
		t.Errorf("Count's error: got %v", err)
	}
}
