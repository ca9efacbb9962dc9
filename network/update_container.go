package network

import (
	"context"
	"fmt"
	"slices"

	"plumb/plan"
)

// RepublishContainer changes the ports a container plumb run made
// publishes, in place: the rules of the ports it no longer publishes are
// undone and the new ones' added, as an update of the container's record
// (Update); its process, namespace and addresses are left as they are.
// A Compose file whose service changes only its ports is converged so.
type RepublishContainer struct {
	Rec   *plan.Record // the container's header, as found
	Ports []plan.Port
}

// Check: each host port once.
func (r *RepublishContainer) Check() error {
	for i, p := range r.Ports {
		for _, q := range r.Ports[:i] {
			if p.Shares(q) {
				return plan.Refuse("publish", "host port %d/%s is published twice (%s and %s)", p.Host, p.Proto, q, p)
			}
		}
	}
	return nil
}

// Locks: the container's network, shared, the container, and the host's
// ports.
func (r *RepublishContainer) Locks() []plan.Lock {
	out := []plan.Lock{plan.ObjectLock(plan.ContainerKind.Name(), r.Rec.Name), plan.PortsLock()}
	if f, err := r.Rec.Container(); err == nil && f.Net != nil {
		out = append([]plan.Lock{plan.NetworkLock(f.Net.Bridge, true)}, out...)
	}
	return out
}

// Plan is the container as it would be with the ports asked for: its
// facts; its steps, those that publish them.
func (r *RepublishContainer) Plan(_ context.Context, env plan.Env) ([]*plan.Plan, error) {
	f, err := r.Rec.Container()
	if err != nil {
		return nil, err
	}
	if f.Net == nil {
		return nil, plan.Refuse("publish", "%s has no network of its own: it publishes no port", r.Rec.ID())
	}
	net, err := LoadNetwork(env.St, f.Net.Bridge)
	if err != nil {
		return nil, err
	}
	if len(r.Ports) > 0 {
		if err := net.Rules().PublishRefused(net.Ref()); err != nil {
			return nil, err
		}
	}
	want := f
	n := *f.Net
	n.Ports = slices.Clone(r.Ports)
	want.Net = &n
	rules, err := publishActions(n, r.Ports)
	if err != nil {
		return nil, err
	}
	return []*plan.Plan{{Kind: plan.ContainerKind.Name(), Name: r.Rec.Name, Facts: want, Summary: r.Rec.Summary, Steps: stepsOf(rules)}}, nil
}

// Again: the same ports are nothing to do.
func (r *RepublishContainer) Again(rec *plan.Record, p *plan.Plan) (string, error) {
	return plan.Again(rec, p, "up", "plumb rm -f "+rec.Name)
}

// Preflight: a republish is always an update or nothing.
func (r *RepublishContainer) Preflight(context.Context, plan.Env) ([]string, error) {
	return nil, &plan.Refused{Msg: fmt.Sprintf("%s went while its ports were being changed", r.Rec.ID())}
}

// Update takes the ports from the recorded ones to those asked for.
func (r *RepublishContainer) Update(_ context.Context, env plan.Env, rec *plan.Record, p *plan.Plan) (*plan.Plan, error) {
	f, err := rec.Container()
	if err != nil {
		return nil, err
	}
	if f.Net == nil {
		return nil, fmt.Errorf("%s: no network", rec.ID())
	}
	steps, err := republishSteps(env, rec, *f.Net, r.Ports)
	if err != nil {
		return nil, err
	}
	return &plan.Plan{Kind: p.Kind, Name: p.Name, Facts: p.Facts, Summary: p.Summary, Base: rec, Steps: steps}, nil
}
