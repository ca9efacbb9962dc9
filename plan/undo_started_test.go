package plan

import (
	"context"
	"slices"
	"testing"

	"plumb/actions"
	"plumb/plan/plantest"
)

// TestUnwindStartedRevert: an update that removes a recorded rule (its
// step reverts it, its undo the rule's -A) is killed after the journal
// said the removal started. When the -D never ran, the rule is still
// there and recover must not append it a second time; when it ran, the
// rule is appended back. Two removals of one batch, so that the batched
// undo is tried too.
func TestUnwindStartedRevert(t *testing.T) {
	rules := []actions.Rule{
		{Table: actions.Filter, Chain: "PLUMB-br0", Spec: []string{"-d", "10.88.0.2/32", "-p", "tcp", "-j", "ACCEPT"}},
		{Table: actions.NAT, Chain: "PLUMB-br0-DNAT", Spec: []string{"-p", "tcp", "--dport", "8080", "-j", "DNAT", "--to-destination", "10.88.0.2:80"}},
	}
	appendOf := func(r actions.Rule) string { return actions.Quote(actions.IptablesAppend{Rule: r}.Argv()) }
	checkOf := func(r actions.Rule) string {
		return actions.Quote(append([]string{"iptables", "-t", string(r.Table), "-C", r.Chain}, r.Spec...))
	}
	for _, c := range []struct {
		name    string
		present bool // the -D never ran: iptables -C finds the rule
	}{{"removal never ran", true}, {"removal ran", false}} {
		t.Run(c.name, func(t *testing.T) {
			st := NewStore(t.TempDir())
			rec := &Record{Kind: "attachment", Name: "br0-10.88.0.2", State: StateApplying}
			for _, r := range rules {
				add, err := encode(actions.IptablesAppend{Rule: r})
				if err != nil {
					t.Fatal(err)
				}
				del, _ := encode(actions.IptablesDelete{Rule: r})
				rec.Steps = append(rec.Steps, StepRecord{Action: *add, Undo: del, Status: Done})
			}
			rec.Updating = &Updating{From: len(rec.Steps), Summary: "before"}
			for _, r := range slices.Backward(rules) {
				del, _ := encode(actions.IptablesDelete{Rule: r})
				add, _ := encode(actions.IptablesAppend{Rule: r})
				rec.Steps = append(rec.Steps, StepRecord{Action: *del, Undo: add, Status: Started})
			}
			f := &plantest.FakeRunner{}
			if !c.present {
				// Both were deleted: -C fails for each.
				f.FailOn, f.FailStderr = checkOf(rules[1]), "iptables: Bad rule (does a matching rule exist in that chain?)."
			}
			if _, err := unwindUpdate(context.Background(), f, st, rec); err != nil {
				t.Fatal(err)
			}
			var appended []string
			for _, call := range f.Calls {
				if call == appendOf(rules[0]) || call == appendOf(rules[1]) {
					appended = append(appended, call)
				}
			}
			switch {
			case c.present && len(appended) > 0:
				t.Errorf("rules still there were appended again: %q (calls %q)", appended, f.Calls)
			case !c.present && !slices.Contains(appended, appendOf(rules[1])):
				t.Errorf("the deleted rule was not appended back (calls %q)", f.Calls)
			}
			if rec.State != StateUp || len(rec.Steps) != 2 || rec.Summary != "before" {
				t.Errorf("record after unwind: state %s, %d steps, summary %q", rec.State, len(rec.Steps), rec.Summary)
			}
		})
	}
}
