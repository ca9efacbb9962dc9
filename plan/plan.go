// Package plan is plumb's engine: a recipe (in the domain packages
// network, rootfs and container) turns typed input into an ordered list of
// actions (a Plan); the engine renders it, applies it with write-ahead
// journaling, rolls it back, and tears it down later from the journal. It
// holds the kind registry, whose kinds say how every journal's facts read,
// the index and locks the recipes share, and no recipe. Firewall rules come
// from plan/firewall, address rules from plan/ipam.
package plan

import (
	"fmt"
	"strings"

	"plumb/actions"
)

// Step is one action of a plan.
type Step struct {
	Action actions.Action
	// Shared names host-wide state that several objects need (for example
	// "sysctl net.ipv4.ip_forward"). Its undo is run only when the last
	// object that needed it goes, and only if plumb changed it.
	Shared string
	// Reverts is, in an update (see Plan.Base), the step of the object's
	// record (1-based) whose effect this step removes, running its
	// recorded undo; Restore, that step's action, is this step's undo.
	// Once the update is done, that step is recorded undone, and this one
	// is not kept: down has nothing left of it to undo.
	Reverts int
	Restore actions.Action
	// Transient: in an update, a step journaled with its undo while the
	// update runs (a crash or a failure undoes it) and not kept once it
	// is done. A mesh's peers are its facts, not steps: deleting its
	// device takes them all, so down has nothing of them to undo.
	Transient bool
}

// undo is the step's undo: Restore where it reverts a recorded step, else
// its action's own.
func (s Step) undo() actions.Action {
	if s.Restore != nil {
		return s.Restore
	}
	return s.Action.Undo()
}

// Plan is what plumb will do for one object, in order. The same value is
// printed by --dry-run, serialised by -o json and run by Apply.
type Plan struct {
	Kind string // recipe: "veth", ...
	Name string // the object's name, unique within its kind
	// Target is the container's namespace, checked before every step that
	// enters it; zero for plans that stay on the host.
	Target  actions.Netns
	Summary string // one line for status listings
	// Facts are what later commands look the object up by or show.
	Facts Facts
	// Spec is the input the plan was made from, stored in its record.
	Spec *Spec
	// Base is the record of the object the plan updates in place: its
	// steps are appended to that record's (so that down still undoes
	// everything, newest first), and a failure restores it. Nil: the
	// plan makes the object.
	Base *Record
	// Replace: Base's object cannot be changed in place into the new one;
	// the steps are its down, then the new one's up (see replacePlan).
	Replace bool
	// Changes says, for the user, what an update (Base set) changes:
	// "mtu 1400 → 1500".
	Changes string
	// Remake is the plan that makes Base's object again, should a
	// replace fail after its down.
	Remake func() (*Plan, error)
	// Names are the names the object answers to on its network, stored
	// in its record for the names index (see names.go).
	Names []string
	Steps []Step
	// Ordered: its steps may wait for those of the plans before it in a
	// call for many (an image's layer for the layers below it). Such a
	// call starts its plans' processes strictly in order, all in one wave,
	// so that what a step waits for has always started.
	Ordered bool
	// Chain: the plan needs those before it in the call made first (a
	// container's process its sandbox and root file system). Set on the
	// last plan of a call, it makes the call's plans apply one after the
	// other, as a chain (see chain).
	Chain bool
}

// ID is the object's name in the state directory and in messages.
func (p *Plan) ID() string { return p.Kind + "/" + p.Name }

// Refused is a request plumb turns down before changing anything: bad input
// or a host check that failed. The CLI exits 2 for it.
type Refused struct {
	Flag string // the flag at fault, without dashes, or "<arg>"; "" when none is
	Msg  string
}

func (e *Refused) Error() string {
	if strings.HasPrefix(e.Flag, "<") { // a positional argument
		return fmt.Sprintf("%s: %s", e.Flag, e.Msg)
	}
	if e.Flag != "" {
		return fmt.Sprintf("--%s: %s", e.Flag, e.Msg)
	}
	return e.Msg
}

// Refuse is a refusal of flag, its message formatted as fmt.Sprintf does.
func Refuse(flag, format string, args ...any) *Refused {
	return &Refused{Flag: flag, Msg: fmt.Sprintf(format, args...)}
}

// RefuseErr is err as a refusal of flag.
func RefuseErr(flag string, err error) *Refused { return &Refused{Flag: flag, Msg: err.Error()} }

// SameInput reports whether rec was applied from the same input as p, so
// that running `up` or `mount` again with it is recognised as done: their
// facts are the same, less what the kind derives of its own (a bridge made
// before the loopback guard is up as asked; its attachments leave
// route_localnet alone).
func SameInput(rec *Record, p *Plan) bool {
	f, err := rec.Facts()
	if err != nil {
		return false
	}
	if !rec.hasFacts() {
		f = nil
	}
	return sameFacts(f, p.Facts)
}

// CheckObjectName applies the rules for a name plumb files an object under.
func CheckObjectName(flag, name string) error {
	if name == "" || len(name) > 64 || name == "." || name == ".." ||
		strings.IndexFunc(name, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
		}) >= 0 {
		return Refuse(flag, "%q is not a name plumb can use: 1 to 64 letters, digits, '-', '_' or '.'", name)
	}
	return nil
}
