package actions

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
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

// TunnelPeers are a batch's peers, kept as a JSON array of their text.
type TunnelPeers []TunnelPeer

// MarshalJSON is the array of each peer's MarshalText, written at once:
// a sync of a thousand peers journals four such arrays.
func (ps TunnelPeers) MarshalJSON() ([]byte, error) {
	if ps == nil {
		return []byte("null"), nil
	}
	b := make([]byte, 0, 2+44*len(ps))
	b = append(b, '[')
	for i, p := range ps {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		from := len(b)
		b = p.appendText(b)
		// Addresses and prefixes need no escaping, but an IPv6 zone of
		// a journal written by hand might: encoding/json escapes it.
		if slices.ContainsFunc(b[from:], func(c byte) bool { return c < 0x20 || c == '"' || c == '\\' }) {
			return json.Marshal([]TunnelPeer(ps))
		}
		b = append(b, '"')
	}
	return append(b, ']'), nil
}

// MarshalText is "SUBNET IP [FROM]": a thousand peers in 40 kB.
func (p TunnelPeer) MarshalText() ([]byte, error) { return p.appendText(make([]byte, 0, 40)), nil }

func (p TunnelPeer) appendText(b []byte) []byte {
	b = append(p.Subnet.AppendTo(b), ' ')
	b = p.IP.AppendTo(b)
	if p.From.IsValid() {
		b = p.From.AppendTo(append(b, ' '))
	}
	return b
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

// batchArgv is tool's batch command, -force to go on past a failed line.
func batchArgv(tool string, force bool) []string {
	if force {
		return []string{tool, "-force", "-batch", "-"}
	}
	return []string{tool, "-batch", "-"}
}

// line appends a batch's line of parts (strings, device names, addresses,
// prefixes, MACs) to b, without fmt: a sync of a thousand peers writes
// three thousand lines, and Sprintf was a tenth of its time.
func line(b []byte, parts ...any) []byte {
	for _, x := range parts {
		switch v := x.(type) {
		case string:
			b = append(b, v...)
		case IfName:
			b = append(b, v...)
		case netip.Addr:
			b = v.AppendTo(b)
		case netip.Prefix:
			b = v.AppendTo(b)
		case macAddr:
			b = ipam.AppendMAC(b, netip.Addr(v))
		default:
			panic(fmt.Sprintf("a batch line of a %T", x))
		}
	}
	return append(b, '\n')
}

// macAddr stands for the MAC of a tunnel end in a line.
type macAddr netip.Addr

// mac is the MAC of the tunnel end of subnet, for line.
func mac(subnet netip.Prefix) macAddr { return macAddr(ipam.TunnelEnd(subnet)) }

// lines are a batch's input as its lines.
func lines(stdin []byte) []string {
	return strings.Split(strings.TrimSuffix(string(stdin), "\n"), "\n")
}

// TunnelUnroute deletes peers' routes and neighbours on Dev (`ip -batch -`).
type TunnelUnroute struct {
	Dev   IfName      `json:"dev"`
	Peers TunnelPeers `json:"peers"`
	Force bool        `json:"force,omitempty"` // an undo: every line tried
}

func (a TunnelUnroute) Kind() string    { return "tunnel_unroute" }
func (a TunnelUnroute) Argv() []string  { return batchArgv("ip", a.Force) }
func (a TunnelUnroute) Lines() []string { return lines(a.Stdin()) }
func (a TunnelUnroute) Stdin() []byte {
	var b []byte
	for _, p := range a.Peers {
		end := ipam.TunnelEnd(p.Subnet)
		if a.Force {
			// Exact: nothing but the peer's own route and neighbour, and
			// nothing to say when they are gone already.
			b = line(b, "route flush exact ", p.Subnet, " via ", end, " dev ", a.Dev)
			b = line(b, "neigh flush to ", end, " dev ", a.Dev, " nud permanent")
			continue
		}
		b = line(b, "route del ", p.Subnet, " via ", end, " dev ", a.Dev)
		b = line(b, "neigh del ", end, " dev ", a.Dev)
	}
	return b
}
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
	Dev   IfName      `json:"dev"`
	Peers TunnelPeers `json:"peers"`
	Force bool        `json:"force,omitempty"`
}

func (a TunnelRoute) Kind() string    { return "tunnel_route" }
func (a TunnelRoute) Argv() []string  { return batchArgv("ip", a.Force) }
func (a TunnelRoute) Lines() []string { return lines(a.Stdin()) }
func (a TunnelRoute) Stdin() []byte {
	add := "add "
	if a.Force {
		add = "replace "
	}
	var b []byte
	for _, p := range a.Peers {
		end := ipam.TunnelEnd(p.Subnet)
		b = line(b, "neigh ", add, end, " lladdr ", mac(p.Subnet), " dev ", a.Dev, " nud permanent")
		b = line(b, "route ", add, p.Subnet, " via ", end, " dev ", a.Dev, " onlink")
	}
	return b
}
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
	Dev   IfName      `json:"dev"`
	Del   TunnelPeers `json:"del,omitempty"`
	Move  TunnelPeers `json:"move,omitempty"`
	Add   TunnelPeers `json:"add,omitempty"`
	Force bool        `json:"force,omitempty"`
}

func (a TunnelFdb) Kind() string    { return "tunnel_fdb" }
func (a TunnelFdb) Argv() []string  { return batchArgv("bridge", a.Force) }
func (a TunnelFdb) Lines() []string { return lines(a.Stdin()) }
func (a TunnelFdb) Stdin() []byte {
	var b []byte
	for _, p := range a.Del {
		b = line(b, "fdb del ", mac(p.Subnet), " dev ", a.Dev, " dst ", p.IP)
	}
	for _, p := range a.Move {
		b = line(b, "fdb replace ", mac(p.Subnet), " dev ", a.Dev, " dst ", p.IP)
	}
	add := "fdb add "
	if a.Force {
		add = "fdb replace "
	}
	for _, p := range a.Add {
		b = line(b, add, mac(p.Subnet), " dev ", a.Dev, " dst ", p.IP)
	}
	return b
}
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
	back := make(TunnelPeers, len(a.Move))
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
