package main

import (
	"errors"
	"fmt"
	"text/tabwriter"

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
		f, _ := r.Container()
		network, ip := "none", ""
		if f.Net != nil {
			network, ip = f.Net.Bridge, f.Net.IP.String()
		}
		out = append(out, psEntry{r.Name, pid, state, ip, network, f.Cmd})
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
