package network

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"plumb/plan"
)

// Rename changes, in place, the names an object plumb keeps answers to on
// its network (a container's, or one of its attachments'), and a
// container's labels: a Compose service whose aliases change is converged
// so, its process, addresses and rules left as they are. Nothing runs on
// the host: the names are its record's, which the resolver reads. A
// failed or interrupted rename restores the old names, as any update's
// rollback restores its record.
type Rename struct {
	Rec    *plan.Record // the object's header, as found
	Names  []string     // its name first, then its aliases
	Labels map[string]string
}

// Check: names a resolver can answer, the object's own first.
func (r *Rename) Check() error {
	if len(r.Names) == 0 {
		return plan.Refuse("alias", "%s: no name", r.Rec.ID())
	}
	for _, n := range r.Names[1:] {
		if err := checkAlias(n); err != nil {
			return err
		}
	}
	if r.Labels != nil && !r.Rec.Is(plan.ContainerKind) {
		return plan.Refuse("", "%s: only a container has labels", r.Rec.ID())
	}
	return nil
}

// Locks: the object, and its network shared.
func (r *Rename) Locks() []plan.Lock {
	out := []plan.Lock{plan.ObjectLock(r.Rec.Kind, r.Rec.Name)}
	if f, ok := r.Rec.Attachment(); ok && f.Bridge != "" {
		out = append([]plan.Lock{plan.NetworkLock(f.Bridge, true)}, out...)
	}
	return out
}

// Plan is the object as it would be: its facts (a container's with the
// labels asked for) and names; no step.
func (r *Rename) Plan(context.Context, plan.Env) ([]*plan.Plan, error) {
	facts, err := r.Rec.Facts()
	if err != nil {
		return nil, err
	}
	if r.Labels != nil {
		f, err := r.Rec.Container()
		if err != nil {
			return nil, err
		}
		f.Labels = maps.Clone(r.Labels)
		facts = f
	}
	p := &plan.Plan{Kind: r.Rec.Kind, Name: r.Rec.Name, Facts: facts, Summary: r.Rec.Summary, Names: slices.Clone(r.Names)}
	if r.Rec.Target != nil {
		p.Target = *r.Rec.Target
	}
	return []*plan.Plan{p}, nil
}

// Again: the same names and labels are nothing to do.
func (r *Rename) Again(rec *plan.Record, p *plan.Plan) (string, error) {
	return plan.Again(rec, p, "up", "plumb down "+rec.ID())
}

// Preflight: a rename is always an update or nothing.
func (r *Rename) Preflight(context.Context, plan.Env) ([]string, error) {
	return nil, &plan.Refused{Msg: fmt.Sprintf("%s went while its names were being changed", r.Rec.ID())}
}

// Update is the record with the new names and facts, and no step.
func (r *Rename) Update(_ context.Context, _ plan.Env, rec *plan.Record, p *plan.Plan) (*plan.Plan, error) {
	return &plan.Plan{Kind: p.Kind, Name: p.Name, Target: p.Target, Facts: p.Facts, Summary: p.Summary, Names: p.Names, Base: rec}, nil
}
