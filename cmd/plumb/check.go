package main

import (
	"errors"
	"fmt"

	"plumb/plan"
)

// CheckCmd is `plumb check`.
type CheckCmd struct {
	Name string `arg:"" optional:"" help:"One object (NAME or KIND/NAME); all of them when left out."`
}

// Help is the long help of `plumb check --help`.
func (c *CheckCmd) Help() string {
	return `Compares the live state with what was applied: each link exists and is up,
each address and route is there, each iptables rule passes iptables -C, each
chain exists, the sysctl has its value, the overlay is mounted. Names every step
whose effect is gone, and exits 1 when any is.`
}

// Run probes each applied step, read-only.
func (c *CheckCmd) Run(d *deps) error {
	var recs []*plan.Record
	if c.Name != "" {
		rec, err := plan.Find(d.store, c.Name)
		if err != nil {
			return err
		}
		recs = []*plan.Record{rec}
	} else {
		var errs []error
		recs, errs = d.store.List()
		if len(errs) > 0 {
			return errors.Join(errs...)
		}
	}
	drifted := 0
	for _, rec := range recs {
		drift, err := plan.Check(d.ctx, d.runner, rec)
		if err != nil {
			fmt.Fprintf(d.stdout, "FAIL  %s: %v\n", rec.ID(), err)
			drifted++
			continue
		}
		if len(drift) == 0 {
			fmt.Fprintf(d.stdout, "ok    %s: %d steps in effect\n", rec.ID(), len(rec.Steps))
			continue
		}
		drifted++
		fmt.Fprintf(d.stdout, "DRIFT %s: %d of %d steps no longer in effect\n", rec.ID(), len(drift), len(rec.Steps))
		for _, dr := range drift {
			fmt.Fprintf(d.stdout, "      step %d: %s\n        %s\n", dr.Step, dr.Command, dr.Problem)
		}
	}
	// The host's other firewalls, which can drop what plumb's rules accept
	// while every step is still in effect: warned of, not counted as drift.
	if rules, bridged := plan.Firewalled(recs); rules {
		for _, w := range plan.HostFirewallOf(d.env(), recs).Warnings(d.ctx, bridged, true) {
			fmt.Fprintf(d.stdout, "WARN  %s\n", w)
		}
	}
	if drifted > 0 {
		return fmt.Errorf("%d of %d objects have drifted from what plumb applied", drifted, len(recs))
	}
	return nil
}
