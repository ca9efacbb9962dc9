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
