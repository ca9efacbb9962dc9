package main

import (
	"context"
	"io"
	"os"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"

	"plumb/cni"
)

// plumb as a CNI plugin: installed (or linked) as "plumb" in a CNI plugin
// directory and named by "type": "plumb", it speaks CNI whenever CNI_COMMAND
// is set and it is given no arguments. skel reads the CNI_* environment and
// the config on stdin; package cni answers; only the result, or the error,
// goes to stdout; logs go to stderr.

// cniMode reports whether plumb was started as a CNI plugin: a runtime
// starts a plugin with no arguments and CNI_COMMAND set.
func cniMode(args []string) bool { return len(args) == 0 && os.Getenv("CNI_COMMAND") != "" }

// cniMain answers one CNI call through skel, which prints the error JSON
// on stdout and exits 1 on failure.
func cniMain() {
	p := &cniCall{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
	skel.PluginMainFuncs(skel.CNIFuncs{Add: p.add, Del: p.del, Check: p.check, Status: p.status, GC: p.gc}, version.All, cni.About)
}

// cniCall is one call's plumbing: where the result and the logs go, and
// the environment its Config is read from.
type cniCall struct {
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

// plugin is the package's plugin with this call's Config, and the context
// to call it on (its logs on stderr at PLUMB_LOG_LEVEL, default warn:
// runtimes log a plugin's stderr).
func (p *cniCall) plugin() (*cni.Plugin, context.Context, func()) {
	ctx, stop := interruptible(context.Background())
	level := p.getenv("PLUMB_LOG_LEVEL")
	if level == "" {
		level = "warn"
	}
	ctx = newLogger("console", level, p.stderr, isTerminal(p.stderr)).WithContext(ctx)
	cfg := cniConfig(p.getenv)
	return &cni.Plugin{Env: cfg.Env(cfg.Runner(), cfg.Store()), Permit: privileged}, ctx, stop
}

// call reads the config with parse, PLUMB_FIREWALL the back end when it
// names none, and answers with fn.
func (p *cniCall) call(args *skel.CmdArgs, parse func([]byte, string) (*cni.NetConf, *types.Error),
	fn func(*cni.Plugin, context.Context, *cni.NetConf, cni.Args) error) error {
	conf, cerr := parse(args.StdinData, p.getenv("PLUMB_FIREWALL"))
	if cerr != nil {
		return cerr
	}
	plug, ctx, done := p.plugin()
	defer done()
	return fn(plug, ctx, conf, cni.Args{ContainerID: args.ContainerID, Netns: args.Netns, IfName: args.IfName, CNIArgs: args.Args})
}

func (p *cniCall) add(args *skel.CmdArgs) error {
	return p.call(args, cni.ParseNetConf, func(plug *cni.Plugin, ctx context.Context, conf *cni.NetConf, a cni.Args) error {
		res, err := plug.Add(ctx, conf, a)
		if err != nil {
			return err
		}
		return cni.PrintResult(p.stdout, res, conf.CNIVersion)
	})
}

func (p *cniCall) del(args *skel.CmdArgs) error {
	return p.call(args, cni.ParseDelNetConf, (*cni.Plugin).Del)
}

func (p *cniCall) check(args *skel.CmdArgs) error {
	return p.call(args, cni.ParseNetConf, (*cni.Plugin).Check)
}

func (p *cniCall) status(args *skel.CmdArgs) error {
	return p.call(args, cni.ParseNetConf, func(plug *cni.Plugin, ctx context.Context, conf *cni.NetConf, _ cni.Args) error {
		return plug.Status(ctx, conf)
	})
}

func (p *cniCall) gc(args *skel.CmdArgs) error {
	return p.call(args, cni.ParseNetConf, func(plug *cni.Plugin, ctx context.Context, conf *cni.NetConf, _ cni.Args) error {
		return plug.GC(ctx, conf)
	})
}
