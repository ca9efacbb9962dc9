package cni

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/rs/zerolog"

	"plumb/network"
	"plumb/plan"
)

// Del is CNI DEL: the attachment's recorded undos, as `plumb down` runs
// them. It succeeds when there is nothing to undo (repeated, after a failed
// ADD, no journal at all), and with an empty or stale CNI_NETNS: the host's
// side (its link, its rules, its address) is undone all the same, and what
// was in the namespace went with it. conf may hold the name alone (see
// ParseDelNetConf). An error is a *types.Error.
func (p *Plugin) Del(ctx context.Context, conf *NetConf, args Args) error {
	c, cerr := newCall(conf, args, false)
	if cerr != nil && args.IfName == "" {
		return cerr
	}
	if cerr != nil {
		// An ifname plumb would not take was never attached by plumb;
		// the identity is still derived from it.
		c = &call{conf: conf, ref: plan.RuntimeRef{Network: conf.Name, ContainerID: args.ContainerID, IfName: args.IfName}}
		c.id = network.RuntimeID(c.ref)
	}
	defer p.Env.St.Unlock()
	settled, err := p.lockDel(ctx, conf.Bridge.String(), c.id.Object)
	if err != nil {
		return asError(err, ErrUndo)
	}
	// A first ADD killed while it made the bridge: DEL, which runtimes
	// send after a failed ADD, leaves nothing of it either.
	if !settled {
		if err := p.finishBridge(ctx, conf.Bridge.String()); err != nil {
			return asError(keptAdvice(err), ErrUndo)
		}
	}
	rec, err := p.Env.St.Load(plan.AttachmentKind.Name(), c.id.Object)
	if errors.Is(err, fs.ErrNotExist) {
		zerolog.Ctx(ctx).Info().Msgf("attachment/%s: plumb keeps no such attachment; nothing to undo", c.id.Object)
		return nil
	}
	if err != nil {
		return asError(err, types.ErrIOFailure)
	}
	if err := p.tearDown(ctx, rec); err != nil {
		return asError(keptAdvice(err), ErrUndo)
	}
	return nil
}

// lockDel takes what a DEL needs (see lockOnNetwork): with its bridge up,
// the attachment's own lock beside the network's, as ADD takes them.
func (p *Plugin) lockDel(ctx context.Context, bridge, object string) (settled bool, err error) {
	return p.lockOnNetwork(ctx, bridge, func() (bool, error) {
		// Held shared, the bridge cannot be taken down; read again in
		// case it was before the lock was had.
		rec, err := p.Env.St.LoadHeader(plan.BridgeKind.Name(), bridge)
		return err == nil && rec.State == plan.StateUp, nil
	}, plan.ObjectLock(plan.AttachmentKind.Name(), object))
}

// tearDown undoes one object DEL, GC or a failed ADD removes, as `plumb
// down` does.
func (p *Plugin) tearDown(ctx context.Context, rec *plan.Record) error {
	_, err := plan.Remove(ctx, p.Env, []*plan.Record{rec}, plan.DownOptions{}, false)
	return err
}

// GC is CNI GC: every attachment plumb made for this network whose
// (container ID, ifname) the runtime does not list in
// cni.dev/valid-attachments is undone, going on past errors. A config
// without the key (not an empty list) removes nothing. An error is a
// *types.Error.
func (p *Plugin) GC(ctx context.Context, conf *NetConf) error {
	if !conf.HasValid {
		zerolog.Ctx(ctx).Warn().Msg("GC without cni.dev/valid-attachments: nothing is removed")
		return nil
	}
	valid := map[plan.RuntimeRef]bool{}
	for _, a := range conf.Valid {
		valid[plan.RuntimeRef{Network: conf.Name, ContainerID: a.ContainerID, IfName: a.IfName}] = true
	}
	defer p.Env.St.Unlock()
	if err := p.lock(ctx); err != nil {
		return asError(err, ErrUndo)
	}
	var errs []error
	for _, h := range network.RuntimeAttachments(p.Env.St, conf.Name) {
		f, _ := h.Attachment()
		if valid[*f.Runtime] {
			continue
		}
		rec, err := p.Env.St.Load(h.Kind, h.Name)
		if err == nil {
			zerolog.Ctx(ctx).Info().Msgf("GC: %s (container %s, %s) is not a valid attachment", rec.ID(), f.Runtime.ContainerID, f.Runtime.IfName)
			err = p.tearDown(ctx, rec)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", h.ID(), err))
		}
	}
	if len(errs) > 0 {
		return asError(keptAdvice(errors.Join(errs...)), ErrUndo)
	}
	return nil
}
