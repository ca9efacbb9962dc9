package rootfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"plumb/actions"
	"plumb/plan"
)

// MaxLowerLayers is the kernel's limit on an overlay's lower layers.
const MaxLowerLayers = 500

// maxMountData is what fits in the one page of options mount(2) takes,
// with room to spare for what mount(8) adds.
const maxMountData = 4000

// Overlay is a container root file system: read-only layers (topmost
// first, as in the document) under one writable layer, merged into one view.
// Field names match the flags that fill them.
type Overlay struct {
	Name   string   // names the object; derived from Merged when empty
	Lower  []string // absolute, topmost first
	Upper  string   // "" with Work "" for a read-only mount
	Work   string
	Merged string
	// LaidOut: with only Name given, upper, work and merged are laid out
	// under the state directory (Layout.Overlay), as Docker's overlay2 does
	// under /var/lib/docker.
	LaidOut bool
	// Base is the laid-out overlay's own directory under the root
	// (Layout.Overlay(Name).Base), made 0700 with the directories above
	// it, before upper, work and merged; "" for directories the user
	// gave. Layout is the store's, whose root it is below.
	Base   string
	Layout plan.Layout
}

// Check applies the rules that need no host.
func (o *Overlay) Check() error {
	if o.Name != "" {
		if err := plan.CheckObjectName("name", o.Name); err != nil {
			return err
		}
	}
	if len(o.Lower) == 0 {
		return plan.Refuse("lower", "give at least one lower layer")
	}
	if len(o.Lower) > MaxLowerLayers {
		return plan.Refuse("lower", "%d lower layers given; the kernel stacks at most %d", len(o.Lower), MaxLowerLayers)
	}
	if o.LaidOut {
		return nil // the directories are laid out by Plan
	}
	return o.checkDirs()
}

// checkDirs applies the rules of the directories given or laid out.
func (o *Overlay) checkDirs() error {
	if (o.Upper == "") != (o.Work == "") {
		return plan.Refuse("work", "--upper and --work go together: give both for a writable mount, or neither for a read-only one")
	}
	if o.Upper == "" && len(o.Lower) < 2 {
		return plan.Refuse("lower", "a read-only overlay (no --upper) needs at least two lower layers")
	}
	if o.Merged == "" {
		return plan.Refuse("merged", "give the directory to mount on, or --name NAME alone to lay out upper, work and merged under the state directory")
	}
	seen := map[string]string{}
	check := func(flag, p string) error {
		if p == "" {
			return nil
		}
		if strings.ContainsAny(p, "\n\r\x00") {
			return plan.Refuse(flag, "path %q contains a newline or NUL; plumb refuses it (mount tables cannot show it faithfully)", p)
		}
		if !filepath.IsAbs(p) {
			return plan.Refuse(flag, "path %q is not absolute", p)
		}
		c := filepath.Clean(p)
		if c == "/" {
			return plan.Refuse(flag, "the root directory cannot be an overlay layer or mount point")
		}
		if prev, dup := seen[c]; dup {
			return plan.Refuse(flag, "%s is given twice (also as --%s); every layer and directory must be distinct", c, prev)
		}
		seen[c] = flag
		return nil
	}
	for _, l := range o.Lower {
		if err := check("lower", l); err != nil {
			return err
		}
	}
	for _, f := range []struct{ flag, path string }{{"upper", o.Upper}, {"work", o.Work}, {"merged", o.Merged}} {
		if err := check(f.flag, f.path); err != nil {
			return err
		}
	}
	if o.Upper != "" {
		if plan.Within(o.Work, o.Upper) {
			return plan.Refuse("work", "%s is inside the upper directory %s; they must be separate", o.Work, o.Upper)
		}
		if plan.Within(o.Upper, o.Work) {
			return plan.Refuse("upper", "%s is inside the work directory %s; they must be separate", o.Upper, o.Work)
		}
	}
	return nil
}

// ObjectName is the name the overlay is filed under: --name, or the merged
// path escaped as systemd escapes paths (/mnt/ctr-1 -> mnt-ctr\x2d1).
func (o *Overlay) ObjectName() string {
	if o.Name != "" {
		return o.Name
	}
	var b strings.Builder
	for i, r := range []byte(strings.Trim(filepath.Clean(o.Merged), "/")) {
		switch {
		case r == '/':
			b.WriteByte('-')
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '.' && i > 0:
			b.WriteByte(r)
		default:
			fmt.Fprintf(&b, `\x%02x`, r)
		}
	}
	return b.String()
}

// Plan creates the directories that are missing, then mounts. Which ones are
// missing is read from the host, so --dry-run shows exactly what will run.
func (o *Overlay) Plan(_ context.Context, env plan.Env) ([]*plan.Plan, error) {
	if o.LaidOut {
		if err := env.St.TrustRoot(false); err != nil {
			return nil, err
		}
	}
	o, layout := o.laidOut(env), ""
	if o.LaidOut {
		layout = o.Base
	}
	if err := o.checkDirs(); err != nil {
		return nil, err
	}
	p, err := o.MountPlan()
	if err != nil {
		return nil, err
	}
	f := p.Facts.(plan.OverlayFacts)
	f.Layout = layout
	p.Facts = f
	return []*plan.Plan{p}, nil
}

// Again: the same input is nothing to do.
func (o *Overlay) Again(rec *plan.Record, p *plan.Plan) (string, error) {
	f, err := rec.OverlayFacts()
	if err != nil {
		return "", err
	}
	how := "plumb overlay unmount --merged " + actions.Quote([]string{f.Merged})
	if f.Layout != "" {
		how = "plumb overlay unmount --name " + rec.Name
	}
	return plan.Again(rec, p, "mounted", how)
}

// Preflight checks the host before anything runs.
func (o *Overlay) Preflight(_ context.Context, env plan.Env) ([]string, error) {
	return nil, o.laidOut(env).CheckHost()
}

// laidOut is the overlay with its directories: for one laid out by plumb
// (LaidOut), a copy with those of the state directory's layout filled in;
// otherwise o, whose directories were given.
func (o *Overlay) laidOut(env plan.Env) *Overlay {
	if !o.LaidOut {
		return o
	}
	d := env.St.OverlayOf(o.Name)
	w := *o
	w.Upper, w.Work, w.Merged = d.Upper, d.Work, d.Merged
	w.Base, w.Layout = d.Base, env.St.Layout
	return &w
}

// MountPlan is the plan that makes the overlay's missing directories and
// mounts it (a container's root is planned so too).
func (o *Overlay) MountPlan() (*plan.Plan, error) {
	// Directories are made in order; made remembers what earlier steps
	// will have created, so the plan is exact before anything runs.
	var steps []plan.Step
	made := map[string]bool{}
	exists := func(p string) bool {
		if made[p] {
			return true
		}
		_, err := os.Lstat(p)
		return err == nil
	}
	mkdir := func(p string, scratch bool) {
		steps = append(steps, plan.Step{Action: actions.Mkdir{Path: p, Scratch: scratch}})
		for ; !made[p] && p != filepath.Dir(p); p = filepath.Dir(p) {
			made[p] = true
		}
	}
	if o.Base != "" {
		// The overlay's own directory, and overlay/ above it: upper holds
		// what the container writes (a setuid file among it), and the
		// layers' files show at merged.
		for _, s := range o.Layout.PrivateDirs(o.Base, exists) {
			steps = append(steps, s)
			made[s.Action.(actions.Mkdir).Path] = true
		}
	}
	if o.Upper != "" {
		if !exists(o.Upper) {
			mkdir(o.Upper, false)
		}
		if !exists(o.Work) {
			if !exists(filepath.Dir(o.Work)) {
				mkdir(filepath.Dir(o.Work), false)
			}
			mkdir(o.Work, true)
		}
	}
	if !exists(o.Merged) {
		mkdir(o.Merged, false)
	}
	m := actions.OverlayMount{Lower: o.Lower, Upper: o.Upper, Work: o.Work, Merged: o.Merged}
	if len(m.Options()) > maxMountData {
		m = relativeMount(m)
		if n := len(m.Options()); n > maxMountData {
			return nil, plan.Refuse("lower", "the layers' paths take %d bytes of mount options even relative to their common directory %s; the kernel takes about %d: use shorter paths (Docker uses short symlinks)", n, m.Dir, maxMountData)
		}
	}
	steps = append(steps, plan.Step{Action: m})
	kind := "read-write"
	if o.Upper == "" {
		kind = "read-only"
	}
	return &plan.Plan{
		Kind: plan.OverlayKind.Name(), Name: o.ObjectName(),
		Summary: fmt.Sprintf("%s overlay of %d layers at %s", kind, len(o.Lower), o.Merged),
		Facts:   plan.OverlayFacts{LowerDir: strings.Join(o.Lower, ":"), UpperDir: o.Upper, WorkDir: o.Work, Merged: o.Merged},
		Steps:   steps,
	}, nil
}

// relativeMount rewrites the layer paths relative to their common directory,
// the command to run there: the same mount, in fewer bytes.
func relativeMount(m actions.OverlayMount) actions.OverlayMount {
	dir := filepath.Dir(m.Lower[0])
	for _, l := range m.Lower[1:] {
		for !plan.Within(l, dir) {
			dir = filepath.Dir(dir)
		}
	}
	rel := func(p string) string {
		if p == "" || !plan.Within(p, dir) {
			return p
		}
		r, _ := filepath.Rel(dir, p)
		return r
	}
	out := actions.OverlayMount{Merged: m.Merged, Dir: dir, Upper: rel(m.Upper), Work: rel(m.Work)}
	for _, l := range m.Lower {
		out.Lower = append(out.Lower, rel(l))
	}
	return out
}

// CheckHost checks the host before anything runs: lower layers are
// directories, work is empty, upper and work share a file system, merged is
// not already a mount point, and no directory is the same as another.
func (o *Overlay) CheckHost() error {
	type id struct{ dev, ino uint64 }
	seen := map[id]string{}
	for _, l := range o.Lower {
		var st syscall.Stat_t
		if err := syscall.Stat(l, &st); err != nil {
			return plan.Refuse("lower", "layer %s does not exist or cannot be read: %v", l, err)
		}
		if st.Mode&syscall.S_IFMT != syscall.S_IFDIR {
			return plan.Refuse("lower", "layer %s is not a directory", l)
		}
		k := id{st.Dev, st.Ino}
		if prev, dup := seen[k]; dup {
			return plan.Refuse("lower", "%s and %s are the same directory", prev, l)
		}
		seen[k] = l
	}
	if o.Upper != "" {
		ud, err := nearestDev(o.Upper)
		if err != nil {
			return plan.Refuse("upper", "%v", err)
		}
		wd, err := nearestDev(o.Work)
		if err != nil {
			return plan.Refuse("work", "%v", err)
		}
		if ud != wd {
			return plan.Refuse("work", "%s and the upper directory %s are on different file systems; overlay needs them on the same one", o.Work, o.Upper)
		}
		if entries, err := os.ReadDir(o.Work); err == nil && len(entries) > 0 {
			return plan.Refuse("work", "%s is not empty; overlay needs an empty work directory", o.Work)
		}
	}
	mounted, err := actions.Mounts()
	if err != nil {
		return err
	}
	if real, err := filepath.EvalSymlinks(o.Merged); err == nil && mounted[real] != "" {
		return plan.Refuse("merged", "%s is already a mount point", o.Merged)
	}
	return nil
}

// nearestDev is the device of p, or of its nearest existing parent.
func nearestDev(p string) (uint64, error) {
	for {
		var st syscall.Stat_t
		err := syscall.Stat(p, &st)
		if err == nil {
			return st.Dev, nil
		}
		if !errors.Is(err, syscall.ENOENT) || p == filepath.Dir(p) {
			return 0, fmt.Errorf("checking %s: %w", p, err)
		}
		p = filepath.Dir(p)
	}
}

// FindOverlay finds the overlay object mounted at merged.
func FindOverlay(st *plan.Store, merged string) (*plan.Record, error) {
	recs, errs := st.Headers()
	for _, r := range recs {
		if f, ok := r.Overlay(); ok && r.Is(plan.OverlayKind) && f.Merged == filepath.Clean(merged) {
			return st.Load(r.Kind, r.Name) // whole and checked: it is to be undone
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return nil, os.ErrNotExist
}

// Locks: an overlay holds its name (and its laid-out directory).
func (o *Overlay) Locks() []plan.Lock {
	return []plan.Lock{plan.ObjectLock(plan.OverlayKind.Name(), o.ObjectName())}
}
