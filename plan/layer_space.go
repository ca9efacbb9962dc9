package plan

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// unpackedSize is what a tarball takes once unpacked: the sum of its
// entries' sizes, each rounded up to a block, read without unpacking. ok is
// false for compressions Go's standard library cannot read (bzip2 writes
// only, xz and zstd not at all): tar detects those itself, and their size
// goes unchecked.
func unpackedSize(path string) (size int64, ok bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false, err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var r io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return 0, false, err
		}
		defer gz.Close()
		r = gz
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return size, true, nil
		}
		if err != nil {
			if size == 0 {
				return 0, false, nil // not a tar Go reads: tar will say what it is
			}
			return 0, false, fmt.Errorf("reading %s: %w", path, err)
		}
		size += (h.Size+4095)/4096*4096 + 4096 // its blocks, and an inode's worth
	}
}

// checkSpace refuses to unpack what would not fit in dir's file system:
// the state directory would fill up and every later journal write fail.
func checkSpace(file, dir string) error {
	need, ok, err := unpackedSize(file)
	if err != nil || !ok {
		return err
	}
	p := dir
	for {
		var st unix.Statfs_t
		if err := unix.Statfs(p, &st); err == nil {
			free := int64(st.Bavail) * int64(st.Bsize)
			if need > free {
				return refuse("<file>", "%s unpacks to about %s, but %s has %s free; free some space or use another --state-dir", file, sizeOf(need), p, sizeOf(free))
			}
			return nil
		}
		if p == filepath.Dir(p) {
			return nil
		}
		p = filepath.Dir(p)
	}
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
