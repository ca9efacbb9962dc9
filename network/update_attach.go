package network

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"plumb/actions"
	"plumb/plan"
	"plumb/plan/firewall"
)

// Existing: one container given by the CLI, already attached to the
// bridge by `bridge attach`, is that attachment asked for again (see
// Republish). A runtime names its attachments itself (a second ADD of one
// is refused as before), and a container that plumb run attached has the
// ports plumb run gave it.
func (c *AttachCall) Existing(env plan.Env) (plan.Recipe, error) {
	if len(c.List) != 1 || c.List[0].ID.Object != "" {
		return nil, nil
	}
	a := c.List[0]
	if a.Target.IsHost() {
		return nil, nil
	}
	rec, err := FindAttachment(env.St, c.Bridge, a.Target, netip.Addr{})
	if err != nil || slices.Contains(a.Replaces, rec.ID()) {
		return nil, nil // not attached (or being replaced): a new attachment
	}
	f, err := rec.AttachmentFacts()
	if err != nil {
		return nil, err
	}
	switch {
	case !rec.Is(plan.AttachmentKind):
		return nil, plan.Refuse(targetFlag(a.Target), "%s is attached to %s as %s by %s; its ports are given when it is run", a.Target.Label(), c.Bridge, f.IP, rec.ID())
	case f.Runtime != nil:
		return nil, plan.Refuse(targetFlag(a.Target), "%s is attached to %s as %s by a runtime (%s); its ports are the runtime's", a.Target.Label(), c.Bridge, f.IP, rec.ID())
	}
	return &Republish{Asked: a, Rec: rec}, nil
}

// Republish is `bridge attach` of a container already attached to the
// bridge: the attachment asked for again. Its published ports change in
// place (Update); its address, interface and network do not.
type Republish struct {
	Asked *Attach      // as given
	Rec   *plan.Record // the attachment's header, as found
}

// Check: the input was checked as an attach's.
func (r *Republish) Check() error { return nil }

// Locks: the network, shared, the attachment, and the host's ports when
// it publishes any.
func (r *Republish) Locks() []plan.Lock {
	f, _ := r.Rec.Attachment()
	out := []plan.Lock{plan.NetworkLock(f.Bridge, true), plan.ObjectLock(plan.AttachmentKind.Name(), r.Rec.Name)}
	if len(r.Asked.Publish) > 0 {
		out = append(out, plan.PortsLock())
	}
	return out
}

// Plan is the attachment as it would be with the ports asked for: its
// facts and spec; its steps, those that publish them.
func (r *Republish) Plan(_ context.Context, env plan.Env) ([]*plan.Plan, error) {
	f, ok := r.Rec.Attachment()
	if !ok {
		return nil, fmt.Errorf("%s: its facts are not an attachment's", r.Rec.ID())
	}
	if ip := r.Asked.IP; ip.IsValid() && ip != f.IP && ip != f.IP6 {
		return nil, plan.Refuse("ip", "%s is attached to %s as %s; an address cannot change in place: detach it, then attach it again", r.Asked.Target.Label(), f.Bridge, f.IP)
	}
	if ip := r.Asked.IP6; ip.IsValid() && ip != f.IP6 {
		return nil, plan.Refuse("ip", "%s is attached to %s as %s; an address cannot change in place: detach it, then attach it again", r.Asked.Target.Label(), f.Bridge, f.IP6)
	}
	net, err := LoadNetwork(env.St, f.Bridge)
	if err != nil {
		return nil, err
	}
	ports := r.Asked.Publish
	if r.Asked.KeepPorts {
		ports = f.Ports
	}
	for _, p := range ports {
		if err := net.Rules().PublishRefused(net.Ref()); err != nil {
			return nil, err
		}
		if p.HostIP.IsValid() && !slices.ContainsFunc(f.IPs(), func(ip netip.Addr) bool { return ip.Is4() == p.HostIP.Is4() }) {
			return nil, plan.Refuse("publish", "%s publishes on %s only, and %s has no address of that family", p, p.HostIP, r.Rec.ID())
		}
	}
	want := f
	want.Ports = ports
	spec, err := plan.EncodeSpec(plan.AttachSpecVersion, plan.AttachSpecOf(want))
	if err != nil {
		return nil, err
	}
	rules, err := publishActions(f, ports)
	if err != nil {
		return nil, err
	}
	return []*plan.Plan{{Kind: plan.AttachmentKind.Name(), Name: r.Rec.Name, Target: r.Asked.Target, Facts: want, Spec: spec,
		Summary: r.Rec.Summary, Steps: stepsOf(rules)}}, nil
}

// publishActions are the firewall actions that publish ports to the
// container of attachment f, in its bridge's back end.
func publishActions(f plan.AttachmentFacts, ports []plan.Port) ([]actions.Action, error) {
	needs := publishNeeds(f.Bridge, actions.IfName(f.Bridge), f.IPs(), ports)
	if len(needs) == 0 {
		return nil, nil
	}
	fw, err := firewall.ByName(f.Firewall)
	if err != nil {
		return nil, fmt.Errorf("bridge/%s: %w", f.Bridge, err)
	}
	rules, err := fw.Actions(needs...)
	if err != nil {
		return nil, plan.RefuseErr("", err)
	}
	return rules, nil
}

// Again: the same ports are nothing to do.
func (r *Republish) Again(rec *plan.Record, p *plan.Plan) (string, error) {
	f, _ := rec.Attachment()
	return plan.Again(rec, p, "up", fmt.Sprintf("plumb bridge detach %s --ip %s", f.Bridge, f.IP))
}

// Preflight: a republish is always an update or nothing (Update checks the
// host); the attachment went between finding it and planning.
func (r *Republish) Preflight(context.Context, plan.Env) ([]string, error) {
	return nil, &plan.Refused{Msg: fmt.Sprintf("%s went while it was being updated; run the attach again", r.Rec.ID())}
}

// Update re-publishes only the ports that changed: the recorded rules of
// each port no longer asked for are removed (their recorded undos run,
// the rules themselves their undo), then each new port's are added; the
// other ports, the link and the addresses are left as they are.
func (r *Republish) Update(_ context.Context, env plan.Env, rec *plan.Record, p *plan.Plan) (*plan.Plan, error) {
	old, ok := rec.Attachment()
	if !ok {
		return nil, fmt.Errorf("%s: its facts are not an attachment's", rec.ID())
	}
	var now plan.AttachSpec
	if err := json.Unmarshal(p.Spec.Input, &now); err != nil {
		return nil, fmt.Errorf("%s: decoding the new spec: %w", p.ID(), err)
	}
	up := &plan.Plan{Kind: p.Kind, Name: p.Name, Target: p.Target, Facts: p.Facts, Spec: p.Spec, Summary: p.Summary, Base: rec}
	steps, err := republishSteps(env, rec, old, now.Publish)
	if err != nil {
		return nil, err
	}
	up.Steps = steps
	return up, nil
}

// republishSteps are the steps that take the ports rec publishes for its
// attachment old to now: the recorded rules of each port no longer asked
// for undone (the rules themselves their undo), then each new port's
// added; the other ports, the link and the addresses as they are.
func republishSteps(env plan.Env, rec *plan.Record, old plan.AttachmentFacts, now []plan.Port) ([]plan.Step, error) {
	var gone, added []plan.Port
	for _, q := range old.Ports {
		if !slices.Contains(now, q) {
			gone = append(gone, q)
		}
	}
	for _, q := range now {
		if !slices.Contains(old.Ports, q) {
			added = append(added, q)
		}
	}
	if err := portsFree(env.St, added); err != nil {
		return nil, err
	}
	removes, err := publishActions(old, gone)
	if err != nil {
		return nil, err
	}
	adds, err := publishActions(old, added)
	if err != nil {
		return nil, err
	}
	// A rule both ports need (iptables' ACCEPT names the container's
	// port: 8080:80 and 9090:80 share it) stays as it is.
	removes, adds = cancel(removes, adds)
	var reverts []plan.Step
	for _, a := range removes {
		i, err := recordedStep(rec, a)
		if err != nil {
			return nil, err
		}
		s := &rec.Steps[i]
		undo, err := s.Undo.Decode()
		if err != nil {
			return nil, err
		}
		made, err := s.Action.Decode()
		if err != nil {
			return nil, err
		}
		reverts = append(reverts, plan.Step{Action: undo, Restore: made, Reverts: i + 1})
	}
	slices.Reverse(reverts) // newest first, as down would
	steps := reverts
	net, err := LoadNetwork(env.St, old.Bridge)
	if err != nil {
		return nil, err
	}
	if needsLocalnet(rec, old, net.LoopbackGuard, added) {
		steps = append(steps, routeLocalnet(actions.IfName(old.Bridge)))
	}
	return append(steps, stepsOf(adds)...), nil
}

// recordedStep is the index of rec's done step that ran a, with an undo.
func recordedStep(rec *plan.Record, a actions.Action) (int, error) {
	want := plan.CommandLines(a)
	for i := range rec.Steps {
		s := &rec.Steps[i]
		if s.Status != plan.Done || s.Undo == nil {
			continue
		}
		if got, err := s.Action.Decode(); err == nil && plan.CommandLines(got) == want {
			return i, nil
		}
	}
	return 0, fmt.Errorf("%s: its journal holds no step %s to undo; detach it and attach it again", rec.ID(), strings.TrimSpace(plan.CommandLines(a)))
}

// needsLocalnet reports whether ports added to the attachment f need the
// bridge's route_localnet (see routeLocalnet) and rec holds none yet (it
// published no IPv4 port before).
func needsLocalnet(rec *plan.Record, f plan.AttachmentFacts, guard bool, added []plan.Port) bool {
	if !guard || !slices.ContainsFunc(publishNeeds(f.Bridge, actions.IfName(f.Bridge), f.IPs(), added), func(n firewall.Need) bool { return n.(firewall.Publish).To.Is4() }) {
		return false
	}
	key := routeLocalnet(actions.IfName(f.Bridge)).Shared
	return !slices.ContainsFunc(rec.Steps, func(s plan.StepRecord) bool { return s.Shared == key && s.Status == plan.Done })
}

// cancel drops from removes and adds each pair of the same command.
func cancel(removes, adds []actions.Action) ([]actions.Action, []actions.Action) {
	var keptRemoves []actions.Action
	adds = slices.Clone(adds)
	for _, r := range removes {
		i := slices.IndexFunc(adds, func(a actions.Action) bool { return plan.CommandLines(a) == plan.CommandLines(r) })
		if i < 0 {
			keptRemoves = append(keptRemoves, r)
			continue
		}
		adds = slices.Delete(adds, i, i+1)
	}
	return keptRemoves, adds
}
