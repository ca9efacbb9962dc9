package main

import "plumb/view"

// CheckCmd is `plumb check`.
type CheckCmd struct {
	Name string `arg:"" optional:"" predictor:"object" help:"One object (NAME or KIND/NAME); all of them when left out."`
}

// Help is the long help of `plumb check --help`.
func (c *CheckCmd) Help() string {
	return `Compares the live state with what was applied: each link exists and is up,
each address and route is there, each iptables rule passes iptables -C, each
chain exists, the sysctl has its value, the overlay is mounted. Names every step
whose effect is gone, and exits 1 when any is.`
}

// Run probes each applied step, read-only (see view.Check).
func (c *CheckCmd) Run(d *deps) error {
	r, err := view.Check(d.ctx, d.env(), c.Name)
	if err != nil {
		return err
	}
	return r.Write(d.stdout)
}
