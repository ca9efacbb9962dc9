package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"plumb/plan"
)

// StatusCmd is `plumb status`.
type StatusCmd struct {
	Output string `name:"output" short:"o" enum:"text,json" default:"text" help:"text or json."`
}

type statusEntry struct {
	Kind    string     `json:"kind"`
	Name    string     `json:"name"`
	State   plan.State `json:"state"`
	Updated string     `json:"updated"`
	Summary string     `json:"summary"`
}

// Run lists every journal; unreadable ones are named, not skipped.
func (c *StatusCmd) Run(d *deps) error {
	recs, errs := d.store.List()
	var out []statusEntry
	for _, r := range recs {
		out = append(out, statusEntry{r.Kind, r.Name, r.State, r.Updated.Format("2006-01-02T15:04:05Z07:00"), r.Summary})
	}
	if c.Output == "json" {
		if out == nil {
			out = []statusEntry{}
		}
		if err := writeJSON(d.stdout, struct {
			FormatVersion int           `json:"format_version"`
			Objects       []statusEntry `json:"objects"`
		}{plan.FormatVersion, out}); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(d.stdout, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "KIND\tNAME\tSTATE\tUPDATED\tSUMMARY")
		for _, e := range out {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Kind, e.Name, e.State, e.Updated, e.Summary)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%d journals cannot be read: %v", len(errs), errs)
	}
	return nil
}

func writeJSON(w interface{ Write([]byte) (int, error) }, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // commands hold & < >, shown as they are
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
