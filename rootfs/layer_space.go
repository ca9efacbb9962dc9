package rootfs

import (
	"archive/tar"
	"bufio"
	"compress/bzip2"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"plumb/plan"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"
)

// unpackedSize is what a tarball takes once unpacked: the sum of its
// entries' sizes, each rounded up to a block, read without unpacking.
// gzip, bzip2 and zstd (klauspost/compress, which the image unpacker uses
// already) are read; ok is false for xz, which no library here reads: tar
// detects it itself, and its size and entries go unchecked.
func unpackedSize(path string) (size, entries int64, ok bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, false, err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var r io.Reader = br
	magic, _ := br.Peek(4)
	switch {
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		gz, err := gzip.NewReader(br)
		if err != nil {
			return 0, 0, false, err
		}
		defer gz.Close()
		r = gz
	case len(magic) >= 3 && string(magic[:3]) == "BZh":
		r = bzip2.NewReader(br)
	case len(magic) == 4 && string(magic) == "\x28\xb5\x2f\xfd":
		zr, err := zstd.NewReader(br)
		if err != nil {
			return 0, 0, false, err
		}
		defer zr.Close()
		r = zr
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return size, entries, true, nil
		}
		if err != nil {
			if size == 0 {
				return 0, 0, false, nil // not a tar Go reads: tar will say what it is
			}
			return 0, 0, false, fmt.Errorf("reading %s: %w", path, err)
		}
		size += (h.Size+4095)/4096*4096 + 4096 // its blocks, and an inode's worth
		entries++
	}
}

// checkSpace refuses to unpack what would not fit in dir's file system
// (the root's): it would fill up, and with it whatever shares it (the
// state directory, when it is there too, and every later journal write).
// Blocks are not all: a small tarball of many empty files fills a tmpfs's
// inode table first. A tarball of more than maxEntries entries (when above
// 0) is refused too.
func checkSpace(file, dir string, maxEntries int) error {
	need, entries, ok, err := unpackedSize(file)
	if err != nil || !ok {
		return err
	}
	if maxEntries > 0 && entries > int64(maxEntries) {
		return plan.Refuse("max-layer-entries", "%s holds %d files, directories and links, more than %d (raise --max-layer-entries if it is to be trusted)", file, entries, maxEntries)
	}
	p := dir
	for {
		var st unix.Statfs_t
		if err := unix.Statfs(p, &st); err == nil {
			return fits(file, p, need, entries, st)
		}
		if p == filepath.Dir(p) {
			return nil
		}
		p = filepath.Dir(p)
	}
}

// fits refuses a tarball of need bytes and entries entries that the file
// system at p, as st describes it, has no room for: more blocks than are
// free, or more inodes than are free beyond a reserve (5%, at least 1024,
// as image layers keep).
func fits(file, p string, need, entries int64, st unix.Statfs_t) error {
	free := int64(st.Bavail) * int64(st.Bsize)
	if need > free {
		return plan.Refuse("<file>", "%s unpacks to about %s, but %s has %s free; free some space or use another --root", file, sizeOf(need), p, sizeOf(free))
	}
	if st.Files == 0 {
		return nil // no inode count (btrfs): nothing to check
	}
	keep := max(int64(st.Files)/20, 1024)
	if ffree := int64(st.Ffree); entries > ffree-keep {
		return plan.Refuse("<file>", "%s holds %d files, directories and links, but %s has %d inodes free and keeps %d of them free; free some or use another --root", file, entries, p, ffree, keep)
	}
	return nil
}

func sizeOf(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d KiB", n>>10)
}
