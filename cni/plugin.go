// Package cni is plumb as a CNI plugin, as a library: a runtime's config
// (NetConf) and arguments (Args) become the typed input of plumb's recipes
// (plan.Bridge for the network, made by the first ADD; plan.Attach for the
// container), and Add, Del, Check, GC and Status answer with the CNI
// library's types. cmd/plumb reads the CNI_* environment and stdin and
// prints; a runtime of Go, or a test, can call it the same way.
package cni

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/containernetworking/cni/pkg/types"

	"plumb/actions"
	"plumb/network"
	"plumb/plan"
)

// About is the plugin's one line for VERSION's callers and --help.
const About = "CNI plugin plumb: a bridge network whose every command is journaled, rolled back on failure, and shown first with `plumb cni plan`"

// Plugin-specific error codes (the spec leaves 100 and up to plugins).
const (
	ErrRefused uint = 100 // plumb refused the call: nothing was changed
	ErrApply   uint = 101 // a step failed; what ran was rolled back
	ErrDrift   uint = 102 // CHECK: the attachment is no longer as applied
	ErrUndo    uint = 103 // DEL, GC: an undo failed; the journal keeps it
)

// Plugin answers CNI calls with one state directory and runner.
type Plugin struct {
	// Env is what plan's bring-up and teardown work with (see
	// config.Config.Env); its store is unlocked when a call returns.
	Env plan.Env
	// Permit refuses, before the lock is taken, a call that would change
	// the host in a process without the privileges for it; nil permits.
	Permit func() error
}

// Args are the runtime's CNI_CONTAINERID, CNI_NETNS and CNI_IFNAME.
type Args struct {
	ContainerID string
	Netns       string
	IfName      string
	// CNIArgs is CNI_ARGS: K=V pairs separated by ';'.
	CNIArgs string
}

// call is one call's input: the config and the runtime's names, checked.
type call struct {
	conf  *NetConf
	ref   plan.RuntimeRef
	pod   *plan.PodRef
	id    network.AttachmentID
	netns actions.Netns
	ifc   actions.IfName
}

// newCall checks the runtime's names; netns may be empty unless needNetns.
func newCall(conf *NetConf, args Args, needNetns bool) (*call, *types.Error) {
	c := &call{conf: conf, ref: plan.RuntimeRef{Network: conf.Name, ContainerID: args.ContainerID, IfName: args.IfName}}
	c.id = network.RuntimeID(c.ref)
	pod, cerr := podOf(args.CNIArgs)
	if cerr != nil {
		return nil, cerr
	}
	c.pod = pod
	if args.IfName != "" {
		ifc, err := actions.ParseIfName(args.IfName)
		if err != nil {
			return nil, Error(types.ErrInvalidEnvironmentVariables, "CNI_IFNAME: %v", err)
		}
		c.ifc = ifc
	}
	if args.Netns != "" {
		if !filepath.IsAbs(args.Netns) {
			return nil, Error(types.ErrInvalidEnvironmentVariables, "CNI_NETNS %q is not an absolute path", args.Netns)
		}
		c.netns = actions.Netns{File: filepath.Clean(args.Netns)}
	} else if needNetns {
		return nil, Error(types.ErrInvalidEnvironmentVariables, "CNI_NETNS is empty")
	}
	return c, nil
}

// attach is the container's attachment as plumb's recipe takes it.
func (c *call) attach() *network.Attach {
	return &network.Attach{Target: c.netns, If: c.ifc, Publish: c.conf.Ports, ID: c.id, Runtime: &c.ref, Pod: c.pod,
		Range: c.conf.Range, Range6: c.conf.Range6, OwnRoutes: true, Routes: c.conf.Routes, Hairpin: c.conf.Hairpin}
}

// lock takes the state directory's lock for a call about to change the
// host.
func (p *Plugin) lock(ctx context.Context) error {
	if p.Permit != nil {
		if err := p.Permit(); err != nil {
			return err
		}
	}
	return p.Env.St.Lock(ctx, p.Env.Wait)
}

// lockOnNetwork takes what ADD and DEL need. With the bridge up (every
// call but those of a network whose first ADD has not finished), the
// network's lock shared and extra: calls on one network run side by side,
// and never wait for the state directory's lock, which a burst of them
// would keep from being free. settled, asked under those locks, says
// whether the bridge is still as the call needs it. Otherwise the state
// directory's lock, exclusive, to make or finish the bridge; ok says
// which was taken.
func (p *Plugin) lockOnNetwork(ctx context.Context, bridge string, settled func() (bool, error), extra ...plan.Lock) (ok bool, err error) {
	if p.Permit != nil {
		if err := p.Permit(); err != nil {
			return false, err
		}
	}
	if bridge != "" {
		if rec, err := p.Env.St.LoadHeader(plan.BridgeKind.Name(), bridge); err == nil && rec.State == plan.StateUp {
			if err := p.Env.St.LockFor(ctx, p.Env.Wait, append([]plan.Lock{plan.NetworkLock(bridge, true)}, extra...)...); err != nil {
				return false, err
			}
			ok, err := settled()
			if ok || err != nil {
				return ok, err
			}
			p.Env.St.Unlock() // taken down meanwhile: made or finished below
		}
	}
	return false, p.Env.St.Lock(ctx, p.Env.Wait)
}

// asError gives an error of plumb's its CNI code: refused input 100
// (nothing changed), a lock held too long 11 (try again), anything else
// fallback.
func asError(err error, fallback uint) *types.Error {
	var te *types.Error
	if errors.As(err, &te) {
		return te
	}
	var r *plan.Refused
	if errors.As(err, &r) {
		return Error(ErrRefused, "%s", r.Msg)
	}
	if strings.Contains(err.Error(), "is locked by") {
		return Error(types.ErrTryAgainLater, "%v", err)
	}
	return Error(fallback, "%v", err)
}

// keptAdvice says what to do when an undo failed and the journal keeps
// what is left.
func keptAdvice(err error) error {
	var ue *plan.UndoError
	if errors.As(err, &ue) {
		return fmt.Errorf("%w; the journal keeps what is left, run this again or `plumb recover`", err)
	}
	return err
}

// podOf reads the pod a Kubernetes runtime names in CNI_ARGS
// ("IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;..."), nil
// when it names none. Other keys are left alone whatever IgnoreUnknown
// says: plumb takes nothing else from CNI_ARGS, and containerd and CRI-O
// send them all with it set. A pair without '=' is an error, as the
// reference plugins' types.LoadArgs makes it.
func podOf(cniArgs string) (*plan.PodRef, *types.Error) {
	var pod plan.PodRef
	for _, pair := range strings.Split(cniArgs, ";") {
		if pair == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		if !ok {
			return nil, Error(types.ErrInvalidEnvironmentVariables, "CNI_ARGS: %q is not KEY=VALUE", pair)
		}
		switch k {
		case "K8S_POD_NAMESPACE":
			pod.Namespace = v
		case "K8S_POD_NAME":
			pod.Name = v
		case "K8S_POD_UID":
			pod.UID = v
		case "K8S_POD_INFRA_CONTAINER_ID":
			pod.InfraContainer = v
		}
	}
	if pod == (plan.PodRef{}) {
		return nil, nil
	}
	return &pod, nil
}
