package main

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/rs/zerolog"

	"plumb/plan"
	"plumb/view"
	"plumb/volume"
)

// VolumeCmd groups the named volume commands, docker volume's words.
type VolumeCmd struct {
	Create  VolumeCreateCmd  `cmd:"" help:"Make a named volume: ROOT/volumes/NAME/_data, which 'plumb run -v NAME:DIR' mounts."`
	Ls      VolumeLsCmd      `cmd:"" help:"List named volumes and the containers that mount them."`
	Inspect VolumeInspectCmd `cmd:"" help:"Show volumes as docker volume inspect does."`
	Rm      VolumeRmCmd      `cmd:"" help:"Remove volumes and everything in them; refused while a container mounts one."`
	Prune   VolumePruneCmd   `cmd:"" help:"Remove every volume no container mounts."`
	CopyUp  VolumeCopyUpCmd  `cmd:"" name:"copy-up" hidden:"" help:"Fill an empty volume with what a container's root has at a path (a step of plumb run)."`
}

// VolumeCreateCmd is `plumb volume create`.
type VolumeCreateCmd struct {
	Name   string `arg:"" help:"The volume's name."`
	DryRun bool   `name:"dry-run" help:"Print the plan and change nothing."`
	Output string `name:"output" short:"o" enum:"text,json,sh" default:"text" help:"${plan_output_help}"`
}

// Run makes the volume; one that exists is left as it is, as docker
// volume create leaves it.
func (c *VolumeCreateCmd) Run(d *deps) error {
	c.DryRun = printsOnly(c.DryRun, c.Output)
	return upSay(d, &volume.Volume{Name: c.Name}, c.DryRun, c.Output, func(p *plan.Plan) string { return c.Name })
}

// VolumeLsCmd is `plumb volume ls`.
type VolumeLsCmd struct {
	Output view.Output `name:"output" short:"o" enum:"text,json" default:"text" help:"text or json."`
}

func (c *VolumeLsCmd) Run(d *deps) error {
	t, err := view.Volumes(d.store)
	if err != nil {
		return err
	}
	return t.Write(d.stdout, c.Output)
}

// VolumeInspectCmd is `plumb volume inspect`.
type VolumeInspectCmd struct {
	Names []string `arg:"" predictor:"volume" help:"The volumes."`
}

// Run prints a JSON list, one object per volume, in docker volume
// inspect's terms (Name, Driver, Mountpoint, Scope, CreatedAt) and the
// containers that mount it.
func (c *VolumeInspectCmd) Run(d *deps) error {
	var rows []view.VolumeRow
	var errs []error
	for _, n := range c.Names {
		rec, err := findVolume(d.store.LoadHeader, n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		row, err := view.VolumeOf(d.store, rec)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rows = append(rows, row)
	}
	if rows == nil {
		rows = []view.VolumeRow{}
	}
	if err := view.WriteJSON(d.stdout, rows); err != nil {
		return err
	}
	return errors.Join(errs...)
}

// VolumeRmCmd is `plumb volume rm`.
type VolumeRmCmd struct {
	Names  []string `arg:"" predictor:"volume" help:"The volumes."`
	DryRun bool     `name:"dry-run" help:"Print the commands and change nothing."`
	Output string   `name:"output" short:"o" enum:"text,json,sh" default:"text" help:"${undo_output_help}"`
}

func (c *VolumeRmCmd) Help() string {
	return `Deletes ROOT/volumes/NAME and everything in it, through the volume's journal
(its undo), as docker volume rm does. A volume a container mounts, running or
stopped, is refused: remove the container first (plumb rm). Each name is tried;
rm fails at the end when any was refused.`
}

func (c *VolumeRmCmd) Run(d *deps) error {
	return removeVolumes(d, c.Names, c.DryRun, c.Output)
}

// findVolume is volume name's record, read by load (a header, or whole),
// or an error that says there is none, as docker's "no such volume".
func findVolume(load func(kind, name string) (*plan.Record, error), name string) (*plan.Record, error) {
	rec, err := load(plan.VolumeKind.Name(), name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no such volume: %s", name)
	}
	return rec, err
}

// removeVolumes takes each volume down through the one Down, which
// refuses one in use (plan's volume kind).
func removeVolumes(d *deps, names []string, dryRun bool, output string) error {
	dryRun = printsOnly(dryRun, output)
	if !dryRun {
		if err := d.lock(); err != nil {
			return err
		}
	}
	var errs []error
	for _, n := range names {
		rec, err := findVolume(d.store.Load, n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		td, err := plan.Remove(d.ctx, d.env(), []*plan.Record{rec}, plan.DownOptions{}, dryRun)
		if err != nil {
			errs = append(errs, keptAdvice(err))
			continue
		}
		if dryRun {
			if err := render(d, td.Plan, output); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintln(d.stdout, n)
	}
	return errors.Join(errs...)
}

// VolumePruneCmd is `plumb volume prune`.
type VolumePruneCmd struct {
	All    bool   `name:"all" short:"a" help:"Remove every unused named volume: without it, as docker volume prune since Docker 23, named volumes are kept (and plumb has no others)."`
	DryRun bool   `name:"dry-run" help:"Print the commands and change nothing."`
	Output string `name:"output" short:"o" enum:"text,json,sh" default:"text" help:"${undo_output_help}"`
}

func (c *VolumePruneCmd) Help() string {
	return `With -a, removes every volume that no container mounts, running or stopped,
and prints their names, as docker volume prune -a does (without confirmation).
Without -a it removes nothing: a plain docker volume prune removes anonymous
volumes only, and plumb has none.`
}

func (c *VolumePruneCmd) Run(d *deps) error {
	t, err := view.Volumes(d.store)
	if err != nil {
		return err
	}
	var unused []string
	for _, v := range t.Rows {
		if len(v.UsedBy) == 0 {
			unused = append(unused, v.Name)
		}
	}
	if !c.All {
		zerolog.Ctx(d.ctx).Info().Msgf("nothing removed: plumb has only named volumes, which prune removes with -a (%d unused)", len(unused))
		return t.Err
	}
	if len(unused) == 0 {
		zerolog.Ctx(d.ctx).Info().Msg("no volume is unused: nothing to remove")
		return t.Err
	}
	return errors.Join(removeVolumes(d, unused, c.DryRun, c.Output), t.Err)
}

// VolumeCopyUpCmd is `plumb volume copy-up`, the step of plumb run that
// fills a new volume from the image.
type VolumeCopyUpCmd struct {
	Rootfs pathFlag `name:"rootfs" required:"" placeholder:"DIR" help:"The container's root (its overlay's merged directory)."`
	Dest   string   `name:"dest" required:"" placeholder:"PATH" help:"The volume's destination in the container, resolved inside --root."`
	Data   pathFlag `arg:"" help:"The volume's directory (_data)."`
}

func (c *VolumeCopyUpCmd) Run(d *deps) error {
	msg, err := volume.CopyUp(d.ctx, d.runner, string(c.Rootfs), c.Dest, string(c.Data))
	if err != nil {
		return err
	}
	zerolog.Ctx(d.ctx).Debug().Msg(msg)
	return nil
}
