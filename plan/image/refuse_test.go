package image

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"plumb/internal/mkimage"
)

// everywhere writes img to a registry, a layout and a go-containerregistry tarball, and
// returns a reader for each.
func everywhere(t *testing.T, img v1.Image) map[string]func() (*Image, error) {
	t.Helper()
	reg := newRegistry(t)
	ref := reg + "/plumb/bad:v1"
	if err := remote.Write(mustTag(t, ref), img); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := layout.Write(filepath.Join(dir, "layout"), mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: img})); err != nil {
		t.Fatal(err)
	}
	if err := tarball.WriteToFile(filepath.Join(dir, "a.tar"), mustTag(t, ref), img); err != nil {
		t.Fatal(err)
	}
	return map[string]func() (*Image, error){
		"registry": func() (*Image, error) { return FromRegistry(context.Background(), mustRef(t, ref), Options{}) },
		"layout":   func() (*Image, error) { return FromLayout(filepath.Join(dir, "layout"), "", Options{}) },
		"tarball":  func() (*Image, error) { return FromTarball(filepath.Join(dir, "a.tar"), "", Options{}) },
	}
}

func withPlatform(t *testing.T, img v1.Image, p Platform) v1.Image {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestRefusedImages(t *testing.T) {
	noCredentials(t)
	good := buildImage(t, Host(), dockerGzip, "host")
	layer := static.NewLayer(tarOf(t, mkimage.File("f", 0o644, "x")), types.DockerLayer)

	foreign, err := mutate.Append(good.img, mutate.Addendum{
		Layer: layer, MediaType: types.DockerForeignLayer, URLs: []string{"https://foreign.invalid/layer"},
	})
	if err != nil {
		t.Fatal(err)
	}
	chart, err := mutate.Append(good.img, mutate.Addendum{
		Layer: layer, MediaType: "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
	})
	if err != nil {
		t.Fatal(err)
	}
	cf, err := good.img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.RootFS.DiffIDs = append(cf.RootFS.DiffIDs, cf.RootFS.DiffIDs[0])
	extraDiffID, err := mutate.ConfigFile(good.img, cf)
	if err != nil {
		t.Fatal(err)
	}
	noLayers := withPlatform(t, empty.Image, Host())
	artifact := mutate.ConfigMediaType(mutate.MediaType(good.img, types.OCIManifestSchema1), "application/vnd.cncf.helm.config.v1+json")

	for _, tc := range []struct {
		name  string
		img   v1.Image
		says  string
		skips string // a source that cannot hold this image
	}{
		{"foreign layer", foreign, "layer 3 is a foreign (non-distributable) layer (application/vnd.docker.image.rootfs.foreign.diff.tar.gzip)", ""},
		{"not a tar", chart, `layer 3 has media type "application/vnd.cncf.helm.chart.content.v1.tar+gzip", not a tar layer`, "tarball"},
		{"more diff_ids than layers", extraDiffID, "lists 3 layers but the config's rootfs.diff_ids 4", ""},
		{"another machine's image", withPlatform(t, good.img, otherPlatform()), "the image is for " + otherPlatform().String() + ", not for this machine (" + Host().String() + ")", ""},
		{"no layers", noLayers, "the image config lists no layers", ""},
		{"artifact", artifact, "not a container image: its config is application/vnd.cncf.helm.config.v1+json", "tarball"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for src, read := range everywhere(t, tc.img) {
				if src == tc.skips {
					continue // a docker save archive has no layer media types
				}
				img, err := read()
				if err == nil {
					t.Errorf("%s: read %d layers, want an error", src, len(img.Layers))
					continue
				}
				t.Logf("%s: %v", src, err)
				if !strings.Contains(err.Error(), tc.says) {
					t.Errorf("%s: error %q does not say %q", src, err, tc.says)
				}
			}
		})
	}
}

// TestLayoutTampered changes blobs of a layout after it was written: what is read is checked
// against the digests that name it.
func TestLayoutTampered(t *testing.T) {
	ti := buildImage(t, Host(), ociMixed, "host")
	m, err := ti.img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	md, err := ti.img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		blob v1.Hash
		says string
	}{
		{"config", m.Config.Digest, "the image config is sha256:"},
		{"manifest", md, "manifest " + md.String() + " has digest sha256:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := layout.Write(dir, mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: ti.img})); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, "blobs", tc.blob.Algorithm, tc.blob.Hex)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, bytes.Replace(b, []byte(`"`), []byte(`  "`), 1), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err = FromLayout(dir, "", Options{})
			if err == nil || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("error %v, want it to say %q", err, tc.says)
			}
		})
	}
}

func TestNamesInFiles(t *testing.T) {
	a := buildImage(t, Host(), dockerGzip, "a")
	b := buildImage(t, Host(), ociMixed, "b")
	dir := t.TempDir()

	archive := filepath.Join(dir, "two.tar")
	if err := tarball.MultiWriteToFile(archive, map[name.Tag]v1.Image{
		mustTag(t, "busybox:latest"): a.img, mustTag(t, "127.0.0.1:5000/app:v2"): b.img,
	}); err != nil {
		t.Fatal(err)
	}
	_, err := FromTarball(archive, "", Options{})
	if err == nil || !strings.Contains(err.Error(), "the archive holds 2 images (") || !strings.Contains(err.Error(), "): name one") {
		t.Errorf("two images, no tag: %v", err)
	}
	for tag, want := range map[string]testImage{
		"busybox": a, "docker.io/library/busybox:latest": a, "index.docker.io/library/busybox": a,
		"127.0.0.1:5000/app:v2": b,
	} {
		got, err := FromTarball(archive, tag, Options{})
		if err != nil {
			t.Errorf("%s: %v", tag, err)
			continue
		}
		want.check(t, got, false)
	}

	lp, err := layout.Write(filepath.Join(dir, "layout"), empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(a.img, layout.WithAnnotations(map[string]string{
		annotationRefName: "latest", annotationImageName: "docker.io/library/busybox:latest"})); err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(b.img, layout.WithAnnotations(map[string]string{annotationRefName: "127.0.0.1:5000/app:v2"})); err != nil {
		t.Fatal(err)
	}
	_, err = FromLayout(filepath.Join(dir, "layout"), "", Options{})
	if err == nil || !strings.Contains(err.Error(), "the layout holds 2 images (latest, 127.0.0.1:5000/app:v2): name one") {
		t.Errorf("two images, no name: %v", err)
	}
	for ref, want := range map[string]struct {
		ti   testImage
		name string
	}{
		"latest":                           {a, "index.docker.io/library/busybox:latest"},
		"busybox":                          {a, "index.docker.io/library/busybox:latest"},
		"docker.io/library/busybox:latest": {a, "index.docker.io/library/busybox:latest"},
		"127.0.0.1:5000/app:v2":            {b, "127.0.0.1:5000/app:v2"},
	} {
		got, err := FromLayout(filepath.Join(dir, "layout"), ref, Options{})
		if err != nil {
			t.Errorf("%s: %v", ref, err)
			continue
		}
		want.ti.check(t, got, true)
		if got.Ref != want.name {
			t.Errorf("%s: ref %q, want %q", ref, got.Ref, want.name)
		}
	}
}

func TestDetect(t *testing.T) {
	dir := t.TempDir()
	ti := buildImage(t, Host(), dockerGzip, "host")

	save := filepath.Join(dir, "save.tar")
	ti.writeDockerSave(t, save, []string{"busybox:latest"}, false)
	saveBytes, err := os.ReadFile(save)
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(saveBytes)
	zw.Close()

	lay := filepath.Join(dir, "layout")
	if _, err := layout.Write(lay, mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: ti.img})); err != nil {
		t.Fatal(err)
	}
	// A layout as a tar, what `skopeo copy ... oci-archive:` or buildx's type=oci writes.
	var order []string
	files := map[string][]byte{}
	filepath.WalkDir(lay, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(lay, p)
			files[rel], _ = os.ReadFile(p)
			order = append(order, rel)
		}
		return err
	})
	ociArchive := filepath.Join(dir, "oci.tar")
	writeTar(t, ociArchive, order, files)
	rootfs := filepath.Join(dir, "rootfs.tar")
	writeTar(t, rootfs, []string{"bin/sh", "etc/passwd"}, map[string][]byte{"bin/sh": []byte("x"), "etc/passwd": []byte("root:x:0:0::/:/bin/sh\n")})

	for name, tc := range map[string]struct {
		data string // file contents, or "" for an existing path
		path string
		kind Kind
		says string
	}{
		"docker save":       {path: save, kind: KindDockerArchive},
		"layout":            {path: lay, kind: KindLayout},
		"gzip docker save":  {data: gz.String(), says: "is gzip-compressed; plumb reads the tar inside: decompress it first (gunzip -k "},
		"zstd":              {data: "\x28\xb5\x2f\xfdxxxx", says: "is zstd-compressed"},
		"xz":                {data: "\xfd7zXZ\x00xxxx", says: "is xz-compressed"},
		"oci archive":       {path: ociArchive, says: "is an OCI image layout in a tar archive (an oci-archive), not a docker save archive; unpack it and import the directory: mkdir DIR && tar -xf "},
		"rootfs tarball":    {path: rootfs, says: "is a tar archive but not a docker save archive (no manifest.json); a root file system tarball is a layer: plumb layer import"},
		"text":              {data: "hello\n", says: "is neither a tar archive (docker save) nor an OCI image layout directory"},
		"empty":             {data: "\x00", says: "is neither a tar archive"},
		"dir, no index":     {path: t.TempDir(), says: "is a directory but not an OCI image layout: it has no index.json"},
		"missing":           {path: filepath.Join(dir, "absent"), says: "no such file or directory"},
		"empty file (zero)": {data: "-", says: "is neither a tar archive"},
	} {
		t.Run(name, func(t *testing.T) {
			p := tc.path
			if tc.data != "" {
				p = filepath.Join(t.TempDir(), "f")
				data := tc.data
				if data == "-" {
					data = ""
				}
				if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			k, err := Detect(p)
			if tc.says == "" {
				if err != nil || k != tc.kind {
					t.Errorf("Detect = %q, %v; want %q", k, err, tc.kind)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("Detect = %q, %v; want an error saying %q", k, err, tc.says)
			}
			// Import and FromTarball say the same, naming the path.
			_, err = Import(p, "", Options{})
			if err == nil || !strings.Contains(err.Error(), tc.says) || !strings.Contains(err.Error(), p) {
				t.Errorf("Import: %v", err)
			}
		})
	}
}

func TestIndexWithoutImages(t *testing.T) {
	dir := t.TempDir()
	// An index holding only an artifact (a signature, an SBOM): nothing to run.
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	h, _, err := v1.SHA256(strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendDescriptor(v1.Descriptor{MediaType: "application/vnd.example.sbom.v1+json", Digest: h, Size: 2}); err != nil {
		t.Fatal(err)
	}
	_, err = FromLayout(dir, "", Options{})
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "no image manifest in the index") {
		t.Errorf("%v", err)
	}
}

// TestLayoutNamePinningADigest: a layout's annotation naming its image with
// @sha256: is not taken as the image's name (a hostile layout would bind a
// digest-pinned name to other content); names without one are.
func TestLayoutNamePinningADigest(t *testing.T) {
	pinned := "docker.io/library/busybox:1.36@sha256:" + strings.Repeat("ab", 32)
	for ann, want := range map[string]string{
		pinned:                      "",
		"docker.io/library/busybox": "index.docker.io/library/busybox:latest",
		"1":                         "", // a tag alone names no image
	} {
		if got := layoutImageName(map[string]string{annotationImageName: ann}); got != want {
			t.Errorf("layoutImageName(%q) = %q, want %q", ann, got, want)
		}
	}
}
