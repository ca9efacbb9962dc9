package plan

import (
	"context"
	"errors"
	"fmt"

	"github.com/rs/zerolog"
)

// ReplacePlan is the plan that replaces the object of rec by the one p
// makes, for settings the kernel cannot change in place: rec's undos (as
// down runs them), then p's steps. It is shown like any plan; applied, it
// is a down then an up (see replace).
func ReplacePlan(st *Store, rec *Record, p *Plan) (*Plan, error) {
	undo, err := undoPlanOf(st, p.Kind, p.Name, rec)
	if err != nil {
		return nil, err
	}
	out := *p
	out.Base, out.Replace = rec, true
	out.Steps = append(undo.Steps, p.Steps...)
	return &out, nil
}

// replace applies a replace: down of the old object, the recipe's checks
// of the host (with the old one gone), then the new plan. Should the new
// one fail (it is rolled back) the old is made again from its spec, so
// that a failed replace leaves the object as it was, under a new journal.
func replace(ctx context.Context, env Env, rc Recipe, out *Outcome, p *Plan, remake func() (*Plan, error)) error {
	old, changes := out.Plans[0].Base, out.Plans[0].Changes
	log := zerolog.Ctx(ctx)
	log.Warn().Msgf("%s cannot change in place (%s): replacing it (down, then up)", old.ID(), changes)
	if _, err := unwindMode(ctx, env.R, env.St, old, env.Mode); err != nil {
		return fmt.Errorf("replacing %s, its down failed: %w", old.ID(), err)
	}
	warnings, err := rc.Preflight(ctx, env)
	if err == nil {
		out.Plans = []*Plan{p}
		err = apply(ctx, env, out, warnings)
		if err == nil {
			// Said as what it was: a replace, and of what.
			p.Replace, p.Changes = true, changes
			return nil
		}
	}
	back, rerr := remake()
	if rerr == nil {
		_, rerr = execute(ctx, env.R, env.St, []*Plan{back}, env.Mode)
	}
	if rerr != nil {
		return errors.Join(fmt.Errorf("replacing %s: %w", old.ID(), err), fmt.Errorf("and making it again as it was failed: %w; it is down", rerr))
	}
	return fmt.Errorf("replacing %s: %w\n%s was made again as it was", old.ID(), err, old.ID())
}
