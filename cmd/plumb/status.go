package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"plumb/plan"
)

// StatusCmd is `plumb status`.
type StatusCmd struct {
	Output string `name:"output" short:"o" enum:"text,json" default:"text" help:"text or json."`
	All    bool   `name:"all" help:"List each layer of an image on a row of its own; without it, an image's layers that are up are counted on the image's row."`
}

type statusEntry struct {
	Kind    string     `json:"kind"`
	Name    string     `json:"name"`
	State   plan.State `json:"state"`
	Updated string     `json:"updated"`
	Summary string     `json:"summary"`
	// LayersUp, of an image, counts its layers that are up and not listed
	// (without --all).
	LayersUp int `json:"layers_up,omitempty"`
}

// Run lists every journal; unreadable ones are named, not skipped. It
// reads each journal's header only (what it prints), not its steps: with a
// thousand objects that is 3 times faster; `plumb check` reads them whole.
// An image's layers that are up are counted on the image's row, not listed
// one a row (500 rows for an image of 500 layers) unless --all; a layer
// that is not up, or that no image lists, has its row still.
func (c *StatusCmd) Run(d *deps) error {
	recs, errs := d.store.Headers()
	if err := storeRefused(errs); err != nil {
		return err
	}
	folded, perImage := foldLayers(recs, c.All)
	var out []statusEntry
	for _, r := range recs {
		if folded[r] {
			continue
		}
		e := statusEntry{Kind: r.Kind, Name: r.Name, State: r.State, Updated: r.Updated.Format("2006-01-02T15:04:05Z07:00"), Summary: r.Summary}
		if n, ok := perImage[r]; ok {
			e.LayersUp = n[0]
			if n[0] == n[1] {
				e.Summary += fmt.Sprintf("; its %d layers are up (--all lists them)", n[1])
			} else {
				e.Summary += fmt.Sprintf("; %d of its %d layers are up (--all lists them)", n[0], n[1])
			}
		}
		out = append(out, e)
	}
	err := listing(d, c.Output, "objects", "KIND\tNAME\tSTATE\tUPDATED\tSUMMARY", out, func(w io.Writer, e statusEntry) {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", e.Kind, e.Name, e.State, e.Updated, e.Summary)
	})
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		return unreadable(errs)
	}
	return nil
}

// foldLayers picks, unless all, the image layers status counts on their
// images' rows rather than listing: those that are up and that an image
// lists. perImage gives each image that lists any, its layers so folded
// and all it lists. A layer two images share counts on both.
func foldLayers(recs []*plan.Record, all bool) (folded map[*plan.Record]bool, perImage map[*plan.Record][2]int) {
	if all {
		return nil, nil
	}
	up := map[string]*plan.Record{} // chain ID -> its layer, when up
	for _, r := range recs {
		if !r.Is(plan.ImageLayerKind) || r.State != plan.StateUp {
			continue
		}
		if f, err := r.ImageLayer(); err == nil && f.ChainID != "" {
			up[f.ChainID] = r
		}
	}
	folded, perImage = map[*plan.Record]bool{}, map[*plan.Record][2]int{}
	for _, r := range recs {
		if !r.Is(plan.ImageKind) {
			continue
		}
		f, err := r.Image()
		if err != nil || len(f.Layers) == 0 {
			continue
		}
		n := [2]int{0, len(f.Layers)}
		for _, l := range f.Layers {
			if lr, ok := up[l.ChainID]; ok {
				folded[lr] = true
				n[0]++
			}
		}
		perImage[r] = n
	}
	return folded, perImage
}

func writeJSON(w interface{ Write([]byte) (int, error) }, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // commands hold & < >, shown as they are
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// listing prints entries as a table under header, one row each, or with
// -o json as {"format_version": 1, KEY: [...]}.
func listing[T any](d *deps, format, key, header string, entries []T, row func(io.Writer, T)) error {
	if format == "json" {
		if entries == nil {
			entries = []T{}
		}
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.SetIndent("  ", "  ")
		if err := enc.Encode(entries); err != nil {
			return err
		}
		_, err := fmt.Fprintf(d.stdout, "{\n  \"format_version\": %d,\n  %q: %s}\n", plan.FormatVersion, key, b.String())
		return err
	}
	// tabwriter writes each cell and each run of padding on its own: a
	// buffer makes a table of a thousand rows one write, not eleven
	// thousand (a quarter of bridge ls's time with 1,000 objects).
	bw := bufio.NewWriter(d.stdout)
	tw := tabwriter.NewWriter(bw, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, e := range entries {
		row(tw, e)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return bw.Flush()
}

// storeRefused is the error, among a listing's, that is about the state
// directory as a whole (not trusted, not readable) rather than one journal
// (a *plan.CorruptError): then nothing could be listed, and a listing says
// so alone, not under a table header that reads as "nothing there".
func storeRefused(errs []error) error {
	for _, err := range errs {
		var ce *plan.CorruptError
		if !errors.As(err, &ce) {
			return err
		}
	}
	return nil
}

// unreadable is the error of journals that cannot be read or trusted: each
// named, and exit 2 when any is untrusted (a refusal).
func unreadable(errs []error) error {
	return fmt.Errorf("%d journals cannot be read or trusted: %w", len(errs), errors.Join(errs...))
}
