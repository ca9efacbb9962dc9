package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"plumb/actions"
	"plumb/plan"
)

// OverlayCmd groups the overlay file system's commands.
type OverlayCmd struct {
	Mount   OverlayMountCmd   `cmd:"" help:"Mount read-only layers under a writable one, as a container's root file system."`
	Unmount OverlayUnmountCmd `cmd:"" help:"Unmount an overlay plumb mounted; its upper layer is kept."`
}

// pathFlag is a path made absolute against the working directory.
type pathFlag string

func (p *pathFlag) UnmarshalText(b []byte) error {
	s := string(b)
	if s == "" {
		return fmt.Errorf("a path cannot be empty")
	}
	abs, err := filepath.Abs(s)
	if err != nil {
		return err
	}
	*p = pathFlag(abs)
	return nil
}

// OverlayMountCmd is `plumb overlay mount`.
type OverlayMountCmd struct {
	Lower  []pathFlag `name:"lower" required:"" sep:"none" placeholder:"DIR" help:"A read-only layer; repeat, topmost first (lowerdir=TOP:...:BOTTOM)."`
	Upper  pathFlag   `name:"upper" placeholder:"DIR" help:"The writable layer; created if missing. Without --upper and --work the mount is read-only."`
	Work   pathFlag   `name:"work" placeholder:"DIR" help:"Overlay's empty work directory, on the upper's file system; created if missing."`
	Merged pathFlag   `name:"merged" placeholder:"DIR" help:"Where the merged view is mounted; created if missing."`
	Name   string     `name:"name" help:"Name the overlay. Alone (no --upper/--work/--merged) it lays them out under STATE_DIR/overlay/NAME/."`
	DryRun bool       `name:"dry-run" help:"Print the plan and change nothing."`
	Output string     `name:"output" short:"o" enum:"text,json,sh" default:"text" help:"Plan format: text (one command a line), json, or sh (a bash runbook with rollback); json and sh imply --dry-run."`
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

func (c *OverlayMountCmd) recipe(stateDir string) *plan.Overlay {
	o := &plan.Overlay{Name: c.Name, Upper: string(c.Upper), Work: string(c.Work), Merged: string(c.Merged)}
	for _, l := range c.Lower {
		o.Lower = append(o.Lower, string(l))
	}
	if c.Name != "" && o.Upper == "" && o.Work == "" && o.Merged == "" && plan.CheckObjectName("name", c.Name) == nil {
		o.Upper, o.Work, o.Merged = plan.OverlayLayout(stateDir, c.Name)
	}
	return o
}

// Run plans the mount and prints or applies it.
func (c *OverlayMountCmd) Run(d *deps) error {
	c.DryRun = c.DryRun || c.Output == "sh" // a runbook is printed, not run
	o := c.recipe(d.store.Dir)
	if err := o.Check(); err != nil {
		return err
	}
	p, err := o.Plan()
	if err != nil {
		return err
	}
	if c.Name != "" && c.Upper == "" && c.Merged == "" {
		p.Details["layout"] = filepath.Dir(o.Upper)
	}
	if c.DryRun {
		return render(d, p, c.Output)
	}
	if err := d.lock(); err != nil {
		return err
	}
	rec, err := d.store.Load(p.Kind, p.Name)
	switch {
	case err == nil:
		return alreadyUp(d, rec, p, "mounted", unmountCommand(rec))
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	if err := o.Preflight(); err != nil {
		return err
	}
	if _, err := plan.Apply(d.ctx, d.runner, d.store, p, d.mode); err != nil {
		return err
	}
	if c.Output == "json" {
		return p.JSON(d.stdout)
	}
	_, err = fmt.Fprintf(d.stdout, "%s is mounted at %s\n", p.ID(), o.Merged)
	return err
}

func unmountCommand(rec *plan.Record) string {
	if rec.Details["layout"] != "" {
		return "plumb overlay unmount --name " + rec.Name
	}
	return "plumb overlay unmount --merged " + actions.Quote([]string{rec.Details["merged"]})
}

// OverlayUnmountCmd is `plumb overlay unmount`.
type OverlayUnmountCmd struct {
	Merged pathFlag `name:"merged" xor:"which" required:"" placeholder:"DIR" help:"The mount point of the overlay to unmount."`
	Name   string   `name:"name" xor:"which" required:"" help:"The name the overlay was mounted under."`
	Lazy   bool     `name:"lazy" help:"Detach it even while processes use it (umount -l); the kernel finishes when they let go."`
	Purge  bool     `name:"purge" help:"Also delete a --name layout's upper layer and everything in it."`
	DryRun bool     `name:"dry-run" help:"Print the commands and change nothing."`
	Output string   `name:"output" short:"o" enum:"text,json,sh" default:"text" help:"Format of --dry-run's output: text, json, or sh (a bash runbook); sh implies --dry-run."`
}

// Run unmounts and removes the directories plumb created that are empty.
func (c *OverlayUnmountCmd) Run(d *deps) error {
	c.DryRun = c.DryRun || c.Output == "sh" // a runbook is printed, not run
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
	// layout is the directory of a --name layout, "" for the user's own dirs.
	var layout string
	if rec != nil {
		layout = rec.Details["layout"]
	} else {
		layout = filepath.Join(d.store.Dir, "overlay", c.Name)
	}
	var purge actions.Action
	if c.Purge {
		if layout == "" {
			return &plan.Refused{Flag: "purge", Msg: fmt.Sprintf("%s's upper directory %s is not a layout plumb made; it is yours to remove", rec.ID(), rec.Details["upperdir"])}
		}
		if _, err := os.Stat(layout); err == nil {
			purge = actions.RemoveTree{Path: layout}
		} else if rec == nil {
			return fmt.Errorf("plumb keeps no overlay named %s, and %s does not exist", c.Name, layout)
		}
	}
	if rec != nil && c.Lazy {
		if err := plan.LazyUnmount(rec); err != nil {
			return err
		}
	}
	if c.DryRun {
		p := &plan.Plan{Kind: "overlay", Name: c.Name}
		if rec != nil {
			p.Name = rec.Name
			undos, err := plan.UndoPlan(d.store, rec)
			if err != nil {
				return err
			}
			for _, u := range undos {
				p.Steps = append(p.Steps, plan.Step{Action: u})
			}
		}
		if purge != nil {
			p.Steps = append(p.Steps, plan.Step{Action: purge})
		}
		return render(d, p, c.Output)
	}
	if rec != nil {
		merged := rec.Details["merged"]
		if !c.Lazy {
			if hs := plan.Holders(merged); len(hs) > 0 {
				var names []string
				for _, h := range hs {
					names = append(names, h.String())
				}
				return &plan.Refused{Msg: fmt.Sprintf("%s is busy: in use by %s; stop them, or use --lazy to detach it now", merged, strings.Join(names, ", "))}
			}
		}
		if _, err := plan.Down(d.ctx, d.runner, d.store, rec); err != nil {
			hint := ""
			if strings.Contains(err.Error(), "busy") && !c.Lazy {
				hint = "; it is busy: stop what uses it, or retry with --lazy"
			}
			return fmt.Errorf("%s: %w%s", rec.ID(), err, hint)
		}
		fmt.Fprintf(d.stdout, "%s is unmounted from %s\n", rec.ID(), merged)
	}
	if purge != nil {
		if err := plan.RunOne(d.ctx, d.runner, purge); err != nil {
			return err
		}
		fmt.Fprintf(d.stdout, "deleted %s\n", layout)
	} else if rec != nil {
		if up := rec.Details["upperdir"]; up != "" {
			if entries, err := os.ReadDir(up); err == nil {
				how := ""
				if layout != "" {
					how = fmt.Sprintf("; `plumb overlay unmount --name %s --purge` deletes it", rec.Name)
				}
				fmt.Fprintf(d.stdout, "kept the upper layer %s (%d entries)%s\n", up, len(entries), how)
			}
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
		return d.store.Load("overlay", c.Name)
	}
	return plan.FindOverlay(d.store, string(c.Merged))
}
