package plan

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// journalJSON is the record as its journal holds it: what
// json.MarshalIndent(r, "", "  ") writes, byte for byte, but with each
// step's actions encoded once per process rather than once per save.
// A journal is saved before and after every step, and each save encoded
// every action again: a container's config.json step holds Docker's
// seccomp profile (tens of kB), which encoding/json compacted and
// indented twenty times in one `plumb run`, two thirds of its CPU time.
func (r *Record) journalJSON() ([]byte, error) {
	h := *r
	h.Steps = nil
	head, err := json.MarshalIndent(&h, "", "  ")
	if err != nil {
		return nil, err
	}
	const tail = "\"steps\": null\n}"
	if r.Steps == nil {
		return head, nil
	}
	if !bytes.HasSuffix(head, []byte(tail)) {
		return nil, fmt.Errorf("%s: the journal's steps are not its last field", r.ID())
	}
	b := append(head[:len(head)-len(tail)], `"steps": [`...)
	if len(r.Steps) == 0 {
		return append(b, "]\n}"...), nil
	}
	for i := range r.Steps {
		st := &r.Steps[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, "\n    {\n      \"action\": "...)
		if b, err = st.Action.appendStep(b); err != nil {
			return nil, err
		}
		if st.Shared != "" {
			b = appendField(b, "shared", st.Shared)
		}
		b = appendField(b, "status", string(st.Status))
		if st.Undo != nil {
			b = append(b, ",\n      \"undo\": "...)
			if b, err = st.Undo.appendStep(b); err != nil {
				return nil, err
			}
		}
		if st.Error != "" {
			b = appendField(b, "error", st.Error)
		}
		b = append(b, "\n    }"...)
	}
	return append(b, "\n  ]\n}"...), nil
}

// appendStep appends the action as a step's field, encoded the first time:
// what json.MarshalIndent(e.Encoded, "      ", "  ") writes, but with the
// spec, the JSON of the action (a sync's thousand peers), indented as it
// is rather than checked and compacted again first (plumb wrote it).
func (e *encodedAction) appendStep(b []byte) ([]byte, error) {
	if e.step == nil {
		kind, err := json.Marshal(e.Kind)
		if err != nil {
			return nil, err
		}
		argv, err := json.MarshalIndent(e.Argv, "        ", "  ")
		if err != nil {
			return nil, err
		}
		var step bytes.Buffer
		step.Grow(len(e.Spec)*2 + 128)
		step.WriteString("{\n        \"kind\": ")
		step.Write(kind)
		step.WriteString(",\n        \"spec\": ")
		if len(e.Spec) == 0 {
			step.WriteString("null") // as encoding/json writes a nil RawMessage
		} else if err := json.Indent(&step, e.Spec, "        ", "  "); err != nil {
			return nil, err
		}
		step.WriteString(",\n        \"argv\": ")
		step.Write(argv)
		step.WriteString("\n      }")
		e.step = step.Bytes()
	}
	return append(b, e.step...), nil
}

// appendField appends `,\n      "key": "value"`, the value as
// encoding/json escapes it.
func appendField(b []byte, key, value string) []byte {
	v, _ := json.Marshal(value) // a string: never fails
	return append(append(append(b, ",\n      \""...), key+"\": "...), v...)
}
