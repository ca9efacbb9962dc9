package plan

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"

	"plumb/actions"
)

// A Kind is one kind of object plumb keeps (a bridge, a container...): the
// one place that knows how its facts are kept and what its objects mean to
// the others. Each kind registers itself once (Register); the engine asks
// the registry (Lookup) and a kind's optional capabilities below, never
// compares kind names, so a new kind is one type in one file.
type Kind interface {
	// Name is the kind as journals, locks and messages name it.
	Name() string
	// FactsVersion is the version of the JSON form of the kind's facts,
	// kept in each record beside them: raised when a field changes
	// meaning, so an older plumb refuses what it would misread.
	FactsVersion() int
	// DecodeFacts reads facts kept as JSON of the kind's struct.
	DecodeFacts(data json.RawMessage) (Facts, error)
	// DecodeDetails reads facts kept as the map of strings plumb wrote
	// before typed facts (journals of format 1 up to 3747705).
	DecodeDetails(d *DetailsReader) Facts
}

// The optional capabilities of a kind: each is asked of the kinds that
// have the thing, and kinds without it have none of it.
type (
	// Dependents are objects whose removal must come first or refuses
	// this one's: a bridge's attachments and containers, an image
	// layer's images and containers, a layer's containers. They are
	// headers (Store.Headers): Load one to undo it.
	Dependents interface {
		Dependents(st *Store, rec *Record, f Facts) []*Record
	}
	// Guarded kinds check, and prepare, the removal of one of theirs:
	// they refuse it (a *Refused, worded for the user) or give the
	// objects to undo before it (a bridge's attachments, with --force).
	Guarded interface {
		BeforeDown(env Env, rec *Record, opts DownOptions, dryRun bool) (before []*Record, err error)
	}
	// Indexed kinds have entries in the index (see index.go) besides
	// their unfinished mark.
	Indexed interface {
		IndexEntries(l Layout, f Facts) []string
	}
	// RuleWriter kinds write firewall rules: Rules says whether an
	// object with facts f does, Bridged whether it puts a container on
	// a bridge (where br_netfilter matters), Firewall the back end its
	// rules are in ("" iptables, or "nftables").
	RuleWriter interface {
		Rules(f Facts) (rules, bridged bool)
		Firewall(f Facts) string
	}
	// Attached kinds may hold a place on a bridge (an attachment, a
	// container run with --net): ok false when this one has none.
	Attached interface {
		Attachment(f Facts) (AttachmentFacts, bool)
	}
	// Rooted kinds have an overlay: their own, or a container's root.
	Rooted interface {
		Overlay(f Facts) (o OverlayFacts, ok bool)
	}
	// Networks take up subnets (a veth, a bridge: two when dual stack).
	Networks interface {
		Subnets(f Facts) []netip.Prefix
	}
	// Locked kinds take a lock of their own other than locks/KIND/NAME:
	// a network's is its NetworkLock.
	Locked interface {
		ObjectLock(name string) Lock
	}
	// FactsChecker kinds keep in their facts what no step of theirs
	// records (a mesh's peers): CheckFacts probes it, read-only, for
	// `plumb check`, giving drift (Step 0) and a note for its report.
	FactsChecker interface {
		CheckFacts(ctx context.Context, r actions.Runner, rec *Record, f Facts) (drift []Drift, note string, err error)
	}
	// Held kinds' objects are there for others, their dependents (a
	// sandbox for its containers, a root file system for its container):
	// removed with the last of them (Holding), and undone by recover when
	// none holds them any more, as a crash between making one and its
	// first holder, or between removing its last holder and it, leaves
	// it (see Orphans).
	Held interface{ Held() }
	// Holding kinds' objects hold others (Held ones): removed, what they
	// hold and nothing else does goes after them. Holds are headers.
	Holding interface {
		Holds(st *Store, rec *Record, f Facts) []*Record
	}
	// Deriving kinds' facts hold what a recipe adds of its own, not from
	// its input (a bridge's loopback guard): Input is f without it, so
	// that a record made by an older plumb, which lacks it, is still the
	// same input.
	Deriving interface {
		Input(f Facts) Facts
	}
)

// registry holds the registered kinds, by name.
var registry = map[string]Kind{}

// Register adds k to the registry and returns it; a kind's file registers
// its one value in a package variable. Registering a name twice is a bug.
func Register(k Kind) Kind {
	if _, dup := registry[k.Name()]; dup {
		panic("plan: kind " + k.Name() + " registered twice")
	}
	registry[k.Name()] = k
	return k
}

// Lookup is the kind named name; ok false when plumb keeps none such.
func Lookup(name string) (Kind, bool) {
	k, ok := registry[name]
	return k, ok
}

// Kinds are the registered kinds' names, sorted.
func Kinds() []string {
	out := make([]string, 0, len(registry))
	for n := range registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// IsHeld reports whether r is there for others (Held): removed with the
// last that holds it.
func IsHeld(r *Record) bool {
	_, ok := capability[Held](r)
	return ok
}

// Is reports whether r is an object of kind k.
func (r *Record) Is(k Kind) bool { return r.Kind == k.Name() }

// OfKind are the records among recs of kind k, in their order.
func OfKind(recs []*Record, k Kind) []*Record {
	var out []*Record
	for _, r := range recs {
		if r.Is(k) {
			out = append(out, r)
		}
	}
	return out
}

// capability is r's kind as a C, ok false when its kind is not registered
// or lacks it.
func capability[C any](r *Record) (C, bool) {
	k, _ := Lookup(r.Kind)
	c, ok := k.(C)
	return c, ok
}

// FactsCodec is how a kind's facts F are kept: as JSON of F, decoded
// strictly (a field this plumb does not know is refused, not dropped).
// Kinds embed it.
type FactsCodec[F Facts] struct{}

// DecodeFacts reads F from data.
func (FactsCodec[F]) DecodeFacts(data json.RawMessage) (Facts, error) {
	var f F
	if err := strictUnmarshal(data, &f); err != nil {
		return nil, err
	}
	return f, nil
}

// Firewalled says whether any of recs is an object with firewall rules (a
// veth, a bridge, an attachment, a container on a bridge), and whether any
// puts containers on a bridge. A record whose facts cannot be read counts
// as its kind's would with none of them.
func Firewalled(recs []*Record) (rules, bridged bool) {
	for _, r := range recs {
		rw, ok := capability[RuleWriter](r)
		if !ok {
			continue
		}
		f, _ := r.Facts() // nil when unreadable: the kind says what it can
		ru, br := rw.Rules(f)
		rules, bridged = rules || ru, bridged || br
	}
	return rules, bridged
}

// DependentsOf are the objects that depend on rec, as its kind says
// (headers: Load one to undo it); none for a kind without dependents, an
// error when rec's facts cannot be read.
func DependentsOf(st *Store, rec *Record) ([]*Record, error) {
	d, ok := capability[Dependents](rec)
	if !ok {
		return nil, nil
	}
	f, err := rec.Facts()
	if err != nil {
		return nil, err
	}
	return d.Dependents(st, rec, f), nil
}

// factsFirewall is the back end of the rules of an object with facts f:
// "nftables", or "" for iptables and objects with no rules.
func factsFirewall(f Facts) string {
	if f == nil {
		return ""
	}
	if rw, ok := f.Kind().(RuleWriter); ok {
		return rw.Firewall(f)
	}
	return ""
}

// bridged reports whether p puts a container on a bridge, as its kind
// says of its facts.
func (p *Plan) bridged() bool {
	k, _ := Lookup(p.Kind)
	if rw, ok := k.(RuleWriter); ok {
		_, b := rw.Rules(p.Facts)
		return b
	}
	return false
}

// holdsAttachment reports whether objects of kind could hold a container's
// place on a bridge (an attachment, a container).
func holdsAttachment(kind string) bool {
	k, _ := Lookup(kind)
	_, ok := k.(Attached)
	return ok
}

// kindOf is the kind of r, or an error naming r when plumb keeps none such.
func kindOf(r *Record) (Kind, error) {
	k, ok := Lookup(r.Kind)
	if !ok {
		return nil, fmt.Errorf("%s: plumb keeps no objects of kind %q", r.ID(), r.Kind)
	}
	return k, nil
}
