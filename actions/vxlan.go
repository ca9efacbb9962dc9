package actions

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// LinkAddVxlan creates a mesh's VXLAN device, its tunnel end (VTEP): the
// frames it sends go out of Dev from Local, in UDP to port Port of the
// peer that the forwarding database names. nolearning: that database
// holds only the entries plumb writes, one per peer. dev, dstport and mtu
// are always given: without dev the kernel leaves the MTU at 1500,
// unclamped to what the underlay carries, and without dstport it picks
// its own default port (8472) with a warning.
type LinkAddVxlan struct {
	Name  IfName     `json:"name"`
	MAC   string     `json:"mac"`
	MTU   int        `json:"mtu"`
	VNI   uint32     `json:"vni"`
	Local netip.Addr `json:"local"`
	Dev   IfName     `json:"dev"`
	Port  uint16     `json:"port"`
}

func (a LinkAddVxlan) Kind() string   { return "link_add_vxlan" }
func (a LinkAddVxlan) Argv() []string { return ipArgv(Netns{}, a.args()...) }
func (a LinkAddVxlan) args() []string {
	return []string{"link", "add", a.Name.String(), "address", a.MAC, "mtu", strconv.Itoa(a.MTU),
		"type", "vxlan", "id", strconv.FormatUint(uint64(a.VNI), 10), "local", a.Local.String(),
		"dev", a.Dev.String(), "dstport", strconv.Itoa(int(a.Port)), "nolearning"}
}
func (a LinkAddVxlan) Batch() (Batch, string, bool) { return ipBatch(Netns{}, a.args()) }
func (a LinkAddVxlan) Why() string {
	return fmt.Sprintf("create the VXLAN device %s (VNI %d), the tunnel to the mesh's other nodes: UDP port %d over %s, from %s",
		a.Name, a.VNI, a.Port, a.Dev, a.Local)
}

// Undo deletes the device; its addresses, routes, neighbours and
// forwarding entries go with it.
func (a LinkAddVxlan) Undo() Action { return LinkDel{Name: a.Name} }

// Clash: a link of that name, or another VXLAN device with the same VNI
// and port (the kernel allows one per VNI and port), is someone else's.
func (a LinkAddVxlan) Clash(stderr string) bool {
	return fileExists(stderr) || strings.Contains(stderr, "A VXLAN device with the specified VNI already exists")
}

// vxlanInfo is what `ip -d -j link show dev X` says of a VXLAN device.
type vxlanInfo struct {
	MTU  int    `json:"mtu"`
	MAC  string `json:"address"`
	Info struct {
		Kind string `json:"info_kind"`
		Data struct {
			ID       uint32 `json:"id"`
			Local    string `json:"local"`
			Link     string `json:"link"`
			Port     int    `json:"port"`
			Learning bool   `json:"learning"`
		} `json:"info_data"`
	} `json:"linkinfo"`
}

// Verify: the device is there and is the one plumb made. At creation the
// kernel clamps the MTU to what the underlay carries without a word, so
// the MTU is checked too, with the MAC, VNI, port, underlay, local
// address and learning off.
func (a LinkAddVxlan) Verify(ctx context.Context, r Runner) error {
	out, err := r.Run(ctx, []string{"ip", "-d", "-j", "link", "show", "dev", a.Name.String()}, nil)
	if err != nil {
		return fmt.Errorf("link %s is missing on the host", a.Name)
	}
	var links []vxlanInfo
	if err := json.Unmarshal(out, &links); err != nil || len(links) == 0 {
		return fmt.Errorf("link %s: unreadable `ip -d -j link show` output", a.Name)
	}
	l := links[0]
	if l.Info.Kind != "vxlan" {
		kind := l.Info.Kind
		if kind == "" {
			kind = "a device of no kind ip names"
		}
		return fmt.Errorf("link %s is not a VXLAN device but %s", a.Name, kind)
	}
	d := l.Info.Data
	var diffs []string
	if l.MTU != a.MTU {
		diffs = append(diffs, fmt.Sprintf("MTU %d, not %d", l.MTU, a.MTU))
	}
	if !strings.EqualFold(l.MAC, a.MAC) {
		diffs = append(diffs, fmt.Sprintf("MAC %s, not %s", l.MAC, a.MAC))
	}
	if d.ID != a.VNI {
		diffs = append(diffs, fmt.Sprintf("VNI %d, not %d", d.ID, a.VNI))
	}
	if d.Port != int(a.Port) {
		diffs = append(diffs, fmt.Sprintf("UDP port %d, not %d", d.Port, a.Port))
	}
	if local, err := netip.ParseAddr(d.Local); err != nil || local != a.Local {
		diffs = append(diffs, fmt.Sprintf("local address %s, not %s", orNone(d.Local), a.Local))
	}
	if d.Link != a.Dev.String() {
		diffs = append(diffs, fmt.Sprintf("underlay %s, not %s", orNone(d.Link), a.Dev))
	}
	if d.Learning {
		diffs = append(diffs, "learning on, where plumb made it nolearning")
	}
	if len(diffs) > 0 {
		return fmt.Errorf("VXLAN device %s has %s", a.Name, strings.Join(diffs, "; "))
	}
	return nil
}

// orNone is s, or "none" when it is empty.
func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
