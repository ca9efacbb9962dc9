package container

import (
	"context"
	"net/netip"
	"reflect"
	"testing"

	"plumb/actions"
	"plumb/network"
	"plumb/plan"
	"plumb/plan/plantest"
	"plumb/rootfs"
)

// TestPlanLeavesRecipe: planning and checking the host read the recipe and
// never write it (a recipe is input; what planning finds goes into the
// plan): the uplink a veth finds from the default route, the directories
// of an overlay laid out by plumb, a container's root.
func TestPlanLeavesRecipe(t *testing.T) {
	st := plan.NewStore(t.TempDir())
	env := plan.Env{R: &plantest.FakeRunner{}, St: st}
	v := &network.Veth{Target: actions.Netns{PID: 4242}, HostIf: "veth-host", ContIf: "veth-container",
		Subnet: netip.MustParsePrefix("10.200.0.0/24"),
		HostIP: netip.MustParseAddr("10.200.0.1"), ContIP: netip.MustParseAddr("10.200.0.2")}
	layer := t.TempDir()
	for _, tt := range []struct {
		name string
		rc   plan.Recipe
	}{
		{"veth", v},
		{"overlay laid out", &rootfs.Overlay{Name: "web", Lower: []string{layer}, LaidOut: true}},
		{"container", &Container{Name: "c", Layers: []string{layer}, Cmd: []string{"true"}, Runtime: testRuntime}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := reflect.ValueOf(tt.rc).Elem().Interface()
			if _, err := tt.rc.Plan(context.Background(), env); err != nil {
				t.Fatal(err)
			}
			_, _ = tt.rc.Preflight(context.Background(), env) // its verdict is not the point
			if after := reflect.ValueOf(tt.rc).Elem().Interface(); !reflect.DeepEqual(before, after) {
				t.Errorf("planning changed the recipe:\n before %+v\n after  %+v", before, after)
			}
		})
	}
}
