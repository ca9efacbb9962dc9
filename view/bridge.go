package view

import (
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"

	"plumb/plan"
)

// AttachmentRow is a container's place on a bridge, as `plumb bridge ls`
// lists it under its bridge.
type AttachmentRow struct {
	IP       string   `json:"ip"`
	IP6      string   `json:"ip6,omitempty"` // a dual-stack network's IPv6 address
	HostVeth string   `json:"host_veth"`
	If       string   `json:"if"`
	Target   string   `json:"target"`
	Ports    []string `json:"ports"`
	State    string   `json:"state"`
}

// BridgeRow is one bridge as `plumb bridge ls` lists it.
type BridgeRow struct {
	Name        string          `json:"name"`
	Subnet      string          `json:"subnet"`
	Gateway     string          `json:"gateway"`
	Subnet6     string          `json:"subnet6,omitempty"` // a dual-stack network's IPv6 side
	Gateway6    string          `json:"gateway6,omitempty"`
	NAT         bool            `json:"nat"`
	Internal    bool            `json:"internal,omitempty"` // forwards nothing in or out
	Isolated    bool            `json:"isolated,omitempty"` // forwards nothing to other isolated networks
	State       string          `json:"state"`
	Attachments []AttachmentRow `json:"attachments"`
}

// Bridges lists each bridge of st with its subnet, gateway and
// containers, from the journals' headers (see Ps), read once for the
// bridges and their attachments alike. Journals that cannot be read, and
// bridges whose facts cannot, are named in the table's Err.
func Bridges(st *plan.Store) (Table[BridgeRow], error) {
	recs, errs, err := headers(st)
	if err != nil {
		return Table[BridgeRow]{}, err
	}
	t, bad := bridgeRows(recs)
	t.Err = Unreadable(append(errs, bad...))
	return t, nil
}

// bridgeRows is the bridge table of recs, and the bridges whose facts
// cannot be read (not listed).
func bridgeRows(recs []*plan.Record) (Table[BridgeRow], []error) {
	// Each journal's attachment read once, grouped by bridge, in address
	// order (as plan.Attachments gives them): asking plan.Attachments for
	// each bridge read every journal's facts again per bridge.
	type attached struct {
		ip  netip.Addr
		f   plan.AttachmentFacts
		rec *plan.Record
	}
	byBridge := map[string][]attached{}
	for _, r := range recs {
		if f, ok := r.Attachment(); ok && f.Bridge != "" {
			byBridge[f.Bridge] = append(byBridge[f.Bridge], attached{f.IP, f, r})
		}
	}
	t := Table[BridgeRow]{key: "bridges", header: "BRIDGE\tSUBNET\tGATEWAY\tNAT\tSTATE\tCONTAINERS", row: writeBridge}
	var errs []error
	for _, r := range recs {
		if !r.Is(plan.BridgeKind) {
			continue
		}
		f, err := r.BridgeFacts()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		b := BridgeRow{Name: r.Name, Subnet: f.Subnet.String(), Gateway: f.Gateway.String(), NAT: f.NAT, Internal: f.Internal, Isolated: f.Isolate,
			State: string(r.State), Attachments: []AttachmentRow{}}
		if f.Subnet6.IsValid() {
			b.Subnet6, b.Gateway6 = f.Subnet6.String(), f.Gateway6.String()
		}
		as := byBridge[r.Name]
		slices.SortStableFunc(as, func(a, b attached) int { return a.ip.Compare(b.ip) })
		for _, at := range as {
			a, af := at.rec, at.f
			ports := []string{}
			for _, p := range af.Ports {
				ports = append(ports, p.String())
			}
			la := AttachmentRow{IP: af.IP.String(), HostVeth: af.HostVeth.String(), If: af.If.String(), Target: af.Target, Ports: ports, State: string(a.State)}
			if af.IP6.IsValid() {
				la.IP6 = af.IP6.String()
			}
			b.Attachments = append(b.Attachments, la)
		}
		t.Rows = append(t.Rows, b)
	}
	return t, errs
}

// writeBridge is a bridge's row, then one indented row per container.
func writeBridge(w io.Writer, b BridgeRow) {
	subnet, gw := b.Subnet, b.Gateway
	if b.Subnet6 != "" {
		subnet, gw = subnet+","+b.Subnet6, gw+","+b.Gateway6
	}
	nat := yesNo(b.NAT)
	switch {
	case b.Internal:
		nat = "internal"
	case b.Isolated:
		nat += ", isolated"
	}
	fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\n", b.Name, subnet, gw, nat, b.State, len(b.Attachments))
	for _, a := range b.Attachments {
		ip := a.IP
		if a.IP6 != "" {
			ip += "," + a.IP6
		}
		fmt.Fprintf(w, "  %s\t%s\t%s\t%s\t%s\t%s\n", ip, a.HostVeth, a.Target, a.If, a.State, strings.Join(a.Ports, " "))
	}
}
