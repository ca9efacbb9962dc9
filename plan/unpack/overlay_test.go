package unpack

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"plumb/internal/isolate"
)

// The live test mounts layers Apply made with overlayfs, as plumb will,
// and reads the merged view. It runs as root inside a mount namespace made
// for it, on a tmpfs of its own: the host's mounts are never touched.

// inMountNamespace re-runs the calling test, as root, in a mount namespace
// of its own and returns true there (see isolate.Rerun).
func inMountNamespace(t *testing.T) bool {
	t.Helper()
	return isolate.Rerun(t, "mount namespace", "--mount")
}

// TestOverlayMerged unpacks three layers, each over the ones below, mounts
// them as overlay lower directories (topmost first) and checks the merged
// view: what a layer deleted is gone, an opaque directory shows only the
// upper layer's content with no phantom whiteout, /tmp keeps 1777 though
// the top layer only implies it, a hard link holds within its layer.
func TestOverlayMerged(t *testing.T) {
	if !inMountNamespace(t) {
		return
	}
	scratch := t.TempDir()
	if err := unix.Mount("tmpfs", scratch, "tmpfs", 0, "mode=755"); err != nil {
		t.Fatalf("mounting a scratch tmpfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(scratch, unix.MNT_DETACH) })

	base := []ent{
		dir("bin", 0o755), reg("bin/busybox", "busybox", 0o755), hard("bin/sh", "bin/busybox"),
		dir("etc", 0o755), reg("etc/passwd", "root:x:0:0", 0o644), reg("etc/shadow", "root:*", 0o640),
		dir("tmp", 0o1777),
		dir("data", 0o755), reg("data/keep", "base", 0o644), reg("data/old", "base", 0o644),
		dir("data/sub", 0o755), reg("data/sub/deep", "base", 0o644),
		dir("www", 0o755), reg("www/index.html", "v1", 0o644),
	}
	middle := []ent{
		dir("etc", 0o755), wh("etc/.wh.shadow"),
		// The whiteout comes before the opaque marker: it must not
		// show through as a phantom entry.
		dir("data", 0o755), wh("data/.wh.keep"), wh("data/.wh..wh..opq"), reg("data/new", "middle", 0o644),
		reg("tmp/implied/file", "middle", 0o644),
		reg("www/index.html", "v2", 0o644),
	}
	top := []ent{
		wh(".wh.www"),
		dir("data", 0o755), wh("data/.wh..wh..opq"), wh("data/.wh.new"), reg("data/top", "top", 0o644),
		dir("usr", 0o755), reg("usr/bin", "", 0o755), hard("usr/sbin", "usr/bin"),
	}
	lower := unpackLowers(t, scratch, base, middle, top)
	merged := filepath.Join(scratch, "merged")
	if err := os.Mkdir(merged, 0o755); err != nil {
		t.Fatal(err)
	}
	opts := "lowerdir=" + strings.Join(lower, ":")
	if err := unix.Mount("overlay", merged, "overlay", unix.MS_RDONLY, opts); err != nil {
		t.Fatalf("mount -t overlay -o %s: %v", opts, err)
	}
	t.Cleanup(func() { unix.Unmount(merged, unix.MNT_DETACH) })

	got := describe(t, merged)
	want := []string{
		"bin: dir 0755",
		`bin/busybox: file 0755 "busybox" links=2`,
		`bin/sh: file 0755 "busybox" links=2`,
		"data: dir 0755",
		`data/top: file 0644 "top"`,
		"etc: dir 0755",
		`etc/passwd: file 0644 "root:x:0:0"`,
		"tmp: dir 1777",
		"tmp/implied: dir 0755",
		`tmp/implied/file: file 0644 "middle"`,
		"usr: dir 0755",
		`usr/bin: file 0755 "" links=2`,
		`usr/sbin: file 0755 "" links=2`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("merged view (-want +got):\n%s", diff)
	}
	// readdir must not list what lookup cannot find (c????????? in ls).
	for _, d := range []string{"data", "etc", "."} {
		names, err := os.ReadDir(filepath.Join(merged, d))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			if _, err := os.Lstat(filepath.Join(merged, d, n.Name())); err != nil {
				t.Errorf("phantom entry %s/%s: listed, but %v", d, n.Name(), err)
			}
		}
	}

	// The same layers under a writable upper: a file made in /tmp and
	// one deleted from the image.
	upper, work, rw := filepath.Join(scratch, "upper"), filepath.Join(scratch, "work"), filepath.Join(scratch, "rw")
	for _, d := range []string{upper, work, rw} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	opts += ",upperdir=" + upper + ",workdir=" + work
	if err := unix.Mount("overlay", rw, "overlay", 0, opts); err != nil {
		t.Fatalf("mount -t overlay -o %s: %v", opts, err)
	}
	t.Cleanup(func() { unix.Unmount(rw, unix.MNT_DETACH) })
	if err := os.WriteFile(filepath.Join(rw, "tmp", "mine"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(rw, "etc", "passwd")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(lower[2], "etc", "passwd")); err != nil {
		t.Errorf("deleting through the overlay touched the base layer: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(rw, "tmp", "mine")); err != nil || !bytes.Equal(b, []byte("x")) {
		t.Errorf("reading back tmp/mine: %q, %v", b, err)
	}
	st, err := os.Stat(filepath.Join(upper, "tmp"))
	if err != nil || st.Mode()&os.ModeSticky == 0 || st.Mode().Perm() != 0o777 {
		t.Errorf("tmp copied up as %v (%v), want drwxrwxrwt", st.Mode(), err)
	}
}
