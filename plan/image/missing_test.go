package image

import (
	"archive/tar"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// TestMissingLayerBlob: a layer blob that the manifest names and the file
// lacks (an OCI layout without it, a docker save archive without its
// layer.tar) is said when the image is read, naming the layer, before any
// plan: not by the step that would unpack it.
func TestMissingLayerBlob(t *testing.T) {
	ti := buildImage(t, Host(), ociMixed, "missing")
	m, err := ti.img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	lay := filepath.Join(dir, "layout")
	if _, err := layout.Write(lay, mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: ti.img})); err != nil {
		t.Fatal(err)
	}
	blob := m.Layers[1].Digest
	if err := os.Remove(filepath.Join(lay, "blobs", blob.Algorithm, blob.Hex)); err != nil {
		t.Fatal(err)
	}

	full, save := filepath.Join(dir, "full.tar"), filepath.Join(dir, "save.tar")
	ti.writeDockerSave(t, full, []string{"busybox:latest"}, false)
	dropMember(t, full, save, func(name string, n int) bool { return strings.HasSuffix(name, "/layer.tar") && n == 1 })

	for path, want := range map[string]string{
		lay:  "layer 2 of 3 (sha256:",
		save: "layer 2 of 3 (sha256:",
	} {
		_, err := Import(path, "", Options{})
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "is missing") {
			t.Errorf("%s: %v; want an error naming the missing layer", filepath.Base(path), err)
		}
	}
}

// dropMember copies the tar from to to, without the member drop says
// (n counts the members it was asked about).
func dropMember(t *testing.T, from, to string, drop func(name string, n int) bool) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	tr, tw := tar.NewReader(in), tar.NewWriter(out)
	n := 0
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if drop(h.Name, n) {
			n++
			continue
		}
		if strings.HasSuffix(h.Name, "/layer.tar") {
			n++
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(tw, tr); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}
