package mkimage

import (
	"archive/tar"
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"sort"
)

// BulkStats says what WriteBulk wrote.
type BulkStats struct {
	Bytes                            int64 // of the tar stream
	Files, Dirs, Symlinks, Hardlinks int
	DiffID                           string // "sha256:..." of the tar stream
}

// WriteBulk writes to w a layer's tar stream of about size bytes, always the same for a
// size (seeded generators): 300 directories up to four deep under usr, etc and var; files
// mostly small (source, bytecode, manifests), some tens of KB, a few large (libraries);
// about 4% symlinks (relative, some dangling) and 1% hard links to earlier files of the
// layer, as a distribution's layer holds. It is the unpacking benchmark's layer and the
// bench image's bulk.
func WriteBulk(w io.Writer, size int64) (BulkStats, error) {
	rng := rand.New(rand.NewPCG(13, uint64(size)))
	content := rand.NewChaCha8([32]byte{13})
	dirs := []string{"usr", "usr/lib", "usr/share", "etc", "var", "var/lib"}
	for len(dirs) < 300 {
		parent := dirs[rng.IntN(len(dirs))]
		if depth(parent) < 4 {
			dirs = append(dirs, fmt.Sprintf("%s/d%03d", parent, len(dirs)))
		}
	}
	type file struct {
		name string
		size int64
		link string // symlink target
		hard string // hard link target
	}
	byDir := map[string][]file{}
	var total int64
	var regular []string
	for i := 0; total < size*97/100; i++ {
		d := dirs[rng.IntN(len(dirs))]
		name := fmt.Sprintf("%s/f%05d", d, i)
		switch p := rng.IntN(1000); {
		case p < 40:
			byDir[d] = append(byDir[d], file{name: name, link: fmt.Sprintf("../f%05d", rng.IntN(i+1))})
			continue
		case p < 50 && len(regular) > 0:
			byDir[d] = append(byDir[d], file{name: name, hard: regular[rng.IntN(len(regular))]})
			continue
		}
		var n int64
		switch p := rng.IntN(1000); {
		case p < 800:
			n = 100 + rng.Int64N(8<<10)
		case p < 980:
			n = 8<<10 + rng.Int64N(56<<10)
		case p < 998:
			n = 64<<10 + rng.Int64N(960<<10)
		default:
			n = 1<<20 + rng.Int64N(3<<20)
		}
		byDir[d] = append(byDir[d], file{name: name, size: n})
		regular = append(regular, name)
		total += n
	}

	bw := bufio.NewWriterSize(w, 1<<20)
	cw := &countWriter{w: bw, h: sha256.New()}
	tw := tar.NewWriter(cw)
	var st BulkStats
	sort.Strings(dirs)
	buf := make([]byte, 4<<20)
	write := func(h *tar.Header, body []byte) error {
		h.ModTime, h.Uname, h.Gname = Epoch, "root", "root"
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := tw.Write(body)
		return err
	}
	// Hard links follow their targets: every directory's regular files and symlinks first,
	// then the links.
	for _, d := range dirs {
		if err := write(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755}, nil); err != nil {
			return st, err
		}
		st.Dirs++
		for _, fl := range byDir[d] {
			switch {
			case fl.link != "":
				if err := write(&tar.Header{Typeflag: tar.TypeSymlink, Name: fl.name, Linkname: fl.link, Mode: 0o777}, nil); err != nil {
					return st, err
				}
				st.Symlinks++
			case fl.hard == "":
				content.Read(buf[:fl.size])
				if err := write(&tar.Header{Typeflag: tar.TypeReg, Name: fl.name, Mode: 0o644, Size: fl.size}, buf[:fl.size]); err != nil {
					return st, err
				}
				st.Files++
			}
		}
	}
	for _, d := range dirs {
		for _, fl := range byDir[d] {
			if fl.hard != "" {
				if err := write(&tar.Header{Typeflag: tar.TypeLink, Name: fl.name, Linkname: fl.hard}, nil); err != nil {
					return st, err
				}
				st.Hardlinks++
			}
		}
	}
	if err := tw.Close(); err != nil {
		return st, err
	}
	if err := bw.Flush(); err != nil {
		return st, err
	}
	st.Bytes = cw.n
	st.DiffID = "sha256:" + hex.EncodeToString(cw.h.Sum(nil))
	return st, nil
}

func depth(p string) int {
	n := 1
	for _, c := range p {
		if c == '/' {
			n++
		}
	}
	return n
}

// countWriter counts and hashes what it passes on.
type countWriter struct {
	w io.Writer
	n int64
	h hash.Hash
}

func (c *countWriter) Write(p []byte) (int, error) {
	c.h.Write(p)
	c.n += int64(len(p))
	return c.w.Write(p)
}
