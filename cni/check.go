package cni

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os/exec"
	"strings"

	"github.com/containernetworking/cni/pkg/types"

	"plumb/actions"
	"plumb/plan"
)

// Check is CNI CHECK: `plumb check` of the attachment (and of its bridge),
// and the address the runtime cached (prevResult) is the one plumb gave.
// An error is a *types.Error.
func (p *Plugin) Check(ctx context.Context, conf *NetConf, args Args) error {
	c, cerr := newCall(conf, args, true)
	if cerr != nil {
		return cerr
	}
	defer p.Env.St.Unlock()
	rec, err := p.Env.St.Load(plan.AttachmentKind.Name(), c.id.Object)
	if errors.Is(err, fs.ErrNotExist) {
		return Error(types.ErrUnknownContainer, "plumb keeps no attachment of container %s as %s on %s (attachment/%s)", args.ContainerID, args.IfName, conf.Name, c.id.Object)
	}
	if err != nil {
		return asError(err, types.ErrIOFailure)
	}
	f, err := rec.AttachmentFacts()
	if err != nil {
		return asError(err, types.ErrIOFailure)
	}
	problems := c.recordDrift(f)
	recs := []*plan.Record{rec}
	if br, err := p.Env.St.Load(plan.BridgeKind.Name(), f.Bridge); err == nil {
		recs = append(recs, br)
	} else {
		problems = append(problems, fmt.Sprintf("plumb keeps no bridge/%s", f.Bridge))
	}
	for _, r := range recs {
		drift, err := plan.Check(ctx, p.Env.R, r)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		for _, dr := range drift {
			problems = append(problems, fmt.Sprintf("%s step %d (%s): %s", r.ID(), dr.Step, dr.Command, dr.Problem))
		}
	}
	if len(problems) > 0 {
		return types.NewError(ErrDrift, fmt.Sprintf("attachment/%s has drifted from what plumb applied: %s", rec.Name, problems[0]), strings.Join(problems, "; "))
	}
	return nil
}

// recordDrift is how the call disagrees with the attachment's journal:
// another bridge, another namespace, another address cached.
func (c *call) recordDrift(f plan.AttachmentFacts) []string {
	var problems []string
	if f.Bridge != c.conf.Bridge.String() {
		problems = append(problems, fmt.Sprintf("it is attached to %s, and the config names %s", f.Bridge, c.conf.Bridge))
	}
	if c.netns.File != "" && f.Target != c.netns.Label() {
		problems = append(problems, fmt.Sprintf("it was made in %s, and CNI_NETNS is %s", f.Target, c.netns.File))
	}
	if len(c.conf.PrevResult) > 0 {
		if msg := prevResultDrift(c.conf, f); msg != "" {
			problems = append(problems, msg)
		}
	}
	return problems
}

// prevResultDrift says how the runtime's cached result disagrees with the
// journal: another address.
func prevResultDrift(conf *NetConf, f plan.AttachmentFacts) string {
	res, err := prevResult(conf)
	if err != nil {
		return "prevResult cannot be read: " + err.Error()
	}
	for _, ip := range res.IPs {
		if ip.Address.IP.Equal(f.IP.AsSlice()) {
			return ""
		}
	}
	return fmt.Sprintf("prevResult does not list its address %s", f.IP)
}

// Status is CNI STATUS: ready when plumb can keep journals in its state
// directory and the tools it runs are installed. It starts no process: it
// is asked every few seconds. An error is a *types.Error.
func (p *Plugin) Status(ctx context.Context, conf *NetConf) error {
	defer p.Env.St.Unlock()
	if err := p.Env.St.Usable(); err != nil {
		return Error(types.ErrPluginNotAvailable, "plumb cannot keep its journals: %v", err)
	}
	if err := conf.OnMesh(p.Env.St); err != nil {
		// Not ready until this node's mesh is: the runtime holds pods back.
		return Error(types.ErrPluginNotAvailable, "%s", err.Msg)
	}
	tools := []string{"ip", "nsenter"}
	if conf.NAT {
		tools = append(tools, "iptables", "iptables-restore", "sysctl")
	}
	for _, t := range tools {
		if _, err := exec.LookPath(t); err != nil {
			return Error(types.ErrPluginNotAvailable, "%v", &actions.MissingToolError{Tool: t, Package: debianPackageOf(t)})
		}
	}
	return nil
}

// debianPackageOf names the package that installs a tool.
func debianPackageOf(tool string) string {
	switch tool {
	case "ip":
		return "iproute2"
	case "nsenter":
		return "util-linux"
	case "sysctl":
		return "procps"
	}
	return "iptables"
}
