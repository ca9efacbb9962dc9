package container

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestIndentJSON: indentJSON writes what json.Indent then oneLineLists
// wrote, for documents with lists of strings (escaped, empty, nested in
// lists of objects), lists of numbers and of lists, empty objects.
func TestIndentJSON(t *testing.T) {
	for _, doc := range []any{
		map[string]any{"args": []string{"sh", "-c", `echo "a,b" \ ] [ {x}`}, "env": []string{}, "n": []int{1, 2}, "o": map[string]any{}},
		map[string]any{"mounts": []any{map[string]any{"options": []string{"ro", "nosuid"}, "type": "bind"}, map[string]any{}}, "l": [][]string{{"a"}, {}}},
		[]string{"only", "strings"},
		map[string]any{"s": "x\n\"y\"", "b": true, "z": nil, "m": []any{"a", 1}},
	} {
		var compact bytes.Buffer
		enc := json.NewEncoder(&compact)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(doc); err != nil {
			t.Fatal(err)
		}
		src := bytes.TrimSuffix(compact.Bytes(), []byte("\n"))
		var indented bytes.Buffer
		if err := json.Indent(&indented, src, "", "  "); err != nil {
			t.Fatal(err)
		}
		want := oneLineLists(indented.String())
		if got := indentJSON(src); got != want {
			t.Errorf("indentJSON:\n%s\nwant:\n%s", got, want)
		}
		if !json.Valid([]byte(want)) || strings.Contains(want, "\n\n") {
			t.Errorf("not JSON: %s", want)
		}
	}
}

// oneLineLists writes each list of strings of indented JSON on one line,
// as config.json was written before indentJSON (the reference it is
// checked against):
// a line that opens a list, then lines that are each one string (and a
// comma), then the line that closes it. A scan of the lines, not a
// regular expression: config.json of every container of a Compose plan
// goes through it.
func oneLineLists(s string) string {
	lines := strings.Split(s, "\n")
	out := make([]string, 0, len(lines))
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.HasSuffix(l, "[") {
			j := i + 1
			var items []string
			for j < len(lines) {
				item, ok := stringItem(lines[j])
				if !ok {
					break
				}
				items = append(items, item)
				j++
			}
			if len(items) > 0 && j < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[j]), "]") {
				out = append(out, l+strings.Join(items, ", ")+strings.TrimSpace(lines[j]))
				i = j
				continue
			}
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

// stringItem is a line of indented JSON that is one string, a list's
// item (a comma after it, or none), without the comma and the indent.
func stringItem(l string) (string, bool) {
	t := strings.TrimSpace(l)
	t = strings.TrimSuffix(t, ",")
	if len(t) < 2 || t[0] != '"' {
		return "", false
	}
	for k := 1; k < len(t); k++ {
		switch t[k] {
		case '\\':
			k++
		case '"':
			return t, k == len(t)-1
		}
	}
	return "", false
}
