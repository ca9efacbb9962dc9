package actions

import (
	"fmt"
	"strconv"
	"strings"
)

// LinkAddVeth creates a veth pair. With PeerIn set, the peer is created
// directly in that namespace (no later move, no name clash on the host).
type LinkAddVeth struct {
	Host   IfName `json:"host"`
	Peer   IfName `json:"peer"`
	PeerIn Netns  `json:"peer_in,omitempty"`
	MTU    int    `json:"mtu,omitempty"` // both ends; 0 for the kernel's default
	// PeerAddress is the peer's MAC address; "": the kernel's random one.
	PeerAddress string `json:"peer_address,omitempty"`
}

func (a LinkAddVeth) Kind() string   { return "link_add_veth" }
func (a LinkAddVeth) Argv() []string { return ipArgv(Netns{}, a.args()...) }
func (a LinkAddVeth) args() []string {
	args := []string{"link", "add", a.Host.String()}
	if a.MTU != 0 {
		args = append(args, "mtu", strconv.Itoa(a.MTU))
	}
	args = append(args, "type", "veth", "peer", "name", a.Peer.String())
	if a.MTU != 0 {
		args = append(args, "mtu", strconv.Itoa(a.MTU))
	}
	if a.PeerAddress != "" {
		args = append(args, "address", a.PeerAddress)
	}
	if !a.PeerIn.IsHost() {
		args = append(args, "netns", a.PeerIn.String())
	}
	return args
}
func (a LinkAddVeth) Batch() (Batch, string, bool) { return ipBatch(Netns{}, a.args()) }

// Target is the container when the peer is created inside it.
func (a LinkAddVeth) Target() Netns { return a.PeerIn }
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

func (a LinkDel) Kind() string                 { return "link_del" }
func (a LinkDel) Argv() []string               { return ipArgv(a.In, a.args()...) }
func (a LinkDel) args() []string               { return []string{"link", "del", a.Name.String()} }
func (a LinkDel) Batch() (Batch, string, bool) { return ipBatch(a.In, a.args()) }
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

func (a LinkSetNetns) Kind() string   { return "link_set_netns" }
func (a LinkSetNetns) Argv() []string { return ipArgv(Netns{}, a.args()...) }
func (a LinkSetNetns) args() []string {
	return []string{"link", "set", a.Name.String(), "netns", a.To.String()}
}
func (a LinkSetNetns) Batch() (Batch, string, bool) { return ipBatch(Netns{}, a.args()) }
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

func (a LinkSetUp) Kind() string                 { return "link_set_up" }
func (a LinkSetUp) Argv() []string               { return ipArgv(a.In, a.args()...) }
func (a LinkSetUp) args() []string               { return []string{"link", "set", a.Dev.String(), "up"} }
func (a LinkSetUp) Batch() (Batch, string, bool) { return ipBatch(a.In, a.args()) }
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
	return "deleting the link removes it"
}
func (a LinkSetUp) Target() Netns { return a.In }

// LinkAddBridge creates a bridge: a virtual switch, like docker0. It gets a
// fixed MAC address: without one the kernel gives the bridge the lowest MAC
// of its ports, so its address changes as containers come and go and the
// containers' ARP entries for the gateway go stale.
// A Group other than 0 puts it in that device group, which firewall
// rules match (isolated networks).
type LinkAddBridge struct {
	Name    IfName `json:"name"`
	Address string `json:"address,omitempty"`
	Group   uint32 `json:"group,omitempty"`
}

func (a LinkAddBridge) Kind() string   { return "link_add_bridge" }
func (a LinkAddBridge) Argv() []string { return ipArgv(Netns{}, a.args()...) }
func (a LinkAddBridge) args() []string {
	args := []string{"link", "add", a.Name.String()}
	if a.Address != "" {
		args = append(args, "address", a.Address)
	}
	if a.Group != 0 {
		args = append(args, "group", strconv.FormatUint(uint64(a.Group), 10))
	}
	return append(args, "type", "bridge")
}
func (a LinkAddBridge) Batch() (Batch, string, bool) { return ipBatch(Netns{}, a.args()) }
func (a LinkAddBridge) Why() string {
	return fmt.Sprintf("create the bridge %s, the switch containers plug into", a.Name)
}
func (a LinkAddBridge) Undo() Action { return LinkDel{Name: a.Name} }

// LinkSetMTU sets a link's MTU.
type LinkSetMTU struct {
	Dev IfName `json:"dev"`
	MTU int    `json:"mtu"`
}

func (a LinkSetMTU) Kind() string   { return "link_set_mtu" }
func (a LinkSetMTU) Argv() []string { return ipArgv(Netns{}, a.args()...) }
func (a LinkSetMTU) args() []string {
	return []string{"link", "set", a.Dev.String(), "mtu", strconv.Itoa(a.MTU)}
}
func (a LinkSetMTU) Batch() (Batch, string, bool) { return ipBatch(Netns{}, a.args()) }
func (a LinkSetMTU) Why() string                  { return fmt.Sprintf("set %s's MTU to %d", a.Dev, a.MTU) }
func (a LinkSetMTU) Undo() Action                 { return nil }
func (a LinkSetMTU) UndoNote() string             { return "deleting the link removes it" }

// LinkSetMaster plugs a link into a bridge.
type LinkSetMaster struct {
	Dev    IfName `json:"dev"`
	Master IfName `json:"master"`
}

func (a LinkSetMaster) Kind() string   { return "link_set_master" }
func (a LinkSetMaster) Argv() []string { return ipArgv(Netns{}, a.args()...) }
func (a LinkSetMaster) args() []string {
	return []string{"link", "set", a.Dev.String(), "master", a.Master.String()}
}
func (a LinkSetMaster) Batch() (Batch, string, bool) { return ipBatch(Netns{}, a.args()) }
func (a LinkSetMaster) Why() string {
	return fmt.Sprintf("plug %s into the bridge %s", a.Dev, a.Master)
}
func (a LinkSetMaster) Undo() Action     { return nil }
func (a LinkSetMaster) UndoNote() string { return "deleting the veth pair removes it" }

// LinkRename renames a link, here inside the container: its end is made
// under a temporary name, as eth0 may already exist on the host.
type LinkRename struct {
	Dev  IfName `json:"dev"`
	Name IfName `json:"name"`
	In   Netns  `json:"in,omitempty"`
}

func (a LinkRename) Kind() string   { return "link_rename" }
func (a LinkRename) Argv() []string { return ipArgv(a.In, a.args()...) }
func (a LinkRename) args() []string {
	return []string{"link", "set", a.Dev.String(), "name", a.Name.String()}
}
func (a LinkRename) Batch() (Batch, string, bool) { return ipBatch(a.In, a.args()) }
func (a LinkRename) Why() string {
	return fmt.Sprintf("name the container's end %s, as the container expects", a.Name)
}
func (a LinkRename) Undo() Action     { return nil }
func (a LinkRename) UndoNote() string { return "deleting the veth pair removes it" }
func (a LinkRename) Target() Netns    { return a.In }

// LinkSetHairpin lets a bridge port send a frame back out of the port it
// came in by (CNI's hairpinMode): a container then reaches itself through
// a published port of the host.
type LinkSetHairpin struct {
	Dev IfName `json:"dev"`
}

func (a LinkSetHairpin) Kind() string   { return "link_set_hairpin" }
func (a LinkSetHairpin) Argv() []string { return ipArgv(Netns{}, a.args()...) }
func (a LinkSetHairpin) args() []string {
	return []string{"link", "set", a.Dev.String(), "type", "bridge_slave", "hairpin", "on"}
}
func (a LinkSetHairpin) Batch() (Batch, string, bool) { return ipBatch(Netns{}, a.args()) }
func (a LinkSetHairpin) Why() string {
	return fmt.Sprintf("let the bridge send %s's frames back to it (hairpin mode)", a.Dev)
}
func (a LinkSetHairpin) Undo() Action     { return nil }
func (a LinkSetHairpin) UndoNote() string { return "deleting the veth pair removes it" }
