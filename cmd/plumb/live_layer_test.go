package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestLiveLayerImportSpace: a tarball that unpacks to 10 MB into a state
// directory on a 2 MB tmpfs is refused before anything runs (exit 2,
// naming the sizes), so the state directory never fills up, and plumb
// keeps working there.
func TestLiveLayerImportSpace(t *testing.T) {
	t.Parallel()
	if !isolate(t) {
		return
	}
	root := scratch(t)
	small := filepath.Join(root, "small")
	if err := os.Mkdir(small, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", small, "tmpfs", 0, "size=2m,mode=700"); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(small, unix.MNT_DETACH)
	big := filepath.Join(root, "big.tar.gz")
	tarball(t, big, true, make([]byte, 10<<20), "zeros")
	env := stateEnv(filepath.Join(small, "state"))
	out, err := plumb(t, env, "layer", "import", big, "--name", "big")
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(out, "free some space") {
		t.Fatalf("import of 10 MB into 2 MB: %v\n%s", err, out)
	}
	if out, err := plumb(t, env, "recover"); err != nil || !strings.Contains(out, "nothing to recover") {
		t.Errorf("recover after the refusal: %v\n%s", err, out)
	}
	entries, _ := os.ReadDir(filepath.Join(rootBeside(filepath.Join(small, "state")), "layers"))
	if len(entries) != 0 {
		t.Errorf("layers left: %v", entries)
	}
}
