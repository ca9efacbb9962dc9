package volume

import (
	"os"
	"path/filepath"
	"testing"
)

// TestResolve: a destination is resolved inside the root: absolute and
// climbing symbolic links of the image stay in it; a missing one or a file
// is an error CopyUp reads as nothing to copy.
func TestResolve(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"etc", "data"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{"abs": "/etc", "climb": "../../../../etc", "data/up": "../../.."} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	for dest, want := range map[string]string{"/data": "data", "/abs": "etc", "/climb": "etc", "/data/up": "", "/../../etc": "etc"} {
		got, err := Resolve(root, dest)
		if w := filepath.Join(root, want); err != nil || got != w {
			t.Errorf("Resolve(%s): %q, %v; want %q", dest, got, err, w)
		}
	}
	for _, dest := range []string{"/missing", "/file"} {
		if got, err := Resolve(root, dest); err == nil {
			t.Errorf("Resolve(%s) = %q, want an error", dest, got)
		}
	}
}
