package nodes

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestFixtures: each file in testdata, as a script test copies it, is the
// three-node cluster.
func TestFixtures(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.*")
	if len(files) < 4 {
		t.Fatalf("testdata holds %q; go test -update writes the fixtures", files)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got, warn, err := Read(data, f)
		if err != nil || warn != nil {
			t.Fatalf("Read(%s): %v, %q", f, err, warn)
		}
		if d := cmp.Diff(cluster, got, cmp.Comparer(func(a, b Node) bool { return a == b })); d != "" {
			t.Errorf("Read(%s) (-want +got):\n%s", f, d)
		}
	}
}

// node is one item of a NodeList, in JSON: name, then podCIDR (podCIDRs
// when it holds a comma), then addresses "TYPE=ADDRESS".
func node(name, cidr string, addrs ...string) string {
	spec := `"podCIDR": "` + cidr + `"`
	if strings.Contains(cidr, ",") {
		spec = `"podCIDRs": ["` + strings.ReplaceAll(cidr, ",", `", "`) + `"]`
	}
	if cidr == "" {
		spec = ""
	}
	var as []string
	for _, a := range addrs {
		typ, addr, _ := strings.Cut(a, "=")
		as = append(as, `{"type": "`+typ+`", "address": "`+addr+`"}`)
	}
	return `{"metadata": {"name": "` + name + `"}, "spec": {` + spec + `}, "status": {"addresses": [` + strings.Join(as, ", ") + `]}}`
}

// laughs is YAML whose aliases expand to ten billion strings.
func laughs() string {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 10; i++ {
		fmt.Fprintf(&b, "a%d: &a%d [%s]\n", i, i, strings.Repeat(fmt.Sprintf("*a%d, ", i-1), 9)+fmt.Sprintf("*a%d", i-1))
	}
	return b.String()
}

func jsonNodeList(items ...string) string {
	return `{"kind": "NodeList", "apiVersion": "v1", "items": [` + strings.Join(items, ", ") + `]}`
}

// TestRefused: one case per refusal, with its whole message.
func TestRefused(t *testing.T) {
	const not = ", not a node list (`kubectl get nodes -o json`) or a list of {ip, subnet}"
	const v4only = "; meshes are IPv4-only until dual stack is built for them"
	a := node("node-a", "10.244.1.0/24", "InternalIP=192.168.77.1")
	for _, c := range []struct{ name, data, want string }{
		// Not a node list.
		{"empty", " \n\t", "f is empty" + not},
		{"pod list", `{"kind": "PodList", "apiVersion": "v1", "items": []}`, "f is a PodList" + not},
		{"one node", `{"kind": "Node", "apiVersion": "v1", "metadata": {"name": "node-a"}}`, "f is a Node" + not},
		{"no kind", `{"ip": "192.168.77.1", "subnet": "10.244.1.0/24"}`, "f is an object with no kind" + not},
		{"list of pods", `{"kind": "List", "apiVersion": "v1", "items": [{"kind": "Pod", "apiVersion": "v1"}]}`,
			"f is a List holding a Pod (item 1)" + not},
		{"list item without kind", `{"kind": "List", "apiVersion": "v1", "items": [` + a + `]}`,
			"f is a List holding a object with no kind (item 1)" + not},
		{"nodelist holding a pod", `{"kind": "NodeList", "apiVersion": "v1", "items": [{"kind": "Pod"}]}`,
			"f is a NodeList holding a Pod (item 1)" + not},
		{"nodelist v2", `{"kind": "NodeList", "apiVersion": "v2", "items": []}`, `f is a NodeList of apiVersion "v2"; plumb reads v1`},
		{"nodelist no apiVersion", `{"kind": "NodeList", "items": []}`, `f is a NodeList of apiVersion ""; plumb reads v1`},
		{"list item v1beta1", `{"kind": "List", "apiVersion": "v1", "items": [{"kind": "Node", "apiVersion": "v1beta1", "metadata": {"name": "x"}}]}`,
			`f: node x is a Node of apiVersion "v1beta1"; plumb reads v1`},
		{"scalar", `"nodes"`, "f holds a single value" + not},
		{"yaml scalar", "just some text\n", "f holds a single value" + not},

		// Does not parse.
		{"bad json", "[\n  {\"ip\": \"192.168.77.1\" \"subnet\": \"10.244.1.0/24\"}\n]", "f is not valid JSON: invalid character '\"' after object key:value pair at line 2, column 25"},
		{"truncated json", `{"kind": "NodeList"`, "f is not valid JSON: unexpected end of JSON input at line 1, column 19"},
		{"bad yaml", "- ip: [\n", "f is not valid YAML (while parsing a flow node at line 1: did not find expected node content)"},
		{"two yaml documents", "- ip: 192.168.77.1\n---\n- ip: 192.168.77.2\n", "f holds more than one YAML document"},
		{"only a comment", "# no nodes\n", "f holds no YAML document"},
		{"yaml alias cycle", "&a [*a]\n", "f has an alias, *a, that refers to itself (line 1)"},
		{"yaml billion laughs", laughs(), "f has aliases that expand too far"},
		{"yaml non-scalar key", "- ? [a]\n  : b\n", "f has a mapping key that is not a scalar (line 1)"},
		{"wrong type", `{"kind": "NodeList", "apiVersion": "v1", "items": {}}`, "f: items is a JSON object where a list belongs"},
		{"wrong field type", jsonNodeList(`{"spec": {"podCIDR": 24}}`), "f: items.spec.podCIDR is a JSON number where a string belongs"},
		{"plain entry not an object", `[["192.168.77.1", "10.244.1.0/24"]]`, "f: entry 1 is a JSON array where an object belongs"},
		{"plain unknown field", `[{"ip": "192.168.77.1", "subnet": "10.244.1.0/24", "podCIDR": "10.244.1.0/24"}]`,
			`f: entry 1 has the field "podCIDR"; a plain list's entries have only name, ip and subnet`},
		{"plain unknown field yaml", "- name: a\n  ip: 192.168.77.1\n  subnet: 10.244.1.0/24\n  mac: 02:50:0a:f4:01:00\n",
			`f: entry 1 has the field "mac"; a plain list's entries have only name, ip and subnet`},
		{"plain no ip", `[{"name": "node-a", "subnet": "10.244.1.0/24"}]`, "f: entry 1 (node-a) has no ip"},
		{"plain no subnet", "- ip: 192.168.77.1\n", "f: entry 1 has no subnet"},

		// IPv6.
		{"ipv6 podCIDR", jsonNodeList(node("node-6", "fd00:10:244:1::/64", "InternalIP=192.168.77.1")),
			"f: node node-6 has the IPv6 pod subnet fd00:10:244:1::/64" + v4only},
		{"ipv6-only podCIDRs", jsonNodeList(node("node-6", "fd00:10:244:1::/64,fd00:10:244:2::/64", "InternalIP=192.168.77.1")),
			"f: node node-6 has the IPv6 pod subnet fd00:10:244:1::/64" + v4only},
		{"plain ipv6 subnet", `[{"name": "node-6", "ip": "192.168.77.1", "subnet": "fd00:10:244:1::/64"}]`,
			"f: entry 1 (node-6) has the IPv6 subnet fd00:10:244:1::/64" + v4only},
		{"plain ipv6 ip", `[{"ip": "fd00:77::1", "subnet": "10.244.1.0/24"}]`, "f: entry 1's ip fd00:77::1 is not IPv4" + v4only},

		// Invalid addresses.
		{"bad podCIDR", jsonNodeList(node("node-a", "10.244.1.0/33", "InternalIP=192.168.77.1")), `f: node node-a's podCIDR "10.244.1.0/33" is not a CIDR`},
		{"two IPv4 podCIDRs", jsonNodeList(node("node-a", "10.244.1.0/24,10.245.1.0/24", "InternalIP=192.168.77.1")),
			"f: node node-a has two IPv4 podCIDRs, 10.244.1.0/24 and 10.245.1.0/24"},
		{"bad InternalIP", jsonNodeList(node("node-a", "10.244.1.0/24", "InternalIP=192.168.77.300")), `f: node node-a's InternalIP "192.168.77.300" is not an IP address`},
		{"loopback InternalIP", jsonNodeList(node("node-a", "10.244.1.0/24", "InternalIP=127.0.0.1")), "f: node node-a's InternalIP 127.0.0.1 cannot be a node's address"},
		{"plain bad subnet", `[{"ip": "192.168.77.1", "subnet": "10.244.1.0"}]`, `f: entry 1's subnet "10.244.1.0" is not a CIDR`},
		{"plain bad ip", `[{"name": "a", "ip": "node-a", "subnet": "10.244.1.0/24"}]`, `f: entry 1 (a)'s ip "node-a" is not an IP address`},
		{"plain unspecified ip", `[{"ip": "0.0.0.0", "subnet": "10.244.1.0/24"}]`, "f: entry 1's ip 0.0.0.0 cannot be a node's address"},
		{"plain broadcast ip", `[{"ip": "255.255.255.255", "subnet": "10.244.1.0/24"}]`, "f: entry 1's ip 255.255.255.255 cannot be a node's address"},
		{"plain multicast ip", `[{"ip": "224.0.0.1", "subnet": "10.244.1.0/24"}]`, "f: entry 1's ip 224.0.0.1 cannot be a node's address"},

		// Two nodes in one place.
		{"same subnet", jsonNodeList(a, node("node-b", "10.244.1.0/24", "InternalIP=192.168.77.2")),
			"f: node node-a and node node-b have the same subnet 10.244.1.0/24"},
		{"same subnet once masked", `[{"ip": "192.168.77.1", "subnet": "10.244.1.0/24"}, {"ip": "192.168.77.2", "subnet": "10.244.1.9/24"}]`,
			"f: entry 1 and entry 2 have the same subnet 10.244.1.0/24"},
		{"same ip", jsonNodeList(a, node("node-b", "10.244.2.0/24", "InternalIP=192.168.77.1")),
			"f: node node-a and node node-b have the same IP 192.168.77.1"},
		{"same ip plain", "- {name: a, ip: 192.168.77.1, subnet: 10.244.1.0/24}\n- {ip: 192.168.77.1, subnet: 10.244.2.0/24}\n",
			"f: entry 1 (a) and entry 2 have the same IP 192.168.77.1"},
		{"overlap", jsonNodeList(a, node("node-b", "10.244.2.0/24", "InternalIP=192.168.77.2"), node("big", "10.244.0.0/16", "InternalIP=192.168.77.3")),
			"f: the subnets of node big (10.244.0.0/16) and node node-a (10.244.1.0/24) overlap"},
	} {
		t.Run(c.name, func(t *testing.T) {
			nodes, warn, err := Read([]byte(c.data), "f")
			if err == nil || err.Error() != c.want {
				t.Errorf("Read(%s)\n = %v, %q, %v\nwant error %s", c.data, nodes, warn, err, c.want)
			}
			if nodes != nil || warn != nil {
				t.Errorf("refused, yet gave %v, %q", nodes, warn)
			}
		})
	}
}

// TestRead: what is read and what is skipped, with its warning.
func TestRead(t *testing.T) {
	n := func(name, ip, subnet string) Node {
		return Node{name, netip.MustParseAddr(ip), netip.MustParsePrefix(subnet)}
	}
	a := node("node-a", "10.244.1.0/24", "InternalIP=192.168.77.1")
	for _, c := range []struct {
		name, data string
		want       []Node
		warn       []string
	}{
		{"no podCIDR", jsonNodeList(a, node("node-new", "", "InternalIP=192.168.77.2")),
			[]Node{n("node-a", "192.168.77.1", "10.244.1.0/24")}, []string{"f: node node-new has no podCIDR yet; skipped"}},
		{"empty podCIDRs and podCIDR", jsonNodeList(a, `{"metadata": {"name": "node-new"}, "spec": {"podCIDR": "", "podCIDRs": []}}`),
			[]Node{n("node-a", "192.168.77.1", "10.244.1.0/24")}, []string{"f: node node-new has no podCIDR yet; skipped"}},
		{"no addresses", jsonNodeList(a, node("node-new", "10.244.2.0/24")),
			[]Node{n("node-a", "192.168.77.1", "10.244.1.0/24")}, []string{"f: node node-new has no IPv4 InternalIP; skipped"}},
		{"only ExternalIP and an IPv6 InternalIP", jsonNodeList(node("node-new", "10.244.2.0/24", "ExternalIP=203.0.113.2", "InternalIP=fd00::2", "Hostname=node-new"), a),
			[]Node{n("node-a", "192.168.77.1", "10.244.1.0/24")}, []string{"f: node node-new has no IPv4 InternalIP; skipped"}},
		{"unnamed item", jsonNodeList(`{"spec": {"podCIDR": "10.244.2.0/24"}}`, a),
			[]Node{n("node-a", "192.168.77.1", "10.244.1.0/24")}, []string{"f: item 1 has no IPv4 InternalIP; skipped"}},
		{"all skipped", jsonNodeList(node("x", ""), node("y", "10.244.2.0/24")), nil,
			[]string{"f: node x has no podCIDR yet; skipped", "f: node y has no IPv4 InternalIP; skipped"}},
		{"dual stack takes IPv4", jsonNodeList(node("ds", "fd00:10:244:1::/64,10.244.1.0/24", "InternalIP=fd00::1", "InternalIP=192.168.77.1")),
			[]Node{n("ds", "192.168.77.1", "10.244.1.0/24")}, nil},
		{"podCIDRs before podCIDR", jsonNodeList(`{"metadata": {"name": "p"}, "spec": {"podCIDR": "10.99.0.0/24", "podCIDRs": ["10.244.1.0/24"]}, "status": {"addresses": [{"type": "InternalIP", "address": "192.168.77.1"}]}}`),
			[]Node{n("p", "192.168.77.1", "10.244.1.0/24")}, nil},
		{"masked", `[{"ip": "192.168.77.1", "subnet": "10.244.1.77/24"}]`, []Node{n("", "192.168.77.1", "10.244.1.0/24")}, nil},
		{"sorted by subnet", `[{"ip": "192.168.77.3", "subnet": "10.244.10.0/24"}, {"ip": "192.168.77.1", "subnet": "10.244.2.0/24"}, {"ip": "192.168.77.2", "subnet": "10.244.3.0/25"}]`,
			[]Node{n("", "192.168.77.1", "10.244.2.0/24"), n("", "192.168.77.2", "10.244.3.0/25"), n("", "192.168.77.3", "10.244.10.0/24")}, nil},
		{"yaml plain, flow style", "[{ip: 192.168.77.1, subnet: 10.244.1.0/24}]", []Node{n("", "192.168.77.1", "10.244.1.0/24")}, nil},
		{"yaml numeric name", "- name: 007\n  ip: 192.168.77.1\n  subnet: 10.244.1.0/24\n", []Node{n("007", "192.168.77.1", "10.244.1.0/24")}, nil},
		{"yaml anchors", "- &n {name: a, ip: 192.168.77.1, subnet: 10.244.1.0/24}\n", []Node{n("a", "192.168.77.1", "10.244.1.0/24")}, nil},
		{"yaml null fields", "kind: NodeList\napiVersion: v1\nitems:\n- metadata: {name: a}\n  spec: {podCIDR: 10.244.1.0/24, podCIDRs: ~}\n  status:\n    addresses:\n    - {type: InternalIP, address: 192.168.77.1}\n",
			[]Node{n("a", "192.168.77.1", "10.244.1.0/24")}, nil},
		{"byte order mark", "\xef\xbb\xbf" + `[{"ip": "192.168.77.1", "subnet": "10.244.1.0/24"}]`, []Node{n("", "192.168.77.1", "10.244.1.0/24")}, nil},
		{"empty plain list", "[]", nil, nil},
		{"json with a trailing comma, read as YAML", `[{"ip": "192.168.77.1", "subnet": "10.244.1.0/24",}]`, []Node{n("", "192.168.77.1", "10.244.1.0/24")}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, warn, err := Read([]byte(c.data), "f")
			if err != nil {
				t.Fatalf("Read(%s): %v", c.data, err)
			}
			if d := cmp.Diff(c.want, got, cmp.Comparer(func(a, b Node) bool { return a == b })); d != "" {
				t.Errorf("nodes (-want +got):\n%s", d)
			}
			if d := cmp.Diff(c.warn, warn); d != "" {
				t.Errorf("warnings (-want +got):\n%s", d)
			}
		})
	}
}

// FuzzRead: Read never panics, and what it accepts keeps its promises.
func FuzzRead(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.*")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("kind: List\napiVersion: v1\nitems:\n- kind: Node\n  apiVersion: v1\n  metadata: {name: a}\n  spec: {podCIDRs: [fd00::/64, 10.244.1.0/24]}\n  status: {addresses: [{type: InternalIP, address: 192.168.77.1}]}\n"))
	f.Add([]byte("- &a {ip: 192.168.77.1, subnet: 10.244.1.0/24}\n- *a\n"))
	f.Add([]byte(`[{"ip": "192.168.77.1", "subnet": "10.244.0.0/16"}, {"ip": "192.168.77.2", "subnet": "10.244.1.0/24"}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		nodes, warn, err := Read(data, "f")
		if err != nil {
			if nodes != nil || warn != nil {
				t.Errorf("error %v with nodes %v, warnings %q", err, nodes, warn)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "f ") && !strings.HasPrefix(msg, "f: ") {
				t.Errorf("error %q does not start with the file's name", msg)
			}
			return
		}
		ips := map[netip.Addr]bool{}
		for i, n := range nodes {
			if !n.IP.Is4() || !n.Subnet.Addr().Is4() || n.Subnet != n.Subnet.Masked() || ips[n.IP] {
				t.Errorf("node %d is %+v", i, n)
			}
			ips[n.IP] = true
			if i > 0 && nodes[i-1].Subnet.Overlaps(n.Subnet) {
				t.Errorf("nodes %d and %d overlap: %v", i-1, i, nodes)
			}
		}
		if !slices.IsSortedFunc(nodes, func(a, b Node) int { return a.Subnet.Addr().Compare(b.Subnet.Addr()) }) {
			t.Errorf("not sorted: %v", nodes)
		}
	})
}
