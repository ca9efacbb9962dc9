package network

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"plumb/plan"
	"plumb/plan/ipam"
)

// Allocation is a stage of its own, between taking the locks and planning:
// it gives out the addresses a recipe's objects need, reserving them in
// the network's AddrStore when the plan is to be applied, so that Plan
// itself only reads (the addresses are its input, as the rest of the
// recipe's is).

// Allocate reads the bridge and gives out each attachment's addresses, in
// order.
func (c *AttachCall) Allocate(ctx context.Context, env plan.Env, reserve bool) (func(), error) {
	net, err := c.network(env.St)
	if err != nil {
		return nil, err
	}
	return AllocateAll(ctx, env.St, net, plan.AttachmentKind.Name(), "", c.List, reserve)
}

// AllocateAll checks and gives out the addresses of attachments to net,
// kept as objects of kind (named owner, or by their ID or
// address when owner is ""), made in one call: each its own. With
// reserve, each is reserved for its object under the network's allocation
// lock, and the object's lock is held (an attachment named after its
// address is locked once its address is known, by trying: the allocation
// lock comes after it in the lock order).
func AllocateAll(ctx context.Context, st *plan.Store, net Network, kind, owner string, as []*Attach, reserve bool) (func(), error) {
	if len(as) == 0 {
		return func() {}, nil
	}
	store := net.Addrs(st)
	var owners []string
	free := func() {
		for _, id := range owners {
			k, n, _ := strings.Cut(id, "/")
			if _, err := os.Lstat(st.Journal(k, n)); errors.Is(err, fs.ErrNotExist) {
				_ = store.ReleaseByID(id, "")
			}
		}
	}
	if reserve {
		if err := store.Lock(ctx); err != nil {
			return nil, err
		}
		defer store.Unlock()
	}
	inCall := map[netip.Addr]string{}
	for _, a := range as {
		if err := a.checkRecords(st, net); err != nil {
			free()
			return nil, err
		}
		asked, asked6 := a.IP, a.IP6
		for try := 0; ; try++ {
			a.IP, a.IP6 = asked, asked6
			if err := a.allocate(st, net, inCall); err != nil {
				free()
				return nil, err
			}
			if !reserve {
				break
			}
			name := owner
			if name == "" {
				name = a.id(net).Object
			}
			id, ok, err := reserveOne(ctx, st, store, kind, name, a)
			if err != nil {
				free()
				return nil, err
			}
			if ok {
				owners = append(owners, id)
				break
			}
			// Another plumb holds the address's name, or the address:
			// it is not free, whatever the index said.
			if asked.IsValid() || asked6.IsValid() || try == 16 {
				free()
				return nil, plan.Refuse("ip", "%s is being given out by another plumb process; try again", a.IP)
			}
			for _, ip := range []netip.Addr{a.IP, a.IP6} {
				if ip.IsValid() {
					inCall[ip] = "another plumb process"
				}
			}
		}
		for _, ip := range []netip.Addr{a.IP, a.IP6} {
			if ip.IsValid() {
				inCall[ip] = a.Target.Label() + " (in this call)"
			}
		}
	}
	return free, nil
}

// reserveOne locks a's object, kind/name, and reserves its addresses for
// it in store; false, with no address held, when another process holds
// either.
func reserveOne(ctx context.Context, st *plan.Store, store plan.AddrStore, kind, name string, a *Attach) (id string, ok bool, err error) {
	id = kind + "/" + name
	obj := plan.ObjectLock(kind, name)
	if _, held := st.Holding(obj); !held {
		if ok, err := st.TryLock(ctx, obj); err != nil || !ok {
			return id, false, err
		}
	}
	for _, ip := range []netip.Addr{a.IP, a.IP6} {
		if !ip.IsValid() {
			continue
		}
		ok, err := store.Reserve(id, a.If.String(), ip, ipam.FamilyOf(ip).String())
		if err != nil || !ok {
			_ = store.ReleaseByID(id, a.If.String())
			return id, false, err
		}
	}
	return id, true, nil
}

// planAll plans attachments to net whose addresses were given out.
func planAll(net Network, as []*Attach) ([]*plan.Plan, error) {
	var plans []*plan.Plan
	for _, a := range as {
		if !a.IP.IsValid() {
			return nil, fmt.Errorf("planning the attachment of %s before its address was given out", a.Target.Label())
		}
		p, err := a.plan(net)
		if err != nil {
			return nil, err
		}
		plans = append(plans, p)
	}
	return plans, nil
}

// attachAll gives out the addresses of attachments to the first one's
// Network, without reserving them, and plans each.
func attachAll(st *plan.Store, as []*Attach) ([]*plan.Plan, error) {
	if len(as) == 0 {
		return nil, nil
	}
	net := as[0].Network
	if _, err := AllocateAll(context.Background(), st, net, plan.AttachmentKind.Name(), "", as, false); err != nil {
		return nil, err
	}
	return planAll(net, as)
}

// Allocate picks the address: the one asked for, checked, or the next free
// one of the subnet (never the network, broadcast or gateway address, never
// one plumb gave another container). It reserves nothing: concurrent
// attaches reserve theirs under the network's allocation lock (see
// reserveAll).
func (a *Attach) Allocate(st *plan.Store) error { return a.allocate(st, a.Network, nil) }

// allocate is Allocate on net with the addresses this call gave out
// already.
func (a *Attach) allocate(st *plan.Store, net Network, reserved map[netip.Addr]string) error {
	if err := st.BuildIndex(); err != nil {
		return err
	}
	if err := a.sortFamilies(net); err != nil {
		return err
	}
	first, second := firstFamilies(net)
	subnet := first.Subnet
	bridge := net.Ref().Name
	used, indexed := st.BridgeAddrs(bridge)
	if !indexed {
		// Journals are read; addresses reserved by plumb processes that
		// have not written theirs yet are in the index's entries.
		pending := st.AddrEntries(bridge)
		if bad := plan.UnreadableMembers(st, nil); len(bad) > 0 {
			// Its address or host port may be one of those: never give it out twice.
			return &plan.Refused{Msg: fmt.Sprintf("no address is given out on %s while %s; fix or remove it, then run this again", bridge, strings.Join(bad, "; "))}
		}
		used = pending
		for _, r := range plan.Attachments(st, bridge) {
			if f, ok := r.Attachment(); ok {
				for _, ip := range f.IPs() {
					used[ip] = r.ID()
				}
			}
		}
	} else {
		for _, ip := range []netip.Addr{a.IP, a.IP6} {
			if !ip.IsValid() {
				continue
			}
			entry := filepath.Join(st.BridgeIndex(bridge), "ip-"+ip.String())
			if r, ok := st.Holder(entry, plan.HasAddr(bridge, ip)); ok {
				used[ip] = r.ID()
			} else if _, still := st.Entry(entry); !still {
				delete(used, ip) // a stale entry, dropped: the address is free
			}
		}
	}
	mark := func(used map[netip.Addr]string) {
		for _, n := range net.Families() {
			used[n.Gateway] = "the gateway"
		}
		for ip, by := range reserved {
			used[ip] = by
		}
		for ip := range a.Taken {
			used[ip] = "an earlier container of this plan"
		}
	}
	mark(used)
	taken := func(ip netip.Addr) bool { by, taken := used[ip]; return taken && !slices.Contains(a.Replaces, by) }
	// next is the next free address of a subnet's range; before saying it
	// is full, entries a crash left (holding addresses no object has) go,
	// and the range is looked at again.
	next := func(subnet netip.Prefix, r ipam.Range) (netip.Addr, error) {
		ip, err := ipam.NextIn(subnet, r, taken)
		if err != nil && indexed {
			st.SweepAddrs(bridge)
			if again, ok := st.BridgeAddrs(bridge); ok {
				mark(again)
				used = again
				ip, err = ipam.NextIn(subnet, r, taken)
			}
		}
		if err != nil {
			return ip, full(bridge, subnet, r)
		}
		return ip, nil
	}
	if a.IP.IsValid() {
		if err := checkHost("ip", a.IP, subnet); err != nil {
			return err
		}
		if by := used[a.IP]; taken(a.IP) {
			return plan.Refuse("ip", "%s is taken by %s", a.IP, by)
		}
	} else {
		ip, err := next(subnet, a.Range)
		if err != nil {
			return err
		}
		a.IP = ip
	}
	subnet6 := second.Subnet
	switch {
	case !subnet6.IsValid():
	case a.IP6.IsValid():
		if err := checkHost("ip", a.IP6, subnet6); err != nil {
			return err
		}
		if by := used[a.IP6]; taken(a.IP6) {
			return plan.Refuse("ip", "%s is taken by %s", a.IP6, by)
		}
	default:
		// The same host part as the IPv4 address, so that the two read
		// alike (10.88.0.5, fd00:88::5), where that one is free.
		if ip, ok := ipam.SameHost(a.IP, subnet, subnet6); ok && !taken(ip) && a.Range6.Contains(ip) {
			a.IP6 = ip
			break
		}
		ip, err := next(subnet6, a.Range6)
		if err != nil {
			return err
		}
		a.IP6 = ip
	}
	return nil
}

// full is the refusal of a subnet or range of network with no free address.
func full(network string, subnet netip.Prefix, r ipam.Range) error {
	if r != (ipam.Range{}) {
		return plan.Refuse("ip", "the range %s-%s of %s is full: every address is in use", r.Start, r.End, network)
	}
	return plan.Refuse("ip", "the subnet %s of %s is full: every address is in use", subnet, network)
}

// sortFamilies puts the addresses asked for where the network has their
// family: IP its first family's, IP6 a dual-stack network's IPv6. An
// address of a family the network lacks is refused.
func (a *Attach) sortFamilies(net Network) error {
	firstFam, secondFam := firstFamilies(net)
	first := ipam.FamilyOf(firstFam.Subnet.Addr())
	dual := secondFam.Subnet.IsValid()
	var want []netip.Addr
	for _, ip := range []netip.Addr{a.IP, a.IP6} {
		if ip.IsValid() {
			want = append(want, ip)
		}
	}
	a.IP, a.IP6 = netip.Addr{}, netip.Addr{}
	for _, ip := range want {
		fam := ipam.FamilyOf(ip)
		switch {
		case fam == first && !a.IP.IsValid():
			a.IP = ip
		case fam == ipam.V6 && dual && !a.IP6.IsValid():
			a.IP6 = ip
		case fam == first || fam == ipam.V6 && dual:
			return plan.Refuse("ip", "give at most one address of each family")
		default:
			return plan.Refuse("ip", "%s is an %s address and %s has no %s subnet (its subnet is %s)", ip, fam, net.Ref().Name, fam, firstFam.Subnet)
		}
	}
	return nil
}
