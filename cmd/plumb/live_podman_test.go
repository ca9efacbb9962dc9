package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	isolatepkg "plumb/internal/isolate"
	"plumb/internal/mkimage"
)

// A real runtime as the client: Debian's podman 4.3 with its CNI back end
// runs two containers on a network whose conflist is podman's own default
// one with "type": "bridge" changed to "type": "plumb" (its chained
// portmap, firewall and tuning plugins left out), from an image imported
// offline from a busybox rootfs tarball. One serves a page, the other
// fetches it by the first one's address; `podman rm` leaves nothing of the
// containers, and `plumb down` of the bridge leaves the namespace as it was.

// podmanConflist is what a user writes: cniVersion 1.0.0, the newest
// podman 4.3's libcni speaks (it refuses 1.1.0).
const podmanConflist = `{
  "cniVersion": "1.0.0",
  "name": "plumbnet",
  "plugins": [
    {
      "type": "plumb",
      "bridge": "cni-plumb0",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "routes": [{ "dst": "0.0.0.0/0" }],
        "ranges": [[{ "subnet": "10.89.0.0/24", "gateway": "10.89.0.1" }]]
      }
    }
  ]
}
`

// isolatePodman is isolate for podman: a PID namespace too (conmon and
// crun die with it, whatever happens to the test), a private /run (netns
// files, podman's runroot and tmpdir, plumb's state), the plain cgroup2
// mount crun needs (this machine mounts cgroups in hybrid mode, which
// crun refuses), and tmpfs over /var/lib and /var/tmp, where podman 4.3
// writes what no flag moves: libcni's cache (/var/lib/cni) and image
// copies. Nothing podman writes reaches the host's file systems but the
// test's temporary directory.
func isolatePodman(t *testing.T) bool {
	t.Helper()
	if !isolatepkg.Rerun(t, "network, mount and PID namespace", "--net", "--mount", "--pid", "--mount-proc") {
		return false
	}
	for _, m := range []struct{ fs, dir, opts string }{
		{"tmpfs", "/run", "mode=755"},
		{"tmpfs", "/var/lib", "mode=755"},
		{"tmpfs", "/var/tmp", "mode=1777"},
		// podman's lock file, libpod_lock, is made in /dev/shm: the
		// host's, left there after the test, before this one.
		{"tmpfs", "/dev/shm", "mode=1777"},
	} {
		if err := unix.Mount(m.fs, m.dir, m.fs, 0, m.opts); err != nil {
			t.Fatalf("mounting a private %s: %v", m.dir, err)
		}
	}
	cgroup2(t)
	return true
}

// rootfsTarball writes a root file system for `podman import`: Debian's
// busybox-static with a link per applet and the demo image's base and web
// root (/www/index.html holds mkimage.IndexLine).
func rootfsTarball(t *testing.T, path string) {
	t.Helper()
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatal("busybox not found — install the busybox-static package")
	}
	bin, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	list, err := exec.Command(bb, "--list").Output()
	if err != nil {
		t.Fatal(err)
	}
	tarball, err := mkimage.Tar(append(mkimage.BaseEntries(bin, strings.Fields(string(list))), mkimage.WebRootEntries()...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, tarball, 0o644); err != nil {
		t.Fatal(err)
	}
}

// podmanEnv runs podman with the flags NOTES.md gives for this machine:
// storage and runroot in the namespace's /run, the CNI back end over the
// test's config directory, no systemd, no cgroups.
type podmanEnv struct {
	t       *testing.T
	confDir string
	env     []string
}

func (p podmanEnv) args(sub ...string) []string {
	return append([]string{"--root", "/run/podman/root", "--runroot", "/run/podman/runroot",
		"--network-backend", "cni", "--cni-config-dir", p.confDir,
		"--cgroup-manager", "cgroupfs", "--events-backend", "file", "--runtime", "crun"}, sub...)
}

// run runs podman SUB... and returns its stdout, logging the command and
// its output as a person would see them (the shared flags left out).
func (p podmanEnv) run(sub ...string) string {
	p.t.Helper()
	return p.exec(true, sub...)
}

// quiet is run without the log.
func (p podmanEnv) quiet(sub ...string) string {
	p.t.Helper()
	return p.exec(false, sub...)
}

func (p podmanEnv) exec(log bool, sub ...string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "podman", p.args(sub...)...)
	cmd.Env = append(os.Environ(), p.env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if log {
		p.t.Logf("$ podman %s\n%s%s", strings.Join(sub, " "), stderr.String(), out)
	}
	if err != nil {
		p.t.Fatalf("podman %s: %v\n%s", strings.Join(sub, " "), err, stderr.String())
	}
	return string(out)
}

func TestLivePodman(t *testing.T) {
	for _, tool := range []string{"podman", "crun"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skip(tool + " is not installed: this test runs Debian's podman 4.3 and crun (apt-get install podman crun) with --network-backend cni and plumb as its plugin")
		}
	}
	if !isolatePodman(t) {
		return
	}
	start := time.Now()
	world(t)
	before := snapshot(t)
	netnsBefore := sh(t, "ls", "/run/netns")

	// The plugin directory holds plumb under its CNI name; the config
	// directory the conflist; containers.conf names the plugin directory.
	self, err := exec.LookPath("plumb")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	binDir, confDir := filepath.Join(dir, "cni-bin"), filepath.Join(dir, "net.d")
	for _, d := range []string{binDir, confDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(self, filepath.Join(binDir, "plumb")); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(confDir, "plumbnet.conflist"), podmanConflist)
	write(t, filepath.Join(dir, "containers.conf"), fmt.Sprintf("[network]\ncni_plugin_dirs = [%q]\n", binDir))
	rootfs := filepath.Join(dir, "rootfs.tar")
	rootfsTarball(t, rootfs)
	p := podmanEnv{t: t, confDir: confDir, env: []string{"CONTAINERS_CONF=" + filepath.Join(dir, "containers.conf")}}
	// Should the test fail half-way, podman's containers go (a DEL each).
	t.Cleanup(func() {
		cmd := exec.Command("podman", p.args("rm", "-f", "-t", "0", "--all")...)
		cmd.Env = append(os.Environ(), p.env...)
		_ = cmd.Run()
	})

	p.run("import", rootfs, "localhost/plumb-busybox:1")
	if ls := p.run("network", "ls", "--format", "{{.Name}} {{.Driver}}"); !strings.Contains(ls, "plumbnet plumb\n") {
		t.Fatalf("podman does not list the plumb network:\n%s", ls)
	}

	// The server, and a client beside it, each on plumb's network.
	run := []string{"run", "-d", "--cgroups", "disabled", "--network", "plumbnet"}
	webID := strings.TrimSpace(p.run(append(run, "--name", "web", "localhost/plumb-busybox:1", "httpd", "-f", "-p", "80", "-h", "/www")...))
	clientID := strings.TrimSpace(p.run(append(run, "--name", "client", "localhost/plumb-busybox:1", "sleep", "600")...))
	addr := func(name string) string {
		return strings.TrimSpace(p.run("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name))
	}
	webIP, clientIP := addr("web"), addr("client")
	in := regexp.MustCompile(`^10\.89\.0\.\d+$`)
	if !in.MatchString(webIP) || !in.MatchString(clientIP) || webIP == clientIP {
		t.Fatalf("podman inspect: web %q, client %q; want two addresses of 10.89.0.0/24", webIP, clientIP)
	}

	// The client fetches the server's page by the address podman reports.
	if page := p.run("exec", "client", "wget", "-qO-", "http://"+webIP+"/"); strings.TrimSpace(page) != mkimage.IndexLine {
		t.Errorf("the client fetched %q from http://%s/, want %q", page, webIP, mkimage.IndexLine)
	}
	// And reaches the stand-in internet through plumb's NAT, as the uplink's address.
	l := listenIn(t, "/run/netns/inet", "192.0.2.2:8080")
	go http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		fmt.Fprintf(w, "seen from %s\n", host)
	}))
	if got := p.run("exec", "client", "wget", "-qO-", "http://192.0.2.2:8080/"); got != "seen from 192.0.2.1\n" {
		t.Errorf("the client reached the stand-in internet as %q, want it seen from the uplink's 192.0.2.1", got)
	}

	// Each container is an attachment plumb keeps under podman's container ID.
	status := mustPlumb(t, "status")
	t.Logf("$ plumb status\n%s", status)
	for _, id := range []string{webID, clientID} {
		if !strings.Contains(status, "attachment  plumbnet-"+id[:12]+"-") {
			t.Errorf("plumb status lists no attachment of container %s:\n%s", id[:12], status)
		}
	}
	ls := mustPlumb(t, "bridge", "ls")
	t.Logf("$ plumb bridge ls\n%s", ls)
	if !strings.Contains(ls, "  "+webIP+" ") || !strings.Contains(ls, "  "+clientIP+" ") {
		t.Errorf("plumb bridge ls lacks %s or %s:\n%s", webIP, clientIP, ls)
	}
	var res []struct {
		NetworkSettings struct {
			SandboxKey string
		}
	}
	if err := json.Unmarshal([]byte(p.quiet("inspect", "web")), &res); err != nil || len(res) != 1 {
		t.Fatalf("podman inspect web: %v", err)
	}
	if !strings.Contains(ls, "path "+res[0].NetworkSettings.SandboxKey) {
		t.Errorf("plumb bridge ls does not name web's namespace %s:\n%s", res[0].NetworkSettings.SandboxKey, ls)
	}

	// podman rm: a CNI DEL each; nothing of either container is left.
	p.run("rm", "-f", "-t", "0", "web", "client")
	status = mustPlumb(t, "status")
	t.Logf("$ plumb status\n%s", status)
	lines := strings.Split(strings.TrimSpace(status), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[1], "bridge  cni-plumb0 ") {
		t.Errorf("after podman rm plumb keeps more than the bridge:\n%s", status)
	}
	afterRm := snapshot(t)
	for _, gone := range []string{webIP, clientIP, "veth"} {
		// 10.89.0.2 but not the broadcast route's 10.89.0.255.
		if m := regexp.MustCompile(regexp.QuoteMeta(gone) + `([^0-9]|$)`).FindString(afterRm); m != "" {
			t.Errorf("after podman rm the namespace still has %s:\n%s", gone, afterRm)
		}
	}
	if got := sh(t, "ls", "/run/netns"); got != netnsBefore {
		t.Errorf("after podman rm /run/netns holds %q, before %q", got, netnsBefore)
	}
	p.run("network", "rm", "plumbnet")
	if _, err := os.Stat(filepath.Join(confDir, "plumbnet.conflist")); !os.IsNotExist(err) {
		t.Errorf("podman network rm left the conflist: %v", err)
	}
	if err := exec.Command("ip", "link", "show", "cni-plumb0").Run(); err != nil {
		t.Errorf("the bridge is gone before plumb down: %v", err)
	}

	// The bridge the first ADD made stays, as the reference bridge's does;
	// it is an ordinary plumb object, and plumb down takes it.
	t.Logf("$ plumb down cni-plumb0\n%s", mustPlumb(t, "down", "cni-plumb0"))
	if st := mustPlumb(t, "status"); strings.Count(st, "\n") != 1 {
		t.Errorf("plumb keeps objects after plumb down:\n%s", st)
	}
	sameSnapshot(t, before, "after podman rm and plumb down cni-plumb0")
	t.Logf("podman, two containers, plumb's network, and back: %v", time.Since(start).Round(10*time.Millisecond))
}
