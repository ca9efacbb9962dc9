package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"plumb/internal/mkimage"
)

// TestLivePrivateState: whatever the mode of the root (--root, where
// layers, images and overlays are kept) an admin made (0700, 0755, 0711),
// no other user can open or run a file of a layer, of an image's layer, of
// an overlay's upper directory or of its merged view: not the setuid-root
// file, not the device node, not a plain file (issue 21 §2: with 0755, any
// local user ran an image's setuid file as root). A root others could
// enter is made 0700, and plumb says so, naming both modes.
func TestLivePrivateState(t *testing.T) {
	if !isolate(t) {
		return
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Fatal("setpriv not found — install the util-linux package")
	}
	// The layer: a setuid-root program (a script: were it run, it would
	// say so), a device node (/dev/null's numbers), a plain file.
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	suid := "#!/bin/sh\necho RAN\n"
	for _, h := range []*tar.Header{
		{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "bin/suid", Typeflag: tar.TypeReg, Mode: 0o4755, Size: int64(len(suid))},
		{Name: "dev/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "dev/null0", Typeflag: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3},
		{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "etc/plain", Typeflag: tar.TypeReg, Mode: 0o644},
	} {
		must(t, tw.WriteHeader(h))
		if h.Name == "bin/suid" {
			tw.Write([]byte(suid))
		}
	}
	must(t, tw.Close())
	files := []string{"bin/suid", "dev/null0", "etc/plain"}

	src := t.TempDir()
	layerTar := filepath.Join(src, "suid.tar")
	must(t, os.WriteFile(layerTar, layer.Bytes(), 0o644))
	l, err := mkimage.Layer(layer.Bytes(), false)
	must(t, err)
	img, err := mutate.AppendLayers(empty.Image, l)
	must(t, err)
	cf, err := img.ConfigFile()
	must(t, err)
	cf.OS, cf.Architecture, cf.Config.Cmd = runtime.GOOS, runtime.GOARCH, []string{"/bin/suid"}
	img, err = mutate.ConfigFile(img, cf)
	must(t, err)
	archive := filepath.Join(src, "img.tar")
	must(t, mkimage.WriteDockerArchive(archive, "perms/suid:1", img))

	for _, mode := range []os.FileMode{0o700, 0o755, 0o711} {
		t.Run(fmt.Sprintf("%04o", mode), func(t *testing.T) {
			// scratch is a tmpfs of mode 0755 under /tmp (1777): every
			// directory above the root lets uid 65534 through, so only
			// plumb's own modes can stop it.
			dir := scratch(t)
			state, root := filepath.Join(dir, "state"), filepath.Join(dir, "root")
			must(t, os.Mkdir(root, mode))
			must(t, os.Chmod(root, mode))
			env := []string{"PLUMB_STATE_DIR=" + state, "PLUMB_ROOT=" + root}
			out, err := plumb(t, env, "layer", "import", layerTar, "--name", "base")
			if err != nil {
				t.Fatalf("layer import: %v\n%s", err, out)
			}
			if mode == 0o700 {
				if strings.Contains(out, "let other users enter") {
					t.Errorf("a root of mode 0700 was warned of:\n%s", out)
				}
			} else if want := fmt.Sprintf("root %s was mode %04o, which let other users enter it", root, mode); !strings.Contains(out, want) {
				t.Errorf("layer import into a root of mode %04o: no warning %q:\n%s", mode, want, out)
			}
			for _, d := range []string{state, root} {
				if fi, err := os.Stat(d); err != nil {
					t.Fatal(err)
				} else if fi.Mode().Perm() != 0o700 {
					t.Errorf("%s after plumb: mode %04o; want 0700", d, fi.Mode().Perm())
				}
			}
			if out, err := plumb(t, env, "image", "import", archive); err != nil {
				t.Fatalf("image import: %v\n%s", err, out)
			}
			if out, err := plumb(t, env, "overlay", "mount", "--lower", filepath.Join(root, "layers", "base"), "--name", "web"); err != nil {
				t.Fatalf("overlay mount: %v\n%s", err, out)
			}
			defer plumb(t, env, "overlay", "unmount", "--name", "web", "--purge")
			// What a container writes: a setuid file, copied up to upper.
			merged := filepath.Join(root, "overlay", "web", "merged")
			must(t, os.WriteFile(filepath.Join(merged, "bin", "written"), []byte(suid), 0o755))
			must(t, os.Chmod(filepath.Join(merged, "bin", "written"), 0o4755))

			// Every directory plumb made to hold layers and overlays is
			// root's alone by its own mode, not only through the root's
			// (which a 0710 of group root leaves to that group).
			for _, d := range []string{"root/layers", "root/overlay", "root/overlay/web", "root/image", "root/image/layers", "root/image/l", "state/objects"} {
				if fi, err := os.Stat(filepath.Join(dir, d)); err != nil {
					t.Error(err)
				} else if fi.Mode().Perm() != 0o700 {
					t.Errorf("%s: mode %04o; want 0700", d, fi.Mode().Perm())
				}
			}
			imageLayers, err := filepath.Glob(filepath.Join(root, "image", "layers", "*"))
			if err != nil || len(imageLayers) != 1 {
				t.Fatalf("image layers: %v %v", imageLayers, err)
			}
			var paths []string
			for _, d := range []string{filepath.Join(root, "layers", "base"), imageLayers[0], merged} {
				for _, f := range files {
					paths = append(paths, filepath.Join(d, f))
				}
			}
			paths = append(paths, filepath.Join(merged, "bin", "written"), filepath.Join(root, "overlay", "web", "upper", "bin", "written"))
			for _, p := range paths {
				if _, err := os.Lstat(p); err != nil {
					t.Fatalf("as root: %v (the test would mean nothing)", err)
				}
			}
			// As uid 65534: open each file, then run it. Each must fail
			// with EACCES (not ENOENT: the path is right).
			script := `for p; do
  e=$( (: <"$p") 2>&1 ) && echo "OPENED $p" || echo "open $p: $e"
  e=$( "$p" 2>&1 </dev/null ) && echo "RAN $p: $e" || echo "exec $p: $e"
done`
			cmd := exec.Command("setpriv", append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", "--", "sh", "-c", script, "sh"}, paths...)...)
			got, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("setpriv: %v\n%s", err, got)
			}
			lines := strings.Split(strings.TrimSpace(string(got)), "\n")
			if len(lines) != 2*len(paths) {
				t.Fatalf("as uid 65534: %d lines for %d paths:\n%s", len(lines), len(paths), got)
			}
			for _, line := range lines {
				if !strings.HasSuffix(line, "Permission denied") {
					t.Errorf("as uid 65534: %s", line)
				}
			}
		})
	}
}
