package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestManPages: the committed man pages (man/) are what `make man` writes
// from today's help; -update writes them.
func TestManPages(t *testing.T) {
	pages, err := manPages()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("..", "..", "man")
	if *update {
		os.RemoveAll(dir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, text := range pages {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.8"))
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	for name, text := range pages {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: %v (make man writes it)", name, err)
			continue
		}
		if string(got) != text {
			t.Errorf("man/%s differs from what make man writes from the help: run make man", name)
		}
	}
	for _, n := range names {
		if _, ok := pages[n]; !ok {
			t.Errorf("man/%s is no command's page any more: make man removes it", n)
		}
	}
	if !slices.Contains(names, "plumb.8") && !*update {
		t.Error("man/plumb.8 is missing: run make man")
	}
}
