package view

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"plumb/actions"
	"plumb/plan"
	"plumb/plan/image"
	"plumb/rootfs"
)

// ImageRow is one name of an image as `plumb image ls` lists it.
type ImageRow struct {
	Repository string `json:"repository"`
	Tag        string `json:"tag"`
	ID         string `json:"id"`
	Layers     int    `json:"layers"`
	Size       int64  `json:"size"` // the layers' blobs, as their source kept them
	Since      string `json:"since"`
}

// Images lists st's images, one row per name as docker images does, by
// name; an image whose facts cannot be read is left out and the table's
// Err says why.
func Images(st *plan.Store) Table[ImageRow] {
	recs, err := plan.Images(st)
	t := Table[ImageRow]{Rows: []ImageRow{}, key: "images", header: "REPOSITORY\tTAG\tIMAGE ID\tLAYERS\tSIZE\tSINCE", row: func(w io.Writer, e ImageRow) {
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\n", e.Repository, OrNone(e.Tag), actions.ShortDigest(e.ID), e.Layers, humanSize(e.Size), e.Since)
	}}
	for _, r := range recs {
		f, ferr := r.Image()
		if ferr != nil {
			err = ferr
			continue
		}
		t.Rows = append(t.Rows, imageRows(f, r.Created.Format("2006-01-02T15:04:05Z07:00"))...)
	}
	slices.SortFunc(t.Rows, func(a, b ImageRow) int { return strings.Compare(a.Repository+":"+a.Tag, b.Repository+":"+b.Tag) })
	t.Err = err
	return t
}

// imageRows are f's rows: one per name, one named <none> without.
func imageRows(f plan.ImageFacts, since string) []ImageRow {
	var size int64
	for _, l := range f.Layers {
		size += l.Size
	}
	e := ImageRow{Repository: "<none>", Tag: "<none>", ID: f.ID, Layers: len(f.Layers), Size: size, Since: since}
	if len(f.Refs) == 0 {
		return []ImageRow{e}
	}
	var rows []ImageRow
	for _, ref := range f.Refs {
		e.Repository, e.Tag = ref, ""
		if p, err := image.ParseRef(ref); err == nil {
			e.Repository, _, _ = strings.Cut(p.Familiar(), "@")
			e.Repository = strings.TrimSuffix(e.Repository, ":"+p.Tag())
			e.Tag = p.Tag()
		}
		rows = append(rows, e)
	}
	return rows
}

func humanSize(n int64) string {
	switch {
	case n <= 0:
		return "-"
	case n < 1<<10:
		return fmt.Sprintf("%dB", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1fkB", float64(n)/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1fMB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.1fGB", float64(n)/(1<<30))
}

// ImageConfig is what an image's containers run with, in docker image
// inspect's terms.
type ImageConfig struct {
	Env          []string
	Cmd          []string
	Entrypoint   []string
	WorkingDir   string
	User         string
	ExposedPorts map[string]struct{}
}

// ImageLayer is one of an image's layers and where plumb keeps it.
type ImageLayer struct {
	DiffID  string
	ChainID string
	Size    int64 // the blob's, as its source kept it; 0 when not known
	Dir     string
	Link    string
}

// Image is `plumb image inspect`'s document, in docker image inspect's
// terms where they fit.
type Image struct {
	PlumbFormatVersion int
	ID                 string `json:"Id"`
	RepoTags           []string
	RepoDigests        []string
	From               string
	Platform           string
	Config             ImageConfig
	RootFS             struct {
		Type   string
		Layers []string
	}
	GraphDriver GraphDriver
	Layers      []ImageLayer
	// f is what the text form shows as the facts hold it (the digest,
	// the ports in their order).
	f plan.ImageFacts
}

// InspectImage finds the image ref (a name or an ID) in st and builds its
// document.
func InspectImage(st *plan.Store, ref string) (Image, error) {
	_, f, err := rootfs.FindImage(st, ref)
	if err != nil {
		return Image{}, err
	}
	return imageOf(f), nil
}

// imageOf is the document of the image of facts f.
func imageOf(f plan.ImageFacts) Image {
	v := Image{PlumbFormatVersion: plan.FormatVersion, ID: f.ID, RepoTags: []string{}, RepoDigests: []string{}, From: f.From, Platform: f.Platform,
		Config: ImageConfig{Env: f.Config.Env, Cmd: f.Config.Cmd, Entrypoint: f.Config.Entrypoint, WorkingDir: f.Config.WorkingDir,
			User: f.Config.User, ExposedPorts: map[string]struct{}{}}, f: f}
	for _, r := range f.Refs {
		if p, err := image.ParseRef(r); err == nil {
			v.RepoTags = append(v.RepoTags, p.Familiar())
			if f.Digest != "" {
				v.RepoDigests = append(v.RepoDigests, p.Registry()+"/"+p.Repository()+"@"+f.Digest)
			}
		}
	}
	for _, p := range f.Config.ExposedPorts {
		v.Config.ExposedPorts[p] = struct{}{}
	}
	v.RootFS.Type = "layers"
	var dirs []string
	for i, l := range f.Layers {
		lv := ImageLayer{DiffID: l.DiffID, ChainID: l.ChainID, Size: l.Size, Link: f.Links[i], Dir: plan.ImageLayerOf(f.Links[i], l.ChainID)}
		v.RootFS.Layers = append(v.RootFS.Layers, l.DiffID)
		v.Layers = append(v.Layers, lv)
		dirs = append(dirs, lv.Link)
	}
	slices.Reverse(dirs)
	v.GraphDriver = GraphDriver{Name: "overlay", Data: map[string]string{"LowerDir": strings.Join(dirs, ":")}}
	return v
}

// WriteText writes the image as `plumb image inspect` shows it.
func (v Image) WriteText(w io.Writer) error {
	f := v.f
	fmt.Fprintf(w, "image %s\n", f.ID)
	fmt.Fprintf(w, "names:       %s\n", OrNone(shown(strings.Join(v.RepoTags, ", "))))
	if f.Digest != "" {
		fmt.Fprintf(w, "digest:      %s\n", f.Digest)
	}
	fmt.Fprintf(w, "from:        %s\n", shown(f.From))
	fmt.Fprintf(w, "platform:    %s\n", OrNone(shown(f.Platform)))
	fmt.Fprintf(w, "entrypoint:  %s\n", OrNone(actions.Quote(f.Config.Entrypoint)))
	fmt.Fprintf(w, "cmd:         %s\n", OrNone(actions.Quote(f.Config.Cmd)))
	fmt.Fprintf(w, "workdir:     %s\n", OrNone(shown(f.Config.WorkingDir)))
	fmt.Fprintf(w, "user:        %s\n", OrNone(shown(f.Config.User)))
	fmt.Fprintf(w, "env:         %s\n", OrNone(actions.Quote(f.Config.Env)))
	fmt.Fprintf(w, "ports:       %s\n", OrNone(actions.Quote(f.Config.ExposedPorts)))
	fmt.Fprintf(w, "layers (base first):\n")
	for i, l := range v.Layers {
		fmt.Fprintf(w, "  %3d  %s  %8s  %s -> %s\n", i+1, l.DiffID, humanSize(l.Size), l.Link, l.Dir)
	}
	return nil
}

// shown is s as text output shows it: as it is, or quoted when it holds a
// character that is not printable (an image's config could otherwise redraw
// the terminal, or forge lines of this output).
func shown(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) && r != ' ' }) >= 0 {
		return strconv.Quote(s)
	}
	return s
}
