package actions

import (
	"fmt"
	"net/netip"
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
