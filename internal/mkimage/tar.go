package mkimage

import (
	"archive/tar"
	"bytes"
	"fmt"
	"path"
	"strings"
	"time"
)

// Epoch is the modification time of every entry, and the creation time of every image and
// history entry this package writes: the bytes of a layer and of a config never depend on
// the clock.
var Epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// Entry is one member of a layer's tar.
type Entry struct {
	// Name is the path inside the layer, relative ("bin/busybox"); a directory's ends in "/".
	Name string
	// Type is a tar type flag; 0 is a regular file, or a directory when Name ends in "/".
	Type     byte
	Mode     int64
	Uid, Gid int
	Body     []byte
	// Link is a symlink's target, or the name a hard link points to (which must come earlier
	// in the same layer).
	Link string
}

// Dir is a directory entry.
func Dir(name string, mode int64) Entry {
	return Entry{Name: strings.TrimSuffix(name, "/") + "/", Type: tar.TypeDir, Mode: mode}
}

// File is a regular file entry.
func File(name string, mode int64, body string) Entry {
	return Entry{Name: name, Type: tar.TypeReg, Mode: mode, Body: []byte(body)}
}

// Symlink is a symbolic link entry.
func Symlink(name, target string) Entry {
	return Entry{Name: name, Type: tar.TypeSymlink, Mode: 0o777, Link: target}
}

// Hardlink is a hard link to target, an earlier entry of the same layer.
func Hardlink(name, target string) Entry {
	return Entry{Name: name, Type: tar.TypeLink, Link: target}
}

// Whiteout is the entry that deletes name of the layers below: an empty file named
// .wh.BASE in name's directory, as image builders write it.
func Whiteout(name string) Entry {
	dir, base := path.Split(name)
	return Entry{Name: dir + ".wh." + base, Type: tar.TypeReg, Mode: 0o644}
}

// Owned returns e owned by uid and gid.
func (e Entry) Owned(uid, gid int) Entry {
	e.Uid, e.Gid = uid, gid
	return e
}

// Header is e's tar header: times fixed at Epoch, no user or group names, so that the same
// entries always give the same bytes.
func (e Entry) Header() *tar.Header {
	h := &tar.Header{Name: e.Name, Typeflag: e.Type, Mode: e.Mode, Uid: e.Uid, Gid: e.Gid, Linkname: e.Link, ModTime: Epoch}
	if h.Typeflag == 0 {
		h.Typeflag = tar.TypeReg
		if strings.HasSuffix(e.Name, "/") {
			h.Typeflag = tar.TypeDir
		}
	}
	if h.Typeflag == tar.TypeReg {
		h.Size = int64(len(e.Body))
	}
	return h
}

// Tar is the uncompressed tar stream of entries, in the order given (a caller that wants
// them sorted sorts them: parents before children, hard links after their targets).
func Tar(entries ...Entry) ([]byte, error) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		if err := tw.WriteHeader(e.Header()); err != nil {
			return nil, fmt.Errorf("tar entry %q: %w", e.Name, err)
		}
		if _, err := tw.Write(e.Body); err != nil {
			return nil, fmt.Errorf("tar entry %q: %w", e.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
