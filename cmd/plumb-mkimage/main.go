// Command plumb-mkimage builds plumb's demo and test images offline from Debian's
// busybox-static (package internal/mkimage) and writes them as a docker save archive, an
// OCI image layout, or to a registry on this machine:
//
//	plumb-mkimage --format docker-archive /srv/demo.tar
//	plumb-mkimage --format oci /srv/layout --tag plumb-demo/busybox:1
//	plumb-mkimage --push 127.0.0.1:5000/plumb-demo/busybox:1
//	plumb-mkimage --layers 500 --format oci /srv/layout --tag plumb-test/many:500
//	plumb-mkimage --layers 1 --variant a --format oci /srv/layout --tag plumb-test/shared:a
//	plumb-mkimage --bulk 200 --format docker-archive /srv/bulk.tar
//	plumb-mkimage --layers 1 --bulk 10,12,14,16,18,20,22,24 --format docker-archive /srv/image.tar
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"syscall"

	"github.com/alecthomas/kong"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"plumb/internal/mkimage"
)

type cli struct {
	Out     string `arg:"" optional:"" placeholder:"PATH" help:"Where --format writes: a file (docker-archive) or a directory (oci)."`
	Format  string `enum:"docker-archive,oci," default:"" help:"docker-archive: a docker save tar (docker load, plumb image import); oci: an OCI image layout directory (an existing layout keeps its other tags)."`
	Tag     string `default:"plumb-demo/busybox:1" help:"The image's name in the archive or layout (--push names it itself)."`
	Push    string `placeholder:"HOST:PORT/REPO:TAG" help:"Also push to a registry on this machine (localhost or 127.0.0.0/8, plain http), e.g. 127.0.0.1:5000/plumb-demo/busybox:1."`
	Busybox string `placeholder:"FILE" help:"The static busybox binary to put at /bin/busybox (default: busybox on PATH, from Debian's busybox-static)."`
	Layers  int    `placeholder:"N" help:"Instead of the demo's three layers, the base and N-1 tiny layers each adding /layers/K.txt (for the >128 and 500 layer tests)."`
	Variant string `placeholder:"NAME" help:"Add a top layer holding /variant.txt: images of two variants share every layer below it."`
	Bulk    []int  `placeholder:"MB" sep:"," help:"Add a layer of about MB megabytes of generated files (many small, some large, symlinks, hard links), always the same for a size. Several sizes (--bulk 12,14 or --bulk 12 --bulk 14) add a layer each, in order."`
	Quiet   bool   `short:"q" help:"Print only the image ID."`
}

func main() {
	var c cli
	k, err := kong.New(&c,
		kong.Name("plumb-mkimage"),
		kong.Description("Build plumb's demo and test images offline and deterministically from busybox-static (the same busybox gives the same image ID)."))
	if err != nil {
		panic(err)
	}
	if _, err := k.Parse(os.Args[1:]); err != nil {
		usage(err.Error())
	}
	if (c.Format == "") != (c.Out == "") {
		usage("--format and PATH go together: --format docker-archive FILE.tar or --format oci DIR")
	}
	if c.Out == "" && c.Push == "" {
		usage("nothing to write: give --format docker-archive FILE.tar, --format oci DIR, or --push HOST:PORT/REPO:TAG")
	}
	if _, err := name.NewTag(c.Tag); err != nil {
		usage(fmt.Sprintf("--tag %q: %v (want REPO:TAG)", c.Tag, err))
	}
	if c.Push != "" {
		if err := mkimage.CheckPush(c.Push); err != nil {
			usage("--push: " + err.Error())
		}
	}
	if c.Layers < 0 || c.Layers > mkimage.MaxLayers || slices.Min(append(c.Bulk, 0)) < 0 {
		usage(fmt.Sprintf("--layers is 1 to %d (0 or absent: the demo image) and --bulk at least 0", mkimage.MaxLayers))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "plumb-mkimage:", err)
		os.Exit(1)
	}
}

// usage reports bad input and exits 2, as plumb does: nothing was built or written.
func usage(msg string) {
	fmt.Fprintf(os.Stderr, "plumb-mkimage: %s (see plumb-mkimage --help)\n", msg)
	os.Exit(2)
}

func run(ctx context.Context, c cli) error {
	opts := mkimage.Options{Busybox: c.Busybox, Layers: c.Layers, Variant: c.Variant}
	if len(c.Bulk) > 0 {
		opts.BulkMB, opts.ExtraBulkMB = c.Bulk[0], c.Bulk[1:]
	}
	img, err := mkimage.Build(opts)
	if err != nil {
		return err
	}
	id, err := img.ConfigName()
	if err != nil {
		return err
	}
	switch c.Format {
	case "docker-archive":
		err = mkimage.WriteDockerArchive(c.Out, c.Tag, img)
	case "oci":
		err = mkimage.WriteLayout(c.Out, c.Tag, img)
	}
	if err != nil {
		return err
	}
	if c.Push != "" {
		if err := mkimage.Push(ctx, c.Push, img); err != nil {
			return err
		}
	}
	if c.Quiet {
		fmt.Println(id)
		return nil
	}
	return describe(img, id, c)
}

func describe(img v1.Image, id v1.Hash, c cli) error {
	d, err := img.Digest()
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	fmt.Printf("image ID  %s\nmanifest  %s\nplatform  %s/%s\nlayers    %d\n", id, d, cf.OS, cf.Architecture, len(layers))
	for i, l := range layers {
		if len(layers) > 12 && i >= 5 && i < len(layers)-5 {
			if i == 5 {
				fmt.Printf("  ... %d more\n", len(layers)-10)
			}
			continue
		}
		diffID, err := l.DiffID()
		if err != nil {
			return err
		}
		size, err := l.Size()
		if err != nil {
			return err
		}
		fmt.Printf("  %3d %s %9d B gzip  %s\n", i+1, diffID, size, cf.History[i].CreatedBy)
	}
	switch c.Format {
	case "docker-archive":
		fmt.Printf("wrote docker-archive %s as %s\n", c.Out, c.Tag)
	case "oci":
		t, _ := name.NewTag(c.Tag)
		fmt.Printf("wrote OCI layout %s as %s (ref.name %s)\n", c.Out, c.Tag, t.TagStr())
	}
	if c.Push != "" {
		fmt.Printf("pushed %s\n", c.Push)
	}
	return nil
}
