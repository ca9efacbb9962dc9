package image

import (
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/match"
	"github.com/google/go-containerregistry/pkg/v1/partial"
)

// maxIndexDepth bounds indexes nested in indexes, so a cycle of them ends.
const maxIndexDepth = 8

// fromIndex picks the image for want from an index (a registry's manifest list or OCI image
// index, or an OCI layout's index.json), following nested indexes. Of the children whose
// platform can run where want is asked for, the best ranked wins (an exact variant before an
// older one), the first listed on a tie, as containerd chooses.
//
// This is go-containerregistry's remote.WithPlatform and partial.FindImages(match.Platforms)
// made to agree: remote takes the first exact match and counts a child without a platform as
// linux/amd64; match.Platforms wants every field equal (a linux/arm64 ask misses a
// linux/arm64/v8 child) and skips children without a platform; FindImages does not descend
// into nested indexes. Here a child without a platform is a candidate only when it is the
// index's only image (a layout holding one image usually writes no platform for it); its
// config is then checked like a lone manifest's.
func fromIndex(idx v1.ImageIndex, want Platform, depth int) (img v1.Image, checked bool, err error) {
	if depth > maxIndexDepth {
		return nil, false, fmt.Errorf("indexes nested more than %d deep", maxIndexDepth)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, false, fmt.Errorf("reading the index: %w", err)
	}
	d, checked, err := choose(im.Manifests, want)
	if err != nil {
		return nil, false, err
	}
	img, inner, err := open(idx, d, want, depth)
	return img, checked || inner, err
}

// choose picks from descs the image or index for want (see fromIndex). checked says whether
// it was chosen by its platform.
func choose(descs []v1.Descriptor, want Platform) (d v1.Descriptor, checked bool, err error) {
	var (
		best     *v1.Descriptor
		bestRank int
		seen     []string
		lone     []v1.Descriptor
	)
	for i := range descs {
		d := &descs[i]
		if !d.MediaType.IsImage() && !d.MediaType.IsIndex() {
			continue // artifacts, signatures, ...
		}
		if d.Platform == nil {
			lone = append(lone, *d)
			continue
		}
		seen = append(seen, platformString(*d.Platform))
		r, ok := rank(*d.Platform, want)
		if ok && (best == nil || r < bestRank) {
			best, bestRank = d, r
		}
	}
	switch {
	case best != nil:
		return *best, true, nil
	case len(lone) == 1 && len(seen) == 0:
		return lone[0], false, nil
	case len(lone) > 1 && len(seen) == 0:
		return v1.Descriptor{}, false, fmt.Errorf("%d images, none saying its platform: cannot tell which is for %s", len(lone), want.describe())
	case len(seen) == 0:
		return v1.Descriptor{}, false, fmt.Errorf("%w: no image manifest in the index", ErrNotFound)
	}
	list := strings.Join(seen, ", ")
	if len(seen) > 12 {
		list = strings.Join(seen[:10], ", ") + fmt.Sprintf(" and %d more", len(seen)-10)
	}
	return v1.Descriptor{}, false, fmt.Errorf("%w: no image for %s in the index; it has %s", ErrNotFound, want.describe(), list)
}

// open opens the image or index a descriptor of idx points to, resolving an index for want.
// checked says whether an index chose it by platform.
func open(idx v1.ImageIndex, d v1.Descriptor, want Platform, depth int) (v1.Image, bool, error) {
	if d.MediaType.IsIndex() {
		child, err := idx.ImageIndex(d.Digest)
		if err != nil {
			return nil, false, fmt.Errorf("reading index %s: %w", d.Digest, err)
		}
		if err := sameDigest(child, d.Digest); err != nil {
			return nil, false, err
		}
		return fromIndex(child, want, depth+1)
	}
	imgs, err := partial.FindImages(idx, match.Digests(d.Digest))
	if err != nil {
		return nil, false, fmt.Errorf("reading image %s: %w", d.Digest, err)
	}
	if len(imgs) == 0 {
		return nil, false, fmt.Errorf("image %s: media type %s is not an image manifest", d.Digest, d.MediaType)
	}
	if err := sameDigest(imgs[0], d.Digest); err != nil {
		return nil, false, err
	}
	return imgs[0], false, nil
}

// sameDigest checks that what was read is what its descriptor names: a layout's blobs are
// files anyone could have changed. (A registry's are checked by go-containerregistry.)
func sameDigest(x interface{ Digest() (v1.Hash, error) }, want v1.Hash) error {
	got, err := x.Digest()
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("manifest %s has digest %s: the blob does not match its name", want, got)
	}
	return nil
}

func platformString(p v1.Platform) string {
	return Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant}.String()
}
