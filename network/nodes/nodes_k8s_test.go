package nodes

// The only k8s.io imports in plumb: they pin the local structs to
// Kubernetes' wire format without linking k8s.io/api into the binary
// (actions' TestNoCostlyInits forbids that).

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v4"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

var update = flag.Bool("update", false, "rewrite the fixtures in testdata")

// cluster is the fixtures' three nodes, sorted by subnet as Read returns them.
var cluster = []Node{
	{"node-a", netip.MustParseAddr("192.168.77.1"), netip.MustParsePrefix("10.244.1.0/24")},
	{"node-b", netip.MustParseAddr("192.168.77.2"), netip.MustParsePrefix("10.244.2.0/24")},
	{"node-c", netip.MustParseAddr("192.168.77.3"), netip.MustParsePrefix("10.244.3.0/24")},
}

// stamp is every fixture's timestamp, so that -update rewrites nothing unchanged.
var stamp = metav1.NewTime(time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC))

type address struct{ typ, addr string }

// k8sNode is a Node as a cluster's API gives it: podCIDR set, and podCIDRs
// when given (the API sets both; podCIDR is podCIDRs[0]).
func k8sNode(name, podCIDR string, podCIDRs []string, addrs ...address) corev1.Node {
	n := corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:              name,
			ResourceVersion:   "4242",
			CreationTimestamp: stamp,
			Labels: map[string]string{
				"kubernetes.io/arch":     "amd64",
				"kubernetes.io/hostname": name,
				"kubernetes.io/os":       "linux",
			},
		},
		Spec: corev1.NodeSpec{PodCIDR: podCIDR, PodCIDRs: podCIDRs},
		Status: corev1.NodeStatus{
			Conditions: []corev1.NodeCondition{{
				Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
				Message: "kubelet is posting ready status", LastHeartbeatTime: stamp, LastTransitionTime: stamp,
			}},
			NodeInfo: corev1.NodeSystemInfo{KubeletVersion: "v1.36.6", OperatingSystem: "linux", Architecture: "amd64"},
		},
	}
	for _, a := range addrs {
		n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeAddressType(a.typ), Address: a.addr})
	}
	return n
}

// clusterNodes is the cluster as Kubernetes Nodes.
func clusterNodes() []corev1.Node {
	var ns []corev1.Node
	for _, n := range cluster {
		s := n.Subnet.String()
		ns = append(ns, k8sNode(n.Name, s, []string{s},
			address{"InternalIP", n.IP.String()}, address{"Hostname", n.Name}))
	}
	return ns
}

// nodeList is the API's form: `kubectl get --raw /api/v1/nodes`.
func nodeList(ns []corev1.Node) corev1.NodeList {
	return corev1.NodeList{
		TypeMeta: metav1.TypeMeta{Kind: "NodeList", APIVersion: "v1"},
		ListMeta: metav1.ListMeta{ResourceVersion: "4343"},
		Items:    ns,
	}
}

// kubectlList is kubectl's form: `kubectl get nodes -o json`, a client-side
// List whose items each carry their kind.
func kubectlList(ns []corev1.Node) corev1.List {
	l := corev1.List{
		TypeMeta: metav1.TypeMeta{Kind: "List", APIVersion: "v1"},
		ListMeta: metav1.ListMeta{ResourceVersion: ""},
	}
	for _, n := range ns {
		n.TypeMeta = metav1.TypeMeta{Kind: "Node", APIVersion: "v1"}
		l.Items = append(l.Items, runtime.RawExtension{Object: &n})
	}
	return l
}

// kubectlJSON marshals v as kubectl prints it: indented by four spaces.
func kubectlJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "    ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// toYAML is JSON js as `kubectl get -o yaml` would print it.
func toYAML(t *testing.T, js []byte) []byte {
	t.Helper()
	var v any
	if err := json.Unmarshal(js, &v); err != nil {
		t.Fatal(err)
	}
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// plainJSON and plainYAML are plain lists of nodes, as a person writes them.
func plainJSON(ns []Node) []byte {
	var b bytes.Buffer
	b.WriteString("[\n")
	for i, n := range ns {
		fmt.Fprintf(&b, "  {\"name\": %q, \"ip\": %q, \"subnet\": %q}", n.Name, n.IP, n.Subnet)
		if i < len(ns)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("]\n")
	return b.Bytes()
}

func plainYAML(ns []Node) []byte {
	var b bytes.Buffer
	b.WriteString("# name is optional; ip is the node's underlay address, subnet its pod subnet.\n")
	for _, n := range ns {
		fmt.Fprintf(&b, "- name: %s\n  ip: %s\n  subnet: %s\n", n.Name, n.IP, n.Subnet)
	}
	return b.Bytes()
}

// TestKubernetesForms marshals k8s.io/api's own types with encoding/json, as
// the API server and kubectl do, and reads them back. Its first cases are the
// fixtures in testdata, which -update rewrites and which script tests copy.
func TestKubernetesForms(t *testing.T) {
	// A cluster that is partly up: ExternalIP before InternalIP, a node
	// with podCIDR only (as before 1.16), a dual-stack node (IPv6 first, as
	// an IPv6-primary cluster lists it), a node not given a podCIDR yet and
	// one whose kubelet has not reported an InternalIP yet.
	mixed := []corev1.Node{
		k8sNode("worker-1", "10.244.9.0/24", []string{"10.244.9.0/24"},
			address{"ExternalIP", "203.0.113.9"}, address{"InternalIP", "192.168.77.9"}, address{"Hostname", "worker-1"}),
		k8sNode("worker-2", "10.244.4.0/24", nil, address{"Hostname", "worker-2"}, address{"InternalIP", "192.168.77.4"}),
		k8sNode("worker-3", "fd00:10:244:5::/64", []string{"fd00:10:244:5::/64", "10.244.5.0/24"},
			address{"InternalIP", "fd00:77::5"}, address{"InternalIP", "192.168.77.5"}, address{"InternalIP", "192.168.78.5"}),
		k8sNode("worker-4", "", nil, address{"InternalIP", "192.168.77.6"}),
		k8sNode("worker-5", "10.244.7.0/24", []string{"10.244.7.0/24"},
			address{"ExternalIP", "203.0.113.7"}, address{"Hostname", "worker-5"}, address{"InternalIP", "fd00:77::7"}),
	}
	mixedWant := []Node{
		{"worker-2", netip.MustParseAddr("192.168.77.4"), netip.MustParsePrefix("10.244.4.0/24")},
		{"worker-3", netip.MustParseAddr("192.168.77.5"), netip.MustParsePrefix("10.244.5.0/24")},
		{"worker-1", netip.MustParseAddr("192.168.77.9"), netip.MustParsePrefix("10.244.9.0/24")},
	}
	mixedWarn := func(what string) []string {
		return []string{
			what + ": node worker-4 has no podCIDR yet; skipped",
			what + ": node worker-5 has no IPv4 InternalIP; skipped",
		}
	}
	kubectlFixture := kubectlJSON(t, kubectlList(clusterNodes()))
	for _, c := range []struct {
		name    string
		fixture bool // written to testdata/NAME under -update
		data    []byte
		want    []Node
		warn    []string
	}{
		{"kubectl-list.json", true, kubectlFixture, cluster, nil},
		{"nodelist.json", true, kubectlJSON(t, nodeList(clusterNodes())), cluster, nil},
		{"plain.json", true, plainJSON(cluster), cluster, nil},
		{"plain.yaml", true, plainYAML(cluster), cluster, nil},
		{"kubectl-list.yaml", false, toYAML(t, kubectlFixture), cluster, nil},
		{"nodelist-compact.json", false, mustJSON(t, nodeList(clusterNodes())), cluster, nil},
		{"mixed-nodelist.json", false, kubectlJSON(t, nodeList(mixed)), mixedWant, mixedWarn("mixed-nodelist.json")},
		{"mixed-kubectl-list.json", false, kubectlJSON(t, kubectlList(mixed)), mixedWant, mixedWarn("mixed-kubectl-list.json")},
		{"mixed-kubectl-list.yaml", false, toYAML(t, kubectlJSON(t, kubectlList(mixed))), mixedWant, mixedWarn("mixed-kubectl-list.yaml")},
		{"empty-kubectl-list.json", false, kubectlJSON(t, kubectlList(nil)), nil, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, warn, err := Read(c.data, c.name)
			if err != nil {
				t.Fatalf("Read: %v\n%s", err, c.data)
			}
			if d := cmp.Diff(c.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
				cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); d != "" {
				t.Errorf("nodes (-want +got):\n%s", d)
			}
			if d := cmp.Diff(c.warn, warn); d != "" {
				t.Errorf("warnings (-want +got):\n%s", d)
			}
			if c.fixture {
				fixture(t, c.name, c.data)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fixture writes testdata/name under -update, and otherwise checks that it
// still holds data.
func fixture(t *testing.T, name string, data []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	old, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if !bytes.Equal(old, data) {
		t.Errorf("%s is stale (go test -update rewrites it):\n%s", path, cmp.Diff(string(old), string(data)))
	}
}

// TestWireFormat: every json path the local structs read is in
// k8s.io/api's NodeList, with a value of the same shape, and InternalIP is
// still spelled so: an upstream rename fails here when go.mod is bumped.
func TestWireFormat(t *testing.T) {
	if string(corev1.NodeInternalIP) != internalIP {
		t.Errorf("corev1.NodeInternalIP = %q, the decoder looks for %q", corev1.NodeInternalIP, internalIP)
	}
	var paths []string
	var walk func(path string, local, theirs reflect.Type)
	walk = func(path string, local, theirs reflect.Type) {
		for i := range local.NumField() {
			f := local.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			p := path + "." + name
			paths = append(paths, p)
			tf, ok := jsonField(theirs, name)
			if !ok {
				t.Errorf("%s: %s has no json field %q", p, theirs, name)
				continue
			}
			lt, tt := f.Type, tf.Type
			for tt.Kind() == reflect.Pointer {
				tt = tt.Elem()
			}
			if lt.Kind() == reflect.Slice && tt.Kind() == reflect.Slice {
				lt, tt = lt.Elem(), tt.Elem()
				p += "[]"
			}
			if lt.Kind() != tt.Kind() {
				t.Errorf("%s: ours is a %s, %s's a %s", p, lt.Kind(), theirs, tt.Kind())
				continue
			}
			if lt.Kind() == reflect.Struct {
				walk(p, lt, tt)
			}
		}
	}
	walk("", reflect.TypeFor[list](), reflect.TypeFor[corev1.NodeList]())
	// The paths the brief names, so that a field dropped from the local
	// structs is noticed too.
	for _, p := range []string{".kind", ".apiVersion", ".items.kind", ".items.apiVersion", ".items.metadata.name",
		".items.spec.podCIDR", ".items.spec.podCIDRs", ".items.status.addresses.type", ".items.status.addresses.address"} {
		found := false
		for _, q := range paths {
			found = found || strings.ReplaceAll(q, "[]", "") == p
		}
		if !found {
			t.Errorf("the local structs no longer read %s (they read %q)", p, paths)
		}
	}
}

// jsonField finds the field encoding/json gives the name in t, looking
// into embedded structs (`json:",inline"` ones such as TypeMeta).
func jsonField(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "-" {
			continue
		}
		if tag == "" && f.Anonymous && f.Type.Kind() == reflect.Struct {
			if g, ok := jsonField(f.Type, name); ok {
				return g, true
			}
			continue
		}
		if tag == name || (tag == "" && f.Name == name) {
			return f, true
		}
	}
	return reflect.StructField{}, false
}
