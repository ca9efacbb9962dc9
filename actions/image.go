package actions

import (
	"context"
	"fmt"
	"os"
	"strings"
)

// LayerSource is where `plumb layer unpack` reads a layer from: the image
// it belongs to, found again the way `plumb image pull` or `plumb image
// import` found it. A registry image is pinned by its manifest digest, so
// the layer read is the one planned for, whatever the tag points to by then.
type LayerSource struct {
	Pull     string `json:"pull,omitempty"`     // REPO@sha256:MANIFEST
	Insecure bool   `json:"insecure,omitempty"` // plain http to a registry not on this machine
	Import   string `json:"import,omitempty"`   // a docker save tarball or OCI layout
	Name     string `json:"name,omitempty"`     // which image of Import; "" for its only one
}

// Flags is the source as `plumb layer unpack` takes it.
func (s LayerSource) Flags() []string {
	var f []string
	if s.Pull != "" {
		f = append(f, "--pull", s.Pull)
		if s.Insecure {
			f = append(f, "--insecure")
		}
	} else {
		f = append(f, "--import", s.Import)
		if s.Name != "" {
			f = append(f, "--name", s.Name)
		}
	}
	return f
}

func (s LayerSource) String() string {
	if s.Pull != "" {
		return s.Pull
	}
	return s.Import
}

// UnpackLayer is one layer of an image unpacked into its own directory by
// plumb itself: the layer's tar stream read from its source, its whiteouts
// turned into overlay's, its digest checked against the diff_id, all into
// Dir.partial, renamed to Dir only when everything checked out. GNU tar
// cannot do it (it writes whiteouts as plain files and trusts trusted.*
// xattrs), so the command a person types is plumb's own.
//
// Lower are the directories (short links) of the layers below, topmost
// first: a directory the layer implies takes their attributes. The command
// waits for them when the layers of an image are unpacked side by side.
type UnpackLayer struct {
	Source LayerSource `json:"source"`
	DiffID string      `json:"diff_id"`
	Dir    string      `json:"dir"`
	Lower  []string    `json:"lower,omitempty"`
	// Of says which layer of the image this is ("3 of 5"), for the reason.
	Of string `json:"of,omitempty"`
	// Staged is where the layer was unpacked and checked already, before
	// the plan was made and without the state directory's lock (a pull
	// or import does that first): the step renames it to Dir.
	Staged string `json:"staged,omitempty"`
}

func (a UnpackLayer) Kind() string { return "unpack_layer" }
func (a UnpackLayer) Argv() []string {
	argv := append([]string{"plumb", "layer", "unpack"}, a.Source.Flags()...)
	argv = append(argv, "--diff-id", a.DiffID)
	if a.Staged != "" {
		argv = append(argv, "--staged", a.Staged)
	}
	for _, l := range a.Lower {
		argv = append(argv, "--lower", l)
	}
	return append(argv, a.Dir)
}
func (a UnpackLayer) Why() string {
	of := ""
	if a.Of != "" {
		of = " (" + a.Of + ")"
	}
	if a.Staged != "" {
		return fmt.Sprintf("move layer %s%s of %s into place, unpacked and its digest checked before the lock was taken", ShortDigest(a.DiffID), of, a.Source)
	}
	return fmt.Sprintf("unpack layer %s%s of %s; its directory appears only once its digest checked out", ShortDigest(a.DiffID), of, a.Source)
}

// Undo deletes the layer and what an interrupted unpack left of it.
func (a UnpackLayer) Undo() Action { return RemoveTree{Path: a.Dir, More: []string{Partial(a.Dir)}} }

// Partial is where a layer is unpacked before it is renamed to dir.
func Partial(dir string) string { return strings.TrimSuffix(dir, "/") + ".partial" }

// ShortDigest is a digest as `docker images` shows an ID: 12 hex digits.
func ShortDigest(digest string) string {
	h := strings.TrimPrefix(digest, "sha256:")
	if len(h) > 12 {
		h = h[:12]
	}
	return h
}

// Symlink makes a symbolic link, as overlay2's short l/ names of layers:
// the target is stored as written (relative, so that the state directory
// can move).
type Symlink struct {
	Target string `json:"target"`
	Link   string `json:"link"`
	// Purpose is the reason, when it says more than the default.
	Purpose string `json:"purpose,omitempty"`
}

func (a Symlink) Kind() string   { return "symlink" }
func (a Symlink) Argv() []string { return []string{"ln", "-s", "--", a.Target, a.Link} }
func (a Symlink) Why() string {
	if a.Purpose != "" {
		return a.Purpose
	}
	return fmt.Sprintf("link %s to %s", a.Link, a.Target)
}
func (a Symlink) Undo() Action { return RemoveFile{Path: a.Link} }

// Clash: the link's name is taken; plumb did not make what is there.
func (a Symlink) Clash(stderr string) bool { return fileExists(stderr) }

// Verify: the link is there and leads where it was made to.
func (a Symlink) Verify(context.Context, Runner) error {
	got, err := os.Readlink(a.Link)
	if err != nil {
		return fmt.Errorf("link %s is missing", a.Link)
	}
	if got != a.Target {
		return fmt.Errorf("link %s leads to %s, not %s", a.Link, got, a.Target)
	}
	return nil
}

// Verify: the layer's directory is there. Its content is not hashed again:
// that would read every file of every layer.
func (a UnpackLayer) Verify(context.Context, Runner) error {
	if fi, err := os.Lstat(a.Dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("layer directory %s is missing", a.Dir)
	}
	return nil
}
