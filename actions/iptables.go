package actions

import (
	"fmt"
	"strings"
)

// Table is an iptables table.
type Table string

// The tables plumb writes to.
const (
	Filter Table = "filter"
	NAT    Table = "nat"
)

// Rule is one iptables rule: where it lives and its match and target, as the
// words that follow the chain name on the command line.
type Rule struct {
	Table Table    `json:"table"`
	Chain string   `json:"chain"`
	Spec  []string `json:"spec"`
	// Purpose is the runbook's reason for the rule.
	Purpose string `json:"purpose,omitempty"`
}

func (r Rule) argv(op string) []string {
	argv := []string{"iptables"}
	if r.Table != Filter && r.Table != "" {
		argv = append(argv, "-t", string(r.Table))
	}
	argv = append(argv, op, r.Chain)
	return append(argv, r.Spec...)
}

// IptablesAppend appends a rule at the end of its chain.
type IptablesAppend struct {
	Rule Rule `json:"rule"`
}

func (a IptablesAppend) Kind() string   { return "iptables_append" }
func (a IptablesAppend) Argv() []string { return a.Rule.argv("-A") }
func (a IptablesAppend) Why() string {
	if a.Rule.Purpose != "" {
		return a.Rule.Purpose
	}
	return fmt.Sprintf("add a rule to %s %s", a.Rule.Table, a.Rule.Chain)
}
func (a IptablesAppend) Undo() Action    { return IptablesDelete(a) }
func (a IptablesAppend) Check() []string { return a.Rule.argv("-C") }

// IptablesDelete deletes the first rule that matches exactly, so only the
// rule plumb added goes, never one that merely looks alike in another chain.
type IptablesDelete struct {
	Rule Rule `json:"rule"`
}

func (a IptablesDelete) Kind() string   { return "iptables_delete" }
func (a IptablesDelete) Argv() []string { return a.Rule.argv("-D") }
func (a IptablesDelete) Why() string {
	return fmt.Sprintf("remove the rule plumb added to %s %s", a.Rule.Table, a.Rule.Chain)
}
func (a IptablesDelete) Undo() Action { return nil }
func (a IptablesDelete) Gone(stderr string) bool {
	return strings.Contains(stderr, "Bad rule") || strings.Contains(stderr, "does a matching rule exist") ||
		strings.Contains(stderr, "No chain/target/match by that name")
}
