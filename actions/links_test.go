package actions

import (
	"context"
	"os"
	"os/exec"
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
