package main

import (
	"strconv"
	"strings"
	"testing"
)

// TestLiveDualStack, with each firewall back end: a bridge with an IPv4 and
// an IPv6 subnet. Two containers reach each other over IPv6 (TCP), reach
// the stand-in internet over IPv6 with their own addresses (routed, the
// default) and, after the bridge is made again with --ipv6-nat, with the
// uplink's (masqueraded); a published port answers over IPv6 from outside
// and IPv4 still works beside it. Down leaves links, addresses, routes,
// both rule sets and both forwarding settings as they were.
func TestLiveDualStack(t *testing.T) { forFirewalls(t, testLiveDualStack) }

func testLiveDualStack(t *testing.T, fw string) {
	if !isolateWorld(t) {
		return
	}
	before := snapshot(t)
	const page = "hello over IPv6\n"
	byPID := func(pid int) []string { return []string{"-t", strconv.Itoa(pid), "-n"} }
	for _, nat6 := range []bool{false, true} {
		up := []string{"bridge", "up", "br0", "--subnet", "10.88.0.0/24", "--subnet", "fd00:88::/64"}
		if nat6 {
			up = append(up, "--ipv6-nat")
		}
		out := mustPlumb(t, up...)
		if want := map[bool]string{false: "IPv6 routed", true: "IPv6 masqueraded"}[nat6]; !strings.Contains(out, want) {
			t.Errorf("bridge up says %q; want %q", out, want)
		}
		if fw == "nftables" && !strings.Contains(sh(t, "nft", "list", "tables"), "table ip6 plumb-br0") {
			t.Error("no table ip6 plumb-br0")
		}
		server, client := startContainer(t), startContainer(t)
		out = mustPlumb(t, "bridge", "attach", "br0", "--pid", strconv.Itoa(server), "--publish", "8080:80")
		if !strings.Contains(out, "as 10.88.0.2 and fd00:88::2") {
			t.Fatalf("attach: %s", out)
		}
		mustPlumb(t, "bridge", "attach", "br0", "--pid", strconv.Itoa(client))
		addrs := sh(t, "nsenter", "-t", strconv.Itoa(client), "-n", "ip", "-6", "-br", "addr", "show", "dev", "eth0")
		routes := sh(t, "nsenter", "-t", strconv.Itoa(client), "-n", "ip", "-6", "route", "show", "default")
		if !strings.Contains(addrs, "fd00:88::3/64") || !strings.Contains(routes, "default via fd00:88::1 dev eth0") {
			t.Errorf("the second container's IPv6: %s%s", addrs, routes)
		}
		httpd(t, server, page)
		// Container to container over IPv6 (TCP), and over IPv4 beside it.
		if got := fetch(t, "http://[fd00:88::2]/", byPID(client)...); got != page {
			t.Errorf("container 2 fetching over IPv6: %q", got)
		}
		if got := fetch(t, "http://10.88.0.2/", byPID(client)...); got != page {
			t.Errorf("container 2 fetching over IPv4: %q", got)
		}
		// The internet over IPv6: routed with the container's own address,
		// or masqueraded to the uplink's.
		inet := listenIn(t, "/run/netns/inet", "[2001:db8::2]:9000")
		want := "fd00:88::3 said hello"
		if nat6 {
			want = "2001:db8::1 said hello"
		}
		if got := dialFrom(t, client, inet, "[2001:db8::2]:9000"); got != want {
			t.Errorf("IPv6 to the internet (--ipv6-nat %v) arrived as %q; want %q", nat6, got, want)
		}
		inet.Close()
		// The published port over IPv6 from outside, and over IPv4.
		if got := fetch(t, "http://[2001:db8::1]:8080/", "--net=/run/netns/inet"); got != page {
			t.Errorf("published port over IPv6 from the internet: %q", got)
		}
		if got := fetch(t, "http://192.0.2.1:8080/", "--net=/run/netns/inet"); got != page {
			t.Errorf("published port over IPv4 from the internet: %q", got)
		}
		if out := mustPlumb(t, "check"); strings.Count(out, "ok ") != 3 {
			t.Errorf("check:\n%s", out)
		}
		mustPlumb(t, "bridge", "detach", "br0", "--ip", "fd00:88::2")
		if got := fetch(t, "http://[2001:db8::1]:8080/", "--net=/run/netns/inet"); got == page {
			t.Error("the published port still answers over IPv6 after detach")
		}
		mustPlumb(t, "bridge", "down", "br0", "--force")
		sameSnapshot(t, before, "after bridge down")
		noPlumbTables(t)
	}
}
