package actions

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// NeighAdd tells a link the MAC address of a neighbour for good (nud
// permanent): on a mesh, the peer's tunnel end, whose address is the
// peer's subnet's first. The device learns nothing by itself, and an ARP
// request would have no peer to go to. add, not replace: an entry that is
// there already is someone else's.
type NeighAdd struct {
	IP  netip.Addr `json:"ip"`
	MAC string     `json:"mac"`
	Dev IfName     `json:"dev"`
}

func (a NeighAdd) Kind() string   { return "neigh_add" }
func (a NeighAdd) Argv() []string { return ipArgv(Netns{}, a.args()...) }
func (a NeighAdd) args() []string {
	return []string{"neigh", "add", a.IP.String(), "lladdr", a.MAC, "dev", a.Dev.String(), "nud", "permanent"}
}
func (a NeighAdd) Batch() (Batch, string, bool) { return ipBatch(Netns{}, a.args()) }
func (a NeighAdd) Why() string {
	return fmt.Sprintf("tell %s that %s, a peer's tunnel end, is at %s, for good (no ARP over the tunnel)", a.Dev, a.IP, a.MAC)
}
func (a NeighAdd) Undo() Action { return NeighDel{IP: a.IP, Dev: a.Dev} }

// Clash: an entry for the address is there already, whatever its MAC.
func (a NeighAdd) Clash(stderr string) bool { return fileExists(stderr) }

// Gone: run as the restore of an update's NeighDel that may never have
// run (killed after the journal said started), the entry is there
// already.
func (a NeighAdd) Gone(stderr string) bool { return fileExists(stderr) }

// Verify: the link has a permanent entry for the address, with the MAC
// (`ip -j neigh show IP dev DEV`: the one address, not the whole table).
func (a NeighAdd) Verify(ctx context.Context, r Runner) error {
	out, err := r.Run(ctx, ipArgv(Netns{}, "-j", "neigh", "show", a.IP.String(), "dev", a.Dev.String()), nil)
	if err != nil {
		return fmt.Errorf("link %s is missing on the host", a.Dev)
	}
	var entries []struct {
		Dst    string   `json:"dst"`
		MAC    string   `json:"lladdr"`
		States []string `json:"state"`
	}
	if err := json.Unmarshal(out, &entries); err != nil {
		return fmt.Errorf("link %s: unreadable `ip -j neigh show` output", a.Dev)
	}
	for _, e := range entries {
		if d, err := netip.ParseAddr(e.Dst); err != nil || d != a.IP {
			continue
		}
		switch {
		case !strings.EqualFold(e.MAC, a.MAC):
			return fmt.Errorf("%s's neighbour %s is at %s, not %s", a.Dev, a.IP, orNone(e.MAC), a.MAC)
		case !slices.Contains(e.States, "PERMANENT"):
			return fmt.Errorf("%s's neighbour %s is %s, not PERMANENT", a.Dev, a.IP, orNone(strings.Join(e.States, ",")))
		}
		return nil
	}
	return fmt.Errorf("%s has no neighbour entry for %s (at %s)", a.Dev, a.IP, a.MAC)
}

// NeighDel deletes a neighbour entry: a peer that left the mesh.
type NeighDel struct {
	IP  netip.Addr `json:"ip"`
	Dev IfName     `json:"dev"`
}

func (a NeighDel) Kind() string   { return "neigh_del" }
func (a NeighDel) Argv() []string { return ipArgv(Netns{}, a.args()...) }
func (a NeighDel) args() []string {
	return []string{"neigh", "del", a.IP.String(), "dev", a.Dev.String()}
}
func (a NeighDel) Batch() (Batch, string, bool) { return ipBatch(Netns{}, a.args()) }
func (a NeighDel) Why() string {
	return fmt.Sprintf("forget %s's neighbour %s", a.Dev, a.IP)
}
func (a NeighDel) Undo() Action { return nil }
func (a NeighDel) UndoNote() string {
	return "an update that deletes it adds it back (ip neigh add) if it is rolled back"
}

// Gone: the entry, or the whole link with its entries, is gone.
func (a NeighDel) Gone(stderr string) bool {
	return strings.Contains(stderr, "No such file or directory") || strings.Contains(stderr, "Cannot find device")
}
