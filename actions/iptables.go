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
	// Mangle holds an internal or isolated network's drops: its FORWARD
	// runs before filter's, so no other network's accept comes first.
	Mangle Table = "mangle"
)

// Rule is one iptables rule: where it lives and its match and target, as the
// words that follow the chain name on the command line.
type Rule struct {
	Table Table    `json:"table"`
	Chain string   `json:"chain"`
	Spec  []string `json:"spec"`
	// Purpose is the runbook's reason for the rule.
	Purpose string `json:"purpose,omitempty"`
	// IPv6 makes it an ip6tables rule (IPv6 packets' tables).
	IPv6 bool `json:"ipv6,omitempty"`
}

// tool is the rule's command and batch tool: iptables, or ip6tables.
func (r Rule) tool() (string, Tool) {
	if r.IPv6 {
		return "ip6tables", Ip6tables
	}
	return "iptables", Iptables
}

// table is the rule's table, filter when none is named.
func (r Rule) table() Table {
	if r.Table == "" {
		return Filter
	}
	return r.Table
}

// batch is the rule as an iptables-restore line of its table.
func (r Rule) batch(op string) (Batch, string, bool) {
	words := append([]string{op, r.Chain}, r.Spec...)
	for _, w := range words {
		// iptables-restore splits at whitespace and quotes alone: the
		// brackets of an IPv6 DNAT destination ([fd00::2]:80), which a
		// shell would glob, are plain there.
		if !Bare(w) && !Bare(strings.NewReplacer("[", "", "]", "").Replace(w)) {
			return Batch{}, "", false
		}
	}
	_, tool := r.tool()
	return Batch{Tool: tool}, iptablesLine(r.table(), strings.Join(words, " ")), true
}

func (r Rule) argv(op string) []string {
	cmd, _ := r.tool()
	argv := []string{cmd}
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
func (a IptablesAppend) Undo() Action { return IptablesDelete(a) }
func (a IptablesAppend) Batch() (Batch, string, bool) {
	return a.Rule.batch("-A")
}

// IptablesInsert puts a rule at the top of its chain, so that jumps into
// plumb's chains come before rules that might drop the traffic.
type IptablesInsert struct {
	Rule Rule `json:"rule"`
}

func (a IptablesInsert) Kind() string   { return "iptables_insert" }
func (a IptablesInsert) Argv() []string { return a.Rule.argv("-I") }
func (a IptablesInsert) Why() string    { return IptablesAppend(a).Why() }
func (a IptablesInsert) Undo() Action   { return IptablesDelete(a) }
func (a IptablesInsert) Batch() (Batch, string, bool) {
	return a.Rule.batch("-I")
}

// IptablesNewChain creates a chain of plumb's own, so that a network's rules
// can be found, and removed, as one.
type IptablesNewChain struct {
	Table Table  `json:"table"`
	Chain string `json:"chain"`
	IPv6  bool   `json:"ipv6,omitempty"` // ip6tables
}

func (a IptablesNewChain) Kind() string { return "iptables_new_chain" }
func (a IptablesNewChain) Argv() []string {
	return a.rule().argv("-N")
}
func (a IptablesNewChain) Why() string {
	return fmt.Sprintf("create the chain %s in the %s table for this network's rules", a.Chain, a.Table)
}
func (a IptablesNewChain) Undo() Action { return IptablesDeleteChain(a) }
func (a IptablesNewChain) Batch() (Batch, string, bool) {
	if !Bare(a.Chain) {
		return Batch{}, "", false
	}
	// -N, not ":CHAIN - [0:0]": under --noflush the latter empties a chain
	// that exists, where -N fails as `iptables -N` does.
	return a.rule().batch0("-N " + a.Chain)
}
func (a IptablesNewChain) rule() Rule { return Rule{Table: a.Table, Chain: a.Chain, IPv6: a.IPv6} }

// IptablesDeleteChain deletes an empty chain.
type IptablesDeleteChain struct {
	Table Table  `json:"table"`
	Chain string `json:"chain"`
	IPv6  bool   `json:"ipv6,omitempty"` // ip6tables
}

func (a IptablesDeleteChain) Kind() string { return "iptables_delete_chain" }
func (a IptablesDeleteChain) Argv() []string {
	return a.rule().argv("-X")
}
func (a IptablesDeleteChain) Why() string  { return fmt.Sprintf("delete the chain %s", a.Chain) }
func (a IptablesDeleteChain) Undo() Action { return nil }
func (a IptablesDeleteChain) Batch() (Batch, string, bool) {
	if !Bare(a.Chain) {
		return Batch{}, "", false
	}
	return a.rule().batch0("-X " + a.Chain)
}
func (a IptablesDeleteChain) rule() Rule { return Rule{Table: a.Table, Chain: a.Chain, IPv6: a.IPv6} }

// batch0 is a chain command's line in the rule's table's batch.
func (r Rule) batch0(words string) (Batch, string, bool) {
	_, tool := r.tool()
	return Batch{Tool: tool}, iptablesLine(r.table(), words), true
}
func (a IptablesDeleteChain) Gone(stderr string) bool {
	return strings.Contains(stderr, "No chain/target/match by that name")
}

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
func (a IptablesDelete) Batch() (Batch, string, bool) {
	return a.Rule.batch("-D")
}
func (a IptablesDelete) Gone(stderr string) bool {
	// A rule jumping to a chain that no longer exists cannot exist either
	// ("Chain 'PLUMB-br0' does not exist", from the nf_tables back end).
	return strings.Contains(stderr, "Bad rule") || strings.Contains(stderr, "does a matching rule exist") ||
		strings.Contains(stderr, "No chain/target/match by that name") ||
		(strings.Contains(stderr, "Chain '") && strings.Contains(stderr, "' does not exist"))
}
