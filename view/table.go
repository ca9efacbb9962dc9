// Package view holds what plumb's listings and inspections show: typed
// values built from the store's journals (status rows, ps rows, bridge and
// image rows, docker-inspect documents, check findings) and their text and
// JSON forms. It reads the store and renders; it never changes the host,
// so that cmd/plumb only maps flags to a call here and prints.
package view

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"plumb/plan"
)

// Output is the form a listing or an inspection is printed in.
type Output string

// The forms -o takes.
const (
	Text Output = "text"
	JSON Output = "json"
)

// A Table is a listing's rows with how they print: under a header, one
// row a line, or with -o json as {"format_version": N, KEY: [...]}.
type Table[T any] struct {
	Rows []T
	// Err is what could not be read while listing (journals named), said
	// after the rows are printed.
	Err    error
	key    string
	header string
	row    func(io.Writer, T)
}

// Write prints the table in out's form, then gives its Err.
func (t Table[T]) Write(w io.Writer, out Output) error {
	if err := t.write(w, out); err != nil {
		return err
	}
	return t.Err
}

func (t Table[T]) write(w io.Writer, out Output) error {
	if out == JSON {
		rows := t.Rows
		if rows == nil {
			rows = []T{}
		}
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.SetIndent("  ", "  ")
		if err := enc.Encode(rows); err != nil {
			return err
		}
		_, err := fmt.Fprintf(w, "{\n  \"format_version\": %d,\n  %q: %s}\n", plan.FormatVersion, t.key, b.String())
		return err
	}
	// tabwriter writes each cell and each run of padding on its own: a
	// buffer makes a table of a thousand rows one write, not eleven
	// thousand (a quarter of bridge ls's time with 1,000 objects).
	bw := bufio.NewWriter(w)
	tw := tabwriter.NewWriter(bw, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, t.header)
	for _, r := range t.Rows {
		t.row(tw, r)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return bw.Flush()
}

// WriteJSON writes v as an indented JSON document.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // commands hold & < >, shown as they are
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// headers reads every journal's header for a listing. refused is the
// error, among the store's, that is about the state directory as a whole
// (not trusted, not readable) rather than one journal (a
// *plan.CorruptError): then nothing could be listed, and a listing says so
// alone, not under a table header that reads as "nothing there".
func headers(st *plan.Store) (recs []*plan.Record, errs []error, refused error) {
	recs, errs = st.Headers()
	for _, err := range errs {
		var ce *plan.CorruptError
		if !errors.As(err, &ce) {
			return nil, nil, err
		}
	}
	return recs, errs, nil
}

// Unreadable is the error of journals that cannot be read or trusted: each
// named, and exit 2 when any is untrusted (a refusal).
func Unreadable(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%d journals cannot be read or trusted: %w", len(errs), errors.Join(errs...))
}

// OrNone is s, or "-" for nothing, as a table or text shows an empty cell.
func OrNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
