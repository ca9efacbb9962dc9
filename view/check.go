package view

import (
	"context"
	"errors"
	"fmt"
	"io"

	"plumb/plan"
)

// Checked is one object as `plumb check` found it.
type Checked struct {
	ID    string
	Steps int // its steps, in effect when nothing drifted
	// Err is why it could not be checked (not up, a step unreadable).
	Err   error
	Drift []plan.Drift
	// Note is what its kind says of the rest of it (a mesh's peer set).
	Note string
	// Busy: another plumb is changing it now; not checked, not drift.
	Busy bool
}

// CheckReport is what `plumb check` found: each object, then the host's
// other firewalls, which can drop what plumb's rules accept while every
// step is still in effect (warned of, not counted as drift).
type CheckReport struct {
	Objects  []Checked
	Warnings []string
}

// Check probes, read-only, each applied step of the object name (NAME or
// KIND/NAME) in env's store, or of every object when name is "".
func Check(ctx context.Context, env plan.Env, name string) (CheckReport, error) {
	var recs []*plan.Record
	if name != "" {
		rec, err := plan.Find(env.St, name)
		if err != nil {
			return CheckReport{}, err
		}
		recs = []*plan.Record{rec}
		// A container's sandbox and root are checked with it: its
		// network and its mount are theirs.
		if f, err := rec.Container(); err == nil {
			for _, h := range f.HeldRefs() {
				held, err := env.St.Load(h.Kind, h.Name)
				if err != nil {
					return CheckReport{}, err
				}
				recs = append(recs, held)
			}
		}
	} else {
		var errs []error
		recs, errs = env.St.List()
		if len(errs) > 0 {
			return CheckReport{}, errors.Join(errs...)
		}
	}
	var r CheckReport
	for _, rec := range recs {
		if rec.State != plan.StateUp && env.St.Changing(rec) {
			r.Objects = append(r.Objects, Checked{ID: rec.ID(), Steps: len(rec.Steps), Busy: true,
				Err: fmt.Errorf("another plumb is changing it now (state %s); check it again when that is done", rec.State)})
			continue
		}
		drift, err := plan.Check(ctx, env.R, rec)
		c := Checked{ID: rec.ID(), Steps: len(rec.Steps), Err: err, Drift: drift}
		if err == nil {
			more, note, err := plan.CheckFacts(ctx, env.R, rec)
			c.Drift, c.Note, c.Err = append(c.Drift, more...), note, err
		}
		r.Objects = append(r.Objects, c)
	}
	if rules, bridged := plan.Firewalled(recs); rules {
		r.Warnings = plan.HostFirewallOf(env, recs).Warnings(ctx, bridged, true)
	}
	return r, nil
}

// drifted counts the objects that could not be checked or have drifted.
func (r CheckReport) drifted() int {
	n := 0
	for _, o := range r.Objects {
		if !o.Busy && (o.Err != nil || len(o.Drift) > 0) {
			n++
		}
	}
	return n
}

// Write prints the report, then gives an error when any object drifted.
func (r CheckReport) Write(w io.Writer) error {
	for _, o := range r.Objects {
		switch {
		case o.Busy:
			fmt.Fprintf(w, "BUSY  %s: %v\n", o.ID, o.Err)
		case o.Err != nil:
			fmt.Fprintf(w, "FAIL  %s: %v\n", o.ID, o.Err)
		case len(o.Drift) == 0:
			fmt.Fprintf(w, "ok    %s: %d steps in effect%s\n", o.ID, o.Steps, noteOf(o.Note))
		default:
			steps := 0
			for _, dr := range o.Drift {
				if dr.Step > 0 {
					steps++
				}
			}
			head := fmt.Sprintf("%d of %d steps no longer in effect", steps, o.Steps)
			if steps == 0 {
				head = fmt.Sprintf("%d steps in effect", o.Steps)
			}
			if other := len(o.Drift) - steps; other > 0 {
				head += fmt.Sprintf(", %d entries not as its facts say", other)
			}
			fmt.Fprintf(w, "DRIFT %s: %s%s\n", o.ID, head, noteOf(o.Note))
			for _, dr := range o.Drift {
				if dr.Step == 0 {
					fmt.Fprintf(w, "      %s\n        %s\n", dr.Command, dr.Problem)
					continue
				}
				fmt.Fprintf(w, "      step %d: %s\n        %s\n", dr.Step, dr.Command, dr.Problem)
			}
		}
	}
	for _, warning := range r.Warnings {
		fmt.Fprintf(w, "WARN  %s\n", warning)
	}
	if n := r.drifted(); n > 0 {
		return fmt.Errorf("%d of %d objects have drifted from what plumb applied", n, len(r.Objects))
	}
	return nil
}

// noteOf is a note as the report's line ends with it.
func noteOf(note string) string {
	if note == "" {
		return ""
	}
	return "; " + note
}
