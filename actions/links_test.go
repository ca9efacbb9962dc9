package actions

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestReadLinks: links read in-process, by name, inside a container's
// namespace, are what `ip -j link show` lists there.
func TestReadLinks(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: it makes a network namespace")
	}
	sleep := exec.Command("unshare", "--net", "sh", "-c", "ip link add d0 mtu 1400 type veth peer name d1 && exec sleep 30")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sleep.Process.Kill(); _ = sleep.Wait() }()
	in := Netns{PID: sleep.Process.Pid}
	ctx := context.Background()
	names := []IfName{"lo", "d0", "d1", "eth9"}
	want := map[string]int{"lo": 65536, "d0": 1400, "d1": 1500}
	var got map[string]int
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var err error
		if got, err = FindLinks(ctx, Exec{}, in, names...); err != nil {
			t.Fatal(err)
		}
		if len(got) == 3 {
			break
		}
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("in-process (-want +got):\n%s", d)
	}
	byIP, err := FindLinks(ctx, Exec{ProbeByCommand: true}, in, names...)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, byIP); d != "" {
		t.Errorf("by ip -j link show (-want +got):\n%s", d)
	}
	for _, dev := range []IfName{"d0", "lo"} {
		mac, mtu, err := LinkMAC(ctx, Exec{}, in, dev)
		if err != nil {
			t.Fatal(err)
		}
		mac2, mtu2, err := LinkMAC(ctx, Exec{ProbeByCommand: true}, in, dev)
		if err != nil {
			t.Fatal(err)
		}
		if mac != mac2 || mtu != mtu2 || (dev == "d0" && len(mac) != 17) {
			t.Errorf("%s: in-process %s mtu %d; ip -j link show %s mtu %d", dev, mac, mtu, mac2, mtu2)
		}
	}
	if _, _, err := LinkMAC(ctx, Exec{}, in, "eth9"); err == nil {
		t.Error("the MAC of a link that is not there was read")
	}
}

// TestReadSysctl: a sysctl read from /proc/sys is what `sysctl -n` prints.
func TestReadSysctl(t *testing.T) {
	ctx := context.Background()
	for _, key := range []string{"net.ipv4.ip_forward", "net.ipv4.conf.all.forwarding", "kernel.ostype"} {
		got, err := SysctlGet(ctx, Exec{}, key)
		if err != nil {
			t.Fatal(err)
		}
		want, err := SysctlGet(ctx, Exec{ProbeByCommand: true}, key)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s: %q from /proc/sys; sysctl -n says %q", key, got, want)
		}
	}
	if _, err := SysctlGet(ctx, Exec{}, "net.ipv4.no_such_key"); err == nil {
		t.Error("a key that is not there read without an error")
	}
}

// TestReadDefaultRouteDev: the default route's interface read by netlink is
// the one `ip -j route show default` names, in a namespace with routes of
// several tables and metrics, and "" with no default route.
func TestReadDefaultRouteDev(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: it makes a network namespace")
	}
	for _, setup := range []string{
		"true",
		"ip link add d0 type dummy 2>/dev/null || ip link add d0 type veth peer name p0; ip link set d0 up; ip addr add 192.0.2.1/24 dev d0; ip route add default via 192.0.2.9 table 7",
		"ip link add d0 type veth peer name p0; ip link add d1 type veth peer name p1; ip link set d0 up; ip link set d1 up; ip addr add 192.0.2.1/24 dev d0; ip addr add 198.51.100.1/24 dev d1; ip route add default via 198.51.100.9 metric 5; ip route add default via 192.0.2.9 metric 10",
	} {
		out, err := exec.Command("unshare", "--net", "sh", "-c", "set -e; "+setup+"; "+os.Args[0]+" -test.v -test.run '^TestDefaultRouteHelper$'").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "default route dev") {
			t.Fatalf("%s: %v\n%s", setup, err, out)
		}
	}
}

// TestDefaultRouteHelper runs inside TestReadDefaultRouteDev's namespaces.
func TestDefaultRouteHelper(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	ctx := context.Background()
	got, err := DefaultRouteDev(ctx, Exec{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := DefaultRouteDev(ctx, Exec{ProbeByCommand: true})
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("netlink says %q; ip -j route show default says %q", got, want)
	}
	t.Logf("default route dev %q", got)
}
