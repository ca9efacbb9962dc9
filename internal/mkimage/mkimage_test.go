package mkimage

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// fakeBusybox is a stand-in for the binary, so that these tests need no busybox and their
// layers are the same on every machine; TestRealBusybox tries the real one.
func fakeBusybox(t *testing.T) Options {
	t.Helper()
	p := filepath.Join(t.TempDir(), "busybox")
	if err := os.WriteFile(p, []byte("#!/bin/false stand-in for busybox\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return Options{Busybox: p, Applets: []string{"sh", "httpd", "wget", "cat", "ls", "busybox"}}
}

func build(t *testing.T, opts Options) v1.Image {
	t.Helper()
	img, err := Build(opts)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// tarEntry is what a test reads back of one tar member.
type tarEntry struct {
	hdr  tar.Header
	body string
}

// layerTars reads every layer's uncompressed stream, checking that its digest is the
// layer's diff_id and the config's rootfs.diff_ids entry, and that the layer is a gzip
// layer typed as OCI's.
func layerTars(t *testing.T, img v1.Image) [][]byte {
	t.Helper()
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if len(cf.RootFS.DiffIDs) != len(ls) || len(cf.History) != len(ls) {
		t.Fatalf("%d layers, %d diff_ids, %d history entries", len(ls), len(cf.RootFS.DiffIDs), len(cf.History))
	}
	var out [][]byte
	for i, l := range ls {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		got := "sha256:" + hex.EncodeToString(sum[:])
		d, err := l.DiffID()
		if err != nil {
			t.Fatal(err)
		}
		if got != d.String() || got != cf.RootFS.DiffIDs[i].String() {
			t.Errorf("layer %d: uncompressed stream is %s, diff_id %s, config says %s", i, got, d, cf.RootFS.DiffIDs[i])
		}
		crc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		magic := make([]byte, 2)
		io.ReadFull(crc, magic)
		crc.Close()
		if !bytes.Equal(magic, []byte{0x1f, 0x8b}) {
			t.Errorf("layer %d: blob starts %x, not gzip", i, magic)
		}
		if mt, _ := l.MediaType(); mt != types.OCILayer {
			t.Errorf("layer %d: media type %s", i, mt)
		}
		out = append(out, b)
	}
	return out
}

func entries(t *testing.T, b []byte) []tarEntry {
	t.Helper()
	var es []tarEntry
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return es
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		es = append(es, tarEntry{hdr: *h, body: string(body)})
	}
}

func find(es []tarEntry, name string) (tarEntry, bool) {
	for _, e := range es {
		if e.hdr.Name == name {
			return e, true
		}
	}
	return tarEntry{}, false
}

func names(es []tarEntry) []string {
	var ns []string
	for _, e := range es {
		ns = append(ns, e.hdr.Name)
	}
	return ns
}

func TestDemoImage(t *testing.T) {
	opts := fakeBusybox(t)
	img := build(t, opts)
	tars := layerTars(t, img)
	if len(tars) != 3 {
		t.Fatalf("%d layers, want 3", len(tars))
	}
	base, web, wh := entries(t, tars[0]), entries(t, tars[1]), entries(t, tars[2])

	if !slices.IsSorted(names(base)) {
		t.Errorf("base entries not sorted: %q", names(base))
	}
	for _, e := range slices.Concat(base, web, wh) {
		if !e.hdr.ModTime.Equal(Epoch) || e.hdr.Uname != "" || e.hdr.Gname != "" {
			t.Errorf("%s: mtime %s, owner names %q %q", e.hdr.Name, e.hdr.ModTime, e.hdr.Uname, e.hdr.Gname)
		}
	}
	bb, _ := find(base, "bin/busybox")
	if bb.body != "#!/bin/false stand-in for busybox\n" || bb.hdr.Mode != 0o755 {
		t.Errorf("bin/busybox: mode %o, body %q", bb.hdr.Mode, bb.body)
	}
	for _, a := range []string{"sh", "httpd", "wget", "cat", "ls"} {
		e, ok := find(base, "bin/"+a)
		if !ok || e.hdr.Typeflag != tar.TypeSymlink || e.hdr.Linkname != "busybox" {
			t.Errorf("bin/%s: %+v", a, e.hdr)
		}
	}
	if tmp, _ := find(base, "tmp/"); tmp.hdr.Mode != 0o1777 || tmp.hdr.Typeflag != tar.TypeDir {
		t.Errorf("tmp/: mode %o type %c", tmp.hdr.Mode, tmp.hdr.Typeflag)
	}
	if pw, _ := find(base, "etc/passwd"); !strings.Contains(pw.body, "www-data:x:33:33:") || !strings.HasPrefix(pw.body, "root:x:0:0:") {
		t.Errorf("etc/passwd: %q", pw.body)
	}
	if gr, _ := find(base, "etc/group"); !strings.Contains(gr.body, "www-data:x:33:") {
		t.Errorf("etc/group: %q", gr.body)
	}
	if _, ok := find(base, DeletedFile); !ok {
		t.Errorf("base lacks %s", DeletedFile)
	}

	if idx, _ := find(web, "www/index.html"); idx.body != IndexLine+"\n" {
		t.Errorf("www/index.html: %q", idx.body)
	}

	if diff := cmp.Diff([]string{"etc/", "etc/.wh.deleteme", "etc/motd"}, names(wh)); diff != "" {
		t.Errorf("layer 3 (-want +got):\n%s", diff)
	}
	if w, _ := find(wh, "etc/.wh.deleteme"); w.hdr.Typeflag != tar.TypeReg || w.hdr.Size != 0 {
		t.Errorf("whiteout: %+v", w.hdr)
	}

	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	want := v1.Config{
		Env:          []string{Path},
		Cmd:          []string{"httpd", "-f", "-p", "80", "-h", "/www"},
		WorkingDir:   "/www",
		ExposedPorts: map[string]struct{}{"80/tcp": {}},
	}
	if diff := cmp.Diff(want, cf.Config); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	if cf.OS != runtime.GOOS || cf.Architecture != runtime.GOARCH || !cf.Created.Equal(Epoch) {
		t.Errorf("os %s arch %s created %s", cf.OS, cf.Architecture, cf.Created)
	}
	for i, h := range cf.History {
		if !h.Created.Equal(Epoch) || h.CreatedBy == "" {
			t.Errorf("history %d: %+v", i, h)
		}
	}
	if mt, _ := img.MediaType(); mt != types.OCIManifestSchema1 {
		t.Errorf("manifest media type %s", mt)
	}
}

// TestDeterministic builds twice and gets the same bytes; variants share every layer below
// their own, blobs included.
func TestDeterministic(t *testing.T) {
	opts := fakeBusybox(t)
	a, b := build(t, opts), build(t, opts)
	for _, f := range []func(v1.Image) (v1.Hash, error){v1.Image.ConfigName, v1.Image.Digest} {
		ha, err := f(a)
		if err != nil {
			t.Fatal(err)
		}
		hb, _ := f(b)
		if ha != hb {
			t.Errorf("two builds: %s and %s", ha, hb)
		}
	}

	va, vb := opts, opts
	va.Variant, vb.Variant = "a", "b"
	ia, ib := build(t, va), build(t, vb)
	ma, _ := ia.Manifest()
	mb, _ := ib.Manifest()
	if len(ma.Layers) != 4 || len(mb.Layers) != 4 {
		t.Fatalf("variants have %d and %d layers, want 4", len(ma.Layers), len(mb.Layers))
	}
	for i := range 3 {
		if ma.Layers[i].Digest != mb.Layers[i].Digest {
			t.Errorf("layer %d differs between variants: %s, %s", i, ma.Layers[i].Digest, mb.Layers[i].Digest)
		}
	}
	if ma.Layers[3].Digest == mb.Layers[3].Digest {
		t.Error("the variants' top layers are the same")
	}
	top := entries(t, layerTars(t, ia)[3])
	if diff := cmp.Diff([]string{"variant.txt"}, names(top)); diff != "" || top[0].body != "a\n" {
		t.Errorf("variant layer %q %q", names(top), top[0].body)
	}
	ida, _ := ia.ConfigName()
	idb, _ := ib.ConfigName()
	if ida == idb {
		t.Error("two variants have one image ID")
	}
}

func TestManyLayers(t *testing.T) {
	opts := fakeBusybox(t)
	opts.Layers = 1
	one := layerTars(t, build(t, opts))
	if len(one) != 1 {
		t.Fatalf("--layers 1: %d layers", len(one))
	}
	opts.Layers = 130
	img := build(t, opts)
	tars := layerTars(t, img)
	if len(tars) != 130 {
		t.Fatalf("--layers 130: %d layers", len(tars))
	}
	if !bytes.Equal(tars[0], one[0]) {
		t.Error("the base of 130 layers differs from the base alone")
	}
	for k := 2; k <= 130; k++ {
		es := entries(t, tars[k-1])
		want := []string{"layers/", "layers/" + strconv.Itoa(k) + ".txt"}
		if diff := cmp.Diff(want, names(es)); diff != "" || es[1].body != "layer "+strconv.Itoa(k)+"\n" {
			t.Fatalf("layer %d: %q %q", k, names(es), es[1].body)
		}
	}
	cf, _ := img.ConfigFile()
	if diff := cmp.Diff(v1.Config{Env: []string{Path}, Cmd: []string{"sh"}}, cf.Config); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	for _, n := range []int{-1, MaxLayers + 1} {
		opts.Layers = n
		if _, err := Build(opts); err == nil {
			t.Errorf("--layers %d: no error", n)
		}
	}
}

func TestBulk(t *testing.T) {
	var b1, b2 bytes.Buffer
	st, err := WriteBulk(&b1, 8<<20)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := WriteBulk(&b2, 8<<20); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b1.Bytes(), b2.Bytes()) {
		t.Error("two bulk layers of one size differ")
	}
	sum := sha256.Sum256(b1.Bytes())
	if st.Bytes != int64(b1.Len()) || st.DiffID != "sha256:"+hex.EncodeToString(sum[:]) {
		t.Errorf("stats %+v for %d bytes", st, b1.Len())
	}
	if st.Bytes < 8<<20*9/10 || st.Files < 100 || st.Dirs != 300 || st.Symlinks == 0 || st.Hardlinks == 0 {
		t.Errorf("stats %+v", st)
	}
	seen := map[string]bool{}
	for _, e := range entries(t, b1.Bytes()) {
		if e.hdr.Typeflag == tar.TypeLink && !seen[e.hdr.Linkname] {
			t.Fatalf("hard link %s to %s before its target", e.hdr.Name, e.hdr.Linkname)
		}
		seen[e.hdr.Name] = true
	}

	opts := fakeBusybox(t)
	opts.BulkMB = 1
	opts.Variant = "v"
	tars := layerTars(t, build(t, opts))
	if len(tars) != 5 {
		t.Fatalf("demo + bulk + variant: %d layers, want 5", len(tars))
	}
	var want bytes.Buffer
	WriteBulk(&want, 1<<20)
	if !bytes.Equal(tars[3], want.Bytes()) {
		t.Error("the image's bulk layer is not WriteBulk's")
	}
}

func TestRealBusybox(t *testing.T) {
	p, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("busybox not on PATH (Debian package busybox-static)")
	}
	if f, err := elf.Open(p); err == nil {
		defer f.Close()
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				t.Skip(p + " is dynamically linked (not busybox-static)")
			}
		}
	}
	img := build(t, Options{})
	base := entries(t, layerTars(t, img)[0])
	for _, a := range []string{"sh", "httpd", "wget", "hostname", "mount", "ip"} {
		if e, ok := find(base, "bin/"+a); !ok || e.hdr.Linkname != "busybox" {
			t.Errorf("bin/%s: %+v", a, e.hdr)
		}
	}
	if _, ok := find(base, "bin/busybox"); !ok {
		t.Error("no bin/busybox")
	}
	id1, _ := img.ConfigName()
	id2, _ := build(t, Options{}).ConfigName()
	if id1 != id2 {
		t.Errorf("two builds from %s: %s and %s", p, id1, id2)
	}
}

func TestRefusals(t *testing.T) {
	opts := fakeBusybox(t)
	for _, a := range []string{"", ".", "..", "../x", "a/b"} {
		o := opts
		o.Applets = []string{a}
		if _, err := Build(o); err == nil {
			t.Errorf("applet %q: no error", a)
		}
	}
	o := opts
	o.Variant = "a\nb"
	if _, err := Build(o); err == nil {
		t.Error("variant with a newline: no error")
	}
	o = opts
	o.Busybox = filepath.Join(t.TempDir(), "missing")
	if _, err := Build(o); err == nil {
		t.Error("missing busybox: no error")
	}
	// A dynamically linked binary would not run in an image without libraries.
	for _, p := range []string{"/bin/ls", "/usr/bin/ls", "/bin/sh"} {
		f, err := elf.Open(p)
		if err != nil {
			continue
		}
		dynamic := slices.ContainsFunc(f.Progs, func(p *elf.Prog) bool { return p.Type == elf.PT_INTERP })
		f.Close()
		if !dynamic {
			continue
		}
		o := opts
		o.Busybox = p
		if _, err := Build(o); err == nil || !strings.Contains(err.Error(), "busybox-static") {
			t.Errorf("dynamically linked %s: %v", p, err)
		}
		break
	}
}
