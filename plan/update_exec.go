package plan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/rs/zerolog"

	"plumb/actions"
)

// Updating is what a record being changed in place keeps of itself as it
// was, so that a failed update (rolled back now, or by `plumb recover`
// after a crash) restores the old object and the old record: the update's
// steps are those from From on.
type Updating struct {
	From    int    `json:"from"`
	Summary string `json:"summary"`
	// The facts before the update, in the form the record kept them.
	Details      map[string]string `json:"details,omitempty"`
	FactsJSON    json.RawMessage   `json:"facts,omitempty"`
	FactsVersion int               `json:"facts_version,omitempty"`
	Spec         *Spec             `json:"spec,omitempty"`
	// Renamed: the update changes the names the object answers to on its
	// network (Names are the old ones, nil for a record that kept none).
	Renamed bool     `json:"renamed,omitempty"`
	Names   []string `json:"names,omitempty"`
}

// factsRecord is a record of rec's kind and name holding only the facts
// u kept: what dropEntries compares with.
func (u *Updating) factsRecord(rec *Record) *Record {
	r := &Record{Kind: rec.Kind, Name: rec.Name, Details: u.Details, FactsJSON: u.FactsJSON, FactsVersion: u.FactsVersion, Names: rec.Names, beside: rec.beside}
	if u.Renamed {
		r.Names = u.Names
	}
	return r
}

// newUpdateRecord is the journal of an update before its first step: the
// base record's steps as they are, the update's appended pending, the new
// spec and facts, and what to restore should it fail.
func newUpdateRecord(p *Plan) (*Record, error) {
	if err := recordable(p); err != nil {
		return nil, err
	}
	b := p.Base
	if b.State != StateUp || b.Updating != nil {
		return nil, &Refused{Msg: fmt.Sprintf("%s has an unfinished plan (state %s); run `plumb recover` first", b.ID(), b.State)}
	}
	rec := *b
	rec.Steps = slices.Clone(b.Steps)
	rec.Updating = &Updating{From: len(b.Steps), Summary: b.Summary, Details: maps.Clone(b.Details),
		FactsJSON: slices.Clone(b.FactsJSON), FactsVersion: b.FactsVersion, Spec: b.Spec}
	rec.State, rec.Summary, rec.Spec = StateApplying, p.Summary, p.Spec
	if p.Names != nil && !slices.Equal(p.Names, b.Names) {
		rec.Updating.Renamed, rec.Updating.Names = true, slices.Clone(b.Names)
		rec.Names = slices.Clone(p.Names)
	}
	if p.Facts != nil {
		if err := rec.SetFacts(p.Facts); err != nil {
			return nil, err
		}
	}
	for _, s := range p.Steps {
		enc, err := encode(s.Action)
		if err != nil {
			return nil, err
		}
		rec.Steps = append(rec.Steps, StepRecord{Action: *enc, Shared: s.Shared, Status: Pending})
	}
	return &rec, nil
}

// updated ends a successful update, before its record is saved: the
// recorded steps it reverted are undone, and the steps that reverted them
// are not kept (down would redo what they removed, to remove it again),
// nor are transient steps; the record is up with the new spec, its steps the old ones and the
// update's. It returns the facts the record had, whose index entries
// the new facts lack go once it is saved (see dropEntries).
func updated(rec *Record, p *Plan) (*Record, error) {
	u := rec.Updating
	kept := slices.Clone(rec.Steps[:u.From])
	for i, s := range p.Steps {
		if s.Transient {
			continue
		}
		if s.Reverts == 0 {
			kept = append(kept, rec.Steps[u.From+i])
			continue
		}
		if s.Reverts > u.From {
			return nil, fmt.Errorf("%s: step %d reverts step %d, which the record does not hold", rec.ID(), i+1, s.Reverts)
		}
		kept[s.Reverts-1].Status = Undone
	}
	rec.Steps = kept
	rec.Updating = nil
	return u.factsRecord(rec), nil
}

// dropEntries removes, once rec is saved, the index entries that facts
// (its facts before an update, or during one) gave it and its facts now
// do not: a port it no longer publishes is free.
func dropEntries(st *Store, rec *Record, old *Record) {
	now := st.entries(rec)
	for _, e := range st.entries(old) {
		if !slices.Contains(now, e) {
			st.dropEntry(e, rec.ID())
		}
	}
	// The names it no longer answers to (an alias changed in place); the
	// ones it does were indexed when rec was saved up.
	var gone []string
	for _, n := range old.Names {
		if !slices.Contains(rec.Names, n) {
			gone = append(gone, n)
		}
	}
	if len(gone) > 0 && old.Names != nil && rec.Names != nil {
		was := *rec
		was.Names = gone
		st.indexNamesDrop(&was)
	}
}

// unwindUpdate undoes an update's steps in reverse and puts the record back
// as it was before it (state up, the old spec, facts and summary). Every
// undo is tried; when one fails the record keeps the update, in state
// undo-failed, for `plumb recover`.
func unwindUpdate(ctx context.Context, r actions.Runner, st *Store, rec *Record) ([]string, error) {
	ctx, cancel := undoContext(ctx)
	defer cancel()
	u := rec.Updating
	rec.State = StateUndoing
	if err := st.Save(rec); err != nil {
		return nil, err
	}
	var ran []string
	var errs []error
	for i := len(rec.Steps) - 1; i >= u.From; i-- {
		s := &rec.Steps[i]
		if !undoable(s) {
			continue
		}
		cmds, _, err := undoStep(ctx, r, st, rec, s)
		ran = append(ran, cmds...)
		if err != nil {
			zerolog.Ctx(ctx).Error().Err(err).Msgf("undo of step %d failed", i+1)
			s.Status, s.Error = UndoFailed, err.Error()
			errs = append(errs, fmt.Errorf("undoing step %d: %w", i+1, err))
			continue
		}
		s.Status = Undone
	}
	if len(errs) > 0 {
		rec.State = StateUndoFailed
		if err := st.Save(rec); err != nil {
			errs = append(errs, err)
		}
		return ran, errors.Join(errs...)
	}
	during := &Record{Kind: rec.Kind, Name: rec.Name, Details: rec.Details, FactsJSON: rec.FactsJSON, FactsVersion: rec.FactsVersion, Names: rec.Names, beside: rec.beside}
	rec.Steps = rec.Steps[:u.From]
	if u.Renamed {
		rec.Names = u.Names
	}
	rec.State, rec.Summary, rec.Spec, rec.Updating = StateUp, u.Summary, u.Spec, nil
	rec.Details, rec.FactsJSON, rec.FactsVersion = u.Details, u.FactsJSON, u.FactsVersion
	if err := st.Save(rec); err != nil {
		return ran, err
	}
	dropEntries(st, rec, during)
	return ran, nil
}

// Updater is a recipe whose object, asked for again with other input, can
// be changed in place. Update gets the object's whole record and the plan
// that would make it from the new input, and returns the plan that turns
// the old object into the new (Base set: see Plan.Base), reading the host
// where it must (read-only), or refuses what the kernel cannot change in
// place, saying what would have to go. A nil plan and error: the recipe
// does not change this object; Up refuses other input as Again says.
type Updater interface {
	Update(ctx context.Context, env Env, rec *Record, p *Plan) (*Plan, error)
}

// updateOf loads p's object whole (it is to be changed) and asks u for the
// update.
func updateOf(ctx context.Context, env Env, u Updater, p *Plan) (*Plan, error) {
	rec, err := env.St.Load(p.Kind, p.Name)
	if err != nil {
		return nil, err
	}
	return u.Update(ctx, env, rec, p)
}

// Change is one setting that differs between an object's old input and
// its new: "mtu 1500 → 1400".
type Change struct{ what, from, to string }

func (c Change) String() string { return fmt.Sprintf("%s %s → %s", c.what, c.from, c.to) }

// Differ appends to cs the setting what when from and to differ.
func Differ[T comparable](cs []Change, what string, from, to T) []Change {
	if from == to {
		return cs
	}
	return append(cs, Change{what, fmt.Sprint(from), fmt.Sprint(to)})
}

func JoinChanges(cs []Change) string {
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = c.String()
	}
	return strings.Join(s, ", ")
}
