package main

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	types100 "github.com/containernetworking/cni/pkg/types/100"
	"golang.org/x/sys/unix"
)

// The CNI plugin driven by the real cnitool, the CNI project's own command
// line runtime (github.com/containernetworking/cni/cnitool, the version of
// the cni module plumb requires), as the contract's "testing without
// Kubernetes" runs the reference plugins: a conflist of type plumb in
// NETCONFPATH, plumb in CNI_PATH, a namespace made by `ip netns add`.

const cnitoolConflist = `{
  "cniVersion": "1.1.0",
  "name": "toolnet",
  "plugins": [{
    "type": "plumb",
    "bridge": "cni-tool0",
    "isGateway": true,
    "isDefaultGateway": true,
    "ipMasq": true,
    "ipam": {"type": "host-local", "subnet": "10.77.0.0/24"}
  }]
}`

// buildCnitool builds cnitool into dir, offline: from plumb's own module
// (which requires the cni module), or, when go.sum lacks what cnitool
// alone imports (cobra), as `go install cnitool@VERSION` of that same
// version with the module cache as the only proxy. It skips the test when
// neither builds without the network.
func buildCnitool(t *testing.T, dir string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		if goBin, err = exec.LookPath("/usr/local/go/bin/go"); err != nil {
			t.Skip("live cnitool test: no go toolchain to build cnitool with")
		}
	}
	out := filepath.Join(dir, "cnitool")
	offline := append(os.Environ(), "GOPROXY=off", "GOFLAGS=-mod=readonly")
	build := exec.Command(goBin, "build", "-o", out, "github.com/containernetworking/cni/cnitool")
	build.Env = offline
	first, err := build.CombinedOutput()
	if err == nil {
		return out
	}
	list := exec.Command(goBin, "list", "-m", "-f", "{{.Version}}", "github.com/containernetworking/cni")
	list.Env = offline
	version, err := list.Output()
	if err != nil {
		t.Fatalf("go list -m github.com/containernetworking/cni: %v", err)
	}
	pkg := "github.com/containernetworking/cni/cnitool@" + strings.TrimSpace(string(version))
	modCache, err := exec.Command(goBin, "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatalf("go env GOMODCACHE: %v", err)
	}
	install := exec.Command(goBin, "install", pkg)
	install.Env = append(os.Environ(), "GOBIN="+dir, "GOSUMDB=off", "GOFLAGS=",
		"GOPROXY=file://"+filepath.Join(strings.TrimSpace(string(modCache)), "cache", "download"))
	second, err := install.CombinedOutput()
	if err != nil {
		t.Skipf("live cnitool test: cnitool does not build offline (go build in plumb's module: %s; go install %s: %s); "+
			"`go install %s` once with the network (make bench does) puts what it needs in the module cache",
			lastLine(first), pkg, lastLine(second), pkg)
	}
	return out
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// cnitool runs `cnitool ARGS...` with NETCONFPATH and CNI_PATH, and
// returns its stdout, or fails the test with its output.
func cnitool(t *testing.T, bin string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("cnitool %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

// cnitoolEnv hands the cnitool the outer run built to the isolated run.
const cnitoolEnv = "PLUMB_TEST_CNITOOL"

func TestLiveCNItool(t *testing.T) {
	// Built before isolating (by the outer run only), so that a cnitool that
	// cannot be built skips the test rather than fails the isolated run.
	tool := os.Getenv(cnitoolEnv)
	if tool == "" && os.Geteuid() == 0 {
		tool = buildCnitool(t, t.TempDir())
		t.Setenv(cnitoolEnv, tool)
	}
	if !isolateWorld(t) {
		return
	}
	// libcni, in cnitool, keeps its result cache in /var/lib/cni, which no
	// flag or variable moves: keep it in the test's mount namespace.
	if err := unix.Mount("tmpfs", "/var/lib", "tmpfs", 0, "mode=755"); err != nil {
		t.Fatalf("mounting a private /var/lib: %v", err)
	}
	self, err := exec.LookPath("plumb")
	if err != nil {
		t.Fatal(err)
	}
	confDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(confDir, "10-toolnet.conflist"), []byte(cnitoolConflist), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"NETCONFPATH=" + confDir, "CNI_PATH=" + filepath.Dir(self)}
	const netns = "/run/netns/ct1"
	sh(t, "ip", "netns", "add", "ct1")
	before := snapshot(t)

	// ADD: the result names the bridge, the host's veth and eth0 in the
	// namespace, with an address of the subnet on eth0.
	var r types100.Result
	out := cnitool(t, tool, env, "add", "toolnet", netns)
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("cnitool add printed no result: %v\n%s", err, out)
	}
	_, subnet, _ := net.ParseCIDR("10.77.0.0/24")
	if len(r.IPs) != 1 || !subnet.Contains(r.IPs[0].Address.IP) || r.IPs[0].Gateway.String() != "10.77.0.1" {
		t.Fatalf("cnitool add: ips %+v, want one address of %s with gateway 10.77.0.1\n%s", r.IPs, subnet, out)
	}
	if len(r.Interfaces) != 3 || r.Interfaces[0].Name != "cni-tool0" || !strings.HasPrefix(r.Interfaces[1].Name, "veth") ||
		r.Interfaces[2].Name != "eth0" || r.Interfaces[2].Sandbox != netns || r.IPs[0].Interface == nil || *r.IPs[0].Interface != 2 {
		t.Fatalf("cnitool add: interfaces %+v, want cni-tool0, a veth and eth0 in %s\n%s", r.Interfaces, netns, out)
	}
	addr, hostVeth := r.IPs[0].Address.String(), r.Interfaces[1].Name
	if got := sh(t, "ip", "-n", "ct1", "-br", "addr", "show", "dev", "eth0"); !strings.Contains(got, addr) {
		t.Errorf("eth0 in the namespace: %q, want %s", got, addr)
	}
	if got := sh(t, "ip", "-o", "link", "show", "dev", hostVeth); !strings.Contains(got, "master cni-tool0") || !strings.Contains(got, "state UP") {
		t.Errorf("the host's veth is not up on cni-tool0: %q", got)
	}
	if kept := attachmentsKept(t); len(kept) != 1 || !strings.HasPrefix(kept[0], "toolnet-") {
		t.Errorf("after cnitool add plumb keeps %v, want one attachment of toolnet", kept)
	}

	// CHECK passes (cnitool sends the cached result as prevResult).
	cnitool(t, tool, env, "check", "toolnet", netns)

	// DEL, twice: the second finds nothing and succeeds.
	for i := 0; i < 2; i++ {
		cnitool(t, tool, env, "del", "toolnet", netns)
	}
	if kept := attachmentsKept(t); len(kept) != 0 {
		t.Errorf("after cnitool del plumb keeps %v", kept)
	}
	if st := mustPlumb(t, "status"); strings.Count(strings.TrimSpace(st), "\n") != 1 || !strings.Contains(st, "bridge ") {
		t.Errorf("after cnitool del plumb status is not the bridge alone:\n%s", st)
	}
	if got := sh(t, "ip", "-n", "ct1", "-br", "link"); strings.Contains(got, "eth0") {
		t.Errorf("after cnitool del the namespace keeps eth0:\n%s", got)
	}
	now := snapshot(t)
	ip := r.IPs[0].Address.IP.String()
	for _, left := range []string{hostVeth, `"` + ip + `"`, ip + "/32"} {
		if strings.Contains(now, left) {
			t.Errorf("after cnitool del the host keeps %q:\n%s", left, now)
		}
	}
	// What is left is the bridge the first ADD made, as plumb keeps it;
	// plumb down takes it, and the namespace is as before.
	mustPlumb(t, "down", "cni-tool0")
	sameSnapshot(t, before, "after cnitool del twice and plumb down cni-tool0")
}
