package main

import (
	"fmt"
	"math"
	"os"
	"strings"

	"github.com/mattn/go-isatty"

	"plumb/container"
	"plumb/plan"
	"plumb/supervise"
	"plumb/volume"
)

// RunCmd is `plumb run`.
type RunCmd struct {
	Name        string     `arg:"" optional:"" help:"The container's name (or --name)."`
	NameFlag    string     `name:"name" placeholder:"NAME" help:"The container's name, as docker run --name: instead of the NAME argument (the command then goes after --)."`
	Image       string     `name:"image" placeholder:"REF" predictor:"image" help:"Run an image plumb keeps ('plumb image pull' or 'import'): its layers as the root, its Entrypoint and Cmd (CMD after -- replaces Cmd, as docker run's arguments do)."`
	Layer       []string   `name:"layer" sep:"none" predictor:"layer" placeholder:"LAYER|DIR" help:"A read-only layer, topmost first: a name from 'plumb layer import', or a directory. Instead of --image, for plain trees."`
	Net         string     `name:"net" predictor:"net" aliases:"network" default:"none" placeholder:"BRIDGE|none|container:NAME" help:"The bridge to attach to (made by 'plumb bridge up'), none for loopback only, or container:NAME to join NAME's sandbox (network namespace, hostname, /etc files), as the containers of a pod do; the sandbox lives while any of them does."`
	IP          addrFlag   `name:"ip" placeholder:"IP" help:"The container's address on the bridge (default: the next free one)."`
	Publish     []portFlag `name:"publish" short:"p" sep:"none" placeholder:"HOST:CONTAINER[/tcp|/udp]" help:"Make a container port reachable at a host port; repeat for more."`
	Alias       []string   `name:"alias" aliases:"network-alias" sep:"none" placeholder:"NAME" help:"A name the container answers to on its bridge, besides its own; repeat for more."`
	Hostname    string     `name:"hostname" help:"The container's hostname (default: its name, with '_' made '-')."`
	Interactive bool       `name:"interactive" short:"i" help:"Keep stdin attached: what a run in the foreground always does (accepted for docker run -i's sake); refused with -d, which plumb cannot attach to later."`
	Tty         bool       `name:"tty" short:"t" help:"Give the command a terminal (the runtime makes a pseudo-terminal and copies it to plumb's): in the foreground only."`
	Detach      bool       `name:"detach" short:"d" help:"Start it in the background, print its PID and return; stop it with 'plumb stop'."`
	RM          bool       `name:"rm" help:"Remove the container when its command ends: what a run in the foreground always does; with -d, its shim runs 'plumb rm NAME' once the command has ended."`
	DryRun      bool       `name:"dry-run" help:"Print the plan and change nothing."`
	Output      string     `name:"output" short:"o" enum:"text,json,sh" default:"text" help:"${plan_output_help}"`
	Cmd         []string   `arg:"" optional:"" passthrough:"partial" placeholder:"-- CMD" help:"The command to run, after --; with --image, it replaces the image's Cmd (its Entrypoint stays)."`

	// What the container may do: docker run's defaults and flags.
	Privileged  bool     `name:"privileged" help:"Give the container every capability, /sys read-write, nothing masked, working device nodes: root over the host."`
	CapAdd      []string `name:"cap-add" placeholder:"CAP" help:"Add a capability to Docker's default set (NET_ADMIN or CAP_NET_ADMIN; ALL); repeat for more."`
	CapDrop     []string `name:"cap-drop" placeholder:"CAP" help:"Drop a capability from Docker's default set (CHOWN or CAP_CHOWN; ALL); repeat for more."`
	SecurityOpt []string `name:"security-opt" sep:"none" placeholder:"OPT" help:"no-new-privileges: setuid bits and file capabilities grant nothing (off by default, as in Docker); seccomp=unconfined: no seccomp filter; seccomp=FILE: this profile (Docker's format) instead of Docker's default."`
	ReadOnly    bool     `name:"read-only" help:"Mount the container's root read-only, as docker run --read-only (its /etc files, /dev, /proc and /sys stay as they are)."`
	Runtime     string   `name:"runtime" env:"PLUMB_RUNTIME" placeholder:"crun|runc" help:"The OCI runtime that runs the process (default: crun where it can run here, else runc)."`
	SUID        bool     `name:"suid" help:"Mount the root without nosuid, so that setuid and setgid programs (su, sudo) work."`

	// What the container mounts besides its root, as docker run's.
	Volume []string `name:"volume" short:"v" sep:"none" placeholder:"SRC:DST[:OPTS]" help:"Mount a host directory (SRC starting with /, made when missing) or a named volume (made when missing, filled from the image on first use) at DST; OPTS: ro, rw, nocopy, a propagation. Repeat for more."`
	Mount  []string `name:"mount" sep:"none" placeholder:"type=...,target=..." help:"Mount as docker run --mount: type=bind|volume|tmpfs, source, target, readonly, volume-nocopy, bind-propagation, tmpfs-size, tmpfs-mode (a bind's source must exist). Repeat for more."`
	Tmpfs  []string `name:"tmpfs" sep:"none" placeholder:"DST[:OPTS]" help:"Mount a tmpfs at DST, noexec,nosuid,nodev unless OPTS says exec, suid or dev (size=64m,mode=1777,...). Repeat for more."`

	// Limits, as docker run's, applied by the runtime's cgroups.
	Memory     string  `name:"memory" short:"m" placeholder:"SIZE" help:"Memory limit (64m, 1g; at least 6m). Swap as much again where the host accounts for it, as Docker gives."`
	MemorySwap string  `name:"memory-swap" placeholder:"SIZE|-1" help:"Memory and swap together (at least --memory), or -1 for unlimited swap."`
	CPUs       float64 `name:"cpus" placeholder:"N" help:"How many CPUs' time the container may use (0.5: half of one), as a CFS quota over 100 ms."`
	PidsLimit  int64   `name:"pids-limit" placeholder:"N" help:"Most processes and threads the container may have (-1: no limit)."`

	// What the command runs with, as docker run's -e, -w and -u.
	EnvFile    []string `name:"env-file" sep:"none" placeholder:"FILE" help:"Read variables from a file, KEY=VALUE or KEY a line (# comments), as docker run --env-file; -e wins over it. Repeat for more."`
	Entrypoint *string  `name:"entrypoint" placeholder:"CMD" help:"Replace the image's Entrypoint with this one word (\"\" for none) and drop its Cmd, as docker run --entrypoint: the words after -- are its arguments."`
	Env        []string `name:"env" short:"e" sep:"none" placeholder:"KEY=VALUE" help:"Set a variable of the command's environment (it gets only PATH, HOSTNAME, HOME and these); KEY alone takes plumb's own value, as docker run -e KEY. Repeat for more."`
	WorkDir    string   `name:"workdir" short:"w" placeholder:"DIR" help:"The command's working directory inside the container, made if missing (default /)."`
	User       string   `name:"user" short:"u" placeholder:"USER[:GROUP]" help:"Run the command as this user: a name or UID, and a group or GID, names from the container's /etc/passwd and /etc/group (default root)."`
	// ResolvConf is the host file the container's nameservers come from;
	// hidden, for tests that need a known one (the script tests set
	// PLUMB_RESOLV_CONF, so that no golden holds the nameservers of the
	// machine it runs on).
	ResolvConf string `name:"resolv-conf" hidden:"" env:"PLUMB_RESOLV_CONF" default:"/etc/resolv.conf" placeholder:"PATH" help:"The host's resolv.conf, whose nameservers (less loopback and IPv6 ones) the container gets."`
}

// Help is the long help of `plumb run --help`.
func (c *RunCmd) Help() string {
	return `Makes three objects, as CRI keeps a pod's sandbox apart from a container's
root and its process. sandbox/NAME: the network namespace plumb-NAME joined
to the bridge, and the /etc/hostname, /etc/hosts and /etc/resolv.conf its
containers bind, in ROOT/sandbox/NAME (as Docker writes them: the hostname;
localhost and the container's address and name; the host's nameservers less
loopback and IPv6 ones, or 8.8.8.8 and 8.8.4.4 when none is left).
rootfs/NAME: an overlay of the layers (upper, work and merged under
ROOT/overlay/NAME; nodev and nosuid). container/NAME: the process, handed to
an OCI runtime, as Docker and Podman do:

  crun --root STATE/runtime/crun run --detach --pid-file .../pid \
      --bundle ROOT/overlay/NAME NAME

The bundle's config.json, shown in full by --dry-run, is Docker's default
configuration: new mount, UTS, PID, IPC and cgroup namespaces and plumb's
network namespace; /proc, a tmpfs /dev with the standard nodes, /dev/pts,
/dev/shm, /dev/mqueue, /sys and the cgroups read-only; Docker's masked and
read-only paths; its 14 capabilities (CHOWN, DAC_OVERRIDE, FSETID, FOWNER,
MKNOD, NET_RAW, SETGID, SETUID, SETFCAP, SETPCAP, NET_BIND_SERVICE,
SYS_CHROOT, KILL, AUDIT_WRITE) and its seccomp profile; the /etc files bound;
exactly Docker's environment (PATH, HOSTNAME, HOME and --env). --cap-add,
--cap-drop and --security-opt change them as docker run's do. --privileged
gives every capability plumb has, masks nothing and has no seccomp filter:
the container is then root over the host.

The runtime is crun when it is installed and can run here, else runc
(--runtime, PLUMB_RUNTIME). crun 1.8 refuses a host whose cgroups are in
"hybrid" mode; plumb then says so. --memory, --memory-swap, --cpus and
--pids-limit are the runtime's cgroup limits (cgroup /plumb-NAME, deleted
with the container); a limit this host's cgroups cannot apply (cgroup v2
without that controller, a missing v1 hierarchy) is refused, never dropped.
crun runs a container without limits with no cgroup of its own.

Mounts, as docker run's: -v /HOST/DIR:/DIR[:ro] (made when missing),
-v NAME:/DIR (a named volume, made when missing and filled from the image
the first time), --mount type=bind|volume|tmpfs,..., --tmpfs /DIR. A
destination under a symbolic link of the image is resolved inside the
container's root. --net container:NAME joins NAME's sandbox (its network
namespace, hostname and /etc files), as a pod's containers share theirs; the
sandbox lives while any of its containers does, NAME's own stop included.

Without -d it stays in the foreground and undoes everything when the command
ends, exiting with its status (as docker run --rm does; --rm is accepted). With
-d it prints the PID and returns; its output goes to ROOT/overlay/NAME/log;
with -d --rm, the container is removed (plumb rm) once its command has ended.
Killed with SIGKILL, a foreground plumb leaves its container running (as a
killed docker run does): 'plumb stop NAME' undoes it.

Flags go before the command: a flag run does not know is an error, not the
start of the command. Everything after -- (or after the first word that is not
a flag) is the command and its arguments.`
}

// hostEnv reads --env as docker run does: KEY alone takes the value KEY
// has in plumb's own environment; when it has none, KEY stays alone, which
// removes KEY from the container's (see plan.Environment).
func hostEnv(env []string) []string {
	out := make([]string, len(env))
	for i, e := range env {
		out[i] = e
		if !strings.Contains(e, "=") {
			if v, ok := os.LookupEnv(e); ok {
				out[i] = e + "=" + v
			}
		}
	}
	return out
}

// exitCode is a status to exit with, already explained (or the container's own).
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// input is the typed input of the flags.
func (c *RunCmd) input() (supervise.Input, error) {
	env := []string{}
	for _, name := range c.EnvFile {
		data, err := os.ReadFile(name)
		if err != nil {
			return supervise.Input{}, &plan.Refused{Flag: "env-file", Msg: err.Error()}
		}
		vars, err := supervise.EnvFile(name, data)
		if err != nil {
			return supervise.Input{}, err
		}
		env = append(env, vars...)
	}
	env = append(env, c.Env...)
	cmd := c.Cmd
	if len(cmd) > 0 && cmd[0] == "--" {
		cmd = cmd[1:]
	}
	if c.Detach && (c.Tty || c.Interactive) {
		return supervise.Input{}, &plan.Refused{Flag: "detach", Msg: "-i and -t are for the foreground: a detached container's output goes to its log (plumb logs NAME), and plumb exec -t gives a terminal in it"}
	}
	if c.Tty && !c.DryRun && !isatty.IsTerminal(os.Stdin.Fd()) {
		return supervise.Input{}, &plan.Refused{Flag: "tty", Msg: "plumb's stdin is not a terminal, which -t passes to the command (the input device is not a TTY)"}
	}
	ct := container.Container{Name: c.Name, IP: c.IP.Addr, Hostname: c.Hostname, Cmd: cmd, Attach: !c.Detach, Tty: c.Tty, Remove: c.RM,
		Privileged: c.Privileged, CapAdd: c.CapAdd, CapDrop: c.CapDrop, SecurityOpt: c.SecurityOpt, SUID: c.SUID,
		Env: hostEnv(env), WorkDir: c.WorkDir, User: c.User, ResolvConf: c.ResolvConf, Aliases: c.Alias, ReadOnly: c.ReadOnly}
	for _, p := range c.Publish {
		ct.Publish = append(ct.Publish, p.Port)
	}
	limits, err := c.limits()
	if err != nil {
		return supervise.Input{}, err
	}
	ct.Limits = limits
	for _, f := range []struct {
		vs    []string
		parse func(string) (container.Mount, error)
	}{{c.Volume, container.ParseVolume}, {c.Mount, container.ParseMount}, {c.Tmpfs, container.ParseTmpfs}} {
		for _, v := range f.vs {
			m, err := f.parse(v)
			if err != nil {
				return supervise.Input{}, err
			}
			ct.Mounts = append(ct.Mounts, m)
		}
	}
	switch join, ok := strings.CutPrefix(c.Net, "container:"); {
	case ok && join == "":
		return supervise.Input{}, &plan.Refused{Flag: "net", Msg: "container: needs the name of the container whose network to share: --net container:NAME"}
	case ok:
		ct.Join = join
	case c.Net != "none":
		ct.Bridge = c.Net
	}
	return supervise.Input{Container: ct, Image: c.Image, Layers: c.Layer, Entrypoint: c.Entrypoint}, nil
}

// runDryRun prints the plans of the volumes to make, then the container's.
func runDryRun(d *deps, vols []*volume.Volume, ct *container.Container, format string) error {
	var plans []*plan.Plan
	for _, rc := range append(recipes(vols), ct) {
		out, err := plan.Up(d.ctx, d.env(), rc, true)
		if err != nil {
			return err
		}
		plans = append(plans, out.Plans...)
	}
	return renderPlans(d, plans, format, "run-"+ct.Name)
}

func recipes(vols []*volume.Volume) []plan.Recipe {
	out := make([]plan.Recipe, len(vols))
	for i, v := range vols {
		out[i] = v
	}
	return out
}

// limits reads --memory, --memory-swap, --cpus and --pids-limit.
func (c *RunCmd) limits() (container.Limits, error) {
	var l container.Limits
	var err error
	if c.Memory != "" && c.Memory != "0" { // -m 0: no limit, as Docker's
		if l.Memory, err = container.ParseSize("memory", c.Memory); err != nil {
			return l, err
		}
	}
	switch c.MemorySwap {
	case "":
	case "-1":
		l.MemorySwap = -1
	default:
		if l.MemorySwap, err = container.ParseSize("memory-swap", c.MemorySwap); err != nil {
			return l, err
		}
	}
	l.NanoCPUs = int64(math.Round(c.CPUs * 1e9))
	l.PidsLimit = c.PidsLimit
	return l, nil
}

// Run plans the container and prints or applies it; in the foreground it
// waits for the command, then undoes everything and exits with its status.
func (c *RunCmd) Run(d *deps) error {
	c.DryRun = printsOnly(c.DryRun, c.Output)
	// With --name, the first word that is not a flag is the command's (kong
	// gave it to NAME); a NAME followed by -- is a second name.
	switch {
	case c.NameFlag != "" && c.Name != "" && len(c.Cmd) > 0 && c.Cmd[0] == "--":
		return &plan.Refused{Flag: "name", Msg: fmt.Sprintf("the name is given twice, --name %s and %s: give it once", c.NameFlag, c.Name)}
	case c.NameFlag != "" && c.Name != "":
		c.Name, c.Cmd = c.NameFlag, append([]string{c.Name}, c.Cmd...)
	case c.NameFlag != "":
		c.Name = c.NameFlag
	case c.Name == "":
		return &plan.Refused{Flag: "name", Msg: "give the container's name: plumb run NAME ... or --name NAME"}
	}
	in, err := c.input()
	if err != nil {
		return err
	}
	if in.Container.Runtime, err = container.ChooseRuntime(c.Runtime, d.store.Layout.Dir, d.proc); err != nil {
		return err
	}
	ct, err := supervise.Container(d.store, in)
	if err != nil {
		return err
	}
	if err := ct.Check(); err != nil {
		return err
	}
	// The named volumes it mounts that do not exist are made first, each
	// an object of its own that outlives the container, as docker run
	// makes them.
	vols := supervise.MissingVolumes(d.store, ct.Mounts)
	if c.DryRun {
		return runDryRun(d, vols, ct, c.Output)
	}
	if len(vols) > 0 {
		// The volumes' locks and the container's, taken at once in their
		// order: the volumes' plans would otherwise hold theirs when the
		// container's asks for the images' (ranked before).
		if err := privileged(); err != nil {
			return err
		}
		locks := ct.Locks()
		for _, v := range vols {
			locks = append(locks, v.Locks()...)
		}
		if err := d.store.LockFor(d.ctx, d.wait, locks...); err != nil {
			return err
		}
	}
	for _, v := range vols {
		if _, err := up(d, v, false, c.Output, ""); err != nil {
			return err
		}
	}
	out, err := up(d, ct, c.DryRun, c.Output, "")
	if out == nil || err != nil {
		return err
	}
	rec := out.Records[len(out.Records)-1] // the container, after its sandbox and root
	if c.Detach {
		pid, _ := plan.ContainerState(rec)
		_, err := fmt.Fprintln(d.stdout, pid)
		return err
	}
	proc, err := supervise.ProcessOf(rec)
	if err != nil {
		return err
	}
	fg := supervise.Foreground{Name: c.Name, Created: rec.Created, Proc: proc}
	status, err := fg.Supervise(d.ctx, d.env())
	if err != nil {
		return err
	}
	if status != 0 {
		return exitCode(status)
	}
	return nil
}
