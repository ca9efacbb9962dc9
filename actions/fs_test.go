package actions

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A directory plumb made 0700 that has since been opened to others is
// drift that `plumb check` names: its mode and the one plumb gave it. A
// Mkdir without a mode checks only that the directory is there.
func TestMkdirVerifyMode(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "layers")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := (Mkdir{Path: dir, Mode: 0o700}).Verify(context.Background(), nil); err != nil {
		t.Errorf("0700 as made: %v", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	err := (Mkdir{Path: dir, Mode: 0o700}).Verify(context.Background(), nil)
	if want := "directory " + dir + " is mode 0755, not 0700 as plumb made it"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("opened to others: %v; want %q", err, want)
	}
	if err := (Mkdir{Path: dir}).Verify(context.Background(), nil); err != nil {
		t.Errorf("no mode asked: %v", err)
	}
}
