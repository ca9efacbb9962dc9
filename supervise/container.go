// Package supervise is `plumb run` below its flags: the container asked
// for, merged with its image's config as docker run merges them, and the
// supervision of a foreground container (waiting, passing signals on,
// tearing down when it ends). The container's first process is behind a
// small interface, Process: the start script today, an OCI runtime next.
package supervise

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"

	"plumb/plan"
)

// Input is what `plumb run` is asked for, as typed values.
type Input struct {
	Name string
	// Image is an image plumb keeps; Layers, instead, are read-only layers,
	// topmost first: names from `plumb layer import`, or directories.
	Image  string
	Layers []string
	// Bridge is the network to attach to; "" is loopback only.
	Bridge   string
	IP       netip.Addr
	Publish  []plan.Port
	Hostname string
	// Detach starts it in the background; otherwise plumb supervises it.
	Detach bool
	// Cmd replaces the image's Cmd (its Entrypoint stays).
	Cmd []string

	Privileged  bool
	CapAdd      []string
	CapDrop     []string
	SecurityOpt []string
	SUID        bool

	// Env is KEY=VALUE, or KEY alone to remove KEY (see plan.Environment),
	// with plumb's own values already taken (docker run -e KEY).
	Env        []string
	WorkDir    string
	User       string
	ResolvConf string
}

// Container is the container recipe of in: its layers (an image's, or
// those given, resolved in st), what it runs and with what, the image's
// config merged with in's as docker run merges them.
func Container(st *plan.Store, in Input) (*plan.Container, error) {
	ct := &plan.Container{Name: in.Name, IP: in.IP, Hostname: in.Hostname, Cmd: in.Cmd, Attach: !in.Detach,
		Privileged: in.Privileged, CapAdd: in.CapAdd, CapDrop: in.CapDrop, SecurityOpt: in.SecurityOpt, SUID: in.SUID,
		Env: in.Env, WorkDir: in.WorkDir, User: in.User, ResolvConf: in.ResolvConf, Publish: in.Publish, Bridge: in.Bridge}
	for _, l := range in.Layers {
		ct.Layers = append(ct.Layers, layerDir(st, l))
	}
	switch {
	case in.Image != "" && len(in.Layers) > 0:
		return nil, &plan.Refused{Flag: "layer", Msg: "give --image or --layer, not both"}
	case in.Image == "" && len(in.Layers) == 0:
		return nil, &plan.Refused{Flag: "image", Msg: "give the root: --image REF (from 'plumb image pull' or 'import') or --layer DIR"}
	case in.Image != "":
		if err := fromImage(st, ct, in.Image); err != nil {
			return nil, err
		}
	}
	return ct, nil
}

// layerDir resolves a layer: a name from `layer import`, or a path.
func layerDir(st *plan.Store, v string) string {
	if strings.Contains(v, "/") {
		abs, _ := filepath.Abs(v)
		return abs
	}
	return st.Layer(v)
}

// fromImage gives the container an image's layers (their short links,
// topmost first) and what its config says to run it with.
func fromImage(st *plan.Store, ct *plan.Container, ref string) error {
	_, f, err := plan.FindImage(st, ref)
	if err != nil {
		var r *plan.Refused
		if errors.As(err, &r) {
			r.Flag = "image"
		}
		return err
	}
	ct.Layers = f.RootLayers()
	ct.Image, ct.ImageID = f.Name(), f.ID
	if f.Config.Command(ct.Cmd) == nil {
		return &plan.Refused{Flag: "image", Msg: fmt.Sprintf("%s has no Entrypoint or Cmd: give the command after --", ref)}
	}
	return ct.FromImage(f.Config)
}
