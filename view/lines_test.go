package view

import (
	"strings"
	"sync"
	"testing"
)

// TestPrefixWriter: whole lines only, each after its prefix, in one Write
// each (writers side by side never split a line); Flush ends a last line.
func TestPrefixWriter(t *testing.T) {
	var out strings.Builder
	var writes []string
	var mu sync.Mutex
	rec := &LockedWriter{W: writerFunc(func(b []byte) (int, error) {
		writes = append(writes, string(b))
		return out.Write(b)
	}), Mu: &mu}
	p := &PrefixWriter{W: rec, Prefix: "web-1 | "}
	for _, chunk := range []string{"2026-12-06T00:00:00Z ", "one\ntw", "o\n", "", "three"} {
		if n, err := p.Write([]byte(chunk)); err != nil || n != len(chunk) {
			t.Fatalf("Write(%q) = %d, %v", chunk, n, err)
		}
	}
	p.Flush()
	want := "web-1 | 2026-12-06T00:00:00Z one\nweb-1 | two\nweb-1 | three\n"
	if out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
	for _, w := range writes {
		if !strings.HasSuffix(w, "\n") {
			t.Errorf("a write that ends mid-line: %q", w)
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }
