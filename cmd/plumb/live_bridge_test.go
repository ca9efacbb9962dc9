package main

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// httpd serves a page from inside a container with busybox httpd.
func httpd(t *testing.T, pid int, page string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/index.html", []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("nsenter", "-t", strconv.Itoa(pid), "-n", "busybox", "httpd", "-f", "-p", "80", "-h", dir)
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting busybox httpd (install busybox-static): %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	time.Sleep(100 * time.Millisecond)
}

// fetch runs busybox wget inside a namespace (nsenter args) and returns the page.
func fetch(t *testing.T, url string, nsenter ...string) string {
	t.Helper()
	args := []string{"5", "busybox", "wget", "-qO-", url}
	if len(nsenter) > 0 {
		args = append([]string{"5", "nsenter"}, append(nsenter, args[1:]...)...)
	}
	out, err := exec.Command("timeout", args...).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("<fetch %s failed: %v: %s>", url, err, out)
	}
	return string(out)
}

var attachedAs = regexp.MustCompile(`is attached to br0 as (\S+)`)

// TestLiveBridge, with each firewall back end: three containers on a
// bridge reach each other, the stand-in internet (NAT) and a published
// port from outside and from the host; 20 concurrent attaches; down
// --force. Another plumb network (br9) is up throughout: br0's rules and
// their removal leave its rules alone. With nftables, the table's listing
// is compared with a golden after each step, and none is left after down.
func TestLiveBridge(t *testing.T) { forFirewalls(t, testLiveBridge) }

func testLiveBridge(t *testing.T, fw string) {
	if !isolateWorld(t) {
		return
	}
	mustPlumb(t, "bridge", "up", "br9", "--subnet", "10.99.0.0/24")
	before := snapshot(t)
	mustPlumb(t, "bridge", "up", "br0", "--subnet", "10.88.0.0/24")
	nftGolden(t, fw, "bridge_up", "plumb-br0")

	var pids []int
	var ips []string
	for i := 0; i < 3; i++ {
		pid := startContainer(t)
		args := []string{"bridge", "attach", "br0", "--pid", strconv.Itoa(pid)}
		if i == 0 {
			args = append(args, "--publish", "8080:80")
		}
		m := attachedAs.FindStringSubmatch(mustPlumb(t, args...))
		if m == nil {
			t.Fatal("attach did not say the address")
		}
		pids, ips = append(pids, pid), append(ips, m[1])
	}
	nftGolden(t, fw, "bridge_attach_publish", "plumb-br0")
	const page = "hello from container 1\n"
	httpd(t, pids[0], page)
	byPID := func(pid int) []string { return []string{"-t", strconv.Itoa(pid), "-n"} }

	// The server answers the other two by address.
	for _, i := range []int{1, 2} {
		if got := fetch(t, "http://"+ips[0]+"/", byPID(pids[i])...); got != page {
			t.Errorf("container %d fetching from %s got %q", i+1, ips[0], got)
		}
	}
	// All three reach the "internet", arriving with the uplink's address.
	inet := listenIn(t, "/run/netns/inet", "192.0.2.2:9000")
	for i, pid := range pids {
		if got := dialFrom(t, pid, inet, "192.0.2.2:9000"); got != "192.0.2.1 said hello" {
			t.Errorf("container %d reached the internet as %q; want the uplink's 192.0.2.1 (NAT)", i+1, got)
		}
	}
	// The published port answers from the "internet" at the uplink's address, and from the host.
	if got := fetch(t, "http://192.0.2.1:8080/", "--net=/run/netns/inet"); got != page {
		t.Errorf("published port from the internet: %q", got)
	}
	if got := fetch(t, "http://192.0.2.1:8080/"); got != page {
		t.Errorf("published port from the host: %q", got)
	}
	// Detaching one leaves the others working.
	mustPlumb(t, "bridge", "detach", "br0", "--ip", ips[2])
	if got := fetch(t, "http://"+ips[0]+"/", byPID(pids[1])...); got != page {
		t.Errorf("after detaching container 3, container 2 got %q", got)
	}
	if got := fetch(t, "http://"+ips[0]+"/", byPID(pids[2])...); got == page {
		t.Error("detached container 3 still reaches the server")
	}

	// 20 attaches started at once: 20 distinct addresses, all working.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var crowd []int
	got := map[string]int{}
	for i := 0; i < 20; i++ {
		crowd = append(crowd, startContainer(t))
	}
	start := time.Now()
	for _, pid := range crowd {
		wg.Add(1)
		go func(pid int) {
			defer wg.Done()
			out, err := plumb(t, nil, "bridge", "attach", "br0", "--pid", strconv.Itoa(pid))
			mu.Lock()
			defer mu.Unlock()
			if m := attachedAs.FindStringSubmatch(out); err == nil && m != nil {
				got[m[1]] = pid
			} else {
				t.Errorf("concurrent attach of %d: %v\n%s", pid, err, out)
			}
		}(pid)
	}
	wg.Wait()
	t.Logf("20 concurrent attaches took %s", time.Since(start).Round(time.Millisecond))
	if len(got) != 20 {
		t.Errorf("20 attaches got %d distinct addresses", len(got))
	}
	var addrs []string
	for ip, pid := range got {
		addrs = append(addrs, ip)
		if page2 := fetch(t, "http://"+ips[0]+"/", byPID(pid)...); page2 != page {
			t.Errorf("container %s cannot reach the server: %q", ip, page2)
		}
	}
	sort.Strings(addrs)
	t.Logf("addresses: %s", strings.Join(addrs, " "))
	// The journal is consistent: every attachment recorded, every step in effect.
	if out := mustPlumb(t, "check"); strings.Count(out, "ok    attachment/br0-") != 22 {
		t.Errorf("check after the concurrent attaches:\n%s", out)
	}

	mustPlumb(t, "bridge", "detach", "br0", "--ip", ips[0])
	nftGolden(t, fw, "bridge_detach_publish", "plumb-br0")
	if got := fetch(t, "http://192.0.2.1:8080/", "--net=/run/netns/inet"); got == page {
		t.Error("the published port still answers after its container was detached")
	}

	out := mustPlumb(t, "bridge", "down", "br0", "--force")
	if n := strings.Count(out, "is detached"); n != 21 {
		t.Errorf("down --force detached %d containers, want 21:\n%s", n, out)
	}
	sameSnapshot(t, before, "after bridge down --force")
	mustPlumb(t, "bridge", "down", "br9")
	noPlumbTables(t)
}
