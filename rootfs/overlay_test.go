package rootfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"plumb/actions"
	"plumb/plan"
	"plumb/plan/plantest"
)

func TestOverlayCheck(t *testing.T) {
	ok := Overlay{Lower: []string{"/l1", "/l2"}, Upper: "/u", Work: "/w", Merged: "/m"}
	many := make([]string, MaxLowerLayers+1)
	for i := range many {
		many[i] = fmt.Sprintf("/layers/%d", i)
	}
	tests := []struct {
		name, flag, msg string
		edit            func(*Overlay)
	}{
		{"no lower", "lower", "at least one lower layer", func(o *Overlay) { o.Lower = nil }},
		{"too many", "lower", "501 lower layers given; the kernel stacks at most 500", func(o *Overlay) { o.Lower = many }},
		{"upper alone", "work", "go together", func(o *Overlay) { o.Work = "" }},
		{"ro one layer", "lower", "at least two lower layers", func(o *Overlay) { o.Upper, o.Work, o.Lower = "", "", []string{"/l1"} }},
		{"no merged", "merged", "give the directory", func(o *Overlay) { o.Merged = "" }},
		{"bad name", "name", "not a name plumb can use", func(o *Overlay) { o.Name = "a/b" }},
		{"newline", "lower", "contains a newline", func(o *Overlay) { o.Lower[1] = "/l\n2" }},
		{"relative", "merged", "is not absolute", func(o *Overlay) { o.Merged = "m" }},
		{"root", "merged", "root directory", func(o *Overlay) { o.Merged = "/" }},
		{"dup lower", "lower", "/l1 is given twice (also as --lower)", func(o *Overlay) { o.Lower[1] = "/l1/" }},
		{"merged is lower", "merged", "/l2 is given twice (also as --lower)", func(o *Overlay) { o.Merged = "/l2" }},
		{"work in upper", "work", "inside the upper directory", func(o *Overlay) { o.Work = "/u/w" }},
		{"upper in work", "upper", "inside the work directory", func(o *Overlay) { o.Upper = "/w/u" }},
	}
	if err := (&ok).Check(); err != nil {
		t.Fatalf("valid input refused: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := ok
			o.Lower = append([]string(nil), ok.Lower...)
			tt.edit(&o)
			var r *plan.Refused
			if err := o.Check(); !errors.As(err, &r) || r.Flag != tt.flag || !strings.Contains(r.Msg, tt.msg) {
				t.Errorf("Check() = %v; want --%s: ...%s...", err, tt.flag, tt.msg)
			}
		})
	}
}

func TestOverlayObjectName(t *testing.T) {
	tests := map[string]string{
		"/merged":             "merged",
		"/var/lib/ctr-1/root": `var-lib-ctr\x2d1-root`,
		"/a b/.c":             `a\x20b-.c`,
	}
	for merged, want := range tests {
		o := Overlay{Merged: merged}
		if got := o.ObjectName(); got != want {
			t.Errorf("ObjectName(%q) = %q, want %q", merged, got, want)
		}
	}
}

// TestOverlayManyLayers: past one page of options the mount goes relative
// to the layers' common directory, and refuses when even that is too long.
func TestOverlayManyLayers(t *testing.T) {
	base := "/var/lib/plumb-layers/a-long-directory-name-to-make-paths-long"
	var lower []string
	for i := 0; i < 150; i++ {
		lower = append(lower, fmt.Sprintf("%s/layer-%03d/diff", base, i))
	}
	o := Overlay{Lower: lower, Upper: base + "/ctr/upper", Work: base + "/ctr/work", Merged: "/nonexistent/merged"}
	if err := o.Check(); err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Join(lower, ":")); n < 10000 {
		t.Fatalf("test layers take only %d bytes", n)
	}
	p, err := o.MountPlan()
	if err != nil {
		t.Fatal(err)
	}
	m := p.Steps[len(p.Steps)-1].Action.(actions.OverlayMount)
	if m.Dir != base {
		t.Errorf("mount runs in %q, want the common directory %q", m.Dir, base)
	}
	if m.Lower[0] != "layer-000/diff" || m.Upper != "ctr/upper" || m.Work != "ctr/work" || m.Merged != "/nonexistent/merged" {
		t.Errorf("relative mount = %+v", m)
	}
	argv := m.Argv()
	if diff := cmp.Diff([]string{"env", "-C", base, "mount", "-t", "overlay", "overlay", "-o"}, argv[:8]); diff != "" {
		t.Errorf("argv (-want +got):\n%s", diff)
	}
	if n := len(m.Options()); n > maxMountData {
		t.Errorf("options still %d bytes", n)
	}

	// Layers with no common directory but / and long names cannot fit.
	var far []string
	for i := 0; i < 300; i++ {
		far = append(far, fmt.Sprintf("/%s-%03d", strings.Repeat("x", 20), i))
	}
	o = Overlay{Lower: far, Merged: "/nonexistent/m"}
	var r *plan.Refused
	if _, err := o.MountPlan(); !errors.As(err, &r) || !strings.Contains(r.Msg, "even relative to their common directory /") {
		t.Errorf("Plan() = %v; want a refusal", err)
	}
}

func TestOverlayPlanMakesOnlyMissingDirs(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"l1", "upper"} {
		os.Mkdir(filepath.Join(dir, d), 0o755)
	}
	o := Overlay{Lower: []string{dir + "/l1"}, Upper: dir + "/upper", Work: dir + "/work", Merged: dir + "/merged"}
	p, err := o.MountPlan()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"mkdir -p " + dir + "/work",
		"mkdir -p " + dir + "/merged",
		fmt.Sprintf("mount -t overlay overlay -o lowerdir=%[1]s/l1,upperdir=%[1]s/upper,workdir=%[1]s/work %[1]s/merged", dir),
	}
	if diff := cmp.Diff(want, lines(p)); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
}

func TestMkdirUndoRemovesOnlyWhatItCreates(t *testing.T) {
	dir := t.TempDir()
	a := actions.Mkdir{Path: dir + "/a/b/c"}
	u, err := a.Prepare(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := actions.RmdirEmpty{Paths: []string{dir + "/a/b/c", dir + "/a/b", dir + "/a"}}
	if diff := cmp.Diff(want, u); diff != "" {
		t.Errorf("undo (-want +got):\n%s", diff)
	}
	os.MkdirAll(dir+"/a/b", 0o755)
	if u, _ := a.Prepare(context.Background(), nil); !cmp.Equal(u, actions.RmdirEmpty{Paths: []string{dir + "/a/b/c"}}) {
		t.Errorf("with parents present, undo = %v", u)
	}
	os.MkdirAll(dir+"/a/b/c", 0o755)
	if u, _ := a.Prepare(context.Background(), nil); u != nil {
		t.Errorf("with everything present, undo = %v; want none", u)
	}
}

// TestUmountFailureStopsUnwind: when the unmount fails (busy), the
// directories under the mount are not touched, and the journal keeps them.
func TestUmountFailureStopsUnwind(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(dir+"/l1", 0o755)
	st := plan.NewStore(t.TempDir())
	o := Overlay{Lower: []string{dir + "/l1"}, Upper: dir + "/u", Work: dir + "/w", Merged: dir + "/m"}
	p, err := o.MountPlan()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// A runner that really makes directories, so undos have something to find.
	mk := &dirRunner{}
	rec, err := plan.Apply(ctx, mk, st, p, plan.Each)
	if err != nil {
		t.Fatal(err)
	}
	busy := &plantest.FakeRunner{FailOn: "umount " + dir + "/m", FailStderr: "umount: " + dir + "/m: target is busy."}
	_, err = plan.Unwind(ctx, busy, st, rec)
	if err == nil || !strings.Contains(err.Error(), "stopped there") {
		t.Fatalf("unwind() = %v; want it to stop at the failed unmount", err)
	}
	if diff := cmp.Diff([]string{"umount " + dir + "/m"}, busy.Calls); diff != "" {
		t.Errorf("ran after a failed unmount (-want +got):\n%s", diff)
	}
	rec, err = st.Load("overlay", rec.Name)
	if err != nil || rec.State != plan.StateUndoFailed {
		t.Fatalf("journal: %v %v", rec, err)
	}
	// Once it is free, down finishes: unmount, then the directories.
	ok := &dirRunner{}
	if _, err := plan.Unwind(ctx, ok, st, rec); err != nil {
		t.Fatal(err)
	}
	want := []string{"umount " + dir + "/m", "rmdir --ignore-fail-on-non-empty " + dir + "/m",
		"rm -rf --one-file-system -- " + dir + "/w", "rmdir --ignore-fail-on-non-empty " + dir + "/u"}
	if diff := cmp.Diff(want, ok.Calls); diff != "" {
		t.Errorf("second down (-want +got):\n%s", diff)
	}
}

// dirRunner records commands and performs mkdir -p, so Prepare sees them.
type dirRunner struct{ plantest.FakeRunner }

func (d *dirRunner) Run(ctx context.Context, argv []string, stdin []byte) ([]byte, error) {
	if len(argv) == 3 && argv[0] == "mkdir" {
		os.MkdirAll(argv[2], 0o755)
	}
	return d.FakeRunner.Run(ctx, argv, stdin)
}
