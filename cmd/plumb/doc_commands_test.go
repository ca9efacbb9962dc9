package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mattn/go-shellwords"
)

// TestDocCommands: every `$ plumb ...` line a document shows (README.md,
// docs/*.md) still parses: its words, up to a pipe or redirection and
// before any `--`, with --help added, are a command path and flags plumb
// takes (help exits 0 once they parse; nothing runs).
func TestDocCommands(t *testing.T) {
	docs, _ := filepath.Glob("../../docs/*.md")
	docs = append(docs, "../../README.md")
	n := 0
	for _, doc := range docs {
		f, err := os.Open(doc)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		line := 0
		for sc.Scan() {
			line++
			text, ok := strings.CutPrefix(sc.Text(), "$ plumb")
			if !ok || (text != "" && text[0] != ' ') {
				continue
			}
			args, err := docWords(text)
			if err != nil {
				t.Errorf("%s:%d: %v", doc, line, err)
				continue
			}
			if i := slices.Index(args, "--"); i >= 0 {
				args = args[:i]
			}
			var stderr strings.Builder
			if code := runIn(context.Background(), append(args, "--help"), io.Discard, &stderr); code != 0 {
				t.Errorf("%s:%d: plumb %s --help: exit %d: %s", doc, line, strings.Join(args, " "), code, stderr.String())
			}
			n++
		}
		f.Close()
	}
	if n < 20 {
		t.Errorf("only %d `$ plumb` lines found in %d documents", n, len(docs))
	}
	t.Logf("%d `$ plumb` lines parse", n)
}

// docWords splits a shown command line as the shell would, up to its
// first pipe, redirection, list operator or comment. A quote the line
// leaves open (a script continued on the next lines) ends the words.
func docWords(line string) ([]string, error) {
	p := shellwords.NewParser()
	words, err := p.Parse(line)
	if err != nil {
		if i := strings.IndexAny(line, `'"`); i >= 0 {
			return docWords(line[:i])
		}
		return nil, err
	}
	for i, w := range words {
		if strings.HasPrefix(w, "#") {
			return words[:i], nil
		}
	}
	return words, nil
}
