package actions

import (
	"fmt"
	"strings"
)

// Move renames a directory or file to a path that does not exist yet, on
// the same file system or across (mv copies then): what `plumb migrate`
// moves from the state directory to the root. -T: To is the new name,
// never a directory to move into; --no-copy is not used, so a root on
// another file system works, at the cost of a copy.
type Move struct {
	From string `json:"from"`
	To   string `json:"to"`
}

func (a Move) Kind() string   { return "move" }
func (a Move) Argv() []string { return []string{"mv", "-T", "--", a.From, a.To} }
func (a Move) Why() string    { return fmt.Sprintf("move %s to %s", a.From, a.To) }
func (a Move) Undo() Action   { return Move{From: a.To, To: a.From} }

// Gone: what was to be moved is not there (moved back already, as an undo
// run twice finds it).
func (a Move) Gone(stderr string) bool {
	return strings.Contains(stderr, "cannot stat") && strings.Contains(stderr, "No such file or directory")
}

// RewriteJournal rewrites the paths one journal names, each From[i] (and
// what is below it) to To[i], as `plumb migrate` moves them: the command
// is plumb's own (it checks and writes the journal as plumb writes every
// journal: trusted, atomically). A path matches whole: /a/l/x is not
// /a/l/xy.
type RewriteJournal struct {
	Path string   `json:"path"`
	From []string `json:"from"`
	To   []string `json:"to"`
}

func (a RewriteJournal) Kind() string { return "rewrite_journal" }
func (a RewriteJournal) Argv() []string {
	argv := []string{"plumb", "migrate", "journal"}
	for i := range a.From {
		argv = append(argv, "--from", a.From[i], "--to", a.To[i])
	}
	return append(argv, a.Path)
}
func (a RewriteJournal) Why() string {
	return fmt.Sprintf("rewrite the %d paths %s names to where they moved", len(a.From), a.Path)
}
func (a RewriteJournal) Undo() Action { return RewriteJournal{Path: a.Path, From: a.To, To: a.From} }

// Gone: the journal is no longer there (its object was removed).
func (a RewriteJournal) Gone(stderr string) bool {
	return strings.Contains(stderr, "no such file or directory")
}
