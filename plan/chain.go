package plan

import (
	"context"
	"errors"
	"fmt"

	"github.com/rs/zerolog"

	"plumb/actions"
)

// chained says whether plans are a chain (see Plan.Chain).
func chained(plans []*Plan) bool {
	return len(plans) > 1 && plans[len(plans)-1].Chain
}

// chain applies plans each of which needs those before it made (a
// container's sandbox and root file system, then its process): one after
// the other, each as a plan applied alone is. None is marked up before the
// last has run, and then in order, the last last: a crash leaves every
// object made so far unfinished, which recover undoes dependents first (see
// Recover), or, between two marks, the first ones up and held by nothing,
// which recover removes (see Orphans). A failure rolls back the plan that
// failed, then those before it, the last first; its message numbers the
// steps across the chain, as the plan shows them.
func chain(ctx context.Context, r actions.Runner, st *Store, plans []*Plan, mode Mode) ([]*Record, error) {
	var xs []*executor
	total := 0
	for _, p := range plans {
		if p.Base != nil {
			return nil, fmt.Errorf("%s: an update is applied alone", p.ID())
		}
		total += len(p.Steps)
	}
	// back rolls back the plans applied so far, the last first, adding
	// what it ran to err's.
	back := func(err error) error {
		var undone []string
		var undoErr error
		for i := len(xs) - 1; i >= 0; i-- {
			rec := xs[i].recs[0]
			ran, uerr := unwindMode(ctx, r, st, rec, mode)
			undone = append(undone, ran...)
			if uerr != nil {
				undoErr = errors.Join(undoErr, fmt.Errorf("%s: %w", rec.ID(), uerr))
			}
		}
		var ae *ApplyError
		if errors.As(err, &ae) {
			ae.Undone, ae.UndoErr = append(ae.Undone, undone...), errors.Join(ae.UndoErr, undoErr)
			return err
		}
		if undoErr != nil {
			return fmt.Errorf("%w\nrollback incomplete: %v\nthe journals keep what is left; run `plumb recover` to retry", err, undoErr)
		}
		return err
	}
	done := 0 // steps of the plans before the one applied
	for _, p := range plans {
		rec, err := NewRecord(p)
		if err != nil {
			return nil, back(fmt.Errorf("%s: %w", p.ID(), err))
		}
		x := &executor{ctx: ctx, r: r, st: st, plans: []*Plan{p}, mode: mode, recs: []*Record{rec},
			offs: []int{0}, segs: [][]segment{segments(p.Steps, mode)}}
		if len(x.segs[0]) > 0 && x.segs[0][0].shared(p.Steps) {
			// As execute: the ledger must name a journal that exists.
			if err := st.Save(rec); err != nil {
				return nil, back(err)
			}
		}
		if fail := x.sequence(); fail != nil {
			err := x.rollback(fail)
			if ae, ok := err.(*ApplyError); ok {
				ae.Step, ae.Total = done+ae.Step, total
			}
			return nil, back(err)
		}
		xs = append(xs, x)
		done += len(p.Steps)
	}
	recs := make([]*Record, len(xs))
	for i, x := range xs {
		if err := x.finish(); err != nil {
			// Every step ran, but a journal cannot say so: undo them all
			// rather than leave objects the journals call unfinished.
			zerolog.Ctx(ctx).Error().Err(err).Msgf("%s: recording that every step is done; rolling back", x.recs[0].ID())
			return nil, back(fmt.Errorf("%s: recording that every step is done: %w", x.recs[0].ID(), err))
		}
		recs[i] = x.recs[0]
	}
	return recs, nil
}
