// Package image reads container images from where they are kept: a registry (`plumb image
// pull`), a `docker save` tarball or an OCI image layout directory (`plumb image import`).
// It describes an image in plumb's own types (Image, Config, Layer), so that nothing else in
// plumb imports go-containerregistry, the library it reads with.
//
// Reading an image here fetches its manifest and config only. Layers are read when asked
// for, one stream each (Layer.Uncompressed), by whoever unpacks them; that is a plan's step,
// this is reading, and may happen before the plan is made.
//
// Layers are listed base first, as the manifest and rootfs.diff_ids list them. overlayfs'
// lowerdir= lists the topmost layer first, so an image of layers L0..Ln-1 mounts as
// lowerdir=Ln-1:...:L0.
package image

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Image is what plumb knows of an image before unpacking it.
type Image struct {
	// Ref is the image's name when one is known: the reference pulled, or the name a file
	// records (a docker save tag, an OCI layout's io.containerd.image.name annotation), in
	// full (index.docker.io/library/busybox:latest). "" when the file names none.
	Ref string
	// Digest is the manifest's digest ("sha256:..."), what `docker pull NAME@DIGEST` takes.
	// "" for a docker save tarball: it keeps the config and layers but no registry manifest.
	Digest string
	// ID is the config's digest, Docker's image ID (`docker images --no-trunc`): the same
	// whatever the source and however its layers are compressed, as long as the config is
	// kept as it was (a tool converting Docker's types to OCI's rewrites it).
	ID string
	// Platform is what the config says the image runs on ("linux/amd64"); "" when it says
	// nothing.
	Platform string
	Config   Config
	// Layers base first (manifest order); one per rootfs.diff_ids entry.
	Layers []Layer
}

// Layer is the layer of img whose DiffID is diffID, for reading one layer of an image found
// again (by its Digest, or by its ID for a tarball) when a plan's step runs.
func (img *Image) Layer(diffID string) (Layer, bool) {
	for _, l := range img.Layers {
		if l.DiffID == diffID {
			return l, true
		}
	}
	return Layer{}, false
}

// Config is the part of an image's config that says how to run it.
type Config struct {
	Env        []string // "KEY=value", in the image's order
	Cmd        []string
	Entrypoint []string
	WorkingDir string
	User       string
	// ExposedPorts sorted, as "80/tcp".
	ExposedPorts []string
}

// Command is what a container of this image runs, as `docker run IMAGE [ARG...]` decides:
// the Entrypoint followed by the arguments given, or by Cmd when none are given. An image
// without an Entrypoint runs its Cmd or the arguments given. A shell-form ENTRYPOINT or CMD
// is already ["/bin/sh", "-c", "..."] in the config, so concatenating is the whole rule
// (https://docs.docker.com/reference/dockerfile/#understand-how-cmd-and-entrypoint-interact).
// Nil means there is nothing to run: Docker refuses with "no command specified".
func (c Config) Command(override []string) []string {
	args := c.Cmd
	if len(override) > 0 {
		args = override
	}
	if len(c.Entrypoint)+len(args) == 0 {
		return nil
	}
	return append(slices.Clone(c.Entrypoint), args...)
}

// Layer is one layer of an image.
type Layer struct {
	// DiffID is the digest of the uncompressed tar stream ("sha256:..."), the config's
	// rootfs.diff_ids entry: the name of the layer's content whatever its compression.
	DiffID string
	// Digest is the digest of the blob as the source keeps it (compressed, usually), "" when
	// the source does not record it (a docker save tarball from Docker before 25).
	Digest string
	// Size is the blob's size in bytes as the source keeps it (for a docker save archive,
	// the size of its file in the archive).
	Size int64
	// MediaType as the manifest declares it: a tar, tar+gzip or tar+zstd layer, Docker's or
	// OCI's. "" when the source does not declare one (a docker save tarball from Docker before
	// 25); the stream's compression is then found from its first bytes.
	MediaType string

	open func(ctx context.Context) (io.ReadCloser, error)
}

// Uncompressed opens the layer's tar stream, decompressed (gzip or zstd, found from the
// stream's first bytes, as go-containerregistry's Layer.Uncompressed does). Reading stops
// with ctx's error once ctx is done.
//
// A registry's blob is checked against Digest when it has been read to its end; blobs read
// from files are not checked. Nothing here checks the tar stream against DiffID: the caller
// hashes what it reads and compares it with DiffID (see image-layers.md, Digests).
func (l Layer) Uncompressed(ctx context.Context) (io.ReadCloser, error) {
	if l.open == nil {
		return nil, fmt.Errorf("layer %s: no source to read it from", l.DiffID)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rc, err := l.open(ctx)
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", l.DiffID, err)
	}
	return newCtxReader(ctx, rc), nil
}

// ctxReader ends reads with ctx's error once ctx is done. A read blocked on the network ends
// by itself then: a registry's blob is fetched on ctx. (Closing the stream from another
// goroutine instead would race with a read inside the decompressor.)
type ctxReader struct {
	ctx context.Context
	rc  io.ReadCloser
}

func newCtxReader(ctx context.Context, rc io.ReadCloser) *ctxReader {
	return &ctxReader{ctx: ctx, rc: rc}
}

func (r *ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := r.rc.Read(p)
	if err != nil && r.ctx.Err() != nil {
		return n, r.ctx.Err()
	}
	return n, err
}

func (r *ctxReader) Close() error { return r.rc.Close() }

// ErrNotFound is wrapped by the errors of every source when the image asked for is not there:
// no such tag or digest in the registry, no such tag in a tarball or layout, no image for this
// machine's platform in an index.
var ErrNotFound = errors.New("image not found")

// layerMediaTypes are the layer media types plumb unpacks: tar, gzip and zstd, Docker's and
// OCI's, the ones go-containerregistry decompresses.
var layerMediaTypes = []types.MediaType{
	types.DockerLayer, types.DockerUncompressedLayer,
	types.OCILayer, types.OCILayerZStd, types.OCIUncompressedLayer,
}

// checkLayerMediaType refuses a layer plumb cannot unpack: a foreign or non-distributable
// layer (its blob lives elsewhere, under another licence: Windows base layers), or anything
// that is not a tar (an artifact, an encrypted layer, a helm chart).
func checkLayerMediaType(i int, mt types.MediaType) error {
	if mt == "" || slices.Contains(layerMediaTypes, mt) {
		return nil
	}
	if !mt.IsDistributable() {
		return fmt.Errorf("layer %d is a foreign (non-distributable) layer (%s): its blob is kept outside the image, licensed separately, and plumb does not fetch it", i, mt)
	}
	return fmt.Errorf("layer %d has media type %q, not a tar layer (plain, gzip or zstd) plumb can unpack", i, mt)
}

// digestOf is "sha256:<hex>" of b.
func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// describeConfig turns a raw config into the fields of Image that come from it (ID, Platform,
// Config), checks it is an image config with at least one layer, and returns its diff_ids.
func describeConfig(raw []byte, want Platform, fromIndex bool) (Image, []v1.Hash, error) {
	cf, err := v1.ParseConfigFile(bytes.NewReader(raw))
	if err != nil {
		return Image{}, nil, fmt.Errorf("reading the image config: %w", err)
	}
	img := Image{ID: digestOf(raw), Config: configOf(cf.Config)}
	if cf.OS != "" || cf.Architecture != "" {
		p := Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}
		img.Platform = p.String()
		// An index chose by its own platform field; a lone manifest is checked here, so that
		// an image for another machine is refused now and not with "exec format error" later.
		if !fromIndex && cf.OS != "" && cf.Architecture != "" {
			if _, ok := rank(v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}, want); !ok {
				return Image{}, nil, fmt.Errorf("the image is for %s, not for %s", p, want.describe())
			}
		}
	}
	if len(cf.RootFS.DiffIDs) == 0 {
		return Image{}, nil, errors.New("the image config lists no layers (rootfs.diff_ids is empty)")
	}
	return img, cf.RootFS.DiffIDs, nil
}

func configOf(c v1.Config) Config {
	out := Config{
		Env:        slices.Clone(c.Env),
		Cmd:        slices.Clone(c.Cmd),
		Entrypoint: slices.Clone(c.Entrypoint),
		WorkingDir: c.WorkingDir,
		User:       c.User,
	}
	for p := range c.ExposedPorts {
		out.ExposedPorts = append(out.ExposedPorts, p)
	}
	slices.Sort(out.ExposedPorts)
	return out
}

// describeManifest describes an image whose manifest is at hand (registry, layout): layers
// are paired with diff_ids by position, and open(desc) reads one layer's uncompressed stream.
func describeManifest(img v1.Image, want Platform, fromIndex bool, open func(ctx context.Context, desc v1.Descriptor) (io.ReadCloser, error)) (*Image, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("reading the manifest: %w", err)
	}
	if mt := m.Config.MediaType; mt != "" && !mt.IsConfig() {
		return nil, fmt.Errorf("not a container image: its config is %s (an artifact such as a chart, a signature or an SBOM)", mt)
	}
	// The config is read whole: a descriptor saying more than Docker's
	// configs ever hold is refused before a byte is read.
	if m.Config.Size > maxConfig {
		return nil, fmt.Errorf("the image config is %d bytes, more than the %d plumb reads", m.Config.Size, maxConfig)
	}
	raw, err := img.RawConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading the image config: %w", err)
	}
	if got := digestOf(raw); m.Config.Digest.String() != got {
		return nil, fmt.Errorf("the image config is %s, not %s as the manifest says", got, m.Config.Digest)
	}
	out, diffIDs, err := describeConfig(raw, want, fromIndex)
	if err != nil {
		return nil, err
	}
	d, err := img.Digest()
	if err != nil {
		return nil, err
	}
	out.Digest = d.String()
	if len(m.Layers) != len(diffIDs) {
		return nil, fmt.Errorf("the manifest lists %d layers but the config's rootfs.diff_ids %d", len(m.Layers), len(diffIDs))
	}
	for i, desc := range m.Layers {
		if err := checkLayerMediaType(i, desc.MediaType); err != nil {
			return nil, err
		}
		out.Layers = append(out.Layers, Layer{
			DiffID:    diffIDs[i].String(),
			Digest:    desc.Digest.String(),
			Size:      desc.Size,
			MediaType: string(desc.MediaType),
			open: func(ctx context.Context) (io.ReadCloser, error) {
				return open(ctx, desc)
			},
		})
	}
	return &out, nil
}
