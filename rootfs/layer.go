package rootfs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"plumb/actions"
	"plumb/plan"
)

// Layer is `layer import`: a root file system tarball (plain or
// compressed) unpacked as a layer under the state directory, which `run
// --layer NAME` can name.
type Layer struct {
	Name string
	File string // absolute
	// MaxEntries is the most entries the tarball may hold (0: no limit).
	MaxEntries int
}

// Check applies the rules of the input alone.
func (l *Layer) Check() error {
	if err := plan.CheckObjectName("name", l.Name); err != nil {
		return err
	}
	if st, err := os.Stat(l.File); err != nil || st.IsDir() {
		return plan.Refuse("<file>", "%s is not a tarball that can be read", l.File)
	}
	return nil
}

// Plan makes the layer's directory and unpacks the tarball into it. The
// directory that holds layers is made 0700 first: the layer's own
// directory takes the mode of the tarball's "./" (0755, as a root file
// system's is), and its setuid files and device nodes must be reachable by
// root alone.
func (l *Layer) Plan(_ context.Context, env plan.Env) ([]*plan.Plan, error) {
	if err := env.St.TrustRoot(false); err != nil {
		return nil, err
	}
	dir := env.St.LayerDir(l.Name)
	steps := env.St.PrivateDirs(filepath.Dir(dir), plan.IsThere)
	steps = append(steps, plan.Step{Action: actions.Mkdir{Path: dir}}, plan.Step{Action: actions.Extract{File: l.File, Dir: dir}})
	return []*plan.Plan{{Kind: plan.LayerKind.Name(), Name: l.Name, Summary: fmt.Sprintf("layer %s from %s", dir, l.File),
		Facts: plan.LayerFacts{Dir: dir, File: l.File}, Steps: steps}}, nil
}

// Preflight refuses a layer whose directory exists (plumb never unpacks
// over what is there) and a tarball that would not fit.
func (l *Layer) Preflight(_ context.Context, env plan.Env) ([]string, error) {
	dir := env.St.LayerDir(l.Name)
	if _, err := os.Stat(dir); err == nil {
		return nil, plan.Refuse("name", "layer %s exists (%s); `plumb down layer/%s` removes it", l.Name, dir, l.Name)
	}
	return nil, checkSpace(l.File, env.St.RootDir(), l.MaxEntries)
}

// Locks: as ImageGet.
func (l *Layer) Locks() []plan.Lock { return []plan.Lock{plan.ImagesLock(false)} }
