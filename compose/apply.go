package compose

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"

	"plumb/plan"
)

// Pending are the changes that do something (not keep, not a named orphan).
func Pending(cs []*Change) []*Change {
	var out []*Change
	for _, c := range cs {
		if c.Do != "keep" && c.Do != "orphan" {
			out = append(out, c)
		}
	}
	return out
}

// PlanAll plans every change (a dry run), filling their Plans.
func PlanAll(ctx context.Context, env plan.Env, cs []*Change) error {
	for _, c := range Pending(cs) {
		ps, err := c.run(ctx, env, true)
		if err != nil {
			return fmt.Errorf("%s: %w", c, err)
		}
		c.Plans = ps
	}
	return nil
}

// Apply makes the changes in order, saying a line for each on w. A
// service is made whole or not at all: when one of its containers fails,
// those this call made for it are removed again (each container's own
// steps were rolled back by its plan). What was removed to be replaced
// stays removed: the error says so.
func (p *Project) Apply(ctx context.Context, env plan.Env, cs []*Change, w io.Writer) error {
	made := map[string][]string{} // service: containers made by this call
	for _, c := range Pending(cs) {
		_, err := c.run(ctx, env, false)
		if err != nil {
			err = fmt.Errorf("%s: %w", c, err)
			for _, name := range slices.Backward(made[c.Service]) {
				err = p.undoCreated(ctx, env, name, err)
				fmt.Fprintf(w, "container %s: removed again (service %s failed)\n", name, c.Service)
			}
			return err
		}
		if c.Kind == "container" && c.create != nil {
			made[c.Service] = append(made[c.Service], c.Name)
		}
		fmt.Fprintln(w, c.String()+": done")
	}
	return nil
}

// DownChanges are the removals of `compose down`: the containers of the
// file's services (and of services it no longer has, with orphans), then
// its networks, then with volumes its named volumes. External networks
// and volumes are never touched.
func (p *Project) DownChanges(env plan.Env, volumes, orphans bool, grace int) ([]*Change, error) {
	cur, err := Read(env.St, p.Name)
	if err != nil {
		return nil, err
	}
	var out []*Change
	order := map[string]int{}
	for i, s := range p.Services {
		order[s.Name] = i + 1
	}
	var names []string
	for name := range cur.Containers {
		names = append(names, name)
	}
	// Dependents first: the reverse of the start order.
	slices.SortFunc(names, func(a, b string) int {
		sa, sb := order[labels(cur.Containers[a])[LabelService]], order[labels(cur.Containers[b])[LabelService]]
		if sa != sb {
			return sb - sa
		}
		if a < b {
			return -1
		}
		return 1
	})
	for _, name := range names {
		rec := cur.Containers[name]
		svc := labels(rec)[LabelService]
		c := &Change{Service: svc, Kind: "container", Name: name, Do: "remove", grace: grace}
		if order[svc] == 0 && !orphans {
			c.Do, c.Why = "orphan", "its service is not in the file: --remove-orphans removes it"
			out = append(out, c)
			continue
		}
		if err := p.removal(env, c, rec); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	for _, n := range slices.Backward(p.Networks) {
		if n.External {
			continue
		}
		rec, err := env.St.Load(plan.BridgeKind.Name(), n.Bridge.String())
		if errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return nil, err
		}
		out = append(out, &Change{Kind: "network", Name: n.Name, Do: "remove", remove: []*plan.Record{rec}})
	}
	if volumes {
		for _, v := range p.Volumes {
			if v.External {
				continue
			}
			rec, err := env.St.Load(plan.VolumeKind.Name(), v.Name)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			} else if err != nil {
				return nil, err
			}
			out = append(out, &Change{Kind: "volume", Name: v.Name, Do: "remove", remove: []*plan.Record{rec}})
		}
	}
	return out, nil
}

// Text writes the changes grouped as they run, each under a line that
// says what becomes of the object, with its commands; "nothing to do"
// when none changes anything.
func Text(w io.Writer, cs []*Change) error {
	if len(Pending(cs)) == 0 {
		for _, c := range cs {
			if c.Do == "orphan" {
				fmt.Fprintf(w, "# %s\n", c)
			}
		}
		_, err := fmt.Fprintln(w, "nothing to do")
		return err
	}
	service := "\x00"
	for _, c := range cs {
		if c.Service != service && c.Service != "" {
			fmt.Fprintf(w, "## service %s\n", c.Service)
		}
		service = c.Service
		if _, err := fmt.Fprintf(w, "# %s\n", c); err != nil {
			return err
		}
		for _, p := range c.Plans {
			if err := p.Text(w); err != nil {
				return err
			}
		}
	}
	return nil
}

// JSON writes the changes as one document: each with its object, what
// becomes of it, and its plans.
func JSON(w io.Writer, cs []*Change) error {
	type change struct {
		Service string            `json:"service,omitempty"`
		Kind    string            `json:"kind"`
		Name    string            `json:"name"`
		Do      string            `json:"do"`
		Why     string            `json:"why,omitempty"`
		Plans   []json.RawMessage `json:"plans,omitempty"`
	}
	doc := struct {
		FormatVersion int      `json:"format_version"`
		Changes       []change `json:"changes"`
	}{FormatVersion: plan.FormatVersion, Changes: []change{}}
	for _, c := range cs {
		ch := change{Service: c.Service, Kind: c.Kind, Name: c.Name, Do: c.Do, Why: c.Why}
		for _, p := range c.Plans {
			var b jsonBuffer
			if err := p.JSON(&b); err != nil {
				return err
			}
			ch.Plans = append(ch.Plans, json.RawMessage(b))
		}
		doc.Changes = append(doc.Changes, ch)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

type jsonBuffer []byte

func (b *jsonBuffer) Write(p []byte) (int, error) { *b = append(*b, p...); return len(p), nil }

// Joined is every change's plans as one, for a runbook (-o sh).
func Joined(project string, cs []*Change) *plan.Plan {
	var plans []*plan.Plan
	for _, c := range cs {
		plans = append(plans, c.Plans...)
	}
	return plan.Joined("compose", project, plans)
}
