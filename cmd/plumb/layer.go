package main

import (
	"fmt"

	"github.com/rs/zerolog"

	"plumb/actions"
	"plumb/plan"
	"plumb/rootfs"
)

// LayerCmd groups the layer commands.
type LayerCmd struct {
	Import LayerImportCmd `cmd:"" help:"Unpack a root file system tarball as a layer that 'plumb run --layer' can name."`
	Unpack LayerUnpackCmd `cmd:"" help:"Unpack one layer of an image into one new directory (the step 'plumb image pull' and 'import' run for each layer)."`
}

// LayerImportCmd is `plumb layer import`.
type LayerImportCmd struct {
	File   pathFlag `arg:"" help:"A root file system as FILE.tar or FILE.tar.gz."`
	Name   string   `name:"name" required:"" help:"The layer's name."`
	DryRun bool     `name:"dry-run" help:"Print the plan and change nothing."`
	Output string   `name:"output" short:"o" enum:"text,json,sh" default:"text" help:"${plan_output_help}"`
	// MaxEntries is --max-layer-entries, as image pull and import take it.
	MaxEntries int `name:"max-layer-entries" default:"1000000" placeholder:"N" help:"Most files, directories and links the tarball may hold (each takes an inode)."`
}

// Run unpacks the tarball under ROOT/layers/NAME.
func (c *LayerImportCmd) Run(d *deps) error {
	c.DryRun = printsOnly(c.DryRun, c.Output)
	return upSay(d, &rootfs.Layer{Name: c.Name, File: string(c.File), MaxEntries: c.MaxEntries}, c.DryRun, c.Output, func(p *plan.Plan) string {
		return fmt.Sprintf("layer %s is %s", c.Name, p.Facts.(plan.LayerFacts).Dir)
	})
}

// LayerUnpackCmd is `plumb layer unpack`: one step of an image's pull or
// import, which a person can also type. It takes no lock and keeps no
// journal: the plan that runs it does both.
type LayerUnpackCmd struct {
	Pull     string     `name:"pull" placeholder:"REPO@sha256:DIGEST" help:"The image in a registry, by its manifest's digest."`
	Insecure bool       `name:"insecure" help:"With --pull: plain http to a registry that is not on this machine."`
	Import   pathFlag   `name:"import" placeholder:"PATH" help:"A docker save tarball or an OCI image layout directory."`
	Name     string     `name:"name" placeholder:"REF" help:"With --import: which image of the file (its tag); none for its only image."`
	DiffID   string     `name:"diff-id" required:"" placeholder:"sha256:HEX" help:"The layer, by its uncompressed digest (the config's rootfs.diff_ids): what the unpacked stream must hash to."`
	Lower    []pathFlag `name:"lower" placeholder:"DIR" help:"The layers below, topmost first: a directory this layer implies takes their attributes. Repeat it."`
	Staged   pathFlag   `name:"staged" placeholder:"DIR" help:"Where a pull or import unpacked and checked the layer already, before taking the lock (ROOT/image/staging/stage-*/CHAIN): it is renamed to DIR, nothing is read."`
	Dir      pathFlag   `arg:"" help:"The layer's directory; it must not exist. The layer is unpacked into DIR.partial, renamed to DIR once its digest checked out."`
	limitFlags
}

func (c *LayerUnpackCmd) Help() string {
	return `Reads the layer from its image's source, turns its whiteouts (.wh.NAME) and opaque
markers (.wh..wh..opq) into overlayfs' own (a 0/0 character device, the
trusted.overlay.opaque xattr), refuses any entry that would write outside DIR, and
checks the stream's sha256 against --diff-id. On any error nothing is left.`
}

// Run unpacks the layer.
func (c *LayerUnpackCmd) Run(d *deps) error {
	src := actions.LayerSource{Pull: c.Pull, Insecure: c.Insecure, Import: string(c.Import), Name: c.Name}
	var lower []string
	for _, l := range c.Lower {
		lower = append(lower, string(l))
	}
	res, err := rootfs.UnpackLayer(d.ctx, src, c.DiffID, string(c.Dir), lower, string(c.Staged), c.limitFlags.limits())
	if err != nil {
		return err
	}
	if c.Staged != "" {
		zerolog.Ctx(d.ctx).Info().Msgf("moved %s into place as %s", c.Staged, c.Dir)
		return nil
	}
	zerolog.Ctx(d.ctx).Info().Msgf("unpacked %d entries (%d bytes of files, %d whiteouts, %d opaque directories) into %s; its digest is %s", res.Entries, res.Size, res.Whiteouts, res.Opaque, c.Dir, res.Digest)
	return nil
}
