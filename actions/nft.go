package actions

import (
	"context"
	"fmt"
	"strings"
)

// UndoFirster is an action that may stop half-way and whose undo is safe
// where its work is done already or was never begun (a mesh's batches):
// a runbook pushes that undo before the action runs, so that its rollback
// undoes the half it did.
type UndoFirster interface {
	UndoFirst() bool
}

// Fed is an action whose command reads its input on stdin (`nft -f -`):
// the plan shows the input with the command (a here-document in a
// runbook), and apply feeds it.
type Fed interface {
	Stdin() []byte
}

// NftApply is one nft transaction, `nft -f -` fed Input: all of it is
// applied or none (nft sends the whole input to the kernel as one batch).
// Its undo deletes what it made: a table of plumb's own, or one element of
// such a table's map, never a rule by handle.
type NftApply struct {
	Input   []string `json:"input"`
	Purpose string   `json:"purpose"`
	// Made is what Input creates and the undo deletes; nil: nothing to undo.
	Made *NftDelete `json:"made,omitempty"`
}

func (a NftApply) Kind() string   { return "nft_apply" }
func (a NftApply) Argv() []string { return []string{"nft", "-f", "-"} }
func (a NftApply) Why() string    { return a.Purpose }
func (a NftApply) Undo() Action {
	if a.Made == nil {
		return nil
	}
	return *a.Made
}

// Stdin implements Fed: the input, a line each.
func (a NftApply) Stdin() []byte { return []byte(strings.Join(a.Input, "\n") + "\n") }

// Batch implements Batchable: consecutive nft steps are one `nft -f -`
// process, one transaction, all or nothing.
func (a NftApply) Batch() (Batch, string, bool) {
	return Batch{Tool: Nft}, strings.Join(a.Input, "\n"), true
}

// Clash: a transaction nft ran and refused ("Error: ..." on stderr, as for
// a table that exists: "Could not process rule: File exists") applied
// nothing, so there is nothing to undo, and the table may be someone
// else's. A step killed, or failed in any other way, may have committed:
// its undo runs, tolerant of absence.
func (a NftApply) Clash(stderr string) bool { return strings.Contains(stderr, "Error: ") }

// Verify: what the transaction made is there (`nft list table`, `nft get
// element`).
func (a NftApply) Verify(ctx context.Context, r Runner) error {
	if a.Made == nil {
		return nil
	}
	m := *a.Made
	argv := []string{"nft", "list", "table", m.Family, m.Table}
	what := fmt.Sprintf("nft table %s %s", m.Family, m.Table)
	if m.Set != "" {
		argv = []string{"nft", "get", "element", m.Family, m.Table, m.Set, "{ " + m.Element + " }"}
		what = fmt.Sprintf("element { %s } of %s %s %s", m.Element, m.Family, m.Table, m.Set)
	}
	if _, err := r.Run(ctx, argv, nil); err != nil {
		return fmt.Errorf("%s is missing", what)
	}
	return nil
}

// NftDelete deletes a table of plumb's own, with every chain, rule, set
// and map in it (Set ""), or one element of one of its sets or maps, by
// key. nft 1.0.6 has no `destroy`: absence ("No such file or directory")
// counts as done.
type NftDelete struct {
	Family  string `json:"family"`
	Table   string `json:"table"`
	Set     string `json:"set,omitempty"`
	Element string `json:"element,omitempty"` // the key, as nft writes it: "tcp . 8080"
}

func (a NftDelete) Kind() string { return "nft_delete" }
func (a NftDelete) Argv() []string {
	if a.Set == "" {
		return []string{"nft", "delete", "table", a.Family, a.Table}
	}
	return []string{"nft", "delete", "element", a.Family, a.Table, a.Set, "{ " + a.Element + " }"}
}
func (a NftDelete) Why() string {
	if a.Set == "" {
		return fmt.Sprintf("delete the table %s %s, and every rule in it", a.Family, a.Table)
	}
	return fmt.Sprintf("delete { %s } from %s %s %s", a.Element, a.Family, a.Table, a.Set)
}
func (a NftDelete) Undo() Action { return nil }

// Gone: the table, or the element, is not there.
func (a NftDelete) Gone(stderr string) bool {
	return strings.Contains(stderr, "No such file or directory")
}
