package plan

import (
	"errors"
	"fmt"
	"strings"

	"plumb/actions"
)

// DownOptions are the choices a teardown takes; each applies to one kind.
type DownOptions struct {
	Force bool // bridge: detach its containers first, rather than refuse
	Lazy  bool // overlay: detach it even while in use (umount -l)
	Grace int  // container: seconds from SIGTERM to SIGKILL; 0 Docker's 10, negative at once
	// Purge is deleted once every undo has run (`stop --rm`, `--purge`),
	// journaled with the teardown (Record.Purge).
	Purge actions.Action
	// WithLayers removes an image with its layers (image rm gives them):
	// an image alone is refused.
	WithLayers bool
	// Rollback finishes the rollback of a plan that did not end (CNI ADD
	// finding a bridge a killed plumb left, recover --dry-run): no kind
	// refuses or prepares it.
	Rollback bool

	removing map[string]bool // the IDs of the objects Remove was given
}

// Teardown is what Remove did, or with a dry run would do.
type Teardown struct {
	Plan     *Plan     // every undo command, in order (dry run)
	Gone     []*Record // the objects whose journal is gone, undone
	Detached []*Record // of Gone, those a kind brought down first: a bridge's attachments
	Ran      []string  // the undo commands run of the objects given
}

// UndoError is an object's own undos that failed in a teardown; its journal
// keeps what is left.
type UndoError struct {
	Rec *Record
	Err error
}

func (e *UndoError) Error() string { return e.Rec.ID() + ": " + e.Err.Error() }
func (e *UndoError) Unwrap() error { return e.Err }

// unlistedMembers refuses a bridge's teardown while a journal that could
// be one of its containers (an attachment's, a container's) cannot be read
// or trusted, or while the journals themselves cannot be listed: its
// container's link would be left behind, and `bridge down --force` said
// "down". extra are errors found loading the bridge's attachments.
func unlistedMembers(st *Store, bridge string, extra []error) error {
	bad := UnreadableMembers(st, extra)
	if len(bad) == 0 {
		return nil
	}
	it, them := "it", "it"
	if len(bad) > 1 {
		it, them = "each", "each"
	}
	return &Refused{Msg: fmt.Sprintf("bridge/%s is not taken down: %s; %s may hold a container attached to %s, whose link would be left behind: fix or remove %s, then run this again",
		bridge, strings.Join(bad, "; "), it, bridge, them)}
}

// UnreadableMembers are the errors of the journals that could hold a
// container on a bridge (an attachment's, a container's) and cannot be read
// or trusted, or whose facts cannot be read, or of the listing itself; extra
// are more such errors.
func UnreadableMembers(st *Store, extra []error) []string {
	recs, errs := st.Headers()
	var bad []string
	for _, r := range recs {
		if holdsAttachment(r.Kind) {
			if _, err := r.Facts(); err != nil {
				bad = append(bad, err.Error())
			}
		}
	}
	for _, err := range append(errs, extra...) {
		var ce *CorruptError
		if errors.As(err, &ce) {
			if !holdsAttachment(st.kindOf(ce.Path)) {
				continue // a veth, a layer... holds no container of a bridge
			}
		}
		bad = append(bad, err.Error())
	}
	return bad
}
