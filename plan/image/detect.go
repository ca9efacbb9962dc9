package image

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Kind is the kind of file an image is imported from.
type Kind string

const (
	// KindDockerArchive is a `docker save` tar archive (manifest.json at its top).
	KindDockerArchive Kind = "docker-archive"
	// KindLayout is an OCI image layout directory (index.json, oci-layout, blobs/).
	KindLayout Kind = "oci-layout"
)

// Detect says which kind of image source path is: a directory holding index.json is an OCI
// image layout; a tar archive holding manifest.json is a docker save archive. Anything else
// is refused with a sentence saying what it is and what to do instead.
func Detect(p string) (Kind, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return "", err // *PathError: it names p
	}
	if fi.IsDir() {
		if _, err := os.Stat(filepath.Join(p, "index.json")); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return "", fmt.Errorf("%s is a directory but not an OCI image layout: it has no index.json", p)
			}
			return "", err
		}
		return KindLayout, nil
	}
	return sniffFile(p)
}

// Import reads an image from a file as Detect finds it: FromTarball or FromLayout, ref being
// the tag or name to take from it ("" for its only image).
func Import(path, ref string, opts Options) (*Image, error) {
	k, err := Detect(path)
	if err != nil {
		return nil, err // it names path
	}
	if k == KindLayout {
		return FromLayout(path, ref, opts)
	}
	return FromTarball(path, ref, opts)
}

// compressions are the magic numbers of compressed files someone may hand plumb instead of
// the tar inside.
var compressions = []struct {
	magic []byte
	name  string
	undo  string
}{
	{[]byte{0x1f, 0x8b}, "gzip", "gunzip -k"},
	{[]byte{0x28, 0xb5, 0x2f, 0xfd}, "zstd", "zstd -d"},
	{[]byte{0xfd, '7', 'z', 'X', 'Z', 0}, "xz", "unxz -k"},
	{[]byte("BZh"), "bzip2", "bunzip2 -k"},
}

// sniffFile finds what a regular file is by its first bytes and the names at the top of the
// tar it should be.
func sniffFile(p string) (Kind, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	if fi.IsDir() {
		return "", fmt.Errorf("%s is a directory; a docker save archive is a file", p)
	}
	head := make([]byte, 512)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return "", err
	}
	head = head[:n]
	for _, c := range compressions {
		if bytes.HasPrefix(head, c.magic) {
			return "", fmt.Errorf("%s is %s-compressed; plumb reads the tar inside: decompress it first (%s %s)", p, c.name, c.undo, p)
		}
	}
	if n < 512 || !bytes.HasPrefix(head[257:], []byte("ustar")) {
		return "", fmt.Errorf("%s is neither a tar archive (docker save) nor an OCI image layout directory", p)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	var docker, oci bool
	tr := tar.NewReader(f) // Next skips each file's body by seeking.
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", fmt.Errorf("%s: reading the tar archive: %w", p, err)
		}
		switch path.Clean(strings.TrimPrefix(h.Name, "./")) {
		case "manifest.json":
			docker = true
		case "index.json", "oci-layout":
			oci = true
		}
		if docker {
			break
		}
	}
	switch {
	case docker:
		return KindDockerArchive, nil
	case oci:
		return "", fmt.Errorf("%s is an OCI image layout in a tar archive (an oci-archive), not a docker save archive; unpack it and import the directory: mkdir DIR && tar -xf %s -C DIR", p, p)
	}
	return "", fmt.Errorf("%s is a tar archive but not a docker save archive (no manifest.json); a root file system tarball is a layer: plumb layer import", p)
}
