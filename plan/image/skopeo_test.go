package image

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// skopeo runs skopeo with a policy that accepts anything and a home of its own, so nothing
// of the machine's configuration or credentials is used. It skips the test without skopeo.
func skopeo(t *testing.T, args ...string) {
	t.Helper()
	bin, err := exec.LookPath("skopeo")
	if err != nil {
		t.Skip("skopeo is not installed (Debian package skopeo): a real client's push and pull are not tried")
	}
	dir := t.TempDir()
	policy := filepath.Join(dir, "policy.json")
	if err := os.WriteFile(policy, []byte(`{"default":[{"type":"insecureAcceptAnything"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"--policy", policy}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_RUNTIME_DIR="+dir, "XDG_CONFIG_HOME="+dir, "REGISTRY_AUTH_FILE="+filepath.Join(dir, "auth.json"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("skopeo %q: %v\n%s", args, err, out)
	}
}

// TestSkopeo has a real client push an OCI layout to the test registry, and pull from it into
// a layout and a docker save archive; every copy reads back as the image written: the same
// config, diff_ids and layer bytes. (Not always the same blobs: skopeo gzips a plain layer
// when it pushes, and rewrites a Docker manifest and config as OCI's when it writes a layout.)
func TestSkopeo(t *testing.T) {
	if _, err := exec.LookPath("skopeo"); err != nil {
		t.Skip("skopeo is not installed (Debian package skopeo): a real client's push and pull are not tried")
	}
	noCredentials(t)
	reg := newRegistry(t)
	dir := t.TempDir()

	t.Run("push an OCI layout", func(t *testing.T) {
		// gzip, zstd and plain layers. (skopeo 1.9 finds only OCI-typed manifests in a layout.)
		ti := buildImage(t, Host(), ociMixed, "host")
		src := filepath.Join(dir, "push", "src")
		lp, err := layout.Write(src, empty.Index)
		if err != nil {
			t.Fatal(err)
		}
		if err := lp.AppendImage(ti.img, layout.WithAnnotations(map[string]string{annotationRefName: "v1"})); err != nil {
			t.Fatal(err)
		}
		ref := reg + "/plumb/pushed:v1"
		skopeo(t, "copy", "oci:"+src+":v1", "docker://"+ref, "--dest-tls-verify=false")
		got, err := FromRegistry(context.Background(), mustRef(t, ref), Options{})
		if err != nil {
			t.Fatal(err)
		}
		ti.check(t, got, false)

		back := filepath.Join(dir, "push", "back")
		skopeo(t, "copy", "--src-tls-verify=false", "docker://"+ref, "oci:"+back+":v1")
		got, err = FromLayout(back, "v1", Options{})
		if err != nil {
			t.Fatal(err)
		}
		ti.check(t, got, false)
	})

	t.Run("pull into a layout and a docker save archive", func(t *testing.T) {
		// A Docker-typed gzip image, as most registries serve (docker-archive takes no zstd).
		ti := buildImage(t, Host(), dockerGzip, "host")
		ref := reg + "/plumb/pulled:v1"
		if err := remote.Write(mustTag(t, ref), ti.img); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dir, "pull"), 0o755); err != nil {
			t.Fatal(err)
		}
		lay := filepath.Join(dir, "pull", "layout")
		skopeo(t, "copy", "--src-tls-verify=false", "docker://"+ref, "oci:"+lay+":v1")
		got, err := Import(lay, "v1", Options{})
		if err != nil {
			t.Fatal(err)
		}
		ti.checkContent(t, got) // skopeo rewrote the config as OCI's: another ID

		archive := filepath.Join(dir, "pull", "save.tar")
		skopeo(t, "copy", "--src-tls-verify=false", "docker://"+ref, "docker-archive:"+archive+":plumb/web:v1")
		got, err = Import(archive, "plumb/web:v1", Options{})
		if err != nil {
			t.Fatal(err)
		}
		ti.check(t, got, false)
		if got.Ref != "index.docker.io/plumb/web:v1" {
			t.Errorf("ref %q", got.Ref)
		}
	})

	t.Run("push an index", func(t *testing.T) {
		idx, host, other := twoPlatforms(t)
		src := filepath.Join(dir, "index", "src")
		lp, err := layout.Write(src, empty.Index)
		if err != nil {
			t.Fatal(err)
		}
		if err := lp.AppendIndex(idx, layout.WithAnnotations(map[string]string{annotationRefName: "multi"})); err != nil {
			t.Fatal(err)
		}
		ref := reg + "/plumb/multi:v1"
		skopeo(t, "copy", "--all", "oci:"+src+":multi", "docker://"+ref, "--dest-tls-verify=false")
		got, err := FromRegistry(context.Background(), mustRef(t, ref), Options{})
		if err != nil {
			t.Fatal(err)
		}
		host.check(t, got, false)
		got, err = FromRegistry(context.Background(), mustRef(t, ref), Options{Platform: other.plat})
		if err != nil {
			t.Fatal(err)
		}
		other.check(t, got, false)
	})
}
