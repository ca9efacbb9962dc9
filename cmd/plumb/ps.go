package main

import (
	"errors"
	"fmt"
	"io"

	"plumb/plan"
)

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
// It reads each journal's header (plan.Store.Headers), which holds all it
// shows, not its steps: decoding every step of every journal took seconds
// with a thousand objects on a busy host.
func (c *PsCmd) Run(d *deps) error {
	recs, errs := d.store.Headers()
	if err := storeRefused(errs); err != nil {
		return err
	}
	out := []psEntry{}
	for _, r := range plan.OfKind(recs, plan.ContainerKind) {
		pid, state := plan.ContainerState(r)
		if r.State != plan.StateUp {
			state = string(r.State)
		}
		f, err := r.Container()
		if err != nil {
			errs = append(errs, err) // listed with what its header says, then reported
		}
		network, ip := "none", ""
		if f.Net != nil {
			network, ip = f.Net.Bridge, f.Net.IP.String()
		}
		out = append(out, psEntry{r.Name, pid, state, ip, network, f.Cmd})
	}
	err := listing(d, c.Output, "containers", "NAME\tPID\tSTATE\tIP\tNETWORK\tCOMMAND", out, func(w io.Writer, e psEntry) {
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", e.Name, e.PID, e.State, orNone(e.IP), e.Network, e.Command)
	})
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return nil
}
