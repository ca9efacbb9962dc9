// Package mkimage builds small container images offline, for plumb's demo, its tests and
// its benchmark: no registry, no Docker, no network, only Debian's busybox-static binary
// and go-containerregistry. The images are deterministic — entries sorted, every time
// fixed at Epoch, no user names — so the same busybox binary always gives the same layers
// (diff_ids) and the same image ID, and a test or a demo can name what it expects.
//
// The demo image (Build with Layers 0) has three layers, as the demo wants them:
//
//  1. base: /bin/busybox and a symlink per applet, /etc/passwd and /etc/group (root,
//     www-data uid 33, nobody), /tmp mode 1777, and /etc/deleteme, which layer 3 deletes;
//  2. web root: /www/index.html saying "hello from a plumb image layer";
//  3. a whiteout: etc/.wh.deleteme deletes the base's /etc/deleteme, and /etc/motd is added;
//
// and runs `httpd -f -p 80 -h /www` in /www, port 80/tcp exposed. Layers N builds the same
// base with N-1 tiny layers on it (for images past Docker's 128 layers and at the kernel's
// 500); Variant adds a top layer so that two images share every layer below it; BulkMB adds
// a layer of generated files for the benchmark. Layers are gzip, typed as OCI's, and each
// diff_id is the digest of its uncompressed tar as it must be.
//
// Write the result as a docker save archive (WriteDockerArchive), an OCI image layout
// (WriteLayout) or to a registry on this machine (Push); cmd/plumb-mkimage is the CLI.
package mkimage

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// IndexLine is the line the demo image's /www/index.html holds.
const IndexLine = "<h1>hello from a plumb image layer</h1>"

// DeletedFile is the base layer's file that the demo image's third layer whites out.
const DeletedFile = "etc/deleteme"

// Path is the PATH of every image's Env.
const Path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// MaxLayers bounds Options.Layers: past the kernel's 500 lower layers, with room to test
// that refusal.
const MaxLayers = 4096

// Options says which image Build makes.
type Options struct {
	// Busybox is the binary put at /bin/busybox. It must be statically linked (Debian's
	// busybox-static): the image holds no libraries. "" is busybox found on PATH.
	Busybox string
	// Applets are the names linked to busybox in /bin; nil asks the binary (busybox --list).
	Applets []string
	// Layers 0 builds the demo image (base, web root, whiteout). N ≥ 1 builds the base and
	// N-1 tiny layers, layer K adding /layers/K.txt ("layer K"), so images of different N
	// share their first layers; its command is sh.
	Layers int
	// BulkMB > 0 adds a layer of about that many megabytes of generated files (WriteBulk).
	BulkMB int
	// ExtraBulkMB adds a further bulk layer per size, in order, above BulkMB's: an image of
	// several large layers, for the benchmark that unpacks them side by side. Layers of
	// different sizes differ; two of one size are the same layer.
	ExtraBulkMB []int
	// Variant, when not "", adds a top layer holding /variant.txt (Variant and a newline):
	// images of different variants share every layer below it, the base included.
	Variant string
	// Platform of the config; the zero value is this machine's (runtime.GOOS, GOARCH).
	Platform v1.Platform
}

// Build makes the image opts describe.
func Build(opts Options) (v1.Image, error) {
	if opts.Layers < 0 || opts.Layers > MaxLayers {
		return nil, fmt.Errorf("layers: %d is not between 1 and %d (0 builds the demo image)", opts.Layers, MaxLayers)
	}
	for _, mb := range append([]int{opts.BulkMB}, opts.ExtraBulkMB...) {
		if mb < 0 {
			return nil, fmt.Errorf("bulk: %d MB is negative", mb)
		}
	}
	if strings.ContainsAny(opts.Variant, "\n\x00") {
		return nil, fmt.Errorf("variant %q: no newlines or NULs", opts.Variant)
	}
	bin, applets, err := readBusybox(opts.Busybox, opts.Applets)
	if err != nil {
		return nil, err
	}
	var layers []layerSpec
	base, err := Tar(BaseEntries(bin, applets)...)
	if err != nil {
		return nil, err
	}
	layers = append(layers, layerSpec{tar: base, createdBy: fmt.Sprintf("plumb-mkimage: base: /bin/busybox and %d applets, /etc/passwd, /etc/group, /tmp, /%s", len(applets), DeletedFile)})
	cfg := v1.Config{Env: []string{Path}, Cmd: []string{"sh"}}
	if opts.Layers == 0 {
		web, err := Tar(WebRootEntries()...)
		if err != nil {
			return nil, err
		}
		wh, err := Tar(WhiteoutEntries()...)
		if err != nil {
			return nil, err
		}
		layers = append(layers,
			layerSpec{tar: web, createdBy: "plumb-mkimage: web root: /www/index.html"},
			layerSpec{tar: wh, createdBy: "plumb-mkimage: whiteout: deletes /" + DeletedFile + ", adds /etc/motd"})
		cfg = v1.Config{
			Env:          []string{Path},
			Cmd:          []string{"httpd", "-f", "-p", "80", "-h", "/www"},
			WorkingDir:   "/www",
			ExposedPorts: map[string]struct{}{"80/tcp": {}},
		}
	}
	for k := 2; k <= opts.Layers; k++ {
		b, err := Tar(TinyEntries(k)...)
		if err != nil {
			return nil, err
		}
		layers = append(layers, layerSpec{tar: b, createdBy: fmt.Sprintf("plumb-mkimage: /layers/%d.txt", k)})
	}
	for _, mb := range append([]int{opts.BulkMB}, opts.ExtraBulkMB...) {
		if mb == 0 {
			continue
		}
		var b bytes.Buffer
		st, err := WriteBulk(&b, int64(mb)<<20)
		if err != nil {
			return nil, err
		}
		layers = append(layers, layerSpec{tar: b.Bytes(), big: true, createdBy: fmt.Sprintf(
			"plumb-mkimage: bulk: %d MB, %d files, %d directories, %d symlinks, %d hard links",
			mb, st.Files, st.Dirs, st.Symlinks, st.Hardlinks)})
	}
	if opts.Variant != "" {
		b, err := Tar(File("variant.txt", 0o644, opts.Variant+"\n"))
		if err != nil {
			return nil, err
		}
		layers = append(layers, layerSpec{tar: b, createdBy: "plumb-mkimage: variant: /variant.txt"})
	}
	return assemble(layers, cfg, opts.Platform)
}

type layerSpec struct {
	tar       []byte // uncompressed
	createdBy string
	big       bool // keep the compressed bytes once made, rather than gzip again per read
}

// assemble makes an OCI-typed image of layers (base first) and cfg. Every time in the
// config and its history is Epoch.
func assemble(layers []layerSpec, cfg v1.Config, plat v1.Platform) (v1.Image, error) {
	if plat.OS == "" && plat.Architecture == "" {
		plat = v1.Platform{OS: runtime.GOOS, Architecture: runtime.GOARCH}
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err := mutate.ConfigFile(img, &v1.ConfigFile{
		Created:      v1.Time{Time: Epoch},
		OS:           plat.OS,
		Architecture: plat.Architecture,
		Variant:      plat.Variant,
		OSVersion:    plat.OSVersion,
		Config:       cfg,
		RootFS:       v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return nil, err
	}
	var adds []mutate.Addendum
	for _, ls := range layers {
		l, err := Layer(ls.tar, ls.big)
		if err != nil {
			return nil, err
		}
		adds = append(adds, mutate.Addendum{
			Layer:     l,
			History:   v1.History{Created: v1.Time{Time: Epoch}, CreatedBy: ls.createdBy},
			MediaType: types.OCILayer,
		})
	}
	return mutate.Append(img, adds...)
}

// Layer is a gzip layer, typed as OCI's, of an uncompressed tar stream; its diff_id is the
// stream's digest. cache keeps the compressed bytes once made (for a large layer, which
// would otherwise be compressed again on every read).
func Layer(tarStream []byte, cache bool) (v1.Layer, error) {
	opener := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(tarStream)), nil }
	lopts := []tarball.LayerOption{tarball.WithMediaType(types.OCILayer)}
	if cache {
		lopts = append(lopts, tarball.WithCompressedCaching)
	}
	return tarball.LayerFromOpener(opener, lopts...)
}

// BaseEntries are the base layer's entries, sorted: /bin/busybox (bin) and a symlink to it
// per applet, the users and groups, the directories a root file system has (mount points
// included), /tmp with mode 1777 and the file the demo's third layer deletes.
func BaseEntries(bin []byte, applets []string) []Entry {
	es := []Entry{
		Dir("bin", 0o755),
		{Name: "bin/busybox", Type: tar.TypeReg, Mode: 0o755, Body: bin},
		Dir("dev", 0o755),
		Dir("etc", 0o755),
		File("etc/group", 0o644, "root:x:0:\nwww-data:x:33:\nnogroup:x:65534:\n"),
		File("etc/passwd", 0o644, "root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33:www-data:/var/www:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"),
		File(DeletedFile, 0o644, "if you can read this, the whiteout of plumb's demo image layer 3 was not applied\n"),
		Dir("proc", 0o755),
		Dir("root", 0o700),
		Dir("sys", 0o755),
		Dir("tmp", 0o1777),
		Dir("usr", 0o755),
		Dir("var", 0o755),
	}
	for _, a := range applets {
		if a != "busybox" {
			es = append(es, Symlink("bin/"+a, "busybox"))
		}
	}
	slices.SortStableFunc(es, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	return slices.CompactFunc(es, func(a, b Entry) bool { return a.Name == b.Name })
}

// WebRootEntries are the demo's second layer: /www and its index.html.
func WebRootEntries() []Entry {
	return []Entry{
		Dir("www", 0o755),
		File("www/index.html", 0o644, IndexLine+"\n"),
	}
}

// WhiteoutEntries are the demo's third layer: a whiteout deleting the base's DeletedFile,
// and a new /etc/motd.
func WhiteoutEntries() []Entry {
	return []Entry{
		Dir("etc", 0o755),
		Whiteout(DeletedFile),
		File("etc/motd", 0o644, "plumb demo image: layer 3 deleted /"+DeletedFile+" with a whiteout\n"),
	}
}

// TinyEntries are the entries of tiny layer k: /layers/k.txt holding "layer k".
func TinyEntries(k int) []Entry {
	return []Entry{
		Dir("layers", 0o755),
		File(fmt.Sprintf("layers/%d.txt", k), 0o644, fmt.Sprintf("layer %d\n", k)),
	}
}

// readBusybox reads the busybox binary at path (or found on PATH) and its applets (given,
// or from `busybox --list`). A dynamically linked binary is refused: it would not run in an
// image without its libraries.
func readBusybox(path string, applets []string) ([]byte, []string, error) {
	if path == "" {
		p, err := exec.LookPath("busybox")
		if err != nil {
			return nil, nil, errors.New("busybox not found on PATH — install the busybox-static package")
		}
		path = p
	}
	bin, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("reading busybox: %w", err)
	}
	if f, err := elf.NewFile(bytes.NewReader(bin)); err == nil {
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				return nil, nil, fmt.Errorf("%s is dynamically linked; the image holds no libraries — install the busybox-static package", path)
			}
		}
	}
	if applets == nil {
		out, err := exec.Command(path, "--list").Output()
		if err != nil {
			return nil, nil, fmt.Errorf("%s --list: %w", path, err)
		}
		applets = strings.Fields(string(out))
	}
	for _, a := range applets {
		if a == "" || a == "." || a == ".." || strings.ContainsAny(a, "/\x00") {
			return nil, nil, fmt.Errorf("applet name %q: not a file name", a)
		}
	}
	return bin, applets, nil
}
