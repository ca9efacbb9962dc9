package main

import (
	"errors"
	"fmt"
	"io/fs"

	"plumb/container"
	"plumb/plan"
)

// ExecCmd is `plumb exec`.
type ExecCmd struct {
	Name        string   `arg:"" predictor:"container" help:"The running container."`
	Interactive bool     `name:"interactive" short:"i" help:"Keep stdin open for the command (it always is: accepted for docker exec's sake)."`
	Tty         bool     `name:"tty" short:"t" help:"Give the command a terminal."`
	Env         []string `name:"env" short:"e" sep:"none" placeholder:"KEY=VALUE" help:"Set a variable over the container's environment; repeat for more."`
	WorkDir     string   `name:"workdir" short:"w" placeholder:"DIR" help:"The command's working directory (default: the container's)."`
	User        string   `name:"user" short:"u" placeholder:"USER[:GROUP]" help:"Run as this user, a name or UID from the container's /etc/passwd (default: the container's)."`
	Cmd         []string `arg:"" optional:"" passthrough:"partial" placeholder:"-- CMD" help:"The command and its arguments, after --."`
}

// Help is the long help of `plumb exec --help`.
func (c *ExecCmd) Help() string {
	return `Runs a command in a running container through its OCI runtime, as docker
exec does:

  crun --root STATE exec --process FILE NAME

FILE is the container's own process (config.json's, in its bundle) with the
command, -e, -w and -u put in: the command gets the container's namespaces,
capabilities, seccomp filter and environment. It shares plumb's stdin,
stdout and stderr; plumb exits with its status.`
}

// Run runs the command and exits with its status.
func (c *ExecCmd) Run(d *deps) error {
	rec, err := d.store.Load(plan.ContainerKind.Name(), c.Name)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("plumb keeps no container named %s (`plumb ps -a` lists them)", c.Name)
	} else if err != nil {
		return err
	}
	cmd := c.Cmd
	if len(cmd) > 0 && cmd[0] == "--" {
		cmd = cmd[1:]
	}
	status, err := container.Exec(d.ctx, d.runner, rec, container.ExecOptions{Cmd: cmd, Env: hostEnv(c.Env), WorkDir: c.WorkDir, User: c.User, Tty: c.Tty})
	if err != nil {
		return err
	}
	if status != 0 {
		return exitCode(status)
	}
	return nil
}
