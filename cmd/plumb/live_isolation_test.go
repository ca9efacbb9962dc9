package main

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
	"testing"
)

// TestLiveIsolation, with each firewall back end: two isolated bridges,
// a plain one and an internal one, a container on each listening on port
// 80. What reaches what is Docker's: isolated networks never reach each
// other, and reach (and are reached from) a plain network; nothing from
// another network or from beyond the host reaches the internal one, and
// its container has no way out; containers of one network reach each
// other. Down leaves the namespace as it was.
func TestLiveIsolation(t *testing.T) { forFirewalls(t, testLiveIsolation) }

func testLiveIsolation(t *testing.T, fw string) {
	if !isolateWorld(t) {
		return
	}
	before := snapshot(t)
	nets := []struct{ name, subnet, flag string }{
		{"isoa", "10.93.0.0/24", "--isolate"}, {"isob", "10.94.0.0/24", "--isolate"},
		{"plain", "10.95.0.0/24", ""}, {"intl", "10.96.0.0/24", "--internal"},
	}
	ns := map[string]string{} // network: its container's netns, listening on :80
	for _, n := range nets {
		args := []string{"bridge", "up", n.name, "--subnet", n.subnet}
		if n.flag != "" {
			args = append(args, n.flag)
		}
		mustPlumb(t, args...)
		pid := startContainer(t)
		mustPlumb(t, "bridge", "attach", n.name, "--pid", strconv.Itoa(pid))
		ns[n.name] = fmt.Sprintf("/proc/%d/ns/net", pid)
		listen(t, ns[n.name])
	}
	// A second container on the internal network, and a way to it from
	// the stand-in internet.
	pid := startContainer(t)
	mustPlumb(t, "bridge", "attach", "intl", "--pid", strconv.Itoa(pid))
	ns["intl2"] = fmt.Sprintf("/proc/%d/ns/net", pid)
	sh(t, "ip", "-n", "inet", "route", "add", "10.92.0.0/14", "via", "192.0.2.1")
	ns["inet"] = "/run/netns/inet"

	addr := map[string]string{"isoa": "10.93.0.2:80", "isob": "10.94.0.2:80", "plain": "10.95.0.2:80", "intl": "10.96.0.2:80"}
	for _, c := range []struct {
		from, to string
		want     bool
	}{
		{"isoa", "isob", false}, {"isob", "isoa", false},
		{"isoa", "plain", true}, {"plain", "isoa", true},
		{"isoa", "intl", false}, {"plain", "intl", false}, {"intl", "plain", false}, {"intl", "isoa", false},
		{"intl2", "intl", true},
		{"inet", "intl", false}, {"inet", "isoa", true}, {"inet", "plain", true},
	} {
		if got := reaches(t, ns[c.from], addr[c.to]); got != c.want {
			t.Errorf("%s: from %s, %s (%s) reached: %v, want %v", fw, c.from, c.to, addr[c.to], got, c.want)
		}
	}
	if out := sh(t, "nsenter", "--net="+ns["intl"], "ip", "route"); !regexp.MustCompile(`^10\.96\.0\.0/24 dev eth0 [^\n]*\n$`).MatchString(out) {
		t.Errorf("%s: the internal network's container has routes beyond its subnet:\n%s", fw, out)
	}

	for _, n := range nets {
		mustPlumb(t, "bridge", "down", n.name, "--force")
	}
	sh(t, "ip", "-n", "inet", "route", "del", "10.92.0.0/14")
	sameSnapshot(t, before, "after down")
}

// listen accepts TCP connections on port 80 in the network namespace at
// nsPath, until the test ends.
func listen(t *testing.T, nsPath string) {
	t.Helper()
	var l net.Listener
	if err := inNetns(nsPath, func() (err error) {
		l, err = net.Listen("tcp", ":80")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
}
