package container

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRootHookReadsState: the root's remount hook reads the state the
// runtime writes on its stdin, even when the runtime writes it after
// the remount is done. crun fails a start with EPIPE otherwise (a CI run
// did: "error executing hook `/bin/mount` (exit code: -33)"). The hook
// is run as crun runs it, with a stand-in for mount(8) that records its
// arguments.
func TestRootHookReadsState(t *testing.T) {
	dir := t.TempDir()
	seen := filepath.Join(dir, "seen")
	fake := filepath.Join(dir, "mount")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho \"$@\" >"+seen+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		noDev, noSuid, readOnly bool
		want                    string
	}{
		{true, true, false, "-o remount,bind,nodev,nosuid /r/it's merged"},
		{true, false, true, "-o remount,bind,nodev,ro /r/it's merged"},
		{false, false, true, ""},
	} {
		h := rootHook(bundle{Root: "/r/it's merged", NoDev: tc.noDev, NoSuid: tc.noSuid, Mount: fake}, tc.readOnly)
		if tc.want == "" {
			if h != nil {
				t.Errorf("no flag: want no hook, got %+v", h)
			}
			continue
		}
		os.Remove(seen)
		hook := h.CreateContainer[0]
		cmd := exec.Command(hook.Path)
		cmd.Args = hook.Args
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond) // mount alone would have exited
		if _, err := stdin.Write([]byte(`{"ociVersion":"1.0.2","id":"web","status":"creating"}`)); err != nil {
			t.Fatalf("%q: writing the state: %v", hook.Args, err)
		}
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Fatalf("%q: %v", hook.Args, err)
		}
		got, _ := os.ReadFile(seen)
		if strings.TrimSpace(string(got)) != tc.want {
			t.Errorf("%q: mount got %q, want %q", hook.Args, got, tc.want)
		}
	}
}
