package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/alecthomas/kong"
	"github.com/rs/zerolog"

	"plumb/actions"
	"plumb/compose"
	"plumb/container"
	"plumb/plan"
	"plumb/progress"
	"plumb/view"
)

// ComposeCmd is `plumb compose`: a Compose file planned and converged.
type ComposeCmd struct {
	File       []string `name:"file" short:"f" sep:"none" placeholder:"FILE" help:"The Compose file (default: compose.yaml, compose.yml, docker-compose.yml or docker-compose.yaml in the project directory); repeat to merge several, later ones over earlier ones."`
	Project    string   `name:"project-name" short:"p" placeholder:"NAME" help:"The project's name (default: the file's name:, else the project directory's base name)."`
	ProjectDir string   `name:"project-directory" placeholder:"DIR" help:"Where relative paths and .env are read from (default: the first file's directory)."`
	EnvFile    []string `name:"env-file" sep:"none" placeholder:"FILE" help:"Variables for interpolation (default: .env in the project directory); repeat for more."`
	Profile    []string `name:"profile" sep:"none" placeholder:"NAME" help:"Also take the services of this profile; repeat for more."`

	Up   ComposeUpCmd   `cmd:"" help:"Make the host what the file says: create, replace and (with --remove-orphans) remove, each service whole or not at all."`
	Plan ComposePlanCmd `cmd:"" help:"Print the commands that would bring the host from what the project has to what the file says; \"nothing to do\" when it is."`
	Down ComposeDownCmd `cmd:"" help:"Remove the project's containers and networks (and with -v its named volumes)."`
	Ps   ComposePsCmd   `cmd:"" help:"List the project's containers: service, state, addresses, ports."`
	Logs ComposeLogsCmd `cmd:"" help:"Show what the project's containers wrote, each line after its container's name."`
	Exec ComposeExecCmd `cmd:"" help:"Run a command in a service's first container, as docker compose exec."`
}

// Help is the long help of `plumb compose --help`.
func (c *ComposeCmd) Help() string {
	return `Reads a Compose file with compose-go (interpolation, .env, profiles, extends,
several -f merged) and makes of it what plumb makes by hand: a bridge for
each network (PROJECT_NET; PROJECT_default when none is given; a name longer
than an interface's 15 bytes gets cmp- and 8 hex digits of its hash), a
volume for each named volume (PROJECT_VOL), and for each service its
containers PROJECT-SERVICE-1..N, each a plumb run of the service's image on
its first network, attached to the others as eth1, eth2...

Each container carries Docker Compose's labels (project, service, number,
and the hash of the configuration it was made from): plan compares them
with the file, so that up after up changes nothing. A file that asks for
what plumb does not do (build, healthcheck, restart other than "no",
secrets, ...) is refused before anything runs, one line per key.

A network without ipam.config gets the first /24 of 10.89.0.0/16 that no
network, route or nameserver of the host holds, as Podman does.`
}

// AfterApply binds the project's flags for its subcommands.
func (c *ComposeCmd) AfterApply(k *kong.Context) error {
	k.Bind(c)
	return nil
}

func (c *ComposeCmd) load(d *deps) (*compose.Project, error) {
	f, err := compose.Load(d.ctx, compose.LoadOptions{Files: c.File, Name: c.Project, Dir: c.ProjectDir, EnvFiles: c.EnvFile, Profiles: c.Profile})
	if err != nil {
		return nil, err
	}
	return compose.Model(f)
}

// loadOrRecords is load, or with -p and no file where one is looked
// for, the project as plumb's records know it (down, ps, logs, exec).
func (c *ComposeCmd) loadOrRecords(d *deps) (*compose.Project, error) {
	p, err := c.load(d)
	if err != nil && c.Project != "" && len(c.File) == 0 && compose.NoFile(err) {
		return compose.FromRecords(d.store, c.Project)
	}
	return p, err
}

// containers are the project's containers as its records hold them, and
// their names sorted: service's alone unless service is "".
func (c *ComposeCmd) containers(d *deps, service string) (*compose.Project, *compose.Current, []string, error) {
	p, err := c.loadOrRecords(d)
	if err != nil {
		return nil, nil, nil, err
	}
	cur, err := compose.Read(d.store, p.Name)
	if err != nil {
		return nil, nil, nil, err
	}
	var names []string
	for n, rec := range cur.Containers {
		f, _ := rec.Container()
		if service == "" || f.Labels[compose.LabelService] == service {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return p, cur, names, nil
}

// ComposeUpCmd is `plumb compose up`.
type ComposeUpCmd struct {
	Detach        bool   `name:"detach" short:"d" help:"Return once the containers run (plumb compose up always does: accepted for docker compose up -d's sake)."`
	RemoveOrphans bool   `name:"remove-orphans" help:"Remove the containers of services the file no longer has."`
	DryRun        bool   `name:"dry-run" help:"Print the plan and change nothing (as plumb compose plan)."`
	Output        string `name:"output" short:"o" enum:"text,json,sh" default:"text" help:"${plan_output_help}"`
	Runtime       string `name:"runtime" env:"PLUMB_RUNTIME" placeholder:"crun|runc" help:"The OCI runtime that runs the containers (default: crun where it can run here, else runc)."`
	Timeout       *int   `name:"timeout" short:"t" placeholder:"SECONDS" help:"How long a container being replaced or removed gets from SIGTERM to SIGKILL (default 10, as Docker's; 0: at once)."`
	ResolvConf    string `name:"resolv-conf" hidden:"" env:"PLUMB_RESOLV_CONF" default:"/etc/resolv.conf" placeholder:"PATH" help:"The host's resolv.conf, whose nameservers the containers get."`
	Quiet         bool   `name:"quiet" short:"q" help:"No progress: without it, on a terminal, each image pulled and each change is drawn with its time while it runs (elsewhere the lines on stdout say each change once done)."`
}

// Run plans the project, then applies the plan.
func (c *ComposeUpCmd) Run(d *deps, pc *ComposeCmd) error {
	dry := printsOnly(c.DryRun, c.Output)
	return converge(d, pc, c.RemoveOrphans, dry, c.Output, c.Runtime, c.ResolvConf, grace(c.Timeout), c.Quiet)
}

// grace is -t as plan.DownOptions takes it: 0 Docker's 10 s, negative at once.
func grace(t *int) int {
	switch {
	case t == nil:
		return 0
	case *t <= 0:
		return -1
	}
	return *t
}

// ComposePlanCmd is `plumb compose plan`.
type ComposePlanCmd struct {
	RemoveOrphans bool   `name:"remove-orphans" help:"Plan the removal of the containers of services the file no longer has."`
	Output        string `name:"output" short:"o" enum:"text,json,sh" default:"text" help:"${plan_output_help}"`
	Runtime       string `name:"runtime" env:"PLUMB_RUNTIME" placeholder:"crun|runc" help:"The OCI runtime that would run the containers."`
	ResolvConf    string `name:"resolv-conf" hidden:"" env:"PLUMB_RESOLV_CONF" default:"/etc/resolv.conf" placeholder:"PATH" help:"The host's resolv.conf."`
}

// Run prints the plan.
func (c *ComposePlanCmd) Run(d *deps, pc *ComposeCmd) error {
	return converge(d, pc, c.RemoveOrphans, true, c.Output, c.Runtime, c.ResolvConf, 0, true)
}

// converge plans the project and prints the plan (dry) or applies it.
func converge(d *deps, pc *ComposeCmd, orphans, dry bool, output, runtime, resolv string, grace int, quiet bool) error {
	// A project's plan builds every container's config.json: garbage
	// collected at Go's default pace, a fifth of a 50-service plan went
	// to the collector (perf). plumb lives seconds; its heap is tens of MB.
	debug.SetGCPercent(400)
	p, err := pc.load(d)
	if err != nil {
		return err
	}
	rt, err := container.ChooseRuntime(runtime, d.store.Layout.Dir, d.proc)
	if err != nil {
		return err
	}
	// Images plumb does not keep: up pulls them first, as docker compose
	// up does; a plan, which changes nothing, needs them there.
	// On a terminal each pull and change is drawn while it runs; off one,
	// the lines on stdout say each once done. Those lines go above the
	// bars when stdout is the same terminal.
	tr := d.tracker(quiet || dry)
	if tr.Bars() {
		if isTerminal(d.stdout) {
			out := progress.NewLog(d.stdout)
			d.stdout = out
			tr.Route(out)
		}
		defer tr.Wait()
	} else {
		tr = nil
	}
	p.Progress = tr
	if missing := p.MissingImages(d.store); len(missing) > 0 {
		if dry {
			return plan.Refuse("", "plumb keeps no image %s: the plan needs the images' layers and configuration; plumb compose up pulls them first (or plumb image pull)", strings.Join(missing, ", "))
		}
		for _, ref := range missing {
			// plumb image pull REF, run as plumb's own steps are (its lock
			// its own: a pull takes the state directory's lock shared, and
			// this up then takes it whole).
			argv := []string{"plumb", "--state-dir", d.store.Layout.Dir, "--root", d.store.Layout.RootDir(), "image", "pull", "--quiet", "--", ref}
			item := tr.Step("image " + ref + ": pull")
			_, err := d.runner.Run(d.ctx, argv, nil)
			item.Done(err)
			if err != nil {
				return fmt.Errorf("pulling %s for the project's services: %w", ref, err)
			}
			fmt.Fprintf(d.stdout, "image %s: pulled\n", ref)
		}
	}
	if !dry {
		if err := d.lock(); err != nil {
			return err
		}
	}
	env := d.env()
	o := compose.Options{RemoveOrphans: orphans, Runtime: rt, ResolvConf: resolv, Grace: grace, Firewall: d.firewall}
	if p.Interrupted(d.store) {
		if dry {
			zerolog.Ctx(d.ctx).Warn().Msgf("an up of project %s was interrupted: this plan is from what it left; plumb compose up (or down) rolls it back first", p.Name)
		} else if err := p.Recover(d.ctx, env, o, false, d.stdout); err != nil {
			return err
		}
	}
	changes, err := p.Plan(d.ctx, env, o)
	if err != nil {
		return err
	}
	return finish(d, p.Name, env, changes, dry, output, "is as the file says: nothing to do", p.Apply)
}

// finish prints the changes' plan (dry), or names the orphans left and
// applies the changes with apply; said in one line when none changes
// anything.
func finish(d *deps, project string, env plan.Env, changes []*compose.Change, dry bool, output, nothing string,
	apply func(context.Context, plan.Env, []*compose.Change, io.Writer) error) error {
	if dry {
		if err := compose.PlanAll(d.ctx, env, changes); err != nil {
			return err
		}
		return printChanges(d, project, changes, output)
	}
	for _, ch := range changes {
		if ch.Do == "orphan" {
			fmt.Fprintf(d.stdout, "%s\n", ch)
		}
	}
	if len(compose.Pending(changes)) == 0 {
		_, err := fmt.Fprintf(d.stdout, "project %s %s\n", project, nothing)
		return err
	}
	return apply(d.ctx, env, changes, d.stdout)
}

func printChanges(d *deps, project string, changes []*compose.Change, output string) error {
	switch output {
	case "json":
		return compose.JSON(d.stdout, changes)
	case "sh":
		if len(compose.Pending(changes)) == 0 {
			_, err := fmt.Fprintln(d.stdout, "# nothing to do")
			return err
		}
		return compose.Joined(project, changes).Shell(d.stdout, "plumb "+actions.Quote(os.Args[1:]))
	}
	return compose.Text(d.stdout, changes)
}

// ComposeDownCmd is `plumb compose down`.
type ComposeDownCmd struct {
	Volumes       bool   `name:"volumes" short:"v" help:"Also remove the project's named volumes (never external ones)."`
	RemoveOrphans bool   `name:"remove-orphans" help:"Also remove the containers of services the file no longer has."`
	DryRun        bool   `name:"dry-run" help:"Print the commands and change nothing."`
	Output        string `name:"output" short:"o" enum:"text,json,sh" default:"text" help:"${plan_output_help}"`
	Timeout       *int   `name:"timeout" short:"t" placeholder:"SECONDS" help:"How long each container gets from SIGTERM to SIGKILL (default 10, as Docker's; 0: at once)."`
}

// Run removes the project.
func (c *ComposeDownCmd) Run(d *deps, pc *ComposeCmd) error {
	p, err := pc.loadOrRecords(d)
	if err != nil {
		return err
	}
	dry := printsOnly(c.DryRun, c.Output)
	if !dry {
		if err := d.lock(); err != nil {
			return err
		}
	}
	env := d.env()
	if p.Interrupted(d.store) && !dry {
		rt, err := container.ChooseRuntime("", d.store.Layout.Dir, d.proc)
		if err != nil {
			return err
		}
		if err := p.Recover(d.ctx, env, compose.Options{Runtime: rt, ResolvConf: os.Getenv("PLUMB_RESOLV_CONF"), Grace: grace(c.Timeout), Firewall: d.firewall}, true, d.stdout); err != nil {
			return err
		}
	}
	changes, err := p.DownChanges(env, c.Volumes, c.RemoveOrphans, grace(c.Timeout))
	if err != nil {
		return err
	}
	return finish(d, p.Name, env, changes, dry, c.Output, "has nothing to remove", p.Down)
}

// ComposePsCmd is `plumb compose ps`.
type ComposePsCmd struct{}

// Run lists the project's containers.
func (c *ComposePsCmd) Run(d *deps, pc *ComposeCmd) error {
	p, cur, names, err := pc.containers(d, "")
	if err != nil {
		return err
	}
	return view.ComposePs(d.stdout, d.store, p, cur, names)
}

// ComposeLogsCmd is `plumb compose logs`.
type ComposeLogsCmd struct {
	Service string `arg:"" optional:"" predictor:"service" help:"Only this service's containers."`
	Follow  bool   `name:"follow" help:"Go on showing what they write, side by side, each line after its container's name, until every one has ended (-f is --file here, as kong keeps one meaning for a short flag)."`
}

// Run writes each container's log, its lines after its name.
func (c *ComposeLogsCmd) Run(d *deps, pc *ComposeCmd) error {
	p, _, names, err := pc.containers(d, c.Service)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return fmt.Errorf("project %s has no container%s", p.Name, map[bool]string{true: " of service " + c.Service}[c.Service != ""])
	}
	// One writer each for stdout and stderr, a whole line at a time: with
	// --follow the containers' logs are read side by side.
	var mu sync.Mutex
	stdout, stderr := &view.LockedWriter{W: d.stdout, Mu: &mu}, &view.LockedWriter{W: os.Stderr, Mu: &mu}
	logs := func(n string, dd *deps) error {
		out, errw := &view.PrefixWriter{W: stdout, Prefix: n + " | "}, &view.PrefixWriter{W: stderr, Prefix: n + " | "}
		dd.stdout = out
		err := (&LogsCmd{Name: n, Follow: c.Follow, Tail: "all", stderr: errw}).Run(dd)
		out.Flush()
		errw.Flush()
		return err
	}
	if !c.Follow || len(names) == 1 {
		for _, n := range names {
			dd := *d
			if err := logs(n, &dd); err != nil {
				return err
			}
		}
		return nil
	}
	// The store's directories are checked once here: the readers below
	// only read it.
	if err := d.store.TrustDirs(plan.ContainerKind.Name(), false); err != nil {
		return err
	}
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dd := *d
			errs[i] = logs(n, &dd)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// ComposeExecCmd is `plumb compose exec`.
type ComposeExecCmd struct {
	Index   int      `name:"index" default:"1" help:"Which of the service's containers (1: the first)."`
	NoTTY   bool     `name:"no-tty" short:"T" help:"No terminal (the default: accepted for docker compose exec -T's sake)."`
	Tty     bool     `name:"tty" short:"t" help:"Give the command a terminal."`
	Env     []string `name:"env" short:"e" sep:"none" placeholder:"KEY=VALUE" help:"Set a variable over the container's environment; repeat for more."`
	WorkDir string   `name:"workdir" short:"w" placeholder:"DIR" help:"The command's working directory."`
	User    string   `name:"user" short:"u" placeholder:"USER[:GROUP]" help:"Run as this user."`
	Service string   `arg:"" predictor:"service" help:"The service."`
	Cmd     []string `arg:"" passthrough:"partial" placeholder:"-- CMD" help:"The command and its arguments, after --."`
}

// Run runs the command in the service's container.
func (c *ComposeExecCmd) Run(d *deps, pc *ComposeCmd) error {
	p, err := pc.loadOrRecords(d)
	if err != nil {
		return err
	}
	if c.Tty && c.NoTTY {
		return plan.Refuse("tty", "-t and -T ask for a terminal and for none: give one")
	}
	if !slices.ContainsFunc(p.Services, func(s compose.Service) bool { return s.Name == c.Service }) {
		return plan.Refuse("<service>", "project %s has no service %s", p.Name, c.Service)
	}
	name := compose.ContainerName(p.Name, c.Service, c.Index)
	return (&ExecCmd{Name: name, Tty: c.Tty, Env: c.Env, WorkDir: c.WorkDir, User: c.User, Cmd: c.Cmd}).Run(d)
}
