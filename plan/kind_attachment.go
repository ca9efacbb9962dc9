package plan

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
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
	// Pod is the Kubernetes pod a runtime made it for (CNI_ARGS), shown
	// by inspect; nil when the runtime named none.
	Pod *PodRef `json:"pod,omitempty"`
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
	dir := l.BridgeIndex(f.Bridge)
	var out []string
	for _, ip := range f.IPs() {
		if ip.IsValid() {
			out = append(out, filepath.Join(dir, "ip-"+ip.String()))
		}
	}
	if f.Target != "" {
		out = append(out, filepath.Join(dir, "target-"+IndexKey(f.Target)))
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

// Port is a published port: traffic to the host's Host port goes to the
// container's Container port.
type Port struct {
	Host      uint16
	Container uint16
	Proto     string // tcp or udp
	// HostIP, when given, is 0.0.0.0 or :: and publishes the port in that
	// family alone; zero: in each family the container has.
	HostIP netip.Addr
}

func (p Port) String() string {
	s := fmt.Sprintf("%d:%d/%s", p.Host, p.Container, p.Proto)
	switch {
	case !p.HostIP.IsValid():
		return s
	case p.HostIP.Is6():
		return "[" + p.HostIP.String() + "]:" + s
	}
	return p.HostIP.String() + ":" + s
}

// in reports whether the port is published in family f: in each family
// when no host address is given.
func (p Port) in(f ipam.Family) bool {
	return !p.HostIP.IsValid() || ipam.FamilyOf(p.HostIP) == f
}

// Shares reports whether p and q take the same host port and protocol in a
// family both publish in: 0.0.0.0:8080 and [::]:8080 do not, each has a
// family's rules of its own.
func (p Port) Shares(q Port) bool {
	return p.Host == q.Host && p.Proto == q.Proto &&
		(p.in(ipam.V4) && q.in(ipam.V4) || p.in(ipam.V6) && q.in(ipam.V6))
}

// ParsePort reads [HOSTIP:]HOST:CONTAINER[/tcp|/udp], HOSTIP 0.0.0.0 or
// [::] (Docker's way of publishing in one family).
func ParsePort(s string) (Port, error) {
	var hostIP netip.Addr
	rest := s
	if strings.Count(s, ":") > 1 || strings.HasPrefix(s, "[") {
		var ip string
		if strings.HasPrefix(s, "[") {
			end := strings.Index(s, "]:")
			if end < 0 {
				return Port{}, fmt.Errorf("%q is not [HOSTIP]:HOST:CONTAINER[/tcp|/udp], such as [::]:8080:80", s)
			}
			ip, rest = s[1:end], s[end+2:]
		} else {
			ip, rest, _ = strings.Cut(s, ":")
		}
		a, err := netip.ParseAddr(ip)
		if err != nil || strings.HasPrefix(s, "[") != a.Is6() {
			return Port{}, fmt.Errorf("%q: the host address is 0.0.0.0 or [::], such as [::]:8080:80", s)
		}
		if !a.IsUnspecified() {
			return Port{}, fmt.Errorf("%q: plumb publishes a port on all the host's addresses of a family; give 0.0.0.0 (IPv4) or [::] (IPv6), not %s", s, a)
		}
		hostIP = a
	}
	spec, proto, hasProto := strings.Cut(rest, "/")
	if !hasProto {
		proto = "tcp"
	}
	if proto != "tcp" && proto != "udp" {
		return Port{}, fmt.Errorf("%q: the protocol must be tcp or udp", s)
	}
	h, c, ok := strings.Cut(spec, ":")
	if !ok {
		return Port{}, fmt.Errorf("%q is not HOST:CONTAINER[/tcp|/udp], such as 8080:80", s)
	}
	hp, err1 := strconv.ParseUint(h, 10, 16)
	cp, err2 := strconv.ParseUint(c, 10, 16)
	if err1 != nil || err2 != nil || hp == 0 || cp == 0 {
		return Port{}, fmt.Errorf("%q: ports are numbers from 1 to 65535", s)
	}
	return Port{Host: uint16(hp), Container: uint16(cp), Proto: proto, HostIP: hostIP}, nil
}

// RuntimeRef is a container runtime's name for an attachment: CNI's
// network name, CNI_CONTAINERID and CNI_IFNAME.
type RuntimeRef struct {
	Network     string
	ContainerID string
	IfName      string
}

// PodRef is the pod a Kubernetes runtime (kubelet through containerd's
// or CRI-O's CRI) names in CNI_ARGS: K8S_POD_NAMESPACE, K8S_POD_NAME,
// K8S_POD_UID and K8S_POD_INFRA_CONTAINER_ID.
type PodRef struct {
	Namespace      string `json:"namespace,omitempty"`
	Name           string `json:"name,omitempty"`
	UID            string `json:"uid,omitempty"`
	InfraContainer string `json:"infra_container_id,omitempty"`
}

// Attachments lists the containers attached to a bridge, by address
// (headers only: Load one to undo it).
func Attachments(st *Store, bridge string) []*Record {
	recs, _ := st.Headers()
	type byIP struct {
		ip  netip.Addr
		rec *Record
	}
	var found []byIP
	for _, r := range recs {
		if f, ok := r.Attachment(); ok && f.Bridge == bridge {
			found = append(found, byIP{f.IP, r})
		}
	}
	// Each address parsed once: this runs twice per container of a call
	// for many, and parsing in every comparison cost ~0.45 ms a container
	// at 200.
	slices.SortFunc(found, func(a, b byIP) int { return a.ip.Compare(b.ip) })
	out := make([]*Record, len(found))
	for i, f := range found {
		out[i] = f.rec
	}
	return out
}
