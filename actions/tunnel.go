package actions

import (
	"fmt"
	"net/netip"
	"strings"

	"plumb/plan/ipam"
)

// A mesh's peers change by three batches, each one step fed its lines: ip
// deletes the routes and neighbours of peers gone, bridge deletes their
// forwarding entries, moves those of peers whose address changed and adds
// the new ones', ip adds the new neighbours and routes. One step, not one
// a line: a sync of a thousand peers journals three steps of a few
// kilobytes, not three thousand. The undo of each is its inverse, run
// with -force so that every line is tried, written so that a line whose
// work is done already changes nothing: `neigh replace`, `route replace`
// and `fdb replace` to put entries back, `route flush exact DST via GW`
// and `neigh flush to IP ... nud permanent` to take them away (ip exits at
// once when a `neigh del` or `neigh add` fails, -force or not: iproute2
// 6.1's ipneigh), and fdb dels, whose "No such ..." -force goes past. So
// an undo puts back a batch that stopped at any line, or never ran.

// TunnelPeer is a peer as its entries are made: its pod subnet, whose
// network address is its tunnel end and gives its MAC (ipam.MAC), and its
// underlay address; From is the address a moved peer had.
type TunnelPeer struct {
	Subnet netip.Prefix
	IP     netip.Addr
	From   netip.Addr
}

// MarshalText is "SUBNET IP [FROM]": a thousand peers in 40 kB.
func (p TunnelPeer) MarshalText() ([]byte, error) {
	s := p.Subnet.String() + " " + p.IP.String()
	if p.From.IsValid() {
		s += " " + p.From.String()
	}
	return []byte(s), nil
}

// UnmarshalText reads MarshalText's form.
func (p *TunnelPeer) UnmarshalText(b []byte) error {
	f := strings.Fields(string(b))
	if len(f) < 2 || len(f) > 3 {
		return fmt.Errorf("tunnel peer %q: want SUBNET IP [FROM]", b)
	}
	var err error
	if p.Subnet, err = netip.ParsePrefix(f[0]); err != nil {
		return fmt.Errorf("tunnel peer %q: %w", b, err)
	}
	if p.IP, err = netip.ParseAddr(f[1]); err != nil {
		return fmt.Errorf("tunnel peer %q: %w", b, err)
	}
	p.From = netip.Addr{}
	if len(f) == 3 {
		if p.From, err = netip.ParseAddr(f[2]); err != nil {
			return fmt.Errorf("tunnel peer %q: %w", b, err)
		}
	}
	return nil
}

// end is the peer's tunnel end.
func (p TunnelPeer) end() string { return ipam.TunnelEnd(p.Subnet).String() }

// mac is the peer's VXLAN device's MAC.
func (p TunnelPeer) mac() string { return ipam.TunnelMAC(p.Subnet) }

// batchArgv is tool's batch command, -force to go on past a failed line.
func batchArgv(tool string, force bool) []string {
	if force {
		return []string{tool, "-force", "-batch", "-"}
	}
	return []string{tool, "-batch", "-"}
}

// fed is lines as a batch's input.
func fed(lines []string) []byte { return []byte(strings.Join(lines, "\n") + "\n") }

// TunnelUnroute deletes peers' routes and neighbours on Dev (`ip -batch -`).
type TunnelUnroute struct {
	Dev   IfName       `json:"dev"`
	Peers []TunnelPeer `json:"peers"`
	Force bool         `json:"force,omitempty"` // an undo: every line tried
}

func (a TunnelUnroute) Kind() string   { return "tunnel_unroute" }
func (a TunnelUnroute) Argv() []string { return batchArgv("ip", a.Force) }
func (a TunnelUnroute) Lines() []string {
	var out []string
	for _, p := range a.Peers {
		if a.Force {
			// Exact: nothing but the peer's own route and neighbour, and
			// nothing to say when they are gone already.
			out = append(out, fmt.Sprintf("route flush exact %s via %s dev %s", p.Subnet, p.end(), a.Dev),
				fmt.Sprintf("neigh flush to %s dev %s nud permanent", p.end(), a.Dev))
			continue
		}
		out = append(out, fmt.Sprintf("route del %s via %s dev %s", p.Subnet, p.end(), a.Dev),
			fmt.Sprintf("neigh del %s dev %s", p.end(), a.Dev))
	}
	return out
}
func (a TunnelUnroute) Stdin() []byte { return fed(a.Lines()) }
func (a TunnelUnroute) Why() string {
	return fmt.Sprintf("remove the routes and tunnel ends of %s gone from %s", peers(len(a.Peers)), a.Dev)
}
func (a TunnelUnroute) Undo() Action { return TunnelRoute{Dev: a.Dev, Peers: a.Peers, Force: true} }

// Gone: as an undo, every line that failed found its entry gone already.
func (a TunnelUnroute) Gone(stderr string) bool {
	return onlyFailures(stderr, "No such process", "No such file or directory", "Cannot find device")
}

// TunnelRoute adds peers' permanent neighbours and routes on Dev (`ip
// -batch -`), each route after its neighbour, as flannel orders them: the
// kernel would resolve a gateway it does not know yet.
type TunnelRoute struct {
	Dev   IfName       `json:"dev"`
	Peers []TunnelPeer `json:"peers"`
	Force bool         `json:"force,omitempty"`
}

func (a TunnelRoute) Kind() string   { return "tunnel_route" }
func (a TunnelRoute) Argv() []string { return batchArgv("ip", a.Force) }
func (a TunnelRoute) Lines() []string {
	add := "add"
	if a.Force {
		add = "replace"
	}
	var out []string
	for _, p := range a.Peers {
		out = append(out, fmt.Sprintf("neigh %s %s lladdr %s dev %s nud permanent", add, p.end(), p.mac(), a.Dev),
			fmt.Sprintf("route %s %s via %s dev %s onlink", add, p.Subnet, p.end(), a.Dev))
	}
	return out
}
func (a TunnelRoute) Stdin() []byte { return fed(a.Lines()) }
func (a TunnelRoute) Why() string {
	return fmt.Sprintf("route the subnets of %s through %s to their tunnel ends, whose MACs it is told for good", peers(len(a.Peers)), a.Dev)
}
func (a TunnelRoute) Undo() Action { return TunnelUnroute{Dev: a.Dev, Peers: a.Peers, Force: true} }

// Gone: as an undo its lines replace, and fail only for a device gone.
func (a TunnelRoute) Gone(stderr string) bool { return onlyFailures(stderr, "Cannot find device") }

// TunnelFdb changes Dev's forwarding entries (`bridge -batch -`): the
// peers gone's deleted, the moved ones' replaced (`append` would leave a
// unicast entry as it is), the new ones' added.
type TunnelFdb struct {
	Dev   IfName       `json:"dev"`
	Del   []TunnelPeer `json:"del,omitempty"`
	Move  []TunnelPeer `json:"move,omitempty"`
	Add   []TunnelPeer `json:"add,omitempty"`
	Force bool         `json:"force,omitempty"`
}

func (a TunnelFdb) Kind() string   { return "tunnel_fdb" }
func (a TunnelFdb) Argv() []string { return batchArgv("bridge", a.Force) }
func (a TunnelFdb) Lines() []string {
	var out []string
	for _, p := range a.Del {
		out = append(out, fmt.Sprintf("fdb del %s dev %s dst %s", p.mac(), a.Dev, p.IP))
	}
	for _, p := range a.Move {
		out = append(out, fmt.Sprintf("fdb replace %s dev %s dst %s", p.mac(), a.Dev, p.IP))
	}
	add := "add"
	if a.Force {
		add = "replace"
	}
	for _, p := range a.Add {
		out = append(out, fmt.Sprintf("fdb %s %s dev %s dst %s", add, p.mac(), a.Dev, p.IP))
	}
	return out
}
func (a TunnelFdb) Stdin() []byte { return fed(a.Lines()) }
func (a TunnelFdb) Why() string {
	var parts []string
	for _, c := range []struct {
		n    int
		what string
	}{{len(a.Del), "removed"}, {len(a.Move), "moved"}, {len(a.Add), "added"}} {
		if c.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c.n, c.what))
		}
	}
	return fmt.Sprintf("send %s's frames for %s to their nodes (forwarding entries %s)", a.Dev, peers(len(a.Del)+len(a.Move)+len(a.Add)), strings.Join(parts, ", "))
}

// Undo: the new entries deleted, the moved ones moved back, the removed
// ones added again.
func (a TunnelFdb) Undo() Action {
	back := make([]TunnelPeer, len(a.Move))
	for i, p := range a.Move {
		back[i] = TunnelPeer{Subnet: p.Subnet, IP: p.From, From: p.IP}
	}
	return TunnelFdb{Dev: a.Dev, Del: a.Add, Move: back, Add: a.Del, Force: true}
}

// Gone: as an undo, every line that failed found its entry gone (a del)
// or there (an add) already.
func (a TunnelFdb) Gone(stderr string) bool {
	return onlyFailures(stderr, "No such file or directory", "Cannot find device")
}

// onlyFailures reports whether every failure a batch run with -force
// reports ("RTNETLINK answers: ...", "Error: ...") is one of ok, and it
// reports at least one.
func onlyFailures(stderr string, ok ...string) bool {
	seen := false
	for _, l := range strings.Split(stderr, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "Command failed") || strings.HasPrefix("Command failed", l) {
			continue // the last may be cut, as below
		}
		seen = true
		known := false
		for _, o := range ok {
			// The last line may be cut where plumb stops keeping
			// stderr (64 KiB): a start of a known one is known.
			if strings.Contains(l, o) || strings.HasPrefix("RTNETLINK answers: "+o, l) {
				known = true
			}
		}
		if !known {
			return false
		}
	}
	return seen
}

// peers is n peers, in words.
func peers(n int) string {
	if n == 1 {
		return "1 peer"
	}
	return fmt.Sprintf("%d peers", n)
}

// UndoFirst: a batch may stop half-way, and its undo, every line of which
// is safe where its work is done already, is to run then too: a runbook
// pushes it before the batch runs, not after.
func (TunnelUnroute) UndoFirst() bool { return true }
func (TunnelRoute) UndoFirst() bool   { return true }
func (TunnelFdb) UndoFirst() bool     { return true }
