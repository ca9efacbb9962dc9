package plan

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"plumb/actions"
	"plumb/plan/image"
)

// ImageKind is an image's (image pull, image import).
var ImageKind = Register(imageKind{})

type imageKind struct{ FactsCodec[ImageFacts] }

func (imageKind) Name() string      { return "image" }
func (imageKind) FactsVersion() int { return 1 }

// ImageFacts are an image's (image pull, image import): what it runs and
// the layers it is made of, base first.
type ImageFacts struct {
	ID       string          `json:"id"`     // the config's digest, Docker's image ID
	Digest   string          `json:"digest"` // the manifest's; "" from a docker save tarball
	Refs     []string        `json:"refs"`   // the names it was pulled or imported as
	From     string          `json:"from"`   // where it was read: a reference or a file
	Platform string          `json:"platform"`
	Config   image.Config    `json:"config"`
	Layers   []ImageLayerRef `json:"layers"`
	Links    []string        `json:"links"` // each layer's short link, base first
}

// ImageLayerRef is one layer as its image lists it.
type ImageLayerRef struct {
	DiffID  string `json:"diff_id"`
	ChainID string `json:"chain_id"`
	Size    int64  `json:"size,omitempty"`
}

// Kind is ImageKind.
func (ImageFacts) Kind() Kind { return ImageKind }

func (imageKind) DecodeDetails(d *DetailsReader) Facts {
	f := ImageFacts{ID: d.S("id"), Digest: d.S("digest"), From: d.S("from"), Platform: d.S("platform")}
	d.JSON("refs", &f.Refs)
	d.JSON("config", &f.Config)
	d.JSON("layers", &f.Layers)
	d.JSON("links", &f.Links)
	if len(f.Links) != len(f.Layers) {
		d.Bad("links")
	}
	return f
}

// DecodeFacts reads an image's facts, whose links match its layers.
func (k imageKind) DecodeFacts(data json.RawMessage) (Facts, error) {
	f, err := k.FactsCodec.DecodeFacts(data)
	if err != nil {
		return nil, err
	}
	if i := f.(ImageFacts); len(i.Links) != len(i.Layers) {
		return nil, fmt.Errorf("%d links for %d layers", len(i.Links), len(i.Layers))
	}
	return f, nil
}

// BeforeDown refuses: an image is removed with its layers, by image rm
// (opts.WithLayers).
func (imageKind) BeforeDown(_ Env, rec *Record, opts DownOptions, _ bool) ([]*Record, error) {
	if opts.WithLayers {
		return nil, nil
	}
	f, err := rec.Image()
	if err != nil {
		return nil, err
	}
	return nil, &Refused{Msg: fmt.Sprintf("an image is removed with `plumb image rm %s`, which also deletes the layers no other image has", actions.ShortDigest(f.ID))}
}

// ImageLayerKind is one unpacked layer's, shared by every image that has it.
var ImageLayerKind = Register(imageLayerKind{})

type imageLayerKind struct{ FactsCodec[ImageLayerFacts] }

func (imageLayerKind) Name() string      { return "imagelayer" }
func (imageLayerKind) FactsVersion() int { return 1 }

// ImageLayerFacts are one unpacked layer's, shared by every image that has
// it (the same chain ID).
type ImageLayerFacts struct {
	ChainID string `json:"chain_id"`
	DiffID  string `json:"diff_id"`
	Parent  string `json:"parent"` // the chain ID of the layer below; "" for a base
	Dir     string `json:"dir"`
	Link    string `json:"link"` // its short name under image/l
	Size    int64  `json:"size"` // the blob's size as its source kept it; 0 when not known
}

// Kind is ImageLayerKind.
func (ImageLayerFacts) Kind() Kind { return ImageLayerKind }

func (imageLayerKind) DecodeDetails(d *DetailsReader) Facts {
	return ImageLayerFacts{ChainID: d.S("chain_id"), DiffID: d.S("diff_id"), Parent: d.S("parent"),
		Dir: d.S("dir"), Link: d.S("link"), Size: d.Int64("size")}
}

// Dependents are the images that list the layer, then the containers
// whose root has it.
func (imageLayerKind) Dependents(st *Store, _ *Record, f Facts) []*Record {
	l, ok := f.(ImageLayerFacts)
	if !ok {
		return nil
	}
	imgs, _ := Images(st)
	var out []*Record
	for _, r := range imgs {
		if i, err := r.Image(); err == nil && slices.ContainsFunc(i.Layers, func(x ImageLayerRef) bool { return x.ChainID == l.ChainID }) {
			out = append(out, r)
		}
	}
	return append(out, rootUsers(st, l.Link, l.Dir)...)
}

// Under is the layer this one rests on, its parent: none for a base.
func (imageLayerKind) Under(f Facts) (string, bool) {
	l, ok := f.(ImageLayerFacts)
	if !ok || l.Parent == "" {
		return "", false
	}
	return ImageLayerKind.Name() + "/" + HexOf(l.Parent), true
}

// BeforeDown refuses a layer an image lists or a container runs on, but
// for those removed with it.
func (k imageLayerKind) BeforeDown(env Env, rec *Record, opts DownOptions, _ bool) ([]*Record, error) {
	f, err := rec.Facts()
	if err != nil {
		return nil, err
	}
	deps := opts.notRemoved(k.Dependents(env.St, rec, f))
	if len(deps) == 0 {
		return nil, nil
	}
	var users []string
	for _, d := range deps {
		if i, err := d.Image(); err == nil {
			users = append(users, i.Name())
		} else {
			users = append(users, d.ID())
		}
	}
	return nil, &Refused{Msg: fmt.Sprintf("%s is a layer of %s; remove them first (plumb image rm, plumb stop)", rec.ID(), strings.Join(users, ", "))}
}

// Images are the images plumb keeps, as their records say, by name.
func Images(st *Store) ([]*Record, error) {
	recs, errs := st.Headers()
	return OfKind(recs, ImageKind), errors.Join(errs...)
}

// NameOf is the name of f that a user's name for it is (in full, as kept),
// or "" when name is its ID or a prefix of it.
func (f ImageFacts) NameOf(name string) string {
	want := name
	if r, err := image.ParseRef(name); err == nil {
		want = r.String()
	}
	for _, ref := range f.Refs {
		if ref == want || ref == name {
			return ref
		}
	}
	return ""
}

// ImageUsers are the containers and overlays whose root has layer (its
// directory or short link) among its lower directories.
func ImageUsers(st *Store, layers ...ImageLayerFacts) []string {
	var dirs []string
	for _, l := range layers {
		dirs = append(dirs, l.Link, l.Dir)
	}
	return recordIDs(rootUsers(st, dirs...))
}

// rootUsers are the objects with an overlay (a container's root, an
// overlay mounted on layers plumb keeps) that has any of dirs among its
// lower directories: deleting one would pull the files from under them.
// A container's root file system is named by its container, which takes
// it along when removed.
func rootUsers(st *Store, dirs ...string) []*Record {
	recs, _ := st.Headers()
	var users []*Record
	for _, r := range recs {
		if o, ok := r.Overlay(); ok && slices.ContainsFunc(strings.Split(o.LowerDir, ":"), func(l string) bool { return slices.Contains(dirs, l) }) {
			if holders, err := DependentsOf(st, r); err == nil && IsHeld(r) && len(holders) > 0 {
				users = append(users, holders...)
				continue
			}
			users = append(users, r)
		}
	}
	return users
}

// Name is the image as `docker images` names it: its first name, shortened
// as Docker shortens it, or its short ID when it has none.
func (f ImageFacts) Name() string {
	if len(f.Refs) > 0 {
		if r, err := image.ParseRef(f.Refs[0]); err == nil {
			return r.Familiar()
		}
		return f.Refs[0]
	}
	return "image " + actions.ShortDigest(f.ID)
}

// RootLayers are the directories an image's container mounts as its lower
// layers, topmost first: their short links.
func (f ImageFacts) RootLayers() []string {
	out := make([]string, len(f.Links))
	for i, l := range f.Links {
		out[len(f.Links)-1-i] = l
	}
	return out
}
