package plan

import (
	"net/netip"

	"plumb/actions"
)

// VethKind is a point-to-point network's (veth up).
var VethKind = Register(vethKind{})

type vethKind struct{ FactsCodec[VethFacts] }

func (vethKind) Name() string      { return "veth" }
func (vethKind) FactsVersion() int { return 1 }

// VethFacts are a point-to-point network's (veth up).
type VethFacts struct {
	Target string         `json:"target"` // the container as `ip link set DEV netns` names it
	HostIf actions.IfName `json:"host_if"`
	ContIf actions.IfName `json:"cont_if"`
	Subnet netip.Prefix   `json:"subnet"`
	HostIP netip.Addr     `json:"host_ip"`
	ContIP netip.Addr     `json:"cont_ip"`
	Uplink actions.IfName `json:"uplink,omitempty"` // "" without NAT
	// Firewall is the back end of its rules: "" iptables, or "nftables".
	Firewall string `json:"firewall,omitempty"`
}

// Kind is VethKind.
func (VethFacts) Kind() Kind { return VethKind }

func (vethKind) DecodeDetails(d *DetailsReader) Facts {
	return VethFacts{Target: d.S("target"), HostIf: d.IfName("host_if"), ContIf: d.IfName("cont_if"), Subnet: d.Prefix("subnet"),
		HostIP: d.Addr("host_ip"), ContIP: d.Addr("cont_ip"), Uplink: d.IfName("uplink"), Firewall: d.S("firewall")}
}

// Rules: a veth's NAT and forwarding rules; it puts no container on a
// bridge.
func (vethKind) Rules(Facts) (rules, bridged bool) { return true, false }

func (vethKind) Firewall(f Facts) string {
	v, _ := f.(VethFacts)
	return v.Firewall
}

func (vethKind) Subnets(f Facts) []netip.Prefix {
	v, _ := f.(VethFacts)
	return []netip.Prefix{v.Subnet}
}
