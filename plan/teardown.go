package plan

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"plumb/actions"
)

// DownOptions are the choices a teardown takes; each applies to one kind.
type DownOptions struct {
	Force bool // bridge: detach its containers first, rather than refuse
	Lazy  bool // overlay: detach it even while in use (umount -l)
	Grace int  // container: seconds from SIGTERM to SIGKILL; 0 keeps the recorded
	// Purge is deleted once every undo has run (`stop --rm`, `--purge`),
	// journaled with the teardown (Record.Purge).
	Purge actions.Action
}

// Teardown is what TearDown did, or with a dry run would do.
type Teardown struct {
	Plan     *Plan     // every undo command, in order (dry run)
	Detached []*Record // a bridge's attachments, undone first
	Ran      []string  // the object's own undo commands run
}

// TearDown is the one teardown of an object plumb keeps, with its kind's
// rules: a bridge with containers attached is refused unless Force (then
// they are detached first, their links deleted as one group), an overlay in
// use is refused unless Lazy (a lazy one keeps a work directory still in
// use), a container's stop waits Grace seconds. With dryRun it changes
// nothing and returns the plan of undos. Callers hold the lock unless dryRun.
func TearDown(ctx context.Context, env Env, rec *Record, opts DownOptions, dryRun bool) (*Teardown, error) {
	out := &Teardown{}
	var before []*Record // undone before rec: a bridge's attachments
	switch rec.Kind {
	case "bridge":
		if err := unlistedMembers(env.St, rec.Name, nil); err != nil {
			return nil, err
		}
		for _, h := range Attachments(env.St, rec.Name) {
			a, err := env.St.Load(h.Kind, h.Name) // whole and checked: it is to be undone
			if err != nil {
				return nil, unlistedMembers(env.St, rec.Name, []error{err})
			}
			before = append(before, a)
		}
		var run []string
		for _, a := range before {
			if a.Kind == "container" {
				run = append(run, a.Name)
			}
		}
		if len(run) > 0 {
			// --force detaches attachments; a container is more than its
			// network, and stopping it is `plumb stop`'s to do.
			return nil, &Refused{Msg: fmt.Sprintf("%s has containers run on it: %s; stop them first (plumb stop NAME)", rec.Name, strings.Join(run, ", "))}
		}
		if len(before) > 0 && !opts.Force {
			var ids []string
			for _, a := range before {
				f, _ := a.Attachment()
				ids = append(ids, f.IP.String()+" ("+f.Target+")")
			}
			return nil, &Refused{Msg: fmt.Sprintf("%s has %d attached containers: %s; detach them, or use --force", rec.Name, len(before), strings.Join(ids, ", "))}
		}
	case "overlay":
		if opts.Lazy {
			if err := LazyUnmount(rec); err != nil {
				return nil, err
			}
		} else if f, ok := rec.Overlay(); ok && !dryRun {
			if hs := Holders(f.Merged); len(hs) > 0 {
				var names []string
				for _, h := range hs {
					names = append(names, h.String())
				}
				return nil, &Refused{Msg: fmt.Sprintf("%s is busy: in use by %s; stop them, or use --lazy to detach it now", f.Merged, strings.Join(names, ", "))}
			}
		}
	case "layer":
		if users := layerUsers(env.St, rec); len(users) > 0 {
			return nil, &Refused{Msg: fmt.Sprintf("%s is a lower layer of %s; stop them first (plumb stop NAME)", rec.ID(), strings.Join(users, ", "))}
		}
	case "image":
		f, _ := rec.Image()
		return nil, &Refused{Msg: fmt.Sprintf("an image is removed with `plumb image rm %s`, which also deletes the layers no other image has", actions.ShortDigest(f.ID))}
	case "imagelayer":
		if users := imageLayerUsers(env.St, rec); len(users) > 0 {
			return nil, &Refused{Msg: fmt.Sprintf("%s is a layer of %s; remove them first (plumb image rm, plumb stop)", rec.ID(), strings.Join(users, ", "))}
		}
	case "container":
		if opts.Grace > 0 {
			if err := StopGrace(rec, opts.Grace); err != nil {
				return nil, err
			}
		}
	}
	if opts.Purge != nil {
		e, err := encode(opts.Purge)
		if err != nil {
			return nil, err
		}
		rec.Purge = e
	}
	if dryRun {
		p, err := UndoPlanOf(env.St, rec.Kind, rec.Name, append(before, rec)...)
		out.Plan = p
		return out, err
	}
	var err error
	if len(before) > 0 {
		if out.Detached, err = Detach(ctx, env, before); err != nil {
			return out, err
		}
	}
	out.Ran, err = unwindMode(ctx, env.R, env.St, rec, env.Mode)
	if err != nil {
		return out, &UndoError{Rec: rec, Err: err}
	}
	return out, nil
}

// UndoError is an object's own undos that failed in a teardown; its journal
// keeps what is left.
type UndoError struct {
	Rec *Record
	Err error
}

func (e *UndoError) Error() string { return e.Rec.ID() + ": " + e.Err.Error() }
func (e *UndoError) Unwrap() error { return e.Err }

// unlistedMembers refuses a bridge's teardown while a journal that could
// be one of its containers (an attachment's, a container's) cannot be read
// or trusted, or while the journals themselves cannot be listed: its
// container's link would be left behind, and `bridge down --force` said
// "down". extra are errors found loading the bridge's attachments.
func unlistedMembers(st *Store, bridge string, extra []error) error {
	bad := unreadableMembers(st, extra)
	if len(bad) == 0 {
		return nil
	}
	it, them := "it", "it"
	if len(bad) > 1 {
		it, them = "each", "each"
	}
	return &Refused{Msg: fmt.Sprintf("bridge/%s is not taken down: %s; %s may hold a container attached to %s, whose link would be left behind: fix or remove %s, then run this again",
		bridge, strings.Join(bad, "; "), it, bridge, them)}
}

// unreadableMembers are the errors of the journals that could hold a
// container on a bridge (an attachment's, a container's) and cannot be read
// or trusted, or of the listing itself; extra are more such errors.
func unreadableMembers(st *Store, extra []error) []string {
	_, errs := st.Headers()
	var bad []string
	for _, err := range append(errs, extra...) {
		var ce *CorruptError
		if errors.As(err, &ce) {
			if kind := st.kindOf(ce.Path); kind != "attachment" && kind != "container" {
				continue // a veth, a layer... holds no container of a bridge
			}
		}
		bad = append(bad, err.Error())
	}
	return bad
}

// layerUsers are the containers whose root has rec's layer among its lower
// directories: deleting it would pull the files from under them.
func layerUsers(st *Store, rec *Record) []string {
	f, err := rec.Facts()
	l, ok := f.(LayerFacts)
	if err != nil || !ok {
		return nil
	}
	return rootUsers(st, l.Dir)
}

// imageLayerUsers are the images that list rec's layer and the containers
// whose root has it.
func imageLayerUsers(st *Store, rec *Record) []string {
	l, err := rec.ImageLayer()
	if err != nil {
		return nil
	}
	imgs, _ := Images(st)
	var users []string
	for _, r := range imgs {
		if f, err := r.Image(); err == nil && slices.ContainsFunc(f.Layers, func(x ImageLayerRef) bool { return x.ChainID == l.ChainID }) {
			users = append(users, f.Name())
		}
	}
	return append(users, ImageUsers(st, l)...)
}

// Detach undoes many attachments in one go (their links deleted as one
// group in batch mode) and gives those that are gone.
func Detach(ctx context.Context, env Env, recs []*Record) ([]*Record, error) {
	_, err := DownAll(ctx, env.R, env.St, recs, env.Mode)
	var gone []*Record
	for _, a := range recs {
		if _, lerr := env.St.Load(a.Kind, a.Name); errors.Is(lerr, fs.ErrNotExist) {
			gone = append(gone, a)
		}
	}
	if err != nil {
		return gone, fmt.Errorf("detaching: %w; the journals keep what is left, run this again or `plumb recover`", err)
	}
	return gone, nil
}
