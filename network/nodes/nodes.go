// Package nodes reads who is in a cluster, as a mesh needs it: kubectl's node
// list or a plain list of {name, ip, subnet}, in JSON or YAML.
//
// It imports nothing from k8s.io: k8s.io/api's core types made every plumb
// process start twice as slowly (their apimachinery inits), so a node list is
// decoded by the small local structs below, and only the tests import
// k8s.io/api, to pin these structs to its wire format.
package nodes

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// Node is one member of a cluster as a mesh needs it.
type Node struct {
	Name   string       // metadata.name, or the plain list's "name" (may be empty in a plain list)
	IP     netip.Addr   // the node's underlay address: first IPv4 InternalIP
	Subnet netip.Prefix // its pod subnet, masked
}

// list is a Kubernetes list of nodes: the API's NodeList (`kubectl get --raw
// /api/v1/nodes`: "kind": "NodeList", items without kind) or kubectl's
// client-side list (`kubectl get nodes -o json`: "kind": "List", each item
// "kind": "Node"). Fields not named here are ignored.
type list struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Items      []item `json:"items"`
}

// item is one node of a list: k8s.io/api core/v1 Node's fields that a mesh reads.
type item struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		PodCIDR  string   `json:"podCIDR"`
		PodCIDRs []string `json:"podCIDRs"`
	} `json:"spec"`
	Status struct {
		Addresses []struct {
			Type    string `json:"type"`
			Address string `json:"address"`
		} `json:"addresses"`
	} `json:"status"`
}

// plain is one entry of a plain list. Unknown fields are refused.
type plain struct {
	Name   string `json:"name"`
	IP     string `json:"ip"`
	Subnet string `json:"subnet"`
}

// entry is a node read, and how messages name it.
type entry struct {
	Node
	label string // "node NAME", "item N" (no name), "entry N (NAME)" or "entry N" (plain)
}

// internalIP is core/v1's NodeInternalIP.
const internalIP = "InternalIP"

// notNodes ends the message for a file that holds something else.
const notNodes = "not a node list (`kubectl get nodes -o json`) or a list of {ip, subnet}"

// Read decodes a node list, in JSON or YAML:
//   - kubectl's `kubectl get nodes -o json` (or -o yaml): "kind": "List",
//     apiVersion v1, every item "kind": "Node";
//   - the API's NodeList (`kubectl get --raw /api/v1/nodes`): "kind":
//     "NodeList", apiVersion v1, items without kind;
//   - a plain list of {name, ip, subnet} (name optional), strictly: a field
//     other than these three is refused, and ip and subnet are required.
//
// What starts with `[` and is valid JSON is a plain list, with `{` a
// Kubernetes list (fields it does not read are ignored there); anything else
// is read as YAML, converted to JSON (every scalar a string, null a null)
// and decoded the same way.
//
// A Kubernetes node's subnet is its spec.podCIDRs when that is not empty,
// else its spec.podCIDR; a dual-stack podCIDRs gives its IPv4 entry and its
// IPv6 one is ignored (as flannel does), but a node whose only pod subnet is
// IPv6 is refused: meshes are IPv4-only until dual stack is built for them.
// Its IP is its first IPv4 InternalIP in status.addresses. A node with no pod
// subnet yet, or with no IPv4 InternalIP, is skipped with a warning: both are
// transient in a live cluster, and refusing them would block every sync
// during a scale-up. Subnets are returned masked (10.244.1.7/24 gives
// 10.244.1.0/24).
//
// Read refuses, with an error of one sentence: a file of another kind or
// apiVersion, what does not parse, an IPv6 pod subnet or plain ip, two IPv4
// podCIDRs on one node, an address or subnet that does not parse, an
// unusable IP (unspecified, loopback, multicast, broadcast), two nodes with
// the same subnet or IP, and overlapping subnets. What depends on the mesh (subnets inside the cluster
// CIDR, IPs outside it, which node is this one) is the caller's to check.
//
// The nodes come sorted by Subnet. Errors and warnings start with what, the
// file's name; the caller adds the flag ("--nodes: ").
func Read(data []byte, what string) (_ []Node, warnings []string, err error) {
	nodes, warnings, _, err := ReadSkipping(data, what)
	return nodes, warnings, err
}

// ReadSkipping is Read, and the names of the nodes it skipped (no pod
// subnet or no IPv4 InternalIP yet): a mesh keeps such a node as its peer
// while it is one, rather than cut it off for a moment of the API's.
func ReadSkipping(data []byte, what string) (_ []Node, warnings, skipped []string, err error) {
	var nodes []entry
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, nil, nil, fmt.Errorf("%s is empty, %s", what, notNodes)
	}
	js := trimmed
	if c := trimmed[0]; (c != '[' && c != '{') || !json.Valid(trimmed) {
		converted, yerr := yamlToJSON(data)
		switch {
		case yerr == nil:
			js = converted
		case c == '[' || c == '{':
			// Meant as JSON: its error says more than YAML's.
			var v any
			return nil, nil, nil, jsonError(what, "", trimmed, json.Unmarshal(trimmed, &v))
		default:
			return nil, nil, nil, fmt.Errorf("%s %v", what, yerr)
		}
	}
	switch js[0] {
	case '[':
		nodes, err = readPlain(js, what)
	case '{':
		nodes, warnings, skipped, err = readList(js, what)
	default:
		return nil, nil, nil, fmt.Errorf("%s holds a single value, %s", what, notNodes)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	if err := check(nodes, what); err != nil {
		return nil, nil, nil, err
	}
	var out []Node
	for _, e := range nodes {
		out = append(out, e.Node)
	}
	return out, warnings, skipped, nil
}

// readPlain decodes a plain list, strictly, entry by entry so that a message
// can name the entry.
func readPlain(js []byte, what string) ([]entry, error) {
	// The whole list at once; an entry that does not decode is found,
	// and named, entry by entry (a decoder each cost a thousand nodes'
	// sync more than reading their addresses).
	var list []plain
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if dec.Decode(&list) != nil {
		var err error
		if list, err = readPlainEach(js, what); err != nil {
			return nil, err
		}
	}
	nodes := make([]entry, 0, len(list))
	for i, p := range list {
		label := "entry " + strconv.Itoa(i+1)
		if p.Name != "" {
			label += " (" + p.Name + ")"
		}
		if p.IP == "" {
			return nil, fmt.Errorf("%s: %s has no ip", what, label)
		}
		if p.Subnet == "" {
			return nil, fmt.Errorf("%s: %s has no subnet", what, label)
		}
		if err := CheckName(p.Name); err != nil {
			return nil, fmt.Errorf("%s: %s: %v", what, label, err)
		}
		n := entry{Node: Node{Name: p.Name}, label: label}
		var err error
		if n.Subnet, err = parseSubnet(p.Subnet, label, what); err != nil {
			return nil, err
		}
		ip, err := netip.ParseAddr(p.IP)
		if err != nil {
			return nil, fmt.Errorf("%s: %s's ip %q is not an IP address", what, label, p.IP)
		}
		if !ip.Is4() {
			return nil, fmt.Errorf("%s: %s's ip %s is not IPv4; meshes are IPv4-only until dual stack is built for them", what, label, ip)
		}
		if n.IP, err = usable(ip, label+"'s ip", what); err != nil {
			return nil, err
		}
		nodes = append(nodes, n)
	}
	return nodes, nil
}

// readPlainEach decodes a plain list entry by entry, to say which one
// does not decode, and why.
func readPlainEach(js []byte, what string) ([]plain, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal(js, &raw); err != nil {
		return nil, jsonError(what, "", js, err)
	}
	list := make([]plain, len(raw))
	for i, r := range raw {
		label := fmt.Sprintf("entry %d", i+1)
		dec := json.NewDecoder(bytes.NewReader(r))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&list[i]); err != nil {
			if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
				return nil, fmt.Errorf("%s: %s has the field %s; a plain list's entries have only name, ip and subnet", what, label, field)
			}
			return nil, jsonError(what, label, r, err)
		}
	}
	return list, nil
}

// readList decodes a NodeList or kubectl's List of Nodes.
func readList(js []byte, what string) ([]entry, []string, []string, error) {
	var l list
	if err := json.Unmarshal(js, &l); err != nil {
		return nil, nil, nil, jsonError(what, "", js, err)
	}
	switch {
	case l.Kind == "":
		return nil, nil, nil, fmt.Errorf("%s is an object with no kind, %s", what, notNodes)
	case l.Kind != "NodeList" && l.Kind != "List":
		return nil, nil, nil, fmt.Errorf("%s is a %s, %s", what, l.Kind, notNodes)
	case l.APIVersion != "v1":
		return nil, nil, nil, fmt.Errorf("%s is a %s of apiVersion %q; plumb reads v1", what, l.Kind, l.APIVersion)
	}
	var nodes []entry
	var warnings, skipped []string
	for i, it := range l.Items {
		label := fmt.Sprintf("item %d", i+1)
		if it.Metadata.Name != "" {
			label = "node " + it.Metadata.Name
		}
		switch {
		case l.Kind == "List" && it.Kind != "Node":
			kind := it.Kind
			if kind == "" {
				kind = "object with no kind"
			}
			return nil, nil, nil, fmt.Errorf("%s is a List holding a %s (item %d), %s", what, kind, i+1, notNodes)
		case l.Kind == "NodeList" && it.Kind != "" && it.Kind != "Node":
			return nil, nil, nil, fmt.Errorf("%s is a NodeList holding a %s (item %d), %s", what, it.Kind, i+1, notNodes)
		case (l.Kind == "List" || it.APIVersion != "") && it.APIVersion != "v1":
			return nil, nil, nil, fmt.Errorf("%s: %s is a Node of apiVersion %q; plumb reads v1", what, label, it.APIVersion)
		}
		cidrs := it.Spec.PodCIDRs
		if len(cidrs) == 0 && it.Spec.PodCIDR != "" {
			cidrs = []string{it.Spec.PodCIDR}
		}
		if len(cidrs) == 0 {
			warnings = append(warnings, fmt.Sprintf("%s: %s has no podCIDR yet; skipped", what, label))
			skipped = append(skipped, it.Metadata.Name)
			continue
		}
		if err := CheckName(it.Metadata.Name); err != nil {
			return nil, nil, nil, fmt.Errorf("%s: %s: %v", what, label, err)
		}
		n := entry{Node: Node{Name: it.Metadata.Name}, label: label}
		for _, c := range cidrs {
			p, err := netip.ParsePrefix(c)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("%s: %s's podCIDR %q is not a CIDR", what, label, c)
			}
			if !p.Addr().Is4() {
				continue // a dual-stack node's IPv6 subnet: see Read
			}
			if n.Subnet.IsValid() {
				return nil, nil, nil, fmt.Errorf("%s: %s has two IPv4 podCIDRs, %s and %s", what, label, n.Subnet, p)
			}
			n.Subnet = p.Masked()
		}
		if !n.Subnet.IsValid() {
			return nil, nil, nil, fmt.Errorf("%s: %s has the IPv6 pod subnet %s; meshes are IPv4-only until dual stack is built for them", what, label, cidrs[0])
		}
		for _, a := range it.Status.Addresses {
			if a.Type != internalIP {
				continue
			}
			ip, err := netip.ParseAddr(a.Address)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("%s: %s's InternalIP %q is not an IP address", what, label, a.Address)
			}
			if ip.Is4() {
				if n.IP, err = usable(ip, label+"'s InternalIP", what); err != nil {
					return nil, nil, nil, err
				}
				break
			}
		}
		if !n.IP.IsValid() {
			warnings = append(warnings, fmt.Sprintf("%s: %s has no IPv4 InternalIP; skipped", what, label))
			skipped = append(skipped, it.Metadata.Name)
			continue
		}
		nodes = append(nodes, n)
	}
	return nodes, warnings, skipped, nil
}

// parseSubnet parses a plain list's subnet: an IPv4 CIDR, masked.
func parseSubnet(s, label, what string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%s: %s's subnet %q is not a CIDR", what, label, s)
	}
	if !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("%s: %s has the IPv6 subnet %s; meshes are IPv4-only until dual stack is built for them", what, label, p)
	}
	return p.Masked(), nil
}

// usable refuses an IPv4 address that cannot be a node's underlay address.
func usable(ip netip.Addr, label, what string) (netip.Addr, error) {
	if ip.IsUnspecified() || ip.IsLoopback() || ip.IsMulticast() || ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return netip.Addr{}, fmt.Errorf("%s: %s %s cannot be a node's address", what, label, ip)
	}
	return ip, nil
}

// check sorts nodes by subnet and refuses two with one subnet or one IP, and
// overlapping subnets.
func check(nodes []entry, what string) error {
	ips := make(map[netip.Addr]string, len(nodes))
	for _, n := range nodes {
		if o, ok := ips[n.IP]; ok {
			return fmt.Errorf("%s: %s and %s have the same IP %s", what, o, n.label, n.IP)
		}
		ips[n.IP] = n.label
	}
	slices.SortStableFunc(nodes, func(a, b entry) int {
		if c := a.Subnet.Addr().Compare(b.Subnet.Addr()); c != 0 {
			return c
		}
		return a.Subnet.Bits() - b.Subnet.Bits()
	})
	// Prefixes are aligned blocks: sorted by address, one that overlaps a
	// later one contains it, and so overlaps its neighbour too.
	for i := 1; i < len(nodes); i++ {
		a, b := nodes[i-1], nodes[i]
		switch {
		case a.Subnet == b.Subnet:
			return fmt.Errorf("%s: %s and %s have the same subnet %s", what, a.label, b.label, a.Subnet)
		case a.Subnet.Overlaps(b.Subnet):
			return fmt.Errorf("%s: the subnets of %s (%s) and %s (%s) overlap", what, a.label, a.Subnet, b.label, b.Subnet)
		}
	}
	return nil
}

// jsonError turns encoding/json's error into one sentence about what.
func jsonError(what, label string, data []byte, err error) error {
	if label != "" {
		label += " "
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		line, col := position(data, syn.Offset)
		return fmt.Errorf("%s is not valid JSON: %s at line %d, column %d", what, strings.TrimPrefix(syn.Error(), "json: "), line, col)
	case errors.As(err, &typ):
		where := typ.Field
		if where == "" {
			where = "the top level"
		}
		if label != "" {
			where = strings.TrimSpace(label)
			if typ.Field != "" {
				where += "'s " + typ.Field
			}
		}
		return fmt.Errorf("%s: %s is a JSON %s where %s belongs", what, where, typ.Value, kindName(typ.Type))
	}
	return fmt.Errorf("%s: %sis not readable: %v", what, label, err)
}

// kindName names what a Go type holds, in JSON's words.
func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "a list"
	case reflect.Struct:
		return "an object"
	}
	return "a " + t.String()
}

// position is the 1-based line and column of the last byte of the first off
// (the byte json.SyntaxError's Offset stopped at).
func position(data []byte, off int64) (line, col int) {
	off = min(max(off-1, 0), int64(len(data)))
	before := data[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// CheckName refuses a node name that is not a Kubernetes node name (a DNS
// subdomain: at most 253 bytes of lower-case letters, digits, '-' and
// '.', each label starting and ending with a letter or digit). "" is no
// name, which a plain list may give.
func CheckName(name string) error {
	if name == "" {
		return nil
	}
	if len(name) > 253 {
		return fmt.Errorf("node name %.20q… is longer than 253 bytes", name)
	}
	for _, label := range strings.Split(name, ".") {
		ok := label != "" && label[0] != '-' && label[len(label)-1] != '-'
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				ok = false
			}
		}
		if !ok {
			return fmt.Errorf("%q is not a node name: lower-case letters, digits, '-' and '.', as Kubernetes names nodes", name)
		}
	}
	return nil
}
