package actions

import (
	"fmt"
	"net/netip"
)

// AddrAdd gives an interface an address; the prefix length makes the subnet
// directly reachable through it.
type AddrAdd struct {
	Addr netip.Prefix `json:"addr"`
	Dev  IfName       `json:"dev"`
	In   Netns        `json:"in,omitempty"`
}

func (a AddrAdd) Kind() string   { return "addr_add" }
func (a AddrAdd) Argv() []string { return ipArgv(a.In, a.args()...) }
func (a AddrAdd) args() []string {
	return []string{"addr", "add", a.Addr.String(), "dev", a.Dev.String()}
}
func (a AddrAdd) Batch() (Batch, string, bool) { return ipBatch(a.In, a.args()) }
func (a AddrAdd) Why() string {
	return fmt.Sprintf("give %s the address %s", a.Dev, a.Addr)
}
func (a AddrAdd) Undo() Action     { return nil }
func (a AddrAdd) UndoNote() string { return "deleting the veth pair removes it" }
func (a AddrAdd) Target() Netns    { return a.In }
