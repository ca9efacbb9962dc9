package rootfs

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"plumb/plan"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"
)

// TestLayerFits: a tarball is refused when its blocks do not fit, and
// also when its entries would take the inodes a file system keeps free:
// 60,000 empty files take no block but fill a small tmpfs's inode table.
func TestLayerFits(t *testing.T) {
	fs := func(freeBlocks, files, ffree uint64) unix.Statfs_t {
		return unix.Statfs_t{Bsize: 4096, Bavail: freeBlocks, Files: files, Ffree: ffree}
	}
	for _, tc := range []struct {
		name    string
		need    int64
		entries int64
		st      unix.Statfs_t
		want    string
	}{
		{"fits", 30 << 20, 60000, fs(1<<20, 1<<20, 1<<20), ""},
		{"too few blocks", 30 << 20, 10, fs(100, 1<<20, 1<<20), "unpacks to about 30.0 MiB"},
		{"too few inodes", 30 << 20, 60000, fs(1<<20, 65536, 60000), "holds 60000 files, directories and links, but /st has 60000 inodes free and keeps 3276 of them free"},
		{"inside the reserve", 1 << 20, 59000, fs(1<<20, 65536, 60000), "keeps 3276 of them free"},
		{"at least 1024 kept", 1 << 20, 9500, fs(1<<20, 10000, 10000), "keeps 1024 of them free"},
		{"no inode count (btrfs)", 1 << 20, 1 << 30, fs(1<<20, 0, 0), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := fits("/l.tar", "/st", tc.need, tc.entries, tc.st)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// TestLayerMaxEntries: `layer import` refuses a tarball of more entries
// than --max-layer-entries, naming the flag, before anything is made.
func TestLayerMaxEntries(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := range 10 {
		if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("f%d", i), Mode: 0o644, Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	// The same tarball plain, gzip'd and zstd'd: layer import's tar reads
	// all three, and the count must not be skipped for any (zstd once was).
	var gz, zs bytes.Buffer
	gw := gzip.NewWriter(&gz)
	gw.Write(buf.Bytes())
	gw.Close()
	zw, err := zstd.NewWriter(&zs)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(buf.Bytes())
	zw.Close()
	for name, data := range map[string][]byte{"l.tar": buf.Bytes(), "l.tar.gz": gz.Bytes(), "l.tar.zst": zs.Bytes()} {
		file := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
		err := checkSpace(file, t.TempDir(), 9)
		var r *plan.Refused
		if !errors.As(err, &r) || r.Flag != "max-layer-entries" || !strings.Contains(r.Msg, "holds 10 files, directories and links, more than 9") {
			t.Errorf("%s: 10 entries under --max-layer-entries 9: %v", name, err)
		}
		if err := checkSpace(file, t.TempDir(), 10); err != nil {
			t.Errorf("%s: 10 entries under --max-layer-entries 10: %v", name, err)
		}
	}
}

// TestWatchRate: a pull that reads fewer than --min-rate bytes a second
// over a window is ended with an error naming the flag; one that reads
// enough goes on.
func TestWatchRate(t *testing.T) {
	lim := Limits{MinRate: 1000}
	for _, tc := range []struct {
		name  string
		every int64 // bytes read each 10 ms
		slow  bool
	}{
		{"dripping", 1, true},
		{"fast enough", 100, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			var recent atomic.Int64
			go watchRate(ctx, cancel, &recent, lim.MinRate, 100*time.Millisecond)
			for end := time.Now().Add(350 * time.Millisecond); time.Now().Before(end) && ctx.Err() == nil; time.Sleep(10 * time.Millisecond) {
				recent.Add(tc.every)
			}
			err := lim.explain(context.Cause(ctx))
			if got := err != nil && strings.Contains(err.Error(), "under 1000 bytes a second (the limit is --min-rate"); got != tc.slow {
				t.Errorf("got %v; want the pull ended: %v", err, tc.slow)
			}
		})
	}
}
