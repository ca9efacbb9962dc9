package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"

	"plumb/container"
	"plumb/plan"
)

// LogsCmd is `plumb logs`.
type LogsCmd struct {
	Name       string `arg:"" predictor:"container" help:"The container: one plumb keeps, or one stopped without --rm whose log is kept."`
	Follow     bool   `name:"follow" short:"f" help:"Go on showing what it writes until it ends."`
	Tail       string `name:"tail" short:"n" default:"all" placeholder:"N" help:"Show only the last N lines (all: every line)."`
	Timestamps bool   `name:"timestamps" short:"t" help:"Show when each line was written (RFC 3339, UTC)."`
	// stderr is where the container's stderr lines go (nil: plumb's).
	stderr io.Writer
}

// Help is the long help of `plumb logs --help`.
func (c *LogsCmd) Help() string {
	return `Shows what a detached container (run -d) wrote to its stdout and stderr, as
docker logs does: stdout's lines on stdout, stderr's on stderr. plumb's shim
keeps them in ROOT/overlay/NAME/log, a JSON record a line in Docker's
json-file format, rotated at 10 MiB to log.1 (so at most 20 MiB are kept).
The log outlives plumb stop unless it is empty; plumb stop --rm deletes it.
A container run in the foreground writes to the terminal of the plumb that
runs it, and has no log.`
}

// Run writes the log.
func (c *LogsCmd) Run(d *deps) error {
	tail := -1
	if c.Tail != "all" {
		n, err := strconv.Atoi(c.Tail)
		if err != nil || n < 0 {
			return plan.Refuse("tail", "%q is not a number of lines, nor all", c.Tail)
		}
		tail = n
	}
	dirs := d.store.Layout.Overlay(c.Name)
	path, ended := dirs.Log, func() bool { return true }
	rec, err := d.store.Load(plan.ContainerKind.Name(), c.Name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("plumb keeps no container named %s, nor its log (`plumb ps -a` lists them)", c.Name)
		}
	case err != nil:
		return err
	default:
		f, err := rec.Container()
		if err != nil {
			return err
		}
		if f.Log != "" {
			path = f.Log
		}
		if _, err := os.Stat(plan.OverlayAt(f.Dir()).Monitor); err == nil {
			return plan.Refuse("<name>", "%s runs in the foreground: its output goes to the terminal of the plumb that runs it", c.Name)
		}
		ended = func() bool {
			_, state := plan.ContainerState(rec)
			return state != "running" && state != "starting"
		}
	}
	stderr := c.stderr
	if stderr == nil {
		stderr = os.Stderr
	}
	return container.WriteLogs(d.ctx, d.stdout, stderr, path, container.LogOptions{Follow: c.Follow, Tail: tail, Timestamps: c.Timestamps}, ended)
}
