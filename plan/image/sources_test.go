package image

import (
	"archive/tar"
	"context"
	"errors"
	"io"
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
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// TestSameImageFromEverySource writes one image to a registry, an OCI layout and docker save
// archives (go-containerregistry's, and Docker's own two formats written by hand), and reads
// it back from each: the same config, the same layers in the same order, the same bytes.
func TestSameImageFromEverySource(t *testing.T) {
	noCredentials(t)
	for _, fl := range []struct {
		name string
		fl   flavor
	}{{"docker-gzip", dockerGzip}, {"oci-gzip-zstd-plain", ociMixed}} {
		t.Run(fl.name, func(t *testing.T) {
			ti := buildImage(t, Host(), fl.fl, "host")
			host := newRegistry(t)
			dir := t.TempDir()
			ref := host + "/plumb/web:v1"

			if err := remote.Write(mustTag(t, ref), ti.img); err != nil {
				t.Fatal(err)
			}
			lp, err := layout.Write(filepath.Join(dir, "layout"), empty.Index)
			if err != nil {
				t.Fatal(err)
			}
			if err := lp.AppendImage(ti.img, layout.WithAnnotations(map[string]string{annotationRefName: "v1"})); err != nil {
				t.Fatal(err)
			}
			ggcrTar := filepath.Join(dir, "ggcr.tar")
			if err := tarball.WriteToFile(ggcrTar, mustTag(t, ref), ti.img); err != nil {
				t.Fatal(err)
			}
			classic := filepath.Join(dir, "docker-classic.tar")
			ti.writeDockerSave(t, classic, []string{"plumb/web:v1"}, false)
			docker25 := filepath.Join(dir, "docker25.tar")
			ti.writeDockerSave(t, docker25, []string{"plumb/web:v1"}, true)

			t.Run("registry", func(t *testing.T) {
				got, err := FromRegistry(context.Background(), mustRef(t, ref), Options{})
				if err != nil {
					t.Fatal(err)
				}
				ti.check(t, got, true)
				if got.Ref != ref {
					t.Errorf("ref %q, want %q", got.Ref, ref)
				}
			})
			t.Run("layout", func(t *testing.T) {
				got, err := FromLayout(filepath.Join(dir, "layout"), "v1", Options{})
				if err != nil {
					t.Fatal(err)
				}
				ti.check(t, got, true)
				if got.Ref != "" {
					t.Errorf("ref %q: a layout entry named by a tag alone names no image", got.Ref)
				}
			})
			t.Run("ggcr-tarball", func(t *testing.T) {
				got, err := FromTarball(ggcrTar, ref, Options{})
				if err != nil {
					t.Fatal(err)
				}
				ti.check(t, got, false)
				if got.Ref != ref || got.Digest != "" {
					t.Errorf("ref %q digest %q, want %q and none", got.Ref, got.Digest, ref)
				}
			})
			t.Run("docker-save-classic", func(t *testing.T) {
				got, err := FromTarball(classic, "", Options{})
				if err != nil {
					t.Fatal(err)
				}
				ti.check(t, got, false)
				if got.Ref != "index.docker.io/plumb/web:v1" {
					t.Errorf("ref %q", got.Ref)
				}
				for i, l := range got.Layers {
					if l.Digest != "" || l.Size <= 0 || l.MediaType != "" {
						t.Errorf("layer %d: %q %d %q: a classic save records no digest nor media type, and its size is the file's", i, l.Digest, l.Size, l.MediaType)
					}
				}
			})
			t.Run("docker-save-25", func(t *testing.T) {
				got, err := FromTarball(docker25, "plumb/web:v1", Options{})
				if err != nil {
					t.Fatal(err)
				}
				ti.check(t, got, false)
				for i, l := range got.Layers {
					if l.Digest != l.DiffID || l.Size != int64(len(ti.tars[i])) || l.MediaType != string(types.OCIUncompressedLayer) {
						t.Errorf("layer %d: %q %d %q: want Docker 25's LayerSources", i, l.Digest, l.Size, l.MediaType)
					}
				}
			})
			t.Run("docker-save-25-unpacked-is-a-layout", func(t *testing.T) {
				out := filepath.Join(dir, "docker25-dir")
				untar(t, docker25, out)
				got, err := Import(out, "plumb/web:v1", Options{})
				if err != nil {
					t.Fatal(err)
				}
				ti.check(t, got, false)
				if got.Ref != "index.docker.io/plumb/web:v1" {
					t.Errorf("ref %q, want the io.containerd.image.name annotation", got.Ref)
				}
			})
			t.Run("import-detects", func(t *testing.T) {
				for _, p := range []string{filepath.Join(dir, "layout"), ggcrTar, classic, docker25} {
					r := ""
					if p == filepath.Join(dir, "layout") {
						r = "v1"
					}
					got, err := Import(p, r, Options{})
					if err != nil {
						t.Fatalf("%s: %v", p, err)
					}
					ti.check(t, got, false)
				}
			})
		})
	}
}

func untar(t *testing.T, archive, dir string) {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, h.Name)
		if h.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// twoPlatforms is an index of the same image for another platform, listed first, and for
// this machine.
func twoPlatforms(t *testing.T) (idx v1.ImageIndex, host, other testImage) {
	t.Helper()
	other = buildImage(t, otherPlatform(), ociMixed, "other")
	host = buildImage(t, Host(), ociMixed, "host")
	idx = mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, ti := range []testImage{other, host} {
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: ti.img, Descriptor: v1.Descriptor{
			Platform: &v1.Platform{OS: ti.plat.OS, Architecture: ti.plat.Architecture, Variant: ti.plat.Variant},
		}})
	}
	return idx, host, other
}

func TestIndexPicksThisMachine(t *testing.T) {
	noCredentials(t)
	idx, host, other := twoPlatforms(t)
	reg := newRegistry(t)
	ref := reg + "/plumb/multi:v1"
	if err := remote.WriteIndex(mustTag(t, ref), idx); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// An index named in a layout, and a layout that is the index itself.
	lp, err := layout.Write(filepath.Join(dir, "nested"), empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendIndex(idx, layout.WithAnnotations(map[string]string{annotationRefName: "v1"})); err != nil {
		t.Fatal(err)
	}
	if _, err := layout.Write(filepath.Join(dir, "flat"), idx); err != nil {
		t.Fatal(err)
	}
	read := map[string]func(Options) (*Image, error){
		"registry": func(o Options) (*Image, error) {
			return FromRegistry(context.Background(), mustRef(t, ref), o)
		},
		"layout-nested": func(o Options) (*Image, error) { return FromLayout(filepath.Join(dir, "nested"), "v1", o) },
		"layout-flat":   func(o Options) (*Image, error) { return FromLayout(filepath.Join(dir, "flat"), "", o) },
	}
	for src, from := range read {
		t.Run(src, func(t *testing.T) {
			got, err := from(Options{})
			if err != nil {
				t.Fatal(err)
			}
			host.check(t, got, true)

			got, err = from(Options{Platform: other.plat})
			if err != nil {
				t.Fatal(err)
			}
			other.check(t, got, true)

			_, err = from(Options{Platform: Platform{OS: "linux", Architecture: "s390x"}})
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("s390x: %v, want ErrNotFound", err)
			}
			for _, want := range []string{"no image for linux/s390x in the index; it has ", host.plat.String(), other.plat.String()} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}
}

func TestDigestReference(t *testing.T) {
	noCredentials(t)
	ti := buildImage(t, Host(), dockerGzip, "host")
	reg := newRegistry(t)
	if err := remote.Write(mustTag(t, reg+"/plumb/web:v1"), ti.img); err != nil {
		t.Fatal(err)
	}
	d, err := ti.img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	ref := mustRef(t, reg+"/plumb/web@"+d.String())
	got, err := FromRegistry(context.Background(), ref, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ti.check(t, got, true)
	if got.Ref != ref.String() {
		t.Errorf("ref %q", got.Ref)
	}
	// A digest of an index gives this machine's image, whose digest is its own.
	idx, host, _ := twoPlatforms(t)
	if err := remote.WriteIndex(mustTag(t, reg+"/plumb/multi:v1"), idx); err != nil {
		t.Fatal(err)
	}
	id, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	got, err = FromRegistry(context.Background(), mustRef(t, reg+"/plumb/multi@"+id.String()), Options{})
	if err != nil {
		t.Fatal(err)
	}
	host.check(t, got, true)
	// A layout entry can be named by its digest too.
	dir := t.TempDir()
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range []v1.Image{ti.img, host.img} {
		if err := lp.AppendImage(img); err != nil {
			t.Fatal(err)
		}
	}
	hd, _ := host.img.Digest()
	got, err = FromLayout(dir, hd.String(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	host.check(t, got, true)
}

func TestMissingImage(t *testing.T) {
	noCredentials(t)
	ti := buildImage(t, Host(), dockerGzip, "host")
	reg := newRegistry(t)
	if err := remote.Write(mustTag(t, reg+"/plumb/web:v1"), ti.img); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ ref, says string }{
		{reg + "/plumb/nope:latest", "NAME_UNKNOWN"},
		{reg + "/plumb/web:v2", "MANIFEST_UNKNOWN"},
		{reg + "/plumb/web@sha256:" + strings.Repeat("0", 64), "MANIFEST_UNKNOWN"},
	} {
		_, err := FromRegistry(context.Background(), mustRef(t, tc.ref), Options{})
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("%s: %v, want ErrNotFound", tc.ref, err)
		}
		want := "pulling " + mustRef(t, tc.ref).String() + ": image not found in the registry ("
		if !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: error %q, want it to start %q and say %s", tc.ref, err, want, tc.says)
		}
	}
	// Nothing listening: the error names the registry and says so.
	_, err := FromRegistry(context.Background(), mustRef(t, "127.0.0.1:1/plumb/web:v1"), Options{})
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("closed port: %v", err)
	}

	// Files: a tag that is not there, and the tags that are.
	dir := t.TempDir()
	archive := filepath.Join(dir, "a.tar")
	if err := tarball.MultiWriteToFile(archive, map[name.Tag]v1.Image{
		mustTag(t, "plumb/web:v1"): ti.img, mustTag(t, "plumb/other:v1"): ti.img,
	}); err != nil {
		t.Fatal(err)
	}
	_, err = FromTarball(archive, "plumb/web:v2", Options{})
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "no image tagged plumb/web:v2 in the archive; it has ") ||
		!strings.Contains(err.Error(), "plumb/web:v1") {
		t.Errorf("tarball: %v", err)
	}
	lp, err := layout.Write(filepath.Join(dir, "layout"), empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(ti.img, layout.WithAnnotations(map[string]string{annotationRefName: "v1"})); err != nil {
		t.Fatal(err)
	}
	_, err = FromLayout(filepath.Join(dir, "layout"), "v2", Options{})
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "no image named v2 in the layout; it has v1") {
		t.Errorf("layout: %v", err)
	}
}

// TestLayersSideBySide reads every layer of an image at once from each source, as the
// unpacker does on several cores (run with -race).
func TestLayersSideBySide(t *testing.T) {
	noCredentials(t)
	ti := buildImage(t, Host(), ociMixed, "host")
	reg := newRegistry(t)
	ref := reg + "/plumb/web:v1"
	if err := remote.Write(mustTag(t, ref), ti.img); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := layout.Write(filepath.Join(dir, "layout"), mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: ti.img})); err != nil {
		t.Fatal(err)
	}
	if err := tarball.WriteToFile(filepath.Join(dir, "ggcr.tar"), mustTag(t, ref), ti.img); err != nil {
		t.Fatal(err)
	}
	ti.writeDockerSave(t, filepath.Join(dir, "save.tar"), []string{"plumb/web:v1"}, false)
	srcs := map[string]func() (*Image, error){
		"registry": func() (*Image, error) { return FromRegistry(context.Background(), mustRef(t, ref), Options{}) },
		"layout":   func() (*Image, error) { return FromLayout(filepath.Join(dir, "layout"), "", Options{}) },
		"ggcr-tar": func() (*Image, error) { return FromTarball(filepath.Join(dir, "ggcr.tar"), "", Options{}) },
		"save":     func() (*Image, error) { return FromTarball(filepath.Join(dir, "save.tar"), "", Options{}) },
	}
	for name, read := range srcs {
		t.Run(name, func(t *testing.T) {
			img, err := read()
			if err != nil {
				t.Fatal(err)
			}
			errs := make(chan error, 4*len(img.Layers))
			for range 4 {
				for i, l := range img.Layers {
					go func() {
						rc, err := l.Uncompressed(context.Background())
						if err != nil {
							errs <- err
							return
						}
						defer rc.Close()
						b, err := io.ReadAll(rc)
						if err == nil && digestOf(b) != l.DiffID {
							err = errors.New("layer " + string(rune('0'+i)) + " read wrong")
						}
						errs <- err
					}()
				}
			}
			for range 4 * len(img.Layers) {
				if err := <-errs; err != nil {
					t.Error(err)
				}
			}
		})
	}
}
