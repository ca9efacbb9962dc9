package plan

import (
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"plumb/actions"
)

// TestJournalJSON: a journal is written as json.MarshalIndent writes the
// record, byte for byte, whatever its steps hold (escaped characters,
// undos or none, shared keys, errors), with no steps or none yet, and
// again after a step's status changed (the actions' encoding is kept).
func TestJournalJSON(t *testing.T) {
	step := func(a actions.Action, status Status, undo bool, shared, errText string) StepRecord {
		e, err := encode(a)
		if err != nil {
			t.Fatal(err)
		}
		st := StepRecord{Action: *e, Status: status, Shared: shared, Error: errText}
		if undo {
			if u := a.Undo(); u != nil {
				if st.Undo, err = encode(u); err != nil {
					t.Fatal(err)
				}
			}
		}
		return st
	}
	purge, _ := encode(actions.RemoveTree{Path: "/run/plumb-root/overlay/<w&b>"})
	base := Record{FormatVersion: FormatVersion, Kind: "container", Name: "web", State: StateUp, Summary: `a "quoted" <summary> & ünïcode`,
		Details: map[string]string{"k": "v"}, PID: 42, Created: time.Unix(1, 0).UTC(), Updated: time.Unix(2, 0).UTC(), Purge: purge,
		Names: []string{"web", "www"}}
	recs := map[string]Record{"no steps (nil)": base}
	empty := base
	empty.Steps = []StepRecord{}
	recs["no steps (empty)"] = empty
	full := base
	full.Steps = []StepRecord{
		step(actions.LinkAddBridge{Name: "br0", Address: "02:50:0a:58:00:01", Group: 28780}, Done, true, "", ""),
		step(actions.SysctlSet{Key: "net.ipv4.ip_forward", Value: "1"}, Done, false, "sysctl net.ipv4.ip_forward", ""),
		step(actions.AddrAdd{Addr: netip.MustParsePrefix("10.88.0.1/24"), Dev: "br0"}, Failed, true, "", "exit status 2: RTNETLINK answers: File exists <&>"),
		step(actions.WriteFile{Path: "/run/x/config.json", Content: "{\n  \"a\": \"<b>&\\u2028\"\n}\n", For: "the container's config.json"}, Pending, true, "", ""),
	}
	recs["steps"] = full
	// Facts, and the facts before an update, are spliced in: with what
	// encoding/json escapes (<, &, U+2028) and nesting to indent.
	facts := base
	facts.Details, facts.FactsVersion = nil, 2
	facts.FactsJSON = json.RawMessage(`{"a":"<x> & y","peers":[{"ip":"198.18.0.1","subnet":"10.0.1.0/24"},{"n":[1,{"c":"\u2028 ü"}]}],"e":{}}`)
	recs["facts"] = facts
	updating := facts
	updating.Steps = full.Steps
	updating.Updating = &Updating{From: 3, Summary: "before <&>", FactsJSON: json.RawMessage(`{"peers":[ {"ip" : "198.18.0.2"} ],"a":"<old>"}`), FactsVersion: 2}
	recs["updating"] = updating
	noFacts := updating
	noFacts.FactsJSON = nil
	noFacts.Updating = &Updating{From: 1, Details: map[string]string{"k": "v"}}
	recs["updating, details before"] = noFacts
	for name, r := range recs {
		want, err := json.MarshalIndent(&r, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		for pass := range 2 { // the second from the kept encoding
			got, err := r.journalJSON()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if d := cmp.Diff(string(want), string(got)); d != "" {
				t.Errorf("%s, pass %d (-MarshalIndent +journalJSON):\n%s", name, pass+1, d)
			}
		}
		// Read back from the journal (each action's spec as the file
		// holds it, indented), and written again: the same bytes.
		var back Record
		if err := strictUnmarshal(want, &back); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got, err := back.journalJSON(); err != nil || string(got) != string(want) {
			t.Errorf("%s: read back and written again (%v):\n%s", name, err, cmp.Diff(string(want), string(got)))
		}
		if len(r.Steps) > 0 {
			r.Steps[0].Status, r.Steps[0].Error = Undone, "later"
			want, _ := json.MarshalIndent(&r, "", "  ")
			if got, _ := r.journalJSON(); string(got) != string(want) {
				t.Errorf("%s: after a status changed, the journal differs from MarshalIndent's", name)
			}
		}
	}
}
