package image

import (
	"archive/tar"
	"context"
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
	opener := func() (io.ReadCloser, error) { return os.Open(path) }
	mf, err := tarball.LoadManifest(opener)
	if err != nil {
		return nil, fmt.Errorf("reading manifest.json: %w", err)
	}
	var (
		ntag *name.Tag
		desc *tarball.Descriptor
		ref  string
	)
	if tag != "" {
		t, err := name.NewTag(tag)
		if err != nil {
			return nil, fmt.Errorf("image reference %q: %w", tag, err)
		}
		ntag, ref = &t, t.Name()
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
	img, err := tarball.Image(opener, ntag)
	if err != nil {
		return nil, err
	}
	raw, err := img.RawConfigFile()
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
		l.open = func(context.Context) (io.ReadCloser, error) {
			// The layer's own file, found by one pass over the archive's headers: going
			// through tarball.Image would read every layer of the archive to make a
			// manifest, for each layer read (an image of 500 layers took seconds a layer).
			gl, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return archiveMember(path, member) })
			if err != nil {
				return nil, err
			}
			return gl.Uncompressed()
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

// archiveMember opens the file name of the tar archive at path: the archive is read header
// by header, its files' contents skipped by seeking, up to that file.
func archiveMember(path, name string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			f.Close()
			return nil, fmt.Errorf("%s: the archive has no file %s, which manifest.json names", path, name)
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if hdr.Typeflag == tar.TypeReg && pathpkg.Clean(hdr.Name) == pathpkg.Clean(name) {
			return struct {
				io.Reader
				io.Closer
			}{tr, f}, nil
		}
	}
}
