package actions

import (
	"fmt"
	"strings"
)

// LinkAddVeth creates a veth pair. With PeerIn set, the peer is created
// directly in that namespace (no later move, no name clash on the host).
type LinkAddVeth struct {
	Host   IfName `json:"host"`
	Peer   IfName `json:"peer"`
	PeerIn Netns  `json:"peer_in,omitempty"`
}

func (a LinkAddVeth) Kind() string { return "link_add_veth" }
func (a LinkAddVeth) Argv() []string {
	argv := []string{"ip", "link", "add", a.Host.String(), "type", "veth", "peer", "name", a.Peer.String()}
	if !a.PeerIn.IsHost() {
		argv = append(argv, "netns", a.PeerIn.String())
	}
	return argv
}
func (a LinkAddVeth) Why() string {
	return fmt.Sprintf("create the veth pair: %s stays on the host, %s goes to the container", a.Host, a.Peer)
}

// Undo deletes the host end; the kernel removes the peer, and every address
// and route on either end, with it.
func (a LinkAddVeth) Undo() Action { return LinkDel{Name: a.Host} }

// LinkDel deletes a link (and, for a veth, its peer).
type LinkDel struct {
	Name IfName `json:"name"`
	In   Netns  `json:"in,omitempty"`
}

func (a LinkDel) Kind() string   { return "link_del" }
func (a LinkDel) Argv() []string { return a.In.Wrap([]string{"ip", "link", "del", a.Name.String()}) }
func (a LinkDel) Why() string {
	return fmt.Sprintf("delete %s with its peer, addresses and routes", a.Name)
}
func (a LinkDel) Undo() Action { return nil }
func (a LinkDel) Gone(stderr string) bool {
	return strings.Contains(stderr, "Cannot find device") || strings.Contains(stderr, "does not exist")
}

// LinkSetNetns moves a link into another network namespace.
type LinkSetNetns struct {
	Name IfName `json:"name"`
	To   Netns  `json:"to"`
}

func (a LinkSetNetns) Kind() string { return "link_set_netns" }
func (a LinkSetNetns) Argv() []string {
	return []string{"ip", "link", "set", a.Name.String(), "netns", a.To.String()}
}
func (a LinkSetNetns) Why() string {
	return fmt.Sprintf("move %s into the container's network namespace", a.Name)
}
func (a LinkSetNetns) Undo() Action     { return nil }
func (a LinkSetNetns) UndoNote() string { return "deleting the host end removes it" }
func (a LinkSetNetns) Target() Netns    { return a.To }

// LinkSetUp brings a link up.
type LinkSetUp struct {
	Dev IfName `json:"dev"`
	In  Netns  `json:"in,omitempty"`
}

func (a LinkSetUp) Kind() string { return "link_set_up" }
func (a LinkSetUp) Argv() []string {
	return a.In.Wrap([]string{"ip", "link", "set", a.Dev.String(), "up"})
}
func (a LinkSetUp) Why() string {
	if a.Dev == "lo" {
		return "bring up the container's loopback interface"
	}
	return fmt.Sprintf("bring %s up", a.Dev)
}
func (a LinkSetUp) Undo() Action { return nil }
func (a LinkSetUp) UndoNote() string {
	if a.Dev == "lo" {
		return "none: loopback stays up, as other users of the namespace may rely on it"
	}
	return "deleting the veth pair removes it"
}
func (a LinkSetUp) Target() Netns { return a.In }
