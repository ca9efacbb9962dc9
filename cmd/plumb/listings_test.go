package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"plumb/view"
)

// listingState is a state directory holding the journals of many objects,
// made from journals real commands wrote (testdata/listings, from `bridge
// up`, `run --net` and `bridge attach` inside a throwaway namespace), with
// their names, addresses and paths changed: bridges b0, b1, ..., each with
// its subnet 10.88.K.0/24, containers cK-J at 10.88.K.(2+J) and attached
// namespaces nK-J at 10.88.K.(128+J). The containers' PID files hold the
// PID of a sleep the test starts, single-threaded as a container's process
// mostly is, and in no container's namespace: each reads as exited, after
// the /proc reads a running one costs. (The test's own PID, many threads,
// made each read of /proc/PID/stat cost 50 µs more.)
type listingState struct {
	dir                           string
	bridges, containers, attached int // per bridge: containers, attached
	pid                           int
}

func (l listingState) objects() int { return l.bridges * (1 + l.containers + l.attached) }

func newListingState(tb testing.TB, bridges, containers, attached int) listingState {
	tb.Helper()
	tmpl := map[string]string{}
	for _, k := range []string{"bridge", "container", "attachment"} {
		data, err := os.ReadFile(filepath.Join("testdata", "listings", k+".json"))
		if err != nil {
			tb.Fatal(err)
		}
		tmpl[k] = string(data)
	}
	l := listingState{dir: filepath.Join(tb.TempDir(), "state"), bridges: bridges, containers: containers, attached: attached}
	for _, d := range []string{"objects/bridge", "objects/container", "objects/attachment", "overlay"} {
		if err := os.MkdirAll(filepath.Join(l.dir, d), 0o700); err != nil {
			tb.Fatal(err)
		}
	}
	write := func(kind, name, text string, subst ...string) {
		tb.Helper()
		data := strings.NewReplacer(subst...).Replace(text)
		if err := os.WriteFile(filepath.Join(l.dir, "objects", kind, name+".json"), []byte(data), 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	sleep := exec.Command("sleep", "3600")
	if err := sleep.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = sleep.Process.Kill(); _ = sleep.Wait() })
	l.pid = sleep.Process.Pid
	pid := []byte(strconv.Itoa(l.pid) + "\n")
	for k := 0; k < bridges; k++ {
		br, net := l.bridge(k), fmt.Sprintf("10.88.%d", k)
		write("bridge", br, tmpl["bridge"], "@BR@", br, "@NET@", net, "@K2@", fmt.Sprintf("%02x", k))
		for j := 0; j < containers; j++ {
			name, ip := l.container(k, j)
			write("container", name, tmpl["container"], "@STATE@", l.dir, "@BR@", br, "@NET@", net, "@IP@", ip.String(), "@HEX@", hexIP(ip), "@NAME@", name)
			if err := os.MkdirAll(filepath.Join(l.dir, "overlay", name), 0o700); err != nil {
				tb.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(l.dir, "overlay", name, "pid"), pid, 0o600); err != nil {
				tb.Fatal(err)
			}
		}
		for j := 0; j < attached; j++ {
			ns, ip := l.netns(k, j)
			write("attachment", br+"-"+ip.String(), tmpl["attachment"], "@BR@", br, "@NET@", net, "@IP@", ip.String(), "@HEX@", hexIP(ip), "@NAME@", ns)
		}
	}
	return l
}

func (listingState) bridge(k int) string { return fmt.Sprintf("b%d", k) }

func (listingState) container(k, j int) (string, netip.Addr) {
	return fmt.Sprintf("c%d-%d", k, j), netip.AddrFrom4([4]byte{10, 88, byte(k), byte(2 + j)})
}

func (listingState) netns(k, j int) (string, netip.Addr) {
	return fmt.Sprintf("n%d-%d", k, j), netip.AddrFrom4([4]byte{10, 88, byte(k), byte(128 + j)})
}

func hexIP(ip netip.Addr) string {
	b := ip.As4()
	return fmt.Sprintf("%02x%02x%02x%02x", b[0], b[1], b[2], b[3])
}

// list runs a plumb listing in this process, as the binary would, and
// gives its stdout; it fails the test on anything on stderr.
func (l listingState) list(tb testing.TB, args ...string) []byte {
	tb.Helper()
	var stdout, stderr bytes.Buffer
	code := runIn(context.Background(), append([]string{"--state-dir", l.dir}, args...), &stdout, &stderr)
	if code != 0 || stderr.Len() > 0 {
		tb.Fatalf("plumb %s: exit %d\n%s", strings.Join(args, " "), code, stderr.String())
	}
	return stdout.Bytes()
}

// TestListingsMany: `ps` and `bridge ls` over a thousand objects list each
// container and each attachment once, with its address, network and
// state, the attachments of each bridge in address order.
func TestListingsMany(t *testing.T) {
	l := newListingState(t, 10, 50, 49)
	if n := l.objects(); n != 1000 {
		t.Fatalf("%d objects, want 1000", n)
	}

	var ps struct {
		FormatVersion int          `json:"format_version"`
		Containers    []view.PsRow `json:"containers"`
	}
	if err := json.Unmarshal(l.list(t, "ps", "-a", "-o", "json"), &ps); err != nil {
		t.Fatal(err)
	}
	var want []view.PsRow
	for k := 0; k < l.bridges; k++ {
		for j := 0; j < l.containers; j++ {
			name, ip := l.container(k, j)
			// Exited: PID 0, as docker inspect's State.Pid (l.pid may be
			// another's by now).
			want = append(want, view.PsRow{Name: name, PID: 0, State: "exited", IP: ip.String(), Network: l.bridge(k), Command: "sleep 1000"})
		}
	}
	// ps lists by name, as the journals are kept.
	byName := map[string]view.PsRow{}
	for _, e := range ps.Containers {
		if _, dup := byName[e.Name]; dup {
			t.Errorf("ps lists %s twice", e.Name)
		}
		byName[e.Name] = e
	}
	if len(ps.Containers) != len(want) {
		t.Errorf("ps lists %d containers, want %d", len(ps.Containers), len(want))
	}
	for _, w := range want {
		if got := byName[w.Name]; got != w {
			t.Errorf("ps: %+v, want %+v", got, w)
		}
	}
	text := string(l.list(t, "ps", "-a"))
	if n := strings.Count(text, "\n"); n != 1+len(want) {
		t.Errorf("ps prints %d lines, want %d", n, 1+len(want))
	}
	if !strings.Contains(text, "\nc3-7 ") || !strings.Contains(text, " 10.88.3.9 ") {
		t.Errorf("ps does not show c3-7 at 10.88.3.9:\n%.400s", text)
	}

	var ls struct {
		Bridges []view.BridgeRow `json:"bridges"`
	}
	if err := json.Unmarshal(l.list(t, "bridge", "ls", "-o", "json"), &ls); err != nil {
		t.Fatal(err)
	}
	if len(ls.Bridges) != l.bridges {
		t.Fatalf("bridge ls lists %d bridges, want %d", len(ls.Bridges), l.bridges)
	}
	for _, b := range ls.Bridges {
		k, err := strconv.Atoi(strings.TrimPrefix(b.Name, "b"))
		if err != nil || b.Subnet != fmt.Sprintf("10.88.%d.0/24", k) || b.Gateway != fmt.Sprintf("10.88.%d.1", k) || !b.NAT || b.State != "up" {
			t.Errorf("bridge %+v", b)
			continue
		}
		var want []view.AttachmentRow
		for j := 0; j < l.containers; j++ {
			name, ip := l.container(k, j)
			want = append(want, view.AttachmentRow{IP: ip.String(), HostVeth: "veth" + hexIP(ip), If: "eth0", Target: "netns plumb-" + name, Ports: []string{}, State: "up"})
		}
		for j := 0; j < l.attached; j++ {
			ns, ip := l.netns(k, j)
			want = append(want, view.AttachmentRow{IP: ip.String(), HostVeth: "veth" + hexIP(ip), If: "eth0", Target: "netns " + ns, Ports: []string{}, State: "up"})
		}
		got, _ := json.Marshal(b.Attachments)
		exp, _ := json.Marshal(want)
		if !bytes.Equal(got, exp) {
			t.Errorf("bridge %s attachments:\n got %s\nwant %s", b.Name, got, exp)
		}
	}
	text = string(l.list(t, "bridge", "ls"))
	if n := strings.Count(text, "\n"); n != 1+l.objects() {
		t.Errorf("bridge ls prints %d lines, want %d", n, 1+l.objects())
	}
}

// BenchmarkListings times `plumb ps` and `plumb bridge ls` over a thousand
// objects' journals (10 bridges, 500 containers, 490 attached namespaces),
// each run as the binary runs it (runIn: parsing, the interrupted-plan
// warning, the listing), printing to nowhere. The binary itself adds
// its start, about 1-2 ms: `hyperfine 'plumb --state-dir DIR ps'` shows
// it, with a state directory from PLUMB_LISTINGS_DIR (below).
func BenchmarkListings(b *testing.B) {
	l := newListingState(b, 10, 50, 49)
	if dir := os.Getenv("PLUMB_LISTINGS_DIR"); dir != "" {
		// Keep a copy to time the binary against.
		if err := os.CopyFS(dir, os.DirFS(l.dir)); err != nil {
			b.Fatal(err)
		}
	}
	for _, args := range [][]string{{"ps", "-a"}, {"bridge", "ls"}, {"status"}} {
		b.Run(strings.Join(args, "-"), func(b *testing.B) {
			full := append([]string{"--state-dir", l.dir}, args...)
			for b.Loop() {
				if code := runIn(context.Background(), full, io.Discard, io.Discard); code != 0 {
					b.Fatalf("plumb %s: exit %d", strings.Join(args, " "), code)
				}
			}
		})
	}
}

// countingWriter counts the writes a listing makes to its output.
type countingWriter struct{ writes, bytes int }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.writes++
	c.bytes += len(p)
	return len(p), nil
}

// TestListingWrites: a table of a thousand rows reaches stdout in a few
// writes; tabwriter alone wrote each cell and each run of padding on its
// own (11,145 write calls for bridge ls over 1,000 objects).
func TestListingWrites(t *testing.T) {
	l := newListingState(t, 10, 50, 49)
	for _, args := range [][]string{{"ps", "-a"}, {"bridge", "ls"}, {"status"}} {
		var out countingWriter
		full := append([]string{"--state-dir", l.dir}, args...)
		if code := runIn(context.Background(), full, &out, io.Discard); code != 0 {
			t.Fatalf("plumb %s: exit %d", strings.Join(args, " "), code)
		}
		if max := out.bytes/4096 + 2; out.writes > max {
			t.Errorf("plumb %s: %d writes for %d bytes, want at most %d", strings.Join(args, " "), out.writes, out.bytes, max)
		}
	}
}
