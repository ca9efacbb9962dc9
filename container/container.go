package container

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"plumb/actions"
	"plumb/network"
	"plumb/plan"
	"plumb/plan/firewall"
	"plumb/plan/image"
	"plumb/rootfs"
)

// Container is `plumb run`: an overlay of layers as the root, a network
// namespace made by name (joined to a bridge, or with only loopback), a
// UTS namespace with its hostname, then the command in new PID, mount and
// IPC namespaces, confined as `docker run` confines it by default. All of it
// is one object, undone as one.
type Container struct {
	Name   string
	Layers []string // topmost first
	// Image and ImageID name the image the layers are of ("" for --layer),
	// for inspect. ImageUser: User is the image's, not a --user.
	Image, ImageID string
	ImageUser      bool
	Bridge         string // "": --net none
	IP             netip.Addr
	Publish        []plan.Port
	Hostname       string // "": one made from its name (HostnameFrom)
	Cmd            []string
	Attach         bool // foreground: the command shares plumb's stdio
	// Tty gives the command a terminal (run -t, in the foreground).
	Tty bool
	// Remove has a detached container removed when its command ends
	// (run -d --rm): its shim runs plumb rm.
	Remove bool
	// Privileged keeps every capability, masks nothing, mounts /sys
	// read-write and lets device nodes work: root over the host, on purpose.
	Privileged bool
	// CapAdd and CapDrop change Docker's default capabilities, named as
	// docker run takes them: NET_ADMIN, CAP_NET_ADMIN or net_admin; ALL.
	CapAdd, CapDrop []string
	// SecurityOpt as docker run takes it: no-new-privileges, and
	// seccomp=unconfined or seccomp=FILE (a profile in Docker's format)
	// instead of Docker's default profile.
	SecurityOpt []string
	// ReadOnly mounts the container's root read-only (docker run
	// --read-only); its mounts and /etc files stay as they are.
	ReadOnly bool
	// Runtime is the OCI runtime that runs the process, and its state.
	Runtime actions.Runtime
	// SUID mounts the root without nosuid: setuid and setgid bits work.
	SUID bool
	// Env, WorkDir and User are what the command runs with, as docker
	// run's -e, -w and -u (or an image's config) give them: Env is
	// KEY=VALUE, or KEY alone to remove KEY (docker run -e KEY when KEY is
	// not set where it runs), over Docker's PATH and HOSTNAME (see
	// Environment); WorkDir is absolute ("": /), made when missing; User
	// is NAME, UID, NAME:GROUP or UID:GID, resolved in the root's
	// /etc/passwd and /etc/group ("": root).
	Env     []string
	WorkDir string
	User    string
	// ResolvConf is the host's resolv.conf, whose nameservers the
	// container gets ("": /etc/resolv.conf).
	ResolvConf string
	// Firewall writes its published ports' rules; nil: the bridge's back end.
	Firewall firewall.Backend
	// Aliases are names it answers to on its bridge besides its own.
	Aliases []string
	// Mounts are its binds, volumes and tmpfs mounts (-v, --mount, --tmpfs).
	Mounts []Mount
	// Join is the container whose network namespace this one shares
	// (--net container:NAME), as the containers of a Kubernetes pod share
	// their sandbox's: its interfaces, its hostname and its /etc files.
	Join string
	// Limits are its cgroup limits (--memory, --cpus, ...).
	Limits Limits
	// Labels are its labels, as docker run --label keeps them: Compose
	// finds its project's containers, and the configuration each was made
	// from, by them (as Docker Compose does by com.docker.compose.*).
	Labels map[string]string
	// Network is Bridge as the caller knows it, planned with when plumb
	// keeps no bridge of that name yet: the dry run of a Compose project
	// whose plan makes the bridge first. Nil: the bridge must be kept.
	Network *network.BridgeNetwork
	// Nameserver, when valid, is the only nameserver of the container's
	// /etc/resolv.conf: its network's resolver (bridge up --dns), which
	// answers the network's names and asks the host's for the rest.
	Nameserver netip.Addr
	// owner is the facts of the sandbox Join runs in, named sandbox, read
	// by Allocate.
	owner   *plan.SandboxFacts
	sandbox string
	// attach is its attachment, with the address Allocate gave out.
	attach *network.Attach
	// StableMAC: its interface's MAC address is made of its address (see
	// network.Attach), as Compose's containers have it.
	StableMAC bool
	// Replaces are the objects (kind/name) a dry run of a replace has not
	// removed yet (the container of this name, see network.Attach).
	Replaces []string
	// Taken are addresses an earlier container of the same dry run was
	// given on its bridge (see network.Attach).
	Taken map[netip.Addr]bool `json:"-"`
	// pending: attach is on Network, a bridge not made yet.
	pending bool
}

// rootfs is the container's overlay, in the state directory's layout.
func (c *Container) rootfs(env plan.Env) *rootfs.Overlay {
	dirs := env.St.Overlay(c.Name)
	return &rootfs.Overlay{Name: c.Name, Lower: c.Layers, Upper: dirs.Upper, Work: dirs.Work, Merged: dirs.Merged, Base: dirs.Base, Layout: env.St.Layout}
}

// DefaultCaps is Docker's default capability set, as setpriv names them.
var DefaultCaps = []string{"chown", "dac_override", "fsetid", "fowner", "mknod", "net_raw", "setgid", "setuid",
	"setfcap", "setpcap", "net_bind_service", "sys_chroot", "kill", "audit_write"}

// NetnsName is the container's network namespace: plumb-NAME.
func NetnsName(container string) string { return "plumb-" + container }

func (c *Container) hostname() string {
	if c.owner != nil {
		return c.owner.Hostname
	}
	if c.Hostname == "" {
		return HostnameFrom(c.Name)
	}
	return c.Hostname
}

// HostnameFrom makes a hostname from a container's name, which may hold
// what hostname(1) refuses ('_', a label over 63 characters, a leading or
// trailing '-' or '.'): '_' becomes '-', each label is trimmed of '-' and
// cut to 63 characters, empty labels go.
func HostnameFrom(name string) string {
	var labels []string
	for _, l := range strings.Split(strings.ReplaceAll(name, "_", "-"), ".") {
		l = strings.Trim(l, "-")
		if len(l) > 63 {
			l = strings.TrimRight(l[:63], "-")
		}
		if l != "" {
			labels = append(labels, l)
		}
	}
	h := strings.Join(labels, ".")
	if len(h) > maxHostname {
		h = strings.TrimRight(h[:maxHostname], "-.")
	}
	if h == "" {
		return "container"
	}
	return h
}

// maxHostname is the kernel's limit (HOST_NAME_MAX).
const maxHostname = 64

// CheckHostname applies hostname(1)'s rules, those of RFC 1123: labels of
// 1 to 63 letters, digits and '-', neither starting nor ending with '-',
// joined by '.', at most 64 characters in all.
func CheckHostname(h string) error {
	switch {
	case h == "":
		return fmt.Errorf("a hostname cannot be empty")
	case len(h) > maxHostname:
		return fmt.Errorf("%q is not a hostname: %d characters, the kernel takes at most %d", h, len(h), maxHostname)
	case h[0] == '-':
		return fmt.Errorf("%q is not a hostname: it starts with '-', which hostname(1) would read as an option", h)
	}
	for _, l := range strings.Split(h, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' || strings.IndexFunc(l, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-')
		}) >= 0 {
			return fmt.Errorf("%q is not a hostname: labels of 1 to 63 letters, digits and '-', not starting or ending with '-', joined by '.' (RFC 1123)", h)
		}
	}
	return nil
}

// capName reads a capability as docker run takes it: NET_ADMIN,
// CAP_NET_ADMIN or net_admin, or ALL.
func capName(flag, v string) (string, error) {
	n := strings.TrimPrefix(strings.ToLower(v), "cap_")
	if n == "all" || slices.Contains(actions.CapNames, n) {
		return n, nil
	}
	return "", plan.Refuse(flag, "%q is not a capability Linux knows (such as NET_ADMIN or CAP_SYS_TIME, or ALL)", v)
}

// capabilities is the bounding set as docker run makes it: ALL added is
// every capability but those dropped; ALL dropped is only those added;
// otherwise Docker's default set, less those dropped, with those added.
// The result is in the kernel's order.
func (c *Container) capabilities() ([]string, error) {
	read := func(flag string, vs []string) ([]string, error) {
		var out []string
		for _, v := range vs {
			n, err := capName(flag, v)
			if err != nil {
				return nil, err
			}
			out = append(out, n)
		}
		return out, nil
	}
	adds, err := read("cap-add", c.CapAdd)
	if err != nil {
		return nil, err
	}
	drops, err := read("cap-drop", c.CapDrop)
	if err != nil {
		return nil, err
	}
	in := map[string]bool{}
	switch {
	case slices.Contains(adds, "all"):
		for _, n := range actions.CapNames {
			in[n] = !slices.Contains(drops, n)
		}
	case slices.Contains(drops, "all"):
		for _, n := range adds {
			in[n] = true
		}
	default:
		for _, n := range DefaultCaps {
			in[n] = !slices.Contains(drops, n)
		}
		for _, n := range adds {
			in[n] = true
		}
	}
	var caps []string
	for _, n := range actions.CapNames {
		if in[n] {
			caps = append(caps, n)
		}
	}
	return caps, nil
}

// confinement is what the container may do, from the flags.
func (c *Container) confinement() (*actions.Confinement, error) {
	nnp := false
	for _, o := range c.SecurityOpt {
		switch o {
		case "no-new-privileges", "no-new-privileges:true", "no-new-privileges=true":
			nnp = true
		case "no-new-privileges:false", "no-new-privileges=false":
			nnp = false
		default:
			if v, ok := seccompOpt([]string{o}); ok && v != "" {
				continue
			}
			return nil, plan.Refuse("security-opt", "%q: plumb knows no-new-privileges[:true|:false] and seccomp=unconfined|FILE (no AppArmor or SELinux profiles)", o)
		}
	}
	if c.Privileged {
		if len(c.CapAdd) > 0 || len(c.CapDrop) > 0 {
			return nil, plan.Refuse("privileged", "it keeps every capability; --cap-add and --cap-drop mean nothing with it")
		}
		return &actions.Confinement{Privileged: true, NoNewPrivs: nnp}, nil
	}
	caps, err := c.capabilities()
	if err != nil {
		return nil, err
	}
	return &actions.Confinement{Caps: caps, NoNewPrivs: nnp}, nil
}

// Check applies the rules of the input alone.
func (c *Container) Check() error {
	if err := plan.CheckObjectName("<name>", c.Name); err != nil {
		return err
	}
	if r := c.Name[0]; !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
		// As Docker's [a-zA-Z0-9][a-zA-Z0-9_.-]*: the runtime takes the
		// name as an argument (a leading - reads as an option) and as its
		// keyring's name (crun refuses a leading .).
		return plan.Refuse("<name>", "%q is not a container name: it begins with a letter or a digit, as Docker's do", c.Name)
	}
	if max := 64 - len(NetnsName("")); len(c.Name) > max {
		return plan.Refuse("<name>", "%q is too long for a container: at most %d characters, as its network namespace is %s", c.Name, max, NetnsName("NAME"))
	}
	if len(c.Cmd) == 0 {
		return plan.Refuse("", "give the command to run after --, such as: plumb run web --layer busybox -- httpd -f -p 80")
	}
	if c.Hostname != "" {
		if err := CheckHostname(c.Hostname); err != nil {
			return plan.RefuseErr("hostname", err)
		}
	}
	if c.Join != "" {
		if err := plan.CheckObjectName("net", c.Join); err != nil {
			return err
		}
		switch {
		case c.Join == c.Name:
			return plan.Refuse("net", "a container cannot join its own network")
		case c.Bridge != "":
			return plan.Refuse("net", "give --net container:NAME or --net BRIDGE, not both")
		case c.IP.IsValid() || len(c.Publish) > 0 || len(c.Aliases) > 0 || c.Hostname != "":
			return plan.Refuse("net", "--ip, --publish, --alias and --hostname belong to the container whose network is joined (%s), as Docker's conflicting options say", c.Join)
		}
	}
	if c.Bridge == "" && (c.IP.IsValid() || len(c.Publish) > 0) {
		return plan.Refuse("net", "--ip and --publish need --net BRIDGE")
	}
	if err := network.CheckAliases(c.Aliases, c.Bridge != ""); err != nil {
		return err
	}
	if err := checkEnv(c.Env); err != nil {
		return err
	}
	if err := checkMounts(c.Mounts); err != nil {
		return err
	}
	if err := c.Limits.check(); err != nil {
		return err
	}
	// The root's remount hook (see rootHook) runs in the container's
	// cgroup before its command: runc counts its processes against the
	// limit, and 5 left none for it (measured: 8 and more do).
	if l := c.Limits.PidsLimit; l > 0 && l < minPids && !c.Privileged {
		return plan.Refuse("pids-limit", "at least %d: plumb's hook that remounts the root nodev,nosuid runs in the container's cgroup before the command, and counts", minPids)
	}
	if _, err := cleanWorkDir(c.WorkDir); err != nil {
		return err
	}
	if _, err := ParseUser(c.User); err != nil {
		return err
	}
	_, err := c.confinement()
	return err
}

func (c *Container) resolvConf() string {
	if c.ResolvConf == "" {
		return "/etc/resolv.conf"
	}
	return c.ResolvConf
}

// Plan lays out three objects, as CRI keeps them (see plan.SandboxKind,
// plan.RootfsKind, plan.ContainerKind): the sandbox (the network namespace,
// its place on the bridge with the address Allocate gave out, the /etc
// files), unless the container joins another's; the root file system (the
// overlay); then the process, handed to the runtime. They apply as a
// chain: each needs those before it.
func (c *Container) Plan(_ context.Context, env plan.Env) ([]*plan.Plan, error) {
	if err := env.St.TrustRoot(false); err != nil {
		return nil, err
	}
	dirs := env.St.OverlayOf(c.Name)
	sandbox, sbDir := c.Name, env.St.SandboxDir(c.Name)
	ns, etc := actions.Netns{Name: NetnsName(c.Name)}, plan.SandboxAt(sbDir)
	if c.Join != "" {
		if c.owner == nil {
			return nil, fmt.Errorf("planning container %s before the facts of %s were read", c.Name, c.Join)
		}
		sandbox, ns, etc = c.sandbox, actions.Netns{Name: c.owner.Netns}, c.owner.Etc()
	}
	if c.Bridge != "" && c.attach == nil {
		return nil, fmt.Errorf("planning container %s before its address on %s was given out", c.Name, c.Bridge)
	}
	confine, err := c.confinement()
	if err != nil {
		return nil, err
	}
	var plans []*plan.Plan
	var names []string
	if c.Join == "" {
		sp, err := c.sandboxPlan(env, ns, sbDir)
		if err != nil {
			return nil, err
		}
		plans, names = append(plans, sp), sp.Names
	}
	rp, root, err := c.rootfsPlan(env, dirs, confine)
	if err != nil {
		return nil, err
	}
	plans = append(plans, rp)
	o := c.rootfs(env)
	facts := plan.ContainerFacts{Sandbox: sandbox, Rootfs: c.Name, Bundle: dirs.Base,
		Netns: ns.Name, Hostname: c.hostname(), Cmd: actions.Quote(c.Cmd), PIDFile: dirs.PID, Log: dirs.Log, Target: ns.Label()}
	for _, m := range sortedMounts(c.Mounts) {
		facts.Mounts = append(facts.Mounts, m.facts(env.St))
	}
	facts.CapAdd, facts.CapDrop, facts.Privileged, facts.ReadOnly = c.CapAdd, c.CapDrop, c.Privileged, c.ReadOnly
	l := c.Limits
	facts.Memory, facts.MemorySwap, facts.NanoCPUs, facts.PidsLimit = l.Memory, l.MemorySwap, l.NanoCPUs, l.PidsLimit
	if c.Join != "" {
		facts.NetworkMode = "container:" + c.Join
	}
	// What the command runs with, as the image and the flags say.
	proc, err := c.process(append([]string{o.Upper}, c.Layers...))
	if err != nil {
		return nil, err
	}
	facts.Image, facts.ImageID, facts.Labels = c.Image, c.ImageID, c.Labels
	facts.Env, facts.WorkDir, facts.User = proc.Env, proc.Dir, fmt.Sprintf("%d:%d", proc.UID, proc.GID)
	spec, err := c.spec(bundle{Root: o.Merged, Netns: ns.Path(), Etc: etc, Proc: proc, Confine: confine,
		NoDev: root.NoDev, NoSuid: root.NoSuid, Mount: mountPath(), St: env.St})
	if err != nil {
		return nil, err
	}
	rt := c.Runtime
	if rt.Name == "" {
		return nil, fmt.Errorf("planning container %s before its runtime was chosen", c.Name)
	}
	rt.NoCgroups = rt.NoCgroups && !c.Limits.Any() // crun needs its cgroups for limits
	if err := cacheFilter(spec, rt, c.Name, SeccompCacheDir(env.St.Layout.Dir)); err != nil {
		return nil, err
	}
	config, err := specJSON(spec)
	if err != nil {
		return nil, err
	}
	steps := append(mountSteps(env.St, sortedMounts(c.Mounts), o.Merged),
		plan.Step{Action: actions.WriteConfig{Path: dirs.Config, Content: config}},
		plan.Step{Action: runtimeRun(c, rt, dirs, env.St.Layout)},
	)
	facts.Runtime, facts.RuntimeState = rt.Name, rt.State
	summary := fmt.Sprintf("%s from %s", actions.Quote(c.Cmd), plural(len(c.Layers), "layer"))
	if c.attach != nil {
		summary += fmt.Sprintf(", %s on %s", c.attach.IP, c.Bridge)
	}
	if c.Join != "" {
		summary += ", in the network of " + c.Join
	}
	return append(plans, &plan.Plan{Kind: plan.ContainerKind.Name(), Name: c.Name, Facts: facts, Steps: steps, Summary: summary,
		Names: names, Chain: true}), nil
}

// sandboxPlan is the sandbox's plan: its directory, the network namespace,
// kept at /run/netns/plumb-NAME as ip netns add keeps one, without making
// /run/netns a mount point of its own (which ip netns add does the first
// time, and leaves in the host's mount table; /run/netns is held by every
// sandbox in the ledger, so the last one removes it if plumb made it); its
// place on the bridge, or loopback up; then the /etc files its containers
// bind, as Docker writes them for each container.
func (c *Container) sandboxPlan(env plan.Env, ns actions.Netns, dir string) (*plan.Plan, error) {
	exists := func(p string) bool { _, err := os.Lstat(p); return err == nil }
	steps := env.St.Layout.PrivateDirs(dir, exists)
	for i := range steps {
		m := steps[i].Action.(actions.Mkdir)
		m.Purpose = fmt.Sprintf("create %s for root alone (mode 0700), where sandboxes keep the /etc files their containers bind", m.Path)
		if i == len(steps)-1 {
			// Its undo deletes the directory whole when it made it: a
			// file whose own undo failed once must not keep it there.
			m.Holds = "the /etc files its containers bind"
		}
		steps[i].Action = m
	}
	steps = append(steps,
		plan.Step{Action: actions.Mkdir{Path: actions.NetnsDir,
			Purpose: "make sure " + actions.NetnsDir + ", where named network namespaces are kept, exists"},
			Shared: "dir " + actions.NetnsDir},
		plan.Step{Action: actions.Touch{Path: ns.Path(), Keeps: "network namespace"}},
		plan.Step{Action: actions.NetnsNew{Name: ns.Name}},
	)
	facts := plan.SandboxFacts{Netns: ns.Name, Hostname: c.hostname(), Dir: dir}
	var ip netip.Addr
	var names []string
	summary := "network namespace " + ns.Name
	if c.attach != nil {
		ap, err := c.attach.Plan()
		if err != nil {
			return nil, err
		}
		steps = append(steps, ap.Steps...)
		net := ap.Facts.(plan.AttachmentFacts)
		facts.Net = &net
		ip, names = c.attach.IP, c.attach.Names()
		summary += fmt.Sprintf(", %s on %s", c.attach.IP, c.Bridge)
	} else {
		steps = append(steps, plan.Step{Action: actions.LinkSetUp{Dev: "lo", In: ns}})
		summary += ", loopback alone"
	}
	resolv, err := c.resolvFile()
	if err != nil {
		return nil, err
	}
	etc := plan.SandboxAt(dir)
	steps = append(steps,
		plan.Step{Action: actions.WriteFile{Path: etc.Hostname, Content: c.hostname() + "\n", For: "the container's /etc/hostname"}},
		plan.Step{Action: actions.WriteFile{Path: etc.Hosts, Content: HostsFile(ip, c.hostname()), For: "the container's /etc/hosts"}},
		plan.Step{Action: actions.WriteFile{Path: etc.Resolv, Content: resolv, For: "the container's /etc/resolv.conf"}})
	return &plan.Plan{Kind: plan.SandboxKind.Name(), Name: c.Name, Facts: facts, Steps: steps, Summary: summary, Names: names}, nil
}

// resolvFile is the container's /etc/resolv.conf: its network's resolver
// alone, none on an internal network, else the host's nameservers.
func (c *Container) resolvFile() (string, error) {
	nameserver := c.Nameserver
	var bn network.BridgeNetwork
	if c.attach != nil {
		bn, _ = c.attach.Network.(network.BridgeNetwork)
	}
	if !nameserver.IsValid() && bn.DNS {
		nameserver = bn.Gateway
	}
	switch {
	case nameserver.IsValid():
		return "nameserver " + nameserver.String() + "\n", nil
	case bn.Internal:
		// No nameserver beyond an internal network answers, and the
		// host's would be waited for until their timeout on every
		// lookup: none at all fails at once.
		return InternalResolvConf, nil
	}
	return readResolvConf(c.resolvConf())
}

// rootfsPlan is the root file system's plan: the overlay, with the mount
// points no layer has made in the upper layer first; the root is nodev and
// nosuid unless the container may use device nodes and setuid bits.
func (c *Container) rootfsPlan(env plan.Env, dirs plan.OverlayDirs, confine *actions.Confinement) (*plan.Plan, actions.OverlayMount, error) {
	o := c.rootfs(env)
	if err := o.Check(); err != nil {
		return nil, actions.OverlayMount{}, err
	}
	op, err := o.MountPlan()
	if err != nil {
		return nil, actions.OverlayMount{}, err
	}
	// The root: device nodes in the layers cannot be opened, and setuid bits
	// grant nothing unless --suid (or --privileged).
	root := op.Steps[len(op.Steps)-1].Action.(actions.OverlayMount)
	root.NoDev = !confine.Privileged
	root.NoSuid = !confine.Privileged && !c.SUID
	points := append(mountPoints(o.Upper, c.Layers), etcMountPoints(o.Upper, c.Layers)...)
	points = append(points, userMountPoints(o.Upper, c.Layers, sortedMounts(c.Mounts))...)
	steps := append(op.Steps[:len(op.Steps)-1:len(op.Steps)-1], append(points, plan.Step{Action: root})...)
	facts := plan.RootfsFacts{Root: plan.OverlayFacts{LowerDir: strings.Join(c.Layers, ":"), UpperDir: o.Upper, WorkDir: o.Work, Merged: o.Merged, Layout: dirs.Base}}
	summary := fmt.Sprintf("root of container %s: %s at %s", c.Name, plural(len(c.Layers), "layer"), o.Merged)
	return &plan.Plan{Kind: plan.RootfsKind.Name(), Name: c.Name, Facts: facts, Steps: steps, Summary: summary}, root, nil
}

// Again refuses a name in use: a container is never "already up".
func (c *Container) Again(rec *plan.Record, _ *plan.Plan) (string, error) {
	_, state := plan.ContainerState(rec)
	return "", plan.Refuse("<name>", "a container named %s exists (%s); `plumb stop %s` first", c.Name, state, c.Name)
}

// Preflight checks the host before anything runs: the layers, the tools
// that confine the container, the names, the bridge.
func (c *Container) Preflight(ctx context.Context, env plan.Env) ([]string, error) {
	o := c.rootfs(env)
	if err := o.CheckHost(); err != nil {
		return nil, err
	}
	if err := c.checkRootDirs(o.Upper); err != nil {
		return nil, err
	}
	root := append([]string{o.Upper}, c.Layers...)
	if err := checkEtc(root); err != nil {
		return nil, err
	}
	if dir, err := cleanWorkDir(c.WorkDir); err != nil {
		return nil, err
	} else if err := checkWorkDir(root, dir); err != nil {
		return nil, err
	}
	if err := checkRuntime(c.Runtime); err != nil {
		return nil, err
	}
	if err := checkSources(env.St, c.Mounts); err != nil {
		return nil, err
	}
	if err := c.Limits.checkHost(c.Runtime.Name); err != nil {
		return nil, err
	}
	if err := c.nameFree(env.St); err != nil {
		return nil, err
	}
	if c.Join == "" {
		if _, err := os.Stat(actions.Netns{Name: NetnsName(c.Name)}.Path()); err == nil {
			return nil, plan.Refuse("<name>", "a network namespace named %s already exists", NetnsName(c.Name))
		}
	}
	if c.attach != nil && !c.pending {
		return nil, c.attach.Preflight(ctx, env.R, env.St)
	}
	return nil, nil
}

// nameFree refuses a name that another container, or what one left,
// holds: a container of that name (Again says so when the plan is one
// object; a container's is three), its sandbox still shared by others,
// its root file system or directory left behind.
func (c *Container) nameFree(st *plan.Store) error {
	if rec, err := st.LoadHeader(plan.ContainerKind.Name(), c.Name); err == nil {
		_, err := c.Again(rec, nil)
		return err
	}
	if rec, err := st.LoadHeader(plan.SandboxKind.Name(), c.Name); err == nil && c.Join == "" {
		deps, _ := plan.DependentsOf(st, rec)
		if len(deps) == 0 {
			return plan.Refuse("<name>", "%s is left from an interrupted plan: `plumb recover` removes it", rec.ID())
		}
		var held []string
		for _, d := range deps {
			held = append(held, d.Name)
		}
		return plan.Refuse("<name>", "the network of the container %s that was named %s is still shared by %s; remove them first (plumb rm -f %s)", c.Name, c.Name, strings.Join(held, ", "), strings.Join(held, " "))
	}
	if rec, err := st.LoadHeader(plan.RootfsKind.Name(), c.Name); err == nil {
		return plan.Refuse("<name>", "%s is left from an interrupted plan: `plumb recover` removes it", rec.ID())
	}
	if dir := st.OverlayOf(c.Name).Base; present(dir) {
		return plan.Refuse("<name>", "%s holds what a container named %s kept when it was stopped without --rm (its upper layer, its log): `plumb rm %s` deletes it", dir, c.Name, c.Name)
	}
	if dir := st.SandboxDir(c.Name); present(dir) {
		return plan.Refuse("<name>", "%s is left by a sandbox of that name, which no journal holds: remove it by hand", dir)
	}
	return nil
}

func present(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// rootDirs are the container's mount points that its script mounts on.
var rootDirs = []string{"dev", "proc", "sys"}

// topEntry finds name in the merged view of dirs (topmost first): the
// topmost entry decides, and a whiteout there (a 0:0 character device)
// means it is absent. fi is nil when it is absent.
func topEntry(dirs []string, name string) (path string, fi os.FileInfo, err error) {
	for i, dir := range dirs {
		p := filepath.Join(dir, name)
		fi, err := lowerStat(p, i > 0) // below the first: read-only layers (see lowerCache)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return p, nil, err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && fi.Mode()&os.ModeCharDevice != 0 && st.Rdev == 0 {
			return p, nil, nil
		}
		return p, fi, nil
	}
	return "", nil, nil
}

// checkRootDirs refuses a root whose /dev, /proc or /sys is something
// other than a directory: its mounts go there, and a symbolic link would
// take them elsewhere.
func (c *Container) checkRootDirs(upper string) error {
	for _, d := range rootDirs {
		p, fi, err := topEntry(append([]string{upper}, c.Layers...), d)
		if err != nil {
			return plan.RefuseErr("layer", err)
		}
		if fi != nil && !fi.IsDir() {
			return plan.Refuse("layer", "%s is a %s, not a directory: plumb mounts the container's /%s there", p, fileKind(fi), d)
		}
	}
	return nil
}

// mountPoints are the steps that make the mount points no layer has in
// the upper layer, before the overlay is mounted (as Docker's init layer
// does): the container's script then writes nothing there, and the
// undo removes them once empty, so a container that wrote nothing leaves
// nothing.
func mountPoints(upper string, layers []string) []plan.Step {
	var steps []plan.Step
	for _, d := range rootDirs {
		if _, err := os.Lstat(filepath.Join(upper, d)); err == nil {
			continue // there, or a whiteout: the script's mkdir -p deals with it
		}
		if _, fi, err := topEntry(layers, d); err == nil && fi != nil {
			continue
		}
		p := filepath.Join(upper, d)
		steps = append(steps, plan.Step{Action: actions.Mkdir{Path: p,
			Purpose: fmt.Sprintf("create %s: the container's /%s is mounted there, and no layer has it", p, d)}})
	}
	return steps
}

func fileKind(fi os.FileInfo) string {
	switch m := fi.Mode(); {
	case m&os.ModeSymlink != 0:
		return "symbolic link"
	case m.IsRegular():
		return "regular file"
	default:
		return "special file"
	}
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// Locks: a container shares its network and the images, and holds its
// name, its sandbox's and its root file system's, whose directory
// overlays' share.
func (c *Container) Locks() []plan.Lock {
	out := []plan.Lock{plan.ImagesLock(true), plan.ObjectLock(plan.ContainerKind.Name(), c.Name), plan.ObjectLock(plan.OverlayKind.Name(), c.Name),
		plan.ObjectLock(plan.RootfsKind.Name(), c.Name), plan.ObjectLock(plan.SandboxKind.Name(), c.Name)}
	if c.Bridge != "" {
		out = append(out, plan.NetworkLock(c.Bridge, true))
	}
	if len(c.Publish) > 0 {
		out = append(out, plan.PortsLock())
	}
	if c.Join != "" {
		l := plan.ObjectLock(plan.ContainerKind.Name(), c.Join)
		l.Shared = true
		out = append(out, l)
	}
	for _, v := range Volumes(c.Mounts) {
		l := plan.ObjectLock(plan.VolumeKind.Name(), v)
		l.Shared = true
		out = append(out, l)
	}
	return out
}

// FromImage gives the container what an image's config says to run it
// with, under what docker run's arguments, -e, -w and -u say: those win
// over the config's Cmd, Env, WorkingDir and User. A field of the config
// is checked only when no argument overrides it: `-w /` runs an image
// whose WorkingDir plumb would refuse. A config with nothing to run is
// refused.
func (c *Container) FromImage(cfg image.Config) error {
	cmd := cfg.Command(c.Cmd)
	if cmd == nil {
		return plan.Refuse("image", "the image has no Entrypoint or Cmd: give the command after --")
	}
	dir, user := cfg.WorkingDir, cfg.User
	if c.WorkDir != "" {
		dir = ""
	}
	if c.User != "" {
		user = ""
	}
	if err := CheckImageConfig(cfg.Env, dir, user); err != nil {
		return err
	}
	c.Cmd = cmd
	c.Env = append(slices.Clone(cfg.Env), c.Env...)
	if c.WorkDir == "" {
		c.WorkDir = cfg.WorkingDir
	}
	if c.User == "" && cfg.User != "" {
		c.User, c.ImageUser = cfg.User, true
	}
	return nil
}

// Allocate gives out the container's address on its bridge, if it has one.
func (c *Container) Allocate(ctx context.Context, env plan.Env, reserve bool) (func(), error) {
	c.attach, c.owner = nil, nil
	if len(c.Replaces) == 0 {
		// Before an address is sought: a name whose sandbox is still
		// held by others would otherwise be refused for its namespace's
		// place on the bridge, which says less. (A dry run of a replace
		// plans over the container it has not removed yet.)
		if err := c.nameFree(env.St); err != nil {
			return nil, err
		}
	}
	if c.Join != "" {
		if err := c.loadOwner(env.St); err != nil {
			return nil, err
		}
	}
	if c.Bridge == "" {
		return func() {}, nil
	}
	c.pending = false
	net, err := network.LoadNetwork(env.St, c.Bridge)
	if err != nil && c.Network != nil {
		if _, lerr := env.St.LoadHeader(plan.BridgeKind.Name(), c.Bridge); errors.Is(lerr, fs.ErrNotExist) {
			net, err, c.pending = *c.Network, nil, true
		}
	}
	if err != nil {
		return nil, err
	}
	a := &network.Attach{Network: net, Target: actions.Netns{Name: NetnsName(c.Name)}, IP: c.IP, If: "eth0", Publish: c.Publish, NewNetns: true, Firewall: c.Firewall,
		Name: c.Name, Aliases: c.Aliases, Replaces: c.Replaces, StableMAC: c.StableMAC, Taken: c.Taken}
	if err := a.Check(); err != nil {
		return nil, err
	}
	free, err := network.AllocateAll(ctx, env.St, net, plan.ContainerKind.Name(), c.Name, []*network.Attach{a}, reserve)
	if err != nil {
		return nil, err
	}
	c.attach = a
	return free, nil
}

// runtimeRun is the step that runs the container: detached, under a shim
// that keeps its log and exit status; in the foreground, with plumb as
// its monitor.
func runtimeRun(c *Container, rt actions.Runtime, dirs plan.OverlayDirs, l plan.Layout) actions.RuntimeRun {
	a := actions.RuntimeRun{Runtime: rt, ID: c.Name, Bundle: dirs.Base, PIDFile: dirs.PID, Log: dirs.Log, Attach: c.Attach}
	if c.Attach {
		a.Monitor = dirs.Monitor
	} else {
		a.Exit, a.Shim = dirs.Exit, dirs.Shim
	}
	if c.Remove && !c.Attach {
		// --wait: a long pull holding the lock is waited for, not a
		// reason to leave the container.
		a.Remove = []string{"--state-dir", l.Dir, "--root", l.RootDir(), "--wait", "10m", "rm", c.Name}
	}
	return a
}

// mountPath is mount(8)'s path, which a runtime's hook needs whole.
func mountPath() string {
	for _, p := range []string{"/bin/mount", "/usr/bin/mount"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "/bin/mount"
}

// loadOwner reads the facts of the sandbox of the container c joins,
// which must run (as Docker's "cannot join network of a non running
// container"): its first container's, or another member's.
func (c *Container) loadOwner(st *plan.Store) error {
	rec, err := st.LoadHeader(plan.ContainerKind.Name(), c.Join)
	if err != nil {
		return plan.Refuse("net", "no container named %s to join", c.Join)
	}
	f, err := rec.Container()
	if err != nil {
		return err
	}
	if f.Sandbox == "" {
		return plan.Refuse("net", "%s was started by an older plumb, which kept its network in the container's own record: `plumb rm -f %s` and run it again to share its network", c.Join, c.Join)
	}
	if _, state := plan.ContainerState(rec); state != "running" {
		return plan.Refuse("net", "container %s is %s: only a running container's network can be joined", c.Join, state)
	}
	sb, err := st.LoadHeader(plan.SandboxKind.Name(), f.Sandbox)
	if err != nil {
		return fmt.Errorf("the sandbox of %s: %w", c.Join, err)
	}
	// Never a sandbox recover may undo: one whose plan, or its first
	// container's, did not end (plumb killed before the chain's marks).
	if rec.State != plan.StateUp || sb.State != plan.StateUp {
		return plan.Refuse("net", "%s's plan did not end (state %s, its sandbox's %s): `plumb recover` first", rec.ID(), rec.State, sb.State)
	}
	sf, err := sb.Sandbox()
	if err != nil {
		return err
	}
	c.owner, c.sandbox = &sf, f.Sandbox
	return nil
}
