package actions

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// TunnelEntries are what a VXLAN device's peers are made of, as the host
// holds them: routes through it (destination → gateway, onlink ones), its
// permanent neighbours (address → MAC) and its forwarding entries (MAC →
// destinations). plumb check compares them with a mesh's peer set.
type TunnelEntries struct {
	Routes map[netip.Prefix]netip.Addr
	Neigh  map[netip.Addr]string
	Fdb    map[string][]netip.Addr
}

// ReadTunnel reads dev's entries in two processes: `ip -j -batch -` of
// `route show dev DEV` and `neigh show dev DEV nud permanent` (a JSON
// array a line), and `bridge -j fdb show dev DEV`.
func ReadTunnel(ctx context.Context, r Runner, dev IfName) (*TunnelEntries, error) {
	if tr, ok := r.(TunnelReader); ok && !probesByCommand(r) {
		return tr.ReadTunnel(ctx, dev)
	}
	t := &TunnelEntries{Routes: map[netip.Prefix]netip.Addr{}, Neigh: map[netip.Addr]string{}, Fdb: map[string][]netip.Addr{}}
	read := func(argv []string, stdin string, into ...any) error {
		out, err := r.Run(ctx, argv, []byte(stdin))
		if err != nil {
			return fmt.Errorf("reading %s's entries: %w", dev, err)
		}
		dec := json.NewDecoder(bytes.NewReader(out))
		for _, v := range into {
			if err := dec.Decode(v); err != nil {
				return fmt.Errorf("reading `%s` output: %w", strings.Join(argv, " "), err)
			}
		}
		return nil
	}
	var routes []struct {
		Dst     string   `json:"dst"`
		Gateway string   `json:"gateway"`
		Flags   []string `json:"flags"`
	}
	var neigh []struct {
		Dst    string `json:"dst"`
		LLAddr string `json:"lladdr"`
	}
	batch := fmt.Sprintf("route show dev %s\nneigh show dev %s nud permanent\n", dev, dev)
	if err := read([]string{"ip", "-j", "-batch", "-"}, batch, &routes, &neigh); err != nil {
		return nil, err
	}
	for _, rt := range routes {
		p, err := netip.ParsePrefix(rt.Dst)
		if err != nil {
			if a, aerr := netip.ParseAddr(rt.Dst); aerr == nil {
				p = netip.PrefixFrom(a, a.BitLen())
			} else {
				continue
			}
		}
		gw, _ := netip.ParseAddr(rt.Gateway)
		if !slices.Contains(rt.Flags, "onlink") {
			gw = netip.Addr{} // not a peer's route
		}
		t.Routes[p] = gw
	}
	for _, n := range neigh {
		if a, err := netip.ParseAddr(n.Dst); err == nil {
			t.Neigh[a] = strings.ToLower(n.LLAddr)
		}
	}
	var fdb []struct {
		MAC string `json:"mac"`
		Dst string `json:"dst"`
	}
	if err := read([]string{"bridge", "-j", "fdb", "show", "dev", dev.String()}, "", &fdb); err != nil {
		return nil, err
	}
	for _, e := range fdb {
		if a, err := netip.ParseAddr(e.Dst); err == nil {
			mac := strings.ToLower(e.MAC)
			t.Fdb[mac] = append(t.Fdb[mac], a)
		}
	}
	return t, nil
}

// probesByCommand reports whether r reads the host with commands (exec
// each, for debugging), not in-process.
func probesByCommand(r Runner) bool {
	e, ok := r.(Exec)
	return ok && e.ProbeByCommand
}
