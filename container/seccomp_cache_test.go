package container

import (
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"plumb/actions"
)

// fakeRuntime puts an executable named crun alone on PATH.
func fakeRuntime(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "crun")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	return bin
}

// TestFilterKey: a filter is kept under a name that changes with the
// profile, the annotation that changes how crun compiles, and the
// runtime's binary; none when the runtime is not found.
func TestFilterKey(t *testing.T) {
	bin := fakeRuntime(t)
	key := filterKey("crun", "profile", nil)
	if len(key) != 64 {
		t.Fatalf("key %q", key)
	}
	if again := filterKey("crun", "profile", nil); again != key {
		t.Errorf("the same inputs gave %s, then %s", key, again)
	}
	for name, other := range map[string]string{
		"another profile":    filterKey("crun", "profile2", nil),
		"fail unknown calls": filterKey("crun", "profile", map[string]string{"run.oci.seccomp_fail_unknown_syscall": "1"}),
	} {
		if other == key {
			t.Errorf("%s: the same key", name)
		}
	}
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(bin, later, later); err != nil {
		t.Fatal(err)
	}
	if other := filterKey("crun", "profile", nil); other == key {
		t.Errorf("a changed runtime binary: the same key")
	}
	if k := filterKey("runc", "profile", nil); k != "" {
		t.Errorf("a runtime not installed: key %q", k)
	}
	base := filterKey("crun", "profile", nil)
	t.Setenv("LD_LIBRARY_PATH", "/opt/lib")
	if other := filterKey("crun", "profile", nil); other == base || other == "" {
		t.Errorf("another LD_LIBRARY_PATH: key %q", other)
	}
}

// TestReadFilter: only a regular file of plumb's user, writable by no
// other, holding whole BPF instructions, is loaded.
func TestReadFilter(t *testing.T) {
	dir := t.TempDir()
	good := make([]byte, 16)
	for i := range good {
		good[i] = byte(i)
	}
	mk := func(name string, data []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	hard := filepath.Join(dir, "hard")
	if err := os.Link(mk("linked", good, 0o600), hard); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(mk("target", good, 0o600), link); err != nil {
		t.Fatal(err)
	}
	other := mk("other", good, 0o600)
	if os.Geteuid() == 0 {
		if err := os.Chown(other, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name string
		path string
		ok   bool
	}{
		{"good", mk("good", good, 0o600), true},
		{"read by all", mk("readable", good, 0o644), true},
		{"empty", mk("empty", nil, 0o600), false},
		{"part of an instruction", mk("part", good[:12], 0o600), false},
		{"too long", mk("long", make([]byte, maxFilter+8), 0o600), false},
		{"group writable", mk("gw", good, 0o620), false},
		{"a symbolic link", link, false},
		{"a file of two names", hard, false},
		{"a directory", dir, false},
		{"absent", filepath.Join(dir, "absent"), false},
		{"another user's", other, os.Geteuid() != 0},
	} {
		data, ok := readFilter(c.path)
		if ok != c.ok || ok && !slices.Equal(data, good) {
			t.Errorf("%s: %v, %x", c.name, ok, data)
		}
	}
}

// TestCacheFilter: without a kept filter the spec gains the hook that
// keeps crun's; with one, the annotation that loads it and no hook; runc
// and a spec without a profile are left alone.
func TestCacheFilter(t *testing.T) {
	fakeRuntime(t)
	cache := t.TempDir()
	rt := actions.Runtime{Name: "crun", State: "/run/plumb/runtime/crun"}
	profile := func() *specs.Spec {
		return &specs.Spec{Linux: &specs.Linux{Seccomp: &specs.LinuxSeccomp{DefaultAction: specs.ActErrno,
			Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActAllow}}}}}
	}

	s := profile()
	if err := cacheFilter(s, rt, "web", cache); err != nil {
		t.Fatal(err)
	}
	if s.Hooks == nil || len(s.Hooks.Poststart) != 1 || s.Annotations[bpfDataAnnotation] != "" {
		t.Fatalf("no filter kept: hooks %+v, annotations %v", s.Hooks, s.Annotations)
	}
	h := s.Hooks.Poststart[0]
	text, _ := seccompText(s.Linux.Seccomp)
	kept := filepath.Join(cache, filterKey("crun", text, nil))
	if h.Path != "/bin/sh" || len(h.Args) != 6 || h.Args[4] != "/run/plumb/runtime/crun/web/seccomp.bpf" || h.Args[5] != kept {
		t.Errorf("hook %q", h.Args)
	}

	filter := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	if err := os.WriteFile(kept, filter, 0o600); err != nil {
		t.Fatal(err)
	}
	s = profile()
	if err := cacheFilter(s, rt, "web", cache); err != nil {
		t.Fatal(err)
	}
	if s.Hooks != nil || s.Annotations[bpfDataAnnotation] != base64.StdEncoding.EncodeToString(filter) {
		t.Errorf("a filter kept: hooks %+v, annotations %v", s.Hooks, s.Annotations)
	}

	s = profile()
	if err := cacheFilter(s, actions.Runtime{Name: "runc", State: "/run/plumb/runtime/runc"}, "web", cache); err != nil || s.Hooks != nil || s.Annotations != nil {
		t.Errorf("runc: %v, %+v, %v", err, s.Hooks, s.Annotations)
	}
	s = &specs.Spec{Linux: &specs.Linux{}}
	if err := cacheFilter(s, rt, "web", cache); err != nil || s.Hooks != nil || s.Annotations != nil {
		t.Errorf("no profile: %v, %+v, %v", err, s.Hooks, s.Annotations)
	}
}

// TestKeepFilterHook runs the hook's script: it copies the filter whole
// into a directory it makes, drains its stdin, and succeeds when the
// runtime wrote no filter, leaving nothing behind.
func TestKeepFilterHook(t *testing.T) {
	dir := t.TempDir()
	compiled := filepath.Join(dir, "state", "seccomp.bpf")
	kept := filepath.Join(dir, "cache", "seccomp", "key")
	h := keepFilterHook(compiled, kept)
	run := func() {
		t.Helper()
		cmd := exec.Command(h.Path, h.Args[1:]...)
		cmd.Stdin = strings.NewReader(`{"ociVersion":"1.0.2","id":"web","status":"running"}`)
		if out, err := cmd.CombinedOutput(); err != nil || len(out) != 0 {
			t.Fatalf("hook: %v, %q", err, out)
		}
	}
	run()
	if entries, _ := os.ReadDir(filepath.Dir(kept)); len(entries) != 0 {
		t.Errorf("no compiled filter, yet in the cache: %v", entries)
	}
	if err := os.MkdirAll(filepath.Dir(compiled), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(compiled, []byte("12345678"), 0o700); err != nil {
		t.Fatal(err)
	}
	run()
	if data, ok := readFilter(kept); !ok || string(data) != "12345678" {
		t.Errorf("kept: %q, %v", data, ok)
	}
	if entries, _ := os.ReadDir(filepath.Dir(kept)); len(entries) != 1 {
		t.Errorf("the cache holds %v", entries)
	}
}
