package main

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestLivePublishLoopback, with each firewall back end: a published port
// answers the host's own connection to 127.0.0.1:PORT (route_localnet on
// the bridge, the loopback source masqueraded); a container cannot reach
// what the host serves on 127.0.0.1 alone through the bridge, which a
// weakened guard shows it would; the setting is the bridge's, held by the
// attachments that publish and restored with the last of them: after
// detach the namespace (and route_localnet) is as after bridge up, after
// down as before it.
func TestLivePublishLoopback(t *testing.T) { forFirewalls(t, testLivePublishLoopback) }

func testLivePublishLoopback(t *testing.T, fw string) {
	if !isolateWorld(t) {
		return
	}
	routeLocalnet := func() string {
		b, err := os.ReadFile("/proc/sys/net/ipv4/conf/br0/route_localnet")
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	before := snapshot(t)
	mustPlumb(t, "bridge", "up", "br0", "--subnet", "10.88.0.0/24")
	up := snapshot(t)
	if got := routeLocalnet(); got != "0" {
		t.Fatalf("route_localnet after bridge up = %s; the bridge alone needs none", got)
	}

	web, other := startContainer(t), startContainer(t)
	mustPlumb(t, "bridge", "attach", "br0", "--pid", strconv.Itoa(web), "--publish", "8080:80")
	mustPlumb(t, "bridge", "attach", "br0", "--pid", strconv.Itoa(other), "--publish", "8081:80")
	if got := routeLocalnet(); got != "1" {
		t.Errorf("route_localnet with published ports = %s; want 1", got)
	}
	const page = "hello from the published container\n"
	httpd(t, web, page)
	for _, url := range []string{"http://127.0.0.1:8080/", "http://192.0.2.1:8080/"} {
		if got := fetch(t, url); got != page {
			t.Errorf("from the host, %s: %q", url, got)
		}
	}
	if got := fetch(t, "http://192.0.2.1:8080/", "--net=/run/netns/inet"); got != page {
		t.Errorf("from the internet: %q", got)
	}

	// A container that routes 127.0.0.0/8 to its gateway, where
	// route_localnet would deliver it to the host's loopback services.
	for _, c := range []string{"route del local 127.0.0.0/8 dev lo table local", "route del local 127.0.0.1 dev lo table local",
		"route add 127.0.0.0/8 via 10.88.0.1 dev eth0"} {
		sh(t, append([]string{"nsenter", "-t", strconv.Itoa(other), "-n", "ip"}, strings.Fields(c)...)...)
	}
	if got := udpFrom(t, other); got != "" {
		t.Errorf("a container reached the host's 127.0.0.1 through the bridge: %q", got)
	}
	// The same probe with the guard weakened arrives: the probe would see
	// a missing guard. Then the guard is as it was.
	if fw == "nftables" {
		sh(t, "nft", "flush", "chain", "ip", "plumb-br0", "input")
	} else {
		sh(t, "iptables", "-I", "INPUT", "-i", "br0", "-d", "127.0.0.0/8", "-j", "ACCEPT")
	}
	if got := udpFrom(t, other); got != "probe" {
		t.Errorf("without the guard, the probe did not arrive (%q): the test cannot tell", got)
	}
	if fw == "nftables" {
		sh(t, "nft", "add", "rule", "ip", "plumb-br0", "input", "iifname", "br0", "ip", "daddr", "127.0.0.0/8", "ct", "state", "invalid,new,untracked", "drop")
	} else {
		sh(t, "iptables", "-D", "INPUT", "-i", "br0", "-d", "127.0.0.0/8", "-j", "ACCEPT")
	}

	// route_localnet is the bridge's while a publisher is left.
	mustPlumb(t, "bridge", "detach", "br0", "--pid", strconv.Itoa(web))
	if got := routeLocalnet(); got != "1" {
		t.Errorf("route_localnet with one publisher left = %s; want 1", got)
	}
	if got := fetch(t, "http://127.0.0.1:8080/"); got == page {
		t.Error("127.0.0.1:8080 still answers after its container was detached")
	}
	mustPlumb(t, "bridge", "detach", "br0", "--pid", strconv.Itoa(other))
	if got := routeLocalnet(); got != "0" {
		t.Errorf("route_localnet after the last detach = %s; want 0, as found", got)
	}
	// The bridge keeps the IPv6 link-local address the kernel gave it
	// when its first port came up: the kernel's, not plumb's.
	if diff := cmp.Diff(withoutLinkLocal(up, "br0"), withoutLinkLocal(snapshot(t), "br0")); diff != "" {
		t.Errorf("after detach: namespace differs from after bridge up (-up +now):\n%s", diff)
	}
	mustPlumb(t, "bridge", "down", "br0")
	sameSnapshot(t, before, "after down")
}

// withoutLinkLocal is a snapshot less dev's IPv6 link-local address and
// the routes the kernel adds with it: a bridge gets them once a port has
// carried it up, and keeps them after its last port goes.
func withoutLinkLocal(snap, dev string) string {
	var out []string
	for _, l := range strings.Split(snap, "\n") {
		onDev := strings.Contains(l+" ", " dev="+dev+" ")
		if onDev && strings.Contains(l, " family=10 ") && (strings.Contains(l, " attr1=fe80:") || strings.Contains(l, " attr1=ff00::")) {
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

// udpFrom sends one datagram from the container to 127.0.0.1:9999 and
// returns what a listener of the host's own namespace there received, ""
// for nothing within a second.
func udpFrom(t *testing.T, pid int) string {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:9999")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	out, err := exec.Command("timeout", "5", "nsenter", "-t", strconv.Itoa(pid), "-n", "bash", "-c", "echo probe > /dev/udp/127.0.0.1/9999").CombinedOutput()
	if err != nil {
		t.Fatalf("sending from the container: %v\n%s", err, out)
	}
	buf := make([]byte, 64)
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	n, _, err := c.ReadFrom(buf)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(buf[:n]))
}
