package mkimage

import (
	"bytes"
	"context"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"plumb/plan/image"
)

// noCredentials points the Docker and Podman config paths at an empty directory, so that
// plumb's reader finds nothing of the machine's.
func noCredentials(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("DOCKER_CONFIG", "")
	t.Setenv("REGISTRY_AUTH_FILE", "")
	t.Setenv("XDG_RUNTIME_DIR", filepath.Join(home, "run"))
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, "config"))
}

// sameImage checks that plumb's reader sees img: its ID, its config's run settings, and
// every layer's diff_id and uncompressed bytes; withManifest also the manifest digest and
// each blob's digest, size and media type (what a docker save archive does not keep).
func sameImage(t *testing.T, img v1.Image, got *image.Image, withManifest bool) {
	t.Helper()
	id, _ := img.ConfigName()
	if got.ID != id.String() {
		t.Errorf("ID %s, want %s", got.ID, id)
	}
	cf, _ := img.ConfigFile()
	if got.Config.WorkingDir != cf.Config.WorkingDir || strings.Join(got.Config.Cmd, " ") != strings.Join(cf.Config.Cmd, " ") {
		t.Errorf("config %+v", got.Config)
	}
	tars := layerTars(t, img)
	if len(got.Layers) != len(tars) {
		t.Fatalf("%d layers, want %d", len(got.Layers), len(tars))
	}
	m, _ := img.Manifest()
	for i, l := range got.Layers {
		if l.DiffID != cf.RootFS.DiffIDs[i].String() {
			t.Errorf("layer %d: diff_id %s, want %s", i, l.DiffID, cf.RootFS.DiffIDs[i])
		}
		rc, err := l.Uncompressed(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, tars[i]) {
			t.Errorf("layer %d: %d bytes read back differ from the %d built", i, len(b), len(tars[i]))
		}
		if withManifest && (l.Digest != m.Layers[i].Digest.String() || l.Size != m.Layers[i].Size || l.MediaType != string(m.Layers[i].MediaType)) {
			t.Errorf("layer %d: %s %d %s, want %+v", i, l.Digest, l.Size, l.MediaType, m.Layers[i])
		}
	}
	if withManifest {
		d, _ := img.Digest()
		if got.Digest != d.String() {
			t.Errorf("manifest digest %s, want %s", got.Digest, d)
		}
	}
}

// TestReadBack writes the demo image as a docker save archive, an OCI layout and to an
// in-process registry on 127.0.0.1, and reads each back with plumb's own reader.
func TestReadBack(t *testing.T) {
	noCredentials(t)
	img := build(t, fakeBusybox(t))
	dir := t.TempDir()

	t.Run("docker-archive", func(t *testing.T) {
		p := filepath.Join(dir, "demo.tar")
		if err := WriteDockerArchive(p, "plumb-demo/busybox:1", img); err != nil {
			t.Fatal(err)
		}
		got, err := image.FromTarball(p, "plumb-demo/busybox:1", image.Options{})
		if err != nil {
			t.Fatal(err)
		}
		sameImage(t, img, got, false)
		if got.Ref != "index.docker.io/plumb-demo/busybox:1" {
			t.Errorf("ref %q", got.Ref)
		}
		got, err = image.Import(p, "", image.Options{})
		if err != nil {
			t.Fatal(err)
		}
		sameImage(t, img, got, false)
	})

	t.Run("oci", func(t *testing.T) {
		p := filepath.Join(dir, "layout")
		if err := WriteLayout(p, "plumb-demo/busybox:1", img); err != nil {
			t.Fatal(err)
		}
		for _, ref := range []string{"1", "plumb-demo/busybox:1", ""} {
			got, err := image.FromLayout(p, ref, image.Options{})
			if err != nil {
				t.Fatalf("%q: %v", ref, err)
			}
			sameImage(t, img, got, true)
		}
		got, err := image.Import(p, "1", image.Options{})
		if err != nil {
			t.Fatal(err)
		}
		sameImage(t, img, got, true)
		// Written again, the entry is replaced, not doubled.
		if err := WriteLayout(p, "plumb-demo/busybox:1", img); err != nil {
			t.Fatal(err)
		}
		if _, err := image.FromLayout(p, "", image.Options{}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("registry", func(t *testing.T) {
		srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
		t.Cleanup(srv.Close)
		ref := strings.TrimPrefix(srv.URL, "http://") + "/plumb-demo/busybox:1"
		if err := Push(context.Background(), ref, img); err != nil {
			t.Fatal(err)
		}
		r, err := image.ParseRef(ref)
		if err != nil {
			t.Fatal(err)
		}
		got, err := image.FromRegistry(context.Background(), r, image.Options{})
		if err != nil {
			t.Fatal(err)
		}
		sameImage(t, img, got, true)
	})
}

// TestSharedBase writes two variants into one layout: both read back, and the blobs they
// share (the base first) are stored once.
func TestSharedBase(t *testing.T) {
	opts := fakeBusybox(t)
	opts.Layers = 1
	p := filepath.Join(t.TempDir(), "layout")
	imgs := map[string]v1.Image{}
	for _, v := range []string{"a", "b"} {
		o := opts
		o.Variant = v
		imgs[v] = build(t, o)
		if err := WriteLayout(p, "plumb-test/shared:"+v, imgs[v]); err != nil {
			t.Fatal(err)
		}
	}
	var base string
	for v, img := range imgs {
		got, err := image.FromLayout(p, v, image.Options{})
		if err != nil {
			t.Fatal(err)
		}
		sameImage(t, img, got, true)
		if base == "" {
			base = got.Layers[0].DiffID
		} else if got.Layers[0].DiffID != base {
			t.Errorf("variant %s: base %s, not %s", v, got.Layers[0].DiffID, base)
		}
	}
	// Blobs: the shared base, two top layers, two configs, two manifests.
	blobs, err := os.ReadDir(filepath.Join(p, "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	if len(blobs) != 7 {
		t.Errorf("%d blobs, want 7 (the base once)", len(blobs))
	}
	if _, err := image.FromLayout(p, "", image.Options{}); err == nil {
		t.Error("a layout of two images read without a name")
	}
}

func TestWriteRefusals(t *testing.T) {
	img := build(t, fakeBusybox(t))
	for _, ref := range []string{"plumb-demo/busybox:1", "example.com/x:1", "10.1.2.3:5000/x:1", "192.0.2.1:5000/x:1", "not a ref"} {
		if err := Push(context.Background(), ref, img); err == nil {
			t.Errorf("push %s: no error", ref)
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "something"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteLayout(dir, "x:1", img); err == nil || !strings.Contains(err.Error(), "not an OCI image layout") {
		t.Errorf("layout into a directory of something else: %v", err)
	}
	if err := WriteDockerArchive(filepath.Join(dir, "missing", "x.tar"), "x:1", img); err == nil {
		t.Error("archive into a missing directory: no error")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("refused writes left %d entries", len(ents))
	}
}

func TestLoopback(t *testing.T) {
	for h, want := range map[string]bool{
		"localhost:5000": true, "127.0.0.1:5000": true, "127.8.0.1": true, "[::1]:5000": true,
		"localhost.example.com": false, "10.0.0.1:5000": false, "index.docker.io": false, "0.0.0.0:5000": false,
	} {
		if got := loopback(h); got != want {
			t.Errorf("loopback(%q) = %v", h, got)
		}
	}
}
