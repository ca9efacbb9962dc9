package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
)

// The CNI plugin as runtimes call it: libcni, the library containerd,
// CRI-O and Podman call plugins through, runs the plumb binary (this test
// binary, as testscript.Main runs it under the name plumb) from a plugin
// directory, in the test's throwaway namespace, with containers' network
// namespaces made by `ip netns add`.

const cniConflist = `{
  "cniVersion": "1.1.0",
  "name": "plumbnet",
  "plugins": [{
    "type": "plumb",
    "bridge": "cni0",
    "isGateway": true,
    "isDefaultGateway": true,
    "ipMasq": true,
    "hairpinMode": true,
    "capabilities": {"portMappings": true},
    "ipam": {
      "type": "host-local",
      "ranges": [[{"subnet": "10.88.0.0/24", "rangeStart": "10.88.0.10", "rangeEnd": "10.88.0.99"}]],
      "routes": [{"dst": "0.0.0.0/0"}]
    },
    "dns": {"nameservers": ["10.88.0.1"]}
  }]
}`

// cniLib is libcni over the plugin directory that holds plumb, with a
// result cache of its own.
func cniLib(t *testing.T) (*libcni.CNIConfig, *libcni.NetworkConfigList) {
	return cniLibFor(t, "")
}

// conflistFor is cniConflist with the reference bridge plugin's key for
// the back end, ipMasqBackend, set to fw ("": left out, the default).
func conflistFor(fw string) string {
	if fw == "" {
		return cniConflist
	}
	return strings.Replace(cniConflist, `"ipMasq": true,`, `"ipMasq": true,
    "ipMasqBackend": "`+fw+`",`, 1)
}

// cniLibFor is cniLib with the network's back end chosen by the config.
func cniLibFor(t *testing.T, fw string) (*libcni.CNIConfig, *libcni.NetworkConfigList) {
	t.Helper()
	self, err := exec.LookPath("plumb")
	if err != nil {
		t.Fatal(err)
	}
	list, err := libcni.ConfListFromBytes([]byte(conflistFor(fw)))
	if err != nil {
		t.Fatal(err)
	}
	return libcni.NewCNIConfigWithCacheDir([]string{filepath.Dir(self)}, t.TempDir(), nil), list
}

func rtConf(i int) *libcni.RuntimeConf {
	return &libcni.RuntimeConf{ContainerID: fmt.Sprintf("ctr%02d", i), NetNS: fmt.Sprintf("/run/netns/c%02d", i), IfName: "eth0"}
}

// cniCode is a CNI error's code, or 0.
func cniCode(err error) uint {
	var e *types.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

// journals lists the attachments plumb keeps (plumb status).
func attachmentsKept(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(mustPlumb(t, "status"), "\n") {
		if strings.HasPrefix(l, "attachment ") {
			out = append(out, strings.Fields(l)[1])
		}
	}
	return out
}

// forCNIFirewalls runs a CNI test with each back end, chosen by the
// config's ipMasqBackend (PLUMB_FIREWALL unset, so the key decides).
func forCNIFirewalls(t *testing.T, test func(t *testing.T, fw string)) {
	withFirewalls(t, false, test)
}

func TestLiveCNI(t *testing.T) { forCNIFirewalls(t, testLiveCNI) }

func testLiveCNI(t *testing.T, fw string) {
	if !isolateWorld(t) {
		return
	}
	ctx := context.Background()
	cni, list := cniLibFor(t, fw)
	before := snapshot(t)
	const n = 20
	for i := 0; i < n; i++ {
		sh(t, "ip", "netns", "add", fmt.Sprintf("c%02d", i))
	}
	if err := cni.GetStatusNetworkList(ctx, list); err != nil {
		t.Fatalf("STATUS: %v", err)
	}

	// 20 concurrent ADDs: the first makes the bridge, each gets its own address.
	results := make([]*types100.Result, n)
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := cni.AddNetworkList(ctx, list, rtConf(i))
			if err == nil {
				results[i], err = types100.GetResult(r)
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	t.Logf("20 concurrent ADDs: %v", time.Since(start))
	ips := map[string]int{}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("ADD %d: %v", i, err)
		}
		r := results[i]
		if len(r.Interfaces) != 3 || len(r.IPs) != 1 || *r.IPs[0].Interface != 2 {
			t.Fatalf("ADD %d: result %+v", i, r)
		}
		if r.Interfaces[0].Name != "cni0" || !strings.HasPrefix(r.Interfaces[1].Name, "veth") || r.Interfaces[2].Name != "eth0" ||
			r.Interfaces[2].Sandbox != rtConf(i).NetNS || r.Interfaces[1].Mac == "" || r.Interfaces[2].Mac == "" {
			t.Errorf("ADD %d: interfaces %v %v %v", i, r.Interfaces[0], r.Interfaces[1], r.Interfaces[2])
		}
		if r.IPs[0].Gateway.String() != "10.88.0.1" || len(r.Routes) != 1 || r.Routes[0].Dst.String() != "0.0.0.0/0" || r.DNS.Nameservers[0] != "10.88.0.1" {
			t.Errorf("ADD %d: ips %v routes %v dns %v", i, r.IPs[0], r.Routes, r.DNS)
		}
		ip := r.IPs[0].Address.IP.String()
		if prev, dup := ips[ip]; dup {
			t.Errorf("ADD %d and %d both got %s", prev, i, ip)
		}
		ips[ip] = i
		if got := sh(t, "ip", "-n", fmt.Sprintf("c%02d", i), "-br", "addr", "show", "dev", "eth0"); !strings.Contains(got, r.IPs[0].Address.String()) {
			t.Errorf("ADD %d: eth0 in the namespace is %q, want %s", i, got, r.IPs[0].Address.String())
		}
	}
	if len(ips) != n {
		t.Fatalf("%d distinct addresses for %d ADDs", len(ips), n)
	}
	nftGolden(t, fw, "cni_add", "plumb-cni0")

	// All reach each other: each listens, each connects to every other.
	addrs := make([]string, n)
	counts := make([]chan string, n)
	for i := 0; i < n; i++ {
		addrs[i] = results[i].IPs[0].Address.IP.String()
		l := listenIn(t, rtConf(i).NetNS, addrs[i]+":7000")
		counts[i] = make(chan string, n)
		go func(l net.Listener, got chan string) {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				line, _ := bufio.NewReader(c).ReadString('\n')
				got <- strings.TrimSpace(line)
				c.Close()
			}
		}(l, counts[i])
	}
	for i := 0; i < n; i++ {
		var script strings.Builder
		for j := 0; j < n; j++ {
			if j != i {
				fmt.Fprintf(&script, "exec 3<>/dev/tcp/%s/7000 && echo from%02d >&3 && exec 3>&- || exit 1\n", addrs[j], i)
			}
		}
		if out, err := exec.Command("timeout", "10", "ip", "netns", "exec", fmt.Sprintf("c%02d", i), "bash", "-c", script.String()).CombinedOutput(); err != nil {
			t.Fatalf("c%02d connecting to the others: %v\n%s", i, err, out)
		}
	}
	for i := 0; i < n; i++ {
		for k := 0; k < n-1; k++ {
			select {
			case <-counts[i]:
			case <-time.After(5 * time.Second):
				t.Fatalf("c%02d got %d of %d connections", i, k, n-1)
			}
		}
	}

	// CNI attachments are ordinary plumb objects.
	if kept := attachmentsKept(t); len(kept) != n {
		t.Errorf("plumb status lists %d attachments, want %d", len(kept), n)
	}
	if ls := mustPlumb(t, "bridge", "ls"); !strings.Contains(ls, "cni0") || strings.Count(ls, "path /run/netns/c") != n {
		t.Errorf("plumb bridge ls:\n%s", ls)
	}
	if out := mustPlumb(t, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", attachmentsKept(t)[0]); !strings.HasPrefix(out, "10.88.0.") {
		t.Errorf("plumb inspect of an attachment: %q", out)
	}

	// CHECK passes; after the host end is deleted by hand it reports the drift.
	for i := 0; i < n; i++ {
		if err := cni.CheckNetworkList(ctx, list, rtConf(i)); err != nil {
			t.Errorf("CHECK %d: %v", i, err)
		}
	}
	sh(t, "ip", "link", "del", results[0].Interfaces[1].Name)
	if err := cni.CheckNetworkList(ctx, list, rtConf(0)); cniCode(err) != 102 || !strings.Contains(err.Error(), results[0].Interfaces[1].Name) {
		t.Errorf("CHECK after the veth was deleted: %v (code %d), want code 102 naming the link", err, cniCode(err))
	}
	// ADD of the same container and ifname again is an error, and changes nothing.
	if _, err := cni.AddNetworkList(ctx, list, rtConf(1)); err == nil || !strings.Contains(err.Error(), "already attached") {
		t.Errorf("second ADD of ctr01/eth0: %v", err)
	}

	// GC from a runtime that lost its cache (so libcni itself deletes
	// nothing): without the key nothing goes, with a list the rest goes.
	gcLib, _ := cniLibFor(t, fw)
	if err := gcLib.GCNetworkList(ctx, list, nil); err != nil {
		t.Fatalf("GC without a list: %v", err)
	}
	if kept := attachmentsKept(t); len(kept) != n {
		t.Fatalf("GC without cni.dev/valid-attachments removed attachments: %d left", len(kept))
	}
	var valid []types.GCAttachment
	for i := 0; i < n/2; i++ {
		valid = append(valid, types.GCAttachment{ContainerID: rtConf(i).ContainerID, IfName: "eth0"})
	}
	if err := gcLib.GCNetworkList(ctx, list, &libcni.GCArgs{ValidAttachments: valid}); err != nil {
		t.Fatalf("GC: %v", err)
	}
	if kept := attachmentsKept(t); len(kept) != n/2 {
		t.Fatalf("after GC %d attachments are kept, want %d", len(kept), n/2)
	}
	for i := n / 2; i < n; i++ {
		if out := sh(t, "ip", "-n", fmt.Sprintf("c%02d", i), "-br", "link"); strings.Contains(out, "eth0") {
			t.Errorf("after GC c%02d still has eth0:\n%s", i, out)
		}
	}

	// 20 concurrent DELs (half already gone by GC), then all again.
	for round := 1; round <= 2; round++ {
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = cni.DelNetworkList(ctx, list, rtConf(i))
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("DEL %d (round %d): %v", i, round, err)
			}
		}
	}
	if kept := attachmentsKept(t); len(kept) != 0 {
		t.Errorf("after DEL plumb keeps %v", kept)
	}
	if ls := mustPlumb(t, "bridge", "ls"); !regexp.MustCompile(`(?m)^cni0 .* 0$`).MatchString(ls) {
		t.Errorf("the network is not empty after the DELs:\n%s", ls)
	}
	if err := cni.GetStatusNetworkList(ctx, list); err != nil {
		t.Errorf("STATUS after: %v", err)
	}
	// The bridge the first ADD made is an ordinary plumb object too.
	mustPlumb(t, "down", "cni0")
	for i := 0; i < n; i++ {
		sh(t, "ip", "netns", "del", fmt.Sprintf("c%02d", i))
	}
	sameSnapshot(t, before, "after DEL of every container and plumb down cni0")
	noPlumbTables(t)
}

// TestLiveCNIDelNoNetns: DEL with an empty CNI_NETNS, after the runtime
// removed the namespace, still undoes the host's side: the link, the
// published port's rules and the address (plugins#810, nerdctl#1872 and
// cni#1167 leak them).
func TestLiveCNIDelNoNetns(t *testing.T) { forCNIFirewalls(t, testLiveCNIDelNoNetns) }

func testLiveCNIDelNoNetns(t *testing.T, fw string) {
	if !isolateWorld(t) {
		return
	}
	ctx := context.Background()
	cni, list := cniLibFor(t, fw)
	sh(t, "ip", "netns", "add", "c00")
	rt := rtConf(0)
	rt.CapabilityArgs = map[string]any{"portMappings": []map[string]any{{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}}}
	r, err := cni.AddNetworkList(ctx, list, rt)
	if err != nil {
		t.Fatal(err)
	}
	res, _ := types100.GetResult(r)
	ip := res.IPs[0].Address.IP.String()
	if rules := sh(t, "iptables-save"); fw == "iptables" && !strings.Contains(rules, ip+":80") {
		t.Fatalf("no DNAT rule to %s:80:\n%s", ip, rules)
	}
	nftGolden(t, fw, "cni_add_port", "plumb-cni0")
	before := snapshot(t) // with the attachment
	sh(t, "ip", "netns", "del", "c00")
	rt.NetNS = ""
	for round := 0; round < 2; round++ {
		if err := cni.DelNetworkList(ctx, list, rt); err != nil {
			t.Fatalf("DEL with an empty CNI_NETNS (round %d): %v", round, err)
		}
	}
	after := snapshot(t)
	if strings.Contains(after, ip) {
		t.Errorf("after DEL the host still has something of %s:\n%s", ip, after)
	}
	if strings.Contains(after, res.Interfaces[1].Name) {
		t.Errorf("after DEL the host veth %s is still there", res.Interfaces[1].Name)
	}
	if after == before {
		t.Error("DEL changed nothing")
	}
	if kept := attachmentsKept(t); len(kept) != 0 {
		t.Errorf("after DEL plumb keeps %v", kept)
	}
	nftGolden(t, fw, "cni_del_port", "plumb-cni0")
	// The address is given out again.
	sh(t, "ip", "netns", "add", "c01")
	r, err = cni.AddNetworkList(ctx, list, rtConf(1))
	if err != nil {
		t.Fatal(err)
	}
	if res, _ := types100.GetResult(r); res.IPs[0].Address.IP.String() != ip {
		t.Errorf("the next ADD got %s, want the released %s", res.IPs[0].Address.IP, ip)
	}
	// plumb down takes a CNI attachment down like any other; DEL then
	// finds no journal, and succeeds.
	kept := attachmentsKept(t)
	if len(kept) != 1 {
		t.Fatalf("plumb keeps %v", kept)
	}
	mustPlumb(t, "down", "attachment/"+kept[0])
	if err := cni.DelNetworkList(ctx, list, rtConf(1)); err != nil {
		t.Errorf("DEL after plumb down: %v", err)
	}
	// DEL with no journal at all (a state directory wiped) succeeds.
	if err := cni.DelNetworkList(ctx, list, rtConf(7)); err != nil {
		t.Errorf("DEL of a container plumb never saw: %v", err)
	}
}

// TestLiveCNIFailedAdd: a failed ADD leaves nothing (plugins#29 leaves the
// veth): refused before any step (the interface name is taken in the
// namespace), and failed at its last step, rolled back, the bridge the
// same ADD made taken down again.
func TestLiveCNIFailedAdd(t *testing.T) {
	t.Parallel()
	if !isolateWorld(t) {
		return
	}
	ctx := context.Background()
	cni, list := cniLib(t)
	sh(t, "ip", "netns", "add", "c00")
	before := snapshot(t)

	// A step fails: every tool behind the fault wrapper, one process a step.
	for _, kv := range append(faultEnv(t), "PLUMB_EXEC=each",
		"FAIL_ON=nsenter --net=/run/netns/c00 ip route add default via 10.88.0.1") {
		k, v, _ := strings.Cut(kv, "=")
		inside(k, v) // libcni runs plumb with this process's environment
	}
	_, err := cni.AddNetworkList(ctx, list, rtConf(0))
	if cniCode(err) != 101 || !strings.Contains(err.Error(), "injected failure") {
		t.Fatalf("ADD with a failing step: %v (code %d); want code 101", err, cniCode(err))
	}
	sameSnapshot(t, before, "after a failed first ADD")
	if out := sh(t, "ip", "-n", "c00", "-br", "link"); strings.Contains(out, "eth0") || strings.Contains(out, "plmb") {
		t.Errorf("the namespace keeps a link:\n%s", out)
	}
	if st := mustPlumb(t, "status"); strings.Count(st, "\n") > 1 {
		t.Errorf("plumb keeps objects after a failed ADD:\n%s", st)
	}
	inside("FAIL_ON", "")
	// DEL after a failed ADD (runtimes send one) succeeds.
	if err := cni.DelNetworkList(ctx, list, rtConf(0)); err != nil {
		t.Errorf("DEL after a failed ADD: %v", err)
	}

	// The interface name is taken in the namespace: refused, nothing run.
	sh(t, "ip", "netns", "add", "c01")
	if _, err := cni.AddNetworkList(ctx, list, rtConf(1)); err != nil {
		t.Fatal(err)
	}
	withBridge := snapshot(t)
	sh(t, "ip", "-n", "c00", "link", "add", "eth0", "type", "veth", "peer", "name", "p0")
	_, err = cni.AddNetworkList(ctx, list, rtConf(0))
	if cniCode(err) != 100 || !strings.Contains(err.Error(), "already has an interface named eth0") {
		t.Errorf("ADD into a namespace that has eth0: %v (code %d); want code 100", err, cniCode(err))
	}
	sameSnapshot(t, withBridge, "after a refused ADD")
	if kept := attachmentsKept(t); len(kept) != 1 {
		t.Errorf("plumb keeps %v after a refused ADD", kept)
	}
}

// TestLiveCNIVersions: a config of every version skel serves is answered
// in its own version, and CHECK is refused below 0.4.0 as the spec says.
func TestLiveCNIVersions(t *testing.T) {
	t.Parallel()
	if !isolateWorld(t) {
		return
	}
	ctx := context.Background()
	cni, _ := cniLib(t)
	for i, v := range []string{"0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"} {
		conf := strings.Replace(cniConflist, `"cniVersion": "1.1.0"`, `"cniVersion": "`+v+`"`, 1)
		list, err := libcni.ConfListFromBytes([]byte(conf))
		if err != nil {
			t.Fatal(err)
		}
		rt := rtConf(i)
		sh(t, "ip", "netns", "add", filepath.Base(rt.NetNS))
		r, err := cni.AddNetworkList(ctx, list, rt)
		if err != nil {
			t.Fatalf("ADD %s: %v", v, err)
		}
		if r.Version() != v {
			t.Errorf("ADD %s answered in %s", v, r.Version())
		}
		b, _ := json.Marshal(r)
		if !strings.Contains(string(b), "10.88.0.") {
			t.Errorf("ADD %s result has no address: %s", v, b)
		}
		if err := cni.DelNetworkList(ctx, list, rt); err != nil {
			t.Errorf("DEL %s: %v", v, err)
		}
	}
	if kept := attachmentsKept(t); len(kept) != 0 {
		t.Errorf("plumb keeps %v", kept)
	}
}
