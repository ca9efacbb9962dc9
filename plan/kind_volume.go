package plan

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// VolumeKind is a named volume's (volume create, or run -v NAME:DIR): a
// directory under the root that outlives the containers that mount it.
var VolumeKind = Register(volumeKind{})

type volumeKind struct{ FactsCodec[VolumeFacts] }

func (volumeKind) Name() string      { return "volume" }
func (volumeKind) FactsVersion() int { return 1 }

// VolumeFacts are a named volume's: its directory, and the one its
// containers mount (Docker's Mountpoint, DIR/_data).
type VolumeFacts struct {
	Dir  string `json:"dir"`
	Data string `json:"data"`
	// Project is the Compose project that made it ("" none): its down -v
	// removes it, and no other project's down does.
	Project string `json:"project,omitempty"`
}

// Kind is VolumeKind.
func (VolumeFacts) Kind() Kind { return VolumeKind }

// DecodeDetails: volumes came after typed facts; a map form has only the
// two paths, under the same names.
func (volumeKind) DecodeDetails(d *DetailsReader) Facts {
	return VolumeFacts{Dir: d.S("dir"), Data: d.S("data")}
}

// Volume is named volume name's directory: ROOT/volumes/NAME, as Docker
// keeps /var/lib/docker/volumes/NAME.
func (l Layout) Volume(name string) VolumeFacts {
	dir := filepath.Join(l.VolumesDir(), name)
	return VolumeFacts{Dir: dir, Data: filepath.Join(dir, "_data")}
}

// VolumesDir holds the named volumes.
func (l Layout) VolumesDir() string { return filepath.Join(l.RootDir(), "volumes") }

// MountFacts are one of a container's mounts besides its root, in
// docker inspect's terms: Type is bind, volume or tmpfs; Name is a
// volume's; Source the host directory (a volume's _data; "" for tmpfs);
// Mode what -v gave after the paths ("ro", "" for none); Options the
// runtime's mount options.
type MountFacts struct {
	Type        string   `json:"type"`
	Name        string   `json:"name,omitempty"`
	Source      string   `json:"source,omitempty"`
	Destination string   `json:"destination"`
	Mode        string   `json:"mode,omitempty"`
	RW          bool     `json:"rw"`
	Propagation string   `json:"propagation,omitempty"`
	Options     []string `json:"options,omitempty"`
}

// VolumeUsers are the containers that mount volume name.
func VolumeUsers(st *Store, name string) []*Record {
	recs, _ := st.Headers()
	var users []*Record
	for _, r := range OfKind(recs, ContainerKind) {
		f, err := r.Container()
		if err == nil && slices.ContainsFunc(f.Mounts, func(m MountFacts) bool { return m.Type == "volume" && m.Name == name }) {
			users = append(users, r)
		}
	}
	return users
}

// Dependents are the containers that mount the volume: removing it would
// pull their files from under them.
func (volumeKind) Dependents(st *Store, rec *Record, _ Facts) []*Record {
	return VolumeUsers(st, rec.Name)
}

// BeforeDown refuses a volume a container mounts, as docker volume rm
// does, but for containers removed with it.
func (k volumeKind) BeforeDown(env Env, rec *Record, opts DownOptions, _ bool) ([]*Record, error) {
	// A journal that cannot be read may be a container's that mounts it.
	if _, errs := env.St.Headers(); len(errs) > 0 {
		return nil, &Refused{Msg: fmt.Sprintf("volume %s is kept: %d journals cannot be read, and one may be a container's that mounts it (%v)", rec.Name, len(errs), errs[0])}
	}
	if users := opts.notRemoved(k.Dependents(env.St, rec, nil)); len(users) > 0 {
		return nil, &Refused{Msg: fmt.Sprintf("volume %s is in use by %s; remove them first (plumb rm NAME)", rec.Name, strings.Join(recordIDs(users), ", "))}
	}
	return nil, nil
}

// VolumeFacts reads a volume's facts.
func (r *Record) VolumeFacts() (VolumeFacts, error) {
	if !r.Is(VolumeKind) {
		return VolumeFacts{}, fmt.Errorf("%s is not a volume", r.ID())
	}
	f, err := r.Facts()
	if err != nil {
		return VolumeFacts{}, err
	}
	return f.(VolumeFacts), nil
}
