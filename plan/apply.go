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

// ApplyError is a plan that failed at one step and was rolled back.
type ApplyError struct {
	Step, Total int
	Err         error    // the failing command's error: argv, exit code, stderr
	Undone      []string // undo commands run, in the order run
	UndoErr     error    // undos that failed; nil when the host is as before
}

func (e *ApplyError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "step %d of %d failed: %v", e.Step, e.Total, e.Err)
	writeRollback(&b, "rolled back, in reverse:", e.Undone, e.UndoErr, "the journal keeps")
	return b.String()
}

// writeRollback ends a failed apply's message with what its rollback ran
// (the first ten of a long list) and whether the host is as before.
func writeRollback(b *strings.Builder, header string, undone []string, undoErr error, kept string) {
	if len(undone) == 0 {
		b.WriteString("\nnothing to roll back")
	} else {
		b.WriteString("\n" + header)
		for i, c := range undone {
			if i == 10 && len(undone) > 12 {
				fmt.Fprintf(b, "\n  ... and %d more", len(undone)-i)
				break
			}
			b.WriteString("\n  " + c)
		}
	}
	if undoErr != nil {
		fmt.Fprintf(b, "\nrollback incomplete: %v\n%s what is left; run `plumb recover` to retry", undoErr, kept)
	} else {
		b.WriteString("\nthe host is as it was before")
	}
}

func (e *ApplyError) Unwrap() error { return e.Err }

// Apply runs the plan's steps in order, journaling each before it runs. When
// a step fails it undoes the steps already done, in reverse.
func Apply(ctx context.Context, r actions.Runner, st *Store, p *Plan, mode Mode) (*Record, error) {
	log := zerolog.Ctx(ctx)
	rec, err := newRecord(p)
	if err != nil {
		return nil, err
	}
	if err := st.Save(rec); err != nil {
		return nil, err
	}
	for i := 0; i < len(p.Steps); {
		n, g := 1, (*batchGroup)(nil)
		if mode == Batch {
			n, g = group(p.Steps[i:])
		}
		failed, err := -1, error(nil)
		if n > 1 {
			failed, err = applyBatch(ctx, r, st, rec, p, i, g)
		} else {
			log.Info().Str("object", rec.ID()).Msgf("step %d/%d: %s", i+1, len(p.Steps), actions.Quote(p.Steps[i].Action.Argv()))
			if err = applyStep(ctx, r, st, rec, i, p.Steps[i]); err != nil {
				failed = i
			}
		}
		if err != nil {
			rec.Steps[failed].Status, rec.Steps[failed].Error = Failed, err.Error()
			if serr := st.Save(rec); serr != nil {
				log.Error().Err(serr).Msg("journal")
			}
			log.Error().Err(err).Msgf("step %d failed; rolling back", failed+1)
			undone, uerr := unwind(ctx, r, st, rec)
			return nil, &ApplyError{Step: failed + 1, Total: len(p.Steps), Err: err, Undone: undone, UndoErr: uerr}
		}
		i += n
	}
	rec.State = StateUp
	return rec, st.Save(rec)
}

// newRecord is a plan's journal before its first step: every step pending,
// the target namespace's identity read.
func newRecord(p *Plan) (*Record, error) {
	rec := &Record{FormatVersion: FormatVersion, Kind: p.Kind, Name: p.Name, State: StateApplying,
		Summary: p.Summary, Details: p.Details, PID: os.Getpid(), Created: time.Now().UTC()}
	if !p.Target.IsHost() {
		id, err := p.Target.Identity()
		if err != nil {
			return nil, &Refused{Msg: err.Error()}
		}
		t := p.Target
		rec.Target, rec.TargetID = &t, id
	}
	for _, s := range p.Steps {
		enc, err := encode(s.Action)
		if err != nil {
			return nil, err
		}
		rec.Steps = append(rec.Steps, StepRecord{Action: *enc, Shared: s.Shared, Status: Pending})
	}
	return rec, nil
}

func applyStep(ctx context.Context, r actions.Runner, st *Store, rec *Record, i int, s Step) error {
	a := s.Action
	if t, ok := a.(actions.Targeted); ok && !t.Target().IsHost() {
		if err := sameTarget(rec, t.Target()); err != nil {
			return err
		}
	}
	var undo actions.Action
	var err error
	switch {
	case s.Shared != "":
		err = hold(ctx, r, st, rec.ID(), s)
	case isPreparer(a):
		undo, err = a.(actions.Preparer).Prepare(ctx, r)
	default:
		undo = a.Undo()
	}
	if err != nil {
		return err
	}
	sr := &rec.Steps[i]
	if undo != nil {
		if sr.Undo, err = encode(undo); err != nil {
			return err
		}
	}
	sr.Status = Started
	if err := st.Save(rec); err != nil {
		return err
	}
	if err := run(ctx, r, a); err != nil {
		return err
	}
	sr.Status = Done
	return st.Save(rec)
}

func isPreparer(a actions.Action) bool { _, ok := a.(actions.Preparer); return ok }

// sameTarget stops a step from entering a namespace other than the one
// planned for: a PID that died and was reused names another process.
func sameTarget(rec *Record, t actions.Netns) error {
	id, err := t.Identity()
	if err != nil {
		return fmt.Errorf("the container's network namespace is gone: %w", err)
	}
	if rec.TargetID == "" {
		// A namespace the plan itself made (plumb run): known from its
		// first use on.
		rec.Target, rec.TargetID = &t, id
		return nil
	}
	if id != rec.TargetID {
		return fmt.Errorf("the network namespace of %s changed since plumb started (the process died and its PID was reused?); stopping", t)
	}
	return nil
}

// hold records that an object needs a shared setting. The first holder
// reads the value to restore; later holders only add their name.
func hold(ctx context.Context, r actions.Runner, st *Store, user string, s Step) error {
	l, err := st.loadLedger()
	if err != nil {
		return err
	}
	e := l.Entries[s.Shared]
	if e == nil {
		e = &ledgerEntry{}
		if p, ok := s.Action.(actions.Preparer); ok {
			undo, err := p.Prepare(ctx, r)
			if err != nil {
				return err
			}
			if undo != nil {
				if e.Restore, err = encode(undo); err != nil {
					return err
				}
			}
		}
		l.Entries[s.Shared] = e
	}
	if !e.has(user) {
		e.Users = append(e.Users, user)
	}
	return st.saveLedger(l)
}

// release drops an object's hold on a shared setting and restores the
// setting when no holder is left. It is idempotent.
func release(ctx context.Context, r actions.Runner, st *Store, user, key string) ([]string, error) {
	l, err := st.loadLedger()
	if err != nil {
		return nil, err
	}
	e := l.Entries[key]
	if e == nil {
		return nil, nil
	}
	e.Users = e.without(user)
	if len(e.Users) > 0 {
		zerolog.Ctx(ctx).Info().Msgf("%s is still needed by %s; left as it is", key, strings.Join(e.Users, ", "))
		return nil, st.saveLedger(l)
	}
	var ran []string
	if e.Restore != nil {
		u, err := e.Restore.decode()
		if err != nil {
			return nil, err
		}
		ran = append(ran, actions.Quote(u.Argv()))
		zerolog.Ctx(ctx).Info().Msgf("undo: %s (no plumb object needs %s now)", actions.Quote(u.Argv()), key)
		if _, err := r.Run(ctx, u.Argv(), nil); err != nil {
			_ = st.saveLedger(l)
			return ran, err
		}
	}
	delete(l.Entries, key)
	return ran, st.saveLedger(l)
}

// undoable reports whether unwinding must reverse this step: it ran, may
// have run (started, then a crash), or its undo failed before. A failed
// step's command did not take effect, but its hold on a shared setting did.
func undoable(s *StepRecord) bool {
	switch s.Status {
	case Done, Started, UndoFailed:
		return true
	case Failed:
		return s.Shared != ""
	}
	return false
}

// unwind undoes a record's steps in reverse. Every undo is tried; failures
// are collected and kept in the journal. With none, the journal is removed.
func unwind(ctx context.Context, r actions.Runner, st *Store, rec *Record) ([]string, error) {
	log := zerolog.Ctx(ctx)
	rec.State = StateUndoing
	if err := st.Save(rec); err != nil {
		return nil, err
	}
	var ran []string
	var errs []error
	for i := len(rec.Steps) - 1; i >= 0; i-- {
		s := &rec.Steps[i]
		if !undoable(s) {
			continue
		}
		cmds, err := undoStep(ctx, r, st, rec, s)
		ran = append(ran, cmds...)
		if err != nil {
			log.Error().Err(err).Msgf("undo of step %d failed", i+1)
			s.Status, s.Error = UndoFailed, err.Error()
			errs = append(errs, fmt.Errorf("undoing step %d: %w", i+1, err))
		} else {
			s.Status = Undone
		}
		if err := st.Save(rec); err != nil {
			return ran, err
		}
		if err != nil && isBarrier(s) {
			errs = append(errs, fmt.Errorf("stopped there: the undos of steps 1 to %d depend on it and stay journaled", i))
			break
		}
	}
	if len(errs) > 0 {
		rec.State = StateUndoFailed
		if err := st.Save(rec); err != nil {
			errs = append(errs, err)
		}
		return ran, errors.Join(errs...)
	}
	return ran, st.Remove(rec)
}

func undoStep(ctx context.Context, r actions.Runner, st *Store, rec *Record, s *StepRecord) ([]string, error) {
	log := zerolog.Ctx(ctx)
	if s.Shared != "" {
		return release(ctx, r, st, rec.ID(), s.Shared)
	}
	if s.Undo == nil {
		return nil, nil
	}
	u, err := s.Undo.decode()
	if err != nil {
		return nil, err
	}
	if t, ok := u.(actions.Targeted); ok && !t.Target().IsHost() {
		if err := sameTarget(rec, t.Target()); err != nil {
			log.Info().Msgf("skipping %s: %v; what it would remove went with the namespace", actions.Quote(u.Argv()), err)
			return nil, nil
		}
	}
	cmd := actions.Quote(u.Argv())
	log.Info().Str("object", rec.ID()).Msgf("undo: %s", cmd)
	if err := run(ctx, r, u); err != nil {
		if g, ok := u.(actions.Tolerant); ok && g.Gone(actions.StderrOf(err)) {
			log.Info().Msgf("already gone: %s", cmd)
			return []string{cmd}, nil
		}
		return []string{cmd}, err
	}
	return []string{cmd}, nil
}

// Down undoes everything recorded for one object.
func Down(ctx context.Context, r actions.Runner, st *Store, rec *Record) ([]string, error) {
	return unwind(ctx, r, st, rec)
}

// UndoPlan lists the commands Down would run for rec, in order, without
// running anything: what `down --dry-run` prints.
func UndoPlan(st *Store, rec *Record) ([]actions.Action, error) {
	l, err := st.loadLedger()
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
			if e != nil && e.Restore != nil && len(e.without(rec.ID())) == 0 {
				u, err := e.Restore.decode()
				if err != nil {
					return nil, err
				}
				out = append(out, u)
			}
			continue
		}
		if s.Undo != nil {
			u, err := s.Undo.decode()
			if err != nil {
				return nil, err
			}
			out = append(out, u)
		}
	}
	return out, nil
}

// Recover finishes the rollback of every plan that did not end: interrupted
// while applying or undoing, or left with an undo that failed.
func Recover(ctx context.Context, r actions.Runner, st *Store) (recovered []string, err error) {
	recs, errs := st.List()
	for _, rec := range recs {
		if rec.State == StateUp {
			continue
		}
		zerolog.Ctx(ctx).Info().Msgf("recovering %s (state %s)", rec.ID(), rec.State)
		if _, uerr := unwind(ctx, r, st, rec); uerr != nil {
			errs = append(errs, fmt.Errorf("%s: %w", rec.ID(), uerr))
			continue
		}
		recovered = append(recovered, rec.ID())
	}
	return recovered, errors.Join(errs...)
}

// Interrupted lists the objects whose plan did not end, for commands that
// point the user to `plumb recover` (headers only: Load one to undo it).
func Interrupted(st *Store) []*Record {
	recs, _ := st.Headers()
	var out []*Record
	for _, r := range recs {
		if r.State != StateUp {
			out = append(out, r)
		}
	}
	return out
}

func isBarrier(s *StepRecord) bool {
	if s.Undo == nil {
		return false
	}
	u, err := s.Undo.decode()
	if err != nil {
		return false
	}
	_, ok := u.(actions.Barrier)
	return ok
}

// run runs one action: its command line, or its own Exec for actions that
// are more than one process run to completion.
func run(ctx context.Context, r actions.Runner, a actions.Action) error {
	if c, ok := a.(actions.Custom); ok {
		return c.Exec(ctx, r)
	}
	_, err := r.Run(ctx, a.Argv(), nil)
	return err
}
