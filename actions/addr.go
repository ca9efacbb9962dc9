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
	// NoDAD adds an IPv6 address without duplicate address detection
	// (ip's nodad): on a link plumb has just made, no other host can hold
	// it, and the check would only keep it unusable (tentative) a while.
	NoDAD bool `json:"nodad,omitempty"`
}

func (a AddrAdd) Kind() string   { return "addr_add" }
func (a AddrAdd) Argv() []string { return ipArgv(a.In, a.args()...) }
func (a AddrAdd) args() []string {
	args := []string{"addr", "add", a.Addr.String(), "dev", a.Dev.String()}
	if a.NoDAD {
		args = append(args, "nodad")
	}
	return args
}
func (a AddrAdd) Batch() (Batch, string, bool) { return ipBatch(a.In, a.args()) }
func (a AddrAdd) Why() string {
	if a.NoDAD {
		return fmt.Sprintf("give %s the address %s, usable at once (no duplicate address detection on a link just made)", a.Dev, a.Addr)
	}
	return fmt.Sprintf("give %s the address %s", a.Dev, a.Addr)
}
func (a AddrAdd) Undo() Action     { return nil }
func (a AddrAdd) UndoNote() string { return "deleting the link removes it" }
func (a AddrAdd) Target() Netns    { return a.In }
