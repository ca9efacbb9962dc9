package cni

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"

	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"
	"github.com/rs/zerolog"

	"plumb/actions"
	"plumb/network"
	"plumb/plan"
	"plumb/plan/ipam"
)

// Add is CNI ADD: the bridge on the first ADD (as `plumb bridge up`, and
// nothing to do when it is up with these settings), then the container's
// attachment (as `plumb bridge attach`), journaled under the runtime's
// identity. A failed ADD leaves nothing: the attachment's steps are rolled
// back, and a bridge this ADD made is taken down again. The result is
// chained to the config's prevResult when it has one; an error is a
// *types.Error.
func (p *Plugin) Add(ctx context.Context, conf *NetConf, args Args) (*types100.Result, error) {
	c, cerr := newCall(conf, args, true)
	if cerr != nil {
		return nil, cerr
	}
	if cerr := conf.OnMesh(p.Env.St); cerr != nil {
		return nil, cerr
	}
	defer p.Env.St.Unlock()
	settled, err := p.lockAdd(ctx, conf)
	if err != nil {
		return nil, asError(err, ErrApply)
	}
	madeBridge := false
	if !settled {
		if err := p.finishBridge(ctx, conf.Bridge.String()); err != nil {
			return nil, asError(keptAdvice(err), ErrUndo)
		}
		bout, err := plan.Up(ctx, p.Env, conf.BridgeRecipe(), false)
		if err != nil {
			return nil, asError(err, ErrApply)
		}
		madeBridge = bout.Unchanged == nil
	}
	out, err := plan.Up(ctx, p.Env, &network.AttachCall{Bridge: conf.Bridge.String(), List: []*network.Attach{c.attach()}}, false)
	if err != nil {
		if madeBridge {
			p.undoBridge(ctx, conf.Bridge.String())
		}
		return nil, asError(err, ErrApply)
	}
	f, _ := out.Records[0].Attachment()
	res := p.result(ctx, c, f)
	if len(conf.PrevResult) > 0 {
		if res, err = chained(conf, res); err != nil {
			return nil, asError(err, types.ErrDecodingFailure)
		}
	}
	return res, nil
}

// lockAdd takes what an ADD needs (see lockOnNetwork): with its bridge up
// as the config asks, each ADD runs under its attachment's own lock and
// the network's allocation lock, which the attach takes. A bridge up with
// other settings is refused as Up refuses it.
func (p *Plugin) lockAdd(ctx context.Context, conf *NetConf) (settled bool, err error) {
	return p.lockOnNetwork(ctx, conf.Bridge.String(), func() (bool, error) {
		return plan.Settled(ctx, p.Env, conf.BridgeRecipe())
	})
}

// undoBridge takes down a bridge the failed ADD made, unless something
// else was attached to it meanwhile (it cannot be: the lock is held).
func (p *Plugin) undoBridge(ctx context.Context, name string) {
	rec, err := p.Env.St.Load(plan.BridgeKind.Name(), name)
	if err == nil {
		err = p.tearDown(ctx, rec)
	}
	if err != nil {
		zerolog.Ctx(ctx).Warn().Msgf("taking down bridge/%s, which the failed ADD made: %v", name, err)
	}
}

// finishBridge finishes the rollback of the bridge's plan when an ADD
// killed while making the bridge left it unfinished, as `plumb recover`
// would for that one journal: a runtime knows nothing of recover, and
// every later ADD on the network would be refused ("run `plumb recover`
// first"). The lock is held, so no plumb is applying it now; a bridge in
// any state but up has nothing attached.
func (p *Plugin) finishBridge(ctx context.Context, name string) error {
	if name == "" {
		return nil
	}
	// Its header says its state; the whole journal is read only to undo it.
	rec, err := p.Env.St.LoadHeader(plan.BridgeKind.Name(), name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err == nil && rec.State == plan.StateUp {
		return nil
	}
	if rec, err = p.Env.St.Load(plan.BridgeKind.Name(), name); err != nil || rec.State == plan.StateUp {
		return err
	}
	zerolog.Ctx(ctx).Warn().Msgf("%s was left unfinished (state %s) by a plumb that was killed; rolling it back", rec.ID(), rec.State)
	_, err = plan.Remove(ctx, p.Env, []*plan.Record{rec}, plan.DownOptions{Rollback: true}, false)
	return err
}

// result is ADD's result: the bridge, the host's end of the veth pair and
// the container's interface (in the sandbox CNI_NETNS), the address with
// its gateway on the container's interface, the routes and the config's dns.
func (p *Plugin) result(ctx context.Context, c *call, f plan.AttachmentFacts) *types100.Result {
	// The MACs are read back: a failure here is no reason to undo a
	// working attachment, and the spec makes them optional.
	log := zerolog.Ctx(ctx)
	hostMAC, _, err := actions.LinkMAC(ctx, p.Env.R, actions.Netns{}, f.HostVeth)
	if err != nil {
		log.Warn().Msgf("reading the MAC of %s for the result: %v", f.HostVeth, err)
	}
	contMAC, mtu, err := actions.LinkMAC(ctx, p.Env.R, c.netns, f.If)
	if err != nil {
		log.Warn().Msgf("reading the MAC of %s in %s for the result: %v", f.If, c.netns.File, err)
	}
	return buildResult(c, f, hostMAC, contMAC, mtu)
}

// buildResult is the result of an attachment whose MACs were read.
func buildResult(c *call, f plan.AttachmentFacts, hostMAC, contMAC string, mtu int) *types100.Result {
	res := &types100.Result{CNIVersion: types100.ImplementedSpecVersion, DNS: c.conf.DNS}
	res.Interfaces = []*types100.Interface{
		{Name: f.Bridge, Mac: ipam.MAC(f.Gateway)},
		{Name: f.HostVeth.String(), Mac: hostMAC},
		{Name: f.If.String(), Mac: contMAC, Mtu: mtu, Sandbox: c.netns.File},
	}
	idx := 2
	res.IPs = []*types100.IPConfig{{Interface: &idx,
		Address: net.IPNet{IP: f.IP.AsSlice(), Mask: net.CIDRMask(f.PrefixLen, f.IP.BitLen())}, Gateway: f.Gateway.AsSlice()}}
	if f.IP6.IsValid() {
		res.IPs = append(res.IPs, &types100.IPConfig{Interface: &idx,
			Address: net.IPNet{IP: f.IP6.AsSlice(), Mask: net.CIDRMask(f.PrefixLen6, 128)}, Gateway: f.Gateway6.AsSlice()})
	}
	for _, r := range c.conf.Routes {
		res.Routes = append(res.Routes, &types.Route{Dst: net.IPNet{IP: r.Dst.Addr().AsSlice(), Mask: net.CIDRMask(r.Dst.Bits(), r.Dst.Addr().BitLen())}, GW: r.Via.AsSlice()})
	}
	return res
}

// chained adds plumb's result to the one a plugin before it in the list
// gave (prevResult), as the spec asks of a plugin that is not first.
func chained(conf *NetConf, mine *types100.Result) (*types100.Result, error) {
	res, err := prevResult(conf)
	if err != nil {
		return nil, fmt.Errorf("reading prevResult: %w", err)
	}
	base := len(res.Interfaces)
	res.Interfaces = append(res.Interfaces, mine.Interfaces...)
	for _, ip := range mine.IPs {
		i := *ip.Interface + base
		ip.Interface = &i
		res.IPs = append(res.IPs, ip)
	}
	res.Routes = append(res.Routes, mine.Routes...)
	if res.DNS.IsEmpty() {
		res.DNS = mine.DNS
	}
	return res, nil
}

// prevResult is the config's prevResult, read in its version.
func prevResult(conf *NetConf) (*types100.Result, error) {
	prev, err := version.NewResult(conf.CNIVersion, conf.PrevResult)
	if err != nil {
		return nil, err
	}
	return types100.GetResult(prev)
}

// PrintResult prints res in the config's own version, as a runtime reads
// it on the plugin's stdout.
func PrintResult(w io.Writer, res types.Result, v string) error {
	out, err := res.GetAsVersion(v)
	if err != nil {
		return Error(types.ErrIncompatibleCNIVersion, "giving the result as version %s: %v", v, err)
	}
	if err := out.PrintTo(w); err != nil {
		return Error(types.ErrIOFailure, "writing the result: %v", err)
	}
	_, err = io.WriteString(w, "\n")
	return err
}
