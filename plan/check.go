package plan

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"plumb/actions"
)

// Drift is an applied step whose effect is no longer in place.
type Drift struct {
	Step    int
	Command string
	Problem string
}

// Check verifies, with read-only probes, that each applied step of rec is
// still in effect. Steps that enter the container are reported as drift
// (not probed) when its namespace is gone or is another one.
func Check(ctx context.Context, r actions.Runner, rec *Record) ([]Drift, error) {
	var drift []Drift
	if rec.State != StateUp {
		return nil, fmt.Errorf("%s is not up (state %s); run `plumb recover`", rec.ID(), rec.State)
	}
	for i := range rec.Steps {
		s := &rec.Steps[i]
		a, err := s.Action.Decode()
		if err != nil {
			return nil, err
		}
		v, ok := a.(actions.Verifier)
		if !ok || s.Status == Undone || superseded(rec, i, a) {
			continue
		}
		cmd := actions.Quote(a.Argv())
		if err := checkTarget(rec, a); err != nil {
			drift = append(drift, Drift{i + 1, cmd, err.Error()})
			continue
		}
		if err := v.Verify(ctx, r); err != nil {
			drift = append(drift, Drift{i + 1, cmd, err.Error()})
		}
	}
	return drift, nil
}

// CheckFacts is rec's kind's check of what its facts hold beyond its
// steps (FactsChecker): drift, and a note for the report ("" for kinds
// without it).
func CheckFacts(ctx context.Context, r actions.Runner, rec *Record) ([]Drift, string, error) {
	fc, ok := capability[FactsChecker](rec)
	if !ok || rec.State != StateUp {
		return nil, "", nil
	}
	f, err := rec.Facts()
	if err != nil {
		return nil, "", err
	}
	return fc.CheckFacts(ctx, r, rec, f)
}

// Find looks an object up by name, "kind/name" or a bare name that only
// one kind uses.
func Find(st *Store, name string) (*Record, error) {
	if kind, n, ok := strings.Cut(name, "/"); ok {
		rec, err := st.Load(kind, n)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("plumb keeps no %s named %s in %s (`plumb status` lists what it keeps)", kind, n, st.Dir)
		}
		return rec, err
	}
	recs, errs := st.Headers()
	var found, held []*Record
	for _, r := range recs {
		if r.Name == name {
			if IsHeld(r) {
				held = append(held, r)
				continue
			}
			found = append(found, r)
		}
	}
	if len(found) == 0 {
		// A container's sandbox and root are named after it: NAME is the
		// container while it is there, and they need KIND/NAME.
		found = held
	}
	switch len(found) {
	case 1:
		return st.Load(found[0].Kind, found[0].Name) // whole and checked
	case 0:
		for _, err := range errs {
			if strings.Contains(err.Error(), "/"+name+".json") {
				return nil, err
			}
		}
		return nil, fmt.Errorf("plumb keeps no object named %s in %s (`plumb status` lists what it keeps)", name, st.Dir)
	}
	var ids []string
	for _, r := range found {
		ids = append(ids, r.ID())
	}
	return nil, &Refused{Msg: fmt.Sprintf("%s names %d objects (%s); give KIND/NAME", name, len(found), strings.Join(ids, ", "))}
}

// StepView is a step as inspect shows it.
type StepView struct {
	Index   int    `json:"index"`
	Command string `json:"command"`
	Status  Status `json:"status"`
	Shared  string `json:"shared,omitempty"`
	Undo    string `json:"undo,omitempty"`
	Error   string `json:"error,omitempty"`
}

// Steps lists rec's steps with their status and recorded undo.
func Steps(rec *Record) []StepView {
	var out []StepView
	for i, s := range rec.Steps {
		v := StepView{Index: i + 1, Command: actions.Quote(s.Action.Argv), Status: s.Status, Shared: s.Shared, Error: s.Error}
		if s.Undo != nil {
			v.Undo = actions.Quote(s.Undo.Argv)
		}
		out = append(out, v)
	}
	return out
}

// superseded reports whether a later step of rec, done, changed what step
// i's action a set (an update of the MTU), so that a is no longer to be
// found in effect.
func superseded(rec *Record, i int, a actions.Action) bool {
	for j := i + 1; j < len(rec.Steps); j++ {
		later, err := rec.Steps[j].Action.Decode()
		if err != nil {
			continue
		}
		if s, ok := later.(interface{ Supersedes(actions.Action) bool }); ok && rec.Steps[j].Status == Done && s.Supersedes(a) {
			return true
		}
	}
	return false
}
