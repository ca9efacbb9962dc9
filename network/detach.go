package network

import (
	"fmt"
	"net/netip"

	"plumb/actions"
	"plumb/plan"
)

// FindDetachments finds the attachments `bridge detach` undoes: one for
// each container, then each address, on the bridge, which must be plumb's.
// A container plumb runs is refused (stop removes it with its network), as
// is an attachment named twice. The records are the index's: load one whole
// before undoing it.
func FindDetachments(st *plan.Store, bridge string, targets []actions.Netns, ips []netip.Addr) ([]*plan.Record, error) {
	if _, err := LoadBridge(st, bridge); err != nil {
		return nil, err
	}
	var found []*plan.Record
	seen := map[string]bool{}
	add := func(t actions.Netns, ip netip.Addr) error {
		rec, err := FindAttachment(st, bridge, t, ip)
		if err != nil {
			return err
		}
		if !rec.Is(plan.AttachmentKind) { // a container plumb runs
			return &plan.Refused{Msg: fmt.Sprintf("%s is a container plumb runs on %s: `plumb stop %s` removes it with its network", rec.ID(), bridge, rec.Name)}
		}
		if seen[rec.ID()] {
			f, err := rec.AttachmentFacts()
			if err != nil {
				return err
			}
			return &plan.Refused{Msg: fmt.Sprintf("%s (%s) is given twice", rec.ID(), f.Target)}
		}
		seen[rec.ID()] = true
		found = append(found, rec)
		return nil
	}
	for _, t := range targets {
		if err := add(t, netip.Addr{}); err != nil {
			return nil, err
		}
	}
	for _, ip := range ips {
		if err := add(actions.Netns{}, ip); err != nil {
			return nil, err
		}
	}
	return found, nil
}
