package plan

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestHeadersRead: Headers reads journals of every size through one
// buffer, only up to their steps, and gives the header a whole read
// gives: a small journal after a large one, a header longer than one read
// and the steps' key across two reads among them. A journal whose header
// does not decode as this plumb's is named with its reason; read from the
// buffer the fast path had written '}' into, it was a JSON syntax error.
func TestHeadersRead(t *testing.T) {
	st := NewStore(t.TempDir())
	big := strings.Repeat("x", 8<<10-7) // a header that ends near the first read's end
	var want []*Record
	for i, details := range []map[string]string{{"cmd": big}, {"ip": "10.88.0.2"}, {"cmd": strings.Repeat("y", 40<<10)}, nil} {
		rec := &Record{FormatVersion: FormatVersion, Kind: "container", Name: string(rune('a' + i)), State: StateUp, Summary: "s", Details: details,
			Steps: []StepRecord{{Status: Done, Error: strings.Repeat("e", 30<<10)}}}
		if err := st.Save(rec); err != nil {
			t.Fatal(err)
		}
		h := *rec
		h.Steps = nil
		want = append(want, &h)
	}
	st = NewStore(st.Dir) // nothing cached
	got, errs := st.Headers()
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if diff := cmp.Diff(want, got, sameJSON); diff != "" {
		t.Errorf("headers (-want +got):\n%s", diff)
	}

	// A journal of another format version, steps last as plumb writes them.
	path := filepath.Join(st.Dir, "objects", "container", "z.json")
	if err := os.WriteFile(path, []byte("{\n  \"format_version\": 99,\n  \"kind\": \"container\",\n  \"name\": \"z\",\n  \"steps\": []\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	st = NewStore(st.Dir)
	got, errs = st.Headers()
	if len(got) != len(want) || len(errs) != 1 || !strings.Contains(errs[0].Error(), "format version 99") {
		t.Errorf("%d headers, errors %v; want %d and one naming format version 99", len(got), errs, len(want))
	}
}
