package image

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	pathpkg "path"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// FromTarball reads an image from a `docker save` archive: the classic format (manifest.json,
// <id>/layer.tar) and Docker 25's OCI-style one (manifest.json beside blobs/sha256/...), with
// layers plain or compressed. tag picks an image by one of its RepoTags, compared as full
// names ("busybox" is index.docker.io/library/busybox:latest); "" takes the archive's only
// image. The archive must not itself be compressed (`docker save | gzip`): decompress it first.
//
// Describing the image reads manifest.json and the config; each layer is found in the
// archive when it is read. Image.Digest is "" (a save keeps no registry manifest); a
// layer's Digest, Size and MediaType are those Docker 25 records (LayerSources), else empty.
func FromTarball(path, tag string, opts Options) (*Image, error) {
	// What the file is not is said naming it, once.
	if _, err := sniffFile(path); err != nil {
		return nil, err
	}
	img, err := fromTarball(path, tag, opts.Platform.orHost())
	if err != nil {
		return nil, fmt.Errorf("reading docker save archive %s: %w", path, err)
	}
	return img, nil
}

func fromTarball(path, tag string, want Platform) (*Image, error) {
	idx, err := indexArchive(path)
	if err != nil {
		return nil, err
	}
	var mf tarball.Manifest
	if err := idx.json("manifest.json", &mf); err != nil {
		return nil, fmt.Errorf("reading manifest.json: %w", err)
	}
	var (
		desc *tarball.Descriptor
		ref  string
	)
	if tag != "" {
		t, err := name.NewTag(tag)
		if err != nil {
			return nil, fmt.Errorf("image reference %q: %w", tag, err)
		}
		ref = t.Name()
		desc = findRepoTag(mf, t)
		if desc == nil {
			return nil, fmt.Errorf("%w: no image tagged %s in the archive; it has %s", ErrNotFound, tag, archiveTags(mf))
		}
	} else {
		switch len(mf) {
		case 0:
			return nil, fmt.Errorf("%w: manifest.json lists no image", ErrNotFound)
		case 1:
			desc = &mf[0]
		default:
			return nil, fmt.Errorf("the archive holds %d images (%s): name one", len(mf), archiveTags(mf))
		}
		if len(desc.RepoTags) == 1 {
			if t, err := name.NewTag(desc.RepoTags[0]); err == nil {
				ref = t.Name()
			}
		}
	}
	// The config and each layer are read as files of the archive, one pass over its
	// headers each: tarball.Image peeks at every layer of the archive to learn whether it
	// is compressed, which for an image of 500 layers is 500 passes, for every read.
	raw, err := idx.read(desc.Config, maxConfig)
	if err != nil {
		return nil, fmt.Errorf("reading the image config: %w", err)
	}
	out, diffIDs, err := describeConfig(raw, want, false)
	if err != nil {
		return nil, err
	}
	out.Ref = ref
	if len(desc.Layers) != len(diffIDs) {
		return nil, fmt.Errorf("manifest.json lists %d layers but the config's rootfs.diff_ids %d", len(desc.Layers), len(diffIDs))
	}
	for i, h := range diffIDs {
		l := Layer{DiffID: h.String()}
		if src, ok := desc.LayerSources[h]; ok {
			if err := checkLayerMediaType(i, src.MediaType); err != nil {
				return nil, err
			}
			l.MediaType, l.Digest, l.Size = string(src.MediaType), src.Digest.String(), src.Size
		}
		member := desc.Layers[i]
		af, ok := idx.files[pathpkg.Clean(member)]
		if !ok {
			// Said now, before any plan: not by the step that would read it.
			return nil, fmt.Errorf("%s: layer %d of %d (%s) is missing: the archive has no file %s, which manifest.json names", path, i+1, len(diffIDs), h, member)
		}
		if l.Size == 0 {
			l.Size = af.size // the blob as the archive keeps it
		}
		l.open = func(context.Context) (io.ReadCloser, error) {
			rc, err := idx.open(member)
			if err != nil {
				return nil, err
			}
			return decompress(rc)
		}
		out.Layers = append(out.Layers, l)
	}
	return &out, nil
}

// findRepoTag is the image of mf tagged t, compared as full names, as
// go-containerregistry's tarball.Image compares them.
func findRepoTag(mf tarball.Manifest, t name.Tag) *tarball.Descriptor {
	for i := range mf {
		for _, s := range mf[i].RepoTags {
			if rt, err := name.NewTag(s); err == nil && rt.Name() == t.Name() {
				return &mf[i]
			}
		}
	}
	return nil
}

func archiveTags(mf tarball.Manifest) string {
	var tags []string
	for _, d := range mf {
		if len(d.RepoTags) == 0 {
			tags = append(tags, "(untagged "+strings.TrimSuffix(d.Config, ".json")+")")
		}
		tags = append(tags, d.RepoTags...)
	}
	if len(tags) == 0 {
		return "no tags"
	}
	return strings.Join(tags, ", ")
}

// archiveIndex is where each file of a tar archive is: found in one pass over its headers,
// the contents skipped by seeking. Going through tarball.Image instead peeks at every layer
// of the archive for each one read (an image of 500 layers took seconds a layer).
type archiveIndex struct {
	path  string
	files map[string]archiveFile
}

type archiveFile struct{ offset, size int64 }

func indexArchive(path string) (*archiveIndex, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	idx := &archiveIndex{path: path, files: map[string]archiveFile{}}
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return idx, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		// archive/tar reads a header block by block and leaves the file at the start of
		// the entry's contents.
		off, err := f.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil, err
		}
		idx.files[pathpkg.Clean(hdr.Name)] = archiveFile{off, hdr.Size}
	}
}

func (idx *archiveIndex) open(name string) (io.ReadCloser, error) {
	af, ok := idx.files[pathpkg.Clean(name)]
	if !ok {
		return nil, fmt.Errorf("%s: the archive has no file %s, which manifest.json names", idx.path, name)
	}
	f, err := os.Open(idx.path)
	if err != nil {
		return nil, err
	}
	return readCloser{io.NewSectionReader(f, af.offset, af.size), f.Close}, nil
}

// read is a small file of the archive, whole: at most max bytes.
func (idx *archiveIndex) read(name string, max int64) ([]byte, error) {
	rc, err := idx.open(name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, max+1))
	if err == nil && int64(len(b)) > max {
		err = fmt.Errorf("%s is over %d bytes", name, max)
	}
	return b, err
}

func (idx *archiveIndex) json(name string, v any) error {
	b, err := idx.read(name, maxConfig)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// maxConfig bounds manifest.json and an image config read from an archive: Docker's are a
// few kB.
const maxConfig = 8 << 20
