package main

import (
	"context"
	"fmt"
	"strings"

	"plumb/actions"
	"plumb/plan"
	"plumb/plan/image"
	"plumb/rootfs"
	"plumb/view"
)

// ImageCmd groups the image commands.
type ImageCmd struct {
	Pull    ImagePullCmd    `cmd:"" help:"Get an image from a registry: each layer plumb does not have unpacked into its own directory."`
	Import  ImageImportCmd  `cmd:"" help:"Get an image from a docker save tarball or an OCI image layout directory."`
	Ls      ImageLsCmd      `cmd:"" help:"List the images plumb keeps."`
	Inspect ImageInspectCmd `cmd:"" help:"Show an image: its config and each layer's diff_id, size and directory."`
	Rm      ImageRmCmd      `cmd:"" help:"Remove an image, and its layers that no other image has."`
}

const imageHelp = `Reads the image's manifest and config, then unpacks each layer plumb does not keep yet
into its own directory under ROOT/image/layers, named by its chain ID (the
diff_ids of it and of the layers below), side by side on the machine's cores: one
'plumb layer unpack' step a layer, journaled with its undo, rolled back if any fails.
A layer another image already has is shared, not unpacked again. Each layer gets a
short name under ROOT/image/l, as Docker's overlay2 does, so that an image of up
to 500 layers mounts.`

// ImagePullCmd is `plumb image pull`.
type ImagePullCmd struct {
	Ref      string `arg:"" name:"ref" help:"[HOST[:PORT]/]REPO[:TAG][@sha256:DIGEST], as docker pull takes it (busybox is docker.io/library/busybox:latest)."`
	Insecure bool   `name:"insecure" help:"Allow plain http to a registry that is not on this machine (localhost and 127.0.0.0/8 are allowed without it)."`
	DryRun   bool   `name:"dry-run" help:"Read the manifest and config, print the plan and change nothing."`
	Output   string `name:"output" short:"o" enum:"text,json,sh" default:"text" help:"${plan_output_help}"`
	Quiet    bool   `name:"quiet" short:"q" help:"${quiet_help}"`
	limitFlags
	pullFlags
}

func (c *ImagePullCmd) Help() string {
	return imageHelp + `

Credentials are those 'docker login' leaves in ~/.docker/config.json. From an index,
the image for this machine's platform is taken.`
}

// Run pulls the image.
func (c *ImagePullCmd) Run(d *deps) error {
	ref, err := image.ParseRef(c.Ref)
	if err != nil {
		return &plan.Refused{Flag: "<ref>", Msg: err.Error()}
	}
	ctx := d.ctx
	if c.PullTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, c.PullTimeout, fmt.Errorf("the pull took longer than %s (the limit is --pull-timeout)", c.PullTimeout))
		defer cancel()
	}
	img, err := image.FromRegistry(ctx, ref, image.Options{Insecure: c.Insecure})
	if err != nil {
		return rootfs.TimedOut(ctx, err)
	}
	pinned := fmt.Sprintf("%s/%s@%s", ref.Registry(), ref.Repository(), img.Digest)
	src := actions.LayerSource{Pull: pinned, Insecure: c.Insecure}
	g := &rootfs.ImageGet{Img: img, Source: src, Ref: ref.String(), Progress: d.tracker(c.Quiet)}
	return getImage(d, ctx, g, c.pullFlags.limits(c.limitFlags.limits()), printsOnly(c.DryRun, c.Output), c.Output, "pulled")
}

// ImageImportCmd is `plumb image import`.
type ImageImportCmd struct {
	Path   pathFlag `arg:"" help:"A docker save tarball (plain, not compressed) or an OCI image layout directory."`
	Name   string   `name:"name" placeholder:"REF" help:"The name plumb keeps it under, and which image of the file when it records that name; without it, the file's only image under the name the file records."`
	DryRun bool     `name:"dry-run" help:"Read the file's manifest and config, print the plan and change nothing."`
	Output string   `name:"output" short:"o" enum:"text,json,sh" default:"text" help:"${plan_output_help}"`
	Quiet  bool     `name:"quiet" short:"q" help:"${quiet_help}"`
	limitFlags
}

func (c *ImageImportCmd) Help() string { return imageHelp }

// Run imports the image.
func (c *ImageImportCmd) Run(d *deps) error {
	img, err := image.Import(string(c.Path), c.Name, image.Options{})
	from := c.Name
	if err != nil && c.Name != "" {
		// A name the file does not record names its only image.
		if only, err2 := image.Import(string(c.Path), "", image.Options{}); err2 == nil {
			img, err, from = only, nil, ""
		}
	}
	if err != nil {
		return &plan.Refused{Flag: "<path>", Msg: err.Error()}
	}
	name := img.Ref
	if c.Name != "" {
		r, err := image.ParseRef(c.Name)
		if err != nil {
			return &plan.Refused{Flag: "name", Msg: err.Error()}
		}
		// A name with @sha256: names content; kept only when it is this
		// image's, so that a pinned name never leads to other layers.
		if d := r.Digest(); d != "" && d != img.Digest {
			return &plan.Refused{Flag: "name", Msg: fmt.Sprintf("%s pins a digest that is not this image's (%s); give a name without @sha256:", c.Name, view.OrNone(img.Digest))}
		}
		name = r.String()
	}
	src := actions.LayerSource{Import: string(c.Path), Name: from}
	return getImage(d, d.ctx, &rootfs.ImageGet{Img: img, Source: src, Ref: name, Progress: d.tracker(c.Quiet)}, c.limitFlags.limits(), printsOnly(c.DryRun, c.Output), c.Output, "imported")
}

// getImage brings up an image's layers and record, and keeps its name.
// Applied, the layers are first unpacked into a staging directory without
// the state directory's lock (ImageGet.Stage), on ctx (the pull's
// deadline); the plan, under the lock, moves them into place.
func getImage(d *deps, ctx context.Context, g *rootfs.ImageGet, lim rootfs.Limits, dryRun bool, output, did string) error {
	defer g.Progress.Wait() // Stage ends it; this when Stage was not reached
	if !dryRun {
		if err := privileged(); err != nil {
			return err
		}
	}
	out, err := rootfs.Get(d.ctx, ctx, d.env(), g, lim, dryRun)
	if err != nil {
		return err
	}
	name := g.Name()
	switch {
	case len(out.Plans) == 0:
		_, err = fmt.Fprintf(d.stdout, "%s is kept already (image %s); nothing to unpack\n", name, actions.ShortDigest(g.Img.ID))
	case dryRun:
		err = renderPlans(d, out.Plans, output, "image "+name)
	default:
		n := len(g.Img.Layers)
		_, err = fmt.Fprintf(d.stdout, "%s %s: image %s, %d layers (%d unpacked, %d shared)\n", did, name, actions.ShortDigest(g.Img.ID), n, len(out.Plans)-1, n-(len(out.Plans)-1))
	}
	return err
}

// ImageLsCmd is `plumb image ls`.
type ImageLsCmd struct {
	Output view.Output `name:"output" short:"o" enum:"text,json" default:"text" help:"text or json."`
}

// Run lists the images, one row per name as docker images does.
func (c *ImageLsCmd) Run(d *deps) error {
	return view.Images(d.store).Write(d.stdout, c.Output)
}

// ImageInspectCmd is `plumb image inspect`.
type ImageInspectCmd struct {
	Ref    string      `arg:"" name:"image" predictor:"image" help:"The image: a name it was pulled or imported as, or its ID (4 hex digits or more)."`
	Output view.Output `name:"output" short:"o" enum:"text,json" default:"text" help:"text, or json in docker image inspect's terms."`
	Format string      `name:"format" short:"f" placeholder:"TEMPLATE" help:"A Go template over the document -o json prints: {{.Config.Cmd}}."`
}

// Run prints the image.
func (c *ImageInspectCmd) Run(d *deps) error {
	v, err := view.InspectImage(d.store, c.Ref)
	if err != nil {
		return err
	}
	return view.Print(d.stdout, v, c.Output, c.Format)
}

// ImageRmCmd is `plumb image rm`.
type ImageRmCmd struct {
	Ref    string `arg:"" name:"image" predictor:"image" help:"The image: a name it was pulled or imported as, or its ID."`
	DryRun bool   `name:"dry-run" help:"Print what would be deleted and change nothing."`
	Output string `name:"output" short:"o" enum:"text,json,sh" default:"text" help:"${plan_output_help}"`
}

func (c *ImageRmCmd) Help() string {
	return `Deletes the image's record and each of its layers that no other image has; the
layers it shares stay whole. An image a container runs from is refused: stop the
container first.`
}

// Run removes the image.
func (c *ImageRmCmd) Run(d *deps) error {
	dryRun := printsOnly(c.DryRun, c.Output)
	if !dryRun {
		if err := d.lock(); err != nil {
			return err
		}
	}
	rec, f, err := rootfs.FindImage(d.store, c.Ref)
	if err != nil {
		return err
	}
	// As docker rmi: a name of an image with others goes alone; the image
	// goes with its last name. By ID, an image with several names is
	// refused: which of them was meant is not known.
	ref := f.NameOf(c.Ref)
	if len(f.Refs) > 1 {
		if ref == "" {
			var names []string
			for _, r := range f.Refs {
				names = append(names, rootfs.Familiar(r))
			}
			return &plan.Refused{Flag: "<image>", Msg: fmt.Sprintf("image %s has %d names (%s); remove it by name: each name goes alone, the image with its last", actions.ShortDigest(f.ID), len(names), strings.Join(names, ", "))}
		}
		if dryRun && c.Output == "json" {
			return render(d, &plan.Plan{Kind: rec.Kind, Name: rec.Name, Summary: "untag " + rootfs.Familiar(ref)}, c.Output)
		}
		if dryRun {
			_, err := fmt.Fprintf(d.stdout, "# would untag %s: image %s keeps its other names and its layers; nothing is deleted\n", rootfs.Familiar(ref), actions.ShortDigest(f.ID))
			return err
		}
		if err := rootfs.Untag(d.store, rec, ref); err != nil {
			return err
		}
		_, err := fmt.Fprintf(d.stdout, "Untagged: %s\n", rootfs.Familiar(ref))
		return err
	}
	recs, err := rootfs.ImageRemoval(d.store, rec)
	if err != nil {
		return err
	}
	td, err := plan.Remove(d.ctx, d.env(), recs, plan.DownOptions{WithLayers: true}, dryRun)
	if dryRun {
		if err != nil {
			return err
		}
		return render(d, td.Plan, c.Output)
	}
	if err != nil {
		return fmt.Errorf("%w; the journals keep what is left, run this again or `plumb recover`", err)
	}
	if len(f.Refs) == 1 {
		fmt.Fprintf(d.stdout, "Untagged: %s\n", rootfs.Familiar(f.Refs[0]))
	}
	_, err = fmt.Fprintf(d.stdout, "removed %s (image %s): %d of its %d layers deleted, %d undo commands run\n",
		f.Name(), actions.ShortDigest(f.ID), len(recs)-1, len(f.Layers), len(td.Ran))
	rootfs.DropEmptyImageDirs(d.store)
	return err
}
