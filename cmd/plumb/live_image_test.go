package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/registry"
	"golang.org/x/sys/unix"

	"plumb/internal/mkimage"
)

// TestLiveImages: real images, stacked as overlay2 stacks them.
//   - The same image from a registry (in-process, on 127.0.0.1 in the test's
//     namespace), an OCI layout and a docker save archive gives the same
//     config and the same unpacked layers, file for file.
//   - A container from it serves its page; the file its third layer deletes
//     is absent; it runs in the image's WorkingDir with its Env; `mount`
//     inside shows the overlay and its lowerdirs.
//   - Two containers of one image list the same lower directories and
//     different upper ones; an image in use is not removed.
//   - Images of 130 (past Docker's 128) and 500 (the kernel's most) layers
//     mount and run; the 500 shares the 130's layers, stored once; removing
//     the 130 keeps the 500 whole.
//   - After everything is removed, the namespace and mounts are as before and
//     no layer is left.
func TestLiveImages(t *testing.T) {
	t.Parallel()
	if !isolateWorld(t) {
		return
	}
	quiet := t.TempDir() // stays empty: settled then compares the network and the mount table
	before := settled(t, quiet)
	t.Cleanup(func() {
		// Should the test fail half-way, no container is left running.
		out, _ := exec.Command("sh", "-c", "for ns in $(ip netns list | cut -d' ' -f1); do ip netns pids $ns; done").Output()
		for _, p := range strings.Fields(string(out)) {
			_ = exec.Command("kill", "-9", p).Run()
		}
	})
	dir := t.TempDir()
	demo, err := mkimage.Build(mkimage.Options{})
	if err != nil {
		t.Skipf("the demo image needs busybox-static: %v", err)
	}
	id, err := demo.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	archive, layout := filepath.Join(dir, "demo.tar"), filepath.Join(dir, "layout")
	must(t, mkimage.WriteDockerArchive(archive, "plumb-demo/busybox:1", demo))
	must(t, mkimage.WriteLayout(layout, "plumb-demo/busybox:1", demo))
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	remote := strings.TrimPrefix(srv.URL, "http://") + "/plumb-demo/busybox:1"
	must(t, mkimage.Push(context.Background(), remote, demo))

	// Three sources, three state directories: one image.
	sources := map[string][]string{
		"registry":       {"image", "pull", remote},
		"docker-archive": {"image", "import", archive},
		"oci-layout":     {"image", "import", layout},
	}
	var want, wantTree string
	for _, name := range []string{"registry", "docker-archive", "oci-layout"} {
		state := "/run/plumb-" + name
		env := stateEnv(state)
		if out, err := plumb(t, env, sources[name]...); err != nil || !strings.Contains(out, "3 layers (3 unpacked, 0 shared)") {
			t.Fatalf("%s: %v\n%s", name, err, out)
		}
		doc, err := plumb(t, env, "image", "inspect", id.Hex[:12], "-f", "{{json .Config}} {{json .RootFS}}")
		if err != nil {
			t.Fatalf("%s: inspect: %v\n%s", name, err, doc)
		}
		tree := treeOf(t, filepath.Join(rootBeside(state), "image", "layers"))
		if want == "" {
			want, wantTree = doc, tree
		} else {
			if doc != want {
				t.Errorf("%s: config and layers differ from the registry's:\n%s\nwant\n%s", name, doc, want)
			}
			if diff := cmp.Diff(wantTree, tree); diff != "" {
				t.Errorf("%s: unpacked layers differ from the registry's (-registry +%s):\n%s", name, name, diff)
			}
		}
		if out, err := plumb(t, env, "image", "rm", id.Hex); err != nil {
			t.Fatalf("%s: image rm: %v\n%s", name, err, out)
		}
		// Empty image/, image/layers, image/l and image/staging go with
		// the last image.
		if _, err := os.Lstat(filepath.Join(rootBeside(state), "image")); !os.IsNotExist(err) {
			t.Errorf("%s: left after image rm:\n%s", name, treeOf(t, filepath.Join(rootBeside(state), "image")))
		}
	}
	if !strings.Contains(wantTree, "etc/deleteme char 0 0\n") || !strings.Contains(want, `"Cmd":["httpd","-f","-p","80","-h","/www"]`) {
		t.Errorf("the whiteout or the command is missing:\n%s\n%s", want, wantTree)
	}

	// Containers from it, on a bridge.
	mustPlumb(t, "image", "pull", remote)
	mustPlumb(t, "bridge", "up", "plumb0", "--subnet", "10.88.0.0/24")
	mustPlumb(t, "run", "server", "--image", remote, "--net", "plumb0", "-d")
	addr := strings.TrimSpace(plumbStdout(t, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", "server"))
	if addr != "10.88.0.2" {
		t.Errorf("the server's address from the document's template: %q", addr)
	}
	// The server listens once httpd has started: a loaded machine takes
	// longer than any fixed sleep, so the client tries for up to 20 s.
	out, err := plumb(t, nil, "run", "client", "--image", remote, "--net", "plumb0", "--",
		"sh", "-c", "i=0; until wget -qO- http://"+addr+"/ || [ $i -ge 20 ]; do i=$((i+1)); sleep 1; done; cat /etc/deleteme || echo deleteme is gone; echo in $(pwd) with $PATH; mount | grep ' / '")
	if err != nil || !strings.Contains(out, mkimage.IndexLine) || !strings.Contains(out, "deleteme is gone") ||
		!strings.Contains(out, "in /www with "+strings.TrimPrefix(mkimage.Path, "PATH=")) ||
		!strings.Contains(out, "overlay on / type overlay") || !strings.Contains(out, "lowerdir=") {
		t.Errorf("client: %v\n%s", err, out)
	}
	mustPlumb(t, "run", "other", "--image", id.Hex[:12], "-d", "--", "sleep", "600")
	dirs := func(name string) (string, string) {
		return plumbStdout(t, "inspect", "-f", "{{.GraphDriver.Data.LowerDir}}", name), plumbStdout(t, "inspect", "-f", "{{.GraphDriver.Data.UpperDir}}", name)
	}
	l1, u1 := dirs("server")
	l2, u2 := dirs("other")
	if l1 != l2 || u1 == u2 || strings.Count(l1, ":") != 2 {
		t.Errorf("two containers of one image: lower %q and %q (want equal, 3 layers), upper %q and %q (want different)", l1, l2, u1, u2)
	}
	if out, err := plumb(t, nil, "image", "rm", remote); err == nil || !strings.Contains(out, "container/server") {
		t.Errorf("image rm under running containers: %v\n%s", err, out)
	}
	mustPlumb(t, "stop", "server", "--rm", "--time", "1")
	mustPlumb(t, "stop", "other", "--rm", "--time", "1")
	mustPlumb(t, "bridge", "down", "plumb0")
	mustPlumb(t, "image", "rm", remote)

	// 130 and 500 layers, the first 130 shared.
	for _, n := range []int{130, 500} {
		img, err := mkimage.Build(mkimage.Options{Layers: n})
		if err != nil {
			t.Fatal(err)
		}
		must(t, mkimage.WriteDockerArchive(filepath.Join(dir, fmt.Sprintf("many%d.tar", n)), fmt.Sprintf("plumb-test/many:%d", n), img))
	}
	if out := mustPlumb(t, "image", "import", filepath.Join(dir, "many130.tar")); !strings.Contains(out, "130 layers (130 unpacked, 0 shared)") {
		t.Errorf("import of 130 layers:\n%s", out)
	}
	if out := mustPlumb(t, "image", "import", filepath.Join(dir, "many500.tar")); !strings.Contains(out, "500 layers (370 unpacked, 130 shared)") {
		t.Errorf("import of 500 layers on the 130's:\n%s", out)
	}
	for n, want := range map[string]string{"130": "129\n", "500": "499\n"} {
		if out := plumbStdout(t, "run", "many"+n, "--image", "plumb-test/many:"+n, "--", "sh", "-c", "ls /layers | wc -l"); out != want {
			t.Errorf("%s layers: /layers holds %q; want %q", n, out, want)
		}
	}
	if out := mustPlumb(t, "image", "rm", "plumb-test/many:130"); !strings.Contains(out, "0 of its 130 layers deleted") {
		t.Errorf("rm of the 130 under the 500:\n%s", out)
	}
	if out := plumbStdout(t, "run", "again", "--image", "plumb-test/many:500", "--", "sh", "-c", "ls /layers | wc -l; cat /layers/129.txt"); out != "499\nlayer 129\n" {
		t.Errorf("the 500 after removing the 130: %q", out)
	}
	if n := len(readDir(t, "/run/plumb-root/image/layers")); n != 500 {
		t.Errorf("%d layer directories for the 500 layers left; want 500", n)
	}
	mustPlumb(t, "image", "rm", "plumb-test/many:500")
	if out := mustPlumb(t, "status"); strings.Count(out, "\n") != 1 {
		t.Errorf("status after removing everything:\n%s", out)
	}
	// Empty, image/, image/layers and image/l went with the last image.
	if _, err := os.Lstat("/run/plumb-root/image"); !os.IsNotExist(err) {
		t.Errorf("left after the last image went:\n%s", treeOf(t, "/run/plumb-root/image"))
	}
	if diff := cmp.Diff(before, settled(t, quiet)); diff != "" {
		t.Errorf("after everything was removed (-before +after):\n%s", diff)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func readDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// treeOf lists every file under root, relative to it, with its type, mode,
// owner, size or link target, device numbers and overlay xattrs: what two
// unpacks of one layer must agree on.
func treeOf(t *testing.T, root string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		var what string
		switch m := fi.Mode(); {
		case m.IsDir():
			rel += "/"
			what = fmt.Sprintf("dir %o", m.Perm()|m&(fs.ModeSticky|fs.ModeSetgid|fs.ModeSetuid))
			if v, err := xattr(p, "trusted.overlay.opaque"); err == nil {
				what += " opaque=" + v
			}
		case m&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			what = "-> " + target
		case m&fs.ModeCharDevice != 0:
			what = fmt.Sprintf("char %d %d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
		default:
			what = fmt.Sprintf("file %o %d", m.Perm(), fi.Size())
		}
		lines = append(lines, fmt.Sprintf("%s %s:%d:%d", strings.TrimPrefix(rel, ""), what, st.Uid, st.Gid))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	// The layers' own directories are named by chain ID: the same in every
	// state directory.
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	return strings.ReplaceAll(b.String(), ":0:0\n", "\n")
}

func xattr(p, key string) (string, error) {
	buf := make([]byte, 64)
	n, err := unix.Lgetxattr(p, key, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}
