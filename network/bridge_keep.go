package network

import (
	"errors"
	"io/fs"

	"plumb/plan"
	"plumb/plan/firewall"
)

// BridgeKeep names the settings of a bridge asked for again (Change) that
// were not given, and that the bridge already up keeps: running `bridge
// up` again as first written must not lower an MTU raised since, nor turn
// NAT back on. A new bridge takes their defaults.
type BridgeKeep struct {
	MTU      bool // no --mtu
	NAT      bool // neither --no-nat nor --no-nat=false
	NAT6     bool // no --ipv6-nat
	Firewall bool // the back end (--firewall is for new objects)
}

// Existing is the bridge asked for, with the settings Keep names taken
// from the bridge already up (nil when there is none, or nothing to keep).
func (b *Bridge) Existing(env plan.Env) (plan.Recipe, error) {
	if !b.Change || b.Keep == (BridgeKeep{}) {
		return nil, nil
	}
	rec, err := env.St.LoadHeader(plan.BridgeKind.Name(), b.Name.String())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	old, err := rec.BridgeSpec()
	if err != nil {
		return nil, nil // Update refuses it, saying why
	}
	c := *b
	c.Keep = BridgeKeep{}
	if b.Keep.MTU {
		c.MTU = old.MTU
	}
	if b.Keep.NAT {
		c.NoNAT = old.NoNAT
	}
	if b.Keep.NAT6 {
		// IPv6 NAT is kept while there is an IPv6 subnet to masquerade.
		c.NAT6 = old.NAT6 && c.Subnet6.IsValid()
	}
	if b.Keep.Firewall {
		if c.Firewall, err = firewall.ByName(old.Firewall); err != nil {
			return nil, err
		}
	}
	return &c, nil
}
