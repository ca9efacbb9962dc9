package container

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"plumb/actions"
	"plumb/plan"
)

// ExecOptions are `plumb exec`'s, as docker exec takes them.
type ExecOptions struct {
	Cmd     []string
	Env     []string // KEY=VALUE over the container's environment
	WorkDir string   // "": the container's
	User    string   // "": the container's
	Tty     bool     // a terminal for the command
}

// Exec runs a command in a running container through its runtime's exec,
// with the container's confinement (its capabilities, seccomp filter and
// namespaces, which the runtime takes from the container itself) and
// process: its environment with opts.Env over it, its working directory
// and user unless opts give others. The command shares plumb's stdio; its
// status is returned as a shell gives it.
func Exec(ctx context.Context, r actions.Runner, rec *plan.Record, opts ExecOptions) (int, error) {
	f, err := rec.Container()
	if err != nil {
		return 0, err
	}
	if f.Runtime == "" {
		return 0, plan.Refuse("<name>", "%s was started by a plumb from before OCI runtimes, which has no exec: stop it and run it again", rec.Name)
	}
	if _, state := plan.ContainerState(rec); state != "running" {
		return 0, plan.Refuse("", "container %s is not running (%s)", rec.Name, state)
	}
	if len(opts.Cmd) == 0 {
		return 0, plan.Refuse("", "give the command to run after --, such as: plumb exec web -- sh")
	}
	if err := checkEnv(opts.Env); err != nil {
		return 0, err
	}
	data, err := os.ReadFile(filepath.Join(f.Dir(), "config.json"))
	if err != nil {
		return 0, fmt.Errorf("reading the container's bundle: %w", err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		return 0, fmt.Errorf("reading the container's config.json: %w", err)
	} else if spec.Process == nil || spec.Root == nil {
		return 0, fmt.Errorf("the container's config.json has no process or no root")
	}
	merged := spec.Root.Path // its root file system's, as the runtime sees it
	p := *spec.Process
	p.Args, p.Terminal = opts.Cmd, opts.Tty
	if opts.Tty && !slices.ContainsFunc(p.Env, func(e string) bool { return strings.HasPrefix(e, "TERM=") }) {
		p.Env = append(slices.Clone(p.Env), "TERM=xterm") // as Docker's exec -t
	}
	if opts.User != "" || opts.WorkDir != "" || len(opts.Env) > 0 {
		own := fmt.Sprintf("%d:%d", p.User.UID, p.User.GID)
		env := slices.Clone(p.Env)
		if opts.User != "" {
			// A HOME that was the container user's own home follows the
			// user, as the runtime gives an exec's user its home in Docker.
			was := Container{Name: rec.Name, Hostname: f.Hostname, User: own}
			if wp, err := was.process([]string{merged}); err == nil {
				env = slices.DeleteFunc(env, func(e string) bool { return e == "HOME="+homeOf(wp.Env) })
			}
		}
		c := Container{Name: rec.Name, Hostname: f.Hostname, User: opts.User, WorkDir: opts.WorkDir, Env: append(env, opts.Env...)}
		if c.User == "" {
			c.User = own
		}
		if c.WorkDir == "" {
			c.WorkDir = p.Cwd
		}
		proc, err := c.process([]string{merged})
		if err != nil {
			return 0, err
		}
		groups := make([]uint32, len(proc.Groups))
		for i, g := range proc.Groups {
			groups[i] = uint32(g)
		}
		if opts.User == "" {
			groups = p.User.AdditionalGids
		}
		p.Env, p.Cwd = proc.Env, proc.Dir
		p.User = specs.User{UID: uint32(proc.UID), GID: uint32(proc.GID), AdditionalGids: groups}
	}
	out, err := json.Marshal(p)
	if err != nil {
		return 0, err
	}
	file, err := os.CreateTemp(f.Dir(), "exec-*.json")
	if err != nil {
		return 0, err
	}
	defer os.Remove(file.Name())
	if _, err := file.Write(out); err != nil {
		file.Close()
		return 0, err
	}
	if err := file.Close(); err != nil {
		return 0, err
	}
	rt := runtimeOf(f.Runtime, f.RuntimeState)
	// A container with limits has its cgroup, which the exec joins.
	rt.NoCgroups = rt.NoCgroups && !LimitsOf(f).Any()
	return actions.RuntimeExec{Runtime: rt, ID: rec.Name, Process: file.Name(), Tty: opts.Tty}.Run(ctx, r)
}

// homeOf is the HOME in env, "" when none.
func homeOf(env []string) string {
	for _, e := range env {
		if h, ok := strings.CutPrefix(e, "HOME="); ok {
			return h
		}
	}
	return ""
}
