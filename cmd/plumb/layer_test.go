package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// tarball writes a tar (gzipped when gz) of the entries: a name ending in
// "/" is a directory, "NAME -> TARGET" a symlink, anything else a file
// holding data.
func tarball(t *testing.T, path string, gz bool, data []byte, entries ...string) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e, Mode: 0o644, Typeflag: tar.TypeReg, Size: int64(len(data))}
		switch {
		case strings.HasSuffix(e, "/"):
			h.Typeflag, h.Mode, h.Size = tar.TypeDir, 0o755, 0
		case strings.Contains(e, " -> "):
			name, target, _ := strings.Cut(e, " -> ")
			h.Name, h.Linkname, h.Typeflag, h.Size = name, target, tar.TypeSymlink, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write(data)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	out := buf.Bytes()
	if gz {
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		zw.Write(out)
		zw.Close()
		out = z.Bytes()
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestLayerImportFailsHalfWay: tar unpacks some entries, then refuses one
// (a write through a symlink it made). The layer's directory goes with the
// rollback, nothing is journaled, and importing again under the same name
// works. Only tar and the file system are involved, under a temp dir.
func TestLayerImportFailsHalfWay(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	env := stateEnv(state)
	victim := filepath.Join(dir, "victim")
	evil := filepath.Join(dir, "evil.tar")
	tarball(t, evil, false, []byte("x"), "ok.txt", "evil -> "+victim, "evil/x")
	out, err := plumb(t, env, "layer", "import", evil, "--name", "base")
	if err == nil || !strings.Contains(out, "the host is as it was before") {
		t.Fatalf("import of a tarball tar refuses half-way: %v\n%s", err, out)
	}
	if _, err := os.Lstat(filepath.Join(rootBeside(state), "layers", "base")); !os.IsNotExist(err) {
		t.Errorf("the layer's directory is left after the rollback: %v", err)
	}
	if _, err := os.Lstat(victim); !os.IsNotExist(err) {
		t.Errorf("tar wrote outside the layer: %v", err)
	}
	good := filepath.Join(dir, "good.tar.gz")
	tarball(t, good, true, []byte("hello"), "etc/", "etc/hostname")
	if out, err := plumb(t, env, "layer", "import", good, "--name", "base"); err != nil {
		t.Fatalf("import again under the same name: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(filepath.Join(rootBeside(state), "layers", "base", "etc", "hostname")); string(b) != "hello" {
		t.Errorf("layer content = %q", b)
	}
	if out, err := plumb(t, env, "down", "layer/base"); err != nil {
		t.Fatalf("down: %v\n%s", err, out)
	}
}

// TestLayerImportConcurrent: four imports under one name at once. One
// makes the layer; the others wait for the lock and are refused. None
// calls the winner's journal, read while it was being written,
// "interrupted".
func TestLayerImportConcurrent(t *testing.T) {
	dir := t.TempDir()
	env := stateEnv(filepath.Join(dir, "state"))
	tb := filepath.Join(dir, "big.tar")
	var entries []string
	for i := 0; i < 400; i++ {
		entries = append(entries, "f"+strconv.Itoa(i))
	}
	tarball(t, tb, false, bytes.Repeat([]byte("x"), 64<<10), entries...)
	outs := make(chan string, 4)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			out, err := plumb(t, env, "layer", "import", tb, "--name", "same")
			outs <- out
			errs <- err
		}()
	}
	ok := 0
	for range 4 {
		out, err := <-outs, <-errs
		if err == nil {
			ok++
		} else if !strings.Contains(out, "layer same exists") {
			t.Errorf("a losing import: %v\n%s", err, out)
		}
		if strings.Contains(out, "interrupted") {
			t.Errorf("a false warning:\n%s", out)
		}
	}
	if ok != 1 {
		t.Errorf("%d imports succeeded; want 1", ok)
	}
}
