package plan

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
)

// Remove is the one way plumb takes objects down: `down`, `bridge down`,
// `bridge detach`, `image rm`, `stop`, `overlay unmount`, CNI DEL and a
// supervised container's exit all call it. It
//
//   - asks each given object's kind what must come down with it, or first
//     (Guarded.BeforeDown: a bridge's attachments with Force), and to
//     refuse: one refusal stops the whole set before anything runs;
//   - orders the set so that an object's dependents (DependentsOf) come
//     before it, objects independent of each other keeping their order;
//   - with dryRun, returns the plan of every undo, in that order (named
//     after the first object given), and changes nothing;
//   - otherwise undoes them in that order, each run of objects with no
//     tie between them together (the last first, as a detach always has;
//     in batch mode their host links are deleted as one group), and stops
//     at the first run that fails: what its objects depend on stays.
//
// Callers hold the lock unless dryRun.
func Remove(ctx context.Context, env Env, recs []*Record, opts DownOptions, dryRun bool) (*Teardown, error) {
	if len(recs) == 0 {
		return nil, errors.New("nothing to remove")
	}
	if opts.Purge != nil && len(recs) != 1 {
		return nil, fmt.Errorf("a purge is of one object, not %d", len(recs))
	}
	set, tied, brought, err := order(env, recs, opts, dryRun)
	if err != nil {
		return nil, err
	}
	if opts.Purge != nil {
		if err := env.St.Layout.checkPurge(opts.Purge); err != nil {
			return nil, err
		}
		e, err := encode(opts.Purge)
		if err != nil {
			return nil, err
		}
		target := purged(set, recs[0])
		target.Purge = e
		if target != recs[0] && !dryRun {
			// Written now: the container's journal, which held it
			// before, is gone before the root's unwind starts, and a
			// kill in between must leave the purge to recover.
			if err := env.St.Save(target); err != nil {
				return nil, err
			}
		}
	}
	if opts.Rollback {
		env.Mode = Each // as Recover finishes a rollback
	}
	if dryRun {
		p, err := undoPlanOf(env.St, recs[0].Kind, recs[0].Name, set...)
		return &Teardown{Plan: p}, err
	}
	return unwindSet(ctx, env, runs(set, tied), brought)
}

// order is the set Remove undoes, in order: recs expanded (expand) and
// ordered (dependentsFirst), with the ties between its objects and which
// objects were brought.
func order(env Env, recs []*Record, opts DownOptions, dryRun bool) ([]*Record, map[string][]string, map[*Record]bool, error) {
	set, brought, err := expand(env, recs, opts, dryRun)
	if err != nil {
		return nil, nil, nil, err
	}
	var tied map[string][]string
	if len(set) > 1 {
		tied = ties(env.St, set)
	}
	return dependentsFirst(set, tied), tied, brought, nil
}

// expand is recs with what each kind brings down first (its BeforeDown),
// each object once, and which objects were brought; a kind's refusal is
// the error. A rollback asks no kind.
func expand(env Env, recs []*Record, opts DownOptions, dryRun bool) ([]*Record, map[*Record]bool, error) {
	opts.removing = map[string]bool{}
	for _, r := range recs {
		opts.removing[r.ID()] = true
	}
	brought := map[*Record]bool{}
	if opts.Rollback {
		return recs, brought, nil
	}
	recs = withHeld(env.St, recs, opts.removing)
	seen := map[string]bool{}
	var set []*Record
	for _, rec := range recs {
		g, ok := capability[Guarded](rec)
		if !ok {
			continue
		}
		before, err := g.BeforeDown(env, rec, opts, dryRun)
		if err != nil {
			return nil, nil, err
		}
		for _, b := range before {
			if !seen[b.ID()] && !opts.removing[b.ID()] {
				seen[b.ID()] = true
				brought[b] = true
				set = append(set, b)
			}
		}
	}
	if len(set) == 0 {
		return recs, brought, nil
	}
	// What was brought goes before all that was given, as a bridge's
	// attachments before it; ordering then puts every tie right.
	out := make([]*Record, 0, len(set)+len(recs))
	out = append(out, set...)
	out = append(out, recs...)
	return out, brought, nil
}

// withHeld is recs with what they hold (Holding) that nothing outside
// removing does, after them, each once (loaded whole, to be undone), added
// to removing. A record whose facts cannot be read holds nothing.
func withHeld(st *Store, recs []*Record, removing map[string]bool) []*Record {
	out := recs
	for _, rec := range recs {
		h, ok := capability[Holding](rec)
		if !ok {
			continue
		}
		f, err := rec.Facts()
		if err != nil {
			continue
		}
		for _, held := range h.Holds(st, rec, f) {
			if removing[held.ID()] {
				continue
			}
			deps, err := DependentsOf(st, held)
			if err != nil {
				continue
			}
			others := false
			for _, d := range deps {
				others = others || !removing[d.ID()]
			}
			if others {
				continue
			}
			whole, err := st.Load(held.Kind, held.Name)
			if err != nil {
				continue
			}
			removing[held.ID()] = true
			out = append(out, whole)
		}
	}
	return out
}

// purged is the object of set that a purge of rec's directory follows:
// rec's root file system when rec holds one (its mount is undone first),
// else rec.
func purged(set []*Record, rec *Record) *Record {
	f, err := rec.Container()
	if err != nil || f.Rootfs == "" {
		return rec
	}
	for _, r := range set {
		if r.Is(RootfsKind) && r.Name == f.Rootfs {
			return r
		}
	}
	return rec
}

// Stacked kinds' objects rest on another of theirs (an image layer on
// its parent): removed together, the one on top goes first, and alone.
type Stacked interface {
	Under(f Facts) (id string, ok bool)
}

// ties are, for each object of recs by ID, the IDs among recs that must
// be undone before it: its dependents (DependentsOf), and what rests on it
// (Stacked). A record whose facts cannot be read has none: its kind's
// BeforeDown has judged it.
func ties(st *Store, recs []*Record) map[string][]string {
	in := map[string]bool{}
	for _, r := range recs {
		in[r.ID()] = true
	}
	out := map[string][]string{}
	for _, r := range recs {
		deps, _ := DependentsOf(st, r)
		for _, d := range deps {
			if in[d.ID()] && d.ID() != r.ID() {
				out[r.ID()] = append(out[r.ID()], d.ID())
			}
		}
		if s, ok := capability[Stacked](r); ok {
			if f, err := r.Facts(); err == nil {
				if under, ok := s.Under(f); ok && in[under] && under != r.ID() {
					out[under] = append(out[under], r.ID())
				}
			}
		}
	}
	return out
}

// dependentsFirst orders recs so that what must be undone before an
// object (ties) comes before it; objects with no such tie keep their
// order (a stable topological order).
func dependentsFirst(recs []*Record, tied map[string][]string) []*Record {
	if len(recs) < 2 {
		return recs
	}
	at := map[string]int{}
	for i, r := range recs {
		at[r.ID()] = i
	}
	after := make([][]int, len(recs)) // after[j]: the objects that wait for j
	waits := make([]int, len(recs))   // how many objects each waits for
	for i, r := range recs {
		for _, id := range tied[r.ID()] {
			j := at[id]
			after[j] = append(after[j], i)
			waits[i]++
		}
	}
	out := make([]*Record, 0, len(recs))
	done := make([]bool, len(recs))
	for len(out) < len(recs) {
		i := 0
		for i < len(recs) && (done[i] || waits[i] > 0) {
			i++
		}
		if i == len(recs) { // a cycle, which no kind makes: the rest as given
			for j, r := range recs {
				if !done[j] {
					out = append(out, r)
				}
			}
			break
		}
		done[i] = true
		out = append(out, recs[i])
		for _, j := range after[i] {
			waits[j]--
		}
	}
	return out
}

// runs cuts recs, ordered, into runs of objects with no tie between them:
// each run is undone together.
func runs(recs []*Record, tied map[string][]string) [][]*Record {
	var out [][]*Record
	var cur []*Record
	in := map[string]bool{}
	for _, r := range recs {
		for _, id := range tied[r.ID()] {
			if in[id] {
				out, cur, in = append(out, cur), nil, map[string]bool{}
				break
			}
		}
		cur = append(cur, r)
		in[r.ID()] = true
	}
	return append(out, cur)
}

// unwindSet undoes runs in order; brought are the objects a kind brought
// down first (a bridge's attachments).
func unwindSet(ctx context.Context, env Env, runs [][]*Record, brought map[*Record]bool) (*Teardown, error) {
	out := &Teardown{}
	for _, run := range runs {
		ran, err := unwindRun(ctx, env, run)
		if !brought[run[0]] {
			out.Ran = append(out.Ran, ran...)
		}
		for _, r := range run {
			if _, lerr := env.St.Load(r.Kind, r.Name); errors.Is(lerr, fs.ErrNotExist) {
				out.Gone = append(out.Gone, r)
				if brought[r] {
					out.Detached = append(out.Detached, r)
				}
			}
		}
		if err == nil {
			continue
		}
		if brought[run[0]] {
			return out, fmt.Errorf("detaching: %w; the journals keep what is left, run this again or `plumb recover`", err)
		}
		return out, err
	}
	return out, nil
}

// unwindRun undoes objects with no tie between them: one alone (an error
// is an *UndoError), or many together, the last first, as a detach always
// has (see unwindAll).
func unwindRun(ctx context.Context, env Env, run []*Record) ([]string, error) {
	if len(run) == 1 {
		ran, err := unwindMode(ctx, env.R, env.St, run[0], env.Mode)
		if err != nil {
			return ran, &UndoError{Rec: run[0], Err: err}
		}
		return ran, nil
	}
	return UnwindAll(ctx, env.R, env.St, run, env.Mode)
}

// notRemoved are the records of recs that Remove was not given: those
// whose removal still refuses another's.
func (o DownOptions) notRemoved(recs []*Record) []*Record {
	var out []*Record
	for _, r := range recs {
		if !o.removing[r.ID()] {
			out = append(out, r)
		}
	}
	return out
}
