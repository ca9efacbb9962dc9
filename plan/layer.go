package plan

import (
	"context"
	"fmt"
	"os"

	"plumb/actions"
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
	if err := CheckObjectName("name", l.Name); err != nil {
		return err
	}
	if st, err := os.Stat(l.File); err != nil || st.IsDir() {
		return refuse("<file>", "%s is not a tarball that can be read", l.File)
	}
	return nil
}

// Plan makes the layer's directory and unpacks the tarball into it.
func (l *Layer) Plan(_ context.Context, env Env) ([]*Plan, error) {
	dir := env.St.Layer(l.Name)
	return []*Plan{{Kind: "layer", Name: l.Name, Summary: fmt.Sprintf("layer %s from %s", dir, l.File),
		Facts: LayerFacts{Dir: dir, File: l.File},
		Steps: []Step{{Action: actions.Mkdir{Path: dir}}, {Action: actions.Extract{File: l.File, Dir: dir}}}}}, nil
}

// Preflight refuses a layer whose directory exists (plumb never unpacks
// over what is there) and a tarball that would not fit.
func (l *Layer) Preflight(_ context.Context, env Env) ([]string, error) {
	dir := env.St.Layer(l.Name)
	if _, err := os.Stat(dir); err == nil {
		return nil, refuse("name", "layer %s exists (%s); `plumb down layer/%s` removes it", l.Name, dir, l.Name)
	}
	return nil, checkSpace(l.File, env.St.Dir, l.MaxEntries)
}
