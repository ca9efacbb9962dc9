package container

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"plumb/actions"
	"plumb/plan"
	"plumb/plan/image"
)

func TestHostnameFrom(t *testing.T) {
	for name, want := range map[string]string{
		"web":                               "web",
		"my_app":                            "my-app",
		"my_app_2":                          "my-app-2",
		"a_":                                "a",
		"x.-y_":                             "x.y",
		"a..b":                              "a.b",
		"Web.Server":                        "Web.Server",
		"___":                               "container",
		strings.Repeat("a", 70):             strings.Repeat("a", 63),
		"b" + strings.Repeat("_", 61) + "c": "b" + strings.Repeat("-", 61) + "c",
		"b" + strings.Repeat("_", 62) + "c": "b", // a label of 64: cut to 63, then trimmed
	} {
		got := HostnameFrom(name)
		if got != want {
			t.Errorf("HostnameFrom(%q) = %q, want %q", name, got, want)
		}
		if err := CheckHostname(got); err != nil {
			t.Errorf("HostnameFrom(%q) = %q, which hostname(1) refuses: %v", name, got, err)
		}
	}
	// Every name Docker accepts for a container ([a-zA-Z0-9][a-zA-Z0-9_.-]+)
	// and plumb too (at most 58 bytes, so that plumb-NAME fits) gives a
	// hostname that hostname(1) takes.
	const first = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	const rest = first + "_.-"
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		b := []byte{first[r.IntN(len(first))]}
		for n := 1 + r.IntN(57); len(b) < n+1; {
			b = append(b, rest[r.IntN(len(rest))])
		}
		name := string(b)
		if err := plan.CheckObjectName("<name>", name); err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		if err := CheckHostname(HostnameFrom(name)); err != nil {
			t.Fatalf("HostnameFrom(%q) = %q: %v", name, HostnameFrom(name), err)
		}
	}
}

func TestCheckHostname(t *testing.T) {
	for _, ok := range []string{"web", "a-b.c", "1abc", "A.B", strings.Repeat("a", 63), strings.Repeat("a", 62) + ".b"} {
		if err := CheckHostname(ok); err != nil {
			t.Errorf("CheckHostname(%q): %v", ok, err)
		}
	}
	// What hostname(1) refuses here ("the specified hostname is invalid"),
	// an option it would read (-a prints the host's aliases), and what the
	// kernel refuses (more than 64 bytes).
	for bad, why := range map[string]string{
		"-a": "starts with '-'", "--help": "starts with '-'", "my_app": "RFC 1123", "abc-": "RFC 1123",
		"a..b": "RFC 1123", ".a": "RFC 1123", "a.": "RFC 1123", "": "empty", "a b": "RFC 1123", "a/b": "RFC 1123",
		"a\nb": "RFC 1123", "é": "RFC 1123", strings.Repeat("a", 64) + "b": "at most 64",
		strings.Repeat("a", 64): "RFC 1123", "a.-b": "RFC 1123",
	} {
		if err := CheckHostname(bad); err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("CheckHostname(%q) = %v, want ...%s...", bad, err, why)
		}
	}
	c := &Container{Name: "h1", Layers: []string{"/l"}, Cmd: []string{"hostname"}, Hostname: "-a"}
	var r *plan.Refused
	if err := c.Check(); !errors.As(err, &r) || r.Flag != "hostname" {
		t.Errorf("--hostname=-a: %v, want a refusal of --hostname", err)
	}
	c = &Container{Name: "my_app", Layers: []string{"/l"}, Cmd: []string{"sleep", "1"}}
	if err := c.Check(); err != nil || c.hostname() != "my-app" {
		t.Errorf("my_app: %v, hostname %q", err, c.hostname())
	}
}

func TestContainerConfinement(t *testing.T) {
	docker := strings.Split("chown,dac_override,fowner,fsetid,kill,setgid,setuid,setpcap,net_bind_service,net_raw,sys_chroot,mknod,audit_write,setfcap", ",")
	for _, c := range []struct {
		name       string
		add, drop  []string
		privileged bool
		opts       []string
		want       *actions.Confinement
		refused    string // the flag refused, or ""
	}{
		{name: "docker's default", want: &actions.Confinement{Caps: docker}},
		{name: "add NET_ADMIN, drop CAP_net_raw", add: []string{"NET_ADMIN"}, drop: []string{"CAP_net_raw"},
			want: &actions.Confinement{Caps: strings.Split("chown,dac_override,fowner,fsetid,kill,setgid,setuid,setpcap,net_bind_service,net_admin,sys_chroot,mknod,audit_write,setfcap", ",")}},
		{name: "drop ALL, add sys_chroot and NET_BIND_SERVICE", add: []string{"sys_chroot", "NET_BIND_SERVICE"}, drop: []string{"ALL"},
			want: &actions.Confinement{Caps: []string{"net_bind_service", "sys_chroot"}}},
		{name: "add ALL but SYS_ADMIN", add: []string{"all"}, drop: []string{"SYS_ADMIN"},
			want: &actions.Confinement{Caps: without(actions.CapNames, "sys_admin")}},
		{name: "added and dropped: added, as docker run does", add: []string{"NET_ADMIN"}, drop: []string{"NET_ADMIN"},
			want: &actions.Confinement{Caps: strings.Split("chown,dac_override,fowner,fsetid,kill,setgid,setuid,setpcap,net_bind_service,net_admin,net_raw,sys_chroot,mknod,audit_write,setfcap", ",")}},
		{name: "no-new-privileges", opts: []string{"no-new-privileges"}, want: &actions.Confinement{Caps: docker, NoNewPrivs: true}},
		{name: "no-new-privileges:true then :false", opts: []string{"no-new-privileges:true", "no-new-privileges:false"}, want: &actions.Confinement{Caps: docker}},
		{name: "privileged", privileged: true, want: &actions.Confinement{Privileged: true}},
		{name: "privileged, no new privileges", privileged: true, opts: []string{"no-new-privileges=true"}, want: &actions.Confinement{Privileged: true, NoNewPrivs: true}},
		{name: "unknown capability", add: []string{"NET_ADMINN"}, refused: "cap-add"},
		{name: "unknown capability dropped", drop: []string{"CAP_"}, refused: "cap-drop"},
		{name: "drop ALL: the runtime needs none of them", drop: []string{"ALL"}, want: &actions.Confinement{}},
		{name: "drop SYS_CHROOT", drop: []string{"SYS_CHROOT"}, want: &actions.Confinement{Caps: without(docker, "sys_chroot")}},
		{name: "privileged with a cap", privileged: true, drop: []string{"NET_RAW"}, refused: "privileged"},
		{name: "seccomp unconfined", opts: []string{"seccomp=unconfined"}, want: &actions.Confinement{Caps: docker}},
		{name: "apparmor", opts: []string{"apparmor=unconfined"}, refused: "security-opt"},
	} {
		ct := &Container{Name: "c", Layers: []string{"/l"}, Cmd: []string{"true"}, CapAdd: c.add, CapDrop: c.drop, Privileged: c.privileged, SecurityOpt: c.opts}
		got, err := ct.confinement()
		checkErr := ct.Check()
		if c.refused != "" {
			var r *plan.Refused
			if !errors.As(err, &r) || r.Flag != c.refused || !errors.As(checkErr, &r) {
				t.Errorf("%s: %v (Check: %v), want a refusal of --%s", c.name, err, checkErr, c.refused)
			}
			continue
		}
		if err != nil || checkErr != nil {
			t.Errorf("%s: %v (Check: %v)", c.name, err, checkErr)
			continue
		}
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.name, diff)
		}
	}
}

func without(all []string, drop string) []string {
	var out []string
	for _, n := range all {
		if n != drop {
			out = append(out, n)
		}
	}
	return out
}

// TestContainerPlan: the root is mounted nodev and nosuid (unless asked
// otherwise), the mount points no layer has (/etc's files among them) are
// made in the upper layer first, the network namespace is made without ip netns add's mount of
// /run/netns, the hostname goes after --, and the container starts
// confined.
func TestContainerPlan(t *testing.T) {
	st := plan.NewStore(t.TempDir())
	layer := t.TempDir()
	os.Mkdir(filepath.Join(layer, "proc"), 0o755)
	resolv := filepath.Join(t.TempDir(), "resolv.conf")
	os.WriteFile(resolv, []byte("nameserver 127.0.0.53\nnameserver 192.0.2.53\n"), 0o644)
	up := st.Overlay("my_app").Upper
	for _, c := range []struct {
		name        string
		ct          Container
		mountOpts   string
		privileged  bool
		mountPoints []string
	}{
		{"default", Container{}, "nodev,nosuid,", false, []string{up + "/dev", up + "/sys"}},
		{"--suid", Container{SUID: true}, "nodev,", false, []string{up + "/dev", up + "/sys"}},
		{"--privileged", Container{Privileged: true}, "", true, []string{up + "/dev", up + "/sys"}},
	} {
		ct := c.ct
		ct.Name, ct.Layers, ct.Cmd, ct.ResolvConf, ct.Runtime = "my_app", []string{layer}, []string{"sleep", "1"}, resolv, testRuntime
		if err := ct.Check(); err != nil {
			t.Fatal(err)
		}
		plans, err := ct.Plan(context.Background(), plan.Env{St: st})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range plans {
			got = append(got, "# "+p.ID())
			for _, s := range p.Steps {
				line := actions.Quote(s.Action.Argv())
				if s.Shared != "" {
					line += "   # shared: " + s.Shared
				}
				got = append(got, line)
			}
		}
		if last := plans[len(plans)-1]; !last.Chain {
			t.Errorf("%s: the container's plan is not chained to its sandbox's and its root's", c.name)
		}
		spec := specOf(t, plans[len(plans)-1])
		d := st.Overlay("my_app")
		etc := plan.SandboxAt(st.SandboxDir("my_app"))
		// The sandbox: sandbox/ and sandbox/my_app for root alone, the
		// namespace, loopback, the /etc files its containers bind.
		want := []string{"# sandbox/my_app",
			"mkdir -p --mode=700 " + filepath.Dir(st.SandboxDir("my_app")), "mkdir -p --mode=700 " + st.SandboxDir("my_app"),
			"mkdir -p /run/netns   # shared: dir /run/netns",
			"touch /run/netns/plumb-my_app",
			"unshare --net=/run/netns/plumb-my_app true",
			"ip -n plumb-my_app link set lo up",
			actions.Quote([]string{"sh", "-c", `umask 022; printf %s "$1" >"$2"`, "sh", "my-app\n", etc.Hostname}),
			actions.Quote([]string{"sh", "-c", `umask 022; printf %s "$1" >"$2"`, "sh", HostsFile(netip.Addr{}, "my-app"), etc.Hosts}),
			actions.Quote([]string{"sh", "-c", `umask 022; printf %s "$1" >"$2"`, "sh",
				"nameserver 192.0.2.53\n\n# Based on host file: '" + resolv + "' (legacy)\n# Overrides: []\n", etc.Resolv}),
		}
		// The root file system: overlay/ and overlay/my_app for root
		// alone, each made 0700 by a step of its own (the state directory
		// is there).
		want = append(want, "# rootfs/my_app", "mkdir -p --mode=700 "+filepath.Dir(d.Base), "mkdir -p --mode=700 "+d.Base,
			"mkdir -p "+d.Upper, "mkdir -p "+d.Work, "mkdir -p "+d.Merged)
		for _, p := range c.mountPoints {
			want = append(want, "mkdir -p "+p)
		}
		// The mount points of the /etc files, as Docker's init layer has them.
		want = append(want, "mkdir -p "+up+"/etc")
		for _, f := range []string{"hostname", "hosts", "resolv.conf"} {
			want = append(want, actions.Quote([]string{"sh", "-c", `umask 022; printf %s "$1" >"$2"`, "sh", "", up + "/etc/" + f}))
		}
		want = append(want,
			"mount -t overlay overlay -o "+c.mountOpts+"lowerdir="+layer+",upperdir="+d.Upper+",workdir="+d.Work+" "+d.Merged,
			"# container/my_app",
			actions.Quote([]string{"sh", "-c", `umask 077; cat >"$1"`, "sh", d.Config}),
			"crun --root /run/plumb/runtime/crun --cgroup-manager=disabled run --detach --pid-file "+d.PID+" --bundle "+d.Base+" my_app",
		)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: plan (-want +got):\n%s", c.name, diff)
		}
		// The root, the /etc files, the working directory, Docker's
		// environment (no passwd in the layer: HOME is /), the command,
		// and the confinement.
		if spec.Root.Path != d.Merged || spec.Hostname != "my-app" || spec.Process.Cwd != "/" ||
			!slices.Equal(spec.Process.Args, []string{"sleep", "1"}) ||
			!slices.Equal(spec.Process.Env, []string{"PATH=" + DefaultPath, "HOSTNAME=my-app", "HOME=/"}) {
			t.Errorf("%s: the spec's root, hostname or process: %+v %q %+v", c.name, spec.Root, spec.Hostname, spec.Process)
		}
		binds := map[string]string{}
		for _, m := range spec.Mounts {
			if m.Type == "bind" && strings.HasPrefix(m.Destination, "/etc/") {
				binds[m.Destination] = m.Source
			}
		}
		if diff := cmp.Diff(map[string]string{"/etc/hostname": etc.Hostname, "/etc/hosts": etc.Hosts, "/etc/resolv.conf": etc.Resolv}, binds); diff != "" {
			t.Errorf("%s: the /etc files bound (-want +got):\n%s", c.name, diff)
		}
		own, err := ownCaps()
		if err != nil {
			t.Fatal(err)
		}
		if privileged := slices.Equal(spec.Process.Capabilities.Bounding, capNames(own)); privileged != c.privileged ||
			(spec.Linux.Seccomp == nil) != c.privileged || (len(spec.Linux.MaskedPaths) == 0) != c.privileged {
			t.Errorf("%s: caps %v, seccomp %v, masked %v", c.name, spec.Process.Capabilities.Bounding, spec.Linux.Seccomp != nil, spec.Linux.MaskedPaths)
		}
	}
}

// testRuntime is the runtime the tests' containers are planned with.
var testRuntime = actions.Runtime{Name: "crun", State: "/run/plumb/runtime/crun", NoCgroups: true}

// specOf is the OCI configuration a container's plan writes.
func specOf(t *testing.T, p *plan.Plan) specs.Spec {
	t.Helper()
	for _, s := range p.Steps {
		if w, ok := s.Action.(actions.WriteConfig); ok {
			var spec specs.Spec
			if err := json.Unmarshal([]byte(w.Content), &spec); err != nil {
				t.Fatalf("config.json: %v\n%s", err, w.Content)
			}
			return spec
		}
	}
	t.Fatal("the plan writes no config.json")
	return specs.Spec{}
}

// TestContainerRootDirs: a layer whose /dev, /proc or /sys is not a
// directory is refused before anything runs; a whiteout in the upper layer
// hides a lower layer's entry.
func TestContainerRootDirs(t *testing.T) {
	st := plan.NewStore(t.TempDir())
	layer := t.TempDir()
	os.Mkdir(filepath.Join(layer, "proc"), 0o755)
	os.Symlink("/etc", filepath.Join(layer, "dev"))
	ct := &Container{Name: "c", Layers: []string{layer}, Cmd: []string{"true"}, Runtime: testRuntime}
	if _, err := ct.Plan(context.Background(), plan.Env{St: st}); err != nil {
		t.Fatal(err)
	}
	var r *plan.Refused
	if err := ct.checkRootDirs(st.Overlay("c").Upper); !errors.As(err, &r) || !strings.Contains(r.Msg, "dev is a symbolic link, not a directory") {
		t.Errorf("a layer whose /dev is a link to /etc: %v", err)
	}
	// The same link under a whiteout in the upper layer is gone.
	upper := st.Overlay("c").Upper
	os.MkdirAll(upper, 0o755)
	if err := syscall.Mknod(filepath.Join(upper, "dev"), syscall.S_IFCHR|0o600, 0); err != nil {
		t.Skipf("mknod of a whiteout: %v", err)
	}
	if err := ct.checkRootDirs(st.Overlay("c").Upper); err != nil {
		t.Errorf("under a whiteout: %v", err)
	}
}

// TestFromImage: docker run's -w and -u win over an image's WorkingDir and
// User, and a field they override is not checked: `-w /` runs an image
// whose WorkingDir plumb refuses. Without the override the same config is
// refused, naming the field.
func TestFromImage(t *testing.T) {
	bad := image.Config{Cmd: []string{"sh"}, WorkingDir: "relative/dir", User: "a:b:c", Env: []string{"A=1"}}
	for _, tc := range []struct {
		name      string
		ct        Container
		wantErr   string
		wantDir   string
		wantUser  string
		imageUser bool
	}{
		{"-w and -u override both", Container{WorkDir: "/", User: "0:0"}, "", "/", "0:0", false},
		{"-w alone: the bad User is refused", Container{WorkDir: "/"}, "its config's User", "", "", false},
		{"-u alone: the bad WorkingDir is refused", Container{User: "0"}, "its config's WorkingDir", "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ct := tc.ct
			err := ct.FromImage(bad)
			if tc.wantErr != "" {
				var r *plan.Refused
				if !errors.As(err, &r) || r.Flag != "image" || !strings.Contains(r.Msg, tc.wantErr) {
					t.Errorf("got %v, want a refusal of --image with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ct.WorkDir != tc.wantDir || ct.User != tc.wantUser || ct.ImageUser != tc.imageUser || strings.Join(ct.Env, " ") != "A=1" || strings.Join(ct.Cmd, " ") != "sh" {
				t.Errorf("got %+v", ct)
			}
		})
	}
	good := image.Config{Cmd: []string{"httpd"}, WorkingDir: "/www", User: "33"}
	ct := Container{Env: []string{"B=2"}}
	if err := ct.FromImage(good); err != nil || ct.WorkDir != "/www" || ct.User != "33" || !ct.ImageUser {
		t.Errorf("the image's own settings: %v %+v", err, ct)
	}
	if err := (&Container{}).FromImage(image.Config{}); err == nil {
		t.Error("an image with nothing to run was taken")
	}
}
