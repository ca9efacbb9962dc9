package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"

	"plumb/internal/mkimage"
)

// dripping is a registry (in-process, on 127.0.0.1 in the test's namespace)
// that sends every blob but the config one byte every interval, with its
// full length announced: a pull from it never trips an idle timeout and
// takes for ever. dripped is closed once it has begun dripping a blob.
func dripping(t *testing.T, config string, every time.Duration) (srv *httptest.Server, dripped <-chan struct{}) {
	inner := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	began := make(chan struct{})
	var once sync.Once
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/blobs/sha256:") || strings.HasSuffix(r.URL.Path, config) {
			inner.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		inner.ServeHTTP(rec, r)
		if rec.Code != http.StatusOK {
			w.WriteHeader(rec.Code)
			return
		}
		body := rec.Body.Bytes()
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		once.Do(func() { close(began) })
		for _, b := range body {
			if _, err := w.Write([]byte{b}); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(every):
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv, began
}

// zstdLayer is a layer given as its compressed blob, its digests known.
type zstdLayer struct {
	blob           []byte
	digest, diffID v1.Hash
}

func (l *zstdLayer) Digest() (v1.Hash, error)            { return l.digest, nil }
func (l *zstdLayer) DiffID() (v1.Hash, error)            { return l.diffID, nil }
func (l *zstdLayer) Size() (int64, error)                { return int64(len(l.blob)), nil }
func (l *zstdLayer) MediaType() (types.MediaType, error) { return types.OCILayerZStd, nil }
func (l *zstdLayer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.blob)), nil
}
func (l *zstdLayer) Uncompressed() (io.ReadCloser, error) {
	d, err := zstd.NewReader(bytes.NewReader(l.blob))
	if err != nil {
		return nil, err
	}
	return d.IOReadCloser(), nil
}

// paddedLayer is a zstd layer of a one-file tar followed by pad bytes of
// zeros (a multiple of 128 KiB): a small blob that takes the reader as
// long as pad is large.
func paddedLayer(t *testing.T, pad int64) *zstdLayer {
	t.Helper()
	var blob bytes.Buffer
	enc, err := zstd.NewWriter(&blob, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	tw := tar.NewWriter(io.MultiWriter(enc, h))
	must(t, tw.WriteHeader(&tar.Header{Name: "padded.txt", Mode: 0o644, Size: 6, Typeflag: tar.TypeReg}))
	_, err = tw.Write([]byte("hello\n"))
	must(t, err)
	must(t, tw.Close())
	must(t, enc.Close())
	// The zeros as a frame of their own, of RLE blocks (a byte repeated
	// 128 KiB times, 4 bytes each), as an encoder would write them; only
	// hashing them costs the test time.
	zeros := make([]byte, 1<<20)
	for n := int64(0); n < pad; n += int64(len(zeros)) {
		h.Write(zeros)
	}
	blob.Write([]byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38}) // magic; no checksum, no size; 128 KiB window
	const block = 128 << 10
	for n := int64(0); n < pad; n += block {
		hdr := uint32(block)<<3 | 1<<1 // RLE
		if n+block >= pad {
			hdr |= 1 // the last block
		}
		blob.Write([]byte{byte(hdr), byte(hdr >> 8), byte(hdr >> 16), 0})
	}
	l := &zstdLayer{blob: blob.Bytes()}
	l.diffID = v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}
	sum := sha256.Sum256(l.blob)
	l.digest = v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
	return l
}

// background runs plumb in the background; done is closed when it ends,
// its output and error then set.
type background struct {
	cmd  *exec.Cmd
	out  bytes.Buffer
	err  error
	done chan struct{}
}

func startPlumb(t *testing.T, args ...string) *background {
	t.Helper()
	b := &background{cmd: exec.Command("plumb", args...), done: make(chan struct{})}
	b.cmd.Stdout, b.cmd.Stderr = &b.out, &b.out
	must(t, b.cmd.Start())
	go func() { b.err = b.cmd.Wait(); close(b.done) }()
	t.Cleanup(func() { _ = b.cmd.Process.Kill(); <-b.done })
	return b
}

func (b *background) running() bool {
	select {
	case <-b.done:
		return false
	default:
		return true
	}
}

// stagings are the staging directories of the state directory.
func stagings(t *testing.T, state string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(rootBeside(state), "image", "staging", "stage-*"))
	must(t, err)
	return m
}

// TestLiveImageInFlight: a pull from a registry that drips its layers and
// an import of a layer padded with 1.5 GiB of zeros after its tar's end
// are both in flight, unpacking into staging directories of their own;
// meanwhile a CNI ADD and a `bridge attach` in the same state directory
// each finish in under a second (before, both waited for the lock the
// imports held, and the ADD answered code 11 after --wait). The import
// then finishes; the pull, killed with SIGKILL, leaves its staging
// directory, which `plumb recover` deletes.
func TestLiveImageInFlight(t *testing.T) {
	if !isolateWorld(t) {
		return
	}
	base, err := mkimage.Build(mkimage.Options{Layers: 2})
	if err != nil {
		t.Skipf("the test image needs busybox-static: %v", err)
	}
	cfg, err := base.ConfigName()
	must(t, err)
	srv, dripped := dripping(t, cfg.String(), 2*time.Second)
	remote := strings.TrimPrefix(srv.URL, "http://") + "/plumb-test/drip:1"
	must(t, mkimage.Push(context.Background(), remote, base))
	padded, err := mutate.Append(base, mutate.Addendum{Layer: paddedLayer(t, 1536<<20), MediaType: types.OCILayerZStd})
	must(t, err)
	layout := filepath.Join(t.TempDir(), "padded")
	must(t, mkimage.WriteLayout(layout, "plumb-test/padded:1", padded))

	// The networks, before anything is in flight.
	mustPlumb(t, "bridge", "up", "br0", "--subnet", "10.89.0.0/24")
	pid := startContainer(t)
	cni, list := cniLib(t)
	for i := range 2 {
		sh(t, "ip", "netns", "add", "c0"+strconv.Itoa(i))
	}
	if _, err := cni.AddNetworkList(context.Background(), list, rtConf(0)); err != nil {
		t.Fatalf("the first ADD, which makes the bridge: %v", err)
	}

	state := "/run/plumb"
	pull := startPlumb(t, "image", "pull", remote)
	imp := startPlumb(t, "image", "import", layout, "--max-tar-trailer", "2GiB")
	// In flight: the registry drips a layer to the pull, and the import,
	// started at the same time, reads its 1.5 GiB.
	select {
	case <-dripped:
	case <-time.After(20 * time.Second):
		t.Fatalf("the pull did not start reading a layer:\n%s", pull.out.String())
	}
	time.Sleep(100 * time.Millisecond)

	start := time.Now()
	_, err = cni.AddNetworkList(context.Background(), list, rtConf(1))
	add := time.Since(start)
	if err != nil {
		t.Errorf("ADD while an image is in flight: %v (code %d)", err, cniCode(err))
	}
	start = time.Now()
	out, err := plumb(t, nil, "bridge", "attach", "br0", "--pid", strconv.Itoa(pid))
	attach := time.Since(start)
	if err != nil {
		t.Errorf("bridge attach while an image is in flight: %v\n%s", err, out)
	}
	t.Logf("while in flight: CNI ADD %v, bridge attach %v", add, attach)
	if add >= time.Second || attach >= time.Second {
		t.Errorf("CNI ADD took %v, bridge attach %v: want each under a second", add, attach)
	}
	if !pull.running() || !imp.running() {
		t.Fatalf("the pull or the import ended before the networking was measured (make the padding larger):\n%s\n%s", pull.out.String(), imp.out.String())
	}

	<-imp.done
	if imp.err != nil || !strings.Contains(imp.out.String(), "imported plumb-test/padded:1") {
		t.Errorf("the padded import: %v\n%s", imp.err, imp.out.String())
	}
	must(t, pull.cmd.Process.Signal(syscall.SIGKILL))
	<-pull.done
	left := stagings(t, state)
	if len(left) != 1 {
		t.Fatalf("after the pull was killed: %d staging directories, want its 1", len(left))
	}
	for _, d := range append(left, filepath.Dir(left[0])) {
		if fi, err := os.Stat(d); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v, want a directory of mode 0700", d, fi.Mode())
		}
	}
	if out := mustPlumb(t, "recover", "--dry-run"); !strings.Contains(out, "# would delete "+left[0]+", left by a pull or import that was killed") {
		t.Errorf("recover --dry-run does not name the abandoned staging directory:\n%s", out)
	}
	if len(stagings(t, state)) != 1 {
		t.Errorf("recover --dry-run deleted the staging directory")
	}
	mustPlumb(t, "recover")
	if left := stagings(t, state); len(left) != 0 {
		t.Errorf("after recover: %v left", left)
	}
	for i := range 2 {
		must(t, cni.DelNetworkList(context.Background(), list, rtConf(i)))
	}
}

// TestLiveImageLimits: each limit fails the pull or the import, with a
// message naming its flag, and leaves nothing behind: no layer, no journal,
// no staging directory.
func TestLiveImageLimits(t *testing.T) {
	if !isolate(t) {
		return
	}
	sh(t, "ip", "link", "set", "lo", "up")
	base, err := mkimage.Build(mkimage.Options{Layers: 2})
	if err != nil {
		t.Skipf("the test image needs busybox-static: %v", err)
	}
	cfg, err := base.ConfigName()
	must(t, err)
	srv, _ := dripping(t, cfg.String(), 500*time.Millisecond)
	remote := strings.TrimPrefix(srv.URL, "http://") + "/plumb-test/drip:1"
	must(t, mkimage.Push(context.Background(), remote, base))
	padded, err := mutate.Append(base, mutate.Addendum{Layer: paddedLayer(t, 64<<20), MediaType: types.OCILayerZStd})
	must(t, err)
	layout := filepath.Join(t.TempDir(), "padded")
	must(t, mkimage.WriteLayout(layout, "plumb-test/padded:1", padded))
	plain := filepath.Join(t.TempDir(), "plain")
	must(t, mkimage.WriteLayout(plain, "plumb-test/plain:1", base))

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"padding after the tar", []string{"image", "import", layout}, "more than 65536 bytes follow the tar's end-of-archive marker (the limit is --max-tar-trailer"},
		{"a layer's size", []string{"image", "import", layout, "--max-tar-trailer", "1GiB", "--max-layer-size", "32MiB"}, "(the limit is --max-layer-size"},
		{"an image's size", []string{"image", "import", plain, "--max-image-size", "64KiB"}, "its new layers are more than 65536 bytes uncompressed (the limit is --max-image-size"},
		{"a layer's entries", []string{"image", "import", plain, "--max-layer-entries", "3"}, "more than 3 (the limit is --max-layer-entries"},
		{"a pull's deadline", []string{"image", "pull", remote, "--pull-timeout", "2s"}, "the pull took longer than 2s (the limit is --pull-timeout)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			state := t.TempDir()
			out, err := plumb(t, stateEnv(state), tc.args...)
			if err == nil || !strings.Contains(out, tc.want) || strings.Count(out, "(the limit is") != 1 {
				t.Errorf("got %v\n%s\nwant an error with %q", err, out, tc.want)
			}
			for _, d := range []string{"image/layers", "image/l", "objects/imagelayer", "objects/image"} {
				if ents, _ := os.ReadDir(filepath.Join(state, d)); len(ents) > 0 {
					t.Errorf("%s left: %v", d, ents)
				}
			}
			if left := stagings(t, state); len(left) > 0 {
				t.Errorf("left: %v", left)
			}
		})
	}
}

// TestLiveImageRmName: one image imported as a:1 and again as b:1; `image
// rm b:1` untags b:1 alone (Docker's "Untagged: b:1") and a:1 keeps the
// image and its layers; by ID, an image of two names is refused; `image rm
// a:1` then removes the image, its layers and the empty image directories.
func TestLiveImageRmName(t *testing.T) {
	if !isolate(t) {
		return
	}
	base, err := mkimage.Build(mkimage.Options{Layers: 2})
	if err != nil {
		t.Skipf("the test image needs busybox-static: %v", err)
	}
	id, err := base.ConfigName()
	must(t, err)
	archive := filepath.Join(t.TempDir(), "img.tar")
	must(t, mkimage.WriteDockerArchive(archive, "plumb-test/img:1", base))
	state := t.TempDir()
	env := stateEnv(state)
	run := func(args ...string) string {
		t.Helper()
		out, err := plumb(t, env, args...)
		if err != nil {
			t.Fatalf("plumb %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	run("image", "import", archive, "--name", "a:1")
	run("image", "import", archive, "--name", "b:1")
	if out, err := plumb(t, env, "image", "rm", id.Hex[:12]); err == nil || !strings.Contains(out, "has 2 names (a:1, b:1); remove it by name") {
		t.Errorf("image rm by ID of an image with two names: %v\n%s", err, out)
	}
	if out := run("image", "rm", "b:1"); out != "Untagged: b:1\n" {
		t.Errorf("image rm b:1 said %q, want only Untagged: b:1", out)
	}
	if out := run("image", "ls", "-o", "json"); !strings.Contains(out, `"repository": "a"`) || strings.Contains(out, `"repository": "b"`) {
		t.Errorf("after image rm b:1:\n%s", out)
	}
	layers, _ := os.ReadDir(filepath.Join(rootBeside(state), "image", "layers"))
	if len(layers) != 2 {
		t.Errorf("after image rm b:1: %d layers kept, want 2", len(layers))
	}
	out := run("image", "rm", "a:1")
	if !strings.Contains(out, "Untagged: a:1\nremoved a:1 (image "+id.Hex[:12]+"): 2 of its 2 layers deleted") {
		t.Errorf("image rm a:1 said %q", out)
	}
	if _, err := os.Lstat(filepath.Join(rootBeside(state), "image")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("image/ is left after the last image went: %v", err)
	}
}

// TestLivePlainHTTPRegistry: a registry off this machine (192.0.2.10 on
// the test's own loopback, which plumb does not count as this machine's)
// that speaks plain http, and a server that closes every connection at
// once (EOF), each fail a pull with a message naming --insecure; with
// --insecure the plain http registry is reached.
func TestLivePlainHTTPRegistry(t *testing.T) {
	if !isolate(t) {
		return
	}
	sh(t, "ip", "link", "set", "lo", "up")
	sh(t, "ip", "addr", "add", "192.0.2.10/32", "dev", "lo")
	plain, err := net.Listen("tcp", "192.0.2.10:0")
	must(t, err)
	srv := &http.Server{Handler: registry.New(registry.Logger(log.New(io.Discard, "", 0)))}
	go srv.Serve(plain)
	t.Cleanup(func() { srv.Close() })
	closer, err := net.Listen("tcp", "192.0.2.10:0")
	must(t, err)
	t.Cleanup(func() { closer.Close() })
	go acceptAndClose(closer)
	for _, addr := range []string{plain.Addr().String(), closer.Addr().String()} {
		out, err := plumb(t, nil, "image", "pull", addr+"/x/y:1", "--dry-run")
		if err == nil || !strings.Contains(out, "pass --insecure") {
			t.Errorf("pull from %s: %v\n%s", addr, err, out)
		}
	}
	out, err := plumb(t, nil, "image", "pull", plain.Addr().String()+"/x/y:1", "--dry-run", "--insecure")
	if err == nil || !strings.Contains(out, "not found in the registry") || strings.Contains(out, "--insecure") {
		t.Errorf("pull with --insecure: %v\n%s", err, out)
	}
}

// TestLiveImageInodes: a layer of 5,000 empty files (a few hundred KB) on a
// root (and state directory) whose file system has 4,096 inodes fails once the free
// inodes fall to the reserve (1,024), with a message that says so, before
// the inode table is full; nothing is left.
func TestLiveImageInodes(t *testing.T) {
	if !isolate(t) {
		return
	}
	small := t.TempDir()
	if err := unix.Mount("tmpfs", small, "tmpfs", 0, "nr_inodes=4096,size=64m,mode=700"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(small, unix.MNT_DETACH) })
	state := filepath.Join(small, "state") // its root beside it, on small
	base, err := mkimage.Build(mkimage.Options{Layers: 1})
	if err != nil {
		t.Skipf("the test image needs busybox-static: %v", err)
	}
	var ents []mkimage.Entry
	for i := range 5000 {
		ents = append(ents, mkimage.File(fmt.Sprintf("f%04d", i), 0o644, ""))
	}
	b, err := mkimage.Tar(ents...)
	must(t, err)
	l, err := mkimage.Layer(b, false)
	must(t, err)
	img, err := mutate.AppendLayers(base, l)
	must(t, err)
	archive := filepath.Join(t.TempDir(), "many.tar")
	must(t, mkimage.WriteDockerArchive(archive, "plumb-test/many-files:1", img))
	out, err := plumb(t, stateEnv(state), "image", "import", archive)
	if err == nil || !strings.Contains(out, "inodes left on the layer's file system, under the 1024 kept free") {
		t.Errorf("import of 5,000 files onto 4,096 inodes: %v\n%s", err, out)
	}
	var st unix.Statfs_t
	must(t, unix.Statfs(small, &st))
	if st.Ffree < 4000 {
		t.Errorf("%d inodes free after the failed import; its files were left", st.Ffree)
	}
}

// TestLiveImageConcurrent: four imports at once into one state directory,
// two of an image and two of another that shares its base, each staging
// the same layers in a directory of its own: all succeed, each layer is
// kept once, file for file as one import alone unpacks it, and no staging
// directory is left.
func TestLiveImageConcurrent(t *testing.T) {
	if !isolate(t) {
		return
	}
	small, err := mkimage.Build(mkimage.Options{Layers: 2})
	if err != nil {
		t.Skipf("the test image needs busybox-static: %v", err)
	}
	big, err := mkimage.Build(mkimage.Options{Layers: 3})
	must(t, err)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.tar"), filepath.Join(dir, "b.tar")
	must(t, mkimage.WriteDockerArchive(a, "plumb-test/a:1", small))
	must(t, mkimage.WriteDockerArchive(b, "plumb-test/b:1", big))

	alone := t.TempDir()
	for _, f := range []string{a, b} {
		if out, err := plumb(t, stateEnv(alone), "image", "import", f); err != nil {
			t.Fatalf("import alone: %v\n%s", err, out)
		}
	}
	state := t.TempDir()
	var runs []*background
	for _, f := range []string{a, b, a, b} {
		bg := &background{cmd: exec.Command("plumb", "image", "import", f), done: make(chan struct{})}
		bg.cmd.Env = append(os.Environ(), stateEnv(state)...)
		bg.cmd.Stdout, bg.cmd.Stderr = &bg.out, &bg.out
		must(t, bg.cmd.Start())
		go func() { bg.err = bg.cmd.Wait(); close(bg.done) }()
		runs = append(runs, bg)
	}
	for _, bg := range runs {
		<-bg.done
		if bg.err != nil {
			t.Errorf("%s: %v\n%s", strings.Join(bg.cmd.Args, " "), bg.err, bg.out.String())
		}
	}
	want := treeOf(t, filepath.Join(rootBeside(alone), "image", "layers"))
	if got := treeOf(t, filepath.Join(rootBeside(state), "image", "layers")); got != want {
		t.Errorf("layers after four imports at once differ from one at a time:\n%s\nwant\n%s", got, want)
	}
	if out := mustPlumbIn(t, state, "image", "ls"); !strings.Contains(out, "plumb-test/a") || !strings.Contains(out, "plumb-test/b") {
		t.Errorf("image ls:\n%s", out)
	}
	ents, _ := os.ReadDir(filepath.Join(state, "objects", "imagelayer"))
	if len(ents) != 3 {
		t.Errorf("%d layer journals, want 3 (two shared, one of b's own)", len(ents))
	}
	if left := stagings(t, state); len(left) > 0 {
		t.Errorf("left: %v", left)
	}
}

func mustPlumbIn(t *testing.T, state string, args ...string) string {
	t.Helper()
	out, err := plumb(t, stateEnv(state), args...)
	if err != nil {
		t.Fatalf("plumb %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// TestLiveImageSweep: the next import deletes a staging directory that no
// process holds (a pull killed while staging left it), and leaves one that
// a running pull holds (its flock) alone.
func TestLiveImageSweep(t *testing.T) {
	if !isolate(t) {
		return
	}
	base, err := mkimage.Build(mkimage.Options{Layers: 1})
	if err != nil {
		t.Skipf("the test image needs busybox-static: %v", err)
	}
	archive := filepath.Join(t.TempDir(), "img.tar")
	must(t, mkimage.WriteDockerArchive(archive, "plumb-test/img:1", base))
	state := t.TempDir()
	abandoned := filepath.Join(rootBeside(state), "image", "staging", "stage-abandoned")
	held := filepath.Join(rootBeside(state), "image", "staging", "stage-held")
	for _, d := range []string{abandoned + "/0123.partial", held + "/4567.partial"} {
		must(t, os.MkdirAll(d, 0o700))
	}
	f, err := os.Open(held)
	must(t, err)
	defer f.Close()
	must(t, unix.Flock(int(f.Fd()), unix.LOCK_EX))
	mustPlumbIn(t, state, "image", "import", archive)
	if _, err := os.Lstat(abandoned); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the abandoned staging directory is left: %v", err)
	}
	if _, err := os.Lstat(held + "/4567.partial"); err != nil {
		t.Errorf("the held staging directory was touched: %v", err)
	}
}
