package unpack

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// The fuzz target builds layers from a small op-code language whose words
// are hostile names and link targets, and checks that Apply never panics
// and never changes anything outside dst: the whole test directory is
// listed before and after, inode change times included, so a file written,
// chmod-ed, linked or given an xattr anywhere but in dst shows.
//
// dst is nested fuzzDepth directories deep and link targets climb at most
// three levels each, in at most fuzzEntries entries: even an Apply that
// followed every link would land inside the test's own directory, where
// the listing sees it, never on the host.

const (
	fuzzDepth   = 52
	fuzzEntries = 16
)

var (
	fuzzComps = []string{"a", "b", "s", "t", "f", "..", ".", "", ".wh.a", ".wh..wh..opq", ".wh.", ".wh..",
		".wh..wh.plnk", "out", "tmp", "ln", "abs", "d"}
	// $OUT is the sentinel directory beside dst, $TOP the test's directory.
	fuzzTargets = []string{"..", "../..", "../../..", "../out", "../out/f", "a", "s", "t/..", ".", "", "a/b",
		"$OUT", "$OUT/f", "$OUT/d", "$TOP", "/a", "/tmp", "a/../..", "ln", "ln/f", "abs/f", "tmp", "f", "../dst/a"}
)

const (
	opFile = iota
	opDir
	opSymlink
	opHardlink
	opWhiteout
	opOpaque
	opFifo
	opChar
	opXattr
	opCount
)

type fuzzBytes struct{ b []byte }

func (r *fuzzBytes) next() byte {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *fuzzBytes) pick(words []string) string { return words[int(r.next())%len(words)] }

// name is one to three words, sometimes with a leading slash.
func (r *fuzzBytes) name() string {
	n := 1 + int(r.next())%3
	parts := make([]string, n)
	for i := range parts {
		parts[i] = r.pick(fuzzComps)
	}
	s := strings.Join(parts, "/")
	if r.next()%4 == 0 {
		s = "/" + s
	}
	return s
}

func (r *fuzzBytes) mode() int64 { return (int64(r.next())<<8 | int64(r.next())) & 0o7777 }

// fuzzLayer turns bytes into a layer.
func fuzzLayer(t testing.TB, data []byte, top, out string) []byte {
	r := &fuzzBytes{data}
	target := func() string {
		s := r.pick(fuzzTargets)
		s = strings.ReplaceAll(s, "$OUT", out)
		return strings.ReplaceAll(s, "$TOP", top)
	}
	var ents []ent
	for len(r.b) > 0 && len(ents) < fuzzEntries {
		var e ent
		switch r.next() % opCount {
		case opFile:
			e = reg(r.name(), strings.Repeat("x", int(r.next()%32)), r.mode())
		case opDir:
			e = dir(r.name(), r.mode())
		case opSymlink:
			e = sym(r.name(), target())
		case opHardlink:
			if r.next()%2 == 0 {
				e = hard(r.name(), target())
			} else {
				e = hard(r.name(), r.name())
			}
		case opWhiteout:
			e = wh(r.name() + "/.wh." + r.pick(fuzzComps))
		case opOpaque:
			e = wh(r.name() + "/.wh..wh..opq")
		case opFifo:
			e = dev(r.name(), tar.TypeFifo, 0, 0, r.mode())
		case opChar:
			// 0/0 (a whiteout's) or 1/3 (/dev/null's): nothing else
			// is made, even as root.
			e = dev(r.name(), tar.TypeChar, int64(r.next()%2), int64(r.next()%2)*3, r.mode())
		case opXattr:
			key := r.pick([]string{"user.x", "trusted.overlay.opaque", "security.capability", "user.overlay.redirect", "security.selinux"})
			e = reg(r.name(), "", 0o644).with(key, "y")
		}
		if r.next()%8 == 0 {
			e = e.owned(1000, 1000)
		}
		ents = append(ents, e)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := e.hdr
		if tw.WriteHeader(&h) != nil {
			continue // a name tar cannot hold
		}
		tw.Write([]byte(e.body))
	}
	tw.Close()
	return buf.Bytes()
}

// fuzzSeed encodes ops for the seed corpus: each op is its code and the
// bytes of its arguments, as fuzzLayer reads them.
func fuzzSeed(ops ...[]byte) []byte { return slices.Concat(ops...) }

func comp(w string) byte   { return byte(slices.Index(fuzzComps, w)) }
func target(w string) byte { return byte(slices.Index(fuzzTargets, w)) }

// n1 encodes a one-word name, n2 a two-word one.
func n1(w string) []byte    { return []byte{0, comp(w), 1} }
func n2(a, b string) []byte { return []byte{1, comp(a), comp(b), 1} }

func FuzzApply(f *testing.F) {
	top := tempDir(f)
	parent := top
	for i := range fuzzDepth {
		parent = filepath.Join(parent, fmt.Sprintf("n%d", i))
		if err := os.Mkdir(parent, 0o755); err != nil {
			f.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(parent, "f"), []byte("sentinel"), 0o644); err != nil {
			f.Fatal(err)
		}
	}
	out := filepath.Join(parent, "out")
	for _, d := range []string{out, filepath.Join(out, "d")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			f.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(out, "f"), []byte("sentinel"), 0o644); err != nil {
		f.Fatal(err)
	}
	// A layer below, with links out of it: attributes are read from it,
	// nothing is written.
	lowerDir := filepath.Join(parent, "lower")
	if err := os.Mkdir(lowerDir, 0o755); err != nil {
		f.Fatal(err)
	}
	below := layer(f, dir("tmp", 0o1777), dir("a", 0o750), reg("a/f", "lower", 0o644), sym("ln", "../out"),
		sym("abs", out), dir("d", 0o711), wh(".wh.gone"))
	if _, err := Apply(context.Background(), lowerDir, bytes.NewReader(below), testOpts()); err != nil {
		f.Fatal(err)
	}

	f.Add(fuzzSeed([]byte{opSymlink}, n1("s"), []byte{target("../out"), 1}, []byte{opFile}, n2("s", "f"), []byte{5, 0o7, 0o55, 1}))
	f.Add(fuzzSeed([]byte{opSymlink}, n1("s"), []byte{target("$OUT"), 1}, []byte{opWhiteout}, n1("s"), []byte{comp("f"), 1}))
	f.Add(fuzzSeed([]byte{opSymlink}, n1("s"), []byte{target("../.."), 1}, []byte{opOpaque}, n1("s"), []byte{1}))
	f.Add(fuzzSeed([]byte{opHardlink, 0}, n1("f"), []byte{target("../out/f"), 1}))
	f.Add(fuzzSeed([]byte{opHardlink, 1}, n1("f"), n2("ln", "f"), []byte{1}))
	f.Add(fuzzSeed([]byte{opSymlink}, n1("f"), []byte{target("$OUT/f"), 1}, []byte{opFile}, n1("f"), []byte{3, 0o1, 0o44, 1}))
	f.Add(fuzzSeed([]byte{opFile}, n2("tmp", "a"), []byte{1, 0, 0o644 & 0xff, 1}, []byte{opDir}, n1("d"), []byte{0o5, 0o55, 1}))
	f.Add(fuzzSeed([]byte{opWhiteout}, n1("a"), []byte{comp("b"), 1}, []byte{opOpaque}, n1("a"), []byte{1}, []byte{opWhiteout}, n1("a"), []byte{comp("t"), 1}))
	f.Add(fuzzSeed([]byte{opSymlink}, n1("t"), []byte{target("ln"), 1}, []byte{opDir}, n2("t", "d"), []byte{1, 0o7, 0o55, 1}))
	f.Add(fuzzSeed([]byte{opXattr, 1}, n1("f"), []byte{1}, []byte{opChar}, n1("b"), []byte{1, 1, 0o6, 0o66, 1}))
	f.Add(fuzzSeed([]byte{opSymlink}, n1("s"), []byte{target("t/.."), 1}, []byte{opSymlink}, n1("t"), []byte{target("s"), 1}, []byte{opFile}, n2("s", "f"), []byte{1, 0, 0, 1}))
	f.Add([]byte{})

	ctx := context.Background()
	f.Fuzz(func(t *testing.T, data []byte) {
		stream := fuzzLayer(t, data, top, out)
		dst := filepath.Join(parent, "dst")
		if err := os.Mkdir(dst, 0o700); err != nil {
			t.Fatal(err)
		}
		defer func() {
			makeWritable(dst)
			if err := os.RemoveAll(dst); err != nil {
				t.Fatalf("removing dst: %v", err)
			}
		}()
		before := snapshot(t, top, dst)
		opts := testOpts()
		opts.Lower = []string{lowerDir}
		_, err := Apply(ctx, dst, bytes.NewReader(stream), opts)
		if diff := cmp.Diff(before, snapshot(t, top, dst)); diff != "" {
			t.Fatalf("Apply (err %v) changed what is outside dst (-before +after):\n%s", err, diff)
		}
		if err != nil {
			return
		}
		filepath.WalkDir(dst, func(p string, d fs.DirEntry, err error) error {
			if err == nil && strings.HasPrefix(d.Name(), whPrefix) {
				t.Errorf("a whiteout marker was written: %s", p)
			}
			return nil
		})
	})
}

// snapshot lists every node under top but dst: type, mode, owner, size,
// links, device, times, link target and xattrs. The sentinels were all
// made before the first run, so a write to one, or any change of its inode,
// shows in its mtime or ctime.
func snapshot(t *testing.T, top, dst string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dst {
			return filepath.SkipDir
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		line := fmt.Sprintf("%s %o %d:%d size=%d links=%d rdev=%d m=%d.%d c=%d.%d", p, st.Mode, st.Uid, st.Gid,
			st.Size, st.Nlink, st.Rdev, st.Mtim.Sec, st.Mtim.Nsec, st.Ctim.Sec, st.Ctim.Nsec)
		if p == top {
			line = "top" // its times change with the test's own temp files
		}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			l, _ := os.Readlink(p)
			line += " -> " + l
		}
		out = append(out, line+" "+strings.Join(listXattrs(p), " "))
		return nil
	})
	if err != nil {
		t.Fatalf("listing %s: %v", top, err)
	}
	return out
}
