package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"plumb/plan"
	"plumb/rootfs"
)

// OverlayCmd groups the overlay file system's commands.
type OverlayCmd struct {
	Mount   OverlayMountCmd   `cmd:"" help:"Mount read-only layers under a writable one, as a container's root file system."`
	Unmount OverlayUnmountCmd `cmd:"" help:"Unmount an overlay plumb mounted; its upper layer is kept."`
}

// OverlayMountCmd is `plumb overlay mount`.
type OverlayMountCmd struct {
	Lower  []pathFlag `name:"lower" required:"" sep:"none" placeholder:"DIR" help:"A read-only layer; repeat, topmost first (lowerdir=TOP:...:BOTTOM)."`
	Upper  pathFlag   `name:"upper" placeholder:"DIR" help:"The writable layer; created if missing. Without --upper and --work the mount is read-only."`
	Work   pathFlag   `name:"work" placeholder:"DIR" help:"Overlay's empty work directory, on the upper's file system; created if missing."`
	Merged pathFlag   `name:"merged" placeholder:"DIR" help:"Where the merged view is mounted; created if missing."`
	Name   string     `name:"name" help:"Name the overlay. Alone (no --upper/--work/--merged) it lays them out under ROOT/overlay/NAME/."`
	DryRun bool       `name:"dry-run" help:"Print the plan and change nothing."`
	Output string     `name:"output" short:"o" enum:"text,json,sh" default:"text" help:"${plan_output_help}"`
}

// Help is the long help of `plumb overlay mount --help`.
func (c *OverlayMountCmd) Help() string {
	return `Runs the document's
  mount -t overlay overlay -o lowerdir=/lower1:/lower2:/lower3,upperdir=/upper,workdir=/work /merged
after creating, as steps of their own, the upper, work and merged directories
that are missing. Checks first, changing nothing if one fails: each lower layer
is a directory, work is empty and on the upper's file system, merged is not a
mount point, no directory is given twice. Paths with ':' ',' or '\' are escaped
as the kernel documentation says. When the layers' paths exceed the one page
of options the kernel takes, the mount runs in their common directory with
relative paths (env -C DIR mount ...), up to the kernel's 500 layers.`
}

func (c *OverlayMountCmd) recipe() *rootfs.Overlay {
	o := &rootfs.Overlay{Name: c.Name, Upper: string(c.Upper), Work: string(c.Work), Merged: string(c.Merged)}
	for _, l := range c.Lower {
		o.Lower = append(o.Lower, string(l))
	}
	o.LaidOut = c.Name != "" && o.Upper == "" && o.Work == "" && o.Merged == "" && plan.CheckObjectName("name", c.Name) == nil
	return o
}

// Run plans the mount and prints or applies it.
func (c *OverlayMountCmd) Run(d *deps) error {
	c.DryRun = printsOnly(c.DryRun, c.Output)
	return upSay(d, c.recipe(), c.DryRun, c.Output, func(p *plan.Plan) string {
		return fmt.Sprintf("%s is mounted at %s", p.ID(), p.Facts.(plan.OverlayFacts).Merged)
	})
}

// OverlayUnmountCmd is `plumb overlay unmount`.
type OverlayUnmountCmd struct {
	Merged pathFlag `name:"merged" xor:"which" required:"" placeholder:"DIR" help:"The mount point of the overlay to unmount."`
	Name   string   `name:"name" xor:"which" required:"" help:"The name the overlay was mounted under."`
	Lazy   bool     `name:"lazy" help:"Detach it even while processes use it (umount -l); the kernel finishes when they let go."`
	Purge  bool     `name:"purge" help:"Also delete a --name layout's upper layer and everything in it."`
	DryRun bool     `name:"dry-run" help:"Print the commands and change nothing."`
	Output string   `name:"output" short:"o" enum:"text,json,sh" default:"text" help:"${undo_output_help}"`
}

// Run unmounts and removes the directories plumb created that are empty.
func (c *OverlayUnmountCmd) Run(d *deps) error {
	c.DryRun = printsOnly(c.DryRun, c.Output)
	if c.Name != "" {
		if err := plan.CheckObjectName("name", c.Name); err != nil {
			return err
		}
	}
	if !c.DryRun {
		if err := d.lock(); err != nil {
			return err
		}
	}
	rec, err := c.find(d)
	if err != nil && !(errors.Is(err, fs.ErrNotExist) && c.Purge && c.Name != "") {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("plumb keeps no overlay %s in %s (`plumb status` lists what it keeps)", c.which(), d.store.Dir)
		}
		return err
	}
	return unmount(d, rec, c.Name, c.Lazy, c.Purge, c.DryRun, c.Output)
}

// unmount runs or prints rootfs.Unmount and says what it did.
func unmount(d *deps, rec *plan.Record, name string, lazy, purge, dryRun bool, output string) error {
	u := &rootfs.Unmount{Rec: rec, Name: name, Lazy: lazy, Purge: purge}
	if dryRun {
		p, err := u.Plan(d.ctx, d.env())
		if err != nil {
			return err
		}
		return render(d, p, output)
	}
	did, err := u.Run(d.ctx, d.env())
	if err != nil {
		return err
	}
	if rec != nil {
		fmt.Fprintf(d.stdout, "%s is unmounted from %s\n", rec.ID(), did.Merged)
	}
	if did.Purged {
		fmt.Fprintf(d.stdout, "deleted %s\n", did.Layout)
	} else if did.UpperDir != "" {
		if entries, err := os.ReadDir(did.UpperDir); err == nil {
			how := ""
			if did.Layout != "" {
				how = fmt.Sprintf("; `plumb overlay unmount --name %s --purge` deletes it", rec.Name)
			}
			fmt.Fprintf(d.stdout, "kept the upper layer %s (%d entries)%s\n", did.UpperDir, len(entries), how)
		}
	}
	return nil
}

func (c *OverlayUnmountCmd) which() string {
	if c.Name != "" {
		return "named " + c.Name
	}
	return "mounted at " + string(c.Merged)
}

func (c *OverlayUnmountCmd) find(d *deps) (*plan.Record, error) {
	if c.Name != "" {
		return d.store.Load(plan.OverlayKind.Name(), c.Name)
	}
	return rootfs.FindOverlay(d.store, string(c.Merged))
}
