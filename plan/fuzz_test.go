package plan

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"plumb/actions"
	"plumb/plan/plantest"
)

// FuzzReadJournal feeds arbitrary bytes to the journal reader: never a
// panic, and a journal it accepts only ever undoes commands that match
// their recorded typed fields — never a wrong undo.
func FuzzReadJournal(f *testing.F) {
	st := NewStore(f.TempDir())
	if _, err := Apply(context.Background(), &plantest.FakeRunner{}, st, selfPair().plan(), Each); err != nil {
		f.Fatal(err)
	}
	// An overlay's steps, as overlay mount plans them.
	mount := []actions.Action{actions.Mkdir{Path: "/nonexistent/u"}, actions.Mkdir{Path: "/nonexistent/w"}, actions.Mkdir{Path: "/nonexistent/m"},
		actions.OverlayMount{Lower: []string{"/l1", "/l2"}, Upper: "/nonexistent/u", Work: "/nonexistent/w", Merged: "/nonexistent/m"}}
	rec := &Record{FormatVersion: FormatVersion, Kind: "overlay", Name: "web", State: StateUndoing}
	for _, a := range mount {
		e, _ := encode(a)
		rec.Steps = append(rec.Steps, StepRecord{Action: *e, Status: Started})
	}
	st.Save(rec)
	for _, path := range []string{"objects/veth/veth-host.json", "objects/overlay/web.json", "shared.json"} {
		data, err := os.ReadFile(filepath.Join(st.Dir, path))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, err := parseRecord("fuzz.json", data)
		if err != nil {
			return
		}
		for i, s := range rec.Steps {
			for _, e := range []*encodedAction{&s.Action, s.Undo} {
				if e == nil {
					continue
				}
				a, err := e.Decode()
				if err != nil {
					t.Fatalf("step %d: accepted journal holds an action that does not decode: %v", i+1, err)
				}
				if actions.Quote(a.Argv()) != actions.Quote(e.Argv) {
					t.Fatalf("step %d: would run %q, recorded %q", i+1, actions.Quote(a.Argv()), actions.Quote(e.Argv))
				}
			}
		}
		if _, err := UndoPlan(NewStore("/nonexistent/plumb-fuzz"), rec); err != nil {
			t.Fatalf("UndoPlan of an accepted journal: %v", err)
		}
	})
}
