package plan

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"

	"github.com/rs/zerolog"

	"plumb/actions"
)

// Many objects in one call (`bridge attach --pid P1 --pid P2 ...`): the
// plans are independent, so the k-th group of steps of every plan can run
// together. Steps of one batch key (the host's ip, one iptables table) are
// merged into one process across plans; groups that enter different
// containers run side by side. Each object still has its own journal,
// written twice: before anything runs (every step may run) and at the end.

// stepRef is one step of one of the plans.
type stepRef struct{ plan, step int }

// unit is what one process runs in a round: a batch (g) whose lines are the
// steps refs, or one step on its own (g nil).
type unit struct {
	g    *batchGroup
	refs []stepRef
}

// segment is a run of consecutive steps of one plan that one process runs.
type segment struct {
	from int
	g    *batchGroup // nil: one step alone
}

func segments(steps []Step, mode Mode) []segment {
	var out []segment
	for i := 0; i < len(steps); {
		n, g := 1, (*batchGroup)(nil)
		if mode == Batch {
			n, g = group(steps[i:])
		}
		if n == 1 {
			g = nil
		}
		out = append(out, segment{from: i, g: g})
		i += n
	}
	return out
}

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

// ApplyAll applies independent plans as one: all succeed, or all are rolled
// back. Plans whose steps read the host first (a sysctl's old value) or
// share host-wide settings must be applied alone.
func ApplyAll(ctx context.Context, r actions.Runner, st *Store, plans []*Plan, mode Mode) ([]*Record, error) {
	if len(plans) == 1 {
		rec, err := Apply(ctx, r, st, plans[0], mode)
		return []*Record{rec}, err
	}
	recs := make([]*Record, len(plans))
	segs := make([][]segment, len(plans))
	for pi, p := range plans {
		rec, err := newRecord(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.ID(), err)
		}
		for si, s := range p.Steps {
			if s.Shared != "" || isPreparer(s.Action) {
				return nil, fmt.Errorf("%s: step %d (%s) reads the host first; apply it alone", p.ID(), si+1, actions.Quote(s.Action.Argv()))
			}
			if u := s.Action.Undo(); u != nil {
				if rec.Steps[si].Undo, err = encode(u); err != nil {
					return nil, err
				}
			}
			rec.Steps[si].Status = Started
		}
		recs[pi], segs[pi] = rec, segments(p.Steps, mode)
	}
	// Write-ahead, once per object: every step may run. A crash from here
	// on leaves journals that `plumb recover` undoes, idempotently.
	for i, rec := range recs {
		if err := st.Save(rec); err != nil {
			for _, saved := range recs[:i] {
				_ = st.Remove(saved)
			}
			return nil, err
		}
		for j := range rec.Steps {
			rec.Steps[j].Status = Pending // in memory: where each step really stands
		}
	}
	log := zerolog.Ctx(ctx)
	fail := newScheduler(ctx, r, plans, recs, segs, mode).run()
	if fail == nil {
		for _, rec := range recs {
			rec.State = StateUp
			for j := range rec.Steps {
				rec.Steps[j].Status = Done
			}
			if err := st.Save(rec); err != nil {
				return recs, err
			}
		}
		return recs, nil
	}
	p := plans[fail.ref.plan]
	log.Error().Err(fail.err).Msgf("%s: step %d failed; rolling back all %d objects", p.ID(), fail.ref.step+1, len(plans))
	undone, uerr := unwindAll(ctx, r, st, recs, mode)
	return nil, &ManyError{Object: p.ID(), Step: fail.ref.step + 1, Total: len(p.Steps), Err: fail.err,
		Objects: len(plans), Undone: undone, UndoErr: uerr}
}

// roundUnits is the k-th segment of the plans idx, merged by batch key.
func roundUnits(segs [][]segment, idx []int, k int) []*unit {
	var units []*unit
	byKey := map[string]*unit{}
	for _, pi := range idx {
		if k >= len(segs[pi]) {
			continue
		}
		sg := segs[pi][k]
		if sg.g == nil {
			units = append(units, &unit{refs: []stepRef{{pi, sg.from}}})
			continue
		}
		u := byKey[sg.g.key]
		if u == nil {
			u = &unit{g: &batchGroup{key: sg.g.key, in: sg.g.in, argv: sg.g.argv, table: sg.g.table}}
			byKey[sg.g.key] = u
			units = append(units, u)
		}
		u.g.lines = append(u.g.lines, sg.g.lines...)
		for j := range sg.g.lines {
			u.refs = append(u.refs, stepRef{pi, sg.from + j})
		}
	}
	return units
}

type failure struct {
	ref stepRef
	err error
}

// waveSize is how many plans go through their rounds together. Waves
// overlap: while one wave's host batch holds the kernel's RTNL lock, the
// containers of the wave before it are starting their processes, which
// needs CPU, not the lock.
const waveSize = 25

// scheduler runs the units of many plans: the plans in waves of waveSize,
// two waves in flight, each going through its rounds on its own, and at most
// twice as many processes at a time as the machine has CPUs (they mostly
// wait for the kernel). In Each mode, which is for debugging, everything
// runs one at a time, in order.
type scheduler struct {
	ctx      context.Context
	r        actions.Runner
	plans    []*Plan
	recs     []*Record
	segs     [][]segment
	procs    chan struct{} // one token per process running
	waves    chan struct{} // one token per wave in flight
	logMu    sync.Mutex
	mu       sync.Mutex
	failures []*failure
}

func newScheduler(ctx context.Context, r actions.Runner, plans []*Plan, recs []*Record, segs [][]segment, mode Mode) *scheduler {
	procs, waves := 2*runtime.NumCPU(), 2
	if mode == Each {
		procs, waves = 1, 1
	}
	return &scheduler{ctx: ctx, r: r, plans: plans, recs: recs, segs: segs,
		procs: make(chan struct{}, procs), waves: make(chan struct{}, waves)}
}

// run runs every wave and returns the first failure in plan order, after
// every process started has ended.
func (s *scheduler) run() *failure {
	size := waveSize
	if cap(s.procs) == 1 || len(s.plans) <= size {
		size = len(s.plans)
	}
	var waves [][]int
	for from := 0; from < len(s.plans); from += size {
		var idx []int
		for i := from; i < min(from+size, len(s.plans)); i++ {
			idx = append(idx, i)
		}
		waves = append(waves, idx)
	}
	if len(waves) == 1 {
		s.wave(waves[0])
		return s.first()
	}
	var wg sync.WaitGroup
	for _, idx := range waves {
		s.waves <- struct{}{}
		if s.failed() {
			<-s.waves
			break
		}
		wg.Add(1)
		go func(idx []int) {
			defer func() { <-s.waves; wg.Done() }()
			s.wave(idx)
		}(idx)
	}
	wg.Wait()
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

// wave takes the plans idx through their rounds, until one fails anywhere.
func (s *scheduler) wave(idx []int) {
	for k := 0; !s.failed(); k++ {
		units := roundUnits(s.segs, idx, k)
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
				f := runUnit(s.ctx, s.r, s.plans, s.recs, u)
				<-s.procs
				if f != nil {
					s.fail(f)
				}
			}
			continue
		}
		var wg sync.WaitGroup
		for _, u := range units {
			s.procs <- struct{}{}
			if s.failed() {
				<-s.procs
				break
			}
			wg.Add(1)
			go func(u *unit) {
				defer func() { <-s.procs; wg.Done() }()
				if f := runUnit(s.ctx, s.r, s.plans, s.recs, u); f != nil {
					s.fail(f)
				}
			}(u)
		}
		wg.Wait()
	}
}

// show logs a round's commands before its processes start, in plan order:
// processes that run side by side would interleave them.
func (s *scheduler) show(units []*unit) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	log := zerolog.Ctx(s.ctx)
	for _, u := range units {
		if u.g != nil && len(u.refs) > 1 {
			log.Info().Msgf("%d steps as one process: %s", len(u.refs), actions.Quote(u.g.argv))
		}
		for _, ref := range u.refs {
			a := s.plans[ref.plan].Steps[ref.step].Action
			log.Info().Str("object", s.recs[ref.plan].ID()).Msgf("step %d/%d: %s", ref.step+1, len(s.plans[ref.plan].Steps), actions.Quote(a.Argv()))
		}
	}
}

// runUnit runs one unit and records where each of its steps stands. Units
// running at once touch distinct plans, so they need no lock of their own.
func runUnit(ctx context.Context, r actions.Runner, plans []*Plan, recs []*Record, u *unit) *failure {
	for _, ref := range u.refs {
		a := plans[ref.plan].Steps[ref.step].Action
		if t, ok := a.(actions.Targeted); ok && !t.Target().IsHost() {
			if err := sameTarget(recs[ref.plan], t.Target()); err != nil {
				recs[ref.plan].Steps[ref.step].Status = Failed
				return &failure{ref, err}
			}
		}
	}
	for _, ref := range u.refs {
		recs[ref.plan].Steps[ref.step].Status = Started
	}
	var err error
	if u.g == nil {
		ref := u.refs[0]
		err = run(ctx, r, plans[ref.plan].Steps[ref.step].Action)
	} else {
		id := ""
		if !u.g.in.IsHost() {
			id = recs[u.refs[0].plan].TargetID
		}
		err = u.g.run(ctx, r, id)
	}
	if err == nil {
		for _, ref := range u.refs {
			recs[ref.plan].Steps[ref.step].Status = Done
		}
		return nil
	}
	k := 0
	if u.g != nil {
		var status []Status
		k, status = u.g.outcome(actions.StderrOf(err))
		for j, ref := range u.refs {
			recs[ref.plan].Steps[ref.step].Status = status[j]
		}
		err = u.g.blame(err, plans[u.refs[k].plan].Steps[u.refs[k].step].Action)
	}
	ref := u.refs[k]
	recs[ref.plan].Steps[ref.step].Status, recs[ref.plan].Steps[ref.step].Error = Failed, err.Error()
	return &failure{ref, err}
}

// DownAll undoes many objects, as `bridge detach` of several containers and
// `bridge down --force` do; see unwindAll.
func DownAll(ctx context.Context, r actions.Runner, st *Store, recs []*Record, mode Mode) ([]string, error) {
	return unwindAll(ctx, r, st, recs, mode)
}

// unwindAll undoes many objects. Deleting a link makes the kernel wait for a
// grace period (about 20 ms here), once per request: deleting 200 veths one
// by one takes seconds, while deleting them as one link group takes one
// request. So, in batch mode, the objects whose only undo is deleting one
// host link (attachments) are put in a link group of plumb's choosing and
// deleted together; every other object is undone on its own, in reverse.
func unwindAll(ctx context.Context, r actions.Runner, st *Store, recs []*Record, mode Mode) ([]string, error) {
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
		cmds, err := unwind(ctx, r, st, recs[i])
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
		u, err := s.Undo.decode()
		if err != nil || found {
			return del, false
		}
		d, ok := u.(actions.LinkDel)
		if !ok || !d.In.IsHost() || !plainWord.MatchString(d.Name.String()) {
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
	for _, rec := range recs {
		rec.State = StateUndoing
		if err := st.Save(rec); err != nil {
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
	lineErrs := batchLineErrors(actions.StderrOf(runErr))
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
		if serr := st.Save(rec); serr != nil {
			errs = append(errs, serr)
		}
	}
	return ran, errors.Join(errs...)
}

// batchLineErrors splits the stderr of `ip -force -batch` into each failing
// line's message, by line number (from 1): ip prints the message, then
// "Command failed -:N".
func batchLineErrors(stderr string) map[int]string {
	out := map[int]string{}
	var msg []string
	for _, l := range strings.Split(stderr, "\n") {
		if m := ipFailedLine.FindStringSubmatch(l); m != nil {
			var n int
			fmt.Sscan(m[1], &n)
			out[n] = strings.Join(msg, "; ")
			msg = nil
			continue
		}
		if l = strings.TrimSpace(l); l != "" {
			msg = append(msg, l)
		}
	}
	return out
}
