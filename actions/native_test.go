package actions

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
)

// TestNativeAsTool holds every action plumb does in-process to its command
// line: each case is set up twice, once run by the tool (the Exec runner,
// a process, C locale) and once by Do, and the trees left and the stderr
// given must be the same. Gone and Clash read that stderr, and a runbook
// replays the command: the two must not drift apart.
func TestNativeAsTool(t *testing.T) {
	type setup func(t *testing.T, dir string)
	mkdir := func(rel string, mode fs.FileMode) setup {
		return func(t *testing.T, dir string) {
			if err := os.MkdirAll(filepath.Join(dir, rel), mode); err != nil {
				t.Fatal(err)
			}
		}
	}
	file := func(rel, content string) setup {
		return func(t *testing.T, dir string) {
			p := filepath.Join(dir, rel)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(content), 0o640); err != nil {
				t.Fatal(err)
			}
		}
	}
	cases := []struct {
		name  string
		setup []setup
		act   func(dir string) Native
	}{
		{"mkdir new with parents", nil, func(d string) Native { return Mkdir{Path: d + "/a/b/c"} }},
		{"mkdir with mode", nil, func(d string) Native { return Mkdir{Path: d + "/a/m", Mode: 0o700} }},
		{"mkdir existing", []setup{mkdir("a", 0o750)}, func(d string) Native { return Mkdir{Path: d + "/a", Mode: 0o700} }},
		{"mkdir over a file", []setup{file("f", "x")}, func(d string) Native { return Mkdir{Path: d + "/f"} }},
		{"mkdir below a file", []setup{file("f", "x")}, func(d string) Native { return Mkdir{Path: d + "/f/g"} }},
		{"mkdir two below a file", []setup{file("f", "x")}, func(d string) Native { return Mkdir{Path: d + "/f/g/h"} }},
		{"mkdir below a dangling link", []setup{func(t *testing.T, d string) {
			if err := os.Symlink(d+"/nowhere", d+"/l"); err != nil {
				t.Fatal(err)
			}
		}}, func(d string) Native { return Mkdir{Path: d + "/l/x"} }},
		{"mkdir below a link to a dir", []setup{mkdir("real", 0o755), func(t *testing.T, d string) {
			if err := os.Symlink(d+"/real", d+"/l"); err != nil {
				t.Fatal(err)
			}
		}}, func(d string) Native { return Mkdir{Path: d + "/l/x/y", Mode: 0o711} }},
		{"write new", nil, func(d string) Native { return WriteFile{Path: d + "/hosts", Content: "127.0.0.1 localhost\n"} }},
		{"write over", []setup{file("hosts", "old and longer")}, func(d string) Native { return WriteFile{Path: d + "/hosts", Content: "new"} }},
		{"write into a missing dir", nil, func(d string) Native { return WriteFile{Path: d + "/no/hosts", Content: "x"} }},
		{"write config", nil, func(d string) Native { return WriteConfig{Path: d + "/config.json", Content: "{}\n"} }},
		{"write below a file", []setup{file("f", "x")}, func(d string) Native { return WriteFile{Path: d + "/f/x", Content: "x"} }},
		{"rm file", []setup{file("f", "x")}, func(d string) Native { return RemoveFile{Path: d + "/f"} }},
		{"rm missing", nil, func(d string) Native { return RemoveFile{Path: d + "/f"} }},
		{"rm a dir", []setup{mkdir("a", 0o755)}, func(d string) Native { return RemoveFile{Path: d + "/a"} }},
		{"rmdir empty and not", []setup{mkdir("e", 0o755), file("n/x", "x")}, func(d string) Native {
			return RmdirEmpty{Paths: []string{d + "/e", d + "/n"}}
		}},
		{"rmdir missing", []setup{mkdir("e", 0o755)}, func(d string) Native { return RmdirEmpty{Paths: []string{d + "/gone", d + "/e"}} }},
		{"rmdir a file", []setup{file("f", "x")}, func(d string) Native { return RmdirEmpty{Paths: []string{d + "/f"}} }},
		{"rm -rf tree", []setup{file("t/a/b/c", "x"), mkdir("t/e", 0o700), file("u/x", "y")}, func(d string) Native {
			return RemoveTree{Path: d + "/t", More: []string{d + "/u", d + "/missing"}}
		}},
		{"touch new", nil, func(d string) Native { return Touch{Path: d + "/uts"} }},
		{"touch existing", []setup{file("uts", "kept")}, func(d string) Native { return Touch{Path: d + "/uts"} }},
		{"touch in a missing dir", nil, func(d string) Native { return Touch{Path: d + "/no/uts"} }},
	}
	t.Setenv("LC_ALL", "C")
	t.Setenv("LANGUAGE", "")
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var trees, errs [2]string
			for i := range 2 {
				dir := t.TempDir()
				for _, s := range c.setup {
					s(t, dir)
				}
				a := c.act(dir)
				var err error
				if i == 0 {
					err = run(Exec{}, a)
				} else {
					err = a.Do()
				}
				trees[i] = tree(t, dir)
				errs[i] = strings.ReplaceAll(StderrOf(err), dir, "DIR")
				if err != nil && StderrOf(err) == "" {
					errs[i] = "no stderr: " + err.Error()
				}
			}
			if trees[0] != trees[1] {
				t.Errorf("trees differ:\ntool:\n%s\nin-process:\n%s", trees[0], trees[1])
			}
			if errs[0] != errs[1] {
				t.Errorf("stderr differs:\ntool:       %q\nin-process: %q", errs[0], errs[1])
			}
		})
	}
}

// run runs a's command line as a process.
func run(e Exec, a Action) error {
	var stdin []byte
	if f, ok := a.(Fed); ok {
		stdin = f.Stdin()
	}
	_, err := e.Run(context.Background(), a.Argv(), stdin)
	return err
}

// tree lists what is under dir: each path, its type and mode, a file's
// content.
func tree(t *testing.T, dir string) string {
	var lines []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		line := fmt.Sprintf("%s %v", rel, fi.Mode())
		if fi.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			line += " " + string(b)
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}
