package actions

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
)

// Probes are read-only commands whose output plumb parses to check the host
// before it changes anything. They go through the same Runner as steps.

// link is what plumb reads of `ip -j link show`.
type link struct {
	Name  string `json:"ifname"`
	MTU   int    `json:"mtu"`
	Group string `json:"group"`
}

func links(ctx context.Context, r Runner, in Netns) ([]link, error) {
	out, err := r.Run(ctx, in.Wrap([]string{"ip", "-j", "link", "show"}), nil)
	if err != nil {
		return nil, fmt.Errorf("listing links in %s: %w", in, err)
	}
	var ls []link
	if err := json.Unmarshal(out, &ls); err != nil {
		return nil, fmt.Errorf("reading `ip -j link show` output: %w", err)
	}
	return ls, nil
}

// LinkNames lists the interfaces of a namespace (`ip -j link show`), each
// with its MTU.
func LinkNames(ctx context.Context, r Runner, in Netns) (map[string]int, error) {
	ls, err := links(ctx, r, in)
	names := make(map[string]int, len(ls))
	for _, l := range ls {
		names[l.Name] = l.MTU
	}
	return names, err
}

// DefaultRouteDev is the interface of the host's default route, as the
// document's `ip route | grep default | awk '{print $5}'` finds it, read from
// `ip -j route show default` instead of by column (in-process where the
// runner reads routes itself). "" means no default route.
func DefaultRouteDev(ctx context.Context, r Runner) (string, error) {
	if rr, ok := r.(RouteReader); ok {
		return rr.ReadDefaultRouteDev(ctx)
	}
	return defaultRouteDevByCommand(ctx, r)
}

func defaultRouteDevByCommand(ctx context.Context, r Runner) (string, error) {
	out, err := r.Run(ctx, []string{"ip", "-j", "route", "show", "default"}, nil)
	if err != nil {
		return "", fmt.Errorf("finding the default route: %w", err)
	}
	return firstRouteDev(out)
}

// firstRouteDev is the interface of the first route of `ip -j route`'s
// output that has one (a blackhole route has none): jq's `[.[] |
// select(.dev != null) | .dev][0] // ""`, decoded with encoding/json, not
// bitfield/script's JQ, whose jq interpreter's initialisation every plumb
// process paid for at start (about 3% of an attach's CPU time).
func firstRouteDev(out []byte) (string, error) {
	if len(bytes.TrimSpace(out)) == 0 {
		return "", nil
	}
	var routes []struct {
		Dev *string `json:"dev"`
	}
	if err := json.Unmarshal(out, &routes); err != nil {
		return "", fmt.Errorf("reading `ip -j route show default` output: %w", err)
	}
	for _, rt := range routes {
		if rt.Dev != nil {
			return *rt.Dev, nil
		}
	}
	return "", nil
}

// Routes lists the destinations of the host's main routing table for the
// family of addresses like of, the default route left out (`ip -j route
// show`, `ip -6 -j route show`).
func Routes(ctx context.Context, r Runner, of netip.Addr) ([]netip.Prefix, error) {
	out, err := r.Run(ctx, routeArgv(Netns{}, of, "show"), nil)
	if err != nil {
		return nil, fmt.Errorf("listing routes: %w", err)
	}
	var routes []struct {
		Dst string `json:"dst"`
	}
	if err := json.Unmarshal(out, &routes); err != nil {
		return nil, fmt.Errorf("reading `ip -j route show` output: %w", err)
	}
	var out4 []netip.Prefix
	for _, rt := range routes {
		if rt.Dst == "default" || rt.Dst == "" {
			continue
		}
		if p, err := netip.ParsePrefix(rt.Dst); err == nil {
			out4 = append(out4, p)
		} else if a, err := netip.ParseAddr(rt.Dst); err == nil {
			out4 = append(out4, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	return out4, nil
}

// LinkGroups lists the link groups in use in a namespace (`ip -j link
// show`: "default", a number, or a name from /etc/iproute2/group), so that
// plumb can pick a group of its own to delete many links in one request.
func LinkGroups(ctx context.Context, r Runner, in Netns) (map[string]bool, error) {
	ls, err := links(ctx, r, in)
	groups := map[string]bool{}
	for _, l := range ls {
		groups[l.Group] = true
	}
	return groups, err
}

// routeArgv is `ip -j route ARGS...` for the family of addresses like of:
// ip lists IPv4 routes unless told -6.
func routeArgv(in Netns, of netip.Addr, args ...string) []string {
	argv := []string{"ip"}
	if of.Is6() && !of.Is4In6() {
		argv = append(argv, "-6")
	}
	return in.Wrap(append(append(argv, "-j", "route"), args...))
}

// AddrDev is the interface that holds the address a (`ip -j addr show to
// A/32`), "" when none does: a mesh's underlay when --dev is not given.
func AddrDev(ctx context.Context, r Runner, a netip.Addr) (string, error) {
	argv := []string{"ip", "-j", "addr", "show", "to", netip.PrefixFrom(a, a.BitLen()).String()}
	if a.Is6() {
		argv = []string{"ip", "-6", "-j", "addr", "show", "to", netip.PrefixFrom(a, a.BitLen()).String()}
	}
	out, err := r.Run(ctx, argv, nil)
	if err != nil {
		return "", fmt.Errorf("finding the interface of %s: %w", a, err)
	}
	if len(bytes.TrimSpace(out)) == 0 {
		return "", nil
	}
	var ls []struct {
		Name string `json:"ifname"`
	}
	if err := json.Unmarshal(out, &ls); err != nil {
		return "", fmt.Errorf("reading `ip -j addr show` output: %w", err)
	}
	if len(ls) == 0 {
		return "", nil
	}
	return ls[0].Name, nil
}
