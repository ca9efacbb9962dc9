package actions

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
)

// FdbAdd tells a VXLAN device which node holds a MAC address: frames for
// it go in UDP to Dst. A mesh writes one per peer, for the peer's tunnel
// end, since its device learns nothing by itself (nolearning). add, not
// append: append on a MAC already there exits 0 and changes nothing, and
// add fails "File exists" on an entry that is someone else's.
type FdbAdd struct {
	MAC string     `json:"mac"`
	Dev IfName     `json:"dev"`
	Dst netip.Addr `json:"dst"`
}

func (a FdbAdd) Kind() string   { return "fdb_add" }
func (a FdbAdd) Argv() []string { return bridgeArgv(Netns{}, a.args()...) }
func (a FdbAdd) args() []string {
	return []string{"fdb", "add", a.MAC, "dev", a.Dev.String(), "dst", a.Dst.String()}
}
func (a FdbAdd) Batch() (Batch, string, bool) { return bridgeBatch(Netns{}, a.args()) }
func (a FdbAdd) Why() string {
	return fmt.Sprintf("send %s's frames for %s, a peer's tunnel end, to that peer at %s", a.Dev, a.MAC, a.Dst)
}
func (a FdbAdd) Undo() Action { return FdbDel(a) }

// Clash: an entry for the MAC is there already, whatever its dst.
func (a FdbAdd) Clash(stderr string) bool { return fileExists(stderr) }

// Gone: run as the restore of an update's FdbDel that may never have run
// (killed after the journal said started), the entry is there already.
func (a FdbAdd) Gone(stderr string) bool { return fileExists(stderr) }

// Verify: the device's forwarding database sends the MAC to Dst.
func (a FdbAdd) Verify(ctx context.Context, r Runner) error {
	return fdbTo(ctx, r, a.MAC, a.Dev, a.Dst)
}

// FdbDel deletes a forwarding entry: a peer that left the mesh. Beware
// that the kernel deletes nothing, and exits 0, when the MAC's entry has
// another dst: harmless as an undo, but no proof that the entry is gone.
type FdbDel struct {
	MAC string     `json:"mac"`
	Dev IfName     `json:"dev"`
	Dst netip.Addr `json:"dst"`
}

func (a FdbDel) Kind() string   { return "fdb_del" }
func (a FdbDel) Argv() []string { return bridgeArgv(Netns{}, a.args()...) }
func (a FdbDel) args() []string {
	return []string{"fdb", "del", a.MAC, "dev", a.Dev.String(), "dst", a.Dst.String()}
}
func (a FdbDel) Batch() (Batch, string, bool) { return bridgeBatch(Netns{}, a.args()) }
func (a FdbDel) Why() string {
	return fmt.Sprintf("stop sending %s's frames for %s to %s", a.Dev, a.MAC, a.Dst)
}
func (a FdbDel) Undo() Action { return nil }
func (a FdbDel) UndoNote() string {
	return "an update that deletes it adds it back (bridge fdb add) if it is rolled back"
}

// Gone: the entry, or the whole device with its entries, is gone.
func (a FdbDel) Gone(stderr string) bool {
	return strings.Contains(stderr, "No such file or directory") || strings.Contains(stderr, "Cannot find device")
}

// FdbReplace points a MAC's forwarding entry at another node: a peer that
// kept its subnet (so its MAC) and moved to another address. Replace
// makes the entry when there is none, so it is its own undo, From and Dst
// swapped: it puts back what was, whether or not it ran.
type FdbReplace struct {
	MAC  string     `json:"mac"`
	Dev  IfName     `json:"dev"`
	Dst  netip.Addr `json:"dst"`
	From netip.Addr `json:"from"`
}

func (a FdbReplace) Kind() string   { return "fdb_replace" }
func (a FdbReplace) Argv() []string { return bridgeArgv(Netns{}, a.args()...) }
func (a FdbReplace) args() []string {
	return []string{"fdb", "replace", a.MAC, "dev", a.Dev.String(), "dst", a.Dst.String()}
}
func (a FdbReplace) Batch() (Batch, string, bool) { return bridgeBatch(Netns{}, a.args()) }
func (a FdbReplace) Why() string {
	return fmt.Sprintf("send %s's frames for %s to %s, no longer to %s: that peer moved", a.Dev, a.MAC, a.Dst, a.From)
}
func (a FdbReplace) Undo() Action {
	return FdbReplace{MAC: a.MAC, Dev: a.Dev, Dst: a.From, From: a.Dst}
}

// Gone: the device is gone, with every entry it had.
func (a FdbReplace) Gone(stderr string) bool { return strings.Contains(stderr, "Cannot find device") }

// Verify: the device's forwarding database sends the MAC to Dst.
func (a FdbReplace) Verify(ctx context.Context, r Runner) error {
	return fdbTo(ctx, r, a.MAC, a.Dev, a.Dst)
}

// fdbTo checks that dev's forwarding database has an entry sending mac
// (in any case) to dst (`bridge -j fdb show dev DEV`).
func fdbTo(ctx context.Context, r Runner, mac string, dev IfName, dst netip.Addr) error {
	out, err := r.Run(ctx, bridgeArgv(Netns{}, "-j", "fdb", "show", "dev", dev.String()), nil)
	if err != nil {
		return fmt.Errorf("link %s is missing on the host", dev)
	}
	var entries []struct {
		MAC string `json:"mac"`
		Dst string `json:"dst"`
	}
	if err := json.Unmarshal(out, &entries); err != nil {
		return fmt.Errorf("link %s: unreadable `bridge -j fdb show` output", dev)
	}
	var others []string
	for _, e := range entries {
		if !strings.EqualFold(e.MAC, mac) {
			continue
		}
		if d, err := netip.ParseAddr(e.Dst); err == nil && d == dst {
			return nil
		}
		others = append(others, orNone(e.Dst))
	}
	if len(others) > 0 {
		return fmt.Errorf("%s's forwarding entry for %s sends to %s, not %s", dev, mac, strings.Join(others, ", "), dst)
	}
	return fmt.Errorf("%s has no forwarding entry for %s (to %s)", dev, mac, dst)
}
