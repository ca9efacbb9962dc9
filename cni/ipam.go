package cni

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"

	"github.com/containernetworking/cni/pkg/types"

	"plumb/network"
	"plumb/plan/ipam"
)

// IPAM is the ipam section read: the addresses the network gives out and
// the routes its containers get.
type IPAM struct {
	Subnet  netip.Prefix
	Gateway netip.Addr
	Range   ipam.Range
	// Subnet6, Gateway6 and Range6 are an IPv6 range set beside an IPv4
	// one (dual stack); an IPv6-only config's are Subnet and company.
	Subnet6  netip.Prefix
	Gateway6 netip.Addr
	Range6   ipam.Range
	Routes   []network.Route
}

// The ipam keys plumb reads, and host-local's that it does not implement.
var (
	ipamKeys        = []string{"type", "subnet", "rangeStart", "rangeEnd", "gateway", "ranges", "routes"}
	rangeKeys       = []string{"subnet", "rangeStart", "rangeEnd", "gateway"}
	ipamRefusedKeys = map[string]string{
		"dataDir":    "plumb keeps the addresses it gives out in its state directory, under /run, with the links they describe",
		"resolvConf": "give dns in the config: plumb passes it on to the result",
	}
	routeKeys        = []string{"dst", "gw"}
	routeRefusedKeys = map[string]string{"mtu": "plumb adds plain routes", "advmss": "plumb adds plain routes", "priority": "plumb adds plain routes",
		"table": "plumb adds routes to the main table", "scope": "plumb adds plain routes"}
)

// rangeConf is one range as host-local's config gives it.
type rangeConf struct {
	Subnet     string `json:"subnet"`
	RangeStart string `json:"rangeStart"`
	RangeEnd   string `json:"rangeEnd"`
	Gateway    string `json:"gateway"`
}

// ipamConf is the ipam section as JSON has it: the old form (one range
// at the top) or ranges.
type ipamConf struct {
	Type string `json:"type"`
	rangeConf
	Ranges [][]json.RawMessage `json:"ranges"`
	Routes []json.RawMessage   `json:"routes"`
}

// family is one range set read: a subnet, its gateway and the range
// addresses are given from.
type family struct {
	subnet netip.Prefix
	gw     netip.Addr
	rng    ipam.Range
}

// readIPAM reads the ipam section: host-local's keys, the old form (subnet,
// rangeStart, rangeEnd, gateway) or ranges (a range set of one range for
// each family: plumb gives each attachment one address of each), and
// routes; defaultRoute adds a default route of each family first.
func readIPAM(raw json.RawMessage, defaultRoute bool) (*IPAM, *types.Error) {
	c, err := decodeIPAM(raw)
	if err != nil {
		return nil, err
	}
	sets, err := c.rangeSets()
	if err != nil {
		return nil, err
	}
	fams, err := readFamilies(sets)
	if err != nil {
		return nil, err
	}
	out := &IPAM{Subnet: fams[0].subnet, Gateway: fams[0].gw, Range: fams[0].rng}
	if len(fams) == 2 {
		out.Subnet6, out.Gateway6, out.Range6 = fams[1].subnet, fams[1].gw, fams[1].rng
	}
	if defaultRoute {
		out.Routes = defaultRoutes(fams)
	}
	for i, rr := range c.Routes {
		rte, err := readRoute(i, rr, fams)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out.Routes, rte) {
			out.Routes = append(out.Routes, rte)
		}
	}
	return out, nil
}

// decodeIPAM decodes the section, refusing keys plumb does not take and
// address types other than its own.
func decodeIPAM(raw json.RawMessage) (*ipamConf, *types.Error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, Error(types.ErrInvalidNetworkConfig, "the network config has no ipam: plumb needs its subnet (\"ipam\": {\"type\": \"host-local\", \"subnet\": \"10.88.0.0/16\"})")
	}
	if err := decodeKnown("ipam", "ipam.", raw, ipamKeys, ipamRefusedKeys, nil); err != nil {
		return nil, err
	}
	var c ipamConf
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, Error(types.ErrDecodingFailure, "reading ipam: %v", err)
	}
	switch c.Type {
	case "host-local", "plumb", "":
	default:
		return nil, Error(types.ErrUnsupportedField, "unsupported field ipam.type=%q: plumb gives out addresses itself; use host-local or plumb", c.Type)
	}
	return &c, nil
}

// decodeKnown refuses the keys of raw that are not known (see checkKeys),
// then decodes it into v (when not nil). what names it in errors, where
// prefixes its keys.
func decodeKnown(what, where string, raw json.RawMessage, known []string, refused map[string]string, v any) *types.Error {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil {
		return Error(types.ErrDecodingFailure, "reading %s: %v", what, err)
	}
	if err := checkKeys(where, keys, known, refused, ""); err != nil {
		return err
	}
	if v == nil {
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return Error(types.ErrDecodingFailure, "reading %s: %v", what, err)
	}
	return nil
}

// rangeSets is the section's ranges: the old form's one, or one a set.
func (c *ipamConf) rangeSets() ([]rangeConf, *types.Error) {
	switch {
	case len(c.Ranges) > 0 && c.rangeConf != (rangeConf{}):
		return nil, Error(types.ErrInvalidNetworkConfig, "ipam has both ranges and subnet (or rangeStart, rangeEnd, gateway); give one")
	case len(c.Ranges) > 2:
		return nil, Error(types.ErrUnsupportedField, "unsupported field ipam.ranges with %d range sets: plumb gives each attachment one address of each family, from one range set of each", len(c.Ranges))
	case len(c.Ranges) == 0:
		return []rangeConf{c.rangeConf}, nil
	}
	var sets []rangeConf
	for i, set := range c.Ranges {
		if len(set) != 1 {
			return nil, Error(types.ErrUnsupportedField, "unsupported field ipam.ranges[%d] with %d ranges: plumb takes one range a set", i, len(set))
		}
		var r rangeConf
		if err := decodeKnown(fmt.Sprintf("ipam.ranges[%d][0]", i), fmt.Sprintf("ipam.ranges[%d][0].", i), set[0], rangeKeys, nil, &r); err != nil {
			return nil, err
		}
		sets = append(sets, r)
	}
	return sets, nil
}

// readFamilies reads the range sets, IPv4 first (as bridge up), at most
// one of each family.
func readFamilies(sets []rangeConf) ([]family, *types.Error) {
	fams := make([]family, 0, len(sets))
	for _, r := range sets {
		f, err := readRange(r)
		if err != nil {
			return nil, err
		}
		fams = append(fams, f)
	}
	if len(fams) == 2 {
		if fams[0].subnet.Addr().Is4() == fams[1].subnet.Addr().Is4() {
			return nil, Error(types.ErrUnsupportedField, "unsupported field ipam.ranges: two range sets of one family (%s, %s); plumb takes one of each", fams[0].subnet, fams[1].subnet)
		}
		if fams[0].subnet.Addr().Is6() {
			fams[0], fams[1] = fams[1], fams[0]
		}
	}
	return fams, nil
}

// readRange reads one range: its subnet (masked, as host-local reads it),
// its gateway (the subnet's first host unless given) and its bounds.
func readRange(r rangeConf) (family, *types.Error) {
	if r.Subnet == "" {
		return family{}, Error(types.ErrInvalidNetworkConfig, "ipam has no subnet: give \"subnet\" or \"ranges\": [[{\"subnet\": ...}]]")
	}
	subnet, err := netip.ParsePrefix(r.Subnet)
	if err != nil || subnet.Addr().Is4In6() || subnet.Addr().Zone() != "" {
		return family{}, Error(types.ErrInvalidNetworkConfig, "ipam subnet %q is not a CIDR such as 10.88.0.0/16", r.Subnet)
	}
	subnet = subnet.Masked()
	if err := ipam.CheckBridgeSubnet(subnet); err != nil {
		return family{}, Error(types.ErrInvalidNetworkConfig, "ipam subnet: %v", err)
	}
	f := family{subnet: subnet, gw: ipam.FirstHost(subnet)}
	var e *types.Error
	if r.Gateway != "" {
		if f.gw, e = hostOf(subnet, "gateway", r.Gateway); e != nil {
			return f, e
		}
	}
	if f.rng.Start, e = hostOf(subnet, "rangeStart", r.RangeStart); e != nil {
		return f, e
	}
	if f.rng.End, e = hostOf(subnet, "rangeEnd", r.RangeEnd); e != nil {
		return f, e
	}
	if err := ipam.CheckRange(subnet, f.rng); err != nil {
		return f, Error(types.ErrInvalidNetworkConfig, "ipam range: %v", err)
	}
	return f, nil
}

// hostOf reads the address s of the key name, a host of subnet; "" is no
// address.
func hostOf(subnet netip.Prefix, name, s string) (netip.Addr, *types.Error) {
	if s == "" {
		return netip.Addr{}, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return a, Error(types.ErrInvalidNetworkConfig, "ipam %s %q is not an IP address", name, s)
	}
	if err := ipam.CheckHost(a, subnet); err != nil {
		return a, Error(types.ErrInvalidNetworkConfig, "ipam %s: %v", name, err)
	}
	return a, nil
}

// defaultRoutes is isDefaultGateway's route of each family, through the
// gateway.
func defaultRoutes(fams []family) []network.Route {
	var routes []network.Route
	for _, f := range fams {
		any := netip.PrefixFrom(netip.IPv4Unspecified(), 0)
		if f.subnet.Addr().Is6() {
			any = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
		}
		routes = append(routes, network.Route{Dst: any, Via: f.gw})
	}
	return routes
}

// readRoute reads ipam.routes[i]: through the gateway of its family's
// range, or through its own gw, a host of that range's subnet.
func readRoute(i int, raw json.RawMessage, fams []family) (network.Route, *types.Error) {
	var rt struct {
		Dst string `json:"dst"`
		GW  string `json:"gw"`
	}
	what := fmt.Sprintf("ipam.routes[%d]", i)
	if err := decodeKnown(what, what+".", raw, routeKeys, routeRefusedKeys, &rt); err != nil {
		return network.Route{}, err
	}
	dst, err := netip.ParsePrefix(rt.Dst)
	if err != nil {
		return network.Route{}, Error(types.ErrInvalidNetworkConfig, "ipam.routes[%d].dst %q is not a CIDR", i, rt.Dst)
	}
	var via netip.Addr
	var on netip.Prefix // the subnet the gateway must be on
	for _, f := range fams {
		if f.subnet.Addr().Is4() == dst.Addr().Is4() {
			via, on = f.gw, f.subnet
		}
	}
	if !via.IsValid() {
		return network.Route{}, Error(types.ErrInvalidNetworkConfig, "ipam.routes[%d].dst=%s: the network has no %s range to route it through", i, dst, ipam.FamilyOf(dst.Addr()))
	}
	if rt.GW != "" {
		gw, err := netip.ParseAddr(rt.GW)
		if err != nil || gw.Is4() != dst.Addr().Is4() || gw.Is4In6() {
			return network.Route{}, Error(types.ErrInvalidNetworkConfig, "ipam.routes[%d].gw %q is not an %s address", i, rt.GW, ipam.FamilyOf(dst.Addr()))
		}
		// The container reaches only its own subnet directly: the kernel
		// refuses any other gateway ("Nexthop has invalid gateway") at the
		// route's step, after the link is made.
		if err := ipam.CheckHost(gw, on); err != nil {
			return network.Route{}, Error(types.ErrInvalidNetworkConfig, "ipam.routes[%d].gw: %v; a route's gateway must be a host on the container's own subnet, which it reaches directly", i, err)
		}
		via = gw
	}
	return network.Route{Dst: dst.Masked(), Via: via}, nil
}
