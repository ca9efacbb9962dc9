package network

import (
	"plumb/actions"
	"plumb/plan"
)

// withFacts is rec with facts f, as the engine keeps them.
func withFacts(rec *plan.Record, f plan.Facts) *plan.Record {
	if err := rec.SetFacts(f); err != nil {
		panic(err)
	}
	return rec
}

// lines are p's commands, one a step.
func lines(p *plan.Plan) []string {
	var out []string
	for _, s := range p.Steps {
		out = append(out, actions.Quote(s.Action.Argv()))
	}
	return out
}

// noProc is the /proc of the unit tests' envs: none, so that the host
// checks read nothing of this machine's (its firewall tables, its
// br_netfilter) and each test's runner sees only the commands it expects.
const noProc = "/nonexistent/proc"
