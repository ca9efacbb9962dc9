package image

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// Annotations an OCI layout's index.json names its images by.
const (
	// annotationRefName is the OCI name of a layout's entry: a tag ("latest", what
	// `skopeo copy ... oci:DIR:TAG` writes) or a full name.
	annotationRefName = "org.opencontainers.image.ref.name"
	// annotationImageName is containerd's and Docker 25's full name of an entry
	// ("docker.io/library/busybox:latest").
	annotationImageName = "io.containerd.image.name"
)

// FromLayout reads an image from an OCI image layout directory. ref picks an entry of its
// index.json by name: the OCI ref.name annotation ("latest") or containerd's
// io.containerd.image.name, written as they are or as any name that resolves to the same
// ("busybox" matches docker.io/library/busybox:latest), or by digest ("sha256:..."). ""
// takes the layout's only image. An entry that is an index (a multi-platform image) gives
// this machine's platform; a layout whose index.json lists one image per platform and no
// names is such an index itself.
//
// Blobs are files here: the manifest and config read are checked against their digests;
// layers are not (see Layer.Uncompressed).
func FromLayout(dir, ref string, opts Options) (*Image, error) {
	img, err := fromLayout(dir, ref, opts.Platform.orHost())
	if err != nil {
		return nil, fmt.Errorf("reading OCI layout %s: %w", dir, err)
	}
	return img, nil
}

func fromLayout(dir, ref string, want Platform) (*Image, error) {
	lp, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("not an OCI image layout: %w", err)
	}
	idx, err := lp.ImageIndex()
	if err != nil {
		return nil, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading index.json: %w", err)
	}
	cands := im.Manifests
	if ref != "" {
		cands = nil
		for _, d := range im.Manifests {
			if strings.TrimPrefix(ref, "@") == d.Digest.String() || nameMatches(d.Annotations, ref) {
				cands = append(cands, d)
			}
		}
		if len(cands) == 0 {
			return nil, fmt.Errorf("%w: no image named %s in the layout; it has %s", ErrNotFound, ref, layoutNames(im.Manifests))
		}
	} else if names := layoutNameList(im.Manifests); len(names) > 1 {
		return nil, fmt.Errorf("the layout holds %d images (%s): name one", len(names), strings.Join(names, ", "))
	}
	d, checked, err := choose(cands, want)
	if err != nil {
		return nil, err
	}
	gimg, inner, err := open(idx, d, want, 0)
	if err != nil {
		return nil, err
	}
	out, err := describeManifest(gimg, want, checked || inner, func(_ context.Context, desc v1.Descriptor) (io.ReadCloser, error) {
		l, err := gimg.LayerByDigest(desc.Digest)
		if err != nil {
			return nil, err
		}
		rc, err := l.Compressed()
		if err != nil {
			return nil, err
		}
		return decompress(rc)
	})
	if err != nil {
		return nil, err
	}
	// A blob the manifest names and the layout lacks is said now, before
	// any plan: not by the step that would read it.
	for i, l := range out.Layers {
		alg, hex, _ := strings.Cut(l.Digest, ":")
		p := filepath.Join(dir, "blobs", alg, hex)
		fi, err := os.Stat(p)
		switch {
		case err != nil:
			return nil, fmt.Errorf("%s: layer %d of %d (%s) is missing: no blob %s: %w", dir, i+1, len(out.Layers), l.DiffID, p, err)
		case l.Size > 0 && fi.Size() != l.Size:
			return nil, fmt.Errorf("%s: layer %d of %d (%s): blob %s is %d bytes, the manifest says %d", dir, i+1, len(out.Layers), l.DiffID, p, fi.Size(), l.Size)
		}
	}
	out.Ref = layoutImageName(d.Annotations)
	return out, nil
}

// nameMatches says whether an index.json entry with these annotations is named ref: the
// same text, or the same full name once both are resolved as Docker resolves names.
func nameMatches(ann map[string]string, ref string) bool {
	want, werr := ParseRef(ref)
	for _, k := range []string{annotationRefName, annotationImageName} {
		n := ann[k]
		if n == "" {
			continue
		}
		if n == ref {
			return true
		}
		if got, err := ParseRef(n); werr == nil && err == nil && got == want {
			return true
		}
	}
	return false
}

// layoutImageName is the full name an entry records, when it records one: containerd's
// annotation, or an OCI ref.name that is a name and not only a tag.
func layoutImageName(ann map[string]string) string {
	for _, n := range []string{ann[annotationImageName], ann[annotationRefName]} {
		if !strings.ContainsAny(n, "/:@") {
			continue
		}
		// A name pinning a digest names content: kept only when it is the
		// content read (the caller checks), never as a name to keep.
		if r, err := ParseRef(n); err == nil && r.Digest() == "" {
			return r.String()
		}
	}
	return ""
}

// layoutNameList is the distinct names of a layout's entries, one per entry that has one.
func layoutNameList(ds []v1.Descriptor) []string {
	var names []string
	for _, d := range ds {
		n := d.Annotations[annotationRefName]
		if n == "" {
			n = d.Annotations[annotationImageName]
		}
		if n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}

func layoutNames(ds []v1.Descriptor) string {
	names := layoutNameList(ds)
	if len(names) == 0 {
		return "no names"
	}
	return strings.Join(names, ", ")
}
