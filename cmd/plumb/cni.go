package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"
	"github.com/rs/zerolog"

	"plumb/actions"
	"plumb/plan"
	"plumb/plan/ipam"
)

// plumb as a CNI plugin: installed (or linked) as "plumb" in a CNI plugin
// directory and named by "type": "plumb", it speaks CNI whenever CNI_COMMAND
// is set and it is given no arguments. The environment and the config on
// stdin become the same typed input the CLI's recipes take: plan.Bridge for
// the network (made by the first ADD), plan.Attach for the container, plan
// teardown for DEL and GC, plan.Check for CHECK. Only the result, or the
// error, goes to stdout; logs go to stderr.

// Plugin-specific error codes (the spec leaves 100 and up to plugins).
const (
	cniErrRefused uint = 100 // plumb refused the call: nothing was changed
	cniErrApply   uint = 101 // a step failed; what ran was rolled back
	cniErrDrift   uint = 102 // CHECK: the attachment is no longer as applied
	cniErrUndo    uint = 103 // DEL, GC: an undo failed; the journal keeps it
)

const cniAbout = "CNI plugin plumb: a bridge network whose every command is journaled, rolled back on failure, and shown first with `plumb cni plan`"

// cniMode reports whether plumb was started as a CNI plugin: a runtime
// starts a plugin with no arguments and CNI_COMMAND set.
func cniMode(args []string) bool { return len(args) == 0 && os.Getenv("CNI_COMMAND") != "" }

// cniMain answers one CNI call through skel, which prints the error JSON
// on stdout and exits 1 on failure.
func cniMain() {
	p := &cniPlugin{stdout: os.Stdout, stderr: os.Stderr, firewall: os.Getenv("PLUMB_FIREWALL")}
	skel.PluginMainFuncs(skel.CNIFuncs{Add: p.add, Del: p.del, Check: p.check, Status: p.status, GC: p.gc}, version.All, cniAbout)
}

// cniPlugin is one call's plumbing: where the result and the logs go.
type cniPlugin struct {
	stdout io.Writer
	stderr io.Writer
	// firewall is PLUMB_FIREWALL: the back end when a config names none.
	firewall string
}

// deps are the CLI's dependencies, from the environment: PLUMB_STATE_DIR,
// PLUMB_EXEC, PLUMB_LOG_LEVEL (default warn: runtimes log a plugin's stderr)
// and PLUMB_WAIT (how long to wait for the state directory's lock, 60s).
func (p *cniPlugin) deps() (*deps, func()) {
	ctx, stop := interruptible(context.Background())
	level := os.Getenv("PLUMB_LOG_LEVEL")
	if level == "" {
		level = "warn"
	}
	ctx = newLogger("console", level, p.stderr).WithContext(ctx)
	dir := os.Getenv("PLUMB_STATE_DIR")
	if dir == "" {
		dir = "/run/plumb"
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	wait := 60 * time.Second
	if w, err := time.ParseDuration(os.Getenv("PLUMB_WAIT")); err == nil {
		wait = w
	}
	d := &deps{ctx: ctx, runner: newExec(false), store: plan.NewStore(dir), stdin: os.Stdin, stdout: p.stdout, wait: wait,
		proc: os.Getenv("PLUMB_PROC"), warned: &plan.Warned{}}
	if os.Getenv("PLUMB_EXEC") == "each" {
		d.mode = plan.Each
		d.runner = newExec(true)
	}
	return d, func() { d.store.Unlock(); stop() }
}

// cniCall is one call's input: the config and the runtime's names.
type cniCall struct {
	conf  *cniConf
	ref   plan.RuntimeRef
	id    plan.AttachmentID
	netns actions.Netns
	ifc   actions.IfName
}

// readCall turns skel's arguments into typed input; netns may be empty
// (DEL).
func (p *cniPlugin) readCall(args *skel.CmdArgs, needNetns bool) (*cniCall, *types.Error) {
	conf, cerr := parseCNIConf(args.StdinData, p.firewall)
	if cerr != nil {
		return nil, cerr
	}
	return callOf(conf, args, needNetns)
}

func callOf(conf *cniConf, args *skel.CmdArgs, needNetns bool) (*cniCall, *types.Error) {
	c := &cniCall{conf: conf, ref: plan.RuntimeRef{Network: conf.Name, ContainerID: args.ContainerID, IfName: args.IfName}}
	c.id = plan.RuntimeID(c.ref)
	if args.IfName != "" {
		ifc, err := actions.ParseIfName(args.IfName)
		if err != nil {
			return nil, cniError(types.ErrInvalidEnvironmentVariables, "CNI_IFNAME: %v", err)
		}
		c.ifc = ifc
	}
	if args.Netns != "" {
		if !filepath.IsAbs(args.Netns) {
			return nil, cniError(types.ErrInvalidEnvironmentVariables, "CNI_NETNS %q is not an absolute path", args.Netns)
		}
		c.netns = actions.Netns{File: filepath.Clean(args.Netns)}
	} else if needNetns {
		return nil, cniError(types.ErrInvalidEnvironmentVariables, "CNI_NETNS is empty")
	}
	return c, nil
}

// attach is the container's attachment as plumb's recipe takes it.
func (c *cniCall) attach() *plan.Attach {
	return &plan.Attach{Target: c.netns, If: c.ifc, Publish: c.conf.Ports, ID: c.id, Runtime: &c.ref,
		Range: c.conf.Range, Range6: c.conf.Range6, OwnRoutes: true, Routes: c.conf.Routes, Hairpin: c.conf.Hairpin}
}

// asCNIError gives an error of plumb's its CNI code: refused input 100
// (nothing changed), a lock held too long 11 (try again), anything else 101.
func asCNIError(err error, fallback uint) *types.Error {
	var te *types.Error
	if errors.As(err, &te) {
		return te
	}
	var r *plan.Refused
	if errors.As(err, &r) {
		return cniError(cniErrRefused, "%s", r.Msg)
	}
	if strings.Contains(err.Error(), "is locked by") {
		return cniError(types.ErrTryAgainLater, "%v", err)
	}
	return cniError(fallback, "%v", err)
}

// add is CNI ADD: the bridge on the first ADD (as `plumb bridge up`, and
// nothing to do when it is up with these settings), then the container's
// attachment (as `plumb bridge attach`), journaled under the runtime's
// identity. A failed ADD leaves nothing: the attachment's steps are rolled
// back, and a bridge this ADD made is taken down again.
func (p *cniPlugin) add(args *skel.CmdArgs) error {
	c, cerr := p.readCall(args, true)
	if cerr != nil {
		return cerr
	}
	d, done := p.deps()
	defer done()
	if err := d.lock(); err != nil {
		return asCNIError(err, cniErrApply)
	}
	if err := p.finishBridge(d, c.conf.Bridge.String()); err != nil {
		return asCNIError(keptAdvice(err), cniErrUndo)
	}
	env := d.env()
	bout, err := plan.Up(d.ctx, env, c.conf.bridge(), false)
	if err != nil {
		return asCNIError(err, cniErrApply)
	}
	madeBridge := bout.Unchanged == nil
	a := c.attach()
	out, err := plan.Up(d.ctx, env, &plan.AttachCall{Bridge: c.conf.Bridge.String(), List: []*plan.Attach{a}}, false)
	if err != nil {
		if madeBridge {
			p.undoBridge(d, c.conf.Bridge.String())
		}
		return asCNIError(err, cniErrApply)
	}
	f, _ := out.Records[0].Attachment()
	res := p.result(d, c, f)
	if len(c.conf.PrevResult) > 0 {
		if res, err = chained(c.conf, res); err != nil {
			return asCNIError(err, types.ErrDecodingFailure)
		}
	}
	return printResult(p.stdout, res, c.conf.CNIVersion)
}

// undoBridge takes down a bridge the failed ADD made, unless something
// else was attached to it meanwhile (it cannot be: the lock is held).
func (p *cniPlugin) undoBridge(d *deps, name string) {
	rec, err := d.store.Load("bridge", name)
	if err == nil {
		_, err = plan.TearDown(d.ctx, d.env(), rec, plan.DownOptions{}, false)
	}
	if err != nil {
		zerolog.Ctx(d.ctx).Warn().Msgf("taking down bridge/%s, which the failed ADD made: %v", name, err)
	}
}

// finishBridge finishes the rollback of the bridge's plan when an ADD
// killed while making the bridge left it unfinished, as `plumb recover`
// would for that one journal: a runtime knows nothing of recover, and
// every later ADD on the network would be refused ("run `plumb recover`
// first"). The lock is held, so no plumb is applying it now; a bridge in
// any state but up has nothing attached.
func (p *cniPlugin) finishBridge(d *deps, name string) error {
	if name == "" {
		return nil
	}
	// Its header says its state; the whole journal is read only to undo it.
	rec, err := d.store.LoadHeader("bridge", name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err == nil && rec.State == plan.StateUp {
		return nil
	}
	if rec, err = d.store.Load("bridge", name); err != nil || rec.State == plan.StateUp {
		return err
	}
	zerolog.Ctx(d.ctx).Warn().Msgf("%s was left unfinished (state %s) by a plumb that was killed; rolling it back", rec.ID(), rec.State)
	_, err = plan.Down(d.ctx, d.runner, d.store, rec)
	if err != nil {
		return &plan.UndoError{Rec: rec, Err: err}
	}
	return nil
}

// printResult prints res in the config's own version.
func printResult(w io.Writer, res types.Result, v string) error {
	out, err := res.GetAsVersion(v)
	if err != nil {
		return cniError(types.ErrIncompatibleCNIVersion, "giving the result as version %s: %v", v, err)
	}
	if err := out.PrintTo(w); err != nil {
		return cniError(types.ErrIOFailure, "writing the result: %v", err)
	}
	_, err = io.WriteString(w, "\n")
	return err
}

// result is ADD's result: the bridge, the host's end of the veth pair and
// the container's interface (in the sandbox CNI_NETNS), the address with
// its gateway on the container's interface, the routes and the config's dns.
func (p *cniPlugin) result(d *deps, c *cniCall, f plan.AttachmentFacts) *types100.Result {
	// The MACs are read back: a failure here is no reason to undo a
	// working attachment, and the spec makes them optional.
	log := zerolog.Ctx(d.ctx)
	hostMAC, _, err := actions.LinkMAC(d.ctx, d.runner, actions.Netns{}, f.HostVeth)
	if err != nil {
		log.Warn().Msgf("reading the MAC of %s for the result: %v", f.HostVeth, err)
	}
	contMAC, mtu, err := actions.LinkMAC(d.ctx, d.runner, c.netns, f.If)
	if err != nil {
		log.Warn().Msgf("reading the MAC of %s in %s for the result: %v", f.If, c.netns.File, err)
	}
	return buildResult(c, f, hostMAC, contMAC, mtu)
}

// buildResult is the result of an attachment whose MACs were read.
func buildResult(c *cniCall, f plan.AttachmentFacts, hostMAC, contMAC string, mtu int) *types100.Result {
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
func chained(conf *cniConf, mine *types100.Result) (*types100.Result, error) {
	prev, err := version.NewResult(conf.CNIVersion, conf.PrevResult)
	if err != nil {
		return nil, fmt.Errorf("reading prevResult: %w", err)
	}
	res, err := types100.GetResult(prev)
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

// del is CNI DEL: the attachment's recorded undos, as `plumb down` runs
// them. It succeeds when there is nothing to undo (repeated, after a failed
// ADD, no journal at all), and with an empty or stale CNI_NETNS: the host's
// side (its link, its rules, its address) is undone all the same, and what
// was in the namespace went with it. A config plumb would refuse for ADD
// does not stop a DEL: its name is enough to find the attachment.
func (p *cniPlugin) del(args *skel.CmdArgs) error {
	conf, cerr := parseCNIConf(args.StdinData, p.firewall)
	if cerr != nil {
		var named struct {
			Name string `json:"name"`
		}
		if json.Unmarshal(args.StdinData, &named) != nil || named.Name == "" {
			return cerr
		}
		conf = &cniConf{Name: named.Name}
	}
	c, cerr := callOf(conf, args, false)
	if cerr != nil && args.IfName == "" {
		return cerr
	}
	if cerr != nil {
		// An ifname plumb would not take was never attached by plumb;
		// the identity is still derived from it.
		c = &cniCall{conf: conf, ref: plan.RuntimeRef{Network: conf.Name, ContainerID: args.ContainerID, IfName: args.IfName}}
		c.id = plan.RuntimeID(c.ref)
	}
	d, done := p.deps()
	defer done()
	if err := d.lock(); err != nil {
		return asCNIError(err, cniErrUndo)
	}
	// A first ADD killed while it made the bridge: DEL, which runtimes
	// send after a failed ADD, leaves nothing of it either.
	if err := p.finishBridge(d, c.conf.Bridge.String()); err != nil {
		return asCNIError(keptAdvice(err), cniErrUndo)
	}
	rec, err := d.store.Load("attachment", c.id.Object)
	if errors.Is(err, fs.ErrNotExist) {
		zerolog.Ctx(d.ctx).Info().Msgf("attachment/%s: plumb keeps no such attachment; nothing to undo", c.id.Object)
		return nil
	}
	if err != nil {
		return asCNIError(err, types.ErrIOFailure)
	}
	if _, err := plan.TearDown(d.ctx, d.env(), rec, plan.DownOptions{}, false); err != nil {
		return asCNIError(keptAdvice(err), cniErrUndo)
	}
	return nil
}

// check is CNI CHECK: `plumb check` of the attachment (and of its bridge),
// and the address the runtime cached (prevResult) is the one plumb gave.
func (p *cniPlugin) check(args *skel.CmdArgs) error {
	c, cerr := p.readCall(args, true)
	if cerr != nil {
		return cerr
	}
	d, done := p.deps()
	defer done()
	rec, err := d.store.Load("attachment", c.id.Object)
	if errors.Is(err, fs.ErrNotExist) {
		return cniError(types.ErrUnknownContainer, "plumb keeps no attachment of container %s as %s on %s (attachment/%s)", args.ContainerID, args.IfName, c.conf.Name, c.id.Object)
	}
	if err != nil {
		return asCNIError(err, types.ErrIOFailure)
	}
	var problems []string
	f, _ := rec.Attachment()
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
	recs := []*plan.Record{rec}
	if br, err := d.store.Load("bridge", f.Bridge); err == nil {
		recs = append(recs, br)
	} else {
		problems = append(problems, fmt.Sprintf("plumb keeps no bridge/%s", f.Bridge))
	}
	for _, r := range recs {
		drift, err := plan.Check(d.ctx, d.runner, r)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		for _, dr := range drift {
			problems = append(problems, fmt.Sprintf("%s step %d (%s): %s", r.ID(), dr.Step, dr.Command, dr.Problem))
		}
	}
	if len(problems) > 0 {
		return types.NewError(cniErrDrift, fmt.Sprintf("attachment/%s has drifted from what plumb applied: %s", rec.Name, problems[0]), strings.Join(problems, "; "))
	}
	return nil
}

// prevResultDrift says how the runtime's cached result disagrees with the
// journal: another address.
func prevResultDrift(conf *cniConf, f plan.AttachmentFacts) string {
	prev, err := version.NewResult(conf.CNIVersion, conf.PrevResult)
	if err != nil {
		return "prevResult cannot be read: " + err.Error()
	}
	res, err := types100.GetResult(prev)
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

// status is CNI STATUS: ready when plumb can keep journals in its state
// directory and the tools it runs are installed. It starts no process: it
// is asked every few seconds.
func (p *cniPlugin) status(args *skel.CmdArgs) error {
	conf, cerr := parseCNIConf(args.StdinData, p.firewall)
	if cerr != nil {
		return cerr
	}
	d, done := p.deps()
	defer done()
	if err := d.store.Usable(); err != nil {
		return cniError(types.ErrPluginNotAvailable, "plumb cannot keep its journals: %v", err)
	}
	tools := []string{"ip", "nsenter"}
	if conf.NAT {
		tools = append(tools, "iptables", "iptables-restore", "sysctl")
	}
	for _, t := range tools {
		if _, err := exec.LookPath(t); err != nil {
			return cniError(types.ErrPluginNotAvailable, "%v", &actions.MissingToolError{Tool: t, Package: debianPackageOf(t)})
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

// gc is CNI GC: every attachment plumb made for this network whose
// (container ID, ifname) the runtime does not list in
// cni.dev/valid-attachments is undone, going on past errors. A config
// without the key (not an empty list) removes nothing.
func (p *cniPlugin) gc(args *skel.CmdArgs) error {
	conf, cerr := parseCNIConf(args.StdinData, p.firewall)
	if cerr != nil {
		return cerr
	}
	d, done := p.deps()
	defer done()
	if !conf.HasValid {
		zerolog.Ctx(d.ctx).Warn().Msg("GC without cni.dev/valid-attachments: nothing is removed")
		return nil
	}
	valid := map[plan.RuntimeRef]bool{}
	for _, a := range conf.Valid {
		valid[plan.RuntimeRef{Network: conf.Name, ContainerID: a.ContainerID, IfName: a.IfName}] = true
	}
	if err := d.lock(); err != nil {
		return asCNIError(err, cniErrUndo)
	}
	var errs []error
	for _, h := range plan.RuntimeAttachments(d.store, conf.Name) {
		f, _ := h.Attachment()
		if valid[*f.Runtime] {
			continue
		}
		rec, err := d.store.Load(h.Kind, h.Name)
		if err == nil {
			zerolog.Ctx(d.ctx).Info().Msgf("GC: %s (container %s, %s) is not a valid attachment", rec.ID(), f.Runtime.ContainerID, f.Runtime.IfName)
			_, err = plan.TearDown(d.ctx, d.env(), rec, plan.DownOptions{}, false)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", h.ID(), err))
		}
	}
	if len(errs) > 0 {
		return asCNIError(keptAdvice(errors.Join(errs...)), cniErrUndo)
	}
	return nil
}
