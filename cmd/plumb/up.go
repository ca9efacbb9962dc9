package main

import (
	"errors"
	"fmt"
	"os"

	"plumb/actions"
	"plumb/plan"
)

// up is the command line's side of plan.Up: with a dry run it prints the
// plan in the format asked for (joined names the runbook of a call for many
// objects); applied, it says when nothing changed. It returns the outcome
// when the command is to say what it made, nil when everything is said.
func up(d *deps, rc plan.Recipe, dryRun bool, format, joined string) (*plan.Outcome, error) {
	if !dryRun {
		if err := privileged(); err != nil {
			return nil, err
		}
	}
	out, err := plan.Up(d.ctx, d.env(), rc, dryRun)
	if err != nil {
		return nil, err
	}
	if dryRun {
		return nil, renderPlans(d, out.Plans, format, joined)
	}
	if rec := out.Unchanged; rec != nil {
		_, err := fmt.Fprintf(d.stdout, "%s is already %s (since %s); nothing changed\n", rec.ID(), out.State, rec.Created.Format("2006-01-02 15:04:05 MST"))
		return nil, err
	}
	return out, nil
}

// upSay is up for a command that makes one object and says so in one line.
func upSay(d *deps, rc plan.Recipe, dryRun bool, format string, say func(*plan.Plan) string) error {
	out, err := up(d, rc, dryRun, format, "")
	if out == nil || err != nil {
		return err
	}
	_, err = fmt.Fprintln(d.stdout, say(out.Plans[0]))
	return err
}

// renderPlans prints the plans of one call: one plan as it is; many each
// under a comment naming its object (text), as one document (json), or as
// one runbook named joined whose rollback undoes them all (sh).
func renderPlans(d *deps, plans []*plan.Plan, format, joined string) error {
	if len(plans) == 1 {
		return render(d, plans[0], format)
	}
	switch format {
	case "json":
		return plan.JSONAll(d.stdout, plans)
	case "sh":
		j := plan.Joined(plans[0].Kind+"s", joined, plans)
		if last := plans[len(plans)-1]; last.Chain {
			j.Kind, j.Name = last.Kind, last.Name // a container's, with its sandbox and root
		}
		return render(d, j, format)
	}
	return plan.TextAll(d.stdout, plans)
}

func render(d *deps, p *plan.Plan, format string) error {
	switch format {
	case "json":
		return p.JSON(d.stdout)
	case "sh":
		return p.Shell(d.stdout, "plumb "+actions.Quote(os.Args[1:]))
	}
	return p.Text(d.stdout)
}

// down undoes one recorded object, or prints its undos with a dry run.
func down(d *deps, kind, name string, dryRun bool, output string) error {
	if !dryRun {
		if err := d.lock(); err != nil {
			return err
		}
	}
	rec, err := plan.Find(d.store, kind+"/"+name)
	if err != nil {
		return err
	}
	return downRecord(d, rec, dryRun, output)
}

// downRecord undoes rec with its kind's rules (see plan.Remove).
func downRecord(d *deps, rec *plan.Record, dryRun bool, output string) error {
	td, err := plan.Remove(d.ctx, d.env(), []*plan.Record{rec}, plan.DownOptions{}, dryRun)
	if dryRun {
		if err != nil {
			return err
		}
		return render(d, td.Plan, output)
	}
	if err != nil {
		return keptAdvice(err)
	}
	_, err = fmt.Fprintf(d.stdout, "%s is down: %d undo commands run\n", rec.ID(), len(td.Ran))
	return err
}

// keptAdvice says what to do after an object's undos failed.
func keptAdvice(err error) error {
	var ue *plan.UndoError
	if errors.As(err, &ue) {
		return fmt.Errorf("%w; the journal keeps what is left, run this again or `plumb recover`", err)
	}
	return err
}
