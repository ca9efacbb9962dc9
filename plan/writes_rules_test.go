package plan

import (
	"net/netip"
	"testing"

	"plumb/actions"
)

// TestWritesRules: only firewall tools' steps count as rules written (for
// the warnings about other firewalls); ip and bridge steps, a mesh's
// forwarding entries among them, do not.
func TestWritesRules(t *testing.T) {
	peer := netip.MustParseAddr("192.168.77.2")
	for _, tt := range []struct {
		a      actions.Action
		writes bool
	}{
		{actions.LinkDel{Name: "m1"}, false},
		{actions.FdbAdd{MAC: "02:50:0a:f4:02:00", Dev: "m1", Dst: peer}, false},
		{actions.FdbReplace{MAC: "02:50:0a:f4:02:00", Dev: "m1", Dst: peer, From: peer}, false},
		{actions.IptablesAppend{Rule: actions.Rule{Table: actions.Filter, Chain: "FORWARD", Spec: []string{"-i", "m1", "-o", "cni0", "-j", "ACCEPT"}}}, true},
		{actions.IptablesNewChain{Table: actions.NAT, Chain: "PLUMB-cni0", IPv6: true}, true},
		{actions.NftApply{Input: []string{"add element ip plumb-br0 ports { tcp . 8080 : 10.88.0.2 . 80 }"}}, true},
	} {
		writes, _ := writesRules([]*Plan{{Kind: "test", Steps: []Step{{Action: tt.a}}}})
		if writes != tt.writes {
			t.Errorf("%s: writes rules %v, want %v", actions.Quote(tt.a.Argv()), writes, tt.writes)
		}
	}
}
