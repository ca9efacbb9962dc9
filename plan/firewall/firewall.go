// Package firewall turns what a recipe needs of the host's firewall, said
// by meaning (accept forwarding between these interfaces, masquerade this
// subnet out of that one, publish this port to that address, send traffic
// through a network's own rules), into the actions of one back end. Recipes
// never name a table, a chain or a match; a back end decides how its tool
// says it. Two back ends: iptables, with the document's exact commands (the
// default), and nftables, a table of plumb's own per object written as one
// `nft -f -` transaction.
package firewall

import (
	"fmt"
	"net/netip"

	"plumb/actions"
	"plumb/plan/ipam"
)

// Need is one thing a recipe needs of the firewall. Network names the plumb
// network whose own rules hold it; "" means the host's base rules, written
// exactly as the document writes them and found again through the journal.
type Need interface {
	family() ipam.Family
}

// Hook is where traffic enters a network's own rules.
type Hook int

// The hooks a network's rules attach to.
const (
	// Forwarded traffic: what may pass between interfaces.
	Forwarded Hook = iota + 1
	// Outgoing traffic: source NAT (masquerading).
	Outgoing
	// Traffic for the host's own addresses: published ports (DNAT), from
	// outside and from the host itself.
	ForTheHost
	// Traffic the host itself takes in (filter INPUT): what a network may
	// not reach of the host.
	Incoming
	// Forwarded traffic before any network's accepts see it: an
	// isolated or internal network's drops (iptables: mangle FORWARD,
	// which runs before filter's, whatever order networks came in; nft: a
	// forward chain of the network's table before its accepts, where a
	// drop is final whatever another table accepts).
	Isolation
)

// IsolatedGroup is the device group of isolated networks' bridges
// (28780, "pl" in ASCII): an isolated network drops what it would forward
// to an interface of the group, so each network's own rules keep it apart
// from every other, with no chain shared between networks to keep.
const IsolatedGroup uint32 = 28780

// AcceptForward lets packets be forwarded from In to Out. A Not flag
// inverts its interface ("anything but"); an empty interface matches any.
// Replies accepts only packets of connections already made the other way.
type AcceptForward struct {
	Family  ipam.Family
	Network string
	// Object names the plumb object whose rules these are when Network is
	// "" (a veth pair's host end): a back end that keeps each object's
	// rules apart (nft: the table plumb-OBJECT) files them under it.
	Object        string
	In, Out       actions.IfName
	NotIn, NotOut bool
	Replies       bool
	Why           string
}

// DropForward drops packets forwarded from In to Out, with Not flags and
// empty interfaces as AcceptForward's; OutGroup, when not 0, matches only
// packets leaving by an interface of that device group; NotDNAT spares
// connections whose destination a published port rewrote (a container
// reaching another network's published port at the host's address, as
// Docker lets it). It goes in the Isolation hook's rules.
type DropForward struct {
	Family        ipam.Family
	Network       string
	In, Out       actions.IfName
	NotIn, NotOut bool
	OutGroup      uint32
	NotDNAT       bool
	Why           string
}

// Masquerade rewrites the source of Source's packets leaving by Out (or by
// any interface but Out, with NotOut) to the host's address.
type Masquerade struct {
	Family  ipam.Family
	Network string
	Object  string // as AcceptForward's
	Source  netip.Prefix
	Out     actions.IfName
	NotOut  bool
	// NotTo are destinations never masqueraded: a mesh's cluster CIDR,
	// whose pods see each other's own addresses, and multicast. iptables
	// writes a RETURN for each before the MASQUERADE, in the same chain
	// (a RETURN elsewhere would not stop it); nft one rule with a set.
	NotTo []netip.Prefix
	// RandomFully picks the source ports at random (--random-fully,
	// masquerade fully-random), as flannel does: it avoids conntrack's
	// insertion races when many pods open connections at once.
	RandomFully bool
	Why         string
}

// OwnRules makes a network's own rule set for one hook, so its rules are
// found, and removed, as one and never mix with rules plumb did not write.
type OwnRules struct {
	Family  ipam.Family
	Network string
	Hook    Hook
}

// JumpInto sends the hook's traffic through the network's own rules.
type JumpInto struct {
	Family  ipam.Family
	Network string
	Hook    Hook
}

// GuardLoopback drops new connections that arrive on In for the host's
// loopback block (127.0.0.0/8). Once In's route_localnet is 1 (so that
// published ports answer at 127.0.0.1), the kernel would otherwise deliver
// a container's packet for 127.0.0.1 to the host's services that listen
// there alone (CVE-2020-8558; kube-proxy's rule); replies of the host's
// own connections through a published port pass.
type GuardLoopback struct {
	Network string
	In      actions.IfName
	Why     string
}

// Publish sends traffic for the host's port HostPort to To:ToPort on the
// network's bridge, and lets new connections through to it.
type Publish struct {
	Network  string
	Bridge   actions.IfName
	Proto    string // tcp or udp
	HostPort uint16
	To       netip.Addr
	ToPort   uint16
}

func (n AcceptForward) family() ipam.Family { return n.Family }
func (n Masquerade) family() ipam.Family    { return n.Family }
func (n DropForward) family() ipam.Family   { return n.Family }
func (n OwnRules) family() ipam.Family      { return n.Family }
func (n JumpInto) family() ipam.Family      { return n.Family }
func (n Publish) family() ipam.Family       { return ipam.FamilyOf(n.To) }
func (n GuardLoopback) family() ipam.Family { return ipam.V4 }

// Backend renders needs as actions, in order, each with its undo.
type Backend interface {
	Actions(needs ...Need) ([]actions.Action, error)
	// Name is the back end as --firewall names it: iptables or nftables.
	Name() string
}

// Default is the back end plumb uses unless told otherwise: iptables.
func Default() Backend { return Iptables{} }

// Names are the back ends, as --firewall, PLUMB_FIREWALL and a CNI
// config's ipMasqBackend name them.
var Names = []string{"iptables", "nftables"}

// ByName is the back end of that name; "" is the default.
func ByName(name string) (Backend, error) {
	switch name {
	case "", "iptables":
		return Iptables{}, nil
	case "nftables":
		return Nft{}, nil
	}
	return nil, fmt.Errorf("%q is not a firewall back end: iptables or nftables", name)
}

// Recorded is how an object's facts record the back end that wrote its
// rules: "" for iptables (what every journal before nftables means),
// "nftables" for nft.
func Recorded(b Backend) string {
	if b == nil || b.Name() == "iptables" {
		return ""
	}
	return b.Name()
}

// unsupported is a need of a family the back end cannot write yet.
func unsupported(n Need) error {
	return fmt.Errorf("firewall rules for %s are not supported", n.family())
}
