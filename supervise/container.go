// Package supervise is `plumb run` below its flags: the container asked
// for, merged with its image's config as docker run merges them, and the
// supervision of a foreground container (waiting, passing signals on,
// tearing down when it ends). The container's first process is behind a
// small interface, Process: the start script today, an OCI runtime next.
package supervise

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"plumb/container"
	"plumb/plan"
	"plumb/rootfs"
	"plumb/volume"
)

// Input is what `plumb run` is asked for: the container as its flags
// give it, and its root, an image or layers.
type Input struct {
	// Container is the container as the flags give it (its name, network,
	// command, capabilities, env with plumb's own values taken as docker
	// run -e KEY takes them); Container fills in its layers and merges the
	// image's config.
	Container container.Container
	// Image is an image plumb keeps; Layers, instead, are read-only
	// layers, topmost first: names from `plumb layer import`, or
	// directories.
	Image  string
	Layers []string
	// Entrypoint, when set, replaces the image's Entrypoint (one word, as
	// docker run --entrypoint takes it; "" none) and drops its Cmd: the
	// command after -- is then all the arguments.
	Entrypoint *string
}

// Container is the container recipe of in: its layers (an image's, or
// those given, resolved in st), the image's config merged with the flags'
// as docker run merges them.
func Container(st *plan.Store, in Input) (*container.Container, error) {
	ct := in.Container
	for _, l := range in.Layers {
		ct.Layers = append(ct.Layers, layerDir(st, l))
	}
	switch {
	case in.Image != "" && len(in.Layers) > 0:
		return nil, &plan.Refused{Flag: "layer", Msg: "give --image or --layer, not both"}
	case in.Image == "" && len(in.Layers) == 0:
		return nil, &plan.Refused{Flag: "image", Msg: "give the root: --image REF (from 'plumb image pull' or 'import') or --layer DIR"}
	case in.Image == "" && in.Entrypoint != nil:
		return nil, &plan.Refused{Flag: "entrypoint", Msg: "it replaces an image's Entrypoint; with --layer, give the whole command after --"}
	case in.Image != "":
		if err := fromImage(st, &ct, in.Image, in.Entrypoint); err != nil {
			return nil, err
		}
	}
	return &ct, nil
}

// layerDir resolves a layer: a name from `layer import`, or a path.
func layerDir(st *plan.Store, v string) string {
	if strings.Contains(v, "/") {
		abs, _ := filepath.Abs(v)
		return abs
	}
	return st.LayerDir(v)
}

// fromImage gives the container an image's layers (their short links,
// topmost first) and what its config says to run it with.
func fromImage(st *plan.Store, ct *container.Container, ref string, entrypoint *string) error {
	_, f, err := rootfs.FindImage(st, ref)
	if err != nil {
		var r *plan.Refused
		if errors.As(err, &r) {
			r.Flag = "image"
		}
		return err
	}
	ct.Layers = f.RootLayers()
	ct.Image, ct.ImageID = f.Name(), f.ID
	cfg := f.Config
	if entrypoint != nil {
		cfg.Entrypoint, cfg.Cmd = nil, nil
		if *entrypoint != "" {
			cfg.Entrypoint = []string{*entrypoint}
		}
	}
	if cfg.Command(ct.Cmd) == nil {
		return &plan.Refused{Flag: "image", Msg: fmt.Sprintf("%s has no Entrypoint or Cmd: give the command after --", ref)}
	}
	return ct.FromImage(cfg)
}

// EnvFile reads a file of variables as docker run --env-file does: a
// KEY=VALUE (the value as written, quotes and all) or a KEY alone (which
// -e KEY reads the same way) a line; blank lines and lines starting with #
// are skipped, leading spaces trimmed. A name with a space is refused,
// naming its line.
func EnvFile(name string, data []byte) ([]string, error) {
	var out []string
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimLeft(strings.TrimSuffix(line, "\r"), " \t")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, _, _ := strings.Cut(line, "=")
		if key == "" || strings.ContainsAny(key, " \t") {
			return nil, &plan.Refused{Flag: "env-file", Msg: fmt.Sprintf("%s:%d: %q is not a variable name", name, i+1, key)}
		}
		out = append(out, line)
	}
	return out, nil
}

// MissingVolumes are the named volumes ms mount that plumb does not keep
// yet: docker run makes them, and so does plumb run, first.
func MissingVolumes(st *plan.Store, ms []container.Mount) []*volume.Volume {
	var out []*volume.Volume
	for _, name := range container.Volumes(ms) {
		if _, err := st.LoadHeader(plan.VolumeKind.Name(), name); err != nil {
			out = append(out, &volume.Volume{Name: name})
		}
	}
	return out
}
