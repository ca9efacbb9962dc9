package rootfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"plumb/actions"
	"plumb/plan"
)

// Unmount is `plumb overlay unmount`: the undos an overlay's journal
// keeps (Rec), and with Purge the deletion of the layout plumb laid out
// for a --name overlay, journaled with them. Rec is nil when only the
// layout NAME is left, to purge: its deletion then has a journal of its
// own (plan.Purge).
type Unmount struct {
	Rec         *plan.Record
	Name        string
	Lazy, Purge bool
}

// Unmounted is what an unmount did, for the user.
type Unmounted struct {
	Merged   string // "" when no overlay was mounted
	UpperDir string // the upper directory kept, "" when none or purged
	Layout   string // the laid-out directory, "" for the user's own
	Purged   bool
}

// prepare is the overlay's facts, its layout, and the removal's options:
// a purge is of a layout plumb made, there.
func (u *Unmount) prepare(st *plan.Store) (plan.OverlayFacts, string, plan.DownOptions, error) {
	var f plan.OverlayFacts
	layout := st.OverlayOf(u.Name).Base // the directory of a --name layout, "" for the user's own dirs
	if u.Rec != nil {
		var err error
		if f, err = u.Rec.OverlayFacts(); err != nil {
			return f, "", plan.DownOptions{}, err
		}
		layout, u.Name = f.Layout, u.Rec.Name
	}
	opts := plan.DownOptions{Lazy: u.Lazy}
	if u.Purge {
		if layout == "" {
			return f, "", opts, &plan.Refused{Flag: "purge", Msg: fmt.Sprintf("%s's upper directory %s is not a layout plumb made; it is yours to remove", u.Rec.ID(), f.UpperDir)}
		}
		if _, err := os.Stat(layout); err == nil {
			opts.Purge = actions.RemoveTree{Path: layout}
		} else if u.Rec == nil {
			return f, "", opts, fmt.Errorf("plumb keeps no overlay named %s, and %s does not exist", u.Name, layout)
		}
	}
	return f, layout, opts, nil
}

// Plan is what Run would run, as one plan: the overlay's undos, then the
// purge.
func (u *Unmount) Plan(ctx context.Context, env plan.Env) (*plan.Plan, error) {
	_, _, opts, err := u.prepare(env.St)
	if err != nil {
		return nil, err
	}
	if u.Rec != nil {
		td, err := plan.Remove(ctx, env, []*plan.Record{u.Rec}, opts, true)
		if err != nil {
			return nil, err
		}
		return td.Plan, nil
	}
	p := &plan.Plan{Kind: plan.OverlayKind.Name(), Name: u.Name}
	if opts.Purge != nil {
		p.Steps = append(p.Steps, plan.Step{Action: opts.Purge})
	}
	return p, nil
}

// Run unmounts and purges; the caller holds the lock.
func (u *Unmount) Run(ctx context.Context, env plan.Env) (Unmounted, error) {
	f, layout, opts, err := u.prepare(env.St)
	if err != nil {
		return Unmounted{}, err
	}
	if u.Rec != nil {
		if _, err := plan.Remove(ctx, env, []*plan.Record{u.Rec}, opts, false); err != nil {
			var ue *plan.UndoError
			if errors.As(err, &ue) && strings.Contains(err.Error(), "busy") && !u.Lazy {
				return Unmounted{}, fmt.Errorf("%w; it is busy: stop what uses it, or retry with --lazy", err)
			}
			return Unmounted{}, err
		}
	} else if opts.Purge != nil {
		if _, err := plan.Purge(ctx, env, plan.OverlayKind.Name(), u.Name, opts.Purge); err != nil {
			return Unmounted{}, err
		}
	}
	out := Unmounted{Merged: f.Merged, Layout: layout, Purged: opts.Purge != nil}
	if !out.Purged {
		out.UpperDir = f.UpperDir
	}
	return out, nil
}
