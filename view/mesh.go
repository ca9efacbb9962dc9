package view

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"plumb/plan"
	"plumb/plan/ipam"
)

// MeshRow is one mesh as `plumb mesh ls` lists it and `mesh inspect`
// shows it: this node's side, the bridges on it, and its peers.
type MeshRow struct {
	Name       string       `json:"Name"`
	State      string       `json:"State"`
	VNI        uint32       `json:"VNI"`
	Port       uint16       `json:"Port"`
	Cluster    netip.Prefix `json:"Cluster"`
	Subnet     netip.Prefix `json:"Subnet"`
	Local      netip.Addr   `json:"Local"`
	Underlay   string       `json:"Underlay"`
	MTU        int          `json:"MTU"`
	MAC        string       `json:"MAC"`
	Generation int          `json:"Generation"`
	Bridges    []string     `json:"Bridges"`
	Peers      []MeshPeer   `json:"Peers"`
}

// MeshPeer is another node of a mesh, with the entries that reach it.
type MeshPeer struct {
	Node   string       `json:"Node,omitempty"`
	IP     netip.Addr   `json:"IP"`
	Subnet netip.Prefix `json:"Subnet"`
	MAC    string       `json:"MAC"`
}

// Meshes lists st's meshes.
func Meshes(st *plan.Store) (Table[MeshRow], error) {
	recs, errs, err := headers(st)
	if err != nil {
		return Table[MeshRow]{}, err
	}
	t := Table[MeshRow]{Rows: []MeshRow{}, key: "meshes", header: "MESH\tSTATE\tVNI\tSUBNET\tCLUSTER\tLOCAL\tMTU\tPEERS\tBRIDGES", row: func(w io.Writer, m MeshRow) {
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%s (%s)\t%d\t%d\t%s\n", m.Name, m.State, m.VNI, m.Subnet, m.Cluster, m.Local, m.Underlay, m.MTU, len(m.Peers), OrNone(strings.Join(m.Bridges, ",")))
	}}
	for _, r := range plan.OfKind(recs, plan.MeshKind) {
		row, err := MeshOf(st, r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		t.Rows = append(t.Rows, row)
	}
	t.Err = errors.Join(errs...)
	return t, nil
}

// MeshOf is one mesh's row.
func MeshOf(st *plan.Store, r *plan.Record) (MeshRow, error) {
	f, err := r.MeshFacts()
	if err != nil {
		return MeshRow{}, err
	}
	row := MeshRow{Name: r.Name, State: string(r.State), VNI: f.VNI, Port: f.Port, Cluster: f.Cluster, Subnet: f.Subnet, Local: f.Local,
		Underlay: f.Underlay.String(), MTU: f.MTU, MAC: f.MAC, Generation: f.Generation, Bridges: []string{}, Peers: []MeshPeer{}}
	for _, b := range plan.MeshBridges(st, r.Name) {
		row.Bridges = append(row.Bridges, b.Name)
	}
	for _, p := range f.Peers {
		row.Peers = append(row.Peers, MeshPeer{Node: p.Node, IP: p.IP, Subnet: p.Subnet, MAC: ipam.TunnelMAC(p.Subnet)})
	}
	return row, nil
}
