package cni

import (
	"context"
	"errors"
	"io/fs"

	"github.com/rs/zerolog"

	"plumb/network"
	"plumb/plan"
)

// PlanAdd is the plan ADD would run now, changing nothing and taking no
// lock: the bridge's when plumb keeps no bridge of that name yet, then the
// container's attachment with the address it would get now.
func (p *Plugin) PlanAdd(ctx context.Context, conf *NetConf, args Args) ([]*plan.Plan, error) {
	c, cerr := newCall(conf, args, true)
	if cerr != nil {
		return nil, &plan.Refused{Msg: cerr.Error()}
	}
	if cerr := conf.OnMesh(p.Env.St); cerr != nil {
		return nil, &plan.Refused{Msg: cerr.Error()}
	}
	var plans []*plan.Plan
	if _, err := p.Env.St.Load(plan.BridgeKind.Name(), conf.Bridge.String()); errors.Is(err, fs.ErrNotExist) {
		out, err := plan.Up(ctx, p.Env, conf.BridgeRecipe(), true)
		if err != nil {
			return nil, err
		}
		plans = append(plans, out.Plans...)
	}
	net := conf.Network()
	out, err := plan.Up(ctx, p.Env, &network.AttachCall{Bridge: conf.Bridge.String(), List: []*network.Attach{c.attach()}, Network: &net}, true)
	if err != nil {
		return nil, err
	}
	return append(plans, out.Plans...), nil
}

// PlanDel is the plan DEL would run now: the undos recorded for the
// attachment, or an empty plan when plumb keeps none.
func (p *Plugin) PlanDel(ctx context.Context, conf *NetConf, args Args) (*plan.Plan, error) {
	c, cerr := newCall(conf, args, false)
	if cerr != nil {
		return nil, &plan.Refused{Msg: cerr.Error()}
	}
	rec, err := p.Env.St.Load(plan.AttachmentKind.Name(), c.id.Object)
	if errors.Is(err, fs.ErrNotExist) {
		zerolog.Ctx(ctx).Warn().Msgf("plumb keeps no attachment/%s (container %s, %s on %s): DEL would change nothing", c.id.Object, args.ContainerID, args.IfName, conf.Name)
		return &plan.Plan{Kind: plan.AttachmentKind.Name(), Name: c.id.Object}, nil
	}
	if err != nil {
		return nil, err
	}
	td, err := plan.Remove(ctx, p.Env, []*plan.Record{rec}, plan.DownOptions{}, true)
	if err != nil {
		return nil, err
	}
	return td.Plan, nil
}

// ID is the name of the attachment the call is about (attachment/ID), as
// plumb derives it from the runtime's names.
func ID(conf *NetConf, args Args) string {
	return network.RuntimeID(plan.RuntimeRef{Network: conf.Name, ContainerID: args.ContainerID, IfName: args.IfName}).Object
}
