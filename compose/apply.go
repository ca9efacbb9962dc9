package compose

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"plumb/actions"
	"plumb/network"
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

// Apply makes the changes in order, saying a line for each on w. When
// one fails, or plumb is told to stop (SIGINT, SIGTERM), what this call did
// is undone in reverse: what it made is removed, and the containers it
// removed (replaced, scaled down, orphans) are made again from the
// configuration their labels keep, with their addresses. The project is
// then as it was, or as the file says: never a mix. A plumb killed
// outright (SIGKILL) leaves each object whole or rolled back by `plumb
// recover`, as every plan; the project may then be part old, part new,
// and `plumb compose up` again finishes it.
func (p *Project) Apply(ctx context.Context, env plan.Env, cs []*Change, w io.Writer) error {
	var done []*Change
	j := &projectJournal{Project: p.Name}
	path := journalPath(env.St.Layout, p.Name)
	for _, c := range Pending(cs) {
		err := context.Cause(ctx)
		if err == nil {
			// Write-ahead: the change, and what it removes, before it runs.
			j.Changes = append(j.Changes, entryOf(c))
			err = env.St.WriteJSON(path, j)
		}
		if err == nil {
			item := p.Progress.Step(c.Kind + " " + c.Name + ": " + c.Do)
			_, err = c.run(ctx, env, false)
			item.Done(err)
		}
		if err != nil {
			p.Progress.Wait() // the bars end before the rollback's lines
			err = fmt.Errorf("%s: %w", c, err)
			done = append(done, c) // what it removed before failing
			fmt.Fprintf(w, "%v\nrolling back what this up did\n", err)
			if rerr := p.rollback(ctx, env, done, w); rerr != nil {
				return errors.Join(err, fmt.Errorf("the rollback failed: %w; plumb compose down removes the project (its journal %s says what this up did)", rerr, path))
			}
			os.Remove(path)
			return fmt.Errorf("%w (rolled back: the project is as it was)", err)
		}
		done = append(done, c)
		fmt.Fprintln(w, c.String()+": done")
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Down applies the removals of DownChanges, stopping at the first that
// fails: what is removed stays removed (down again goes on from there).
func (p *Project) Down(ctx context.Context, env plan.Env, cs []*Change, w io.Writer) error {
	for _, c := range Pending(cs) {
		if _, err := c.run(ctx, env, false); err != nil {
			return fmt.Errorf("%s: %w", c, err)
		}
		fmt.Fprintln(w, c.String()+": done")
	}
	return nil
}

// rollback undoes done in reverse, on a context of its own: a signal that
// stopped the up does not stop its rollback.
func (p *Project) rollback(parent context.Context, env plan.Env, done []*Change, w io.Writer) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), 5*time.Minute)
	defer cancel()
	var errs []error
	for _, c := range slices.Backward(done) {
		if c.made {
			var err error
			switch {
			case c.Do == "update":
				if err = undoUpdate(ctx, env, c.Name, c.oldPorts, c.oldNames, c.oldLabels); err == nil {
					fmt.Fprintf(w, "container %s: as it was before the update\n", c.Name)
					continue
				}
			case c.Kind == "container":
				err = p.undoCreated(ctx, env, c.Name, nil)
			case c.Kind == "network":
				err = removeRecord(ctx, env, plan.BridgeKind.Name(), c.bridge, p.Name)
			case c.Kind == "volume":
				err = removeRecord(ctx, env, plan.VolumeKind.Name(), c.Name, p.Name)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("removing %s %s again: %w", c.Kind, c.Name, err))
				continue
			}
			fmt.Fprintf(w, "%s %s: removed again\n", c.Kind, c.Name)
		}
		if u := c.unfinished; u != nil {
			if err := finishRemoval(ctx, env, u, c); err != nil {
				errs = append(errs, fmt.Errorf("finishing the removal of %s: %w", u.ID(), err))
				continue
			}
		}
		for _, rec := range slices.Backward(c.removed) {
			if !rec.Is(plan.ContainerKind) {
				continue // a container's attachments are made again with it
			}
			if err := p.remake(ctx, env, rec, c.removed); err != nil {
				errs = append(errs, fmt.Errorf("making %s again: %w", rec.Name, err))
				continue
			}
			fmt.Fprintf(w, "container %s: made again as it was\n", rec.Name)
		}
	}
	return errors.Join(errs...)
}

// finishRemoval runs again the undos a failed removal left in rec's
// journal (they are idempotent), and in those of what rec held and went
// with it (a container's sandbox and root file system, listed after it in
// c.remove), so that the object can be made again.
func finishRemoval(ctx context.Context, env plan.Env, rec *plan.Record, c *Change) error {
	recs := []*plan.Record{rec}
	for _, r := range c.remove {
		if plan.IsHeld(r) {
			recs = append(recs, r)
		}
	}
	for _, r := range recs {
		fresh, err := env.St.Load(r.Kind, r.Name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return err
		}
		opts := plan.DownOptions{Grace: -1}
		if (r.Is(plan.ContainerKind) || r.Is(plan.RootfsKind)) && c.purge != "" {
			opts.Purge = actions.RemoveTree{Path: c.purge}
		}
		if _, err := plan.Remove(ctx, env, []*plan.Record{fresh}, opts, false); err != nil {
			return err
		}
	}
	return nil
}

// removeRecord undoes one object this up made: a bridge or volume of
// project (another's, or one made by hand, is left as it is).
func removeRecord(ctx context.Context, env plan.Env, kind, name, project string) error {
	rec, err := env.St.Load(kind, name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	var owner string
	if f, err := rec.BridgeFacts(); err == nil {
		owner = f.Project
	} else if f, err := rec.VolumeFacts(); err == nil {
		owner = f.Project
	}
	if owner != project {
		return nil
	}
	_, err = plan.Remove(ctx, env, []*plan.Record{rec}, plan.DownOptions{}, false)
	return err
}

// remake makes a removed container again from its record: the service's
// configuration its label keeps, its published ports and its addresses.
func (p *Project) remake(ctx context.Context, env plan.Env, rec *plan.Record, with []*plan.Record) error {
	f, err := ContainerIn(rec, with)
	if err != nil {
		return err
	}
	var spec Spec
	if err := json.Unmarshal([]byte(f.Labels[LabelSpec]), &spec); err != nil {
		return fmt.Errorf("its configuration label cannot be read: %w", err)
	}
	if len(spec.Networks) == 0 {
		return errors.New("its configuration names no network")
	}
	n, err := strconv.Atoi(f.Labels[LabelNumber])
	if err != nil {
		return fmt.Errorf("its number label %q: %w", f.Labels[LabelNumber], err)
	}
	s := Service{Name: f.Labels[LabelService], Replicas: n, Spec: spec}
	if f.Net != nil {
		s.Ports = f.Net.Ports
	}
	rc, err := p.containerRecipe(env, s, n, nil, p.opts)
	if err != nil {
		return err
	}
	if rc.ImageID != spec.ImageID {
		return fmt.Errorf("its image %s is now %s, not the %s it ran", spec.Image, short(rc.ImageID), short(spec.ImageID))
	}
	rc.Labels[LabelHash], rc.Labels[LabelSpec] = f.Labels[LabelHash], f.Labels[LabelSpec]
	_, err = p.createContainer(ctx, env, s, rc, nil, false, dryAlloc{}, oldOf(with))
	return err
}

func short(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
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
	for _, s := range p.Disabled {
		order[s] = len(p.Services) + 1 // the file's, of a profile not asked for: removed first
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
		if f, err := rec.BridgeFacts(); err != nil || f.Project != p.Name {
			continue // not made by this project: never removed by its down
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
			if f, err := rec.VolumeFacts(); err != nil || f.Project != p.Name {
				continue // not made by this project
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

// undoUpdate puts a container an update changed in place back: its
// published ports, and the names its records answer to (by record ID)
// and its labels, as they were. A record gone since is left gone.
func undoUpdate(ctx context.Context, env plan.Env, name string, ports []plan.Port, names map[string][]string, labels map[string]string) error {
	rec, err := env.St.LoadHeader(plan.ContainerKind.Name(), name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := republish(ctx, env, rec, ports, false); err != nil {
		return err
	}
	for _, id := range slices.Sorted(maps.Keys(names)) {
		if len(names[id]) == 0 {
			continue // a record of before names were kept: its own name stays
		}
		kind, n, _ := strings.Cut(id, "/")
		cur, err := env.St.LoadHeader(kind, n)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		r := &network.Rename{Rec: cur, Names: names[id]}
		if cur.Is(plan.ContainerKind) {
			r.Labels = labels
		}
		if _, err := plan.Up(ctx, env, r, false); err != nil {
			return err
		}
	}
	return nil
}
