package plan

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"plumb/actions"
	"plumb/plan/image"
	"plumb/plan/ipam"
)

// Facts are what an object's later commands look it up by or show, one
// typed struct per kind. The journal keeps them as its "details": a map of
// strings, the form plumb has written since format version 1. This file is
// the one place that writes and reads that map, so no other code knows its
// keys.
type Facts interface {
	encode() map[string]string
}

// VethFacts are a point-to-point network's (veth up).
type VethFacts struct {
	Target string // the container as `ip link set DEV netns` names it
	HostIf actions.IfName
	ContIf actions.IfName
	Subnet netip.Prefix
	HostIP netip.Addr
	ContIP netip.Addr
	Uplink actions.IfName // "" without NAT
	// Firewall is the back end of its rules: "" iptables, or "nftables".
	Firewall string
}

func (f VethFacts) encode() map[string]string {
	m := map[string]string{
		"target": f.Target, "host_if": f.HostIf.String(), "cont_if": f.ContIf.String(),
		"subnet": f.Subnet.String(), "host_ip": f.HostIP.String(), "cont_ip": f.ContIP.String(),
	}
	if f.Uplink != "" {
		m["uplink"] = f.Uplink.String()
	}
	if f.Firewall != "" {
		m["firewall"] = f.Firewall
	}
	return m
}

// BridgeFacts are a bridge network's (bridge up): what attachments need.
type BridgeFacts struct {
	Subnet  netip.Prefix
	Gateway netip.Addr
	NAT     bool
	MTU     int // 0: the kernel's default
	// Firewall is the back end of the network's rules: "" iptables, or
	// "nftables". Its attachments' published ports go there too.
	Firewall string
	// Subnet6 and Gateway6 are the IPv6 side of a dual-stack network
	// (zero for one family: an IPv6-only network's are Subnet and
	// Gateway). NAT6 says its IPv6 is masqueraded (--ipv6-nat), not routed.
	Subnet6  netip.Prefix
	Gateway6 netip.Addr
	NAT6     bool
	// LoopbackGuard says the network's rules take the host's own
	// connections to 127.0.0.1 to published ports and drop new ones from
	// the bridge to 127.0.0.0/8: a bridge made before them lacks the
	// guard, and its attachments leave route_localnet alone.
	LoopbackGuard bool
}

// Family is one address family of a network: its subnet and gateway.
type Family struct {
	Subnet  netip.Prefix
	Gateway netip.Addr
}

// Families are the network's families: the first (IPv4 when it has one),
// then the IPv6 of a dual-stack network.
func (f BridgeFacts) Families() []Family {
	out := []Family{{f.Subnet, f.Gateway}}
	if f.Subnet6.IsValid() {
		out = append(out, Family{f.Subnet6, f.Gateway6})
	}
	return out
}

// Of is the network's family fam, ok false when it has none.
func (f BridgeFacts) Of(fam ipam.Family) (Family, bool) {
	for _, n := range f.Families() {
		if n.Subnet.IsValid() && ipam.FamilyOf(n.Subnet.Addr()) == fam {
			return n, true
		}
	}
	return Family{}, false
}

func (f BridgeFacts) encode() map[string]string {
	m := map[string]string{"subnet": f.Subnet.String(), "gateway": f.Gateway.String(), "nat": strconv.FormatBool(f.NAT)}
	if f.MTU != 0 {
		m["mtu"] = strconv.Itoa(f.MTU)
	}
	if f.Firewall != "" {
		m["firewall"] = f.Firewall
	}
	if f.Subnet6.IsValid() {
		m["subnet6"], m["gateway6"] = f.Subnet6.String(), f.Gateway6.String()
	}
	if f.NAT6 {
		m["nat6"] = "true"
	}
	if f.LoopbackGuard {
		m["loopback_guard"] = "true"
	}
	return m
}

// AttachmentFacts are a container's place on a bridge (bridge attach, or
// run --net).
type AttachmentFacts struct {
	Bridge    string
	IP        netip.Addr
	PrefixLen int
	Gateway   netip.Addr
	HostVeth  actions.IfName
	If        actions.IfName
	Target    string // the container's namespace, as actions.Netns.Label says it
	Ports     []Port
	Runtime   *RuntimeRef // the runtime's name for it (CNI); nil: the CLI's
	// Firewall is its bridge's back end ("" iptables, or "nftables"),
	// where its published ports' rules are.
	Firewall string
	// IP6, PrefixLen6 and Gateway6 are its IPv6 side on a dual-stack
	// network (zero otherwise; on an IPv6-only one, IP is IPv6).
	IP6        netip.Addr
	PrefixLen6 int
	Gateway6   netip.Addr
}

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

func (f AttachmentFacts) encode() map[string]string {
	var ports []string
	for _, p := range f.Ports {
		ports = append(ports, p.String())
	}
	m := map[string]string{"bridge": f.Bridge, "ip": f.IP.String(), "prefix_len": strconv.Itoa(f.PrefixLen),
		"gateway": f.Gateway.String(), "host_veth": f.HostVeth.String(), "if": f.If.String(), "target": f.Target,
		"ports": strings.Join(ports, ",")}
	if r := f.Runtime; r != nil {
		m["cni_network"], m["cni_container_id"], m["cni_ifname"] = r.Network, r.ContainerID, r.IfName
	}
	if f.Firewall != "" {
		m["firewall"] = f.Firewall
	}
	if f.IP6.IsValid() {
		m["ip6"], m["prefix_len6"], m["gateway6"] = f.IP6.String(), strconv.Itoa(f.PrefixLen6), f.Gateway6.String()
	}
	return m
}

// OverlayFacts are a mounted overlay's: its directories as Docker's
// GraphDriver names them.
type OverlayFacts struct {
	LowerDir string // the layers, topmost first, joined by ':'
	UpperDir string // "" for a read-only overlay
	WorkDir  string
	Merged   string
	Layout   string // the directory of a layout plumb made; "" for the user's own
}

func (f OverlayFacts) encode() map[string]string {
	m := map[string]string{"lowerdir": f.LowerDir, "upperdir": f.UpperDir, "workdir": f.WorkDir, "merged": f.Merged}
	if f.Layout != "" {
		m["layout"] = f.Layout
	}
	return m
}

// ContainerFacts are a container's (run): its root, namespaces, command
// and, with --net, its attachment.
type ContainerFacts struct {
	Root     OverlayFacts
	Netns    string // the name of its network namespace
	Hostname string
	Cmd      string // the command, as a shell line
	PIDFile  string
	Log      string
	Target   string
	Net      *AttachmentFacts // nil: --net none
	// What the command runs with: the image it came from (its name and
	// ID; "" for --layer), its environment, working directory and user
	// ("UID:GID") as the plan resolved them. Journals of plumb before
	// images have none of them.
	Image, ImageID string
	Env            []string
	WorkDir        string
	User           string
}

func (f ContainerFacts) encode() map[string]string {
	m := f.Root.encode()
	m["layout"] = f.Root.Layout
	for k, v := range map[string]string{"netns": f.Netns, "hostname": f.Hostname, "cmd": f.Cmd,
		"pid_file": f.PIDFile, "log": f.Log, "target": f.Target} {
		m[k] = v
	}
	for k, v := range map[string]string{"image": f.Image, "image_id": f.ImageID, "working_dir": f.WorkDir, "user": f.User} {
		if v != "" {
			m[k] = v
		}
	}
	if f.Env != nil {
		env, _ := json.Marshal(f.Env)
		m["env"] = string(env)
	}
	if f.Net == nil {
		m["net"] = "none"
		return m
	}
	for k, v := range f.Net.encode() {
		m[k] = v
	}
	return m
}

// LayerFacts are an imported layer's.
type LayerFacts struct {
	Dir  string
	File string // the tarball it was unpacked from
}

func (f LayerFacts) encode() map[string]string {
	return map[string]string{"dir": f.Dir, "file": f.File}
}

// Facts decodes the record's facts, by its kind.
func (r *Record) Facts() (Facts, error) {
	d := details(r.Details)
	var f Facts
	switch r.Kind {
	case "veth":
		f = VethFacts{Target: d.s("target"), HostIf: d.ifname("host_if"), ContIf: d.ifname("cont_if"), Subnet: d.prefix("subnet"),
			HostIP: d.addr("host_ip"), ContIP: d.addr("cont_ip"), Uplink: d.ifname("uplink"), Firewall: d.s("firewall")}
	case "bridge":
		f = BridgeFacts{Subnet: d.prefix("subnet"), Gateway: d.addr("gateway"), NAT: d.s("nat") == "true", MTU: d.num("mtu"), Firewall: d.s("firewall"),
			Subnet6: d.prefix("subnet6"), Gateway6: d.addr("gateway6"), NAT6: d.s("nat6") == "true", LoopbackGuard: d.s("loopback_guard") == "true"}
	case "attachment":
		f = d.attachment()
	case "overlay":
		f = d.overlay()
	case "container":
		c := ContainerFacts{Root: d.overlay(), Netns: d.s("netns"), Hostname: d.s("hostname"), Cmd: d.s("cmd"),
			PIDFile: d.s("pid_file"), Log: d.s("log"), Target: d.s("target"),
			Image: d.s("image"), ImageID: d.s("image_id"), WorkDir: d.s("working_dir"), User: d.s("user")}
		d.json("env", &c.Env)
		if d.s("net") != "none" {
			a := d.attachment()
			c.Net = &a
		}
		f = c
	case "layer":
		f = LayerFacts{Dir: d.s("dir"), File: d.s("file")}
	case "image":
		f = d.image()
	case "imagelayer":
		f = ImageLayerFacts{ChainID: d.s("chain_id"), DiffID: d.s("diff_id"), Parent: d.s("parent"),
			Dir: d.s("dir"), Link: d.s("link"), Size: parse(d, "size", func(s string) (int64, error) { return strconv.ParseInt(s, 10, 64) })}
	default:
		return nil, fmt.Errorf("%s: plumb keeps no objects of kind %q", r.ID(), r.Kind)
	}
	if len(d.bad) > 0 {
		return nil, fmt.Errorf("%s: the journal's %s cannot be read", r.ID(), strings.Join(d.bad, ", "))
	}
	return f, nil
}

// BridgeFacts reads a bridge's facts.
func (r *Record) BridgeFacts() (BridgeFacts, error) {
	f, err := r.Facts()
	if err != nil {
		return BridgeFacts{}, err
	}
	b, ok := f.(BridgeFacts)
	if !ok {
		return BridgeFacts{}, fmt.Errorf("%s is not a bridge", r.ID())
	}
	if !b.Subnet.IsValid() || !b.Gateway.IsValid() {
		return BridgeFacts{}, fmt.Errorf("%s: the journal has no valid subnet and gateway", r.ID())
	}
	return b, nil
}

// Firewall is the back end of the record's rules, as its facts say:
// "nftables", or "" for iptables (and for objects with no rules).
func (r *Record) Firewall() string {
	f, err := r.Facts()
	if err != nil {
		return ""
	}
	return factsFirewall(f)
}

// factsFirewall is the back end facts record.
func factsFirewall(f Facts) string {
	switch f := f.(type) {
	case VethFacts:
		return f.Firewall
	case BridgeFacts:
		return f.Firewall
	case AttachmentFacts:
		return f.Firewall
	case ContainerFacts:
		if f.Net != nil {
			return f.Net.Firewall
		}
	}
	return ""
}

// Attachment is the record's place on a bridge: an attachment's, or a
// container's with a network. ok is false for every other record.
func (r *Record) Attachment() (AttachmentFacts, bool) {
	if r.Kind != "attachment" && r.Kind != "container" {
		return AttachmentFacts{}, false // not worth decoding
	}
	return pick(r, func(f Facts) (AttachmentFacts, bool) {
		switch f := f.(type) {
		case AttachmentFacts:
			return f, true
		case ContainerFacts:
			if f.Net != nil {
				return *f.Net, true
			}
		}
		return AttachmentFacts{}, false
	})
}

// Overlay is the record's overlay: an overlay's, or a container's root.
func (r *Record) Overlay() (OverlayFacts, bool) {
	return pick(r, func(f Facts) (OverlayFacts, bool) {
		switch f := f.(type) {
		case OverlayFacts:
			return f, true
		case ContainerFacts:
			return f.Root, true
		}
		return OverlayFacts{}, false
	})
}

// Container is a container record's facts.
func (r *Record) Container() (ContainerFacts, bool) {
	return pick(r, func(f Facts) (ContainerFacts, bool) { c, ok := f.(ContainerFacts); return c, ok })
}

// Subnets are the subnets a network object (veth or bridge) takes up: a
// dual-stack bridge's two.
func (r *Record) Subnets() []netip.Prefix {
	s, _ := pick(r, func(f Facts) ([]netip.Prefix, bool) {
		switch f := f.(type) {
		case VethFacts:
			return []netip.Prefix{f.Subnet}, true
		case BridgeFacts:
			var out []netip.Prefix
			for _, n := range f.Families() {
				out = append(out, n.Subnet)
			}
			return out, true
		}
		return nil, false
	})
	return s
}

// pick is what get finds in the record's facts; ok is false when they
// cannot be read or hold none.
func pick[T any](r *Record, get func(Facts) (T, bool)) (T, bool) {
	f, err := r.Facts()
	if err != nil {
		var zero T
		return zero, false
	}
	return get(f)
}

// details reads a journal's details map, noting the keys whose values
// cannot be parsed (absent keys read as zero values, as they were written).
type detailsReader struct {
	m   map[string]string
	bad []string
}

func details(m map[string]string) *detailsReader { return &detailsReader{m: m} }

func (d *detailsReader) s(k string) string { return d.m[k] }

func (d *detailsReader) addr(k string) netip.Addr { return parse(d, k, netip.ParseAddr) }

func (d *detailsReader) prefix(k string) netip.Prefix { return parse(d, k, netip.ParsePrefix) }

func (d *detailsReader) num(k string) int { return parse(d, k, strconv.Atoi) }

// json reads key k as JSON into v: absent or empty leaves v alone.
func (d *detailsReader) json(k string, v any) {
	if s := d.m[k]; s != "" {
		if err := json.Unmarshal([]byte(s), v); err != nil {
			d.bad = append(d.bad, k)
		}
	}
}

// parse reads key k with p: absent or empty is the zero value, a value p
// refuses is noted as bad.
func parse[T any](d *detailsReader, k string, p func(string) (T, error)) T {
	var zero T
	v, ok := d.m[k]
	if !ok || v == "" {
		return zero
	}
	t, err := p(v)
	if err != nil {
		d.bad = append(d.bad, k)
		return zero
	}
	return t
}

func (d *detailsReader) ifname(k string) actions.IfName { return actions.IfName(d.m[k]) }

func (d *detailsReader) attachment() AttachmentFacts {
	a := AttachmentFacts{Bridge: d.s("bridge"), IP: d.addr("ip"), PrefixLen: d.num("prefix_len"), Gateway: d.addr("gateway"),
		HostVeth: d.ifname("host_veth"), If: d.ifname("if"), Target: d.s("target"), Firewall: d.s("firewall"),
		IP6: d.addr("ip6"), PrefixLen6: d.num("prefix_len6"), Gateway6: d.addr("gateway6")}
	if n := d.s("cni_network"); n != "" {
		a.Runtime = &RuntimeRef{Network: n, ContainerID: d.s("cni_container_id"), IfName: d.s("cni_ifname")}
	}
	if v := d.s("ports"); v != "" {
		for _, s := range strings.Split(v, ",") {
			p, err := ParsePort(s)
			if err != nil {
				d.bad = append(d.bad, "ports")
				continue
			}
			a.Ports = append(a.Ports, p)
		}
	}
	return a
}

func (d *detailsReader) overlay() OverlayFacts {
	return OverlayFacts{LowerDir: d.s("lowerdir"), UpperDir: d.s("upperdir"), WorkDir: d.s("workdir"), Merged: d.s("merged"), Layout: d.s("layout")}
}

// ImageFacts are an image's (image pull, image import): what it runs and
// the layers it is made of, base first.
type ImageFacts struct {
	ID       string   // the config's digest, Docker's image ID
	Digest   string   // the manifest's; "" from a docker save tarball
	Refs     []string // the names it was pulled or imported as
	From     string   // where it was read: a reference or a file
	Platform string
	Config   image.Config
	Layers   []ImageLayerRef
	Links    []string // each layer's short link, base first
}

// ImageLayerRef is one layer as its image lists it.
type ImageLayerRef struct {
	DiffID  string `json:"diff_id"`
	ChainID string `json:"chain_id"`
	Size    int64  `json:"size,omitempty"`
}

func (f ImageFacts) encode() map[string]string {
	cfg, _ := json.Marshal(f.Config)
	layers, _ := json.Marshal(f.Layers)
	links, _ := json.Marshal(f.Links)
	refs, _ := json.Marshal(f.Refs)
	return map[string]string{"id": f.ID, "digest": f.Digest, "refs": string(refs), "from": f.From,
		"platform": f.Platform, "config": string(cfg), "layers": string(layers), "links": string(links)}
}

func (d *detailsReader) image() ImageFacts {
	f := ImageFacts{ID: d.s("id"), Digest: d.s("digest"), From: d.s("from"), Platform: d.s("platform")}
	d.json("refs", &f.Refs)
	d.json("config", &f.Config)
	d.json("layers", &f.Layers)
	d.json("links", &f.Links)
	if len(f.Links) != len(f.Layers) {
		d.bad = append(d.bad, "links")
	}
	return f
}

// ImageLayerFacts are one unpacked layer's, shared by every image that has
// it (the same chain ID).
type ImageLayerFacts struct {
	ChainID string
	DiffID  string
	Parent  string // the chain ID of the layer below; "" for a base
	Dir     string
	Link    string // its short name under image/l
	Size    int64  // the blob's size as its source kept it; 0 when not known
}

func (f ImageLayerFacts) encode() map[string]string {
	return map[string]string{"chain_id": f.ChainID, "diff_id": f.DiffID, "parent": f.Parent, "dir": f.Dir,
		"link": f.Link, "size": strconv.FormatInt(f.Size, 10)}
}

// Image reads an image's facts.
func (r *Record) Image() (ImageFacts, error) {
	f, err := r.Facts()
	if err != nil {
		return ImageFacts{}, err
	}
	i, ok := f.(ImageFacts)
	if !ok {
		return ImageFacts{}, fmt.Errorf("%s is not an image", r.ID())
	}
	return i, nil
}

// ImageLayer reads an image layer's facts.
func (r *Record) ImageLayer() (ImageLayerFacts, error) {
	if r.Kind != "imagelayer" {
		return ImageLayerFacts{}, fmt.Errorf("%s is not an image layer", r.ID())
	}
	f, err := r.Facts()
	if err != nil {
		return ImageLayerFacts{}, err
	}
	return f.(ImageLayerFacts), nil
}
