package compose

import (
	"slices"
	"sort"

	"plumb/actions"
	"plumb/plan"
	"plumb/rootfs"
)

// FromRecords is project name as plumb's records know it, without its
// file: its containers by their labels, its bridges and volumes by the
// project they record. What `compose -p NAME down` and `ps` work from
// when there is no file, as docker compose -p NAME down does.
func FromRecords(st *plan.Store, name string) (*Project, error) {
	p, err := Recorded(st, name)
	if err != nil {
		return nil, err
	}
	if len(p.Services) == 0 && len(p.Networks) == 0 && len(p.Volumes) == 0 {
		return nil, plan.Refuse("project-name", "plumb keeps nothing of a project named %s (and there is no Compose file here)", name)
	}
	return p, nil
}

// Recorded is FromRecords, empty when plumb keeps nothing of the project:
// what plumb recover rolls an interrupted up back with (an up killed
// before it made anything left a journal and no object).
func Recorded(st *plan.Store, name string) (*Project, error) {
	p := &Project{Name: name}
	cur, err := Read(st, name)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, rec := range cur.Containers {
		svc := labels(rec)[LabelService]
		if !seen[svc] {
			seen[svc] = true
			p.Services = append(p.Services, Service{Name: svc})
		}
	}
	sort.Slice(p.Services, func(i, j int) bool { return p.Services[i].Name < p.Services[j].Name })
	recs, _ := st.Headers()
	for _, r := range recs {
		switch {
		case r.Is(plan.BridgeKind):
			if f, err := r.BridgeFacts(); err == nil && f.Project == name {
				p.Networks = append(p.Networks, Network{Key: r.Name, Name: r.Name, Bridge: actions.IfName(r.Name)})
			}
		case r.Is(plan.VolumeKind):
			if f, err := r.VolumeFacts(); err == nil && f.Project == name {
				p.Volumes = append(p.Volumes, Volume{Key: r.Name, Name: r.Name})
			}
		}
	}
	return p, nil
}

// MissingImages are the images of the project's services that plumb does
// not keep, each once, in the order of the services: what up pulls first,
// as docker compose up pulls what is missing.
func (p *Project) MissingImages(st *plan.Store) []string {
	var out []string
	for _, s := range p.Services {
		if s.Spec.Image == "" || slices.Contains(out, s.Spec.Image) {
			continue
		}
		if _, _, err := rootfs.FindImage(st, s.Spec.Image); err != nil {
			out = append(out, s.Spec.Image)
		}
	}
	return out
}
