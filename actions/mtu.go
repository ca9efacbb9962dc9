package actions

import (
	"context"
	"fmt"
	"strconv"
)

// LinkChangeMTU changes the MTU of a link that is already up: an update of
// an object plumb keeps, whose undo puts back the MTU the link had (From,
// read from the host when the change was planned). LinkSetMTU is the MTU of
// a link the same plan makes, which deleting the link undoes.
type LinkChangeMTU struct {
	Dev  IfName `json:"dev"`
	MTU  int    `json:"mtu"`
	From int    `json:"from"`
}

func (a LinkChangeMTU) Kind() string   { return "link_change_mtu" }
func (a LinkChangeMTU) Argv() []string { return ipArgv(Netns{}, a.args()...) }
func (a LinkChangeMTU) args() []string {
	return []string{"link", "set", a.Dev.String(), "mtu", strconv.Itoa(a.MTU)}
}
func (a LinkChangeMTU) Batch() (Batch, string, bool) { return ipBatch(Netns{}, a.args()) }
func (a LinkChangeMTU) Why() string {
	return fmt.Sprintf("change %s's MTU from %d to %d", a.Dev, a.From, a.MTU)
}
func (a LinkChangeMTU) Undo() Action { return LinkChangeMTU{Dev: a.Dev, MTU: a.From, From: a.MTU} }

// Gone: the link deleted since (by a later undo, or by hand) has no MTU to
// put back.
func (a LinkChangeMTU) Gone(stderr string) bool { return LinkDel{}.Gone(stderr) }

// Verify: the link has the MTU the change set.
func (a LinkChangeMTU) Verify(ctx context.Context, r Runner) error {
	return LinkSetMTU{Dev: a.Dev, MTU: a.MTU}.Verify(ctx, r)
}

// Supersedes reports whether a, applied after b, leaves nothing of b's
// effect to check: both set the MTU of the same link.
func (a LinkChangeMTU) Supersedes(b Action) bool {
	switch b := b.(type) {
	case LinkSetMTU:
		return b.Dev == a.Dev
	case LinkChangeMTU:
		return b.Dev == a.Dev
	}
	return false
}
