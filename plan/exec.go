package plan

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"plumb/actions"
)

// Mode is how the executor starts processes for a plan's steps.
type Mode int

const (
	// Batch runs consecutive steps that one process of their tool can run
	// (actions.Batchable with equal Batch) as one process: ip steps of one
	// namespace as one `ip -batch -`, iptables steps of one table as one
	// `iptables-restore --noflush`. Far fewer processes, the same commands.
	Batch Mode = iota
	// Each runs one process per step, for debugging.
	Each
)

// Apply applies one plan: its steps in order, each journaled before it
// runs; when one fails, the steps already done are undone in reverse.
func Apply(ctx context.Context, r actions.Runner, st *Store, p *Plan, mode Mode) (*Record, error) {
	recs, err := execute(ctx, r, st, []*Plan{p}, mode)
	if err != nil {
		return nil, err
	}
	return recs[0], nil
}

// ApplyAll applies independent plans as one: all succeed, or all are rolled
// back. Plans whose steps read the host first (a sysctl's old value) or
// share host-wide settings must be applied alone.
func ApplyAll(ctx context.Context, r actions.Runner, st *Store, plans []*Plan, mode Mode) ([]*Record, error) {
	return execute(ctx, r, st, plans, mode)
}

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

func (e *ApplyError) Unwrap() error { return e.Err }

// ManyError is a call for many objects that failed at one step of one of
// them; every object of the call was rolled back.
type ManyError struct {
	Object      string // the object whose step failed
	Step, Total int
	Err         error
	Objects     int      // how many objects the call had
	Undone      []string // undo commands run
	UndoErr     error
}

func (e *ManyError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: step %d of %d failed: %v", e.Object, e.Step, e.Total, e.Err)
	writeRollback(&b, fmt.Sprintf("rolled back all %d objects of this call, in reverse:", e.Objects), e.Undone, e.UndoErr, "the journals keep")
	return b.String()
}

func (e *ManyError) Unwrap() error { return e.Err }

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

// stepRef is one step of one of the plans.
type stepRef struct{ plan, step int }

// segment is a run of consecutive steps of one plan that one process runs:
// a batch of lines, or one step on its own (batch nil).
type segment struct {
	from  int
	batch *actions.Batch
	lines []string
}

func (s segment) len() int { return max(1, len(s.lines)) }

// shared says whether one of the segment's steps holds a shared setting.
func (s segment) shared(steps []Step) bool {
	return slices.ContainsFunc(steps[s.from:s.from+s.len()], func(st Step) bool { return st.Shared != "" })
}

// batchLine says which batch a step can join and its line there. Steps that
// read the host first, hold a shared setting or are more than one command
// run alone.
func batchLine(s Step) (actions.Batch, string, bool) {
	if s.Shared != "" || isPreparer(s.Action) {
		return actions.Batch{}, "", false
	}
	if _, c := s.Action.(actions.Custom); c {
		return actions.Batch{}, "", false
	}
	b, ok := s.Action.(actions.Batchable)
	if !ok {
		return actions.Batch{}, "", false
	}
	return b.Batch()
}

// segments cuts a plan's steps into what one process each runs.
func segments(steps []Step, mode Mode) []segment {
	var out []segment
	for i := 0; i < len(steps); {
		sg := segment{from: i}
		if b, line, ok := batchLine(steps[i]); ok && mode == Batch {
			lines := []string{line}
			for _, s := range steps[i+1:] {
				b2, l, ok := batchLine(s)
				if !ok || b2 != b {
					break
				}
				lines = append(lines, l)
			}
			if len(lines) > 1 {
				sg.batch, sg.lines = &b, lines
			}
		}
		out = append(out, sg)
		i += sg.len()
	}
	return out
}

// unit is what one process runs: a batch whose lines are the steps refs
// (merged across plans in a call for many), or one step alone.
type unit struct {
	batch *actions.Batch
	lines []string
	refs  []stepRef
}

type failure struct {
	ref stepRef
	err error
}

// executor applies plans: the one place that starts, finishes and fails a
// step. With one plan, the journal is written as each process starts and
// ends (a step that reads the host first does so just before it runs).
// With many, each journal is written ahead once, every step possibly run,
// and again at the end: the plans' processes run side by side, in rounds.
type executor struct {
	ctx   context.Context
	r     actions.Runner
	st    *Store
	plans []*Plan
	recs  []*Record
	segs  [][]segment
	mode  Mode
	// offs is where each plan's steps start in its record: past the
	// steps of the object an update changes (see Plan.Base), else 0.
	offs []int
}

func (x *executor) single() bool { return len(x.plans) == 1 }

func (x *executor) step(ref stepRef) (Step, *StepRecord) {
	return x.plans[ref.plan].Steps[ref.step], &x.recs[ref.plan].Steps[x.off(ref.plan)+ref.step]
}

// off is where plan i's steps start in its record (see offs).
func (x *executor) off(i int) int {
	if i < len(x.offs) {
		return x.offs[i]
	}
	return 0
}

func execute(ctx context.Context, r actions.Runner, st *Store, plans []*Plan, mode Mode) ([]*Record, error) {
	if chained(plans) {
		return chain(ctx, r, st, plans, mode)
	}
	x := &executor{ctx: ctx, r: r, st: st, plans: plans, mode: mode}
	for _, p := range plans {
		if p.Base != nil && len(plans) > 1 {
			return nil, fmt.Errorf("%s: an update is applied alone", p.ID())
		}
		rec, err := NewRecord(p)
		if p.Base != nil {
			rec, err = newUpdateRecord(p)
		}
		if err != nil {
			if len(plans) > 1 {
				return nil, fmt.Errorf("%s: %w", p.ID(), err)
			}
			return nil, err
		}
		x.recs = append(x.recs, rec)
		x.offs = append(x.offs, len(rec.Steps)-len(p.Steps))
		x.segs = append(x.segs, segments(p.Steps, mode))
	}
	var fail *failure
	if x.single() {
		// The journal's first write is normally the first unit's, which
		// records its steps started and their undos before it runs: a
		// crash before it has run nothing. A first unit that holds a
		// shared setting writes the ledger first, and the ledger must
		// name a journal that exists.
		if len(x.segs[0]) > 0 && x.segs[0][0].shared(x.plans[0].Steps) {
			if err := st.Save(x.recs[0]); err != nil {
				return nil, err
			}
		}
		fail = x.sequence()
	} else {
		if err := x.writeAhead(); err != nil {
			return nil, err
		}
		fail = newScheduler(x).run()
	}
	if fail == nil {
		if err := x.finish(); err != nil {
			// Every step ran, but the journal cannot say so: undo them all
			// rather than leave an object the journal calls unfinished.
			return nil, x.rollback(&failure{stepRef{0, len(x.plans[0].Steps) - 1}, fmt.Errorf("recording that every step is done: %w", err)})
		}
		return x.recs, nil
	}
	return nil, x.rollback(fail)
}

// writeAhead journals every plan of a call for many with each step started
// and its undo recorded: a crash from here on leaves journals that `plumb
// recover` undoes, idempotently.
func (x *executor) writeAhead() error {
	for pi, p := range x.plans {
		for si, s := range p.Steps {
			if s.Shared != "" || isPreparer(s.Action) {
				return fmt.Errorf("%s: step %d (%s) reads the host first; apply it alone", p.ID(), si+1, actions.Quote(s.Action.Argv()))
			}
			if err := x.prepare(stepRef{pi, si}); err != nil {
				return err
			}
			x.recs[pi].Steps[si].Status = Started
		}
	}
	for i, rec := range x.recs {
		if err := x.st.Save(rec); err != nil {
			for _, saved := range x.recs[:i] {
				_ = x.st.Remove(saved)
			}
			return err
		}
		for j := range rec.Steps {
			rec.Steps[j].Status = Pending // in memory: where each step really stands
		}
	}
	return nil
}

// finish marks every plan up.
func (x *executor) finish() error {
	for i, rec := range x.recs {
		rec.State = StateUp
		for j := x.off(i); j < len(rec.Steps); j++ {
			rec.Steps[j].Status = Done
		}
		if rec.Updating != nil {
			// Saved as a copy: should the save fail, rec still says what
			// the rollback undoes.
			done := *rec
			before, err := updated(&done, x.plans[i])
			if err != nil {
				return err
			}
			if err := x.st.Save(&done); err != nil {
				return err
			}
			*rec = done
			dropEntries(x.st, rec, before)
			continue
		}
		if err := x.st.Save(rec); err != nil {
			return err
		}
	}
	return nil
}

// sequence runs a single plan's segments in order. The journal is written
// before each process starts (its steps started, their undos), and not
// again when it ends: the next write (the next unit's, or finish's, which
// marks the plan up) records that it ran. A crash in between leaves its
// steps started, which `plumb recover` undoes as it would had the crash
// come while the process ran; undos are idempotent.
//
// Consecutive steps that plumb does in-process on the host, whose undos
// are harmless had they never run (see grouped), share one write ahead:
// they take microseconds each, the write about a tenth of a millisecond,
// and a crash among them leaves them all started, as a crash during a
// batch leaves its lines.
func (x *executor) sequence() *failure {
	segs := x.segs[0]
	for i := 0; i < len(segs); {
		sg := segs[i]
		u := &unit{batch: sg.batch, lines: sg.lines}
		for j := range sg.len() {
			u.refs = append(u.refs, stepRef{0, sg.from + j})
		}
		i++
		if x.mode == Batch && sg.batch == nil && grouped(x.plans[0].Steps[sg.from]) {
			for ; i < len(segs) && segs[i].batch == nil && grouped(x.plans[0].Steps[segs[i].from]); i++ {
				u.refs = append(u.refs, stepRef{0, segs[i].from})
			}
		}
		x.show(u)
		if f := x.run(u); f != nil {
			return f
		}
	}
	return nil
}

// grouped says whether a step may share its write ahead with its
// neighbours': one plumb does in-process (a file written or removed),
// whose undo is harmless should it never have run (actions.Groupable),
// with a fixed undo (no reading of the host first, which must see the
// steps before it done) and no shared setting.
func grouped(s Step) bool {
	if _, ok := s.Action.(actions.Groupable); !ok || !actions.InProcess(s.Action) || s.Shared != "" || isPreparer(s.Action) {
		return false
	}
	if t, ok := s.Action.(actions.Targeted); ok && !t.Target().IsHost() {
		return false
	}
	return true
}

// show logs what a unit runs.
func (x *executor) show(u *unit) {
	log := zerolog.Ctx(x.ctx)
	if u.batch != nil {
		if x.single() {
			p := x.plans[0]
			log.Info().Str("object", p.ID()).Msgf("steps %d-%d/%d as one process: %s", u.refs[0].step+1, u.refs[len(u.refs)-1].step+1, len(p.Steps), actions.Quote(u.batch.Argv()))
		} else if len(u.refs) > 1 {
			log.Info().Msgf("%d steps as one process: %s", len(u.refs), actions.Quote(u.batch.Argv()))
		}
	}
	for _, ref := range u.refs {
		p := x.plans[ref.plan]
		log.Info().Str("object", p.ID()).Msgf("step %d/%d: %s", ref.step+1, len(p.Steps), actions.Quote(p.Steps[ref.step].Action.Argv()))
	}
}

// prepare records a step's undo: a shared setting's hold in the ledger,
// the undo an action reads from the host, or its fixed undo.
func (x *executor) prepare(ref stepRef) error {
	s, sr := x.step(ref)
	var undo actions.Action
	var err error
	switch {
	case s.Shared != "":
		err = hold(x.ctx, x.r, x.st, x.recs[ref.plan].ID(), s)
	case isPreparer(s.Action):
		undo, err = s.Action.(actions.Preparer).Prepare(x.ctx, x.r)
	default:
		undo = s.undo()
	}
	if err != nil || undo == nil {
		return err
	}
	sr.Undo, err = encode(undo)
	return err
}

// run runs one unit and records where each of its steps stands. Units
// running at once touch distinct plans, so they need no lock of their own.
// A single plan's journal is written ahead of the unit only (see sequence).
func (x *executor) run(u *unit) *failure {
	if err := x.ctx.Err(); err != nil {
		// Told to stop (SIGINT, SIGTERM): start nothing more.
		ref := u.refs[0]
		_, sr := x.step(ref)
		err = fmt.Errorf("not started: plumb was interrupted (%w)", context.Cause(x.ctx))
		sr.Error = err.Error()
		return &failure{ref, err}
	}
	for _, ref := range u.refs {
		s, sr := x.step(ref)
		if err := checkTarget(x.recs[ref.plan], s.Action); err != nil {
			sr.Status, sr.Error = Failed, err.Error()
			return &failure{ref, err}
		}
		if x.single() {
			if err := x.prepare(ref); err != nil {
				sr.Status, sr.Error = Failed, err.Error()
				return &failure{ref, err}
			}
		}
		sr.Status = Started
	}
	if x.single() {
		if err := x.st.Save(x.recs[0]); err != nil {
			return &failure{u.refs[0], err}
		}
	}
	if u.batch == nil {
		return x.runEach(u)
	}
	err := x.runBatch(u)
	if err == nil {
		for _, ref := range u.refs {
			_, sr := x.step(ref)
			sr.Status = Done
		}
		return nil
	}
	k, unsure := 0, false
	if u.batch != nil {
		o := u.batch.Outcome(actions.StderrOf(err), u.lines)
		if killed(err) {
			// Killed (plumb was told to stop), not failed: it may have
			// run any of its lines, an atomic batch all of them.
			o = actions.Outcome{Unsure: true}
		}
		k, unsure = o.Failed, o.Unsure
		for j, ref := range u.refs {
			_, sr := x.step(ref)
			switch {
			case o.Unsure:
				sr.Status = Started // may have run
			case j < o.Done:
				sr.Status = Done
			case j > k || u.batch.Atomic():
				sr.Status = Pending
			}
		}
		s, _ := x.step(u.refs[k])
		err = blame(err, s.Action, u.batch.Argv())
	}
	ref := u.refs[k]
	_, sr := x.step(ref)
	sr.Status, sr.Error = Failed, err.Error()
	if u.batch != nil && u.batch.Atomic() && !killed(err) && !unsure {
		sr.Status = Pending // its block applied none of its lines: nothing to undo
	}
	return &failure{ref, err}
}

// runEach runs a unit's steps one after the other: one step, or steps
// grouped under one write ahead (see sequence). When one fails, or plumb
// is told to stop between two, the steps after it never started.
func (x *executor) runEach(u *unit) *failure {
	for j, ref := range u.refs {
		s, sr := x.step(ref)
		var err error
		if j > 0 && x.ctx.Err() != nil {
			sr.Status = Pending
			err = fmt.Errorf("not started: plumb was interrupted (%w)", context.Cause(x.ctx))
			sr.Error = err.Error()
		} else if err = run(x.ctx, x.r, s.Action); err == nil {
			sr.Status = Done
			continue
		} else {
			sr.Status, sr.Error = Failed, err.Error()
		}
		for _, rest := range u.refs[j+1:] {
			_, rr := x.step(rest)
			rr.Status = Pending
		}
		return &failure{ref, err}
	}
	return nil
}

// runBatch starts a unit's batch process. A container's batch is started
// inside its namespace by plumb itself where the runner can (see
// actions.Entering), as the batch's own command would run it: the same
// lines, one exec less.
func (x *executor) runBatch(u *unit) error {
	b := u.batch
	if e, ok := x.r.(actions.Entering); ok && !b.In.IsHost() {
		zerolog.Ctx(x.ctx).Debug().Msgf("%s runs as %s, started inside %s by plumb", actions.Quote(b.Argv()), actions.Quote(b.Inside()), b.In.Label())
		_, err := e.RunIn(x.ctx, b.In, x.recs[u.refs[0].plan].TargetID, b.Inside(), b.Input(u.lines))
		return err
	}
	_, err := x.r.Run(x.ctx, b.Argv(), b.Input(u.lines))
	return err
}

// killed reports whether err is a process that did not exit by itself.
func killed(err error) bool {
	var ee *actions.ExecError
	return errors.As(err, &ee) && ee.Code < 0
}

// blame turns a batch's error into the failing step's: its own command,
// with what the batch said.
func blame(err error, a actions.Action, batch []string) error {
	var ee *actions.ExecError
	if errors.As(err, &ee) {
		return &actions.ExecError{Argv: a.Argv(), Code: ee.Code,
			Stderr: fmt.Sprintf("%s (run as one batch: %s)", strings.TrimSpace(ee.Stderr), actions.Quote(batch)), Err: ee.Err}
	}
	return err
}

// rollback undoes every plan of a failed call and says what happened.
func (x *executor) rollback(f *failure) error {
	log := zerolog.Ctx(x.ctx)
	p := x.plans[f.ref.plan]
	if x.single() {
		rec := x.recs[0]
		if serr := x.st.Save(rec); serr != nil {
			log.Error().Err(serr).Msg("journal")
		}
		log.Error().Err(f.err).Msgf("step %d failed; rolling back", f.ref.step+1)
		if rec.Updating != nil {
			undone, uerr := unwindUpdate(x.ctx, x.r, x.st, rec)
			return &ApplyError{Step: f.ref.step + 1, Total: len(p.Steps), Err: f.err, Undone: undone, UndoErr: uerr}
		}
		undone, uerr := unwindMode(x.ctx, x.r, x.st, rec, x.mode)
		return &ApplyError{Step: f.ref.step + 1, Total: len(p.Steps), Err: f.err, Undone: undone, UndoErr: uerr}
	}
	log.Error().Err(f.err).Msgf("%s: step %d failed; rolling back all %d objects", p.ID(), f.ref.step+1, len(x.plans))
	undone, uerr := UnwindAll(x.ctx, x.r, x.st, x.recs, x.mode)
	return &ManyError{Object: p.ID(), Step: f.ref.step + 1, Total: len(p.Steps), Err: f.err,
		Objects: len(x.plans), Undone: undone, UndoErr: uerr}
}

// NewRecord is a plan's journal before its first step: every step pending,
// the target namespace's identity read.
func NewRecord(p *Plan) (*Record, error) {
	if err := recordable(p); err != nil {
		return nil, err
	}
	rec := &Record{FormatVersion: FormatVersion, Kind: p.Kind, Name: p.Name, State: StateApplying,
		Summary: p.Summary, Spec: p.Spec, Names: p.Names, PID: os.Getpid(), Created: time.Now().UTC()}
	if err := rec.SetFacts(p.Facts); err != nil {
		return nil, err
	}
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

// checkTarget stops a step from entering a namespace other than the one
// planned for: a PID that died and was reused names another process. Steps
// on the host pass.
func checkTarget(rec *Record, a actions.Action) error {
	t, ok := a.(actions.Targeted)
	if !ok || t.Target().IsHost() {
		return nil
	}
	id, err := t.Target().Identity()
	if err != nil {
		return fmt.Errorf("the container's network namespace is gone: %w", err)
	}
	if rec.TargetID == "" {
		// A namespace the plan itself made (plumb run): known from its
		// first use on.
		target := t.Target()
		rec.Target, rec.TargetID = &target, id
		return nil
	}
	if id != rec.TargetID {
		return fmt.Errorf("the network namespace of %s changed since plumb started (the process died and its PID was reused?); stopping", t.Target())
	}
	return nil
}

func isPreparer(a actions.Action) bool { _, ok := a.(actions.Preparer); return ok }

// run runs one action: its command line, or its own Exec for actions that
// are more than one process run to completion.
func run(ctx context.Context, r actions.Runner, a actions.Action) error {
	if c, ok := a.(actions.Custom); ok {
		return c.Exec(ctx, r)
	}
	return actions.RunCommand(ctx, r, a)
}

// waveSize is how many plans go through their rounds together. Waves
// overlap: while one wave's host batch holds the kernel's RTNL lock, the
// containers of the wave before it are starting their processes, which
// needs CPU, not the lock.
const WaveSize = 25

// scheduler runs the units of many plans: the k-th segment of every plan of
// a wave together (steps of one batch merged into one process across plans;
// units that enter different containers side by side), the plans in waves
// of waveSize, two waves in flight, and at most twice as many processes at
// a time as the machine has CPUs (they mostly wait for the kernel). In Each
// mode, which is for debugging, everything runs one at a time, in order.
type scheduler struct {
	x        *executor
	procs    chan struct{} // one token per process running
	waves    chan struct{} // one token per wave in flight
	logMu    sync.Mutex
	mu       sync.Mutex
	failures []*failure
}

func newScheduler(x *executor) *scheduler {
	procs, waves := 2*runtime.NumCPU(), 2
	if x.mode == Each {
		procs, waves = 1, 1
	}
	return &scheduler{x: x, procs: make(chan struct{}, procs), waves: make(chan struct{}, waves)}
}

// run runs every wave and returns the first failure in plan order, after
// every process started has ended.
func (s *scheduler) run() *failure {
	n := len(s.x.plans)
	size := WaveSize
	if cap(s.procs) == 1 || n <= size || slices.ContainsFunc(s.x.plans, func(p *Plan) bool { return p.Ordered }) {
		size = n
	}
	var waves [][]int
	for from := 0; from < n; from += size {
		var idx []int
		for i := from; i < min(from+size, n); i++ {
			idx = append(idx, i)
		}
		waves = append(waves, idx)
	}
	if len(waves) == 1 {
		s.wave(waves[0])
		return s.first()
	}
	s.each(s.waves, len(waves), func(i int) { s.wave(waves[i]) })
	return s.first()
}

func (s *scheduler) failed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.failures) > 0
}

func (s *scheduler) fail(f *failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, f)
}

func (s *scheduler) first() *failure {
	var first *failure
	for _, f := range s.failures {
		if first == nil || f.ref.plan < first.ref.plan {
			first = f
		}
	}
	return first
}

// roundUnits is the k-th segment of the plans idx, merged by batch.
func (s *scheduler) roundUnits(idx []int, k int) []*unit {
	var units []*unit
	byBatch := map[actions.Batch]*unit{}
	for _, pi := range idx {
		if k >= len(s.x.segs[pi]) {
			continue
		}
		sg := s.x.segs[pi][k]
		if sg.batch == nil {
			units = append(units, &unit{refs: []stepRef{{pi, sg.from}}})
			continue
		}
		u := byBatch[*sg.batch]
		if u == nil {
			u = &unit{batch: sg.batch}
			byBatch[*sg.batch] = u
			units = append(units, u)
		}
		u.lines = append(u.lines, sg.lines...)
		for j := range sg.lines {
			u.refs = append(u.refs, stepRef{pi, sg.from + j})
		}
	}
	return units
}

// wave takes the plans idx through their rounds, until one fails anywhere.
func (s *scheduler) wave(idx []int) {
	for k := 0; !s.failed(); k++ {
		units := s.roundUnits(idx, k)
		if len(units) == 0 {
			return
		}
		s.show(units)
		if len(units) == 1 || cap(s.procs) == 1 {
			for _, u := range units {
				if s.failed() {
					return
				}
				s.procs <- struct{}{}
				f := s.x.run(u)
				<-s.procs
				if f != nil {
					s.fail(f)
				}
			}
			continue
		}
		s.each(s.procs, len(units), func(i int) {
			if f := s.x.run(units[i]); f != nil {
				s.fail(f)
			}
		})
	}
}

// each runs fn(0..n-1) side by side, each holding a token of tokens while it
// runs, and starts no more once one has failed; it returns when all that
// started have ended.
func (s *scheduler) each(tokens chan struct{}, n int, fn func(int)) {
	var wg sync.WaitGroup
	for i := range n {
		tokens <- struct{}{}
		if s.failed() {
			<-tokens
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-tokens; wg.Done() }()
			fn(i)
		}()
	}
	wg.Wait()
}

// show logs a round's commands before its processes start, in plan order:
// processes that run side by side would interleave them.
func (s *scheduler) show(units []*unit) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	for _, u := range units {
		s.x.show(u)
	}
}
