package plan

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"plumb/actions"
)

// UndoTimeout bounds how long undoing may take once plumb was told to stop
// (SIGINT, SIGTERM): undos finish, so the host ends as it began, but a
// hung command cannot keep plumb running for ever. A second signal ends
// plumb at once; the journal keeps what is left for `plumb recover`.
const UndoTimeout = 2 * time.Minute

// undoContext is ctx for undoing: not cancelled with ctx (a signal that
// stopped the apply must not stop its rollback), bounded by UndoTimeout
// from the moment ctx is cancelled.
func undoContext(ctx context.Context) (context.Context, context.CancelFunc) {
	u, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(UndoTimeout, cancel)
		context.AfterFunc(u, func() { t.Stop() })
	})
	return u, func() { stop(); cancel() }
}

// undoable reports whether unwinding must reverse this step: it ran, may
// have run (started, then a crash), failed but may have done part of its
// work, or its undo failed before. A shared setting's hold is released
// whatever the step's command did.
func undoable(s *StepRecord) bool {
	switch s.Status {
	case Done, Started, UndoFailed:
		return true
	case Failed:
		return s.Shared != "" || !clashed(s)
	}
	return false
}

// clashed reports whether a failed step failed because what it makes was
// there before (see actions.Clasher): its undo would remove what is not
// plumb's. Any other failed step may have done part of its work, and is
// undone.
func clashed(s *StepRecord) bool {
	a, err := s.Action.Decode()
	if err != nil {
		return true // undo nothing on a doubt
	}
	c, ok := a.(actions.Clasher)
	return ok && c.Clash(s.Error)
}

// Unwind undoes a record's steps in reverse. Every undo is tried; failures
// are collected and kept in the journal. With none, the journal is removed.
// It works on a full disk: see progress.
func Unwind(ctx context.Context, r actions.Runner, st *Store, rec *Record) ([]string, error) {
	return unwindMode(ctx, r, st, rec, Each)
}

// unwindMode is unwind; in Batch mode, consecutive undos that one process
// of their tool can run (iptables -D and -X of any table, ip link del, on
// the host) run as one, as applies are batched: a bridge's rules go in one
// iptables-restore. Should that process fail (a rule already gone makes
// iptables-restore refuse its table's block), its undos are run again one
// by one, where each is judged as always: undos are idempotent.
func unwindMode(ctx context.Context, r actions.Runner, st *Store, rec *Record, mode Mode) ([]string, error) {
	ctx, cancel := undoContext(ctx)
	defer cancel()
	log := zerolog.Ctx(ctx)
	p := newProgress(ctx, st)
	was := rec.State
	rec.State = StateUndoing
	if err := p.save(rec); err != nil {
		return nil, err
	}
	var ran []string
	var errs []error
	batched := map[int]bool{} // steps undone by a batch
	alone := map[int]bool{}   // steps whose batch failed: undone one by one
	for i := len(rec.Steps) - 1; i >= 0; i-- {
		s := &rec.Steps[i]
		if !undoable(s) {
			continue
		}
		if mode == Batch && !batched[i] && !alone[i] {
			cmds, group, ok := undoBatch(ctx, r, rec, i)
			for _, j := range group {
				if !ok {
					alone[j] = true
					continue
				}
				batched[j] = true
				rec.Steps[j].Status = Undone
			}
			if ok {
				ran = append(ran, cmds...)
				if err := p.save(rec); err != nil {
					return ran, err
				}
			}
		}
		if batched[i] {
			continue
		}
		if s.Shared == "" && s.Undo == nil {
			// Nothing to run (a later undo covers it: deleting a veth
			// takes the container's addresses and routes with it), so no
			// journal write of its own: the next one records it, and
			// redoing nothing after a crash is safe. A detach wrote its
			// journal once per step before its one ip link del.
			s.Status = Undone
			continue
		}
		cmds, quiet, err := undoStep(ctx, r, st, rec, s)
		ran = append(ran, cmds...)
		if err != nil {
			log.Error().Err(err).Msgf("undo of step %d failed", i+1)
			s.Status, s.Error = UndoFailed, err.Error()
			errs = append(errs, fmt.Errorf("undoing step %d: %w", i+1, err))
		} else {
			s.Status = Undone
			if quiet {
				continue // the next write records it (see undoStep)
			}
		}
		if err := p.save(rec); err != nil {
			return ran, err
		}
		if err != nil && isBarrier(s) {
			errs = append(errs, fmt.Errorf("stopped there: the undos of steps 1 to %d depend on it and stay journaled", i))
			break
		}
	}
	if len(errs) == 0 && rec.Purge != nil {
		cmds, err := purge(ctx, r, st.Layout, rec)
		ran = append(ran, cmds...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		rec.State = StateUndoFailed
		if err := p.save(rec); err != nil {
			errs = append(errs, err)
		}
		if err := p.behind(rec, was); err != nil {
			errs = append(errs, err)
		}
		return ran, errors.Join(errs...)
	}
	return ran, st.Remove(rec)
}

// purge runs what rec's teardown deletes after its undos (Record.Purge).
// Deleting a tree again is harmless, so a recover that finds the journal
// runs it again.
func purge(ctx context.Context, r actions.Runner, l Layout, rec *Record) ([]string, error) {
	a, err := rec.Purge.Decode()
	if err != nil {
		return nil, err
	}
	if err := l.checkPurge(a); err != nil {
		return nil, err
	}
	cmd := actions.Quote(a.Argv())
	zerolog.Ctx(ctx).Info().Msgf("purge: %s", cmd)
	if err := run(ctx, r, a); err != nil {
		return []string{cmd}, fmt.Errorf("purging: %w", err)
	}
	return []string{cmd}, nil
}

// Purge deletes what a teardown left behind when no object is left to tear
// down (a named overlay's layout after its unmount): a journal of its own,
// in the undoing state, holds the deletion while it runs, so that it is
// never run outside one.
func Purge(ctx context.Context, env Env, kind, name string, a actions.Action) ([]string, error) {
	if err := env.St.Layout.checkPurge(a); err != nil {
		return nil, err
	}
	e, err := encode(a)
	if err != nil {
		return nil, err
	}
	rec := &Record{FormatVersion: FormatVersion, Kind: kind, Name: name, State: StateUndoing,
		Summary: "purge: " + actions.Quote(a.Argv()), PID: os.Getpid(), Created: time.Now().UTC(), Purge: e}
	return unwindMode(ctx, env.R, env.St, rec, env.Mode)
}

// progress saves where undoing stands in each journal, and works on a full
// disk: a big layer can fill the state directory (by default a tmpfs), and
// recover, which saved before every undo, then failed at its first write,
// every time. A save that fails for want of space is skipped, with a
// warning, and undoing goes on: the journal keeps its last whole version
// (saves are atomic), from which undoing again is safe, as undos are
// idempotent; once undone, removing the journal frees its space.
type progress struct {
	ctx  context.Context
	st   *Store
	full map[*Record]error // the first save skipped, by journal
}

func newProgress(ctx context.Context, st *Store) *progress {
	return &progress{ctx: ctx, st: st, full: map[*Record]error{}}
}

// save saves rec, or skips it on a full disk.
func (p *progress) save(rec *Record) error {
	err := p.st.Save(rec)
	if err == nil {
		delete(p.full, rec) // up to date again: an undo freed space
		return nil
	}
	if !isFull(err) {
		return err
	}
	if p.full[rec] == nil {
		p.full[rec] = err
		zerolog.Ctx(p.ctx).Warn().Msgf("%s: the state directory is full (%v); undoing goes on without updating its journal, which is removed when all is undone", rec.ID(), err)
	}
	return nil
}

// behind says that rec's journal, kept because an undo failed, was not
// updated and still reads as before the undo (its state was was): what
// to run again once there is space.
func (p *progress) behind(rec *Record, was State) error {
	err := p.full[rec]
	if err == nil {
		return nil
	}
	again := "plumb recover"
	if was == StateUp {
		again = "plumb down " + rec.ID()
	}
	return fmt.Errorf("%s: the state directory is full, so its journal still reads as before this undo (state %s): undoing it again is safe; free some space, then run `%s`", rec.ID(), was, again)
}

// undoStep runs s's undo. inProcess says it was one plumb does itself (a
// file or directory removed, an unmount, a namespace deleted:
// actions.InProcess), which takes microseconds against the tenth of a
// millisecond of a journal write: unwinding leaves such an undo, done, to
// be recorded by the next write (the next process's undo, a failure, or
// the journal's removal at the end). A crash before that leaves it
// journaled as not undone, and recover runs it again, which is safe: undos
// are idempotent, and these find their work gone.
func undoStep(ctx context.Context, r actions.Runner, st *Store, rec *Record, s *StepRecord) (cmds []string, inProcess bool, err error) {
	log := zerolog.Ctx(ctx)
	if s.Shared != "" {
		cmds, err := release(ctx, r, st, rec.ID(), s.Shared)
		return cmds, false, err
	}
	if s.Undo == nil {
		return nil, false, nil
	}
	u, err := s.Undo.Decode()
	if err != nil {
		return nil, false, err
	}
	if _, ok := u.(actions.Targeted); ok {
		if err := checkTarget(rec, u); err != nil {
			log.Info().Msgf("skipping %s: %v; what it would remove went with the namespace", actions.Quote(u.Argv()), err)
			return nil, false, nil
		}
	}
	cmd := actions.Quote(u.Argv())
	if inEffect(ctx, r, s, u) {
		log.Info().Str("object", rec.ID()).Msgf("not run: %s (step started, never done: what its undo makes is there)", cmd)
		return nil, false, nil
	}
	log.Info().Str("object", rec.ID()).Msgf("undo: %s", cmd)
	if err := run(ctx, r, u); err != nil {
		if g, ok := u.(actions.Tolerant); ok && g.Gone(actions.StderrOf(err)) {
			log.Info().Msgf("already gone: %s", cmd)
			return []string{cmd}, actions.InProcess(u), nil
		}
		return []string{cmd}, false, err
	}
	return []string{cmd}, actions.InProcess(u), nil
}

// inEffect reports whether s, a step that started and may never have run,
// has an undo whose effect is already in place: an update's removal of a
// recorded rule (Step.Reverts) undoes with the rule's `iptables -A`, and
// plumb killed after the journal said started, before the `-D` ran, would
// otherwise leave the rule twice after recover. Only undos that can say
// so (Verifier, as `plumb check` asks them) are asked.
func inEffect(ctx context.Context, r actions.Runner, s *StepRecord, u actions.Action) bool {
	v, ok := asksFirst(s, u)
	return ok && v.Verify(ctx, r) == nil
}

// asksFirst is u as a Verifier when s started and never finished: its
// undo is asked whether its effect is there before it runs (inEffect),
// which keeps it out of a batch of undos.
func asksFirst(s *StepRecord, u actions.Action) (actions.Verifier, bool) {
	v, ok := u.(actions.Verifier)
	return v, ok && s.Status == Started
}

// UndoPlan lists the commands undoing rec runs, in order, without
// running anything: what `down --dry-run` prints.
func UndoPlan(st *Store, rec *Record) ([]actions.Action, error) {
	l, err := st.LoadLedger()
	if err != nil {
		return nil, err
	}
	var out []actions.Action
	for i := len(rec.Steps) - 1; i >= 0; i-- {
		s := &rec.Steps[i]
		if !undoable(s) {
			continue
		}
		if s.Shared != "" {
			e := l.Entries[s.Shared]
			if e != nil && e.Restore != nil && len(st.holders(e.without(rec.ID()))) == 0 {
				u, err := e.Restore.Decode()
				if err != nil {
					return nil, err
				}
				out = append(out, u)
			}
			continue
		}
		if s.Undo != nil {
			u, err := s.Undo.Decode()
			if err != nil {
				return nil, err
			}
			out = append(out, u)
		}
	}
	if rec.Purge != nil {
		a, err := rec.Purge.Decode()
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// undoPlanOf is what undoing recs runs, in order, as one plan named
// kind/name: what Remove's dry run gives.
func undoPlanOf(st *Store, kind, name string, recs ...*Record) (*Plan, error) {
	p := &Plan{Kind: kind, Name: name}
	for _, rec := range recs {
		undos, err := UndoPlan(st, rec)
		if err != nil {
			return nil, err
		}
		for _, u := range undos {
			p.Steps = append(p.Steps, Step{Action: u})
		}
	}
	return p, nil
}

// Recover finishes the rollback of every plan that did not end: interrupted
// while applying or undoing, or left with an undo that failed. It is not
// Remove: what it undoes is a plan's own rollback, which no kind refuses
// and no dependent orders (an update's rollback even keeps the object);
// its dry run is Remove's with DownOptions.Rollback.
func Recover(ctx context.Context, r actions.Runner, st *Store) (recovered []string, err error) {
	all, errs := st.List()
	var recs []*Record
	for _, rec := range all {
		if rec.State != StateUp {
			recs = append(recs, rec)
		}
	}
	// Dependents first: a container before the sandbox and the root file
	// system a chain made for it (see chain).
	if len(recs) > 1 {
		recs = dependentsFirst(recs, ties(st, recs))
	}
	recovering := map[string]bool{}
	for _, rec := range recs {
		recovering[rec.ID()] = true
	}
	for _, rec := range recs {
		if IsHeld(rec) {
			// Never from under a container that is up and not being
			// recovered (one that joined it before the plan's end).
			deps, _ := DependentsOf(st, rec)
			var up []*Record
			for _, d := range deps {
				if !recovering[d.ID()] && d.State == StateUp {
					up = append(up, d)
				}
			}
			if len(up) > 0 {
				errs = append(errs, fmt.Errorf("%s: not undone: %s, which is up, runs in it; remove them, then recover again", rec.ID(), strings.Join(recordIDs(up), ", ")))
				continue
			}
		}
		zerolog.Ctx(ctx).Info().Msgf("recovering %s (state %s)", rec.ID(), rec.State)
		undo := Unwind
		if rec.Updating != nil {
			undo = unwindUpdate // the update alone: the object stays
		}
		if _, uerr := undo(ctx, r, st, rec); uerr != nil {
			errs = append(errs, fmt.Errorf("%s: %w", rec.ID(), uerr))
			continue
		}
		recovered = append(recovered, rec.ID())
	}
	// What a chain made and nothing holds (see Orphans) goes the same way.
	if len(errs) == 0 {
		for _, rec := range Orphans(st) {
			whole, lerr := st.Load(rec.Kind, rec.Name)
			if lerr != nil {
				errs = append(errs, lerr)
				continue
			}
			zerolog.Ctx(ctx).Info().Msgf("recovering %s, which nothing holds", rec.ID())
			if _, uerr := Unwind(ctx, r, st, whole); uerr != nil {
				errs = append(errs, fmt.Errorf("%s: %w", rec.ID(), uerr))
				continue
			}
			recovered = append(recovered, rec.ID())
		}
	}
	// Entries a crash left without their journal go: the index is made
	// again from the journals there are (when there was one; journals
	// that cannot be read leave it unbuilt, and the journals are read).
	if _, err := os.Lstat(st.IndexDir()); err == nil {
		if err := st.RebuildIndex(); err != nil {
			errs = append(errs, fmt.Errorf("rebuilding the index: %w", err))
		}
	}
	return recovered, errors.Join(errs...)
}

// Orphans are the objects up that are there for others (Held) and that
// nothing holds: a sandbox with no container, a root file system whose
// container is gone. Nothing plumb finishes leaves one; a crash between
// the objects of a chain (a container's), or of a removal, does, and
// recover removes it (headers: Load one to undo it).
func Orphans(st *Store) []*Record {
	recs, errs := st.Headers()
	if len(errs) > 0 {
		return nil // a journal that cannot be read may be a holder's
	}
	var out []*Record
	for _, r := range recs {
		if _, held := capability[Held](r); !held || r.State != StateUp {
			continue
		}
		if deps, err := DependentsOf(st, r); err == nil && len(deps) == 0 {
			out = append(out, r)
		}
	}
	return out
}

// Interrupted lists the objects whose plan did not end, for commands that
// point the user to `plumb recover` (headers only: Load one to undo it). A
// journal whose writer still runs (another plumb applying it, read without
// the lock), or whose object's lock another process holds, is work in
// progress, not interrupted.
func Interrupted(st *Store) []*Record {
	recs, ok := st.unfinished()
	if !ok {
		recs, _ = st.Headers()
	}
	var out []*Record
	for _, r := range recs {
		if r.State != StateUp && !writing(r) && !st.lockedElsewhere(r.Kind, r.Name) {
			out = append(out, r)
		}
	}
	return out
}

// writing reports whether the plumb process that last wrote rec still runs.
func writing(rec *Record) bool {
	if rec.PID <= 0 || rec.PID == os.Getpid() {
		return false
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", rec.PID))
	return err == nil && strings.HasPrefix(strings.TrimSpace(string(comm)), "plumb")
}

func isBarrier(s *StepRecord) bool {
	if s.Undo == nil {
		return false
	}
	u, err := s.Undo.Decode()
	if err != nil {
		return false
	}
	_, ok := u.(actions.Barrier)
	return ok
}

// UnwindAll undoes many objects. Deleting a link makes the kernel wait for a
// grace period (about 20 ms here), once per request: deleting 200 veths one
// by one takes seconds, while deleting them as one link group takes one
// request. So, in batch mode, the objects whose only undo is deleting one
// host link (attachments) are put in a link group of plumb's choosing and
// deleted together; every other object is undone on its own, in reverse.
func UnwindAll(ctx context.Context, r actions.Runner, st *Store, recs []*Record, mode Mode) ([]string, error) {
	ctx, cancel := undoContext(ctx)
	defer cancel()
	var ran []string
	var errs []error
	var grouped []*Record
	var links []actions.LinkDel
	for i := len(recs) - 1; i >= 0 && mode == Batch; i-- {
		if del, ok := onlyHostLinkDel(recs[i]); ok {
			grouped, links = append(grouped, recs[i]), append(links, del)
		}
	}
	if len(grouped) < 2 {
		grouped, links = nil, nil
	}
	inGroup := map[*Record]bool{}
	for _, rec := range grouped {
		inGroup[rec] = true
	}
	for i := len(recs) - 1; i >= 0; i-- {
		if inGroup[recs[i]] {
			continue
		}
		cmds, err := unwindMode(ctx, r, st, recs[i], mode)
		ran = append(ran, cmds...)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", recs[i].ID(), err))
		}
	}
	if len(grouped) > 0 {
		cmds, err := deleteLinkGroup(ctx, r, st, grouped, links)
		ran = append(ran, cmds...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return ran, errors.Join(errs...)
}

// onlyHostLinkDel reports whether undoing rec means deleting one link of the
// host and nothing else, and which.
func onlyHostLinkDel(rec *Record) (actions.LinkDel, bool) {
	var del actions.LinkDel
	found := false
	for i := range rec.Steps {
		s := &rec.Steps[i]
		if !undoable(s) {
			continue
		}
		if s.Shared != "" {
			return del, false
		}
		if s.Undo == nil {
			continue
		}
		u, err := s.Undo.Decode()
		if err != nil || found {
			return del, false
		}
		d, ok := u.(actions.LinkDel)
		if !ok || !d.In.IsHost() || !actions.Bare(d.Name.String()) {
			return del, false
		}
		del, found = d, true
	}
	return del, found
}

// linkGroupBase is where plumb starts looking for a free link group number
// (0 is "default"; small numbers are the ones people pick by hand).
const linkGroupBase = 0x504c // "PL"

// deleteLinkGroup deletes many links in one request: one `ip -force -batch`
// that puts each in a free link group, then deletes the group. -force goes
// on past a link that is already gone, and the stderr names each failing
// line, so every object learns its own outcome.
func deleteLinkGroup(ctx context.Context, r actions.Runner, st *Store, recs []*Record, links []actions.LinkDel) ([]string, error) {
	log := zerolog.Ctx(ctx)
	p := newProgress(ctx, st)
	was := map[*Record]State{}
	for _, rec := range recs {
		was[rec] = rec.State
		rec.State = StateUndoing
		if err := p.save(rec); err != nil {
			return nil, err
		}
	}
	inUse, err := actions.LinkGroups(ctx, r, actions.Netns{})
	if err != nil {
		return nil, err
	}
	gid := linkGroupBase
	for inUse[fmt.Sprint(gid)] {
		gid++
	}
	var lines, ran []string
	for i, l := range links {
		cmd := actions.Quote(l.Argv())
		log.Info().Str("object", recs[i].ID()).Msgf("undo: %s", cmd)
		ran = append(ran, cmd)
		lines = append(lines, fmt.Sprintf("link set dev %s group %d", l.Name, gid))
	}
	lines = append(lines, fmt.Sprintf("link del group %d", gid))
	argv := []string{"ip", "-force", "-batch", "-"}
	log.Info().Msgf("%d links deleted in one request, as link group %d: %s (link set dev NAME group %d; link del group %d)", len(links), gid, actions.Quote(argv), gid, gid)
	_, runErr := r.Run(ctx, argv, []byte(strings.Join(lines, "\n")+"\n"))
	lineErrs := actions.FailedLines(actions.StderrOf(runErr))
	if runErr != nil && len(lineErrs) == 0 {
		lineErrs[len(lines)] = strings.TrimSpace(runErr.Error()) // did not run: nothing was deleted
		for i := range links {
			lineErrs[i+1] = lineErrs[len(lines)]
		}
	}
	// Deleting the group fails with "No such device" when none of the links
	// was left in it: each was gone already.
	delErr, delFailed := lineErrs[len(lines)]
	if delFailed && strings.Contains(delErr, "No such device") {
		delFailed = false
	}
	var errs []error
	for i, rec := range recs {
		msg, failed := lineErrs[i+1]
		switch {
		case failed && links[i].Gone(msg):
			log.Info().Msgf("already gone: %s", ran[i])
			failed = false
		case !failed && delFailed:
			failed, msg = true, delErr
		}
		for j := range rec.Steps {
			if s := &rec.Steps[j]; undoable(s) {
				s.Status = Undone
				if failed {
					s.Status, s.Error = UndoFailed, msg
				}
			}
		}
		if !failed {
			if err := st.Remove(rec); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		err := &actions.ExecError{Argv: links[i].Argv(), Code: 1, Stderr: msg + " (run as one batch: " + actions.Quote(argv) + ")"}
		errs = append(errs, fmt.Errorf("%s: %w", rec.ID(), err))
		rec.State = StateUndoFailed
		if serr := p.save(rec); serr != nil {
			errs = append(errs, serr)
		}
		if berr := p.behind(rec, was[rec]); berr != nil {
			errs = append(errs, berr)
		}
	}
	return ran, errors.Join(errs...)
}

// undoBatch runs the undos of the steps from i down that one host process
// of their tool can run together, if there are two or more: the steps it
// took (none when fewer), and whether their batch ran.
func undoBatch(ctx context.Context, r actions.Runner, rec *Record, i int) ([]string, []int, bool) {
	var (
		batch actions.Batch
		lines []string
		cmds  []string
		group []int
	)
	for j := i; j >= 0; j-- {
		s := &rec.Steps[j]
		if !undoable(s) {
			continue
		}
		if s.Shared != "" || s.Undo == nil {
			break
		}
		u, err := s.Undo.Decode()
		if err != nil {
			break
		}
		bl, ok := u.(actions.Batchable)
		if !ok {
			break
		}
		if _, asks := asksFirst(s, u); asks {
			break // undoStep asks first (see inEffect)
		}
		b, line, ok := bl.Batch()
		if !ok || !b.In.IsHost() || (len(group) > 0 && b != batch) {
			break
		}
		batch = b
		lines, group = append(lines, line), append(group, j)
		cmds = append(cmds, actions.Quote(u.Argv()))
	}
	if len(group) < 2 {
		return nil, nil, false
	}
	log := zerolog.Ctx(ctx)
	log.Info().Str("object", rec.ID()).Msgf("undos of steps %d-%d as one process: %s", group[len(group)-1]+1, group[0]+1, actions.Quote(batch.Argv()))
	for _, c := range cmds {
		log.Info().Str("object", rec.ID()).Msgf("undo: %s", c)
	}
	if _, err := r.Run(ctx, batch.Argv(), batch.Input(lines)); err != nil {
		log.Info().Msgf("the batch of undos failed (%s); undoing them one by one", strings.TrimSpace(actions.StderrOf(err)))
		return nil, group, false
	}
	return cmds, group, true
}
