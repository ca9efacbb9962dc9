package plan

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRootTrusted: the root (--root) is refused as the state directory is
// when another user could write it or a parent of it; a missing one is
// checked by its parents that are there; one others can enter is closed
// when the lock is taken; one holding what plumb does not make is refused
// and left alone.
func TestRootTrusted(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, root string)
		want  string // "" when trusted
	}{
		{"missing", func(t *testing.T, root string) {}, ""},
		{"own", func(t *testing.T, root string) { mkdir(t, root, 0o700) }, ""},
		{"writable", func(t *testing.T, root string) { mkdir(t, root, 0o777) }, "--root: root " + "ROOT is writable by group or others (mode 0777)"},
		{"parent writable", func(t *testing.T, root string) { chmod(t, filepath.Dir(root), 0o777) }, "a parent of the root ROOT, is writable by group or others"},
		{"foreign", func(t *testing.T, root string) {
			mkdir(t, root, 0o700)
			if err := os.Chown(root, nobody, nobody); err != nil {
				t.Skip("chown needs root:", err)
			}
		}, "is owned by uid 65534"},
		{"link", func(t *testing.T, root string) {
			other := filepath.Join(t.TempDir(), "other")
			mkdir(t, other, 0o700)
			chmod(t, other, 0o777)
			if err := os.Symlink(other, root); err != nil {
				t.Fatal(err)
			}
		}, "is writable by group or others"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			root := filepath.Join(base, "lib", "plumb")
			mkdir(t, filepath.Dir(root), 0o700)
			tc.setup(t, root)
			st := NewStoreAt(filepath.Join(base, "run"), root)
			err := st.TrustRoot(false)
			want := strings.ReplaceAll(tc.want, "ROOT", root)
			if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
				t.Fatalf("TrustRoot() = %v; want %q", err, want)
			}
			var r *Refused
			if err != nil && !errors.As(err, &r) {
				t.Errorf("TrustRoot() = %T; want a *Refused", err)
			}
			if tc.name == "missing" {
				if _, err := os.Stat(root); err == nil {
					t.Error("TrustRoot(false) made the root")
				}
				if err := st.TrustRoot(true); err != nil {
					t.Fatal(err)
				}
				if fi, err := os.Stat(root); err != nil || fi.Mode().Perm() != 0o700 {
					t.Errorf("TrustRoot(true) made %v, %v; want 0700", fi, err)
				}
			}
		})
	}
}

// TestRootClosed: taking the lock closes a root others can enter (made by
// hand, 0755) when it holds nothing but plumb's, and refuses one that
// holds more.
func TestRootClosed(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	root := filepath.Join(base, "lib")
	mkdir(t, root, 0o755)
	mkdir(t, filepath.Join(root, "layers"), 0o755)
	st := NewStoreAt(filepath.Join(base, "run"), root)
	if err := st.Lock(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	st.Unlock()
	for _, d := range []string{root, filepath.Join(root, "layers")} {
		if fi, err := os.Stat(d); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v, %v; want mode 0700", d, fi, err)
		}
	}
	chmod(t, root, 0o755)
	if err := os.WriteFile(filepath.Join(root, "mine"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	st = NewStoreAt(filepath.Join(base, "run"), root)
	err := st.Lock(ctx, time.Second)
	if err == nil {
		st.Unlock()
	}
	if err == nil || !strings.Contains(err.Error(), "--root: root "+root+" is mode 0755") || !strings.Contains(err.Error(), "(mine)") {
		t.Errorf("Lock() = %v; want the root refused, naming mine", err)
	}
	if fi, _ := os.Stat(root); fi.Mode().Perm() != 0o755 {
		t.Errorf("root made %04o; want it left alone", fi.Mode().Perm())
	}
}

// TestLayoutRoot: layers, overlays and images are under the root, journals
// under the state directory; an old layout's layer or overlay is found
// where it is while it is there alone.
func TestLayoutRoot(t *testing.T) {
	base := t.TempDir()
	st := NewStoreAt(filepath.Join(base, "run"), filepath.Join(base, "lib"))
	if got, want := st.Layer("a"), filepath.Join(base, "lib", "layers", "a"); got != want {
		t.Errorf("Layer() = %s; want %s", got, want)
	}
	if got, want := st.ImageLayer("sha256:ab"), filepath.Join(base, "lib", "image", "layers", "ab"); got != want {
		t.Errorf("ImageLayer() = %s; want %s", got, want)
	}
	if got, want := st.Journal("layer", "a"), filepath.Join(base, "run", "objects", "layer", "a.json"); got != want {
		t.Errorf("journal() = %s; want %s", got, want)
	}
	if got := NewStore(base).Layer("a"); got != filepath.Join(base, "layers", "a") {
		t.Errorf("without a root, Layer() = %s; want it in the state directory", got)
	}
	mkdir(t, filepath.Join(base, "run", "layers", "a"), 0o700)
	mkdir(t, filepath.Join(base, "run", "overlay", "c", "upper"), 0o700)
	if got, want := st.LayerDir("a"), filepath.Join(base, "run", "layers", "a"); got != want {
		t.Errorf("LayerDir() = %s; want the old one, %s", got, want)
	}
	if got, want := st.OverlayOf("c").Upper, filepath.Join(base, "run", "overlay", "c", "upper"); got != want {
		t.Errorf("OverlayOf().Upper = %s; want the old one, %s", got, want)
	}
	if got, want := st.OverlayOf("d").Upper, filepath.Join(base, "lib", "overlay", "d", "upper"); got != want {
		t.Errorf("OverlayOf().Upper = %s; want %s", got, want)
	}
	mkdir(t, filepath.Join(base, "lib", "layers", "a"), 0o700)
	if got, want := st.LayerDir("a"), filepath.Join(base, "lib", "layers", "a"); got != want {
		t.Errorf("LayerDir() = %s; want the root's, %s", got, want)
	}
	if got, want := ImageLayerOf("/run/plumb/image/l/abcde", "sha256:ff"), "/run/plumb/image/layers/ff"; got != want {
		t.Errorf("ImageLayerOf() = %s; want %s", got, want)
	}
}

// TestRewritePaths: a path is rewritten where it stands whole, and what is
// below it with it; never inside a longer name, nor below another path.
func TestRewritePaths(t *testing.T) {
	from, to := []string{"/run/plumb/layers/a", "/run/plumb/image/l/xy"}, []string{"/var/lib/plumb/layers/a", "/var/lib/plumb/image/l/xy"}
	for _, tc := range []struct {
		in, want string
		n        int
	}{
		{`"/run/plumb/layers/a"`, `"/var/lib/plumb/layers/a"`, 1},
		{`"/run/plumb/layers/a/upper"`, `"/var/lib/plumb/layers/a/upper"`, 1},
		{`"/run/plumb/layers/ab"`, `"/run/plumb/layers/ab"`, 0},
		{`"/x/run/plumb/layers/a"`, `"/x/run/plumb/layers/a"`, 0},
		{`"lowerdir=/run/plumb/image/l/xy:/run/plumb/image/l/xyz,upperdir=/u"`, `"lowerdir=/var/lib/plumb/image/l/xy:/run/plumb/image/l/xyz,upperdir=/u"`, 1},
		{`"layer /run/plumb/layers/a from f", "/run/plumb/layers/a"`, `"layer /var/lib/plumb/layers/a from f", "/var/lib/plumb/layers/a"`, 2},
		{`"/run/plumb/layers/a.partial"`, `"/run/plumb/layers/a.partial"`, 0},
	} {
		got, n := rewritePaths([]byte(tc.in), from, to)
		if string(got) != tc.want || n != tc.n {
			t.Errorf("rewritePaths(%s) = %s, %d; want %s, %d", tc.in, got, n, tc.want, tc.n)
		}
		back, _ := rewritePaths(got, to, from)
		if string(back) != tc.in {
			t.Errorf("rewritePaths back = %s; want %s", back, tc.in)
		}
	}
}

func mkdir(t *testing.T, dir string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(dir, mode); err != nil {
		t.Fatal(err)
	}
	chmod(t, dir, mode)
}
