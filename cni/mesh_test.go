package cni

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"

	"plumb/network"
	"plumb/plan"
)

// meshStore is a store holding mesh m1 of node subnet 10.244.1.0/24, MTU
// 1450, in state.
func meshStore(t *testing.T, state plan.State) *plan.Store {
	t.Helper()
	st := plan.NewStore(t.TempDir())
	rec := &plan.Record{FormatVersion: plan.FormatVersion, Kind: "mesh", Name: "m1", State: state}
	if err := rec.SetFacts(plan.MeshFacts{VNI: 42, Port: 8472, Local: netip.MustParseAddr("192.168.77.1"), Underlay: "eth0",
		Cluster: netip.MustParsePrefix("10.244.0.0/16"), Subnet: netip.MustParsePrefix("10.244.1.0/24"), MTU: 1450, MAC: "02:50:0a:f4:01:00"}); err != nil {
		t.Fatal(err)
	}
	if err := st.Save(rec); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestCNIMesh: "mesh" with no subnet takes the node's subnet and MTU from
// the mesh, so that one config serves every node; a subnet given is
// kept; the mesh not up is "try again later".
func TestCNIMesh(t *testing.T) {
	st := meshStore(t, plan.StateUp)
	c, cerr := ParseNetConf(conf(t, map[string]any{"mesh": "m1", "ipMasq": true, "isDefaultGateway": true, "ipam": map[string]any{"type": "host-local"}}), "")
	if cerr != nil {
		t.Fatal(cerr)
	}
	if c.Subnet.IsValid() {
		t.Fatalf("subnet %s before the mesh is read", c.Subnet)
	}
	if cerr := c.OnMesh(st); cerr != nil {
		t.Fatal(cerr)
	}
	if c.Subnet != netip.MustParsePrefix("10.244.1.0/24") || c.Gateway != netip.MustParseAddr("10.244.1.1") || c.MTU != 1450 ||
		len(c.Routes) != 1 || c.Routes[0] != (network.Route{Dst: netip.MustParsePrefix("0.0.0.0/0"), Via: netip.MustParseAddr("10.244.1.1")}) {
		t.Errorf("on the mesh: subnet %s gateway %s mtu %d routes %v", c.Subnet, c.Gateway, c.MTU, c.Routes)
	}
	if b := c.BridgeRecipe(); b.Mesh != "m1" {
		t.Errorf("bridge recipe mesh %q", b.Mesh)
	}
	// No ipam at all, the same.
	c, cerr = ParseNetConf(conf(t, map[string]any{"mesh": "m1", "ipam": nil}), "")
	if cerr != nil || c.OnMesh(st) != nil || c.Subnet != netip.MustParsePrefix("10.244.1.0/24") {
		t.Errorf("no ipam: %v, %+v", cerr, c)
	}
	// A subnet given is kept (the bridge refuses one outside the node's).
	c, _ = ParseNetConf(conf(t, map[string]any{"mesh": "m1", "ipam.subnet": "10.244.1.0/25"}), "")
	if cerr := c.OnMesh(st); cerr != nil || c.Subnet != netip.MustParsePrefix("10.244.1.0/25") {
		t.Errorf("a subnet given: %v, %s", cerr, c.Subnet)
	}
	// Not up, or not there: code 11.
	for _, st := range []*plan.Store{meshStore(t, plan.StateApplying), plan.NewStore(t.TempDir())} {
		c, _ = ParseNetConf(conf(t, map[string]any{"mesh": "m1", "ipam": nil}), "")
		if cerr := c.OnMesh(st); cerr == nil || cerr.Code != types.ErrTryAgainLater {
			t.Errorf("mesh not up: %v", cerr)
		}
	}
	if _, cerr := ParseNetConf(conf(t, map[string]any{"mesh": "bad name!"}), ""); cerr == nil || !strings.Contains(cerr.Msg, "mesh") {
		t.Errorf("a bad mesh name: %v", cerr)
	}
}

// TestPodOf: CNI_ARGS as containerd sends it names the pod; other keys
// are left alone; a pair without '=' is an error.
func TestPodOf(t *testing.T) {
	pod, cerr := podOf("IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;K8S_POD_INFRA_CONTAINER_ID=abc123;K8S_POD_UID=u-1")
	if cerr != nil || *pod != (plan.PodRef{Namespace: "default", Name: "web-0", UID: "u-1", InfraContainer: "abc123"}) {
		t.Errorf("containerd's CNI_ARGS: %+v, %v", pod, cerr)
	}
	if pod, cerr := podOf("IgnoreUnknown=1"); pod != nil || cerr != nil {
		t.Errorf("no pod: %+v, %v", pod, cerr)
	}
	if pod, cerr := podOf(""); pod != nil || cerr != nil {
		t.Errorf("empty: %+v, %v", pod, cerr)
	}
	if _, cerr := podOf("K8S_POD_NAME"); cerr == nil || cerr.Code != types.ErrInvalidEnvironmentVariables {
		t.Errorf("no '=': %v", cerr)
	}
}
