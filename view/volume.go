package view

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"plumb/plan"
)

// VolumeRow is one named volume as `plumb volume ls` lists it, and as
// docker volume inspect shows it (with -o json).
type VolumeRow struct {
	Name       string    `json:"Name"`
	Driver     string    `json:"Driver"`
	Mountpoint string    `json:"Mountpoint"`
	Scope      string    `json:"Scope"`
	CreatedAt  time.Time `json:"CreatedAt"`
	// UsedBy are the containers that mount it.
	UsedBy []string `json:"UsedBy"`
}

// Volumes lists st's named volumes, with the containers that mount each.
func Volumes(st *plan.Store) (Table[VolumeRow], error) {
	recs, errs, err := headers(st)
	if err != nil {
		return Table[VolumeRow]{}, err
	}
	t := Table[VolumeRow]{Rows: []VolumeRow{}, key: "volumes", header: "DRIVER\tVOLUME NAME\tUSED BY", row: func(w io.Writer, v VolumeRow) {
		fmt.Fprintf(w, "%s\t%s\t%s\n", v.Driver, v.Name, OrNone(strings.Join(v.UsedBy, ",")))
	}}
	for _, r := range plan.OfKind(recs, plan.VolumeKind) {
		row, err := VolumeOf(st, r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		t.Rows = append(t.Rows, row)
	}
	t.Err = errors.Join(errs...)
	return t, nil
}

// VolumeOf is one volume's row.
func VolumeOf(st *plan.Store, r *plan.Record) (VolumeRow, error) {
	f, err := r.Facts()
	if err != nil {
		return VolumeRow{}, err
	}
	v := f.(plan.VolumeFacts)
	row := VolumeRow{Name: r.Name, Driver: "local", Mountpoint: v.Data, Scope: "local", CreatedAt: r.Created, UsedBy: []string{}}
	for _, u := range plan.VolumeUsers(st, r.Name) {
		row.UsedBy = append(row.UsedBy, u.Name)
	}
	return row, nil
}
