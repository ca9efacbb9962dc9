package plantest

import (
	"os"
	"os/exec"
	"testing"

	"plumb/actions"
)

// DocVethCommands are the document's steps 3–11 with its variables: what
// `plumb veth up` plans, and what the engine's tests run as a plan.
var DocVethCommands = []string{
	"ip link add veth-host type veth peer name veth-container",
	"ip link set veth-container netns 4242",
	"ip addr add 10.200.0.1/24 dev veth-host",
	"ip link set veth-host up",
	"nsenter -t 4242 -n ip addr add 10.200.0.2/24 dev veth-container",
	"nsenter -t 4242 -n ip link set veth-container up",
	"nsenter -t 4242 -n ip link set lo up",
	"nsenter -t 4242 -n ip route add default via 10.200.0.1",
	"sysctl -w net.ipv4.ip_forward=1",
	"iptables -A FORWARD -i veth-host -o eth0 -j ACCEPT",
	"iptables -A FORWARD -i eth0 -o veth-host -m state --state RELATED,ESTABLISHED -j ACCEPT",
	"iptables -t nat -A POSTROUTING -s 10.200.0.0/24 -o eth0 -j MASQUERADE",
}

// SelfTarget is a namespace that exists for the whole test: our own
// process's.
func SelfTarget() actions.Netns { return actions.Netns{PID: os.Getpid()} }

// Containers starts n processes to stand for containers: distinct PIDs
// whose network namespace (the test's own) can be read, killed when the
// test ends.
func Containers(t *testing.T, n int) []actions.Netns {
	t.Helper()
	var out []actions.Netns
	for range n {
		cmd := exec.Command("sleep", "60")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		out = append(out, actions.Netns{PID: cmd.Process.Pid})
	}
	return out
}
