package plan

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
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
	if g, ok := capability[Guarded](rec); ok {
		var err error
		if before, err = g.BeforeDown(env, rec, opts, dryRun); err != nil {
			return nil, err
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
// or trusted, or whose facts cannot be read, or of the listing itself; extra
// are more such errors.
func unreadableMembers(st *Store, extra []error) []string {
	recs, errs := st.Headers()
	var bad []string
	for _, r := range recs {
		if holdsAttachment(r.Kind) {
			if _, err := r.Facts(); err != nil {
				bad = append(bad, err.Error())
			}
		}
	}
	for _, err := range append(errs, extra...) {
		var ce *CorruptError
		if errors.As(err, &ce) {
			if !holdsAttachment(st.kindOf(ce.Path)) {
				continue // a veth, a layer... holds no container of a bridge
			}
		}
		bad = append(bad, err.Error())
	}
	return bad
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
