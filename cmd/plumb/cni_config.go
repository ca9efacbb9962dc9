package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/containernetworking/cni/pkg/types"

	"plumb/actions"
	"plumb/plan"
	"plumb/plan/firewall"
	"plumb/plan/ipam"
)

// cniConf is a CNI plugin config of type plumb, read into the typed input
// plumb's recipes take: the keys users write for the reference bridge and
// host-local plugins, and what runtimes insert.
type cniConf struct {
	CNIVersion string
	Name       string
	Bridge     actions.IfName
	// DefaultRoute: isDefaultGateway, a default route through the bridge.
	DefaultRoute bool
	NAT          bool // ipMasq
	// Firewall is the back end of a bridge the config makes: ipMasqBackend,
	// else PLUMB_FIREWALL, else iptables. A bridge already kept keeps its own.
	Firewall firewall.Backend
	MTU      int
	Hairpin  bool
	Subnet   netip.Prefix
	Gateway  netip.Addr
	Range    ipam.Range
	// Subnet6, Gateway6 and Range6 are an IPv6 range set beside an IPv4
	// one (dual stack); an IPv6-only config's are Subnet and company.
	Subnet6  netip.Prefix
	Gateway6 netip.Addr
	Range6   ipam.Range
	Routes   []plan.Route
	DNS      types.DNS
	Ports    []plan.Port // runtimeConfig.portMappings
	// PrevResult is the runtime's cached result (CHECK), or nil.
	PrevResult json.RawMessage
	// Valid: GC's cni.dev/valid-attachments; HasValid tells an empty list
	// from a missing key.
	Valid    []types.GCAttachment
	HasValid bool
}

// cniError is a CNI error with one of the spec's codes.
func cniError(code uint, format string, args ...any) *types.Error {
	return types.NewError(code, fmt.Sprintf(format, args...), "")
}

// Keys of a plugin config: plumb's (the reference bridge's that it
// implements), those every runtime may insert, and the reference bridge's
// and host-local's that it does not implement, with why.
var (
	cniOwnKeys     = []string{"bridge", "isGateway", "isDefaultGateway", "ipMasq", "ipMasqBackend", "mtu", "hairpinMode", "ipam", "dns"}
	cniRuntimeKeys = []string{"cniVersion", "name", "type", "runtimeConfig", "args", "prevResult", "capabilities"}
	cniRefusedKeys = map[string]string{
		"forceAddress":              "plumb never changes an address the bridge holds",
		"promiscMode":               "plumb leaves the bridge's promiscuous mode alone",
		"vlan":                      "plumb sets up no VLAN filtering",
		"vlanTrunk":                 "plumb sets up no VLAN filtering",
		"preserveDefaultVlan":       "plumb sets up no VLAN filtering",
		"macspoofchk":               "plumb writes no MAC spoofing rules",
		"enabledad":                 "plumb does not turn on duplicate address detection",
		"portIsolation":             "plumb does not isolate bridge ports",
		"disableContainerInterface": "plumb always brings the container's interface up",
	}
	cniIPAMKeys        = []string{"type", "subnet", "rangeStart", "rangeEnd", "gateway", "ranges", "routes"}
	cniIPAMRefusedKeys = map[string]string{
		"dataDir":    "plumb keeps the addresses it gives out in its state directory, under /run, with the links they describe",
		"resolvConf": "give dns in the config: plumb passes it on to the result",
	}
)

// parseCNIConf reads a plugin config. A key plumb does not implement is an
// error naming it (code 2, unsupported field), unless its value is the
// reference plugin's default, which asks for what plumb does anyway; a key
// no CNI plugin of this kind knows is an invalid config (code 7).
// firewallEnv (PLUMB_FIREWALL) is the back end when ipMasqBackend is unset.
func parseCNIConf(stdin []byte, firewallEnv string) (*cniConf, *types.Error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(stdin, &raw); err != nil {
		return nil, cniError(types.ErrDecodingFailure, "reading the network config: %v", err)
	}
	if err := checkKeys("", raw, slices.Concat(cniOwnKeys, cniRuntimeKeys), cniRefusedKeys, "cni.dev/"); err != nil {
		return nil, err
	}
	var c struct {
		CNIVersion       string          `json:"cniVersion"`
		Name             string          `json:"name"`
		Type             string          `json:"type"`
		Bridge           *string         `json:"bridge"`
		IsGateway        *bool           `json:"isGateway"`
		IsDefaultGateway bool            `json:"isDefaultGateway"`
		IPMasq           bool            `json:"ipMasq"`
		IPMasqBackend    *string         `json:"ipMasqBackend"`
		MTU              int             `json:"mtu"`
		HairpinMode      bool            `json:"hairpinMode"`
		IPAM             json.RawMessage `json:"ipam"`
		DNS              types.DNS       `json:"dns"`
		RuntimeConfig    json.RawMessage `json:"runtimeConfig"`
		PrevResult       json.RawMessage `json:"prevResult"`
		Valid            json.RawMessage `json:"cni.dev/valid-attachments"`
		Older            json.RawMessage `json:"cni.dev/attachments"`
	}
	if err := json.Unmarshal(stdin, &c); err != nil {
		return nil, cniError(types.ErrDecodingFailure, "reading the network config: %v", err)
	}
	conf := &cniConf{CNIVersion: c.CNIVersion, Name: c.Name, DefaultRoute: c.IsDefaultGateway, NAT: c.IPMasq,
		MTU: c.MTU, Hairpin: c.HairpinMode, DNS: c.DNS, Bridge: "cni0"}
	if c.Name == "" {
		return nil, cniError(types.ErrInvalidNetworkConfig, "the network config has no name")
	}
	if c.Bridge != nil {
		br, err := actions.ParseIfName(*c.Bridge)
		if err != nil {
			return nil, cniError(types.ErrInvalidNetworkConfig, "bridge: %v", err)
		}
		conf.Bridge = br
	}
	backend := firewallEnv
	if c.IPMasqBackend != nil && *c.IPMasqBackend != "" { // "": the default, as the reference plugin reads it
		backend = *c.IPMasqBackend
		if backend != "iptables" && backend != "nftables" {
			return nil, cniError(types.ErrInvalidNetworkConfig, "ipMasqBackend %q is not a firewall back end: iptables or nftables", backend)
		}
	}
	fw, err := firewall.ByName(backend)
	if err != nil {
		return nil, cniError(types.ErrInvalidNetworkConfig, "PLUMB_FIREWALL: %v", err)
	}
	conf.Firewall = fw
	if c.IsGateway != nil && !*c.IsGateway {
		return nil, cniError(types.ErrUnsupportedField, "unsupported field isGateway=false: plumb's bridge always holds the network's gateway address; leave it out or set it true")
	}
	if c.MTU < 0 {
		return nil, cniError(types.ErrInvalidNetworkConfig, "mtu %d is not an MTU", c.MTU)
	}
	if err := conf.readIPAM(c.IPAM); err != nil {
		return nil, err
	}
	if err := conf.readRuntimeConfig(c.RuntimeConfig); err != nil {
		return nil, err
	}
	if len(conf.Ports) > 0 && !conf.NAT {
		return nil, cniError(types.ErrInvalidNetworkConfig, "runtimeConfig.portMappings needs ipMasq true: published ports are rules of the network's NAT chains")
	}
	if len(c.PrevResult) > 0 && string(c.PrevResult) != "null" {
		conf.PrevResult = c.PrevResult
	}
	valid := c.Valid
	if valid == nil {
		valid = c.Older // what older libcni sends
	}
	if valid != nil {
		conf.HasValid = true
		if err := json.Unmarshal(valid, &conf.Valid); err != nil {
			return nil, cniError(types.ErrDecodingFailure, "reading cni.dev/valid-attachments: %v", err)
		}
	}
	return conf, nil
}

// checkKeys refuses, by name, the keys of raw that are not in known: those
// in refused with their reason (unless their value is a default), the rest
// as unknown. Keys starting with prefix are accepted.
func checkKeys(where string, raw map[string]json.RawMessage, known []string, refused map[string]string, prefix string) *types.Error {
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if slices.Contains(known, k) || prefix != "" && strings.HasPrefix(k, prefix) {
			continue
		}
		if why, ok := refused[k]; ok {
			if isDefault(raw[k]) {
				continue
			}
			return cniError(types.ErrUnsupportedField, "unsupported field %s%s=%s: plumb does not implement it (%s)", where, k, compact(raw[k]), why)
		}
		return cniError(types.ErrInvalidNetworkConfig, "unknown key %s%s in the network config: plumb takes %s", where, k, strings.Join(known, ", "))
	}
	return nil
}

// isDefault reports whether a JSON value is its type's zero: false, 0, "",
// null, [] or {}.
func isDefault(v json.RawMessage) bool {
	switch s := string(bytes.TrimSpace(v)); s {
	case "false", "0", `""`, "null", "[]", "{}":
		return true
	}
	return false
}

func compact(v json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Compact(&b, v); err != nil {
		return string(v)
	}
	return b.String()
}

// readIPAM reads the ipam section: host-local's keys, the old form (subnet,
// rangeStart, rangeEnd, gateway) or ranges (one range set of one range:
// plumb gives each attachment one IPv4 address), and routes.
func (conf *cniConf) readIPAM(raw json.RawMessage) *types.Error {
	if len(raw) == 0 || string(raw) == "null" {
		return cniError(types.ErrInvalidNetworkConfig, "the network config has no ipam: plumb needs its subnet (\"ipam\": {\"type\": \"host-local\", \"subnet\": \"10.88.0.0/16\"})")
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil {
		return cniError(types.ErrDecodingFailure, "reading ipam: %v", err)
	}
	if err := checkKeys("ipam.", keys, cniIPAMKeys, cniIPAMRefusedKeys, ""); err != nil {
		return err
	}
	type rangeConf struct {
		Subnet     string `json:"subnet"`
		RangeStart string `json:"rangeStart"`
		RangeEnd   string `json:"rangeEnd"`
		Gateway    string `json:"gateway"`
	}
	var c struct {
		Type string `json:"type"`
		rangeConf
		Ranges [][]json.RawMessage `json:"ranges"`
		Routes []json.RawMessage   `json:"routes"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return cniError(types.ErrDecodingFailure, "reading ipam: %v", err)
	}
	switch c.Type {
	case "host-local", "plumb", "":
	default:
		return cniError(types.ErrUnsupportedField, "unsupported field ipam.type=%q: plumb gives out addresses itself; use host-local or plumb", c.Type)
	}
	sets := []rangeConf{c.rangeConf}
	switch {
	case len(c.Ranges) > 0 && c.rangeConf != (rangeConf{}):
		return cniError(types.ErrInvalidNetworkConfig, "ipam has both ranges and subnet (or rangeStart, rangeEnd, gateway); give one")
	case len(c.Ranges) > 2:
		return cniError(types.ErrUnsupportedField, "unsupported field ipam.ranges with %d range sets: plumb gives each attachment one address of each family, from one range set of each", len(c.Ranges))
	case len(c.Ranges) > 0:
		sets = nil
		for i, set := range c.Ranges {
			if len(set) != 1 {
				return cniError(types.ErrUnsupportedField, "unsupported field ipam.ranges[%d] with %d ranges: plumb takes one range a set", i, len(set))
			}
			var keys map[string]json.RawMessage
			if err := json.Unmarshal(set[0], &keys); err != nil {
				return cniError(types.ErrDecodingFailure, "reading ipam.ranges[%d][0]: %v", i, err)
			}
			if err := checkKeys(fmt.Sprintf("ipam.ranges[%d][0].", i), keys, []string{"subnet", "rangeStart", "rangeEnd", "gateway"}, nil, ""); err != nil {
				return err
			}
			var r rangeConf
			if err := json.Unmarshal(set[0], &r); err != nil {
				return cniError(types.ErrDecodingFailure, "reading ipam.ranges[%d][0]: %v", i, err)
			}
			sets = append(sets, r)
		}
	}
	type family struct {
		subnet netip.Prefix
		gw     netip.Addr
		rng    ipam.Range
	}
	var fams []family
	for _, r := range sets {
		if r.Subnet == "" {
			return cniError(types.ErrInvalidNetworkConfig, "ipam has no subnet: give \"subnet\" or \"ranges\": [[{\"subnet\": ...}]]")
		}
		subnet, err := netip.ParsePrefix(r.Subnet)
		if err != nil || subnet.Addr().Is4In6() || subnet.Addr().Zone() != "" {
			return cniError(types.ErrInvalidNetworkConfig, "ipam subnet %q is not a CIDR such as 10.88.0.0/16", r.Subnet)
		}
		subnet = subnet.Masked() // as host-local reads it
		if err := ipam.CheckBridgeSubnet(subnet); err != nil {
			return cniError(types.ErrInvalidNetworkConfig, "ipam subnet: %v", err)
		}
		f := family{subnet: subnet, gw: ipam.FirstHost(subnet)}
		addr := func(name, s string) (netip.Addr, *types.Error) {
			if s == "" {
				return netip.Addr{}, nil
			}
			a, err := netip.ParseAddr(s)
			if err != nil {
				return a, cniError(types.ErrInvalidNetworkConfig, "ipam %s %q is not an IP address", name, s)
			}
			if err := ipam.CheckHost(a, subnet); err != nil {
				return a, cniError(types.ErrInvalidNetworkConfig, "ipam %s: %v", name, err)
			}
			return a, nil
		}
		var e *types.Error
		if r.Gateway != "" {
			if f.gw, e = addr("gateway", r.Gateway); e != nil {
				return e
			}
		}
		if f.rng.Start, e = addr("rangeStart", r.RangeStart); e != nil {
			return e
		}
		if f.rng.End, e = addr("rangeEnd", r.RangeEnd); e != nil {
			return e
		}
		if err := ipam.CheckRange(subnet, f.rng); err != nil {
			return cniError(types.ErrInvalidNetworkConfig, "ipam range: %v", err)
		}
		fams = append(fams, f)
	}
	if len(fams) == 2 {
		if fams[0].subnet.Addr().Is4() == fams[1].subnet.Addr().Is4() {
			return cniError(types.ErrUnsupportedField, "unsupported field ipam.ranges: two range sets of one family (%s, %s); plumb takes one of each", fams[0].subnet, fams[1].subnet)
		}
		if fams[0].subnet.Addr().Is6() {
			fams[0], fams[1] = fams[1], fams[0] // IPv4 first, as bridge up
		}
		conf.Subnet6, conf.Gateway6, conf.Range6 = fams[1].subnet, fams[1].gw, fams[1].rng
	}
	conf.Subnet, conf.Gateway, conf.Range = fams[0].subnet, fams[0].gw, fams[0].rng
	if conf.DefaultRoute {
		for _, f := range fams {
			any := netip.PrefixFrom(netip.IPv4Unspecified(), 0)
			if f.subnet.Addr().Is6() {
				any = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
			}
			conf.Routes = append(conf.Routes, plan.Route{Dst: any, Via: f.gw})
		}
	}
	for i, rr := range c.Routes {
		var keys map[string]json.RawMessage
		if err := json.Unmarshal(rr, &keys); err != nil {
			return cniError(types.ErrDecodingFailure, "reading ipam.routes[%d]: %v", i, err)
		}
		if err := checkKeys(fmt.Sprintf("ipam.routes[%d].", i), keys, []string{"dst", "gw"},
			map[string]string{"mtu": "plumb adds plain routes", "advmss": "plumb adds plain routes", "priority": "plumb adds plain routes",
				"table": "plumb adds routes to the main table", "scope": "plumb adds plain routes"}, ""); err != nil {
			return err
		}
		var rt struct {
			Dst string `json:"dst"`
			GW  string `json:"gw"`
		}
		if err := json.Unmarshal(rr, &rt); err != nil {
			return cniError(types.ErrDecodingFailure, "reading ipam.routes[%d]: %v", i, err)
		}
		dst, err := netip.ParsePrefix(rt.Dst)
		if err != nil {
			return cniError(types.ErrInvalidNetworkConfig, "ipam.routes[%d].dst %q is not a CIDR", i, rt.Dst)
		}
		var via netip.Addr
		var on netip.Prefix // the subnet the gateway must be on
		for _, f := range fams {
			if f.subnet.Addr().Is4() == dst.Addr().Is4() {
				via, on = f.gw, f.subnet
			}
		}
		if !via.IsValid() {
			return cniError(types.ErrInvalidNetworkConfig, "ipam.routes[%d].dst=%s: the network has no %s range to route it through", i, dst, ipam.FamilyOf(dst.Addr()))
		}
		if rt.GW != "" {
			gw, err := netip.ParseAddr(rt.GW)
			if err != nil || gw.Is4() != dst.Addr().Is4() || gw.Is4In6() {
				return cniError(types.ErrInvalidNetworkConfig, "ipam.routes[%d].gw %q is not an %s address", i, rt.GW, ipam.FamilyOf(dst.Addr()))
			}
			// The container reaches only its own subnet directly: the
			// kernel refuses any other gateway ("Nexthop has invalid
			// gateway") at the route's step, after the link is made.
			if err := ipam.CheckHost(gw, on); err != nil {
				return cniError(types.ErrInvalidNetworkConfig, "ipam.routes[%d].gw: %v; a route's gateway must be a host on the container's own subnet, which it reaches directly", i, err)
			}
			via = gw
		}
		rte := plan.Route{Dst: dst.Masked(), Via: via}
		if !slices.Contains(conf.Routes, rte) {
			conf.Routes = append(conf.Routes, rte)
		}
	}
	return nil
}

// readRuntimeConfig reads what the runtime gives for the capabilities the
// conflist asks for: portMappings, published as --publish does. Another
// capability's value is refused: plumb would not honour it.
func (conf *cniConf) readRuntimeConfig(raw json.RawMessage) *types.Error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil {
		return cniError(types.ErrDecodingFailure, "reading runtimeConfig: %v", err)
	}
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if k != "portMappings" && !isDefault(keys[k]) {
			return cniError(types.ErrUnsupportedField, "unsupported field runtimeConfig.%s=%s: plumb implements the portMappings capability only", k, compact(keys[k]))
		}
	}
	var pm []struct {
		HostPort      int    `json:"hostPort"`
		ContainerPort int    `json:"containerPort"`
		Protocol      string `json:"protocol"`
		HostIP        string `json:"hostIP"`
	}
	if v, ok := keys["portMappings"]; ok && !isDefault(v) {
		if err := json.Unmarshal(v, &pm); err != nil {
			return cniError(types.ErrDecodingFailure, "reading runtimeConfig.portMappings: %v", err)
		}
	}
	asked := make([]plan.Port, 0, len(pm)) // each mapping as given
	for i, m := range pm {
		proto := strings.ToLower(m.Protocol)
		if proto == "" {
			proto = "tcp"
		}
		if m.HostIP != "" && m.HostIP != "0.0.0.0" && m.HostIP != "::" {
			return cniError(types.ErrUnsupportedField, "unsupported field runtimeConfig.portMappings[%d].hostIP=%s: plumb publishes a port on every address of the host", i, m.HostIP)
		}
		spec := fmt.Sprintf("%d:%d/%s", m.HostPort, m.ContainerPort, proto)
		switch m.HostIP {
		case "::":
			spec = "[::]:" + spec // IPv6 alone
		case "0.0.0.0":
			spec = "0.0.0.0:" + spec // IPv4 alone, as the reference portmap plugin
		}
		p, err := plan.ParsePort(spec)
		if err != nil {
			return cniError(types.ErrInvalidNetworkConfig, "runtimeConfig.portMappings[%d]: %v", i, err)
		}
		asked = append(asked, p)
		if e := conf.addPort(asked); e != nil {
			return e
		}
	}
	return nil
}

// addPort adds the last of the mappings asked to the ports. Runtimes list
// a port once per host address family (hostIP 0.0.0.0, then ::), or once
// for both: a mapping that repeats another's host port to the same
// container port adds its family to it. The same host port and protocol
// sent to two container ports in one family is an invalid config (the
// kernel would keep one rule); in two families apart, each family gets its
// own rule.
func (conf *cniConf) addPort(asked []plan.Port) *types.Error {
	i := len(asked) - 1
	p := asked[i]
	for j, q := range asked[:i] {
		if p.Shares(q) && p.Container != q.Container {
			return cniError(types.ErrInvalidNetworkConfig, "runtimeConfig.portMappings[%d] (%s) and [%d] (%s) publish host port %d/%s to two container ports; a host port leads to one",
				j, q, i, p, p.Host, p.Proto)
		}
	}
	for j, q := range conf.Ports {
		if q.Host == p.Host && q.Proto == p.Proto && q.Container == p.Container {
			if q.HostIP != p.HostIP {
				conf.Ports[j].HostIP = netip.Addr{} // both families
			}
			return nil
		}
	}
	conf.Ports = append(conf.Ports, p)
	return nil
}

// bridge is the config's network as plumb's bridge recipe takes it.
func (conf *cniConf) bridge() *plan.Bridge {
	// ipMasq masquerades every family, as the reference bridge plugin's.
	return &plan.Bridge{Name: conf.Bridge, Subnet: conf.Subnet, Gateway: conf.Gateway, NoNAT: !conf.NAT, MTU: conf.MTU, Firewall: conf.Firewall,
		Subnet6: conf.Subnet6, Gateway6: conf.Gateway6, NAT6: conf.NAT && (conf.Subnet6.IsValid() || conf.Subnet.Addr().Is6())}
}

// network is the bridge as an attachment sees it, before it is kept.
func (conf *cniConf) network() plan.BridgeNetwork {
	fw := ""
	if conf.NAT {
		fw = firewall.Recorded(conf.Firewall)
	}
	return plan.BridgeNetwork{Name: conf.Bridge, BridgeFacts: plan.BridgeFacts{Subnet: conf.Subnet, Gateway: conf.Gateway, NAT: conf.NAT, MTU: conf.MTU, Firewall: fw,
		Subnet6: conf.Subnet6, Gateway6: conf.Gateway6, NAT6: conf.bridge().NAT6, LoopbackGuard: conf.NAT && conf.Subnet.Addr().Is4()}}
}
