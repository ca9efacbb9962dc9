package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"golang.org/x/sys/unix"

	isolatepkg "plumb/internal/isolate"
	"plumb/internal/mkimage"
)

// Kubernetes' container runtime path with plumb as its network: two nodes,
// throwaway network namespaces on one underlay as TestLiveMesh makes them,
// each with a VXLAN mesh m1 of plumb's and its own containerd (Debian's
// 1.6, its CRI plugin, plumb as the CNI plugin with "mesh": "m1"), driven
// by crictl as kubelet drives it. A busybox pod on node 1 fetches a page
// from a pod on node 2 by the address `crictl inspectp` reports for it; the
// server logs the client pod's own address; stopp and rmp leave no link,
// no rule and no journal of the pods, and the nodes are as before once the
// bridge and the mesh are down. The images are built offline (mkimage);
// nothing is pulled.

// Where the peers come from, for the messages of a test that skips.
const (
	containerdInstall = "apt-get install containerd (Debian's 1.6, with runc; scripts/deps.sh test installs it)"
	crictlInstall     = "go install sigs.k8s.io/cri-tools/cmd/crictl@v1.37.0 (.ci/run does)"
	loopbackInstall   = "apt-get install containernetworking-plugins (scripts/deps.sh test installs it)"
)

// loopbackPlugin is the reference loopback plugin containerd's CRI runs
// beside the network's plugin for every pod (Debian's package).
const loopbackPlugin = "/usr/lib/cni/loopback"

// ctrdConflist is the network every node's containerd reads: plumb on the
// mesh m1, the node's subnet from its mesh (no subnet of its own), as
// flannel's config is one for every node. cniVersion 1.0.0: containerd
// 1.6 refuses a result of 1.1.0.
const ctrdConflist = `{
  "cniVersion": "1.0.0",
  "name": "k8s-pod-network",
  "plugins": [{
    "type": "plumb",
    "mesh": "m1",
    "bridge": "cni0",
    "isGateway": true,
    "isDefaultGateway": true,
    "ipMasq": true,
    "ipam": {"type": "host-local"}
  }]
}
`

// The images: the demo busybox image (httpd serves mkimage.IndexLine),
// and a pause image on the same base layer whose process sleeps (containerd
// stops a sandbox with SIGKILL).
const (
	busyboxRef = "localhost/plumb/busybox:1"
	pauseRef   = "localhost/plumb/pause:1"
)

// ctrdConfig is containerd 1.6's configuration for a node whose files are
// all under dir (on the test's private /run): no service of the host's is
// touched, and two run side by side.
func ctrdConfig(dir string) string {
	return fmt.Sprintf(`version = 2
root = "%[1]s/root"
state = "%[1]s/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs"]
[grpc]
  address = "%[1]s/containerd.sock"
[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "%[1]s/opt"
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = %[2]q
    disable_apparmor = true
    enable_selinux = false
    # No CAP_SYS_RESOURCE on this project's machines: runc cannot give
    # pause the oom_score_adj of -998 kubelet's containerd asks for.
    restrict_oom_score_adj = true
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          SystemdCgroup = false
          Root = "%[1]s/runc"
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "%[1]s/cni-bin"
      conf_dir = "%[1]s/net.d"
      max_conf_num = 1
`, dir, pauseRef)
}

// ctrdNode is a mesh node with its containerd.
type ctrdNode struct {
	*meshNode
	dir    string // /run/nN-ctrd: containerd's root, state, socket, configs
	crictl string // crictl's binary
	cmd    *exec.Cmd
	exited chan error
}

func (c *ctrdNode) sock() string { return filepath.Join(c.dir, "containerd.sock") }

// cri runs crictl against the node's containerd, in the node's network
// namespace (crictl exec reaches the streaming server on the node's
// 127.0.0.1), and returns its stdout and its stderr.
func (c *ctrdNode) cri(args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	argv := append([]string{"netns", "exec", filepath.Base(c.ns), c.crictl, "--config", filepath.Join(c.dir, "crictl.yaml")}, args...)
	cmd := exec.CommandContext(ctx, "ip", argv...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	return string(out), stderr.String(), err
}

// mustCri is cri's stdout, trimmed, or the test fails with crictl's
// stderr and the end of containerd's log.
func (c *ctrdNode) mustCri(t *testing.T, args ...string) string {
	t.Helper()
	out, stderr, err := c.cri(args...)
	if err != nil {
		t.Fatalf("node %d: crictl %s: %v\n%s%s\ncontainerd's log:\n%s", c.n, strings.Join(args, " "), err, out, stderr, c.log())
	}
	return strings.TrimSpace(out)
}

// log is the end of containerd's log.
func (c *ctrdNode) log() string {
	b, _ := os.ReadFile(filepath.Join(c.dir, "containerd.log"))
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	return strings.Join(lines, "\n")
}

// ctrdTools finds containerd, ctr, runc, crictl and the loopback plugin,
// and skips the test, naming how to install them, when one is missing (as
// TestLivePodman and TestLiveCNItool skip without their peers). It
// returns crictl's path.
func ctrdTools(t *testing.T) string {
	t.Helper()
	for _, tool := range []struct{ name, install string }{
		{"containerd", containerdInstall}, {"ctr", containerdInstall},
		{"containerd-shim-runc-v2", containerdInstall}, {"runc", containerdInstall},
	} {
		if _, err := exec.LookPath(tool.name); err != nil {
			t.Skipf("%s is not installed: this test runs containerd's CRI with plumb as its CNI plugin — %s", tool.name, tool.install)
		}
	}
	if _, err := os.Stat(loopbackPlugin); err != nil {
		t.Skipf("%s is missing: containerd runs the reference loopback plugin for every pod — %s", loopbackPlugin, loopbackInstall)
	}
	crictl := findCrictl()
	if crictl == "" {
		t.Skipf("crictl is not installed (on PATH, in GOBIN or GOPATH/bin): %s", crictlInstall)
	}
	return crictl
}

// findCrictl is crictl on PATH, or where `go install` puts it: GOBIN, or
// the first GOPATH's bin ($HOME/go/bin by default).
func findCrictl() string {
	if p, err := exec.LookPath("crictl"); err == nil {
		return p
	}
	var dirs []string
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go"
	}
	if out, err := exec.Command(goBin, "env", "GOBIN", "GOPATH").Output(); err == nil {
		lines := strings.Split(string(out), "\n")
		if len(lines) >= 2 {
			if lines[0] != "" {
				dirs = append(dirs, lines[0])
			}
			if gp := filepath.SplitList(lines[1]); len(gp) > 0 && gp[0] != "" {
				dirs = append(dirs, filepath.Join(gp[0], "bin"))
			}
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, "crictl")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// isolateContainerd is isolate for containerd: network, mount and PID
// namespaces (containerd, its shims and the pods' processes die with the
// test's, whatever happens to it), a private /run (containerd's root,
// state and sockets, the pods' network namespaces, plumb's state) and
// /var/lib (libcni's result cache, /var/lib/cni, which no setting of
// containerd 1.6 moves). The cgroup file systems stay as the host mounts
// them: confine puts containerd in a cgroup namespace of its own.
func isolateContainerd(t *testing.T) bool {
	t.Helper()
	if !isolatepkg.Rerun(t, "network, mount and PID namespace", "--net", "--mount", "--pid", "--mount-proc") {
		return false
	}
	for _, m := range []struct{ dir, opts string }{{"/run", "mode=755"}, {"/var/lib", "mode=755"}} {
		if err := unix.Mount("tmpfs", m.dir, "tmpfs", 0, m.opts); err != nil {
			t.Fatalf("mounting a private %s: %v", m.dir, err)
		}
	}
	os.Setenv("PLUMB_ROOT", "/run/plumb-root")
	return true
}

// cgHier is one cgroup hierarchy as the test's process sees it: where it is
// mounted, its type and mount options, and the test's own cgroup in it.
type cgHier struct {
	mount, fstype, opts string
	own                 string // the directory of the test's cgroup
	cpuset              bool
}

// cgroupHierarchies reads /proc/self/cgroup and /proc/self/mountinfo: every
// hierarchy the process is in that is mounted under /sys/fs/cgroup, and
// whether /sys/fs/cgroup itself is a tmpfs holding them (hybrid or v1
// layout) or the cgroup2 mount (v2 alone).
func cgroupHierarchies() (hs []cgHier, tmpfsRoot bool, err error) {
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, false, err
	}
	type mnt struct{ root, point, fstype, super string }
	var mounts []mnt
	for _, l := range strings.Split(string(mi), "\n") {
		pre, post, ok := strings.Cut(l, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 5 || len(g) < 3 || !strings.HasPrefix(f[4], "/sys/fs/cgroup") {
			continue
		}
		m := mnt{root: f[3], point: f[4], fstype: g[0], super: g[2]}
		if m.point == "/sys/fs/cgroup" && m.fstype == "tmpfs" {
			tmpfsRoot = true
		}
		mounts = append(mounts, m)
	}
	cg, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, false, err
	}
	for _, l := range strings.Split(strings.TrimSpace(string(cg)), "\n") {
		parts := strings.SplitN(l, ":", 3)
		if len(parts) != 3 {
			continue
		}
		ctrls, path := parts[1], parts[2]
		for _, m := range mounts {
			var match bool
			opts := ""
			if ctrls == "" {
				match = m.fstype == "cgroup2"
			} else if m.fstype == "cgroup" {
				have := map[string]bool{}
				var keep []string
				for _, o := range strings.Split(m.super, ",") {
					have[o] = true
					if o != "rw" && o != "ro" {
						keep = append(keep, o)
					}
				}
				match = true
				for _, c := range strings.Split(ctrls, ",") {
					match = match && have[c]
				}
				opts = strings.Join(keep, ",")
			}
			if !match {
				continue
			}
			rel := path
			if m.root != "/" {
				if !strings.HasPrefix(path, m.root) {
					continue
				}
				rel = strings.TrimPrefix(path, m.root)
			}
			hs = append(hs, cgHier{mount: m.point, fstype: m.fstype, opts: opts, own: filepath.Join(m.point, rel),
				cpuset: m.fstype == "cgroup" && strings.Contains(","+ctrls+",", ",cpuset,")})
			break
		}
	}
	if len(hs) == 0 {
		return nil, false, errors.New("no cgroup hierarchy of this process is mounted under /sys/fs/cgroup")
	}
	return hs, tmpfsRoot, nil
}

// confinementName is the name of the cgroup this test's containerds live
// under, in every hierarchy, below the test's own cgroup: the same for the
// outer run (which removes what a killed inner run left) and the inner run
// (which makes it), and another for another `go test` (another binary).
func confinementName(t *testing.T) string {
	sum := sha256.Sum256([]byte(os.Args[0] + "\x00" + t.Name()))
	return "plumb-ctrd-" + hex.EncodeToString(sum[:6])
}

// removeConfinement kills what is left in the confinement's cgroups (a
// shim or a pod's process of a containerd that did not stop them) and
// removes them, deepest first, within a few seconds; it returns what it
// could not remove.
func removeConfinement(hs []cgHier, name string) []string {
	var dirs []string
	for _, h := range hs {
		root := filepath.Join(h.own, name)
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
	}
	var left []string
	deadline := time.Now().Add(5 * time.Second)
	for i := len(dirs) - 1; i >= 0; i-- { // WalkDir lists parents first
		for {
			if b, err := os.ReadFile(filepath.Join(dirs[i], "cgroup.procs")); err == nil {
				for _, f := range strings.Fields(string(b)) {
					if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
						_ = unix.Kill(pid, unix.SIGKILL)
					}
				}
			}
			err := unix.Rmdir(dirs[i])
			if err == nil || errors.Is(err, unix.ENOENT) {
				break
			}
			if time.Now().After(deadline) {
				left = append(left, fmt.Sprintf("%s: %v", dirs[i], err))
				break
			}
			reap()
			time.Sleep(20 * time.Millisecond)
		}
	}
	return left
}

// reap waits for the test's children that have exited and that no
// exec.Cmd waits for: in the inner run the test is PID 1 of its PID
// namespace, and the shims containerd leaves are reparented to it.
func reap() {
	if os.Getpid() != 1 {
		return
	}
	for {
		var ws unix.WaitStatus
		if pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil); pid <= 0 || err != nil {
			return
		}
	}
}

// confine makes the confinement cgroup and a child of it for each node,
// in every hierarchy (a v1 cpuset's with the parent's CPUs and memory
// nodes), and returns for each node the cgroup.procs files its containerd
// joins before it makes its cgroup namespace there. The cleanup removes
// them all (removeConfinement).
func confine(t *testing.T, hs []cgHier, name string, nodes int) [][]string {
	t.Helper()
	t.Cleanup(func() {
		if left := removeConfinement(hs, name); len(left) > 0 {
			t.Errorf("cgroups left behind:\n%s", strings.Join(left, "\n"))
		}
	})
	procs := make([][]string, nodes)
	for _, h := range hs {
		top := filepath.Join(h.own, name)
		mkCgroup(t, h, h.own, top)
		for i := 0; i < nodes; i++ {
			d := filepath.Join(top, fmt.Sprintf("n%d", i+1))
			mkCgroup(t, h, top, d)
			procs[i] = append(procs[i], filepath.Join(d, "cgroup.procs"))
		}
	}
	return procs
}

func mkCgroup(t *testing.T, h cgHier, parent, dir string) {
	t.Helper()
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		t.Fatalf("making the cgroup %s: %v", dir, err)
	}
	if !h.cpuset {
		return
	}
	for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
		b, err := os.ReadFile(filepath.Join(parent, f))
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, f), b, 0o644)
		}
		if err != nil {
			t.Fatalf("cpuset of %s: %v", dir, err)
		}
	}
}

// cgroupMounts is the shell that mounts, inside containerd's cgroup
// namespace (and the mount namespace `ip netns exec` made), the cgroup
// file systems as the host has them: their roots are then the node's
// cgroup, and runc makes every cgroup of a pod below it. With cgroup v2
// alone containerd moves to a child, so that the namespace's root holds
// no process and runc may enable controllers in it.
func cgroupMounts(hs []cgHier, tmpfsRoot bool) string {
	var b strings.Builder
	if tmpfsRoot {
		b.WriteString("mount -t tmpfs -o mode=755 cgroup_root /sys/fs/cgroup\n")
	}
	for _, h := range hs {
		if h.mount != "/sys/fs/cgroup" {
			fmt.Fprintf(&b, "mkdir -p %s\n", h.mount)
		}
		if h.fstype == "cgroup2" {
			fmt.Fprintf(&b, "mount -t cgroup2 cgroup2 %s\n", h.mount)
		} else {
			fmt.Fprintf(&b, "mount -t cgroup -o %s cgroup %s\n", h.opts, h.mount)
		}
	}
	if !tmpfsRoot {
		b.WriteString("mkdir /sys/fs/cgroup/containerd && echo $$ > /sys/fs/cgroup/containerd/cgroup.procs\n")
	}
	return b.String()
}

// start starts the node's containerd: a shell in the test's
// namespaces joins the node's cgroups, then `ip netns exec` (the node's
// network namespace, a mount namespace of its own with the node's /sys)
// and `unshare --cgroup` (a cgroup namespace rooted there) run the shell
// that mounts the cgroup file systems and execs containerd, with the
// node's plumb state in its environment, which containerd hands to plumb.
func (c *ctrdNode) start(t *testing.T, procs []string, mounts string) {
	t.Helper()
	inner := "set -e\n" + mounts + fmt.Sprintf("exec containerd --config %s/config.toml\n", c.dir)
	write(t, filepath.Join(c.dir, "start.sh"), inner)
	outer := "set -e\nfor f in \"$@\"; do echo $$ > \"$f\"; done\n" +
		fmt.Sprintf("exec ip netns exec %s unshare --cgroup sh %s/start.sh\n", filepath.Base(c.ns), c.dir)
	logf, err := os.Create(filepath.Join(c.dir, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	c.cmd = exec.Command("sh", append([]string{"-c", outer, "sh"}, procs...)...)
	c.cmd.Env = append(os.Environ(), stateEnv(c.state)...)
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c.exited = make(chan error, 1)
	go func() { c.exited <- c.cmd.Wait() }()
	t.Cleanup(func() { c.stop(t) })
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := exec.Command("ctr", "--address", c.sock(), "version").Run()
		if err == nil {
			return
		}
		select {
		case werr := <-c.exited:
			c.exited <- werr
			t.Fatalf("node %d: containerd exited: %v\n%s", c.n, werr, c.log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %d: containerd did not answer within 15s: %v\n%s", c.n, err, c.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop removes what pods are left (a test that failed half-way: CNI DEL
// for each, their shims exit), then stops containerd with SIGTERM as its
// service would be stopped.
func (c *ctrdNode) stop(t *testing.T) {
	t.Helper()
	select {
	case err := <-c.exited:
		c.exited <- err
		return
	default:
	}
	if out, _, err := c.cri("pods", "-q"); err == nil && strings.TrimSpace(out) != "" {
		if out, stderr, err := c.cri("rmp", "--force", "--all"); err != nil {
			t.Logf("node %d: crictl rmp --force --all: %v\n%s%s", c.n, err, out, stderr)
		}
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
		t.Errorf("node %d: containerd did not stop within 10s of SIGTERM\n%s", c.n, c.log())
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
}

// ctrdImages writes the two images as docker save archives: the demo
// busybox image, and pause, its base layer sleeping.
func ctrdImages(t *testing.T, dir string) []string {
	t.Helper()
	bb, err := mkimage.Build(mkimage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	base, err := mkimage.Build(mkimage.Options{Layers: 1})
	if err != nil {
		t.Fatal(err)
	}
	pause, err := mutate.Config(base, v1.Config{Env: []string{mkimage.Path}, Entrypoint: []string{"/bin/sleep"}, Cmd: []string{"86400"}})
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for ref, img := range map[string]v1.Image{busyboxRef: bb, pauseRef: pause} {
		f := filepath.Join(dir, strings.NewReplacer("/", "_", ":", "_").Replace(ref)+".tar")
		if err := mkimage.WriteDockerArchive(f, ref, img); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return files
}

// podSpec and containerSpec are CRI's PodSandboxConfig and ContainerConfig
// as crictl reads them.
func podSpec(t *testing.T, dir, name string) string {
	t.Helper()
	f := filepath.Join(dir, name+"-pod.json")
	write(t, f, fmt.Sprintf(`{"metadata": {"name": %q, "namespace": "default", "uid": "uid-%s", "attempt": 1},
 "hostname": %q, "log_directory": %q, "linux": {"cgroup_parent": "/kubepods/besteffort/pod-uid-%s"}}`,
		name, name, name, filepath.Join(dir, "pods", name), name))
	return f
}

func containerSpec(t *testing.T, dir, name string, command ...string) string {
	t.Helper()
	argv, _ := json.Marshal(command)
	f := filepath.Join(dir, name+"-container.json")
	write(t, f, fmt.Sprintf(`{"metadata": {"name": %q}, "image": {"image": %q}, "command": %s, "log_path": "%s.log", "linux": {}}`,
		name, busyboxRef, argv, name))
	return f
}

// podIP is the pod's address as `crictl inspectp` reports it.
func (c *ctrdNode) podIP(t *testing.T, pod string) string {
	t.Helper()
	var v struct {
		Status struct {
			Network struct {
				IP string `json:"ip"`
			} `json:"network"`
		} `json:"status"`
	}
	out := c.mustCri(t, "inspectp", "-o", "json", pod)
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.Status.Network.IP == "" {
		t.Fatalf("node %d: crictl inspectp %s names no address (%v):\n%s", c.n, pod, err, out)
	}
	return v.Status.Network.IP
}

// statusRows are plumb status's rows on the node, as "KIND NAME".
func (c *ctrdNode) statusRows(t *testing.T) []string {
	t.Helper()
	var rows []string
	sc := bufio.NewScanner(strings.NewReader(c.mustPlumb(t, "status")))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 2 && f[0] != "KIND" {
			rows = append(rows, f[0]+" "+f[1])
		}
	}
	return rows
}

// podVeths are the node's veths other than its underlay eth0.
func (c *ctrdNode) podVeths(t *testing.T) []string {
	t.Helper()
	var veths []string
	for _, l := range strings.Split(strings.TrimSpace(c.run(t, "ip", "-o", "link", "show", "type", "veth")), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && !strings.HasPrefix(f[1], "eth0@") {
			veths = append(veths, strings.TrimSuffix(f[1], ":"))
		}
	}
	return veths
}

// TestLiveContainerdMesh, with each firewall back end (PLUMB_FIREWALL,
// which containerd hands to plumb with the rest of its environment).
func TestLiveContainerdMesh(t *testing.T) { forFirewalls(t, testLiveContainerdMesh) }

func testLiveContainerdMesh(t *testing.T, _ string) {
	var crictl string
	if os.Geteuid() == 0 {
		crictl = ctrdTools(t)
	}
	name := confinementName(t)
	if os.Geteuid() == 0 && !isolatepkg.Inside() {
		// The inner run removes its cgroups; should it be killed, this
		// run does, once it has ended (its PID namespace with it).
		hs, _, err := cgroupHierarchies()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if left := removeConfinement(hs, name); len(left) > 0 {
				t.Errorf("cgroups left behind by the isolated run:\n%s", strings.Join(left, "\n"))
			}
		})
	}
	if !isolateContainerd(t) {
		return
	}
	start := time.Now()
	hs, tmpfsRoot, err := cgroupHierarchies()
	if err != nil {
		t.Fatal(err)
	}
	procs := confine(t, hs, name, 2)
	mounts := cgroupMounts(hs, tmpfsRoot)

	meshNodes := meshWorld(t, 2)
	before := map[int]string{}
	for _, m := range meshNodes {
		before[m.n] = netState(t, m.ns)
	}
	dir := t.TempDir()
	images := ctrdImages(t, dir)
	self, err := exec.LookPath("plumb")
	if err != nil {
		t.Fatal(err)
	}
	list := nodeList(t, dir, meshNodes, func(m *meshNode) string { return m.ip() })
	var nodes []*ctrdNode
	for i, m := range meshNodes {
		c := &ctrdNode{meshNode: m, dir: fmt.Sprintf("/run/n%d-ctrd", m.n), crictl: crictl}
		nodes = append(nodes, c)
		m.mustPlumb(t, "mesh", "up", "m1", "--vni", "42", "--cluster", "10.244.0.0/16", "--subnet", m.subnet(), "--local", m.ip())
		if out := m.mustPlumb(t, "mesh", "sync", "m1", "--nodes", list); !strings.Contains(out, "peers +1") {
			t.Errorf("node %d: sync says %q", m.n, out)
		}
		write(t, filepath.Join(c.dir, "config.toml"), ctrdConfig(c.dir))
		write(t, filepath.Join(c.dir, "net.d", "10-k8s-pod-network.conflist"), ctrdConflist)
		write(t, filepath.Join(c.dir, "crictl.yaml"), fmt.Sprintf(
			"runtime-endpoint: unix://%[1]s\nimage-endpoint: unix://%[1]s\ntimeout: 30\npull-image-on-create: false\n", c.sock()))
		for plugin, target := range map[string]string{"plumb": self, "loopback": loopbackPlugin} {
			if err := os.MkdirAll(filepath.Join(c.dir, "cni-bin"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, filepath.Join(c.dir, "cni-bin", plugin)); err != nil {
				t.Fatal(err)
			}
		}
		c.start(t, procs[i], mounts)
		for _, img := range images {
			if out, err := exec.Command("ctr", "--address", c.sock(), "-n", "k8s.io", "images", "import", img).CombinedOutput(); err != nil {
				t.Fatalf("node %d: ctr images import %s: %v\n%s", c.n, img, err, out)
			}
		}
	}
	t.Logf("two nodes, each with its mesh and containerd, in %v", time.Since(start).Round(time.Millisecond))
	n1, n2 := nodes[0], nodes[1]

	// The server on node 2: busybox httpd, which logs each client's address.
	specs := t.TempDir()
	webSpec, clientSpec := podSpec(t, specs, "web"), podSpec(t, specs, "client")
	webPod := n2.mustCri(t, "runp", webSpec)
	web := n2.mustCri(t, "create", webPod, containerSpec(t, specs, "httpd", "httpd", "-f", "-v", "-p", "0.0.0.0:80", "-h", "/www"), webSpec)
	n2.mustCri(t, "start", web)
	// The client on node 1, which busybox wget runs in (crictl exec).
	clientPod := n1.mustCri(t, "runp", clientSpec)
	client := n1.mustCri(t, "create", clientPod, containerSpec(t, specs, "client", "sleep", "3600"), clientSpec)
	n1.mustCri(t, "start", client)
	webIP, clientIP := n2.podIP(t, webPod), n1.podIP(t, clientPod)
	t.Logf("pods running in %v: web %s on node 2, client %s on node 1", time.Since(start).Round(time.Millisecond), webIP, clientIP)
	if !strings.HasPrefix(webIP, "10.244.2.") || !strings.HasPrefix(clientIP, "10.244.1.") {
		t.Errorf("pod addresses %s (node 2) and %s (node 1) are not of their nodes' subnets", webIP, clientIP)
	}
	// plumb names the pod containerd asked for, and its sandbox.
	for _, c := range []struct {
		node      *ctrdNode
		pod, name string
	}{{n2, webPod, "web"}, {n1, clientPod, "client"}} {
		var ids []string
		for _, row := range c.node.statusRows(t) {
			if id, ok := strings.CutPrefix(row, "attachment "); ok {
				ids = append(ids, id)
			}
		}
		if len(ids) != 1 {
			t.Fatalf("node %d keeps attachments %v, want one", c.node.n, ids)
		}
		want := fmt.Sprintf("pod default/%s (uid uid-%s, sandbox %s)", c.name, c.name, c.pod)
		if out := c.node.mustPlumb(t, "inspect", "attachment/"+ids[0]); !strings.Contains(out, want) {
			t.Errorf("node %d: inspect does not say %q:\n%s", c.node.n, want, out)
		}
	}

	// Pod to pod across the mesh, by the address inspectp gave.
	var page, stderr string
	for i := 0; ; i++ {
		page, stderr, err = n1.cri("exec", client, "timeout", "5", "wget", "-qO-", "http://"+webIP+"/")
		if err == nil || i == 50 {
			break
		}
		time.Sleep(100 * time.Millisecond) // httpd may not listen yet
	}
	if err != nil || page != mkimage.IndexLine+"\n" {
		t.Fatalf("client on node 1 fetching http://%s/: %v\n%q\n%s", webIP, err, page, stderr)
	}
	seen := regexp.MustCompile(`(^|[^0-9.])` + regexp.QuoteMeta(clientIP) + `:[0-9]+: response:200\n`)
	var logs string
	for i := 0; i < 50; i++ {
		out, stderr, err := n2.cri("logs", web)
		if err != nil {
			t.Fatalf("crictl logs %s: %v\n%s", web, err, stderr)
		}
		if logs = out + stderr; seen.MatchString(logs) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !seen.MatchString(logs) {
		t.Errorf("httpd on node 2 did not see the client pod's own address %s:\n%s", clientIP, logs)
	}
	t.Logf("page fetched across the mesh in %v; httpd logged:\n%s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(logs))

	// stopp (CNI DEL with the netns), rmp (DEL without): nothing of the
	// pods left on either node.
	for _, c := range []struct {
		node *ctrdNode
		pod  string
	}{{n1, clientPod}, {n2, webPod}} {
		c.node.mustCri(t, "stopp", c.pod)
		c.node.mustCri(t, "rmp", c.pod)
	}
	// (The pods' rules are the bridge's, kept until it goes: what is left
	// of them is the snapshot's, below.)
	for _, c := range nodes {
		if out := c.mustCri(t, "pods", "-q"); out != "" {
			t.Errorf("node %d: pods left: %s", c.n, out)
		}
		if v := c.podVeths(t); len(v) > 0 {
			t.Errorf("node %d: veths left after rmp: %v", c.n, v)
		}
		if got, want := c.statusRows(t), []string{"bridge cni0", "mesh m1"}; !cmp.Equal(slices.Sorted(slices.Values(got)), want) {
			t.Errorf("node %d: plumb status after rmp: %v, want %v", c.n, got, want)
		}
	}
	if ls := strings.Fields(sh(t, "ls", "/run/netns")); !cmp.Equal(ls, []string{"n1", "n2"}) {
		t.Errorf("network namespaces left after rmp: %v", ls)
	}

	// Down, bridge then mesh: each node as before.
	for _, c := range nodes {
		c.mustPlumb(t, "bridge", "down", "cni0")
		c.mustPlumb(t, "mesh", "down", "m1")
		if diff := cmp.Diff(before[c.n], netState(t, c.ns)); diff != "" {
			t.Errorf("node %d after down (-before +after):\n%s", c.n, diff)
		}
	}
	// What plumb said to containerd (its stderr is containerd's).
	for _, c := range nodes {
		b, _ := os.ReadFile(filepath.Join(c.dir, "containerd.log"))
		var said []string
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if !strings.HasPrefix(l, "time=") {
				said = append(said, l)
			}
		}
		t.Logf("node %d: plumb's messages in containerd's log: %d\n%s", c.n, len(said), strings.Join(said, "\n"))
	}
	t.Logf("done in %v", time.Since(start).Round(time.Millisecond))
}
