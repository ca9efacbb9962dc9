package network

import (
	"context"
	"plumb/plan"
	"strings"
	"testing"
	"time"
)

// TestPortsLock: an attach that publishes a port takes the host's ports'
// lock, held from the check that the port is free until its journal is
// written, so that two attaches on one network (its lock shared) never
// both publish one port; one that publishes none does not wait for it.
func TestPortsLock(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	holder := plan.NewStore(dir)
	defer holder.Unlock()
	if err := holder.LockFor(ctx, 0, plan.NetworkLock("br0", true), plan.PortsLock()); err != nil {
		t.Fatal(err)
	}
	port := plan.Port{Host: 8080, Container: 80, Proto: "tcp"}
	for _, c := range []struct {
		name  string
		rc    plan.Locker
		waits bool
	}{
		{"attach publishing", &AttachCall{Bridge: "br0", List: []*Attach{{Publish: []plan.Port{port}}}}, true},
		{"attach publishing nothing", &AttachCall{Bridge: "br0", List: []*Attach{{}}}, false},
		{"republish", &Republish{Asked: &Attach{Publish: []plan.Port{port}}, Rec: withFacts(&plan.Record{Kind: "attachment", Name: "br0-10.88.0.2"}, plan.AttachmentFacts{Bridge: "br0", HostVeth: "veth0a580002", If: "eth0"})}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := plan.NewStore(dir)
			defer st.Unlock()
			err := st.LockFor(ctx, 30*time.Millisecond, c.rc.Locks()...)
			if waited := err != nil && strings.Contains(err.Error(), "the host's published ports"); waited != c.waits {
				t.Errorf("LockFor = %v; want waiting for the ports' lock %v", err, c.waits)
			}
		})
	}
}
