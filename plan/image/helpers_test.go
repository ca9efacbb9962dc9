package image

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/compression"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"plumb/internal/mkimage"
)

// tarOf is a layer's tar stream of entries, its bytes independent of the clock
// (mkimage.Tar).
func tarOf(t *testing.T, entries ...mkimage.Entry) []byte {
	t.Helper()
	b, err := mkimage.Tar(entries...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testImage is an image built for a test, and what reading it back must give.
type testImage struct {
	img    v1.Image
	tars   [][]byte // each layer's uncompressed tar, base first
	config Config
	plat   Platform
}

// flavor is how a test image's manifest and layers are typed and compressed.
type flavor int

const (
	dockerGzip flavor = iota // Docker's media types, every layer gzip
	ociMixed                 // OCI's media types: gzip, zstd and a plain tar
)

// buildImage makes a three-layer image for plat: a base, a layer adding a web root, and a
// layer whiting out a file of the base. marker makes images for different platforms differ.
func buildImage(t *testing.T, plat Platform, fl flavor, marker string) testImage {
	t.Helper()
	tars := [][]byte{
		tarOf(t,
			mkimage.Dir("bin", 0o755),
			mkimage.File("bin/sh", 0o755, "#!fake shell "+marker),
			mkimage.Dir("etc", 0o755),
			mkimage.File("etc/motd", 0o644, "base of "+marker),
			mkimage.Dir("tmp", 0o1777)),
		tarOf(t,
			mkimage.Dir("var", 0o755),
			mkimage.Dir("var/www", 0o755),
			mkimage.File("var/www/index.html", 0o644, "<h1>hello from "+marker+"</h1>")),
		tarOf(t,
			mkimage.Dir("etc", 0o755),
			mkimage.Whiteout("etc/motd")),
	}
	var layers []mutate.Addendum
	for i, b := range tars {
		opener := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
		var (
			l   v1.Layer
			err error
		)
		switch {
		case fl == dockerGzip:
			l, err = tarball.LayerFromOpener(opener)
		case i == 0:
			l, err = tarball.LayerFromOpener(opener, tarball.WithMediaType(types.OCILayer))
		case i == 1:
			l, err = tarball.LayerFromOpener(opener, tarball.WithCompression(compression.ZStd), tarball.WithMediaType(types.OCILayerZStd))
		default:
			l = static.NewLayer(b, types.OCIUncompressedLayer)
		}
		if err != nil {
			t.Fatal(err)
		}
		layers = append(layers, mutate.Addendum{Layer: l, History: v1.History{CreatedBy: "layer " + string(rune('0'+i))}})
	}
	base := empty.Image
	if fl == ociMixed {
		base = mutate.MediaType(base, types.OCIManifestSchema1)
		base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	}
	img, err := mutate.Append(base, layers...)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = plat.OS, plat.Architecture, plat.Variant
	cf.Config = v1.Config{
		Env:          []string{"PATH=/usr/local/bin:/usr/bin:/bin", "MARKER=" + marker},
		Cmd:          []string{"-p", "8080"},
		Entrypoint:   []string{"/bin/httpd", "-f"},
		WorkingDir:   "/var/www",
		User:         "1000:1000",
		ExposedPorts: map[string]struct{}{"8080/tcp": {}, "53/udp": {}, "80/tcp": {}},
		Labels:       map[string]string{"not": "kept"},
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return testImage{
		img:  img,
		tars: tars,
		plat: plat,
		config: Config{
			Env:          []string{"PATH=/usr/local/bin:/usr/bin:/bin", "MARKER=" + marker},
			Cmd:          []string{"-p", "8080"},
			Entrypoint:   []string{"/bin/httpd", "-f"},
			WorkingDir:   "/var/www",
			User:         "1000:1000",
			ExposedPorts: []string{"53/udp", "80/tcp", "8080/tcp"},
		},
	}
}

// otherPlatform is a platform that is not this machine's.
func otherPlatform() Platform {
	if Host().Architecture == "arm64" {
		return Platform{OS: "linux", Architecture: "amd64"}
	}
	return Platform{OS: "linux", Architecture: "arm64"}
}

// check compares an image read back with the one built: config, ID, platform, and every
// layer's diff_id and uncompressed bytes. withManifest also compares what only a manifest
// gives (registry, layout): the digest and each layer's blob digest, size and media type.
func (ti testImage) check(t *testing.T, got *Image, withManifest bool) {
	t.Helper()
	cn, err := ti.img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != cn.String() {
		t.Errorf("ID %s, want %s", got.ID, cn)
	}
	ti.checkContent(t, got)
	if !withManifest {
		return
	}
	m, err := ti.img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range got.Layers {
		d := m.Layers[i]
		if l.Digest != d.Digest.String() || l.Size != d.Size || l.MediaType != string(d.MediaType) {
			t.Errorf("layer %d: %s %d %s, want %s %d %s", i, l.Digest, l.Size, l.MediaType, d.Digest, d.Size, d.MediaType)
		}
	}
	d, err := ti.img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest != d.String() {
		t.Errorf("digest %s, want %s", got.Digest, d)
	}
}

// checkContent compares what survives a conversion of the image's config and manifest (as
// skopeo's from Docker's types to OCI's): the run config, the platform, and every layer's
// diff_id and uncompressed bytes.
func (ti testImage) checkContent(t *testing.T, got *Image) {
	t.Helper()
	if diff := cmp.Diff(ti.config, got.Config); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	if got.Platform != ti.plat.String() {
		t.Errorf("platform %q, want %q", got.Platform, ti.plat)
	}
	cf, err := ti.img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Layers) != len(ti.tars) || len(got.Layers) != len(cf.RootFS.DiffIDs) {
		t.Fatalf("%d layers, want %d", len(got.Layers), len(ti.tars))
	}
	for i, l := range got.Layers {
		if l.DiffID != cf.RootFS.DiffIDs[i].String() {
			t.Errorf("layer %d: diff_id %s, want %s", i, l.DiffID, cf.RootFS.DiffIDs[i])
		}
		rc, err := l.Uncompressed(context.Background())
		if err != nil {
			t.Fatalf("layer %d: %v", i, err)
		}
		b, err := io.ReadAll(rc)
		if err != nil {
			t.Fatalf("layer %d: %v", i, err)
		}
		if err := rc.Close(); err != nil {
			t.Errorf("layer %d: close: %v", i, err)
		}
		if !bytes.Equal(b, ti.tars[i]) {
			t.Errorf("layer %d: uncompressed stream differs from the tar written (%d bytes, want %d)", i, len(b), len(ti.tars[i]))
		}
		if digestOf(b) != l.DiffID {
			t.Errorf("layer %d: stream hashes to %s, not its diff_id %s", i, digestOf(b), l.DiffID)
		}
	}
}

// newRegistry starts go-containerregistry's in-memory registry on 127.0.0.1 and returns its
// host:port.
func newRegistry(t *testing.T, wrap ...func(http.Handler) http.Handler) string {
	t.Helper()
	var h http.Handler = registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	for _, w := range wrap {
		h = w(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func mustRef(t *testing.T, s string) Ref {
	t.Helper()
	r, err := ParseRef(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustTag(t *testing.T, s string) name.Tag {
	t.Helper()
	tag, err := name.NewTag(s)
	if err != nil {
		t.Fatal(err)
	}
	return tag
}

// noCredentials points the Docker, Podman and XDG config paths at empty directories, so the
// keychain finds nothing of the machine's.
func noCredentials(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("DOCKER_CONFIG", "")
	t.Setenv("REGISTRY_AUTH_FILE", "")
	t.Setenv("XDG_RUNTIME_DIR", filepath.Join(home, "run"))
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, "config"))
	return home
}

// writeDockerSave writes a docker save archive by hand, as Docker writes them: before 25,
// <id>/layer.tar with plain tars and <config hex>.json; from 25 (oci true), an OCI layout
// with manifest.json beside it and LayerSources for every layer. Layers are uncompressed,
// as Docker saves them.
func (ti testImage) writeDockerSave(t *testing.T, path string, repoTags []string, oci bool) {
	t.Helper()
	raw, err := ti.img.RawConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfgHex := strings.TrimPrefix(digestOf(raw), "sha256:")
	files := map[string][]byte{}
	var order []string
	add := func(name string, b []byte) {
		if _, ok := files[name]; !ok {
			order = append(order, name)
		}
		files[name] = b
	}
	type desc struct {
		MediaType string `json:"mediaType"`
		Digest    string `json:"digest"`
		Size      int64  `json:"size"`
	}
	mf := map[string]any{"RepoTags": repoTags}
	var layerPaths []string
	if oci {
		add("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`))
		add("blobs/sha256/"+cfgHex, raw)
		sources := map[string]desc{}
		var mlayers []desc
		for _, b := range ti.tars {
			d := desc{MediaType: string(types.OCIUncompressedLayer), Digest: digestOf(b), Size: int64(len(b))}
			add("blobs/sha256/"+strings.TrimPrefix(d.Digest, "sha256:"), b)
			layerPaths = append(layerPaths, "blobs/sha256/"+strings.TrimPrefix(d.Digest, "sha256:"))
			sources[d.Digest] = d
			mlayers = append(mlayers, d)
		}
		manifest, _ := json.Marshal(map[string]any{
			"schemaVersion": 2, "mediaType": types.OCIManifestSchema1,
			"config": desc{MediaType: string(types.OCIConfigJSON), Digest: digestOf(raw), Size: int64(len(raw))},
			"layers": mlayers,
		})
		add("blobs/sha256/"+strings.TrimPrefix(digestOf(manifest), "sha256:"), manifest)
		ann := map[string]string{}
		if len(repoTags) > 0 {
			ann[annotationImageName] = "docker.io/" + repoTags[0]
			ann[annotationRefName] = repoTags[0][strings.LastIndex(repoTags[0], ":")+1:]
		}
		index, _ := json.Marshal(map[string]any{
			"schemaVersion": 2, "mediaType": types.OCIImageIndex,
			"manifests": []any{map[string]any{
				"mediaType": types.OCIManifestSchema1, "digest": digestOf(manifest),
				"size": len(manifest), "annotations": ann}},
		})
		add("index.json", index)
		mf["Config"] = "blobs/sha256/" + cfgHex
		mf["LayerSources"] = sources
	} else {
		for i, b := range ti.tars {
			id := strings.TrimPrefix(digestOf([]byte{byte(i)}), "sha256:") // Docker's v1 ids are made up too
			add(id+"/VERSION", []byte("1.0"))
			add(id+"/layer.tar", b)
			layerPaths = append(layerPaths, id+"/layer.tar")
		}
		add(cfgHex+".json", raw)
		mf["Config"] = cfgHex + ".json"
	}
	mf["Layers"] = layerPaths
	mfb, _ := json.Marshal([]any{mf})
	add("manifest.json", mfb)
	writeTar(t, path, order, files)
}

func writeTar(t *testing.T, path string, order []string, files map[string][]byte) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	dirs := map[string]bool{}
	for _, n := range order {
		if d := filepath.Dir(n); d != "." && !dirs[d] {
			for _, p := range []string{filepath.Dir(d), d} {
				if p != "." && !dirs[p] {
					dirs[p] = true
					if err := tw.WriteHeader(&tar.Header{Name: p + "/", Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		if err := tw.WriteHeader(&tar.Header{Name: n, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(files[n]))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(files[n]); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
