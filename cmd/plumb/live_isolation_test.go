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
// 80, isob's published at the host's 8080. What reaches what is Docker's:
// isolated networks never reach each other but for a published port at
// the host's address, and reach (and are reached from) a plain network;
// nothing from another network or from beyond the host reaches the
// internal one, and nothing of it gets out, even with a default route of
// its own; containers of one network reach each other. Down leaves the
// namespace as it was.
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
		attach := []string{"bridge", "attach", n.name, "--pid", strconv.Itoa(pid)}
		if n.name == "isob" {
			attach = append(attach, "--publish", "8080:80")
		}
		mustPlumb(t, attach...)
		ns[n.name] = fmt.Sprintf("/proc/%d/ns/net", pid)
		listen(t, ns[n.name])
	}
	// A second container on the internal network; the stand-in internet,
	// listening too, with a way to every network through the host.
	pid := startContainer(t)
	mustPlumb(t, "bridge", "attach", "intl", "--pid", strconv.Itoa(pid))
	ns["intl2"] = fmt.Sprintf("/proc/%d/ns/net", pid)
	ns["inet"] = "/run/netns/inet"
	listen(t, ns["inet"])
	for _, to := range []string{"10.92.0.0/14", "10.96.0.0/16"} {
		sh(t, "ip", "-n", "inet", "route", "add", to, "via", "192.0.2.1")
	}
	if out := sh(t, "nsenter", "--net="+ns["intl"], "ip", "route"); !regexp.MustCompile(`^10\.96\.0\.0/24 dev eth0 [^\n]*\n$`).MatchString(out) {
		t.Errorf("%s: the internal network's container has routes beyond its subnet:\n%s", fw, out)
	}
	// What a container with NET_ADMIN could do: a default route through
	// the bridge. Only the drops then keep it in.
	sh(t, "nsenter", "--net="+ns["intl"], "ip", "route", "add", "default", "via", "10.96.0.1")

	addr := map[string]string{"isoa": "10.93.0.2:80", "isob": "10.94.0.2:80", "plain": "10.95.0.2:80", "intl": "10.96.0.2:80",
		"inet": "192.0.2.2:80", "isob's published port": "192.0.2.1:8080"}
	for _, c := range []struct {
		from, to string
		want     bool
	}{
		{"isoa", "isob", false}, {"isob", "isoa", false},
		{"isoa", "plain", true}, {"plain", "isoa", true},
		// Another network's published port at the host's address, as
		// Docker lets it.
		{"isoa", "isob's published port", true}, {"plain", "isob's published port", true},
		{"isoa", "intl", false}, {"plain", "intl", false}, {"inet", "intl", false},
		{"intl", "plain", false}, {"intl", "isoa", false}, {"intl", "inet", false}, {"intl", "isob's published port", false},
		{"intl2", "intl", true},
		{"inet", "isoa", true}, {"inet", "plain", true}, {"isoa", "inet", true},
	} {
		if got := reaches(t, ns[c.from], addr[c.to]); got != c.want {
			t.Errorf("%s: from %s, %s (%s) reached: %v, want %v", fw, c.from, c.to, addr[c.to], got, c.want)
		}
	}

	for _, n := range nets {
		mustPlumb(t, "bridge", "down", n.name, "--force")
	}
	sh(t, "ip", "-n", "inet", "route", "del", "10.92.0.0/14")
	sh(t, "ip", "-n", "inet", "route", "del", "10.96.0.0/16")
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
	go acceptAndClose(l)
}

// acceptAndClose takes l's connections and closes each at once, until l
// is closed: a port that answers and says nothing.
func acceptAndClose(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}
