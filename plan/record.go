package plan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"plumb/actions"
)

// State is where an object's plan stands.
type State string

// The states a journal can be in. Anything but StateUp means a plan was
// interrupted or an undo failed, and `plumb recover` (or down) finishes it.
const (
	StateApplying   State = "applying"    // steps are being run
	StateUp         State = "up"          // every step ran
	StateUndoing    State = "undoing"     // a rollback or down is running
	StateUndoFailed State = "undo-failed" // an undo failed; kept to be retried
)

// Status is where one step stands.
type Status string

// A step is pending until it starts; started is written before it runs, so
// a crash leaves it there and recovery undoes it (undos are idempotent).
const (
	Pending    Status = "pending"
	Started    Status = "started"
	Done       Status = "done"
	Failed     Status = "failed"
	Undone     Status = "undone"
	UndoFailed Status = "undo-failed"
)

// Record is one object's journal.
type Record struct {
	FormatVersion int    `json:"format_version"`
	Kind          string `json:"kind"`
	Name          string `json:"name"`
	State         State  `json:"state"`
	Summary       string `json:"summary"`
	// Details are the facts as journals before typed facts kept them:
	// read, never written (see facts.go).
	Details map[string]string `json:"details,omitempty"`
	// FactsJSON are the facts as JSON of the kind's struct, of version
	// FactsVersion of its form.
	FactsJSON    json.RawMessage `json:"facts,omitempty"`
	FactsVersion int             `json:"facts_version,omitempty"`
	// Spec is the input the object was made from; nil in records written
	// before specs were stored.
	Spec *Spec `json:"spec,omitempty"`
	// Names are the names it answers to on its network (see names.go);
	// nil in records written before names were.
	Names    []string       `json:"names,omitempty"`
	Target   *actions.Netns `json:"target,omitempty"`
	TargetID string         `json:"target_id,omitempty"`
	PID      int            `json:"pid"` // the plumb process that last wrote it
	Created  time.Time      `json:"created"`
	Updated  time.Time      `json:"updated"`
	// Updating: the object is being changed in place (see Updating).
	Updating *Updating `json:"updating,omitempty"`
	// Purge is what the teardown deletes once every undo has run: the
	// upper layer `stop --rm` and `overlay unmount --purge` ask for. It is
	// written before the first undo, so that recover finishes a teardown
	// killed half-way, deletion included. (Before steps: a header is read
	// as far as the steps.)
	Purge *encodedAction `json:"purge,omitempty"`
	Steps []StepRecord   `json:"steps"`

	// decoded are the facts last decoded from FactsJSON, while it is the
	// same bytes: a mesh of a thousand peers is decoded once per command,
	// not once per question asked of it (see Store.shareDecoded).
	decoded decodedFacts
	// beside reads a file the facts keep beside the journal (see
	// beside.go); set by the store that read the record.
	beside func(file string) ([]byte, error)
}

// decodedFacts are facts and the JSON they were decoded from.
type decodedFacts struct {
	from  []byte
	facts Facts
}

// ID is the object's name in messages: kind/name.
func (r *Record) ID() string { return r.Kind + "/" + r.Name }

// StepRecord is one step as the journal keeps it.
type StepRecord struct {
	Action encodedAction  `json:"action"`
	Shared string         `json:"shared,omitempty"`
	Status Status         `json:"status"`
	Undo   *encodedAction `json:"undo,omitempty"`
	Error  string         `json:"error,omitempty"`
}

// encodedAction is an action in the journal, decoded once when read.
type encodedAction struct {
	actions.Encoded
	decoded actions.Action
	// step is the action as a step's field in the journal (indented at
	// that depth), made once: an action never changes (see journalJSON).
	step []byte
}

func encode(a actions.Action) (*encodedAction, error) {
	e, err := actions.Encode(a)
	if err != nil {
		return nil, err
	}
	return &encodedAction{Encoded: e, decoded: a}, nil
}

func (e *encodedAction) Decode() (actions.Action, error) {
	if e.decoded != nil {
		return e.decoded, nil
	}
	a, err := actions.Decode(e.Encoded)
	if err != nil {
		return nil, err
	}
	e.decoded = a
	return a, nil
}

func (e encodedAction) MarshalJSON() ([]byte, error) { return json.Marshal(e.Encoded) }
func (e *encodedAction) UnmarshalJSON(b []byte) error {
	e.decoded, e.step = nil, nil
	return strictUnmarshal(b, &e.Encoded)
}

// CorruptError is a journal that cannot be read, or cannot be trusted
// (another user could have written it: Err is then a *Refused). Nothing is
// undone from it.
type CorruptError struct {
	Path string
	Err  error
	// dir: Path is a kind's directory, none of whose journals was read.
	dir bool
	// untrusted: Path is there, but another user could have written it.
	untrusted bool
}

func (e *CorruptError) Error() string {
	what, undone := "journal "+e.Path, "nothing was undone from it"
	if e.dir {
		what, undone = "directory "+e.Path, "nothing in it was undone"
	}
	verb := "cannot be read"
	var r *Refused
	if e.untrusted || errors.As(e.Err, &r) {
		verb = "is not trusted"
	}
	return fmt.Sprintf("%s %s, so %s: %v", what, verb, undone, e.Err)
}
func (e *CorruptError) Unwrap() error { return e.Err }

// readRecord reads and checks the journal at path, once trusted (see
// Store).
func (s *Store) readRecord(path string) (*Record, error) {
	data, err := s.readJournal(path)
	if err != nil {
		return nil, err
	}
	return parseRecord(path, data)
}

// parseRecord decodes and validates a journal read from path.
func parseRecord(path string, data []byte) (*Record, error) {
	var r Record
	if err := strictUnmarshal(data, &r); err != nil {
		return nil, &CorruptError{Path: path, Err: err}
	}
	if err := r.validate(); err != nil {
		return nil, &CorruptError{Path: path, Err: err}
	}
	return &r, nil
}

// validate checks what decoding alone cannot: the version, known states, and
// that every recorded command still matches its typed fields.
func (r *Record) validate() error {
	if r.FormatVersion != FormatVersion {
		return fmt.Errorf("format version %d; this plumb reads version %d", r.FormatVersion, FormatVersion)
	}
	switch r.State {
	case StateApplying, StateUp, StateUndoing, StateUndoFailed:
	default:
		return fmt.Errorf("unknown state %q", r.State)
	}
	if r.Kind == "" || r.Name == "" {
		return errors.New("kind or name missing")
	}
	for i := range r.Steps {
		s := &r.Steps[i]
		switch s.Status {
		case Pending, Started, Done, Failed, Undone, UndoFailed:
		default:
			return fmt.Errorf("step %d: unknown status %q", i+1, s.Status)
		}
		if _, err := s.Action.Decode(); err != nil {
			return fmt.Errorf("step %d: %w", i+1, err)
		}
		if s.Undo != nil {
			if _, err := s.Undo.Decode(); err != nil {
				return fmt.Errorf("step %d undo: %w", i+1, err)
			}
		}
	}
	if r.Purge != nil {
		if _, err := r.Purge.Decode(); err != nil {
			return fmt.Errorf("purge: %w", err)
		}
	}
	return nil
}

func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// rewriteUndos replaces, before a teardown, the recorded undos that change
// returns a new action for (nil: keep): how `unmount --lazy` and
// `stop --time` adjust what was planned when the object was made.
func rewriteUndos(rec *Record, change func(actions.Action) actions.Action) error {
	for i := range rec.Steps {
		s := &rec.Steps[i]
		if s.Undo == nil {
			continue
		}
		u, err := s.Undo.Decode()
		if err != nil {
			return err
		}
		if n := change(u); n != nil {
			if s.Undo, err = encode(n); err != nil {
				return err
			}
		}
	}
	return nil
}
