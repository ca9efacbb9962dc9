package plan

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"plumb/plan/firewall"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"

	"plumb/actions"
)

// Env is what bringing objects up and down works with: the runner that
// starts every process (probes included), the state directory, how long to
// wait for its lock, and how steps are grouped into processes.
type Env struct {
	R    actions.Runner
	St   *Store
	Wait time.Duration
	Mode Mode
	// Proc is the /proc read for the host's firewalls ("" is /proc): tests
	// name another so as not to read the host's.
	Proc string
	// Warned holds the warnings this call logged, so that a call that
	// brings up several objects (a CNI ADD that makes its bridge, then
	// attaches) says each once; nil logs every warning.
	Warned *Warned
}

// Recipe is one kind of object plumb brings up (veth, bridge, attachments,
// overlay, layer, container). Up calls its methods in this order, Preflight
// only when the plan is to be applied.
type Recipe interface {
	// Check applies the rules of the input alone, before anything is read;
	// it changes nothing, the recipe included.
	Check() error
	// Plan lays out the steps, reading plumb's records and the host
	// (read-only) where the plan depends on them. Up holds the state
	// directory's lock when it is to be applied. A recipe for many objects
	// in one call gives a plan for each.
	Plan(ctx context.Context, env Env) ([]*Plan, error)
	// Preflight checks the host just before applying, so that most failures
	// change nothing, and warns of what works but may surprise.
	Preflight(ctx context.Context, env Env) (warnings []string, err error)
}

// Redoable is a recipe whose object may be asked for again. Again says what
// the object's state is called when rec (kept) was made from the same input
// as p ("up", "mounted"): nothing is to be done. Other input is changed into
// the new where the recipe is an Updater, else refused, saying how to remove
// the object first.
type Redoable interface {
	Again(rec *Record, p *Plan) (state string, err error)
}

// Again is Again for objects that are simply "up" until a command removes them.
func Again(rec *Record, p *Plan, state, downCmd string) (string, error) {
	if rec.State != StateUp {
		return "", &Refused{Msg: fmt.Sprintf("%s has an unfinished plan (state %s); run `plumb recover` first", rec.ID(), rec.State)}
	}
	if !SameInput(rec, p) {
		return "", &Refused{Msg: fmt.Sprintf("%s is already %s with other settings (%s); run `%s` first", rec.ID(), state, rec.Summary, downCmd)}
	}
	return state, nil
}

// renames reports whether p, of an Updater, changes only the names the
// object answers to on its network (its facts the same): an alias
// changed in place. Other recipes' plans leave names out of SameInput.
func renames(rc Recipe, rec *Record, p *Plan) bool {
	_, ok := rc.(Updater)
	return ok && p.Names != nil && !slices.Equal(rec.Names, p.Names)
}

// Outcome is what Up did.
type Outcome struct {
	Plans   []*Plan
	Records []*Record // as applied; nil for a dry run
	// Unchanged is the object plumb already keeps, made from the same input;
	// nothing ran. State says what it is ("up", "mounted").
	Unchanged *Record
	State     string
}

// Up is the one bring-up sequence: check the input, take the locks the
// recipe names (see Locker), find an object already kept (Finder), give
// out its addresses (Allocate), plan, recognise an object already there
// (Redoable) and update it (Updater), or check the host, apply. With dryRun it
// stops after planning, takes no lock and changes nothing.
func Up(ctx context.Context, env Env, rc Recipe, dryRun bool) (*Outcome, error) {
	if err := rc.Check(); err != nil {
		return nil, err
	}
	if !dryRun {
		if err := lockFor(ctx, env, rc); err != nil {
			return nil, err
		}
	}
	if f, ok := rc.(Finder); ok {
		found, err := f.Existing(env)
		if err != nil {
			return nil, err
		}
		if found != nil {
			rc = found
			// What it took from the object found (a bridge's kept
			// settings) joins the input: checked as given input is.
			if err := rc.Check(); err != nil {
				return nil, err
			}
			if !dryRun {
				if err := lockFor(ctx, env, rc); err != nil {
					return nil, err
				}
			}
		}
	}
	free, err := Allocate(ctx, env, rc, !dryRun)
	if err != nil {
		return nil, err
	}
	defer free()
	plans, err := rc.Plan(ctx, env)
	if err != nil {
		return nil, err
	}
	if dryRun {
		// Applied, the executor refuses them; printed, they are refused
		// here alike.
		if err := recordable(plans...); err != nil {
			return nil, err
		}
	}
	out := &Outcome{Plans: plans}
	if redo, ok := rc.(Redoable); ok && len(plans) == 1 {
		p := plans[0]
		// Again reads the journal's header alone (state, details): a CNI
		// ADD asks for its bridge every time, and decoding and checking
		// every step of it cost as much as the rest of the planning.
		rec, err := env.St.LoadHeader(p.Kind, p.Name)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil && !dryRun:
			return nil, err
		case err == nil && rec.State == StateUp && (!SameInput(rec, p) || renames(rc, rec, p)):
			var upd *Plan
			if u, ok := rc.(Updater); ok {
				if upd, err = updateOf(ctx, env, u, p); err != nil {
					return nil, err
				}
			}
			if upd == nil {
				_, err := redo.Again(rec, p)
				if dryRun {
					break
				}
				return nil, err
			}
			out.Plans = []*Plan{upd}
			if upd.Replace && dryRun {
				zerolog.Ctx(ctx).Warn().Msgf("%s cannot change in place (%s): this plan replaces it (down, then up)", p.ID(), upd.Changes)
			}
			if dryRun {
				return out, nil
			}
			if upd.Replace {
				return out, replace(ctx, env, rc, out, p, upd.Remake)
			}
			// Update read the host itself: the recipe's Preflight is
			// for an object not made yet.
			return out, apply(ctx, env, out, nil)
		case err == nil:
			state, err := redo.Again(rec, p)
			if dryRun {
				if err == nil {
					zerolog.Ctx(ctx).Warn().Msgf("%s is already %s; applying would change nothing", p.ID(), state)
				}
				break
			}
			if err != nil {
				return nil, err
			}
			out.Unchanged, out.State = rec, state
			return out, nil
		}
	}
	if dryRun {
		return out, nil
	}
	warnings, err := rc.Preflight(ctx, env)
	if err != nil {
		return nil, err
	}
	return out, apply(ctx, env, out, warnings)
}

// apply logs warnings and applies out's plans, keeping their records in out.
func apply(ctx context.Context, env Env, out *Outcome, warnings []string) (err error) {
	plans := out.Plans
	for _, w := range warnings {
		env.Warned.Once(ctx, w)
	}
	// The host's firewalls are read beside the apply, not before it, in
	// batch mode: their one listing (nft -j list chains) costs a process,
	// which then runs while plumb's own wait on the kernel. Reading only,
	// and what plumb writes never has policy drop, so the warnings are the
	// same; they are logged once the apply ends. --exec each reads first,
	// so that one process runs at a time, in the order logged.
	hostWarnings := func() []string { return nil }
	if writes, bridged := writesRules(plans); writes || bridged {
		h := HostFirewall(env)
		for _, p := range plans {
			if p.Facts != nil && factsFirewall(p.Facts) != "" {
				h.Backend = factsFirewall(p.Facts)
			}
		}
		if env.Mode == Batch {
			done := make(chan []string, 1)
			go func() { done <- h.Warnings(ctx, bridged, writes) }()
			hostWarnings = func() []string { return <-done }
		} else {
			for _, w := range h.Warnings(ctx, bridged, writes) {
				env.Warned.Once(ctx, w)
			}
		}
	}
	out.Records, err = execute(ctx, env.R, env.St, plans, env.Mode)
	for _, w := range hostWarnings() {
		env.Warned.Once(ctx, w)
	}
	return err
}

// Settled reports whether rc's one object is up already as rc asks, so
// that Up would change nothing: what a CNI ADD asks of its bridge on every
// call, holding the network's lock shared (Up would take it exclusive).
// It is the refusal Up gives when the object is up with other settings or
// unfinished; ok false, with no error, when there is no such object yet.
// It takes no lock: the caller holds the object's.
func Settled(ctx context.Context, env Env, rc Recipe) (ok bool, err error) {
	redo, isRedo := rc.(Redoable)
	if !isRedo {
		return false, nil
	}
	if err := rc.Check(); err != nil {
		return false, err
	}
	plans, err := rc.Plan(ctx, env)
	if err != nil || len(plans) != 1 {
		return false, err
	}
	rec, err := env.St.LoadHeader(plans[0].Kind, plans[0].Name)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if _, err := redo.Again(rec, plans[0]); err != nil {
		return false, err
	}
	return true, nil
}

// One is the plans of a recipe for one object.
func One(p *Plan, err error) ([]*Plan, error) {
	if err != nil {
		return nil, err
	}
	return []*Plan{p}, nil
}

// recordable refuses a plan whose commands the journal cannot keep as they
// are: a word that is not UTF-8 (JSON would keep U+FFFD in its place, and
// the command recorded would not be the one run) or holds a NUL (no
// command line can).
func recordable(plans ...*Plan) error {
	for _, p := range plans {
		for _, s := range p.Steps {
			for _, w := range s.Action.Argv() {
				if !utf8.ValidString(w) {
					return Refuse("", "%q is not valid UTF-8; plumb's journal could not record it faithfully", w)
				}
				if strings.ContainsRune(w, 0) {
					return Refuse("", "%q holds a NUL byte, which no command line can", w)
				}
			}
		}
	}
	return nil
}

// HostFirewall reads the host's other firewalls for warnings (see
// firewall.Host), through env's runner and /proc.
func HostFirewall(env Env) firewall.Host {
	return firewall.Host{R: env.R, Proc: env.Proc}
}

// HostFirewallOf is HostFirewall for what recs wrote: the warnings are
// worded for nft when any of them keeps its rules in nft tables.
func HostFirewallOf(env Env, recs []*Record) firewall.Host {
	h := HostFirewall(env)
	for _, rec := range recs {
		if fw := rec.Firewall(); fw != "" {
			h.Backend = fw
		}
	}
	return h
}

// writesRules says whether plans write firewall rules, and whether they put
// containers on a bridge (where br_netfilter matters, and where forwarded
// traffic meets the host's firewalls even when the plan writes no rule).
func writesRules(plans []*Plan) (writes, bridged bool) {
	for _, p := range plans {
		if p.bridged() {
			bridged = true
		}
		for _, s := range p.Steps {
			if b, ok := s.Action.(actions.Batchable); ok {
				if batch, _, ok := b.Batch(); ok && batch.Tool.Firewall() {
					writes = true
				}
			}
		}
	}
	return writes, bridged
}

// Warned is the set of warnings one call has logged (see Env.Warned).
type Warned struct{ seen sync.Map }

// Once logs w unless this call logged it already; a nil Warned logs it.
func (ws *Warned) Once(ctx context.Context, w string) {
	if ws != nil {
		if _, seen := ws.seen.LoadOrStore(w, true); seen {
			return
		}
	}
	zerolog.Ctx(ctx).Warn().Msg(w)
}

// Finder is a recipe whose object may already be kept under a name its
// input alone does not give: an attachment is named after its address,
// which a new attach would give out, and is found by its container.
// Existing, run under the recipe's locks before allocation, returns the
// recipe for the object found (planned, recognised and updated as any
// Redoable), or nil to go on with rc.
type Finder interface {
	Existing(env Env) (Recipe, error)
}

// Allocator is a recipe that gives out addresses before it is planned.
// With reserve, the addresses are reserved, under the network's allocation
// lock; free gives back those that no journal came to hold (the plan
// failed, or was refused, before it was applied). Without, nothing is
// written: a dry run.
type Allocator interface {
	Allocate(ctx context.Context, env Env, reserve bool) (free func(), err error)
}

// Allocate runs rc's allocation stage, if it has one.
func Allocate(ctx context.Context, env Env, rc Recipe, reserve bool) (free func(), err error) {
	if a, ok := rc.(Allocator); ok {
		return a.Allocate(ctx, env, reserve)
	}
	return func() {}, nil
}
