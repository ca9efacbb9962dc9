package view

import (
	"fmt"
	"io"

	"plumb/plan"
)

// StatusRow is one object as `plumb status` lists it.
type StatusRow struct {
	Kind    string     `json:"kind"`
	Name    string     `json:"name"`
	State   plan.State `json:"state"`
	Updated string     `json:"updated"`
	Summary string     `json:"summary"`
	// LayersUp, of an image, counts its layers that are up and not listed
	// (without all).
	LayersUp int `json:"layers_up,omitempty"`
}

// Status lists every journal of st; unreadable ones are named (the
// table's Err), not skipped. The error is about st as a whole: nothing
// could be listed. It reads each journal's header only (what it shows),
// not its steps: with a thousand objects that is 3 times faster; check
// reads them whole. An image's layers that are up are counted on the
// image's row, not listed one a row (500 rows for an image of 500 layers)
// unless all; a layer that is not up, or that no image lists, has its row
// still.
func Status(st *plan.Store, all bool) (Table[StatusRow], error) {
	recs, errs, err := headers(st)
	if err != nil {
		return Table[StatusRow]{}, err
	}
	t := statusRows(recs, all)
	t.Err = Unreadable(errs)
	return t, nil
}

// statusRows is the status table of recs.
func statusRows(recs []*plan.Record, all bool) Table[StatusRow] {
	folded, perImage := foldLayers(recs, all)
	t := Table[StatusRow]{key: "objects", header: "KIND\tNAME\tSTATE\tUPDATED\tSUMMARY", row: func(w io.Writer, e StatusRow) {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", e.Kind, e.Name, e.State, e.Updated, e.Summary)
	}}
	for _, r := range recs {
		if folded[r] {
			continue
		}
		e := StatusRow{Kind: r.Kind, Name: r.Name, State: r.State, Updated: r.Updated.Format("2006-01-02T15:04:05Z07:00"), Summary: r.Summary}
		if n, ok := perImage[r]; ok {
			e.LayersUp = n[0]
			if n[0] == n[1] {
				e.Summary += fmt.Sprintf("; its %d layers are up (--all lists them)", n[1])
			} else {
				e.Summary += fmt.Sprintf("; %d of its %d layers are up (--all lists them)", n[0], n[1])
			}
		}
		t.Rows = append(t.Rows, e)
	}
	return t
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
