package actions

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// RouteAddDefault sends traffic for everything beyond the local subnet
// through a gateway.
type RouteAddDefault struct {
	Via netip.Addr `json:"via"`
	In  Netns      `json:"in,omitempty"`
}

func (a RouteAddDefault) Kind() string   { return "route_add_default" }
func (a RouteAddDefault) Argv() []string { return ipArgv(a.In, a.args()...) }
func (a RouteAddDefault) args() []string {
	return []string{"route", "add", "default", "via", a.Via.String()}
}
func (a RouteAddDefault) Batch() (Batch, string, bool) { return ipBatch(a.In, a.args()) }
func (a RouteAddDefault) Why() string {
	return fmt.Sprintf("route the container's traffic beyond its subnet through %s", a.Via)
}
func (a RouteAddDefault) Undo() Action     { return nil }
func (a RouteAddDefault) UndoNote() string { return "deleting the veth pair removes it" }
func (a RouteAddDefault) Target() Netns    { return a.In }

// RouteAdd sends traffic for one destination through a gateway (a route of
// a CNI config's ipam).
type RouteAdd struct {
	Dst netip.Prefix `json:"dst"`
	Via netip.Addr   `json:"via"`
	In  Netns        `json:"in,omitempty"`
}

func (a RouteAdd) Kind() string   { return "route_add" }
func (a RouteAdd) Argv() []string { return ipArgv(a.In, a.args()...) }
func (a RouteAdd) args() []string {
	return []string{"route", "add", a.Dst.String(), "via", a.Via.String()}
}
func (a RouteAdd) Batch() (Batch, string, bool) { return ipBatch(a.In, a.args()) }
func (a RouteAdd) Why() string {
	return fmt.Sprintf("route the container's traffic for %s through %s", a.Dst, a.Via)
}
func (a RouteAdd) Undo() Action     { return nil }
func (a RouteAdd) UndoNote() string { return "deleting the veth pair removes it" }
func (a RouteAdd) Target() Netns    { return a.In }

// RouteAddOnlink sends traffic for a peer's subnet through a mesh's
// device to the peer's tunnel end: onlink, as the device has only a /32
// address and the kernel would refuse the gateway otherwise ("Nexthop has
// invalid gateway"). add, not replace or append: a route that is there
// already is someone else's. Last of a peer's three steps: without the
// neighbour entry the kernel would ARP for the gateway.
type RouteAddOnlink struct {
	Dst netip.Prefix `json:"dst"`
	Via netip.Addr   `json:"via"`
	Dev IfName       `json:"dev"`
}

func (a RouteAddOnlink) Kind() string   { return "route_add_onlink" }
func (a RouteAddOnlink) Argv() []string { return ipArgv(Netns{}, a.args()...) }
func (a RouteAddOnlink) args() []string {
	return []string{"route", "add", a.Dst.String(), "via", a.Via.String(), "dev", a.Dev.String(), "onlink"}
}
func (a RouteAddOnlink) Batch() (Batch, string, bool) { return ipBatch(Netns{}, a.args()) }
func (a RouteAddOnlink) Why() string {
	return fmt.Sprintf("route traffic for %s through %s to the peer's tunnel end %s", a.Dst, a.Dev, a.Via)
}
func (a RouteAddOnlink) Undo() Action { return RouteDel(a) }

// Clash: a route to the destination is there already.
func (a RouteAddOnlink) Clash(stderr string) bool { return fileExists(stderr) }

// Gone: run as the restore of an update's RouteDel that may never have
// run (killed after the journal said started), the route is there
// already.
func (a RouteAddOnlink) Gone(stderr string) bool { return fileExists(stderr) }

// Verify: the device has the route to Dst, through Via, onlink (`ip -j
// route show DST dev DEV`, which matches DST exactly).
func (a RouteAddOnlink) Verify(ctx context.Context, r Runner) error {
	out, err := r.Run(ctx, routeArgv(Netns{}, a.Via, "show", a.Dst.String(), "dev", a.Dev.String()), nil)
	if err != nil {
		return fmt.Errorf("link %s is missing on the host", a.Dev)
	}
	var routes []struct {
		Dst     string   `json:"dst"`
		Gateway string   `json:"gateway"`
		Flags   []string `json:"flags"`
	}
	if err := json.Unmarshal(out, &routes); err != nil {
		return fmt.Errorf("link %s: unreadable `ip -j route show` output", a.Dev)
	}
	var others []string
	for _, rt := range routes {
		if d, ok := routeDst(rt.Dst); !ok || d != a.Dst.Masked() {
			continue
		}
		if gw, err := netip.ParseAddr(rt.Gateway); err != nil || gw != a.Via {
			others = append(others, orNone(rt.Gateway))
			continue
		}
		if !slices.Contains(rt.Flags, "onlink") {
			return fmt.Errorf("route to %s via %s on %s is not onlink", a.Dst, a.Via, a.Dev)
		}
		return nil
	}
	if len(others) > 0 {
		return fmt.Errorf("route to %s on %s goes via %s, not %s", a.Dst, a.Dev, strings.Join(others, ", "), a.Via)
	}
	return fmt.Errorf("route to %s via %s on %s is missing", a.Dst, a.Via, a.Dev)
}

// RouteDel deletes a route through a mesh's device: a peer that left.
type RouteDel struct {
	Dst netip.Prefix `json:"dst"`
	Via netip.Addr   `json:"via"`
	Dev IfName       `json:"dev"`
}

func (a RouteDel) Kind() string   { return "route_del" }
func (a RouteDel) Argv() []string { return ipArgv(Netns{}, a.args()...) }
func (a RouteDel) args() []string {
	return []string{"route", "del", a.Dst.String(), "via", a.Via.String(), "dev", a.Dev.String()}
}
func (a RouteDel) Batch() (Batch, string, bool) { return ipBatch(Netns{}, a.args()) }
func (a RouteDel) Why() string {
	return fmt.Sprintf("stop routing traffic for %s through %s to %s", a.Dst, a.Dev, a.Via)
}
func (a RouteDel) Undo() Action { return nil }
func (a RouteDel) UndoNote() string {
	return "an update that deletes it adds it back (ip route add) if it is rolled back"
}

// Gone: the route ("No such process"), or the whole link with its routes,
// is gone.
func (a RouteDel) Gone(stderr string) bool {
	return strings.Contains(stderr, "No such process") || strings.Contains(stderr, "Cannot find device")
}

// routeDst reads the dst of `ip -j route`: a prefix, an address alone for
// a host route (a /32 or /128), or "default".
func routeDst(s string) (netip.Prefix, bool) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), true
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	return netip.Prefix{}, false
}
