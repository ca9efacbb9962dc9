package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestBadInput: every refused input across the commands exits 2 with one
// line, "plumb: error: " and a sentence naming the flag and the rule, and
// the stand-in tools first on PATH log that nothing ran.
func TestBadInput(t *testing.T) {
	if !guarded(t) {
		return
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	os.Mkdir(bin, 0o755)
	standin, _ := filepath.Abs("../../testdata/standin/standin.sh")
	for _, tool := range standins {
		os.Symlink(standin, filepath.Join(bin, tool))
	}
	log := filepath.Join(dir, "log")
	state := filepath.Join(dir, "state")
	env := []string{"PATH=" + bin + ":" + os.Getenv("PATH"), "STANDIN_LOG=" + log, "PLUMB_STATE_DIR=" + state, "PLUMB_ROOT=" + rootBeside(state),
		"XTABLES_LOCKFILE=" + filepath.Join(dir, "xtables.lock")}
	run := func(extraEnv []string, args ...string) (int, string) {
		cmd := exec.Command("plumb", args...)
		cmd.Env = append(append([]string{}, env...), extraEnv...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), stderr.String()
		}
		return 0, stderr.String()
	}
	// Objects the cases refer to: a bridge made without NAT, layers, a work
	// dir that is not empty, a file where a directory belongs.
	if code, out := run(nil, "bridge", "up", "br0", "--subnet", "10.88.0.0/24", "--no-nat"); code != 0 {
		t.Fatalf("bridge up: %s", out)
	}
	// An IPv6-only bridge, and a dual-stack one.
	if code, out := run(nil, "bridge", "up", "br6", "--subnet", "fd00:66::/64", "--no-nat"); code != 0 {
		t.Fatalf("bridge up br6: %s", out)
	}
	if code, out := run(nil, "bridge", "up", "br46", "--subnet", "fd00:46::/64", "--subnet", "10.46.0.0/24"); code != 0 {
		t.Fatalf("bridge up br46: %s", out)
	}
	for _, d := range []string{"l1", "l2", "full", "up"} {
		os.Mkdir(filepath.Join(dir, d), 0o755)
	}
	os.WriteFile(filepath.Join(dir, "full", "x"), nil, 0o644)
	os.WriteFile(filepath.Join(dir, "afile"), nil, 0o644)
	os.WriteFile(filepath.Join(dir, "targets"), []byte("# containers\n4242\nnetns c1\npid x\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "byip"), []byte("ip 10.88.0.9\n"), 0o644)
	os.Remove(log)
	l1, l2, w := dir+"/l1", dir+"/l2", dir+"/w"
	self := strconv.Itoa(os.Getpid()) // a process in plumb's own network namespace
	var many []string
	for i := 0; i < 501; i++ {
		many = append(many, "--lower", fmt.Sprintf("/layers/%d", i))
	}

	tests := []struct {
		env  []string
		args []string
		want string // regexp for the sentence after "plumb: error: "
	}{
		{nil, []string{"veth", "up", "--pid", "1", "--host-if", "veth-host-too-long"}, `^--host-if: interface name "veth-host-too-long" is 18 bytes; the kernel allows at most 15$`},
		{nil, []string{"veth", "up", "--pid", "1", "--host-if", "a/b"}, `^--host-if: interface name "a/b" must not contain '/' or ':'$`},
		{nil, []string{"veth", "up", "--pid", "1", "--cont-if", "a:b"}, `^--cont-if: interface name "a:b" must not contain '/' or ':'$`},
		{nil, []string{"veth", "up", "--pid", "1", "--cont-if", "a b"}, `^--cont-if: interface name "a b" must not contain whitespace$`},
		{nil, []string{"veth", "up", "--pid", "1", "--host-if", ".."}, `^--host-if: interface name ".." is not allowed$`},
		{nil, []string{"veth", "up", "--pid", "1", "--subnet", "10.200.0.0"}, `^--subnet: "10.200.0.0" is not a subnet in CIDR form`},
		{nil, []string{"veth", "up", "--pid", "1", "--subnet", "10.200.0.0/33"}, `^--subnet: "10.200.0.0/33" is not a subnet in CIDR form`},
		{nil, []string{"veth", "up", "--pid", "1", "--subnet", "fe80::/64"}, `^--subnet: fe80::/64 overlaps fe80::/10, the link-local block`},
		{nil, []string{"veth", "up", "--pid", "1", "--subnet", "ff02::/64"}, `^--subnet: ff02::/64 overlaps ff00::/8, the multicast block`},
		{nil, []string{"veth", "up", "--pid", "1", "--subnet", "fd00::/127"}, `^--subnet: fd00::/127 has no room for two hosts; use a prefix of /126 or shorter$`},
		{nil, []string{"veth", "up", "--pid", "1", "--subnet", "fd00::/64", "--ipv6-nat", "--no-nat"}, `^--ipv6-nat: --no-nat leaves out forwarding and NAT$`},
		{nil, []string{"veth", "up", "--pid", "1", "--ipv6-nat"}, `^--ipv6-nat: 10.200.0.0/24 is no IPv6 subnet to masquerade$`},
		{nil, []string{"veth", "up", "--pid", "1", "--subnet", "fd00::/64", "--cont-ip", "fd00::1"}, `^--cont-ip: fd00::1 is also the host's address`},
		{nil, []string{"bridge", "up", "br1", "--subnet", "fd00:89::/121"}, `^--subnet: fd00:89::/121 is a /121; a bridge's IPv6 subnet is /48 to /120 \(such as /64\)$`},
		{nil, []string{"bridge", "up", "br1", "--subnet", "fd00::/47"}, `^--subnet: fd00::/47 is a /47; a bridge's IPv6 subnet is /48 to /120`},
		{nil, []string{"bridge", "up", "br1", "--subnet", "10.89.0.0/24", "--subnet", "fe80::/64"}, `^--subnet: fe80::/64 overlaps fe80::/10, the link-local block`},
		{nil, []string{"bridge", "up", "br1", "--subnet", "::ffff:10.0.0.0/120"}, `^--subnet: ::ffff:10.0.0.0/120 is written in IPv6's IPv4-mapped form \(::ffff:0:0/96\), which a network cannot use; give the IPv4 subnet 10.0.0.0/24 instead$`},
		{nil, []string{"veth", "up", "--pid", "1", "--subnet", "::ffff:10.0.0.0/120"}, `^--subnet: ::ffff:10.0.0.0/120 is written in IPv6's IPv4-mapped form`},
		{nil, []string{"bridge", "up", "br1", "--subnet", "ff05::/64"}, `^--subnet: ff05::/64 overlaps ff00::/8, the multicast block`},
		{nil, []string{"bridge", "up", "br1", "--subnet", "fd00:66::/80"}, `^--subnet: fd00:66::/80 overlaps bridge/br6's subnet fd00:66::/64$`},
		{nil, []string{"bridge", "up", "br1", "--subnet", "10.89.0.0/24", "--subnet", "fd00:46::/96"}, `^--subnet: fd00:46::/96 overlaps bridge/br46's subnet fd00:46::/64$`},
		{nil, []string{"bridge", "up", "br1", "--subnet", "10.89.0.0/24", "--subnet", "10.90.0.0/24"}, `^--subnet: 10.89.0.0/24 and 10.90.0.0/24 are of one family; give one subnet of each$`},
		{nil, []string{"bridge", "up", "br1", "--subnet", "fd00:89::/64", "--subnet", "fd00:90::/64"}, `^--subnet: fd00:89::/64 and fd00:90::/64 are of one family`},
		{nil, []string{"bridge", "up", "br1", "--subnet", "10.89.0.0/24", "--subnet", "fd00:89::/64", "--subnet", "fd00:90::/64"}, `^--subnet: give one subnet, or one of each family \(IPv4 and IPv6\)$`},
		{nil, []string{"bridge", "up", "br1", "--subnet", "10.89.0.0/24", "--ipv6-nat"}, `^--ipv6-nat: the network has no IPv6 subnet to masquerade$`},
		{nil, []string{"bridge", "up", "br1", "--subnet", "fd00:89::/64", "--gateway", "10.89.0.1"}, `^--gateway: 10.89.0.1 is of neither subnet's family$`},
		{nil, []string{"bridge", "up", "br1", "--subnet", "fd00:89::/64", "--gateway", "fd00:89::ffff:ffff:ffff:ffff"}, `^--gateway: fd00:89::ffff:ffff:ffff:ffff is the last address of fd00:89::/64, which plumb does not give out$`},
		{nil, []string{"bridge", "up", "br1", "--subnet", "fd00:89::/64", "--mtu", "1000"}, `^--mtu: 1000 is not an MTU the kernel takes for IPv6 \(1280 to 65535\)$`},
		{nil, []string{"bridge", "attach", "br6", "--pid", "1", "--ip", "10.66.0.5"}, `^--ip: 10.66.0.5 is an IPv4 address and br6 has no IPv4 subnet \(its subnet is fd00:66::/64\)$`},
		{nil, []string{"bridge", "attach", "br0", "--pid", "1", "--ip", "fd00::5"}, `^--ip: fd00::5 is an IPv6 address and br0 has no IPv6 subnet`},
		{nil, []string{"bridge", "attach", "br46", "--pid", "1", "--ip", "fd00:46::1"}, `^--ip: fd00:46::1 is taken by the gateway$`},
		{nil, []string{"bridge", "attach", "br46", "--pid", "1", "--ip", "10.46.0.5", "--ip", "10.46.0.6"}, `^--ip: give at most one address of each family$`},
		{nil, []string{"bridge", "attach", "br46", "--pid", "1", "--ip", "fd00:66::5"}, `^--ip: fd00:66::5 is outside the subnet fd00:46::/64$`},
		{nil, []string{"bridge", "attach", "br46", "--pid", "1", "--ip", "fe80::5"}, `^--ip: fe80::5 is outside the subnet fd00:46::/64$`},
		{nil, []string{"bridge", "attach", "br46", "--pid", "1", "--ip", "fe80::5%eth0"}, `^--ip: fe80::5%eth0 has a zone`},
		{nil, []string{"bridge", "attach", "br46", "--pid", "1", "--publish", "127.0.0.1:8080:80"}, `^--publish: "127.0.0.1:8080:80": plumb publishes a port on all the host's addresses of a family; give 0.0.0.0 \(IPv4\) or \[::\] \(IPv6\), not 127.0.0.1$`},
		{nil, []string{"bridge", "attach", "br46", "--pid", "1", "--publish", "[::1]:8080:80"}, `^--publish: "\[::1\]:8080:80": plumb publishes a port on all`},
		{nil, []string{"veth", "up", "--pid", "1", "--subnet", "10.200.0.1/24"}, `^--subnet: 10.200.0.1/24 has host bits set; the subnet is 10.200.0.0/24$`},
		{nil, []string{"veth", "up", "--pid", "1", "--subnet", "10.200.0.0/31", "--host-ip", "10.200.0.0", "--cont-ip", "10.200.0.1"}, `^--subnet: 10.200.0.0/31 has no room for two hosts`},
		{nil, []string{"veth", "up", "--pid", "1", "--host-ip", "10.9.0.1"}, `^--host-ip: 10.9.0.1 is outside the subnet 10.200.0.0/24$`},
		{nil, []string{"veth", "up", "--pid", "1", "--host-ip", "10.200.0.0"}, `^--host-ip: 10.200.0.0 is the network address of 10.200.0.0/24`},
		{nil, []string{"veth", "up", "--pid", "1", "--cont-ip", "10.200.0.255"}, `^--cont-ip: 10.200.0.255 is the broadcast address of 10.200.0.0/24`},
		{nil, []string{"veth", "up", "--pid", "1", "--cont-ip", "10.200.0.1"}, `^--cont-ip: 10.200.0.1 is also the host's address`},
		{nil, []string{"veth", "up", "--pid", "1", "--host-ip", "10.200.0.1/24"}, `^--host-ip: "10.200.0.1/24" is not an IP address`},
		{nil, []string{"veth", "up", "--pid", "1", "--cont-ip", "2001:db8::2"}, `^--cont-ip: 2001:db8::2 is outside the subnet 10.200.0.0/24$`},
		{nil, []string{"veth", "up", "--pid", "1", "--cont-ip", "::ffff:10.200.0.2"}, `^--cont-ip: ::ffff:10.200.0.2 is an IPv4-mapped IPv6 address; give it as IPv4, 10.200.0.2$`},
		{nil, []string{"veth", "up", "--pid", "abc"}, `^--pid: "abc" is not a process ID`},
		{nil, []string{"veth", "up", "--pid", "0"}, `^--pid: "0" is not a process ID`},
		{nil, []string{"veth", "up", "--pid", "99999999", "--uplink", "eth0"}, `^--pid: no process with PID 99999999 is running$`},
		{nil, []string{"veth", "up", "--pid", "1", "--netns", "x"}, `^--pid and --netns can't be used together$`},
		{nil, []string{"veth", "up"}, `^missing flags: --pid=PID or --netns=NAME$`},
		{nil, []string{"veth", "up", "--netns", "a/b"}, `^--netns: network namespace name "a/b" must not contain '/'`},
		{nil, []string{"veth", "up", "--netns", "plumb-no-such-ns", "--uplink", "eth0"}, `^--netns: no network namespace named "plumb-no-such-ns"`},
		{nil, []string{"veth", "up", "--pid", "1", "-o", "yaml"}, `^--output must be one of "text","json","sh" but got "yaml"$`},
		{nil, []string{"veth", "up", "--pid", "1", "--cont-if", "veth-host"}, `^--cont-if: "veth-host" is also the host end's name`},
		{nil, []string{"veth", "up", "--pid", "1", "--uplink", "veth-host"}, `^--uplink: "veth-host" is one of the veth pair's own ends$`},
		{[]string{"PLUMB_STATE_DIR=/proc/plumb-state"}, []string{"veth", "up", "--pid", strconv.Itoa(os.Getpid()), "--uplink", "eth0"}, `^--state-dir: state directory /proc/plumb-state cannot be created: `},
		{nil, []string{"veth", "down"}, `^missing flags: --host-if=IF$`},
		{nil, []string{"overlay", "mount", "--lower", l1, "--upper", dir + "/up", "--merged", dir + "/m"}, `^--work: --upper and --work go together`},
		{nil, []string{"overlay", "mount", "--lower", l1, "--lower", l1 + "/", "--merged", dir + "/m"}, `^--lower: .*/l1 is given twice \(also as --lower\)`},
		{nil, []string{"overlay", "mount", "--lower", l1, "--upper", dir + "/up", "--work", dir + "/full", "--merged", dir + "/m"}, `^--work: .*/full is not empty; overlay needs an empty work directory$`},
		{nil, []string{"overlay", "mount", "--lower", dir + "/nope", "--upper", dir + "/up", "--work", w, "--merged", dir + "/m"}, `^--lower: layer .*/nope does not exist`},
		{nil, []string{"overlay", "mount", "--lower", dir + "/afile", "--upper", dir + "/up", "--work", w, "--merged", dir + "/m"}, `^--lower: layer .*/afile is not a directory$`},
		{nil, []string{"overlay", "mount", "--lower", l1, "--lower", dir + "/new\nline", "--merged", dir + "/m"}, `^--lower: path ".*\\nline" contains a newline or NUL`},
		{nil, []string{"overlay", "mount", "--lower", l1, "--lower", l2, "--merged", "/proc"}, `^--merged: /proc is already a mount point$`},
		{nil, []string{"overlay", "mount", "--lower", l1, "--merged", dir + "/m"}, `^--lower: a read-only overlay \(no --upper\) needs at least two lower layers$`},
		{nil, []string{"overlay", "mount", "--lower", l1, "--name", "a/b"}, `^--name: "a/b" is not a name plumb can use`},
		{nil, []string{"overlay", "mount", "--lower", l1, "--upper", dir + "/up", "--work", dir + "/up/w", "--merged", dir + "/m"}, `^--work: .*/up/w is inside the upper directory`},
		{nil, append(append([]string{"overlay", "mount"}, many...), "--merged", dir+"/m"), `^--lower: 501 lower layers given; the kernel stacks at most 500$`},
		{nil, []string{"overlay", "mount", "--lower", l1, "--upper", dir + "/up", "--work", "/proc/w", "--merged", dir + "/m"}, `^--work: /proc/w and the upper directory .* are on different file systems`},
		{nil, []string{"overlay", "unmount", "--merged", dir + "/m", "--name", "x"}, `^--merged and --name can't be used together$`},
		{nil, []string{"bridge", "up", "bridge-too-long-1", "--subnet", "10.89.0.0/24"}, `^<name>: interface name "bridge-too-long-1" is 17 bytes`},
		{nil, []string{"bridge", "up", "br1", "--subnet", "10.89.0.0/24", "--mtu", "20"}, `^--mtu: 20 is not an MTU the kernel takes for IPv4`},
		{nil, []string{"bridge", "up", "br1", "--subnet", "10.89.0.0/24", "--gateway", "10.90.0.1"}, `^--gateway: 10.90.0.1 is outside the subnet 10.89.0.0/24$`},
		{nil, []string{"bridge", "up", "br1"}, `^--subnet: give the network.s subnet \(--subnet CIDR\), or --mesh MESH to take this node.s subnet of a mesh$`},
		{nil, []string{"bridge", "up", "lo", "--subnet", "10.89.0.0/24"}, `^<name>: lo is the loopback interface$`},
		{nil, []string{"bridge", "attach", "br0", "--pid", "1", "--publish", "80"}, `^--publish: "80" is not HOST:CONTAINER`},
		{nil, []string{"bridge", "attach", "br0", "--pid", "1", "--publish", "80:80/sctp"}, `^--publish: "80:80/sctp": the protocol must be tcp or udp$`},
		{nil, []string{"bridge", "attach", "br0", "--pid", "1", "--ip", "10.99.0.2"}, `^--ip: 10.99.0.2 is outside the subnet 10.88.0.0/24$`},
		{nil, []string{"bridge", "attach", "br0", "--pid", "1", "--ip", "10.88.0.1"}, `^--ip: 10.88.0.1 is taken by the gateway$`},
		{nil, []string{"bridge", "attach", "br0", "--pid", "1", "--publish", "8080:80"}, `^--publish: bridge/br0 was made with --no-nat`},
		{nil, []string{"bridge", "attach", "nope", "--pid", "1"}, `^plumb keeps no bridge named nope`},
		{nil, []string{"bridge", "detach", "br0"}, `^give the container as --pid PID, --netns NAME or --ip IP \(repeat them, or --from FILE, for several\)$`},
		{nil, []string{"bridge", "attach", "br0"}, `^give the container as --pid PID or --netns NAME \(repeat them, or --from FILE, for several\)$`},
		{nil, []string{"bridge", "attach", "br0", "--pid", "1", "--pid", "2", "--ip", "10.88.0.5"}, `^--ip: an address is for one container; with several, each gets the next free one$`},
		{nil, []string{"bridge", "attach", "br0", "--pid", "1", "--pid", "1"}, `^--pid: pid 1 is given twice$`},
		{nil, []string{"bridge", "attach", "br0", "--pid", "1", "--netns", "c1", "--publish", "8080:80"}, `^--publish: a host port leads to one container`},
		{nil, []string{"bridge", "attach", "br0", "--from", dir + "/targets"}, `^--from: .*/targets:4: "x" is not a process ID; give a positive number such as \$CONTAINER_PID \(one container a line: a PID, "pid PID", "netns NAME"\)$`},
		{nil, []string{"bridge", "attach", "br0", "--from", dir + "/byip"}, `^--from: .*/byip:1: addresses are given out by attach; give containers`},
		{nil, []string{"bridge", "attach", "br0", "--from", dir + "/nope"}, `^--from: open .*/nope: no such file or directory$`},
		{nil, []string{"status", "-o", "yaml"}, `^--output must be one of`},
		{nil, []string{"inspect"}, `^expected "<name>"$`},
		{nil, []string{"frobnicate"}, `^unexpected argument frobnicate$`},
		{nil, []string{"--wait", "soon", "status"}, `^--wait: `},
		{nil, []string{"--log-format", "xml", "status"}, `^--log-format must be one of "console","json" but got "xml"$`},
		// Issue 12: names that are not what they seem.
		{nil, []string{"bridge", "up", "+", "--subnet", "10.60.0.0/24", "--dry-run"}, `^<name>: interface name "\+" must not contain '\+': iptables reads it as a wildcard`},
		{nil, []string{"bridge", "up", "br+", "--subnet", "10.60.0.0/24"}, `^<name>: interface name "br\+" must not contain '\+'`},
		{nil, []string{"bridge", "up", "x%d", "--subnet", "10.60.0.0/24"}, `^<name>: interface name "x%d" must not contain '%': the kernel reads it as a template`},
		{nil, []string{"veth", "up", "--pid", "1", "--host-if", "v%d"}, `^--host-if: interface name "v%d" must not contain '%'`},
		{nil, []string{"veth", "up", "--pid", "1", "--cont-if", "c+"}, `^--cont-if: interface name "c\+" must not contain '\+'`},
		{nil, []string{"veth", "up", "--pid", "1", "--uplink", "eth+"}, `^--uplink: interface name "eth\+" must not contain '\+'`},
		{nil, []string{"veth", "up", "--pid", "1", "--host-if=-batch"}, `^--host-if: interface name "-batch" must not start with '-'`},
		{nil, []string{"bridge", "up", "up", "--subnet", "10.60.0.0/24"}, `^<name>: interface name "up" is a word of the ip command`},
		{nil, []string{"bridge", "up", "type", "--subnet", "10.60.0.0/24"}, `^<name>: interface name "type" is a word of the ip command`},
		{nil, []string{"bridge", "up", "a", "--subnet", "10.60.0.0/24"}, `^<name>: interface name "a" is a word of the ip command, or the start of one`},
		{nil, []string{"bridge", "up", "br", "--subnet", "10.60.0.0/24"}, `^<name>: interface name "br" is a word of the ip command, or the start of one`},
		{nil, []string{"bridge", "attach", "br0", "--pid", "1", "--if", "dev"}, `^--if: interface name "dev" is a word of the ip command`},
		{nil, []string{"bridge", "attach", "br0", "--pid", "1", "--if", "e%d"}, `^--if: interface name "e%d" must not contain '%'`},
		{nil, []string{"bridge", "attach", "br0", "--netns=-x"}, `^--netns: network namespace name "-x" must not start with '-'`},
		{nil, []string{"bridge", "detach", "br0", "--netns", "a b"}, `^--netns: network namespace name "a b" must not contain`},
		{nil, []string{"bridge", "detach", "br0", "--ip", "nope"}, `^--ip: "nope" is not an IP address`},
		{nil, []string{"bridge", "down", "br+"}, `^<name>: interface name "br\+" must not contain '\+'`},
		{nil, []string{"veth", "down", "--host-if", "v%d"}, `^--host-if: interface name "v%d" must not contain '%'`},
		// Subnets that cannot carry a network.
		{nil, []string{"bridge", "up", "br1", "--subnet", "127.1.0.0/24"}, `^--subnet: 127.1.0.0/24 overlaps 127.0.0.0/8, the loopback block`},
		{nil, []string{"bridge", "up", "br1", "--subnet", "224.1.0.0/24"}, `^--subnet: 224.1.0.0/24 overlaps 224.0.0.0/4, the multicast block`},
		{nil, []string{"bridge", "up", "br1", "--subnet", "169.254.0.0/16"}, `^--subnet: 169.254.0.0/16 overlaps 169.254.0.0/16, the link-local block`},
		{nil, []string{"bridge", "up", "br1", "--subnet", "240.0.0.0/24"}, `^--subnet: 240.0.0.0/24 overlaps 240.0.0.0/4, the reserved block`},
		{nil, []string{"bridge", "up", "br1", "--subnet", "255.255.255.0/30"}, `^--subnet: 255.255.255.0/30 overlaps 240.0.0.0/4`},
		{nil, []string{"bridge", "up", "br1", "--subnet", "0.0.0.0/0", "--dry-run"}, `^--subnet: 0.0.0.0/0 overlaps 0.0.0.0/8`},
		{nil, []string{"bridge", "up", "br1", "--subnet", "0.0.0.0/8", "-o", "sh"}, `^--subnet: 0.0.0.0/8 overlaps 0.0.0.0/8`},
		{nil, []string{"veth", "up", "--pid", "1", "--subnet", "127.200.0.0/24", "--host-ip", "127.200.0.1", "--cont-ip", "127.200.0.2"}, `^--subnet: 127.200.0.0/24 overlaps 127.0.0.0/8`},
		{nil, []string{"veth", "up", "--pid", "1", "--subnet", "169.254.1.0/24", "--host-ip", "169.254.1.1", "--cont-ip", "169.254.1.2", "-o", "json"}, `^--subnet: 169.254.1.0/24 overlaps 169.254.0.0/16`},
		// plumb's own network namespace is not a container's.
		{nil, []string{"bridge", "attach", "br0", "--pid", self}, `^--pid: the network namespace of pid [0-9]+ is plumb's own, the host's; give a container's$`},
		{nil, []string{"bridge", "attach", "br0", "--netns", "c1", "--pid", self}, `^--pid: the network namespace of pid [0-9]+ is plumb's own`},
		{nil, []string{"veth", "up", "--pid", self, "--uplink", "eth0"}, `^--pid: the network namespace of pid [0-9]+ is plumb's own`},
		// Bytes the journal cannot keep.
		{nil, []string{"overlay", "mount", "--lower", l1, "--lower", dir + "/m\xff", "--merged", dir + "/m"}, `^argument 6, ".*m\\xff", is not valid UTF-8; plumb's journal could not record it faithfully$`},
		{nil, []string{"overlay", "mount", "--lower", l1, "--lower", l2, "--merged=/run/m\xff", "--dry-run"}, `^argument 7, "--merged=/run/m\\xff", is not valid UTF-8`},
		{nil, []string{"overlay", "unmount", "--merged", "/run/m\xfe"}, `^argument 4, "/run/m\\xfe", is not valid UTF-8`},
		{nil, []string{"run", "c1", "--layer", l1, "--dry-run", "--", "echo", "\xff"}, `^argument 8, "\\xff", is not valid UTF-8`},
		{nil, []string{"bridge", "attach", "br0", "--netns", "n\xff"}, `^argument 5, "n\\xff", is not valid UTF-8`},
		{nil, []string{"layer", "import", dir + "/\xff.tar", "--name", "x"}, `^argument 3, ".*\\xff.tar", is not valid UTF-8`},
		// Every flag and argument of run, stop, layer, down, inspect and check.
		{nil, []string{"run", "a/b", "--layer", l1, "--", "true"}, `^<name>: "a/b" is not a name plumb can use`},
		{nil, []string{"run", ".a", "--layer", l1, "--", "true"}, `^<name>: ".a" is not a container name: it begins with a letter or a digit, as Docker's do`},
		{nil, []string{"run", "--layer", l1, "--name=-a", "--", "true"}, `^<name>: "-a" is not a container name: it begins with a letter or a digit`},
		{nil, []string{"run", strings.Repeat("x", 59), "--layer", l1, "--", "true"}, `is too long for a container: at most 58 characters, as its network namespace is plumb-NAME`},
		{nil, []string{"run", "c1", "--layer", l1}, `^give the command to run after --, such as: plumb run web --layer busybox -- httpd -f -p 80$`},
		{nil, []string{"run", "c1", "--", "true"}, `^--image: give the root: --image REF \(from 'plumb image pull' or 'import'\) or --layer DIR$`},
		{nil, []string{"run", "c1", "--image", "busybox", "--layer", l1, "--", "true"}, `^--layer: give --image or --layer, not both$`},
		{nil, []string{"run", "c1", "--image", "busybox", "--", "true"}, `^--image: plumb keeps no image busybox \(`},
		// Images.
		{nil, []string{"image", "pull", "UPPER/case:1"}, `^<ref>: image reference "UPPER/case:1": `},
		{nil, []string{"image", "pull", "busybox:"}, `^<ref>: image reference "busybox:": `},
		{nil, []string{"image", "import", dir + "/nope.tar"}, `^<path>: stat .*/nope.tar: no such file or directory$`},
		{nil, []string{"image", "import", l1}, `^<path>: .* is a directory but not an OCI image layout: it has no index.json$`},
		{nil, []string{"image", "inspect", "nope"}, `^plumb keeps no image nope \(`},
		{nil, []string{"image", "rm", "nope"}, `^plumb keeps no image nope \(`},
		{nil, []string{"image", "rm", "nope", "--dry-run"}, `^plumb keeps no image nope \(`},
		{nil, []string{"layer", "unpack", "--diff-id", "sha256:00", dir + "/x"}, `^--pull: give the image as --pull REPO@sha256:DIGEST or --import FILE$`},
		{nil, []string{"layer", "unpack", "--pull", "example.test/a:1", "--diff-id", "sha256:00", dir + "/x"}, `^--pull: example.test/a:1 names no manifest digest`},
		{nil, []string{"layer", "unpack", "--pull", "a@sha256:00", "--import", "/x", "--diff-id", "sha256:00", dir + "/x"}, `^--pull: give --pull or --import, not both$`},
		{nil, []string{"layer", "unpack", "--import", dir + "/nope.tar", "--diff-id", "sha256:00", l1}, `^<dir>: .*/l1 exists: a layer is unpacked into a new directory`},
		{nil, []string{"run", "c1", "--layer", l1, "--ip", "10.88.0.9", "--", "true"}, `^--net: --ip and --publish need --net BRIDGE$`},
		{nil, []string{"run", "c1", "--layer", l1, "--net", "nope", "--", "true"}, `^plumb keeps no bridge named nope`},
		{nil, []string{"run", "c1", "--layer", l1, "--alias", "web", "--", "true"}, `^--alias: a name is answered on a bridge; give --net BRIDGE$`},
		{nil, []string{"run", "c1", "--layer", l1, "--net", "br0", "--alias", "a b", "--", "true"}, `^--alias: "a b" is not a name a resolver answers: only letters, digits`},
		{nil, []string{"bridge", "attach", "br0", "--pid", "1", "--alias=-web"}, `^--alias: "-web" is not a name a resolver answers: no part starts or ends with '-'$`},
		{nil, []string{"bridge", "attach", "br0", "--pid", "1", "--alias", "a..b"}, `^--alias: "a..b" is not a name a resolver answers: each dot-separated part`},
		{nil, []string{"run", "c1", "--layer", l1, "--net", "br0", "--publish", "1:2", "--", "true"}, `^--publish: bridge/br0 was made with --no-nat`},
		{nil, []string{"run", "c1", "--layer", l1, "--hostname", "a b", "--", "true"}, `^--hostname: "a b" is not a hostname`},
		{nil, []string{"run", "c1", "--layer", l1, "-e", "=v", "--", "true"}, `^--env: "=v": a variable needs a name`},
		{nil, []string{"run", "c1", "--layer", l1, "--env", "", "--", "true"}, `^--env: "": a variable needs a name`},
		{nil, []string{"run", "c1", "--layer", l1, "-w", "srv", "--", "true"}, `^--workdir: "srv" is not an absolute path`},
		{nil, []string{"run", "c1", "--layer", l1, "--workdir", "/a\nb", "--", "true"}, `^--workdir: "/a\\nb" holds a NUL or a newline$`},
		{nil, []string{"run", "c1", "--layer", l1, "-u", "1:2:3", "--", "true"}, `^--user: "1:2:3": give USER or USER:GROUP`},
		{nil, []string{"run", "c1", "--layer", l1, "--user", "99999999999", "--", "true"}, `^--user: "99999999999": user and group IDs are 0 to 2147483647$`},
		{nil, []string{"run", "c1", "--layer", l1, "--user", "nobody", "--", "true"}, `^--user: no user "nobody" in the container's /etc/passwd$`},
		{nil, []string{"stop", "c1", "--time", "soon"}, `^--time: `},
		{nil, []string{"layer", "import", dir + "/nope.tar", "--name", "x"}, `^<file>: .*/nope.tar is not a tarball that can be read$`},
		{nil, []string{"layer", "import", dir + "/afile", "--name", "a b"}, `^--name: "a b" is not a name plumb can use`},
		{nil, []string{"layer", "import", dir + "/afile"}, `^missing flags: --name=STRING$`},
		{nil, []string{"overlay", "unmount", "--name", "../x"}, `^--name: "../x" is not a name plumb can use`},
		{nil, []string{"recover", "--dry-run", "--bogus"}, `^unknown flag --bogus`},
		{nil, []string{"check", "a", "b"}, `^unexpected argument b$`},
	}
	if len(tests) < 105 {
		t.Fatalf("only %d bad inputs; issue 12 asks for at least 40 more than the 65 before it", len(tests))
	}
	for i, tt := range tests {
		name := fmt.Sprintf("%02d %s", i+1, strings.Join(tt.args[:min(len(tt.args), 4)], " "))
		t.Run(name, func(t *testing.T) {
			code, stderr := run(tt.env, tt.args...)
			lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
			if code != 2 {
				t.Errorf("exit %d, want 2; stderr:\n%s", code, stderr)
			}
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "plumb: error: ") {
				t.Errorf("want one line \"plumb: error: ...\", got:\n%s", stderr)
			} else if !regexp.MustCompile(tt.want).MatchString(strings.TrimPrefix(lines[0], "plumb: error: ")) {
				t.Errorf("stderr %q does not match %q", lines[0], tt.want)
			}
			if data, err := os.ReadFile(log); err == nil {
				t.Errorf("stand-in tools ran:\n%s", data)
				os.Remove(log)
			}
		})
	}
	t.Logf("%d bad inputs refused with exit 2, one line each, nothing run", len(tests))
}
