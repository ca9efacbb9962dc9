package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"plumb/actions"
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
func layerDir(stateDir, v string) string {
	if strings.Contains(v, "/") {
		abs, _ := filepath.Abs(v)
		return abs
	}
	return filepath.Join(stateDir, "layers", v)
}

// exitCode is a status to exit with, already explained (or the container's own).
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// Run plans the container and prints or applies it.
func (c *RunCmd) Run(d *deps) error {
	c.DryRun = c.DryRun || c.Output == "sh"
	if len(c.Cmd) > 0 && c.Cmd[0] == "--" {
		c.Cmd = c.Cmd[1:]
	}
	if !c.DryRun {
		if err := d.lock(); err != nil {
			return err
		}
	}
	ct := &plan.Container{Name: c.Name, IP: c.IP.Addr, Hostname: c.Hostname, Cmd: c.Cmd, Attach: !c.Detach}
	for _, l := range c.Layer {
		ct.Layers = append(ct.Layers, layerDir(d.store.Dir, l))
	}
	for _, p := range c.Publish {
		ct.Publish = append(ct.Publish, p.Port)
	}
	if c.Net != "none" {
		br, err := loadBridge(d, c.Net)
		if err != nil {
			return err
		}
		ct.Bridge = br
	}
	if err := ct.Check(d.store); err != nil {
		return err
	}
	p, err := ct.Plan(d.store.Dir)
	if err != nil {
		return err
	}
	if c.DryRun {
		return render(d, p, c.Output)
	}
	if rec, err := d.store.Load("container", c.Name); err == nil {
		_, state := plan.ContainerState(rec)
		return &plan.Refused{Flag: "<name>", Msg: fmt.Sprintf("a container named %s exists (%s); `plumb stop %s` first", c.Name, state, c.Name)}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := ct.Preflight(d.ctx, d.runner, d.store); err != nil {
		return err
	}
	rec, err := plan.Apply(d.ctx, d.runner, d.store, p, d.mode)
	if err != nil {
		return err
	}
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
	if _, err := plan.Down(d.ctx, d.runner, d.store, rec); err != nil {
		return fmt.Errorf("cleaning up %s: %w", rec.ID(), err)
	}
	if status != 0 {
		return exitCode(status)
	}
	return nil
}

// StopCmd is `plumb stop`.
type StopCmd struct {
	Name   string `arg:"" help:"The container."`
	RM     bool   `name:"rm" help:"Also delete its upper layer (what it wrote) and log."`
	Time   int    `name:"time" short:"t" default:"10" help:"Seconds to wait after SIGTERM before SIGKILL (a PID 1 without a handler ignores SIGTERM)."`
	DryRun bool   `name:"dry-run" help:"Print the commands and change nothing."`
	Output string `name:"output" short:"o" enum:"text,json,sh" default:"text" help:"Format of --dry-run's output: text, json, or sh."`
}

// Run stops the container and undoes its network and mount.
func (c *StopCmd) Run(d *deps) error {
	c.DryRun = c.DryRun || c.Output == "sh"
	if !c.DryRun {
		if err := d.lock(); err != nil {
			return err
		}
	}
	rec, err := d.store.Load("container", c.Name)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("plumb keeps no container named %s (`plumb ps` lists them)", c.Name)
	} else if err != nil {
		return err
	}
	if c.Time < 1 {
		return &plan.Refused{Flag: "time", Msg: "give at least 1 second"}
	}
	if err := plan.StopGrace(rec, c.Time); err != nil {
		return err
	}
	var purge actions.Action
	if c.RM {
		purge = actions.RemoveTree{Path: rec.Details["layout"]}
	}
	if c.DryRun {
		undos, err := plan.UndoPlan(d.store, rec)
		if err != nil {
			return err
		}
		p := &plan.Plan{Kind: rec.Kind, Name: rec.Name}
		for _, u := range append(undos, purge) {
			if u != nil {
				p.Steps = append(p.Steps, plan.Step{Action: u})
			}
		}
		return render(d, p, c.Output)
	}
	if _, err := plan.Down(d.ctx, d.runner, d.store, rec); err != nil {
		return fmt.Errorf("%s: %w", rec.ID(), err)
	}
	fmt.Fprintf(d.stdout, "%s is stopped\n", rec.ID())
	if purge != nil {
		if err := plan.RunOne(d.ctx, d.runner, purge); err != nil {
			return err
		}
		fmt.Fprintf(d.stdout, "deleted %s\n", rec.Details["layout"])
	} else if entries, err := os.ReadDir(rec.Details["upperdir"]); err == nil {
		fmt.Fprintf(d.stdout, "kept the upper layer %s (%d entries); `plumb stop %s --rm` would have deleted it\n", rec.Details["upperdir"], len(entries), rec.Name)
	}
	return nil
}

// PsCmd is `plumb ps`.
type PsCmd struct {
	Output string `name:"output" short:"o" enum:"text,json" default:"text" help:"text or json."`
}

type psEntry struct {
	Name    string `json:"name"`
	PID     int    `json:"pid"`
	State   string `json:"state"`
	IP      string `json:"ip"`
	Network string `json:"network"`
	Command string `json:"command"`
}

// Run lists containers; one whose command ended on its own shows as exited.
func (c *PsCmd) Run(d *deps) error {
	recs, errs := d.store.List()
	out := []psEntry{}
	for _, r := range recs {
		if r.Kind != "container" {
			continue
		}
		pid, state := plan.ContainerState(r)
		if r.State != plan.StateUp {
			state = string(r.State)
		}
		network := r.Details["bridge"]
		if network == "" {
			network = "none"
		}
		out = append(out, psEntry{r.Name, pid, state, r.Details["ip"], network, r.Details["cmd"]})
	}
	if c.Output == "json" {
		if err := writeJSON(d.stdout, struct {
			FormatVersion int       `json:"format_version"`
			Containers    []psEntry `json:"containers"`
		}{plan.FormatVersion, out}); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(d.stdout, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tPID\tSTATE\tIP\tNETWORK\tCOMMAND")
		for _, e := range out {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", e.Name, e.PID, e.State, orNone(e.IP), e.Network, e.Command)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return nil
}

// LayerCmd groups the layer commands.
type LayerCmd struct {
	Import LayerImportCmd `cmd:"" help:"Unpack a root file system tarball as a layer that 'plumb run --layer' can name."`
}

// LayerImportCmd is `plumb layer import`.
type LayerImportCmd struct {
	File   pathFlag `arg:"" help:"A root file system as FILE.tar or FILE.tar.gz."`
	Name   string   `name:"name" required:"" help:"The layer's name."`
	DryRun bool     `name:"dry-run" help:"Print the plan and change nothing."`
	Output string   `name:"output" short:"o" enum:"text,json,sh" default:"text" help:"Plan format: text, json, or sh; sh implies --dry-run."`
}

// Run unpacks the tarball under STATE_DIR/layers/NAME.
func (c *LayerImportCmd) Run(d *deps) error {
	c.DryRun = c.DryRun || c.Output == "sh"
	if err := plan.CheckObjectName("name", c.Name); err != nil {
		return err
	}
	if st, err := os.Stat(string(c.File)); err != nil || st.IsDir() {
		return &plan.Refused{Flag: "<file>", Msg: fmt.Sprintf("%s is not a tarball that can be read", c.File)}
	}
	dir := layerDir(d.store.Dir, c.Name)
	p := &plan.Plan{Kind: "layer", Name: c.Name, Summary: fmt.Sprintf("layer %s from %s", dir, c.File),
		Details: map[string]string{"dir": dir, "file": string(c.File)},
		Steps:   []plan.Step{{Action: actions.Mkdir{Path: dir}}, {Action: actions.Extract{File: string(c.File), Dir: dir}}}}
	if c.DryRun {
		return render(d, p, c.Output)
	}
	if err := d.lock(); err != nil {
		return err
	}
	if _, err := os.Stat(dir); err == nil {
		return &plan.Refused{Flag: "name", Msg: fmt.Sprintf("layer %s exists (%s); `plumb down layer/%s` removes it", c.Name, dir, c.Name)}
	}
	if _, err := plan.Apply(d.ctx, d.runner, d.store, p, d.mode); err != nil {
		return err
	}
	_, err := fmt.Fprintf(d.stdout, "layer %s is %s\n", c.Name, dir)
	return err
}
