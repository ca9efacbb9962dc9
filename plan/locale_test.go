package plan

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"plumb/actions"
)

// TestRollbackGermanLocale: under a German locale, a step whose name is
// taken (`ln -s` of a link someone else made) is still known as a clash,
// so the rollback leaves that link alone. With the caller's locale
// passed on, ln said "Die Datei existiert bereits", Symlink.Clash said
// no, and the rollback deleted the link (issue 21).
func TestRollbackGermanLocale(t *testing.T) {
	for _, k := range []string{"LC_ALL", "LC_MESSAGES"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("LANG", "C.UTF-8")
	t.Setenv("LANGUAGE", "de")
	dir := t.TempDir()
	link := filepath.Join(dir, "l", "abc")
	if err := os.Mkdir(filepath.Dir(link), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../not-plumbs", link); err != nil {
		t.Fatal(err)
	}
	// Does ln speak German here? It needs coreutils' German messages
	// (/usr/share/locale/de/LC_MESSAGES/coreutils.mo) and a locale other
	// than C: C.UTF-8 is built into glibc 2.35 and later.
	probe, err := exec.Command("ln", "-s", "--", "x", link).CombinedOutput()
	if err == nil {
		t.Fatal("ln -s over an existing link succeeded")
	}
	if !strings.Contains(string(probe), "existiert") {
		t.Skipf("ln does not speak German here (LANG=C.UTF-8 LANGUAGE=de ln says %q): coreutils' German messages or the C.UTF-8 locale are missing", strings.TrimSpace(string(probe)))
	}

	st := NewStore(filepath.Join(dir, "state"))
	p := &Plan{Kind: "imagelayer", Name: "abc", Summary: "a layer's short name",
		Steps: []Step{{Action: actions.Symlink{Target: "../layers/abc", Link: link, Purpose: "give the layer a short name"}}}}
	_, err = Apply(context.Background(), actions.Exec{}, st, p, Each)
	var ae *ApplyError
	if !errors.As(err, &ae) {
		t.Fatalf("Apply: %v, want the step to fail", err)
	}
	if !strings.Contains(ae.Err.Error(), "File exists") {
		t.Errorf("the step's error is not the C locale's: %v", ae.Err)
	}
	if len(ae.Undone) != 0 {
		t.Errorf("undos run: %q, want none: the link was not plumb's", ae.Undone)
	}
	if got, err := os.Readlink(link); err != nil || got != "../not-plumbs" {
		t.Errorf("the link plumb did not make: %q, %v; want it left as it was", got, err)
	}
}
