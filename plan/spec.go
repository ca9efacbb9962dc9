package plan

import (
	"encoding/json"
	"fmt"
	"net/netip"

	"plumb/actions"
)

// Spec is the input an object was made from, as its record keeps it: the
// recipe's typed input in JSON, with a version of its own, so that a later
// command with other input can be planned from the old input to the new
// instead of refused.
type Spec struct {
	Version int             `json:"version"`
	Input   json.RawMessage `json:"input"`
}

// BridgeSpecVersion is the version of BridgeSpec's JSON.
const BridgeSpecVersion = 1

// BridgeSpec is a bridge's input as stored: what `plumb bridge up` was
// given, the defaults resolved where planning resolves them (the gateways,
// the firewall back end).
type BridgeSpec struct {
	Name     actions.IfName `json:"name"`
	Subnet   netip.Prefix   `json:"subnet"`
	Gateway  netip.Addr     `json:"gateway"`
	Uplink   actions.IfName `json:"uplink,omitempty"`
	NoNAT    bool           `json:"no_nat,omitempty"`
	MTU      int            `json:"mtu,omitempty"`
	Firewall string         `json:"firewall,omitempty"`
	Subnet6  netip.Prefix   `json:"subnet6,omitempty"`
	Gateway6 netip.Addr     `json:"gateway6,omitempty"`
	NAT6     bool           `json:"nat6,omitempty"`
	Mesh     string         `json:"mesh,omitempty"`
	Cluster  netip.Prefix   `json:"cluster,omitzero"`
	DNS      bool           `json:"dns,omitempty"`
	Project  string         `json:"project,omitempty"`
	Internal bool           `json:"internal,omitempty"`
	Isolate  bool           `json:"isolate,omitempty"`
}

// EncodeSpec is a spec of version v holding in.
func EncodeSpec(v int, in any) (*Spec, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return nil, fmt.Errorf("encoding the spec: %w", err)
	}
	return &Spec{Version: v, Input: b}, nil
}

// BridgeSpec is the spec the bridge was made from: the stored one, or for
// a record written before specs were stored, the one its facts give (the
// uplink, given only to check the MTU, is not recorded there). The error
// says why neither gives it; an update is then refused.
func (r *Record) BridgeSpec() (s BridgeSpec, err error) {
	if r.Spec != nil {
		if r.Spec.Version != BridgeSpecVersion {
			return s, fmt.Errorf("%s: spec version %d, this plumb reads %d", r.ID(), r.Spec.Version, BridgeSpecVersion)
		}
		if err := json.Unmarshal(r.Spec.Input, &s); err != nil {
			return s, fmt.Errorf("%s: decoding its spec: %w", r.ID(), err)
		}
		return s, nil
	}
	f, err := r.BridgeFacts()
	if err != nil {
		return s, err
	}
	return BridgeSpec{Name: actions.IfName(r.Name), Subnet: f.Subnet, Gateway: f.Gateway, NoNAT: !f.NAT && !f.Internal, MTU: f.MTU,
		Firewall: f.Firewall, Subnet6: f.Subnet6, Gateway6: f.Gateway6, NAT6: f.NAT6, Internal: f.Internal, Isolate: f.Isolate}, nil
}

// AttachSpecVersion is the version of AttachSpec's JSON.
const AttachSpecVersion = 1

// AttachSpec is an attachment's input as stored: the container, the
// addresses given out, its interface and the ports it publishes.
type AttachSpec struct {
	Bridge  string         `json:"bridge"`
	Target  string         `json:"target"`
	IP      netip.Addr     `json:"ip"`
	IP6     netip.Addr     `json:"ip6,omitempty"`
	If      actions.IfName `json:"if"`
	Publish []Port         `json:"publish,omitempty"`
	// Firewall is the back end its ports' rules are in ("" iptables).
	Firewall string `json:"firewall,omitempty"`
}

// AttachSpecOf is the spec facts f record.
func AttachSpecOf(f AttachmentFacts) AttachSpec {
	return AttachSpec{Bridge: f.Bridge, Target: f.Target, IP: f.IP, IP6: f.IP6, If: f.If, Publish: f.Ports, Firewall: f.Firewall}
}

// AttachSpec is the spec the attachment was made from: the stored one, or
// for a record written before specs were stored, the one its facts give.
func (r *Record) AttachSpec() (s AttachSpec, err error) {
	if r.Spec != nil {
		if r.Spec.Version != AttachSpecVersion {
			return s, fmt.Errorf("%s: spec version %d, this plumb reads %d", r.ID(), r.Spec.Version, AttachSpecVersion)
		}
		if err := json.Unmarshal(r.Spec.Input, &s); err != nil {
			return s, fmt.Errorf("%s: decoding its spec: %w", r.ID(), err)
		}
		return s, nil
	}
	f, ok := r.Attachment()
	if !ok {
		return s, fmt.Errorf("%s: its facts are not an attachment's", r.ID())
	}
	return AttachSpecOf(f), nil
}
