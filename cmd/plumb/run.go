package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"plumb/plan"
)

// RunCmd is `plumb run`.
type RunCmd struct {
	Name     string     `arg:"" help:"The container's name."`
	Layer    []string   `name:"layer" required:"" sep:"none" placeholder:"LAYER|DIR" help:"A read-only layer, topmost first: a name from 'plumb layer import', or a directory."`
	Net      string     `name:"net" default:"none" placeholder:"BRIDGE|none" help:"The bridge to attach to (made by 'plumb bridge up'), or none for loopback only."`
	IP       addrFlag   `name:"ip" placeholder:"IP" help:"The container's address on the bridge (default: the next free one)."`
	Publish  []portFlag `name:"publish" sep:"none" placeholder:"HOST:CONTAINER[/tcp|/udp]" help:"Make a container port reachable at a host port; repeat for more."`
	Hostname string     `name:"hostname" help:"The container's hostname (default: its name)."`
	Detach   bool       `name:"detach" short:"d" help:"Start it in the background, print its PID and return; stop it with 'plumb stop'."`
	DryRun   bool       `name:"dry-run" help:"Print the plan and change nothing."`
	Output   string     `name:"output" short:"o" enum:"text,json,sh" default:"text" help:"Plan format: text, json, or sh (a bash runbook); sh implies --dry-run."`
	Cmd      []string   `arg:"" passthrough:"" placeholder:"-- CMD" help:"The command to run, after --."`
}

// Help is the long help of `plumb run --help`.
func (c *RunCmd) Help() string {
	return `Mounts an overlay of the layers (upper, work and merged under
STATE_DIR/overlay/NAME), makes the network namespace plumb-NAME and joins it
to the bridge, gives the container its hostname, then starts the command:

  nsenter --net=/run/netns/plumb-NAME --uts=.../uts unshare --pid --mount --ipc
      --fork --kill-child --mount-proc --root=.../merged --wd=/ -- CMD...

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

// exitCode is a status to exit with, already explained (or the container's own).
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// Run plans the container and prints or applies it; in the foreground it
// waits for the command, then undoes everything.
func (c *RunCmd) Run(d *deps) error {
	c.DryRun = c.DryRun || c.Output == "sh"
	if len(c.Cmd) > 0 && c.Cmd[0] == "--" {
		c.Cmd = c.Cmd[1:]
	}
	ct := &plan.Container{Name: c.Name, IP: c.IP.Addr, Hostname: c.Hostname, Cmd: c.Cmd, Attach: !c.Detach}
	for _, l := range c.Layer {
		ct.Layers = append(ct.Layers, layerDir(d, l))
	}
	for _, p := range c.Publish {
		ct.Publish = append(ct.Publish, p.Port)
	}
	if c.Net != "none" {
		ct.Bridge = c.Net
	}
	out, err := up(d, ct, c.DryRun, afterApply(c.DryRun, c.Output), "")
	if out == nil || err != nil {
		return err
	}
	rec := out.Records[0]
	pid, _ := plan.ContainerState(rec)
	if c.Detach {
		_, err := fmt.Fprintln(d.stdout, pid)
		return err
	}
	// In the foreground: let other plumb commands run meanwhile, wait for
	// the command, then undo everything.
	d.store.Unlock()
	status := 0
	if proc, err := os.FindProcess(pid); err == nil {
		if ps, err := proc.Wait(); err == nil {
			status = ps.ExitCode()
		}
	}
	if err := d.lock(); err != nil {
		return err
	}
	if rec, err = d.store.Load("container", c.Name); err != nil {
		return err
	}
	if _, err := plan.TearDown(d.ctx, d.env(), rec, plan.DownOptions{}, false); err != nil {
		return fmt.Errorf("cleaning up %w", err)
	}
	if status != 0 {
		return exitCode(status)
	}
	return nil
}
