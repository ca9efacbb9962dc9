package actions

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
)

// Encoded is an action as the journal stores it: its kind, its typed fields,
// and the argv it rendered when it was written. Decoding checks that the
// fields still render the same argv, so an edited journal never runs a
// command other than the one recorded.
type Encoded struct {
	Kind string          `json:"kind"`
	Spec json.RawMessage `json:"spec"`
	Argv []string        `json:"argv"`
}

// Encode turns an action into its journal form.
func Encode(a Action) (Encoded, error) {
	spec, err := json.Marshal(a)
	if err != nil {
		return Encoded{}, fmt.Errorf("encoding %s: %w", a.Kind(), err)
	}
	return Encoded{Kind: a.Kind(), Spec: spec, Argv: a.Argv()}, nil
}

// Decode is the inverse of Encode over the closed set of action kinds.
func Decode(e Encoded) (Action, error) {
	decode, ok := decoders[e.Kind]
	if !ok {
		return nil, fmt.Errorf("unknown action kind %q", e.Kind)
	}
	a, err := decode(e.Spec)
	if err != nil {
		return nil, fmt.Errorf("action %s: %w", e.Kind, err)
	}
	if got := a.Argv(); !slices.Equal(got, e.Argv) {
		return nil, fmt.Errorf("action %s: recorded command %q does not match its fields, which give %q", e.Kind, Quote(e.Argv), Quote(got))
	}
	return a, nil
}

// Kinds lists, sorted, every action kind Decode accepts: what a journal may
// hold. Tests use it to check that each one round-trips.
func Kinds() []string { return slices.Sorted(maps.Keys(decoders)) }

// decoders is the closed set of action kinds the journal may hold, by Kind().
// An action type missing here could be written to a journal but not read
// back (plumb recover would fail on it); TestEveryKindRoundTrips catches it.
var decoders = newRegistry(
	register[LinkAddVeth](),
	register[LinkDel](),
	register[LinkSetNetns](),
	register[LinkSetUp](),
	register[AddrAdd](),
	register[RouteAddDefault](),
	register[RouteAdd](),
	register[LinkSetHairpin](),
	register[SysctlSet](),
	register[LinkSysctlSet](),
	register[IptablesAppend](),
	register[IptablesDelete](),
	register[LinkAddBridge](),
	register[LinkSetMTU](),
	register[LinkChangeMTU](),
	register[LinkSetMaster](),
	register[LinkRename](),
	register[IptablesInsert](),
	register[IptablesNewChain](),
	register[IptablesDeleteChain](),
	register[NetnsAdd](),
	register[NetnsDel](),
	register[Touch](),
	register[RemoveFile](),
	register[UTSNew](),
	register[StartContainer](),
	register[StopContainer](),
	register[WriteConfig](),
	register[CopyUp](),
	register[ResolverStart](),
	register[ResolverStop](),
	register[RuntimeRun](),
	register[RuntimeDelete](),
	register[Extract](),
	register[Mkdir](),
	register[RmdirEmpty](),
	register[OverlayMount](),
	register[Umount](),
	register[RemoveTree](),
	register[UnpackLayer](),
	register[Symlink](),
	register[NetnsNew](),
	register[WriteFile](),
	register[NftApply](),
	register[NftDelete](),
	register[Move](),
	register[RewriteJournal](),
	register[LinkAddVxlan](),
	register[TunnelUnroute](),
	register[TunnelRoute](),
	register[TunnelFdb](),
	register[FdbAdd](),
	register[FdbDel](),
	register[FdbReplace](),
	register[NeighAdd](),
	register[NeighDel](),
	register[RouteAddOnlink](),
	register[RouteDel](),
)

// registration is one action type: its kind, as its zero value names it
// (Kind never depends on the fields), and how to decode its fields.
type registration struct {
	kind   string
	decode func(json.RawMessage) (Action, error)
}

func register[T Action]() registration {
	var zero T
	return registration{kind: zero.Kind(), decode: decodeAs[T]}
}

func newRegistry(rs ...registration) map[string]func(json.RawMessage) (Action, error) {
	m := make(map[string]func(json.RawMessage) (Action, error), len(rs))
	for _, r := range rs {
		if _, dup := m[r.kind]; dup || r.kind == "" {
			panic(fmt.Sprintf("actions: action kind %q registered twice or empty", r.kind))
		}
		m[r.kind] = r.decode
	}
	return m
}

func decodeAs[T Action](spec json.RawMessage) (Action, error) {
	var a T
	dec := json.NewDecoder(bytes.NewReader(spec))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		return nil, err
	}
	return a, nil
}
