package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// meshNode is one node of the live mesh tests: a network namespace on the
// underlay bridge ub0, with its own state directory.
type meshNode struct {
	n     int
	ns    string // /run/netns/nN
	state string
	pods  []int // container PIDs, attached to cni0 as 10.244.N.2, .3
}

func (m *meshNode) ip() string     { return fmt.Sprintf("192.168.77.%d", m.n) }
func (m *meshNode) subnet() string { return fmt.Sprintf("10.244.%d.0/24", m.n) }
func (m *meshNode) pod(i int) string {
	return fmt.Sprintf("10.244.%d.%d", m.n, i+2)
}

// run runs argv inside the node's namespace.
func (m *meshNode) run(t *testing.T, argv ...string) string {
	t.Helper()
	return sh(t, append([]string{"ip", "netns", "exec", filepath.Base(m.ns)}, argv...)...)
}

// plumb runs plumb on the node.
func (m *meshNode) plumb(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", filepath.Base(m.ns), "plumb"}, args...)...)
	cmd.Env = append(os.Environ(), stateEnv(m.state)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (m *meshNode) mustPlumb(t *testing.T, args ...string) string {
	t.Helper()
	out, err := m.plumb(t, args...)
	if err != nil {
		t.Fatalf("node %d: plumb %s: %v\n%s", m.n, strings.Join(args, " "), err, out)
	}
	return out
}

// meshConf is one CNI config for every node of the mesh: no subnet, the
// node's comes from its mesh, as flannel's cni0 takes its node's.
const meshConf = `{"cniVersion": "1.1.0", "name": "k8s-pod-network", "type": "plumb", "bridge": "cni0", "mesh": "m1",
  "isGateway": true, "isDefaultGateway": true, "ipMasq": true, "ipam": {"type": "host-local"}}`

// cni runs plumb as a CNI plugin on the node, as containerd's CRI runs it
// for a pod of kubelet's: CNI_ARGS names the pod. It returns the plugin's
// stdout and its error.
func (m *meshNode) cni(t *testing.T, command, id, netns, pod string) (string, error) {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", filepath.Base(m.ns), "plumb")
	cmd.Env = append(os.Environ(), stateEnv(m.state)...)
	cmd.Env = append(cmd.Env, "CNI_COMMAND="+command, "CNI_CONTAINERID="+id, "CNI_NETNS="+netns, "CNI_IFNAME=eth0", "CNI_PATH=/nonexistent",
		"CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME="+pod+";K8S_POD_INFRA_CONTAINER_ID="+id+";K8S_POD_UID=uid-"+pod)
	cmd.Stdin = strings.NewReader(meshConf)
	out, err := cmd.Output()
	return string(out), err
}

// meshWorld makes the underlay: a bridge ub0 in the test's namespace
// (192.168.77.254, the nodes' default route, standing in for what lies
// beyond the cluster) and n nodes, each on it by a veth whose node end is
// eth0 192.168.77.N/24.
func meshWorld(t *testing.T, n int) []*meshNode {
	t.Helper()
	run := here(t)
	for _, c := range []string{
		"sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0",
		"ip link set lo up",
		"ip link add ub0 type bridge",
		"ip addr add 192.168.77.254/24 dev ub0",
		"ip link set ub0 up",
	} {
		run(strings.Fields(c)...)
	}
	var nodes []*meshNode
	for i := 1; i <= n; i++ {
		m := &meshNode{n: i, ns: fmt.Sprintf("/run/netns/n%d", i), state: fmt.Sprintf("/run/n%d-state", i)}
		name := filepath.Base(m.ns)
		for _, c := range []string{
			"ip netns add " + name,
			fmt.Sprintf("ip link add u%d type veth peer name eth0 netns %s", i, name),
			fmt.Sprintf("ip link set u%d master ub0", i),
			fmt.Sprintf("ip link set u%d up", i),
			fmt.Sprintf("ip -n %s addr add %s/24 dev eth0", name, m.ip()),
			fmt.Sprintf("ip -n %s link set eth0 up", name),
			fmt.Sprintf("ip -n %s link set lo up", name),
			fmt.Sprintf("ip -n %s route add default via 192.168.77.254", name),
			fmt.Sprintf("ip netns exec %s sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0", name),
			// Rules of someone else's, which plumb leaves alone.
			fmt.Sprintf("ip netns exec %s iptables -A FORWARD -i keep0 -j DROP", name),
			fmt.Sprintf("ip netns exec %s iptables -t nat -A POSTROUTING -o keep0 -j RETURN", name),
		} {
			run(strings.Fields(c)...)
		}
		nodes = append(nodes, m)
	}
	return nodes
}

// nodeList is kubectl's form of a node list (a "List" of "Node"s) of
// nodes, as `kubectl get nodes -o json` prints it.
func nodeList(t *testing.T, dir string, nodes []*meshNode, ip func(*meshNode) string) string {
	t.Helper()
	var items []string
	for _, m := range nodes {
		items = append(items, fmt.Sprintf(`{"apiVersion":"v1","kind":"Node","metadata":{"name":"node-%d"},"spec":{"podCIDR":%q,"podCIDRs":[%q]},"status":{"addresses":[{"type":"InternalIP","address":%q},{"type":"Hostname","address":"node-%d"}]}}`,
			m.n, m.subnet(), m.subnet(), ip(m), m.n))
	}
	f := filepath.Join(dir, fmt.Sprintf("nodes-%d.json", time.Now().UnixNano()))
	body := `{"apiVersion":"v1","kind":"List","items":[` + strings.Join(items, ",") + `],"metadata":{"resourceVersion":""}}`
	if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// dialPod connects from container pid to a listener in container to, at
// addr, and returns what the listener saw ("IP said hello").
func dialPod(t *testing.T, pid, to int, addr string) string {
	t.Helper()
	l := listenIn(t, fmt.Sprintf("/proc/%d/ns/net", to), addr)
	defer l.Close()
	return dialFrom(t, pid, l, addr)
}

// sendBig sends 200 kB, many packets of the mesh's MTU, from container
// pid to a listener in container to at addr, and returns what the
// listener saw: "IP sent N bytes".
func sendBig(t *testing.T, pid, to int, addr string) string {
	t.Helper()
	l := listenIn(t, fmt.Sprintf("/proc/%d/ns/net", to), addr)
	defer l.Close()
	got := make(chan string, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			got <- "accept: " + err.Error()
			return
		}
		defer c.Close()
		n, _ := io.Copy(io.Discard, c)
		got <- fmt.Sprintf("%s sent %d bytes", c.RemoteAddr().(*net.TCPAddr).IP, n)
	}()
	host, port, _ := net.SplitHostPort(addr)
	script := fmt.Sprintf("exec 3<>/dev/tcp/%s/%s && head -c 200000 /dev/zero >&3", host, port)
	if out, err := exec.Command("timeout", "10", "nsenter", "-t", strconv.Itoa(pid), "-n", "bash", "-c", script).CombinedOutput(); err != nil {
		t.Fatalf("sending from the container to %s: %v\n%s", addr, err, out)
	}
	select {
	case s := <-got:
		return s
	case <-time.After(10 * time.Second):
		t.Fatalf("nothing arrived at %s", addr)
	}
	return ""
}

// unreachable reports whether a connection from pid to addr (nothing
// listens there: a reachable pod refuses it at once) times out.
func unreachable(pid int, addr string) bool {
	host, port, _ := net.SplitHostPort(addr)
	script := fmt.Sprintf("exec 3<>/dev/tcp/%s/%s", host, port)
	out, _ := exec.Command("timeout", "2", "nsenter", "-t", strconv.Itoa(pid), "-n", "bash", "-c", script).CombinedOutput()
	return !strings.Contains(string(out), "refused")
}

// TestLiveMesh, with each firewall back end: three nodes, each with a mesh
// m1 and a bridge cni0 on it with two pods (node 3's added by CNI, as
// containerd adds them), synced from kubectl's node list. A pod sends
// 200 kB to a pod of every other node, which sees its own address; what
// leaves the cluster is masqueraded to the node's address; the links'
// MTU is the underlay's minus 50. A node dropped from the list is
// unreachable and leaves no entry behind; put back, it is reachable. A
// node that moves is one forwarding entry replaced. Down leaves every
// node as it was.
func TestLiveMesh(t *testing.T) { forFirewalls(t, testLiveMesh) }

func testLiveMesh(t *testing.T, fw string) {
	if !isolate(t) {
		return
	}
	nodes := meshWorld(t, 3)
	before := map[int]string{}
	for _, m := range nodes {
		before[m.n] = netState(t, m.ns)
	}
	dir := t.TempDir()
	ownIP := func(m *meshNode) string { return m.ip() }
	list := nodeList(t, dir, nodes, ownIP)
	for _, m := range nodes {
		if m.n == 3 {
			// Before its mesh, the plugin says it is not ready (STATUS)
			// and asks to try again later (ADD).
			if _, err := m.cni(t, "STATUS", "", "", ""); err == nil {
				t.Error("STATUS with the mesh not up: ready")
			}
			if out, err := m.cni(t, "ADD", "early", "/proc/self/ns/net", "early"); err == nil || !strings.Contains(out, `"code": 11`) {
				t.Errorf("ADD with the mesh not up: %v\n%s", err, out)
			}
		}
		if m.n == 3 {
			// A host whose INPUT drops by policy hears of VXLAN's port.
			m.run(t, "iptables", "-P", "INPUT", "DROP")
		}
		out := m.mustPlumb(t, "mesh", "up", "m1", "--vni", "42", "--cluster", "10.244.0.0/16", "--subnet", m.subnet(), "--local", m.ip())
		if warned := strings.Contains(out, "VXLAN's UDP port 8472 must reach this host"); warned != (m.n == 3) {
			t.Errorf("node %d: mesh up with INPUT policy %v warned %v:\n%s", m.n, map[bool]string{true: "DROP", false: "ACCEPT"}[m.n == 3], warned, out)
		}
		if m.n == 3 {
			m.run(t, "iptables", "-P", "INPUT", "ACCEPT")
		}
		if m.n == 3 {
			// Node 3's pods come by CNI, as containerd adds them: the
			// first ADD makes cni0 on the mesh.
			if _, err := m.cni(t, "STATUS", "", "", ""); err != nil {
				t.Errorf("STATUS with the mesh up: %v", err)
			}
			for i := 0; i < 2; i++ {
				pid := containerIn(t, m.ns)
				m.pods = append(m.pods, pid)
				out, err := m.cni(t, "ADD", fmt.Sprintf("sandbox%d", i), fmt.Sprintf("/proc/%d/ns/net", pid), fmt.Sprintf("web-%d", i))
				if err != nil || !strings.Contains(out, `"address": "`+m.pod(i)+`/24"`) || !strings.Contains(out, `"mtu": 1450`) {
					t.Fatalf("node 3: CNI ADD: %v\n%s", err, out)
				}
			}
			out := m.mustPlumb(t, "inspect", "bridge/cni0")
			if !strings.Contains(out, "(mesh m1)") || !strings.Contains(out, "bridge cni0 "+m.subnet()) {
				t.Errorf("node 3: the bridge CNI made:\n%s", out)
			}
		} else {
			out := m.mustPlumb(t, "bridge", "up", "cni0", "--mesh", "m1")
			if !strings.Contains(out, "bridge cni0 "+m.subnet()) {
				t.Fatalf("node %d: bridge up --mesh: %s", m.n, out)
			}
			for i := 0; i < 2; i++ {
				pid := containerIn(t, m.ns)
				m.pods = append(m.pods, pid)
				m.mustPlumb(t, "bridge", "attach", "cni0", "--pid", strconv.Itoa(pid))
			}
		}
		out = m.mustPlumb(t, "mesh", "sync", "m1", "--nodes", list)
		if !strings.Contains(out, "peers +2") || !strings.Contains(out, "generation 1") {
			t.Errorf("node %d: sync says %q", m.n, out)
		}
		if out := m.mustPlumb(t, "mesh", "sync", "m1", "--nodes", list); !strings.Contains(out, "nothing to do") {
			t.Errorf("node %d: a second sync says %q", m.n, out)
		}
	}
	// Every ordered pair of nodes, pod to pod, with the client's own address.
	for _, a := range nodes {
		for _, b := range nodes {
			if a == b {
				continue
			}
			want := a.pod(0) + " sent 200000 bytes"
			if got := sendBig(t, a.pods[0], b.pods[1], b.pod(1)+":9000"); got != want {
				t.Errorf("pod %s to %s: %q, want %q", a.pod(0), b.pod(1), got, want)
			}
		}
	}
	// Leaving the cluster: masqueraded to the node's underlay address.
	for _, m := range nodes {
		l := listenIn(t, "/proc/self/ns/net", "192.168.77.254:9001")
		if got, want := dialFrom(t, m.pods[1], l, "192.168.77.254:9001"), m.ip()+" said hello"; got != want {
			t.Errorf("node %d's pod to beyond the cluster: %q, want %q", m.n, got, want)
		}
		l.Close()
	}
	// MTU: the underlay's 1500 minus 50 on the mesh, the bridge and the
	// pods' ends; a DF datagram that fills it passes to another node, one
	// byte more does not.
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	for _, dev := range []string{"m1", "cni0"} {
		if out := n1.run(t, "ip", "-o", "link", "show", "dev", dev); !strings.Contains(out, "mtu 1450 ") {
			t.Errorf("%s: %s", dev, out)
		}
	}
	if out := sh(t, "nsenter", "-t", strconv.Itoa(n1.pods[0]), "-n", "ip", "-o", "link", "show", "dev", "eth0"); !strings.Contains(out, "mtu 1450 ") {
		t.Errorf("pod eth0: %s", out)
	}
	if _, err := exec.LookPath("ping"); err == nil {
		ping := func(size int) error {
			return exec.Command("nsenter", "-t", strconv.Itoa(n1.pods[0]), "-n", "ping", "-c1", "-W2", "-M", "do", "-s", strconv.Itoa(size), n2.pod(0)).Run()
		}
		if err := ping(1450 - 28); err != nil {
			t.Errorf("a DF ping of 1450 bytes to another node: %v", err)
		}
		if err := ping(1450 - 27); err == nil {
			t.Error("a DF ping of 1451 bytes crossed a 1450 mesh")
		}
	}
	if out := n1.mustPlumb(t, "check"); !strings.Contains(out, "ok    mesh/m1: 4 steps in effect; peer set generation 1, 2 peers") {
		t.Errorf("check:\n%s", out)
	}
	// A peer's route deleted by hand is drift, named with the command
	// that puts it back.
	n1.run(t, "ip", "route", "del", "10.244.2.0/24", "dev", "m1")
	if out, err := n1.plumb(t, "check", "mesh/m1"); err == nil || !strings.Contains(out, "ip route add 10.244.2.0/24 via 10.244.2.0 dev m1 onlink") {
		t.Errorf("check with a peer's route gone: %v\n%s", err, out)
	}
	n1.run(t, "ip", "route", "add", "10.244.2.0/24", "via", "10.244.2.0", "dev", "m1", "onlink")

	// n3 leaves the list: unreachable from n1, and no entry of it left.
	list12 := nodeList(t, dir, nodes[:2], ownIP)
	if out := n1.mustPlumb(t, "mesh", "sync", "m1", "--nodes", list12); !strings.Contains(out, "peers −1") {
		t.Errorf("dropping n3: %s", out)
	}
	if !unreachable(n1.pods[0], n3.pod(0)+":9002") {
		t.Error("n3's pod is still reachable from n1 after n3 left the list")
	}
	for _, c := range [][]string{{"ip", "route", "show", "dev", "m1"}, {"ip", "neigh", "show", "dev", "m1"}, {"bridge", "fdb", "show", "dev", "m1"}} {
		if out := n1.run(t, c...); strings.Contains(out, "10.244.3.") || strings.Contains(out, "192.168.77.3") || strings.Contains(out, "0a:f4:03:00") {
			t.Errorf("%s still names n3:\n%s", strings.Join(c, " "), out)
		}
	}
	n1.mustPlumb(t, "mesh", "sync", "m1", "--nodes", list)
	if got := dialPod(t, n1.pods[0], n3.pods[0], n3.pod(0)+":9003"); got != n1.pod(0)+" said hello" {
		t.Errorf("n3 back in the list: %q", got)
	}

	// n2 moves to another underlay address: on n1 and n3, one fdb replace.
	n2.run(t, "ip", "addr", "add", "192.168.77.12/24", "dev", "eth0")
	moved := nodeList(t, dir, nodes, func(m *meshNode) string {
		if m == n2 {
			return "192.168.77.12"
		}
		return m.ip()
	})
	for _, m := range []*meshNode{n1, n3} {
		plan := m.mustPlumb(t, "mesh", "sync", "m1", "--nodes", moved, "--dry-run")
		if want := "bridge -batch - <<'EOF'\nfdb replace 02:50:0a:f4:02:00 dev m1 dst 192.168.77.12\nEOF\n"; plan != want {
			t.Errorf("node %d: the plan of a move:\n%s\nwant %q", m.n, plan, want)
		}
		m.mustPlumb(t, "mesh", "sync", "m1", "--nodes", moved)
	}
	if out := n1.run(t, "bridge", "fdb", "show", "dev", "m1"); !strings.Contains(out, "02:50:0a:f4:02:00 dst 192.168.77.12 ") {
		t.Errorf("fdb after the move:\n%s", out)
	}
	// n1's packets for n2 now go to .12 (n2 keeps sending from .2, its
	// mesh's --local: a node that really moves makes its mesh again).
	if got := dialPod(t, n1.pods[1], n2.pods[0], n2.pod(0)+":9004"); got != n1.pod(1)+" said hello" {
		t.Errorf("to n2 after its move: %q", got)
	}
	n2.run(t, "ip", "addr", "del", "192.168.77.12/24", "dev", "eth0")

	// A neighbour someone else wrote where a new peer's would go: the
	// sync is refused before anything runs, and the neighbour stays.
	n1.run(t, "ip", "neigh", "add", "10.244.9.0", "lladdr", "02:aa:bb:cc:dd:ee", "dev", "m1", "nud", "permanent")
	if out, err := n1.plumb(t, "mesh", "peer", "add", "m1", "--node", "192.168.77.9", "--subnet", "10.244.9.0/24"); err == nil || !strings.Contains(out, "a neighbour 10.244.9.0") {
		t.Errorf("peer add over a foreign neighbour: %v\n%s", err, out)
	}
	if out := n1.run(t, "ip", "neigh", "show", "dev", "m1"); !strings.Contains(out, "10.244.9.0 lladdr 02:aa:bb:cc:dd:ee PERMANENT") {
		t.Errorf("the foreign neighbour is gone:\n%s", out)
	}
	n1.run(t, "ip", "neigh", "del", "10.244.9.0", "dev", "m1")

	// A runbook (-o sh) of a sync whose last batch fails half-way (a
	// blackhole route someone else made stands where a new peer's goes)
	// rolls back what it did, that batch's half included, and leaves the
	// blackhole alone.
	entries := func() string {
		return n1.run(t, "ip", "route", "show", "dev", "m1") + n1.run(t, "ip", "neigh", "show", "dev", "m1") + n1.run(t, "bridge", "fdb", "show", "dev", "m1")
	}
	was := entries()
	var items []string
	for _, m := range nodes {
		items = append(items, fmt.Sprintf(`{"ip":%q,"subnet":%q}`, m.ip(), m.subnet()))
	}
	items = append(items, `{"ip":"192.168.77.30","subnet":"10.244.30.0/24"}`, `{"ip":"192.168.77.31","subnet":"10.244.31.0/24"}`)
	more := filepath.Join(dir, "more.json")
	write(t, more, "["+strings.Join(items, ",")+"]")
	runbook := filepath.Join(dir, "sync.sh")
	write(t, runbook, n1.mustPlumb(t, "mesh", "sync", "m1", "--nodes", more, "-o", "sh"))
	n1.run(t, "ip", "route", "add", "blackhole", "10.244.31.0/24")
	if out, err := exec.Command("ip", "netns", "exec", "n1", "bash", runbook).CombinedOutput(); err == nil || !strings.Contains(string(out), "rolling back") {
		t.Errorf("the runbook of a failing sync: %v\n%s", err, out)
	}
	if now := entries(); now != was {
		t.Errorf("after the runbook's rollback m1's entries differ:\n%s\nwant:\n%s", now, was)
	}
	if out := n1.run(t, "ip", "route", "show", "10.244.31.0/24"); !strings.Contains(out, "blackhole") {
		t.Errorf("the blackhole route is gone: %q", out)
	}
	n1.run(t, "ip", "route", "del", "blackhole", "10.244.31.0/24")
	// Peer adds at once each add their own: they wait for the mesh's lock
	// and change the set as it is then.
	var wg sync.WaitGroup
	for i := 20; i < 25; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if out, err := n1.plumb(t, "mesh", "peer", "add", "m1", "--node", fmt.Sprintf("192.168.77.%d", i), "--subnet", fmt.Sprintf("10.244.%d.0/24", i)); err != nil {
				t.Errorf("peer add %d: %v\n%s", i, err, out)
			}
		}()
	}
	wg.Wait()
	if out := n1.mustPlumb(t, "check", "mesh/m1"); !strings.Contains(out, "peer set generation 9, 7 peers") {
		t.Errorf("after five peer adds at once:\n%s", out)
	}
	for i := 20; i < 25; i++ {
		n1.mustPlumb(t, "mesh", "peer", "rm", "m1", "--subnet", fmt.Sprintf("10.244.%d.0/24", i))
	}

	// Node 3's pods: inspect names the pod; containerd deletes each twice,
	// at stopp with the netns, at rmp without; both succeed.
	var ids []string
	for _, l := range strings.Split(n3.mustPlumb(t, "status"), "\n") {
		if strings.HasPrefix(l, "attachment ") {
			ids = append(ids, strings.Fields(l)[1])
		}
	}
	if len(ids) != 2 {
		t.Fatalf("node 3 keeps attachments %v", ids)
	}
	if out := n3.mustPlumb(t, "inspect", "attachment/"+ids[0]); !strings.Contains(out, "pod default/web-0 (uid uid-web-0, sandbox sandbox0)") {
		t.Errorf("inspect of a CNI attachment does not name its pod:\n%s", out)
	}
	for i, pid := range n3.pods {
		for _, netns := range []string{fmt.Sprintf("/proc/%d/ns/net", pid), ""} {
			if out, err := n3.cni(t, "DEL", fmt.Sprintf("sandbox%d", i), netns, fmt.Sprintf("web-%d", i)); err != nil {
				t.Errorf("node 3: DEL (netns %q): %v\n%s", netns, err, out)
			}
		}
	}

	// Down: refused while the bridge is on the mesh, then everything goes.
	for _, m := range nodes {
		if out, err := m.plumb(t, "mesh", "down", "m1"); err == nil || !strings.Contains(out, "carries bridge cni0") {
			t.Errorf("node %d: mesh down with cni0 on it: %v\n%s", m.n, err, out)
		}
		m.mustPlumb(t, "bridge", "down", "cni0", "--force")
		m.mustPlumb(t, "mesh", "down", "m1")
		if diff := cmp.Diff(before[m.n], netState(t, m.ns)); diff != "" {
			t.Errorf("node %d after down (-before +after):\n%s", m.n, diff)
		}
	}
}
