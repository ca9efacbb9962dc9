package compose

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"plumb/plan"
)

// The project's journal: while an up runs, STATE/compose/PROJECT.json
// says, ahead of each change, what the change is and what it removes
// (the records, as they were). A plumb killed in the middle leaves it:
// each object's own journal is then whole or rolled back by plumb
// recover, and the next compose up or down rolls the project back from
// it to what it was before that up, so that the project is never part
// old, part new for longer than that.
type projectJournal struct {
	Project string         `json:"project"`
	Changes []journalEntry `json:"changes"`
}

type journalEntry struct {
	Kind     string         `json:"kind"`
	Name     string         `json:"name"`
	Do       string         `json:"do"`
	Bridge   string         `json:"bridge,omitempty"`
	Removed  []*plan.Record `json:"removed,omitempty"` // headers: facts, no steps
	OldPorts []plan.Port    `json:"old_ports,omitempty"`
	// An update's records' names before it, by record ID, and its
	// container's labels (an alias changed in place).
	OldNames  map[string][]string `json:"old_names,omitempty"`
	OldLabels map[string]string   `json:"old_labels,omitempty"`
}

// JournalPath is the journal an up of project keeps while it runs.
func JournalPath(l plan.Layout, project string) string { return journalPath(l, project) }

func journalPath(l plan.Layout, project string) string {
	return filepath.Join(l.Dir, "compose", plan.IndexKey(project)+".json")
}

func entryOf(c *Change) journalEntry {
	e := journalEntry{Kind: c.Kind, Name: c.Name, Do: c.Do, Bridge: c.bridge, OldPorts: c.oldPorts, OldNames: c.oldNames, OldLabels: c.oldLabels}
	for _, r := range c.remove {
		h := *r
		h.Steps = nil
		e.Removed = append(e.Removed, &h)
	}
	return e
}

func readJournal(l plan.Layout, project string) (*projectJournal, error) {
	j, err := readJournalFile(journalPath(l, project))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return j, err
}

func readJournalFile(path string) (*projectJournal, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var j projectJournal
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &j, nil
}

// InterruptedProjects are the projects whose up was interrupted: those a
// journal is left of (its project as it says, else its file's name).
func InterruptedProjects(l plan.Layout) []string {
	ents, err := os.ReadDir(filepath.Join(l.Dir, "compose"))
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		key, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !e.Type().IsRegular() {
			continue
		}
		name := key
		if j, err := readJournalFile(filepath.Join(l.Dir, "compose", e.Name())); err == nil && j.Project != "" && plan.IndexKey(j.Project) == key {
			name = j.Project
		}
		out = append(out, name)
	}
	return out
}

// Interrupted says whether an up of the project was interrupted: its
// journal is there (plan says so; up and down roll it back first).
func (p *Project) Interrupted(st *plan.Store) bool {
	j, err := readJournal(st.Layout, p.Name)
	return err != nil || j != nil
}

// Recover rolls back an up of the project that a killed plumb left, from
// its journal: what it made is removed, what it removed is made again
// (from the configuration their labels keep), a port it changed is put
// back. The objects' own journals must be recovered first (plumb
// recover): an interrupted one is refused, named.
//
// Before a down (down true), what the up removed is not made again: down
// removes the project anyway, and a container that cannot be made as it
// was (its image's tag moved since) would otherwise keep the project
// from ever going.
func (p *Project) Recover(ctx context.Context, env plan.Env, o Options, down bool, w io.Writer) error {
	p.opts, p.removing = o, down
	path := journalPath(env.St.Layout, p.Name)
	j, err := readJournal(env.St.Layout, p.Name)
	if err != nil {
		return fmt.Errorf("%w: an up of project %s was interrupted and its journal cannot be read; plumb compose down removes what the project has once the file is gone (rm %s)", err, p.Name, path)
	}
	if j == nil {
		return nil
	}
	if j.Project != p.Name {
		return fmt.Errorf("%s is the journal of project %q, not %s: remove it", path, j.Project, p.Name)
	}
	// A container's sandbox or root held by nothing (a kill between a
	// chain's marks) is recover's too: the rollback's remake would be
	// refused the name.
	if bad := append(plan.Interrupted(env.St), plan.Orphans(env.St)...); len(bad) > 0 {
		var ids []string
		for _, r := range bad {
			ids = append(ids, r.ID())
		}
		return plan.Refuse("", "an up of project %s was interrupted, and so were %v: run plumb recover first, then this again", p.Name, ids)
	}
	fmt.Fprintf(w, "an up of project %s was interrupted: rolling it back\n", p.Name)
	var errs []error
	for _, e := range slices.Backward(j.Changes) {
		if err := p.undoEntry(ctx, env, e, w); err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", e.Kind, e.Name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("rolling back the interrupted up of project %s: %w; its journal %s is kept (plumb compose down removes the project)", p.Name, err, path)
	}
	return os.Remove(path)
}

// undoEntry puts back what one change of the journal did, judging by
// what is there now: the change may have run in full, in part or not at
// all.
func (p *Project) undoEntry(ctx context.Context, env plan.Env, e journalEntry, w io.Writer) error {
	switch e.Kind {
	case "network":
		if e.Do == "create" {
			if err := removeRecord(ctx, env, plan.BridgeKind.Name(), e.Bridge, p.Name); err != nil {
				return err
			}
			fmt.Fprintf(w, "network %s: removed again\n", e.Name)
		}
		return nil
	case "volume":
		if e.Do == "create" {
			if err := removeRecord(ctx, env, plan.VolumeKind.Name(), e.Name, p.Name); err != nil {
				return err
			}
			fmt.Fprintf(w, "volume %s: removed again\n", e.Name)
		}
		return nil
	case "container":
	default:
		return fmt.Errorf("the journal names a %q, which plumb's compose does not make", e.Kind)
	}
	cur, err := env.St.Load(plan.ContainerKind.Name(), e.Name)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if e.Do == "update" {
		if cur == nil {
			return nil
		}
		if err := undoUpdate(ctx, env, e.Name, e.OldPorts, e.OldNames, e.OldLabels); err != nil {
			return err
		}
		fmt.Fprintf(w, "container %s: as it was before the update\n", e.Name)
		return nil
	}
	var old *plan.Record
	for _, r := range e.Removed {
		if r.Is(plan.ContainerKind) {
			old = r
		}
	}
	if cur != nil && labels(cur)[LabelProject] != p.Name {
		return nil // another's (a name another project holds): not this up's
	}
	if cur != nil && (old == nil || labels(cur)[LabelHash] != labels(old)[LabelHash]) {
		// What this up made: removed.
		if err := p.undoCreated(ctx, env, e.Name, nil); err != nil {
			return err
		}
		fmt.Fprintf(w, "container %s: removed again\n", e.Name)
		cur = nil
	}
	if old != nil && cur == nil && !p.removing {
		if err := p.remake(ctx, env, old, e.Removed); err != nil {
			return err
		}
		fmt.Fprintf(w, "container %s: made again as it was\n", e.Name)
	}
	return nil
}
