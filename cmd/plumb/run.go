package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"plumb/plan"
)

// RunCmd is `plumb run`.
type RunCmd struct {
	Name     string     `arg:"" help:"The container's name."`
	Image    string     `name:"image" placeholder:"REF" help:"Run an image plumb keeps ('plumb image pull' or 'import'): its layers as the root, its Entrypoint and Cmd (CMD after -- replaces Cmd, as docker run's arguments do)."`
	Layer    []string   `name:"layer" sep:"none" placeholder:"LAYER|DIR" help:"A read-only layer, topmost first: a name from 'plumb layer import', or a directory. Instead of --image, for plain trees."`
	Net      string     `name:"net" default:"none" placeholder:"BRIDGE|none" help:"The bridge to attach to (made by 'plumb bridge up'), or none for loopback only."`
	IP       addrFlag   `name:"ip" placeholder:"IP" help:"The container's address on the bridge (default: the next free one)."`
	Publish  []portFlag `name:"publish" sep:"none" placeholder:"HOST:CONTAINER[/tcp|/udp]" help:"Make a container port reachable at a host port; repeat for more."`
	Alias    []string   `name:"alias" sep:"none" placeholder:"NAME" help:"A name the container answers to on its bridge, besides its own; repeat for more."`
	Hostname string     `name:"hostname" help:"The container's hostname (default: its name, with '_' made '-')."`
	Detach   bool       `name:"detach" short:"d" help:"Start it in the background, print its PID and return; stop it with 'plumb stop'."`
	DryRun   bool       `name:"dry-run" help:"Print the plan and change nothing."`
	Output   string     `name:"output" short:"o" enum:"text,json,sh" default:"text" help:"${plan_output_help}"`
	Cmd      []string   `arg:"" optional:"" passthrough:"" placeholder:"-- CMD" help:"The command to run, after --; with --image, it replaces the image's Cmd (its Entrypoint stays)."`

	// What the container may do: docker run's defaults and flags.
	Privileged  bool     `name:"privileged" help:"Give the container every capability, /sys read-write, nothing masked, working device nodes: root over the host."`
	CapAdd      []string `name:"cap-add" placeholder:"CAP" help:"Add a capability to Docker's default set (NET_ADMIN or CAP_NET_ADMIN; ALL); repeat for more."`
	CapDrop     []string `name:"cap-drop" placeholder:"CAP" help:"Drop a capability from Docker's default set (CHOWN or CAP_CHOWN; ALL); repeat for more."`
	SecurityOpt []string `name:"security-opt" sep:"none" placeholder:"OPT" help:"no-new-privileges: setuid bits and file capabilities grant nothing (off by default, as in Docker)."`
	SUID        bool     `name:"suid" help:"Mount the root without nosuid, so that setuid and setgid programs (su, sudo) work."`

	// What the command runs with, as docker run's -e, -w and -u.
	Env     []string `name:"env" short:"e" sep:"none" placeholder:"KEY=VALUE" help:"Set a variable of the command's environment (it gets only PATH, HOSTNAME, HOME and these); KEY alone takes plumb's own value, as docker run -e KEY. Repeat for more."`
	WorkDir string   `name:"workdir" short:"w" placeholder:"DIR" help:"The command's working directory inside the container, made if missing (default /)."`
	User    string   `name:"user" short:"u" placeholder:"USER[:GROUP]" help:"Run the command as this user: a name or UID, and a group or GID, names from the container's /etc/passwd and /etc/group (default root)."`
	// ResolvConf is the host file the container's nameservers come from;
	// hidden, for tests that need a known one (the script tests set
	// PLUMB_RESOLV_CONF, so that no golden holds the nameservers of the
	// machine it runs on).
	ResolvConf string `name:"resolv-conf" hidden:"" env:"PLUMB_RESOLV_CONF" default:"/etc/resolv.conf" placeholder:"PATH" help:"The host's resolv.conf, whose nameservers (less loopback and IPv6 ones) the container gets."`
}

// Help is the long help of `plumb run --help`.
func (c *RunCmd) Help() string {
	return `Mounts an overlay of the layers (upper, work and merged under
STATE_DIR/overlay/NAME; nodev and nosuid), makes the network namespace
plumb-NAME and joins it to the bridge, gives the container its hostname, then
starts the command:

  nsenter --net=/run/netns/plumb-NAME --uts=.../uts unshare --pid --mount --ipc
      --fork --kill-child -- sh -euc SCRIPT sh .../merged CMD...

SCRIPT, shown in full by --dry-run, runs inside the container's new mount and
PID namespaces, so its mounts go when the container does: /proc, /sys
read-only, a fresh /dev (null, zero, full, random, urandom, tty, pts, shm),
Docker's masked and read-only /proc paths, and the container's
/etc/hostname, /etc/hosts and /etc/resolv.conf bound from files plumb writes
in STATE_DIR/overlay/NAME (as Docker writes them: the hostname; localhost
and the container's address and name; the host's nameservers less loopback
and IPv6 ones, or 8.8.8.8 and 8.8.4.4 when none is left). It moves the root
onto / and ends in exec setpriv --bounding-set=... -- env -i ENV... unshare
--root=. --wd=DIR -- CMD, so that CMD is PID 1 with Docker's default
capabilities (CHOWN, DAC_OVERRIDE, FSETID, FOWNER, MKNOD, NET_RAW, SETGID,
SETUID, SETFCAP, SETPCAP, NET_BIND_SERVICE, SYS_CHROOT, KILL, AUDIT_WRITE)
and exactly Docker's environment: PATH, HOSTNAME, HOME and --env.
--cap-add and --cap-drop change them as docker run's do, but SYS_CHROOT must
stay (unshare --root needs it), and SETUID too with --user. --privileged
keeps every capability and masks nothing: the container is then root over
the host.

Without -d it stays in the foreground and undoes everything when the command
ends, exiting with its status. With -d it prints the PID and returns.`
}

// layerDir resolves a --layer value: a name from `layer import`, or a path.
func layerDir(d *deps, v string) string {
	if strings.Contains(v, "/") {
		abs, _ := filepath.Abs(v)
		return abs
	}
	return d.store.Layer(v)
}

// fromImage gives the container an image's layers (their short links,
// topmost first) and what its config says to run it with.
func fromImage(d *deps, ct *plan.Container, ref string) error {
	_, f, err := plan.FindImage(d.store, ref)
	if err != nil {
		var r *plan.Refused
		if errors.As(err, &r) {
			r.Flag = "image"
		}
		return err
	}
	ct.Layers = f.RootLayers()
	ct.Image, ct.ImageID = f.Name(), f.ID
	if f.Config.Command(ct.Cmd) == nil {
		return &plan.Refused{Flag: "image", Msg: fmt.Sprintf("%s has no Entrypoint or Cmd: give the command after --", ref)}
	}
	return ct.FromImage(f.Config)
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

// Run plans the container and prints or applies it; in the foreground it
// waits for the command, then undoes everything.
func (c *RunCmd) Run(d *deps) error {
	c.DryRun = printsOnly(c.DryRun, c.Output)
	if len(c.Cmd) > 0 && c.Cmd[0] == "--" {
		c.Cmd = c.Cmd[1:]
	}
	ct := &plan.Container{Name: c.Name, IP: c.IP.Addr, Hostname: c.Hostname, Cmd: c.Cmd, Attach: !c.Detach,
		Privileged: c.Privileged, CapAdd: c.CapAdd, CapDrop: c.CapDrop, SecurityOpt: c.SecurityOpt, SUID: c.SUID,
		Env: hostEnv(c.Env), WorkDir: c.WorkDir, User: c.User, ResolvConf: c.ResolvConf, Aliases: c.Alias}
	for _, l := range c.Layer {
		ct.Layers = append(ct.Layers, layerDir(d, l))
	}
	switch {
	case c.Image != "" && len(c.Layer) > 0:
		return &plan.Refused{Flag: "layer", Msg: "give --image or --layer, not both"}
	case c.Image == "" && len(c.Layer) == 0:
		return &plan.Refused{Flag: "image", Msg: "give the root: --image REF (from 'plumb image pull' or 'import') or --layer DIR"}
	case c.Image != "":
		if err := fromImage(d, ct, c.Image); err != nil {
			return err
		}
	}
	for _, p := range c.Publish {
		ct.Publish = append(ct.Publish, p.Port)
	}
	if c.Net != "none" {
		ct.Bridge = c.Net
	}
	out, err := up(d, ct, c.DryRun, c.Output, "")
	if out == nil || err != nil {
		return err
	}
	rec := out.Records[0]
	pid, _ := plan.ContainerState(rec)
	if c.Detach {
		_, err := fmt.Fprintln(d.stdout, pid)
		return err
	}
	return c.foreground(d, pid, rec.Created)
}

// foreground waits for the command with other plumb commands free to run
// meanwhile, then undoes everything and exits with the command's status.
// SIGINT or SIGTERM is passed to the command, as `docker run` does; if it
// has not ended StopAfter later, it is stopped (SIGTERM, then SIGKILL
// StopAfter after) and everything is undone all the same. A `plumb stop`
// from elsewhere ends it too: its status is still the one reported.
func (c *RunCmd) foreground(d *deps, pid int, created time.Time) error {
	d.store.Unlock()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	exited := make(chan int, 1)
	go func() { exited <- waitStatus(pid) }()
	status, grace := 0, 0
	var sig os.Signal
	select {
	case status = <-exited:
	case sig = <-sigs:
	case <-d.ctx.Done(): // a signal that came before this wait began
		sig = syscall.SIGTERM
	}
	if sig != nil {
		// From here a second signal ends plumb at once (its default), as
		// for every other command; the container dies with plumb.
		signal.Stop(sigs)
		zerolog.Ctx(d.ctx).Warn().Msgf("%s received: passing it to the container's command", signalName(sig))
		forward(pid, sig)
		select {
		case status = <-exited:
		case <-time.After(StopAfter):
		}
		grace = int(StopAfter / time.Second)
	}
	ctx := context.WithoutCancel(d.ctx) // the undo must run, even after a signal
	if err := d.store.Lock(ctx, d.wait); err != nil {
		return err
	}
	rec, err := d.store.Load("container", c.Name)
	if errors.Is(err, fs.ErrNotExist) || err == nil && !rec.Created.Equal(created) {
		// Stopped and undone by `plumb stop` (and perhaps a new container
		// of the same name run since: not this one's to undo).
		return statusErr(status)
	} else if err != nil {
		return err
	}
	if _, err := plan.TearDown(ctx, d.env(), rec, plan.DownOptions{Grace: grace}, false); err != nil {
		return fmt.Errorf("cleaning up %w", err)
	}
	if sig != nil {
		select { // stopped by the teardown, if not before
		case status = <-exited:
		case <-time.After(time.Second):
		}
	}
	return statusErr(status)
}

// waitStatus waits for the process plumb started and gives its status as a
// shell does: its exit code, or 128 + the signal that killed it.
func waitStatus(pid int) int {
	proc, err := os.FindProcess(pid)
	if err != nil {
		return 0
	}
	ps, err := proc.Wait()
	if err != nil {
		return 0
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// StopAfter is how long a foreground container has to end after plumb
// passed it SIGINT or SIGTERM, before it is stopped.
const StopAfter = 2 * time.Second

func statusErr(status int) error {
	if status != 0 {
		return exitCode(status)
	}
	return nil
}

// forward passes sig to the container's command: the child of the process
// plumb started (unshare --fork runs the command as its child, PID 1 of the
// container), or that process itself when it has no child yet.
func forward(pid int, sig os.Signal) {
	target := pid
	if kids, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid)); err == nil {
		if f := strings.Fields(string(kids)); len(f) > 0 {
			if k, err := strconv.Atoi(f[0]); err == nil {
				target = k
			}
		}
	}
	if p, err := os.FindProcess(target); err == nil {
		_ = p.Signal(sig)
	}
}
