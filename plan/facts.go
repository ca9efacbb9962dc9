package plan

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"plumb/actions"
)

// Facts are what an object's later commands look it up by or show, one
// typed struct per kind (see kind.go). The journal keeps them as JSON of
// that struct under "facts", with the kind's facts_version; journals
// written before then keep a map of strings under "details", still read
// (DetailsReader), never written again.
type Facts interface {
	// Kind is the kind whose facts these are.
	Kind() Kind
}

// Facts decodes the record's facts, by its kind: the typed form when it
// has one, else the details map.
func (r *Record) Facts() (Facts, error) {
	k, err := kindOf(r)
	if err != nil {
		return nil, err
	}
	if r.FactsJSON != nil {
		if d := &r.decoded; d.facts != nil && sameBytes(d.from, r.FactsJSON) {
			return d.facts, nil
		}
		var f Facts
		switch o, older := k.(olderFacts); {
		case r.FactsVersion == k.FactsVersion():
			f, err = k.DecodeFacts(r.FactsJSON)
		case older && r.FactsVersion >= 1 && r.FactsVersion < k.FactsVersion():
			f, err = o.DecodeOlderFacts(r.FactsVersion, r.FactsJSON)
		default:
			return nil, fmt.Errorf("%s: the journal's facts are of version %d; this plumb reads version %d of a %s's", r.ID(), r.FactsVersion, k.FactsVersion(), k.Name())
		}
		if err != nil {
			return nil, fmt.Errorf("%s: the journal's facts cannot be read: %w", r.ID(), err)
		}
		if b, ok := f.(besideFacts); ok && b.besideName() != "" {
			if r.beside == nil {
				return nil, fmt.Errorf("%s: its facts keep %s beside the journal, and no store to read it from was given", r.ID(), b.besideName())
			}
			data, err := r.beside(b.besideName())
			if err != nil {
				return nil, fmt.Errorf("%s: %w", r.ID(), err)
			}
			if f, err = b.withBeside(data); err != nil {
				return nil, fmt.Errorf("%s: %s beside the journal cannot be read: %w", r.ID(), b.besideName(), err)
			}
		}
		r.decoded.from, r.decoded.facts = r.FactsJSON, f
		return f, nil
	}
	d := &DetailsReader{m: r.Details}
	f := k.DecodeDetails(d)
	if len(d.bad) > 0 {
		return nil, fmt.Errorf("%s: the journal's %s cannot be read", r.ID(), strings.Join(d.bad, ", "))
	}
	return f, nil
}

// sameBytes reports whether a and b are the same slice of memory (not
// only equal bytes): facts set again are new bytes, decoded again.
func sameBytes(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// upgradeFacts keeps a details map read from an older journal as typed
// facts, so that no journal is written with details again. Details that
// cannot be read are kept as they are: Facts goes on saying why.
func (r *Record) upgradeFacts() {
	if r.FactsJSON != nil || r.Details == nil {
		return
	}
	if f, err := r.Facts(); err == nil {
		_ = r.SetFacts(f) // a record's own kind's facts: only encoding could fail, and then details stay
	}
}

// hasFacts reports whether the record keeps any facts, in either form.
func (r *Record) hasFacts() bool { return r.FactsJSON != nil || len(r.Details) > 0 }

// SetFacts keeps f as the record's facts, in their typed form: a record
// read with a details map is written back without it.
func (r *Record) SetFacts(f Facts) error {
	if f == nil {
		r.FactsJSON, r.FactsVersion, r.Details = nil, 0, nil
		return nil
	}
	if f.Kind().Name() != r.Kind {
		return fmt.Errorf("%s: the facts of a %s given", r.ID(), f.Kind().Name())
	}
	data, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("%s: encoding its facts: %w", r.ID(), err)
	}
	r.FactsJSON, r.FactsVersion, r.Details = data, f.Kind().FactsVersion(), nil
	// Kept as decoded: the store writes what facts keep beside the
	// journal from them (see beside.go).
	r.decoded = decodedFacts{from: data, facts: f}
	return nil
}

// BridgeFacts reads a bridge's facts.
func (r *Record) BridgeFacts() (BridgeFacts, error) {
	if !r.Is(BridgeKind) {
		return BridgeFacts{}, fmt.Errorf("%s is not a bridge", r.ID())
	}
	f, err := r.Facts()
	if err != nil {
		return BridgeFacts{}, err
	}
	b := f.(BridgeFacts)
	if !b.Subnet.IsValid() || !b.Gateway.IsValid() {
		return BridgeFacts{}, fmt.Errorf("%s: the journal has no valid subnet and gateway", r.ID())
	}
	return b, nil
}

// Firewall is the back end of the record's rules, as its facts say:
// "nftables", or "" for iptables (and for objects with no rules, or whose
// facts cannot be read).
func (r *Record) Firewall() string {
	f, err := r.Facts()
	if err != nil {
		return ""
	}
	return factsFirewall(f)
}

// Attachment is the record's place on a bridge: an attachment's, or a
// container's with a network. ok is false for every other record, and for
// one whose facts cannot be read (Facts says why).
func (r *Record) Attachment() (AttachmentFacts, bool) {
	a, ok := capability[Attached](r)
	if !ok {
		return AttachmentFacts{}, false // not worth decoding
	}
	f, err := r.Facts()
	if err != nil {
		return AttachmentFacts{}, false
	}
	return a.Attachment(f)
}

// AttachmentFacts is Attachment with the reason when there is none: the
// record's facts cannot be read, or it holds no place on a bridge.
func (r *Record) AttachmentFacts() (AttachmentFacts, error) {
	if a, ok := r.Attachment(); ok {
		return a, nil
	}
	if _, err := r.Facts(); err != nil {
		return AttachmentFacts{}, err
	}
	return AttachmentFacts{}, fmt.Errorf("%s is on no bridge", r.ID())
}

// OverlayFacts is Overlay with the reason when there is none: the record's
// facts cannot be read, or it has no overlay.
func (r *Record) OverlayFacts() (OverlayFacts, error) {
	if o, ok := r.Overlay(); ok {
		return o, nil
	}
	if _, err := r.Facts(); err != nil {
		return OverlayFacts{}, err
	}
	return OverlayFacts{}, fmt.Errorf("%s has no overlay", r.ID())
}

// Overlay is the record's overlay: an overlay's, or a container's root. ok
// is false for every other record, and for one whose facts cannot be read
// (Facts says why).
func (r *Record) Overlay() (OverlayFacts, bool) {
	o, ok := capability[Rooted](r)
	if !ok {
		return OverlayFacts{}, false
	}
	f, err := r.Facts()
	if err != nil {
		return OverlayFacts{}, false
	}
	return o.Overlay(f)
}

// Subnets are the subnets a network object (veth or bridge) takes up: a
// dual-stack bridge's two. None for other objects, or when its facts cannot
// be read.
func (r *Record) Subnets() []netip.Prefix {
	n, ok := capability[Networks](r)
	if !ok {
		return nil
	}
	f, err := r.Facts()
	if err != nil {
		return nil
	}
	return n.Subnets(f)
}

// Image reads an image's facts.
func (r *Record) Image() (ImageFacts, error) {
	if !r.Is(ImageKind) {
		return ImageFacts{}, fmt.Errorf("%s is not an image", r.ID())
	}
	f, err := r.Facts()
	if err != nil {
		return ImageFacts{}, err
	}
	return f.(ImageFacts), nil
}

// ImageLayer reads an image layer's facts.
func (r *Record) ImageLayer() (ImageLayerFacts, error) {
	if !r.Is(ImageLayerKind) {
		return ImageLayerFacts{}, fmt.Errorf("%s is not an image layer", r.ID())
	}
	f, err := r.Facts()
	if err != nil {
		return ImageLayerFacts{}, err
	}
	return f.(ImageLayerFacts), nil
}

// sameFacts reports whether a and b are the same input: equal as their
// kind keeps them, less what the kind derives of its own.
func sameFacts(a, b Facts) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	if a.Kind() != b.Kind() {
		return false
	}
	if c, ok := a.(comparer); ok {
		return c.same(b)
	}
	if d, ok := a.Kind().(Deriving); ok {
		a, b = d.Input(a), d.Input(b)
	}
	ja, erra := json.Marshal(a)
	jb, errb := json.Marshal(b)
	return erra == nil && errb == nil && string(ja) == string(jb)
}

// olderFacts is a kind that still reads its facts of an earlier version,
// as journals written before it changed them hold them.
type olderFacts interface {
	DecodeOlderFacts(version int, data json.RawMessage) (Facts, error)
}

// comparer is facts that compare themselves faster than by their JSON (a
// mesh's thousand peers).
type comparer interface{ same(Facts) bool }

// DetailsReader reads a journal's details map, the form of facts before
// they were typed, noting the keys whose values cannot be parsed (absent
// keys read as zero values, as they were written).
type DetailsReader struct {
	m   map[string]string
	bad []string
}

// S is key k's string.
func (d *DetailsReader) S(k string) string { return d.m[k] }

// Addr is key k's address.
func (d *DetailsReader) Addr(k string) netip.Addr { return parse(d, k, netip.ParseAddr) }

// Prefix is key k's prefix.
func (d *DetailsReader) Prefix(k string) netip.Prefix { return parse(d, k, netip.ParsePrefix) }

// Num is key k's number.
func (d *DetailsReader) Num(k string) int { return parse(d, k, strconv.Atoi) }

// Int64 is key k's 64-bit number.
func (d *DetailsReader) Int64(k string) int64 {
	return parse(d, k, func(s string) (int64, error) { return strconv.ParseInt(s, 10, 64) })
}

// IfName is key k's interface name.
func (d *DetailsReader) IfName(k string) actions.IfName { return actions.IfName(d.m[k]) }

// JSON reads key k as JSON into v: absent or empty leaves v alone.
func (d *DetailsReader) JSON(k string, v any) {
	if s := d.m[k]; s != "" {
		if err := json.Unmarshal([]byte(s), v); err != nil {
			d.Bad(k)
		}
	}
}

// Bad notes key k as one whose value cannot be read.
func (d *DetailsReader) Bad(k string) { d.bad = append(d.bad, k) }

// parse reads key k with p: absent or empty is the zero value, a value p
// refuses is noted as bad.
func parse[T any](d *DetailsReader, k string, p func(string) (T, error)) T {
	var zero T
	v, ok := d.m[k]
	if !ok || v == "" {
		return zero
	}
	t, err := p(v)
	if err != nil {
		d.Bad(k)
		return zero
	}
	return t
}
