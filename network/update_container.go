package network

import (
	"context"
	"fmt"
	"slices"

	"plumb/plan"
)

// RepublishContainer changes the ports a container plumb run made
// publishes, in place: the rules of the ports it no longer publishes are
// undone and the new ones' added, as an update of the record that holds
// its attachment (Update): its sandbox's, or a container's of version 1.
// Its process, namespace and addresses are left as they are. A Compose
// file whose service changes only its ports is converged so.
type RepublishContainer struct {
	Rec   *plan.Record // the sandbox's (or the container's) header, as found
	Ports []plan.Port
}

// attached is rec's attachment, nil with none, and its facts with another
// in its place: rec is a sandbox, or a container of version 1.
func attached(rec *plan.Record) (*plan.AttachmentFacts, func(plan.AttachmentFacts) plan.Facts, error) {
	f, err := rec.Facts()
	if err != nil {
		return nil, nil, err
	}
	switch f := f.(type) {
	case plan.SandboxFacts:
		return f.Net, func(n plan.AttachmentFacts) plan.Facts { f.Net = &n; return f }, nil
	case plan.ContainerFacts:
		return f.Net, func(n plan.AttachmentFacts) plan.Facts { f.Net = &n; return f }, nil
	}
	return nil, nil, fmt.Errorf("%s is neither a sandbox nor a container", rec.ID())
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
	out := []plan.Lock{plan.ObjectLock(r.Rec.Kind, r.Rec.Name), plan.PortsLock()}
	if n, _, err := attached(r.Rec); err == nil && n != nil {
		out = append([]plan.Lock{plan.NetworkLock(n.Bridge, true)}, out...)
	}
	return out
}

// Plan is the container as it would be with the ports asked for: its
// facts; its steps, those that publish them.
func (r *RepublishContainer) Plan(_ context.Context, env plan.Env) ([]*plan.Plan, error) {
	cur, with, err := attached(r.Rec)
	if err != nil {
		return nil, err
	}
	if cur == nil {
		return nil, plan.Refuse("publish", "%s has no network of its own: it publishes no port", r.Rec.ID())
	}
	net, err := LoadNetwork(env.St, cur.Bridge)
	if err != nil {
		return nil, err
	}
	if len(r.Ports) > 0 {
		if err := net.Rules().PublishRefused(net.Ref()); err != nil {
			return nil, err
		}
	}
	n := *cur
	n.Ports = slices.Clone(r.Ports)
	rules, err := publishActions(n, r.Ports)
	if err != nil {
		return nil, err
	}
	return []*plan.Plan{{Kind: r.Rec.Kind, Name: r.Rec.Name, Facts: with(n), Summary: r.Rec.Summary, Names: r.Rec.Names, Steps: stepsOf(rules)}}, nil
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
	cur, _, err := attached(rec)
	if err != nil {
		return nil, err
	}
	if cur == nil {
		return nil, fmt.Errorf("%s: no network", rec.ID())
	}
	steps, err := republishSteps(env, rec, *cur, r.Ports)
	if err != nil {
		return nil, err
	}
	return &plan.Plan{Kind: p.Kind, Name: p.Name, Facts: p.Facts, Summary: p.Summary, Base: rec, Steps: steps}, nil
}
