package plan

import (
	"fmt"
	"strings"
)

// LayerKind is an imported layer's (layer import).
var LayerKind = Register(layerKind{})

type layerKind struct{ FactsCodec[LayerFacts] }

func (layerKind) Name() string      { return "layer" }
func (layerKind) FactsVersion() int { return 1 }

// LayerFacts are an imported layer's.
type LayerFacts struct {
	Dir  string `json:"dir"`
	File string `json:"file"` // the tarball it was unpacked from
}

// Kind is LayerKind.
func (LayerFacts) Kind() Kind { return LayerKind }

func (layerKind) DecodeDetails(d *DetailsReader) Facts {
	return LayerFacts{Dir: d.S("dir"), File: d.S("file")}
}

// Dependents are the containers whose root has the layer among its lower
// directories: deleting it would pull the files from under them.
func (layerKind) Dependents(st *Store, _ *Record, f Facts) []*Record {
	l, ok := f.(LayerFacts)
	if !ok {
		return nil
	}
	return rootUsers(st, l.Dir)
}

// BeforeDown refuses a layer a container runs on, but for those removed
// with it.
func (k layerKind) BeforeDown(env Env, rec *Record, opts DownOptions, _ bool) ([]*Record, error) {
	f, err := rec.Facts()
	if err != nil {
		return nil, err
	}
	if users := opts.notRemoved(k.Dependents(env.St, rec, f)); len(users) > 0 {
		return nil, &Refused{Msg: fmt.Sprintf("%s is a lower layer of %s; stop them first (plumb stop NAME)", rec.ID(), strings.Join(recordIDs(users), ", "))}
	}
	return nil, nil
}

// namesOf are recs' names.
func namesOf(recs []*Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Name
	}
	return out
}

// recordIDs are recs' IDs, kind/name.
func recordIDs(recs []*Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID()
	}
	return out
}
