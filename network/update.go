package network

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"plumb/actions"
	"plumb/plan"
	"plumb/plan/firewall"
)

// Update changes a bridge in place where the kernel can: its MTU (the
// bridge's alone; the ports keep theirs, and a bridge's MTU is kept at
// most its ports'). Its subnet, gateways, NAT and firewall back end are
// what its address, its rules and its attachments' addresses are made
// of: changing them is a replace (down, then up), refused while
// containers are attached, naming them.
func (b *Bridge) Update(ctx context.Context, env plan.Env, rec *plan.Record, p *plan.Plan) (*plan.Plan, error) {
	if !b.Change {
		return nil, nil
	}
	old, err := rec.BridgeSpec()
	if err != nil {
		return nil, plan.Refuse("", "%s is already up with other settings, and %v; run `plumb bridge down %s` first", rec.ID(), err, rec.Name)
	}
	var now plan.BridgeSpec
	if err := json.Unmarshal(p.Spec.Input, &now); err != nil {
		return nil, fmt.Errorf("%s: decoding the new spec: %w", p.ID(), err)
	}
	var fixed []plan.Change
	fixed = plan.Differ(fixed, "subnet", old.Subnet, now.Subnet)
	fixed = plan.Differ(fixed, "gateway", old.Gateway, now.Gateway)
	fixed = plan.Differ(fixed, "NAT", !old.NoNAT, !now.NoNAT)
	fixed = plan.Differ(fixed, "firewall", fwName(old.Firewall), fwName(now.Firewall))
	fixed = plan.Differ(fixed, "IPv6 subnet", old.Subnet6, now.Subnet6)
	fixed = plan.Differ(fixed, "IPv6 gateway", old.Gateway6, now.Gateway6)
	fixed = plan.Differ(fixed, "IPv6 NAT", old.NAT6, now.NAT6)
	fixed = plan.Differ(fixed, "mesh", meshName(old.Mesh), meshName(now.Mesh))
	fixed = plan.Differ(fixed, "dns", old.DNS, now.DNS)
	fixed = plan.Differ(fixed, "internal", old.Internal, now.Internal)
	fixed = plan.Differ(fixed, "isolate", old.Isolate, now.Isolate)
	attached := plan.Attachments(env.St, rec.Name)
	if len(fixed) > 0 {
		if len(attached) > 0 {
			return nil, plan.Refuse("", "%s cannot change in place (%s): that is a down and an up, and its %d attached containers depend on it: %s; detach them first",
				rec.ID(), plan.JoinChanges(fixed), len(attached), dependents(attached))
		}
		up, err := plan.ReplacePlan(env.St, rec, p)
		if err != nil {
			return nil, err
		}
		up.Remake = remakeBridge(old, env.St.Layout)
		up.Changes = plan.JoinChanges(fixed)
		return up, nil
	}
	up := &plan.Plan{Kind: p.Kind, Name: p.Name, Facts: p.Facts, Spec: p.Spec, Summary: p.Summary, Base: rec}
	up.Changes = plan.JoinChanges(plan.Differ(nil, "mtu", mtuName(old.MTU), mtuName(now.MTU)))
	if old.MTU != now.MTU {
		step, err := b.mtuChange(ctx, env, now.MTU, attached)
		if err != nil {
			return nil, err
		}
		up.Steps = append(up.Steps, step)
	}
	return up, nil
}

// mtuName is an MTU as a spec records it (0: the kernel's default).
func mtuName(mtu int) string {
	if mtu == 0 {
		return "1500 (the default)"
	}
	return fmt.Sprint(mtu)
}

// meshName is a recorded mesh's name ("" is none).
func meshName(m string) string {
	if m == "" {
		return "none"
	}
	return m
}

// fwName is a recorded firewall back end's name ("" is iptables).
func fwName(fw string) string {
	if fw == "" {
		return "iptables"
	}
	return fw
}

// mtuChange is the step that sets the bridge's MTU to mtu (0: the kernel's
// default for a new bridge, 1500), its undo the MTU the bridge has now, as
// the host says. The bridge's ports (its attachments' host ends, made with
// the MTU the bridge had then) are left as they are: a bridge above its
// ports' MTU would pass the host's frames to ports that drop them, so
// that is refused, naming the ports.
func (b *Bridge) mtuChange(ctx context.Context, env plan.Env, mtu int, attached []*plan.Record) (plan.Step, error) {
	if mtu == 0 {
		mtu = 1500
	}
	links, err := actions.LinkNames(ctx, env.R, actions.Netns{})
	if err != nil {
		return plan.Step{}, err
	}
	from, ok := links[b.Name.String()]
	if !ok {
		return plan.Step{}, plan.Refuse("", "the bridge %s recorded by plumb no longer exists on the host; run `plumb bridge down %s --force` to clean up", b.Name, b.Name)
	}
	var above, kept []string
	for _, a := range attached {
		f, ok := a.Attachment()
		if !ok {
			continue
		}
		if port, ok := links[f.HostVeth.String()]; ok && port < mtu {
			above = append(above, fmt.Sprintf("%s (MTU %d, %s)", f.HostVeth, port, f.IP))
		} else if ok && port > mtu {
			kept = append(kept, fmt.Sprintf("%s (MTU %d, %s)", f.HostVeth, port, f.IP))
		}
	}
	if len(kept) > 0 && len(above) == 0 {
		// Said, not refused: lowering the bridge's MTU is how a path
		// MTU problem is worked around, and the containers' ends keep
		// theirs until they are attached again.
		env.Warned.Once(ctx, fmt.Sprintf("%s's ports %s keep their MTU, above the bridge's %d: their containers send frames that large until detached and attached again", b.Name, strings.Join(kept, ", "), mtu))
	}
	if len(above) > 0 {
		return plan.Step{}, plan.Refuse("mtu", "%d is above the MTU of %s's ports %s; a bridge's MTU is at most its ports' (detach and attach them again to give them the new MTU first)",
			mtu, b.Name, strings.Join(above, ", "))
	}
	return plan.Step{Action: actions.LinkChangeMTU{Dev: b.Name, MTU: mtu, From: from}}, nil
}

// dependents names attachments as `bridge down` does: address (target).
func dependents(recs []*plan.Record) string {
	var ids []string
	for _, a := range recs {
		if f, ok := a.Attachment(); ok {
			ids = append(ids, f.IP.String()+" ("+f.Target+")")
		} else {
			ids = append(ids, a.ID())
		}
	}
	return strings.Join(ids, ", ")
}

// remakeBridge is the plan that makes again the bridge spec s describes.
func remakeBridge(s plan.BridgeSpec, l plan.Layout) func() (*plan.Plan, error) {
	return func() (*plan.Plan, error) {
		fw, err := firewall.ByName(s.Firewall)
		if err != nil {
			return nil, err
		}
		b := &Bridge{Name: s.Name, Subnet: s.Subnet, Gateway: s.Gateway, Uplink: s.Uplink, NoNAT: s.NoNAT, MTU: s.MTU,
			Firewall: fw, Subnet6: s.Subnet6, Gateway6: s.Gateway6, NAT6: s.NAT6, Mesh: s.Mesh, Cluster: s.Cluster, DNS: s.DNS, Project: s.Project}
		return b.plan(l)
	}
}
