package plan

import (
	"net/netip"
	"path/filepath"
	"slices"
	"strings"

	"plumb/actions"
	"plumb/plan/ipam"
)

// AttachmentKind is a container's place on a bridge (bridge attach, or a
// CNI ADD).
var AttachmentKind = Register(attachmentKind{})

type attachmentKind struct{ FactsCodec[AttachmentFacts] }

func (attachmentKind) Name() string      { return "attachment" }
func (attachmentKind) FactsVersion() int { return 1 }

// AttachmentFacts are a container's place on a bridge (bridge attach, or
// run --net).
type AttachmentFacts struct {
	Bridge    string         `json:"bridge"`
	IP        netip.Addr     `json:"ip"`
	PrefixLen int            `json:"prefix_len"`
	Gateway   netip.Addr     `json:"gateway"`
	HostVeth  actions.IfName `json:"host_veth"`
	If        actions.IfName `json:"if"`
	Target    string         `json:"target"` // the container's namespace, as actions.Netns.Label says it
	Ports     []Port         `json:"ports,omitempty"`
	Runtime   *RuntimeRef    `json:"runtime,omitempty"` // the runtime's name for it (CNI); nil: the CLI's
	// Firewall is its bridge's back end ("" iptables, or "nftables"),
	// where its published ports' rules are.
	Firewall string `json:"firewall,omitempty"`
	// IP6, PrefixLen6 and Gateway6 are its IPv6 side on a dual-stack
	// network (zero otherwise; on an IPv6-only one, IP is IPv6).
	IP6        netip.Addr `json:"ip6,omitzero"`
	PrefixLen6 int        `json:"prefix_len6,omitempty"`
	Gateway6   netip.Addr `json:"gateway6,omitzero"`
}

// Kind is AttachmentKind.
func (AttachmentFacts) Kind() Kind { return AttachmentKind }

func (attachmentKind) DecodeDetails(d *DetailsReader) Facts { return d.attachment() }

// IPs are its addresses: IP, then IP6 where it has one.
func (f AttachmentFacts) IPs() []netip.Addr {
	if f.IP6.IsValid() {
		return []netip.Addr{f.IP, f.IP6}
	}
	return []netip.Addr{f.IP}
}

// Of is its address, prefix length and gateway of family fam; ok false
// when it has none.
func (f AttachmentFacts) Of(fam ipam.Family) (ip netip.Addr, bits int, gw netip.Addr, ok bool) {
	switch {
	case f.IP.IsValid() && ipam.FamilyOf(f.IP) == fam:
		return f.IP, f.PrefixLen, f.Gateway, true
	case f.IP6.IsValid() && ipam.FamilyOf(f.IP6) == fam:
		return f.IP6, f.PrefixLen6, f.Gateway6, true
	}
	return netip.Addr{}, 0, netip.Addr{}, false
}

// MarshalText is the port as --publish takes it: [HOSTIP:]HOST:CONTAINER/PROTO.
func (p Port) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText reads a port as MarshalText writes it.
func (p *Port) UnmarshalText(b []byte) error {
	q, err := ParsePort(string(b))
	if err != nil {
		return err
	}
	*p = q
	return nil
}

func (attachmentKind) Attachment(f Facts) (AttachmentFacts, bool) {
	a, ok := f.(AttachmentFacts)
	return a, ok
}

func (attachmentKind) IndexEntries(l Layout, f Facts) []string {
	a, _ := f.(AttachmentFacts)
	return a.indexEntries(l)
}

// Rules: its published ports' rules, on a bridge.
func (attachmentKind) Rules(Facts) (rules, bridged bool) { return true, true }

func (attachmentKind) Firewall(f Facts) string {
	a, _ := f.(AttachmentFacts)
	return a.Firewall
}

// indexEntries are the index entries of a place on a bridge: its
// addresses, its target, its published ports.
func (f AttachmentFacts) indexEntries(l Layout) []string {
	if f.Bridge == "" {
		return nil
	}
	dir := l.bridgeIndex(f.Bridge)
	var out []string
	for _, ip := range f.IPs() {
		if ip.IsValid() {
			out = append(out, filepath.Join(dir, "ip-"+ip.String()))
		}
	}
	if f.Target != "" {
		out = append(out, filepath.Join(dir, "target-"+indexKey(f.Target)))
	}
	for _, p := range f.Ports {
		// A port published in each family apart (0.0.0.0:8080:80 and
		// [::]:8080:81) holds one entry.
		if e := l.portEntry(p.Proto, p.Host); !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out
}

func (d *DetailsReader) attachment() AttachmentFacts {
	a := AttachmentFacts{Bridge: d.S("bridge"), IP: d.Addr("ip"), PrefixLen: d.Num("prefix_len"), Gateway: d.Addr("gateway"),
		HostVeth: d.IfName("host_veth"), If: d.IfName("if"), Target: d.S("target"), Firewall: d.S("firewall"),
		IP6: d.Addr("ip6"), PrefixLen6: d.Num("prefix_len6"), Gateway6: d.Addr("gateway6")}
	if n := d.S("cni_network"); n != "" {
		a.Runtime = &RuntimeRef{Network: n, ContainerID: d.S("cni_container_id"), IfName: d.S("cni_ifname")}
	}
	if v := d.S("ports"); v != "" {
		for _, s := range strings.Split(v, ",") {
			p, err := ParsePort(s)
			if err != nil {
				d.Bad("ports")
				continue
			}
			a.Ports = append(a.Ports, p)
		}
	}
	return a
}
