package plan

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"plumb/actions"
)

// Text writes one shell line per step: exactly what runs, in order. A
// step fed its input (nft -f -) is followed by it, as a here-document.
func (p *Plan) Text(w io.Writer) error {
	var b strings.Builder
	for _, s := range p.Steps {
		b.WriteString(CommandLines(s.Action))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// FormatVersion is the version of plumb's JSON output schemas and journal.
const FormatVersion = 1

// The JSON plan is its own schema, not the internal structs: snake_case,
// versioned, fields in a fixed order.
type jsonPlan struct {
	FormatVersion int        `json:"format_version"`
	Object        jsonObject `json:"object"`
	Steps         []jsonStep `json:"steps"`
}

type jsonObject struct {
	Kind   string         `json:"kind"`
	Name   string         `json:"name"`
	Target *actions.Netns `json:"target,omitempty"`
}

type jsonStep struct {
	Index   int       `json:"index"`
	Command string    `json:"command"`
	Argv    []string  `json:"argv"`
	Input   string    `json:"input,omitempty"` // what the command reads on stdin (nft -f -)
	Why     string    `json:"why"`
	Shared  string    `json:"shared,omitempty"`
	Undo    *jsonUndo `json:"undo"`
}

type jsonUndo struct {
	Command string   `json:"command,omitempty"`
	Argv    []string `json:"argv,omitempty"`
	Input   string   `json:"input,omitempty"` // what the undo is fed (a batch's lines)
	// Note explains an undo that is not a fixed command: one covered by
	// another step's undo, or one read from the host at apply time.
	Note string `json:"note,omitempty"`
}

// JSON writes the plan as data: each step's argv, purpose and undo.
func (p *Plan) JSON(w io.Writer) error { return writeJSON(w, p.jsonPlan()) }

// TextAll writes the plans of one call for many objects: each under a
// comment line naming its object, so the whole stays a valid shell script.
func TextAll(w io.Writer, plans []*Plan) error {
	for _, p := range plans {
		if _, err := fmt.Fprintf(w, "# %s: %s\n", p.ID(), p.Summary); err != nil {
			return err
		}
		if err := p.Text(w); err != nil {
			return err
		}
	}
	return nil
}

// JSONAll writes the plans of one call for many objects, in the order they
// are applied: {"format_version": 1, "plans": [{"object": ..., "steps": ...}]}.
func JSONAll(w io.Writer, plans []*Plan) error {
	type entry struct {
		Object jsonObject `json:"object"`
		Steps  []jsonStep `json:"steps"`
	}
	out := struct {
		FormatVersion int     `json:"format_version"`
		Plans         []entry `json:"plans"`
	}{FormatVersion: FormatVersion}
	for _, p := range plans {
		jp := p.jsonPlan()
		out.Plans = append(out.Plans, entry{jp.Object, jp.Steps})
	}
	return writeJSON(w, out)
}

// Joined is the plans of one call as one plan, for a runbook: its rollback
// undoes every object's steps done so far, as plumb does.
func Joined(kind, name string, plans []*Plan) *Plan {
	j := &Plan{Kind: kind, Name: name}
	for _, p := range plans {
		j.Steps = append(j.Steps, p.Steps...)
	}
	return j
}

func (p *Plan) jsonPlan() jsonPlan {
	out := jsonPlan{FormatVersion: FormatVersion, Object: jsonObject{Kind: p.Kind, Name: p.Name}}
	if !p.Target.IsHost() {
		t := p.Target
		out.Object.Target = &t
	}
	for i, s := range p.Steps {
		a := s.Action
		js := jsonStep{Index: i + 1, Command: actions.Quote(a.Argv()), Argv: a.Argv(), Input: inputOf(a), Why: a.Why(), Shared: s.Shared}
		js.Undo = undoOf(s)
		out.Steps = append(out.Steps, js)
	}
	return out
}

// CommandLines is an action's command as a shell would take it, ending
// with a newline: its quoted argv, and for an action fed input (nft -f -)
// a here-document of it. The delimiter is quoted, so nothing in it is
// expanded; no line of nft's input that plumb writes is "EOF" (the lines
// nft reads are keywords, braces and rules).
func CommandLines(a actions.Action) string {
	cmd := actions.Quote(a.Argv())
	f, ok := a.(actions.Fed)
	if !ok {
		return cmd + "\n"
	}
	return cmd + " <<'EOF'\n" + string(f.Stdin()) + "EOF\n"
}

// inputOf is the input an action is fed, or "".
func inputOf(a actions.Action) string {
	if f, ok := a.(actions.Fed); ok {
		return string(f.Stdin())
	}
	return ""
}

func undoOf(s Step) *jsonUndo {
	a := s.Action
	if u := s.undo(); u != nil {
		return &jsonUndo{Command: actions.Quote(u.Argv()), Argv: u.Argv(), Input: inputOf(u)}
	}
	if c, ok := a.(actions.Noted); ok {
		note := c.UndoNote()
		if s.Shared != "" {
			note += ", once no other plumb object needs it"
		}
		return &jsonUndo{Note: note}
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // commands hold & < >, shown as they are
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("encoding JSON: %w", err)
	}
	return nil
}
