package main

import (
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// scratch is a tmpfs the test mounts in its private mount namespace: what
// the overlay tests create lives there, never on the host's own mounts.
func scratch(t *testing.T) string {
	dir, err := os.MkdirTemp("", "plumb-live-")
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "mode=755"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH); _ = os.Remove(dir) })
	return dir
}

// fsSnapshot is the mount table and every file under root (mode, size).
func fsSnapshot(t *testing.T, root string) string {
	var b strings.Builder
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	b.Write(mi)
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "locks" && p != root {
			// A lock file says who holds it and stays when its object goes
			// (plan/lock.go); a SIGKILLed holder leaves its line behind.
			return filepath.SkipDir
		}
		if keptFilter(p) {
			// Filters crun compiled, kept for the next container
			// (container/seccomp_cache.go): a cache no object owns.
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %v %d\n", p, info.Mode(), info.Size())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// keptFilter says whether p is the state directory's cache of compiled
// seccomp filters or one of its filters (named by 64 hex digits; a
// half-copied one, named otherwise, still shows).
func keptFilter(p string) bool {
	dir, name := filepath.Split(p)
	switch {
	case strings.HasSuffix(p, "/cache") || strings.HasSuffix(p, "/cache/seccomp"):
		return true
	case strings.HasSuffix(dir, "/cache/seccomp/") && len(name) == 64:
		_, err := hex.DecodeString(name)
		return err == nil
	}
	return false
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return string(b)
}

func TestLiveOverlay(t *testing.T) {
	t.Parallel()
	if !isolate(t) {
		return
	}
	root := scratch(t)
	write(t, root+"/l1/a.txt", "a from l1")
	write(t, root+"/l2/a.txt", "a from l2, hidden by l1")
	write(t, root+"/l2/b.txt", "b from l2")
	before := fsSnapshot(t, root)

	mount := func(name string) string {
		c := root + "/" + name
		mustPlumb(t, "overlay", "mount", "--lower", root+"/l1", "--lower", root+"/l2",
			"--upper", c+"/upper", "--work", c+"/work", "--merged", c+"/merged")
		return c
	}
	c1, c2 := mount("c1"), mount("c2")

	// Topmost layer first, as in the document.
	if got := read(t, c1+"/merged/a.txt"); got != "a from l1" {
		t.Errorf("merged a.txt = %q; want l1's, the topmost layer", got)
	}
	// Copy-on-write: the write lands in upper; the lower file is unchanged.
	write(t, c1+"/merged/b.txt", "b changed in c1")
	if got := read(t, c1+"/upper/b.txt"); got != "b changed in c1" {
		t.Errorf("upper b.txt = %q; want the copied-up file", got)
	}
	if got := read(t, root+"/l2/b.txt"); got != "b from l2" {
		t.Errorf("lower b.txt = %q; a lower layer changed", got)
	}
	// Deleting a lower file leaves a whiteout (a 0:0 character device) in upper.
	if err := os.Remove(c1 + "/merged/a.txt"); err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(c1+"/upper/a.txt", &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFCHR || st.Rdev != 0 {
		t.Errorf("upper a.txt is not a whiteout: mode %o rdev %d err %v", st.Mode, st.Rdev, err)
	}
	if _, err := os.Stat(c1 + "/merged/a.txt"); !os.IsNotExist(err) {
		t.Errorf("deleted a.txt still in merged: %v", err)
	}
	if got := read(t, root+"/l1/a.txt"); got != "a from l1" {
		t.Errorf("lower a.txt = %q after delete in merged", got)
	}
	// Two containers on the same lower layers do not see each other's writes.
	if got := read(t, c2+"/merged/b.txt"); got != "b from l2" {
		t.Errorf("c2 sees %q; c1's write leaked", got)
	}
	if got := read(t, c2+"/merged/a.txt"); got != "a from l1" {
		t.Errorf("c2 a.txt = %q; c1's delete leaked", got)
	}
	write(t, c2+"/merged/only-c2", "x")
	if _, err := os.Stat(c1 + "/merged/only-c2"); !os.IsNotExist(err) {
		t.Errorf("c2's new file visible in c1: %v", err)
	}

	// A busy mount is not unmounted; plumb names the process holding it.
	holder := exec.Command("sleep", "600")
	holder.Dir = c1 + "/merged"
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	out, err := plumb(t, nil, "overlay", "unmount", "--merged", c1+"/merged")
	if err == nil || !strings.Contains(out, fmt.Sprintf("is busy: in use by %d (sleep, working directory)", holder.Process.Pid)) {
		t.Errorf("unmount of a busy mount: %v\n%s", err, out)
	}
	_ = holder.Process.Kill()
	_ = holder.Wait()

	// Unmount keeps the upper layer's files and removes only empty dirs plumb made.
	out = mustPlumb(t, "overlay", "unmount", "--merged", c1+"/merged")
	if !strings.Contains(out, "kept the upper layer "+c1+"/upper (2 entries)") {
		t.Errorf("unmount said %q", out)
	}
	if got := read(t, c1+"/upper/b.txt"); got != "b changed in c1" {
		t.Errorf("after unmount, upper b.txt = %q", got)
	}
	for _, gone := range []string{c1 + "/merged", c1 + "/work"} {
		if _, err := os.Stat(gone); !os.IsNotExist(err) {
			t.Errorf("%s left behind: %v", gone, err)
		}
	}
	// --lazy detaches a busy mount.
	holder = exec.Command("sleep", "600")
	holder.Dir = c2 + "/merged"
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	mustPlumb(t, "overlay", "unmount", "--merged", c2+"/merged", "--lazy")
	_ = holder.Process.Kill()
	_ = holder.Wait()
	if strings.Contains(read(t, "/proc/self/mountinfo"), c2+"/merged") {
		t.Error("lazy unmount left the mount in place")
	}
	// Only the upper layers the containers wrote are left.
	_ = os.RemoveAll(c1)
	_ = os.RemoveAll(c2)
	if diff := cmp.Diff(before, fsSnapshot(t, root)); diff != "" {
		t.Errorf("mounts and files differ from before (-before +after):\n%s", diff)
	}
}

// TestLiveOverlayManyLayers mounts 150 layers whose absolute paths take more
// than 10 KB, past the one page of options mount(2) takes.
func TestLiveOverlayManyLayers(t *testing.T) {
	t.Parallel()
	if !isolate(t) {
		return
	}
	root := scratch(t)
	base := root + "/" + strings.Repeat("long-layer-directory-name-", 2)
	var args []string
	total := 0
	for i := 0; i < 150; i++ {
		l := fmt.Sprintf("%s/layer-%03d/diff", base, i)
		write(t, fmt.Sprintf("%s/file-%03d", l, i), strconv.Itoa(i))
		args = append(args, "--lower", l)
		total += len(l) + 1
	}
	if total < 10*1024 {
		t.Fatalf("layer paths take %d bytes; the test wants more than 10 KB", total)
	}
	args = append([]string{"overlay", "mount"}, args...)
	args = append(args, "--upper", root+"/c/upper", "--work", root+"/c/work", "--merged", root+"/c/merged")
	plan := mustPlumb(t, append(args, "--dry-run")...)
	if !strings.Contains(plan, "env -C "+base+" mount -t overlay overlay -o lowerdir=layer-000/diff:") {
		t.Errorf("plan does not mount relative to the layers' directory:\n%.300s", plan)
	}
	mustPlumb(t, args...)
	entries, err := os.ReadDir(root + "/c/merged")
	if err != nil || len(entries) != 150 {
		t.Fatalf("merged view has %d entries (%v); want one file from each of 150 layers", len(entries), err)
	}
	if got := read(t, root+"/c/merged/file-149"); got != "149" {
		t.Errorf("file-149 = %q", got)
	}
	mustPlumb(t, "overlay", "unmount", "--merged", root+"/c/merged")
	t.Logf("150 layers, %d bytes of absolute paths, mounted and unmounted", total)
}

// TestLiveOverlayFailedMount: a mount that fails leaves no directory that
// plumb created and no mount.
func TestLiveOverlayFailedMount(t *testing.T) {
	t.Parallel()
	if !isolate(t) {
		return
	}
	root := scratch(t)
	write(t, root+"/l1/f", "x")
	before := fsSnapshot(t, root)
	args := []string{"overlay", "mount", "--lower", root + "/l1", "--upper", root + "/c/new/upper", "--work", root + "/c/new/work", "--merged", root + "/c/merged"}
	steps := strings.Split(strings.TrimSpace(mustPlumb(t, append(args, "--dry-run")...)), "\n")
	env := faultEnv(t, "mkdir", "mount")
	for k, step := range steps {
		out, err := plumb(t, append(append([]string{}, env...), "FAIL_ON="+step), args...)
		if err == nil {
			t.Fatalf("step %d did not fail:\n%s", k+1, out)
		}
		if diff := cmp.Diff(before, fsSnapshot(t, root)); diff != "" {
			t.Errorf("failure at step %d (%s) left changes (-before +after):\n%s\n%s", k+1, step, diff, out)
		}
	}
	t.Logf("%d failure points, each left mounts and files as before", len(steps))
}
