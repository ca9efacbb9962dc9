// Package volume holds named volumes: directories under plumb's root that
// outlive the containers that mount them, as Docker's local volumes do.
package volume

import (
	"context"
	"fmt"
	"regexp"

	"plumb/actions"
	"plumb/plan"
)

// Volume is `volume create NAME` (and what `run -v NAME:DIR` makes when
// NAME does not exist yet): ROOT/volumes/NAME/_data.
type Volume struct {
	Name string
	// Project is the Compose project that makes it ("": plumb volume
	// create, run -v), kept in its facts.
	Project string
}

// nameRule is Docker's for volume names: a letter or digit, then letters,
// digits, '_', '.' and '-'.
var nameRule = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// CheckName applies Docker's rule for volume names.
func CheckName(flag, name string) error {
	if !nameRule.MatchString(name) || len(name) > 64 {
		return plan.Refuse(flag, "%q is not a volume name: 2 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit (as Docker's)", name)
	}
	return nil
}

// Check applies the rules of the input alone.
func (v *Volume) Check() error { return CheckName("<name>", v.Name) }

// Plan makes the volume's directories: volumes/ for root alone like the
// root's other directories, NAME (whose undo deletes it with everything
// in it: what containers wrote is the volume's, removed with it) and
// NAME/_data, which containers mount, 0755 as Docker makes it.
func (v *Volume) Plan(_ context.Context, env plan.Env) ([]*plan.Plan, error) {
	if err := env.St.TrustRoot(false); err != nil {
		return nil, err
	}
	f := env.St.Volume(v.Name)
	f.Project = v.Project
	steps := env.St.PrivateDirs(env.St.VolumesDir(), plan.IsThere)
	steps = append(steps,
		plan.Step{Action: actions.Mkdir{Path: f.Dir, Holds: "the volume's data", Mode: 0o700,
			Purpose: fmt.Sprintf("create %s for volume %s, for root alone (mode 0700)", f.Dir, v.Name)}},
		plan.Step{Action: actions.Mkdir{Path: f.Data, Mode: 0o755,
			Purpose: fmt.Sprintf("create %s, which containers mount as volume %s", f.Data, v.Name)}})
	return []*plan.Plan{{Kind: plan.VolumeKind.Name(), Name: v.Name, Summary: "volume " + f.Data, Facts: f, Steps: steps}}, nil
}

// Again: asking for a volume that exists does nothing, as docker volume
// create does.
func (v *Volume) Again(rec *plan.Record, p *plan.Plan) (string, error) {
	return plan.Again(rec, p, "there", "plumb volume rm "+v.Name)
}

// Preflight has nothing to check beyond the plan's own steps.
func (v *Volume) Preflight(context.Context, plan.Env) ([]string, error) { return nil, nil }

// Locks: the volume's own name.
func (v *Volume) Locks() []plan.Lock {
	return []plan.Lock{plan.ObjectLock(plan.VolumeKind.Name(), v.Name)}
}
