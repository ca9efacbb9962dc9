package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"

	"plumb/internal/mkimage"
)

// imageState is the state directory the image fault matrix works in,
// imageRoot its root (--root), where the layers go.
const imageState, imageRoot = "/run/plumb", "/run/plumb-root"

// imageTrees is stateTree of the state directory and of the root, as one.
func imageTrees(t *testing.T) string {
	var root []string
	if tree := stateTree(t, imageRoot); tree != "\n" {
		root = strings.Split(strings.TrimSuffix(tree, "\n"), "\n")
	}
	return union(stateTree(t, imageState), root)
}

// TestLiveImageFaults is the fault matrix of `plumb image import` (a docker
// save tarball, an OCI layout) and `plumb image pull` (from a registry the
// test serves on 127.0.0.1 in its own network namespace), and of an import
// whose image shares its base with an image kept already (only its new
// layers are in the plan). For every step k of the plan (each layer's `ln -s`
// of its short name and its `plumb layer unpack`, wrapped through
// PLUMB_SELF): (a) the step fails, (b) it does its work and then reports a
// failure, (c) plumb gets SIGINT or SIGTERM while it runs, and plumb rolls
// back by itself; (d) plumb is SIGKILLed just before step k, and just after
// it, then `plumb recover`; (e) plumb is SIGKILLed during the rollback of a
// failure at step k, then `plumb recover`. And (f) plumb is sent SIGKILL or
// SIGHUP from outside while its layers unpack side by side, then `plumb
// recover`: no unpack may outlive it.
//
// After each case the state directory is exactly as before (stateTree: every
// path, its type, mode, owner, symlink target, xattrs, a file's content
// and mtime), but for the directories plumb makes on its first import and
// keeps, empty: image/, image/layers and image/l (Preflight), image/staging (a pull or import stages there), and
// objects/image and objects/imagelayer (the journals' directories); the
// image kept before is untouched; `plumb status` is as before; a second
// recover does nothing; and no `plumb layer unpack` is left running.
//
// Each scenario, (f), and the in-process unpacks run as subtests of their
// own, in namespaces of their own, side by side.
func TestLiveImageFaults(t *testing.T) {
	t.Parallel()
	for _, part := range []string{"docker-archive", "OCI-layout", "pull", "docker-archive-exec-each", "sharing-a-base",
		"killed-while-unpacking", "in-process-unpack"} {
		t.Run(part, func(t *testing.T) {
			t.Parallel()
			testLiveImageFaults(t, part)
		})
	}
}

func testLiveImageFaults(t *testing.T, part string) {
	if !isolate(t) {
		return
	}
	inside("PLUMB_STATE_DIR", imageState)
	inside("PLUMB_ROOT", imageRoot)
	sh(t, "ip", "link", "set", "lo", "up")
	dir := t.TempDir()
	fakeBusybox := filepath.Join(dir, "busybox")
	write(t, fakeBusybox, "#!/bin/sh\necho 'a stand-in for busybox: the fault matrix never runs it'\n")
	build := func(opts mkimage.Options) v1.Image {
		// A small base: the matrix runs a hundred and more imports, and what
		// it checks is where each layer's files go, not that they run.
		opts.Busybox, opts.Applets = fakeBusybox, []string{"sh", "cat", "ls"}
		img, err := mkimage.Build(opts)
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	demo := build(mkimage.Options{}) // the demo's three layers: base, web root, a whiteout
	archive := filepath.Join(dir, "demo.tar")
	layout := filepath.Join(dir, "oci")
	if err := mkimage.WriteDockerArchive(archive, "plumb-demo/busybox:1", demo); err != nil {
		t.Fatal(err)
	}
	if err := mkimage.WriteLayout(layout, "plumb-demo/busybox:1", demo); err != nil {
		t.Fatal(err)
	}
	// Two images of the same base: two layers, and four (the same two, two more).
	small, big := filepath.Join(dir, "small.tar"), filepath.Join(dir, "big.tar")
	if err := mkimage.WriteDockerArchive(small, "plumb-test/small:1", build(mkimage.Options{Layers: 2})); err != nil {
		t.Fatal(err)
	}
	if err := mkimage.WriteDockerArchive(big, "plumb-test/big:1", build(mkimage.Options{Layers: 4})); err != nil {
		t.Fatal(err)
	}
	// A registry of the test's own, on 127.0.0.1 in the test's namespace.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: registry.New(registry.Logger(log.New(io.Discard, "", 0)))}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	ref := l.Addr().String() + "/plumb-demo/busybox:1"
	if err := mkimage.Push(context.Background(), ref, demo); err != nil {
		t.Fatal(err)
	}

	// The wrapper stands in front of ln, rm (the undos) and plumb's own
	// steps, which the executor runs as $PLUMB_SELF.
	env := faultEnv(t, "ln", "rm")
	self := filepath.Join(t.TempDir(), "plumb")
	wrapper, _ := filepath.Abs("../../testdata/standin/failwrap.sh")
	if err := os.Symlink(wrapper, self); err != nil {
		t.Fatal(err)
	}
	realPlumb, err := exec.LookPath("plumb")
	if err != nil {
		t.Fatal(err)
	}
	env = append(env, "PLUMB_SELF="+self, "REAL_PLUMB="+realPlumb)
	marker := filepath.Join(t.TempDir(), "failed")

	// The state directory as any plumb that takes the lock leaves it (the
	// directory, objects/, the lock), and what the first import makes there
	// and keeps, empty, whatever happens to it.
	mustPlumb(t, "recover")
	var kept []string
	for _, d := range []string{imageState + "/objects/image", imageState + "/objects/imagelayer",
		imageRoot, imageRoot + "/image", imageRoot + "/image/layers", imageRoot + "/image/l", imageRoot + "/image/staging"} {
		kept = append(kept, fmt.Sprintf("%s dir drwx------ 0:0", d))
	}

	scenarios := []struct {
		part   string // the subtest that runs it
		name   string
		mode   string   // PLUMB_EXEC: batch runs the layers' steps side by side, each one at a time
		setup  []string // plumb commands run for real first: part of "before"
		args   []string
		layers int // new layers in the plan
	}{
		{"docker-archive", "import of a docker-archive", "batch", nil, []string{"image", "import", archive}, 3},
		{"OCI-layout", "import of an OCI layout", "batch", nil, []string{"image", "import", layout}, 3},
		{"pull", "pull from a registry on 127.0.0.1", "batch", nil, []string{"image", "pull", ref}, 3},
		{"docker-archive-exec-each", "import of a docker-archive (exec each)", "each", nil, []string{"image", "import", archive}, 3},
		{"sharing-a-base", "import sharing its base with an image kept", "batch", []string{"image import " + small + " --name plumb-test/small:1"},
			[]string{"image", "import", big}, 2},
	}
	ran, restored := 0, 0
	var status, want string // plumb status and stateTree as each case must leave them
	// verify runs recover after a case whose plumb failed and said out, and
	// checks what it leaves. clean: plumb rolled back by itself, and
	// recover finds nothing.
	verify := func(label, out string, clean bool) {
		ran++
		// Strays are killed once found, and the case goes on, so that
		// recover leaves the next case a clean start.
		stray := strayUnpacks(true)
		if stray != "" {
			t.Errorf("%s: plumb ended, and left running:\n%s\nplumb said:\n%s", label, stray, out)
		}
		rec, err := plumb(t, nil, "recover")
		if err != nil {
			t.Errorf("%s: recover failed: %v\n%s", label, err, rec)
			return
		}
		if clean && !strings.Contains(rec, "nothing to recover") {
			t.Errorf("%s: plumb left its rollback to recover:\n%s\nplumb said:\n%s", label, rec, out)
			return
		}
		if again := mustPlumb(t, "recover"); !strings.Contains(again, "nothing to recover") {
			t.Errorf("%s: second recover did something:\n%s", label, again)
			return
		}
		if got := mustPlumb(t, "status"); got != status {
			t.Errorf("%s: journal differs:\n%s\nwant:\n%s", label, got, status)
			return
		}
		// The kept directories count as there whether or not the case
		// got as far as making them: an import stopped while it stages
		// its layers (before the lock) has made none of them yet.
		if after := union(imageTrees(t), kept); after != want {
			t.Errorf("%s: the state directory differs from before (-want +got):\n%s\nplumb said:\n%s", label, cmp.Diff(want, after), out)
			return
		}
		if stray == "" {
			restored++
		}
	}
	start := time.Now()
	var picked sample // make test's sample of the cases (see faultStride)
	for _, sc := range scenarios {
		if sc.part != part {
			continue
		}
		for _, s := range sc.setup {
			mustPlumb(t, strings.Fields(s)...)
		}
		status = mustPlumb(t, "status")
		want = union(imageTrees(t), kept)
		var steps []string
		for _, l := range strings.Split(strings.TrimSpace(mustPlumb(t, append(sc.args, "--dry-run")...)), "\n") {
			if !strings.HasPrefix(l, "#") {
				steps = append(steps, l)
			}
		}
		if len(steps) != 2*sc.layers {
			t.Fatalf("%s: the plan has %d steps, want %d (an ln and an unpack for each new layer):\n%s", sc.name, len(steps), 2*sc.layers, strings.Join(steps, "\n"))
		}
		for k, step := range steps {
			cases := faultsAt(k, step, marker)
			for _, c := range cases {
				if !picked.take() {
					continue
				}
				os.Remove(marker)
				label := fmt.Sprintf("%s, step %d/%d %s (%s)", sc.name, k+1, len(steps), c.name, stepLabel(step))
				out, err := plumb(t, append(append([]string{"PLUMB_EXEC=" + sc.mode}, env...), c.env...), sc.args...)
				if err == nil {
					ran++
					t.Errorf("%s: plumb succeeded:\n%s", label, out)
					continue
				}
				verify(label, out, c.clean)
			}
		}
	}

	// plumb killed from outside while its layers unpack side by side:
	// SIGKILL, and SIGHUP (its terminal closed), which plumb does not
	// catch. Each unpack is slowed by a wrapper that waits a moment and
	// then execs the real plumb, as a layer from a slow registry takes a
	// while: no unpack may outlive plumb (it would write a layer's
	// directory that no journal names, after or during recover).
	if part == "killed-while-unpacking" {
		slow := filepath.Join(t.TempDir(), "plumb")
		write(t, slow, "#!/bin/sh\nsleep 2\nexec \"$REAL_PLUMB\" \"$@\"\n")
		if err := os.Chmod(slow, 0o755); err != nil {
			t.Fatal(err)
		}
		status = mustPlumb(t, "status")
		want = union(imageTrees(t), kept)
		for _, sc := range scenarios[:3] {
			for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGHUP} {
				label := fmt.Sprintf("%s, %v while its %d unpacks run", sc.name, sig, sc.layers)
				cmd := exec.Command("plumb", sc.args...)
				cmd.Env = append(os.Environ(), "PLUMB_SELF="+slow, "REAL_PLUMB="+realPlumb)
				var out strings.Builder
				cmd.Stdout, cmd.Stderr = &out, &out
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				// Each unpack waits 2 s in the wrapper (0.5 s was too little
				// for three to be seen at once on a machine loaded by other
				// tests side by side): every one counts once seen.
				// The layers are staged first (fetched and unpacked before
				// the lock); the steps, which move them into place, come after.
				seen := map[int]bool{}
				for deadline := time.Now().Add(30 * time.Second); len(seen) < sc.layers && time.Now().Before(deadline); {
					for pid := range unpackProcs() {
						seen[pid] = true
					}
					time.Sleep(5 * time.Millisecond)
				}
				if n := len(seen); n < sc.layers {
					t.Errorf("%s: %d unpacks started, want %d; plumb said:\n%s", label, n, sc.layers, out.String())
				}
				cmd.Process.Signal(sig)
				if err := cmd.Wait(); err == nil {
					ran++
					t.Errorf("%s: plumb succeeded:\n%s", label, out.String())
					continue
				}
				verify(label, out.String(), false)
			}
		}

	}

	// The layers' steps as users run them: inside plumb (no PLUMB_SELF).
	// SIGINT and SIGTERM while a layer unpacks end its unpack and roll back;
	// SIGKILL leaves the partial layer to recover.
	if part == "in-process-unpack" {
		status = mustPlumb(t, "status")
		want = union(imageTrees(t), kept)
		bulk := filepath.Join(dir, "bulk.tar")
		if err := mkimage.WriteDockerArchive(bulk, "plumb-test/bulk:1", build(mkimage.Options{BulkMB: 120})); err != nil {
			t.Fatal(err)
		}
		for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGKILL} {
			label := fmt.Sprintf("in-process unpack, %v while a layer unpacks", sig)
			cmd := exec.Command("plumb", "image", "import", bulk)
			var out strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			seen := false
			for deadline := time.Now().Add(20 * time.Second); !seen && time.Now().Before(deadline); {
				// A pull or import unpacks into a staging directory of its
				// own before it takes the lock.
				m, _ := filepath.Glob(filepath.Join(imageRoot, "image", "staging", "stage-*", "*.partial"))
				if seen = len(m) > 0; !seen {
					time.Sleep(time.Millisecond)
				}
			}
			if !seen {
				t.Errorf("%s: no layer was seen unpacking; plumb said:\n%s", label, out.String())
			}
			cmd.Process.Signal(sig)
			if err := cmd.Wait(); err == nil {
				ran++
				t.Errorf("%s: plumb succeeded:\n%s", label, out.String())
				continue
			}
			verify(label, out.String(), sig != syscall.SIGKILL)
		}
	}

	t.Logf("image fault matrix (%s): %d cases ran, %d restored the state directory exactly (%s)", part, ran, restored, time.Since(start).Round(time.Millisecond))
	if restored != ran {
		t.Errorf("%d of %d cases did not restore the state directory", ran-restored, ran)
	}
}

// stepLabel is a step's command, shortened for a case's name: its tool and
// the base name of its last argument.
func stepLabel(step string) string {
	f := strings.Fields(step)
	if len(f) < 3 {
		return step
	}
	return strings.Join(f[:min(3, len(f)-1)], " ") + " ... " + filepath.Base(f[len(f)-1])
}

// union is tree (stateTree's lines) with lines added, sorted as stateTree
// sorts them.
func union(tree string, lines []string) string {
	var all []string
	if tree != "\n" {
		all = strings.Split(strings.TrimSuffix(tree, "\n"), "\n")
	}
	for _, l := range lines {
		if !slices.Contains(all, l) {
			all = append(all, l)
		}
	}
	slices.Sort(all)
	return strings.Join(all, "\n") + "\n"
}

// stateTree is every path under root, one sorted line each: its type, mode,
// owner, and what it holds: a symlink's target, a regular file's size,
// links, sha256 and mtime, a device's numbers, and every xattr (overlay's
// opaque marks). A directory's mtime is left out: it says only that entries
// came and went; so is the lock's, which every plumb that takes the lock
// writes its PID to, and empties when it lets go.
func stateTree(t *testing.T, root string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == root && os.IsNotExist(err) {
				return filepath.SkipAll
			}
			return err
		}
		if p == filepath.Join(root, "locks") {
			return filepath.SkipDir // lock files stay, as the store's lock does (plan/lock.go)
		}
		if p == filepath.Join(root, "index") {
			// A cache of the journals: the first locked command builds it
			// and every recover builds it again (plan/index.go); status
			// compares the journals themselves.
			return filepath.SkipDir
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		kind := "file"
		var what string
		switch m := info.Mode(); {
		case m.IsDir():
			kind = "dir"
		case m&fs.ModeSymlink != 0:
			kind = "symlink"
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			what = " -> " + target
		case m&fs.ModeDevice != 0:
			kind = "device"
			what = fmt.Sprintf(" %d,%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
		case m.IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			what = fmt.Sprintf(" size %d links %d sha256 %x", len(data), st.Nlink, sha256.Sum256(data))
		default:
			kind = "other"
		}
		if kind != "dir" && p != filepath.Join(root, "lock") { // every plumb that locks writes to the lock
			what += " mtime " + time.Unix(st.Mtim.Unix()).UTC().Format(time.RFC3339Nano)
		}
		lines = append(lines, fmt.Sprintf("%s %s %v %d:%d%s%s", p, kind, info.Mode(), st.Uid, st.Gid, what, xattrs(t, p)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n") + "\n"
}

// xattrs lists a path's extended attributes (not following a symlink), as
// " xattr NAME=VALUE" each, sorted.
func xattrs(t *testing.T, p string) string {
	t.Helper()
	buf := make([]byte, 64<<10)
	n, err := unix.Llistxattr(p, buf)
	if err != nil {
		if err == unix.ENOTSUP {
			return ""
		}
		t.Fatalf("listing the xattrs of %s: %v", p, err)
	}
	var names []string
	for _, name := range bytes.Split(buf[:n], []byte{0}) {
		if len(name) > 0 {
			names = append(names, string(name))
		}
	}
	slices.Sort(names)
	var b strings.Builder
	for _, name := range names {
		val := make([]byte, 64<<10)
		m, err := unix.Lgetxattr(p, name, val)
		if err != nil {
			t.Fatalf("reading xattr %s of %s: %v", name, p, err)
		}
		fmt.Fprintf(&b, " xattr %s=%q", name, val[:m])
	}
	return b.String()
}

// unpackProcs are the `plumb layer unpack` processes of this test (in its
// mount namespace: the machine may run other tests' at the same time),
// wrappers in front of one included: PID and command line each.
func unpackProcs() map[int]string {
	mine, _ := os.Readlink("/proc/self/ns/mnt")
	found := map[int]string{}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		cmdline, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(cmdline, []byte("\x00layer\x00unpack\x00")) {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", pid)); ns != mine || pid == os.Getpid() {
			continue
		}
		found[pid] = string(bytes.ReplaceAll(bytes.TrimRight(cmdline, "\x00"), []byte{0}, []byte(" ")))
	}
	return found
}

// strayUnpacks lists the unpacks still running once the plumb that started
// them has ended, after a moment (0.2 s) for those already killed to be
// gone, and with kill, SIGKILLs them so that the next case starts clean.
func strayUnpacks(kill bool) string {
	var found map[int]string
	for i := 0; i < 8; i++ {
		if found = unpackProcs(); len(found) == 0 {
			return ""
		}
		time.Sleep(25 * time.Millisecond)
	}
	var list []string
	for pid, cmdline := range found {
		list = append(list, fmt.Sprintf("%d: %s", pid, cmdline))
		if kill {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	slices.Sort(list)
	for i := 0; kill && i < 200 && len(unpackProcs()) > 0; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	return strings.Join(list, "\n")
}
