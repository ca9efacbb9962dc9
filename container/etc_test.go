package container

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"plumb/actions"
	"plumb/plan"
)

const localhostLines = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n" +
	"ff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"

// TestHostsFile: Docker's localhost lines, then the container's address
// and name (and the first label of a name with dots) when it has one.
func TestHostsFile(t *testing.T) {
	for _, c := range []struct {
		ip   string
		name string
		want string
	}{
		{"", "web", localhostLines},
		{"10.88.0.2", "web", localhostLines + "10.88.0.2\tweb\n"},
		{"10.88.0.3", "web-1.example.com", localhostLines + "10.88.0.3\tweb-1.example.com web-1\n"},
	} {
		var ip netip.Addr
		if c.ip != "" {
			ip = netip.MustParseAddr(c.ip)
		}
		if diff := cmp.Diff(c.want, HostsFile(ip, c.name)); diff != "" {
			t.Errorf("%s %s (-want +got):\n%s", c.ip, c.name, diff)
		}
	}
}

// TestResolvConf: the host's nameservers less those that cannot work in
// the container's namespace (loopback, and IPv6 on an IPv4-only network),
// Docker's fallback when none is left; search, options and other lines
// kept; Docker's closing comments.
func TestResolvConf(t *testing.T) {
	const based = "\n# Based on host file: '/etc/resolv.conf' (legacy)\n"
	for _, c := range []struct {
		name, host, want string
	}{
		{"one nameserver", "nameserver 192.0.2.53\n",
			"nameserver 192.0.2.53\n" + based + "# Overrides: []\n"},
		{"systemd-resolved's stub only: the fallback", "# stub\nnameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n",
			"nameserver 8.8.8.8\nnameserver 8.8.4.4\nsearch lan\noptions edns0 trust-ad\n" + based + "# Used default nameservers.\n# Overrides: []\n"},
		{"loopback and IPv6 dropped, order kept", "nameserver 127.0.0.1\nnameserver 198.51.100.1\nnameserver ::1\nnameserver 2001:db8::1\nnameserver 127.1.2.3\nnameserver 203.0.113.7\n",
			"nameserver 198.51.100.1\nnameserver 203.0.113.7\n" + based + "# Overrides: []\n"},
		{"the last search wins; domain is search; options add up", "domain a.example\nsearch b.example c.example\noptions ndots:2\n; comment\noptions rotate\nnameserver 192.0.2.1\n",
			"nameserver 192.0.2.1\nsearch b.example c.example\noptions ndots:2 rotate\n" + based + "# Overrides: []\n# Option ndots from: host\n"},
		{"unknown lines kept, invalid nameservers said", "sortlist 130.155.160.0/255.255.240.0\nnameserver bogus\nnameserver 192.0.2.9\n",
			"nameserver 192.0.2.9\nsortlist 130.155.160.0/255.255.240.0\n" + based + "# Invalid nameservers: [bogus]\n# Overrides: []\n"},
		{"empty", "", "nameserver 8.8.8.8\nnameserver 8.8.4.4\n" + based + "# Used default nameservers.\n# Overrides: []\n"},
		{"a line that is not UTF-8 is left out", "nameserver 192.0.2.1\nsortlist \xff\n",
			"nameserver 192.0.2.1\n" + based + "# Overrides: []\n"},
	} {
		if diff := cmp.Diff(c.want, ResolvConf([]byte(c.host), "/etc/resolv.conf")); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.name, diff)
		}
	}
	// A host without resolv.conf has no nameservers.
	got, err := readResolvConf(filepath.Join(t.TempDir(), "none"))
	if err != nil || !strings.HasPrefix(got, "nameserver 8.8.8.8\nnameserver 8.8.4.4\n") {
		t.Errorf("no resolv.conf: %q, %v", got, err)
	}
}

// TestEnvironment: Docker's PATH and HOSTNAME first, each KEY=VALUE
// replacing in place or added, a bare KEY removing, HOME from passwd unless
// given.
func TestEnvironment(t *testing.T) {
	path := "PATH=" + DefaultPath
	for _, c := range []struct {
		name string
		env  []string
		home string
		want []string
	}{
		{"none", nil, "/root", []string{path, "HOSTNAME=web", "HOME=/root"}},
		{"added in order", []string{"B=2", "A=1"}, "/", []string{path, "HOSTNAME=web", "B=2", "A=1", "HOME=/"}},
		{"PATH replaced in place", []string{"A=1", "PATH=/opt/bin"}, "/", []string{"PATH=/opt/bin", "HOSTNAME=web", "A=1", "HOME=/"}},
		{"the last value wins", []string{"A=1", "A=2", "A=3=4"}, "/", []string{path, "HOSTNAME=web", "A=3=4", "HOME=/"}},
		{"a bare KEY removes it", []string{"A=1", "HOSTNAME", "A", "NOPE"}, "/", []string{path, "HOME=/"}},
		{"HOME given", []string{"HOME=/srv"}, "/root", []string{path, "HOSTNAME=web", "HOME=/srv"}},
		{"HOME empty is set from passwd", []string{"HOME="}, "/root", []string{path, "HOSTNAME=web", "HOME=/root"}},
		{"empty values kept", []string{"E="}, "/", []string{path, "HOSTNAME=web", "E=", "HOME=/"}},
	} {
		if diff := cmp.Diff(c.want, Environment(c.env, "web", c.home)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.name, diff)
		}
	}
}

// TestUserResolve: docker run --user against the root's /etc/passwd and
// /etc/group, as runc resolves it.
func TestUserResolve(t *testing.T) {
	passwd := []byte("root:x:0:0:root:/root:/bin/sh\n# comment\nbroken\napp:x:1000:1000:App:/home/app:/bin/sh\nnobody:x:65534:65534::/nonexistent:/bin/false\n")
	group := []byte("root:x:0:\nwheel:x:10:root,app\napp:x:1000:\nstaff:x:50:app\nnogroup:x:65534:\n")
	for _, c := range []struct {
		spec          string
		passwd, group []byte
		want          ExecUser
		err           string
	}{
		{"", passwd, group, ExecUser{UID: 0, GID: 0, Groups: []int{10}, Home: "/root"}, ""},
		{"", nil, nil, ExecUser{Home: "/"}, ""},
		{"app", passwd, group, ExecUser{UID: 1000, GID: 1000, Groups: []int{10, 50}, Home: "/home/app"}, ""},
		{"1000", passwd, group, ExecUser{UID: 1000, GID: 1000, Groups: []int{10, 50}, Home: "/home/app"}, ""},
		{"app:staff", passwd, group, ExecUser{UID: 1000, GID: 50, Home: "/home/app"}, ""},
		{"app:4242", passwd, group, ExecUser{UID: 1000, GID: 4242, Home: "/home/app"}, ""},
		{"4242", passwd, group, ExecUser{UID: 4242, GID: 0, Home: "/"}, ""},
		{"4242:4343", nil, nil, ExecUser{UID: 4242, GID: 4343, Home: "/"}, ""},
		{"nobody:nogroup", passwd, group, ExecUser{UID: 65534, GID: 65534, Home: "/nonexistent"}, ""},
		{":staff", passwd, group, ExecUser{UID: 0, GID: 50, Home: "/root"}, ""},
		{"ghost", passwd, group, ExecUser{}, `--user: no user "ghost" in the container's /etc/passwd`},
		{"ghost", nil, nil, ExecUser{}, `--user: no user "ghost" in the container's /etc/passwd`},
		{"app:ghosts", passwd, group, ExecUser{}, `--user: no group "ghosts" in the container's /etc/group`},
	} {
		spec, err := ParseUser(c.spec)
		if err != nil {
			t.Fatalf("%q: %v", c.spec, err)
		}
		got, err := spec.Resolve(c.passwd, c.group)
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("%q: %v, want %s", c.spec, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.spec, err)
		} else if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("%q (-want +got):\n%s", c.spec, diff)
		}
	}
}

// TestContainerInputRefused: --env, --workdir and --user that cannot be
// are refused before anything is read, naming the flag.
func TestContainerInputRefused(t *testing.T) {
	for _, c := range []struct {
		ct   Container
		want string
	}{
		{Container{Env: []string{"=x"}}, `--env: "=x": a variable needs a name: KEY=VALUE, or KEY for the value it has where plumb runs`},
		{Container{Env: []string{""}}, `--env: "": a variable needs a name`},
		{Container{Env: []string{"A=\x00"}}, `--env: "A=\x00" holds a NUL byte, which no environment can`},
		{Container{WorkDir: "app"}, `--workdir: "app" is not an absolute path: the working directory is a path inside the container, such as /app`},
		{Container{WorkDir: "/a\nb"}, `--workdir: "/a\nb" holds a NUL or a newline`},
		{Container{User: "a:b:c"}, `--user: "a:b:c": give USER or USER:GROUP (names or numbers), with one ':'`},
		{Container{User: "2147483648"}, `--user: "2147483648": user and group IDs are 0 to 2147483647`},
		{Container{User: "1:-1"}, `--user: "1:-1": user and group IDs are 0 to 2147483647`},
		{Container{User: "+5"}, `--user: "+5": a name does not start with '+' or '-', and an ID is a plain number`},
	} {
		ct := c.ct
		ct.Name, ct.Layers, ct.Cmd = "c", []string{"/l"}, []string{"true"}
		err := ct.Check()
		var r *plan.Refused
		if !errors.As(err, &r) || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %s", c.ct, err, c.want)
		}
	}
	if dir, _ := cleanWorkDir("/srv/../app/./x/"); dir != "/app/x" {
		t.Errorf("cleaned: %s", dir)
	}
}

// TestContainerProcess: Plan resolves the user in the merged root (the
// upper layer first, a whiteout hiding a lower file, links never
// followed), and refuses a user other than root without CAP_SETUID.
func TestContainerProcess(t *testing.T) {
	st := plan.NewStore(t.TempDir())
	top, base := t.TempDir(), t.TempDir()
	write := func(p, s string) {
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(base+"/etc/passwd", "root:x:0:0:root:/root:/bin/sh\nold:x:7:7::/old:/bin/sh\n")
	write(base+"/etc/group", "root:x:0:\n")
	write(top+"/etc/passwd", "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n")
	plan := func(ct Container) (*actions.Process, error) {
		ct.Name, ct.Cmd, ct.ResolvConf, ct.Runtime = "c", []string{"id"}, "/nonexistent", testRuntime
		if err := ct.Check(); err != nil {
			return nil, err
		}
		plans, err := ct.Plan(context.Background(), plan.Env{St: st})
		if err != nil {
			return nil, err
		}
		p := specOf(t, plans[len(plans)-1]).Process
		var groups []int
		for _, g := range p.User.AdditionalGids {
			groups = append(groups, int(g))
		}
		return &actions.Process{Env: p.Env, Dir: p.Cwd, UID: int(p.User.UID), GID: int(p.User.GID), Groups: groups}, nil
	}
	p, err := plan(Container{Layers: []string{top, base}, User: "app", WorkDir: "/srv", Env: []string{"A=1"}})
	if err != nil {
		t.Fatal(err)
	}
	want := &actions.Process{Env: []string{"PATH=" + DefaultPath, "HOSTNAME=c", "A=1", "HOME=/home/app"}, Dir: "/srv", UID: 1000, GID: 1000}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("app (-want +got):\n%s", diff)
	}
	if _, err := plan(Container{Layers: []string{top, base}, User: "old"}); err == nil || !strings.Contains(err.Error(), `no user "old"`) {
		t.Errorf("a user of the lower layer's passwd, hidden by the upper one's: %v", err)
	}
	// The same user named by an image's config is refused as --image.
	if _, err := plan(Container{Layers: []string{top, base}, User: "old", ImageUser: true}); err == nil ||
		err.Error() != `--image: its config's User: no user "old" in the container's /etc/passwd` {
		t.Errorf("an image's User that its passwd lacks: %v", err)
	}
	// The runtime sets the user: the container needs no CAP_SETUID for it.
	if _, err := plan(Container{Layers: []string{top, base}, User: "app", CapDrop: []string{"SETUID"}}); err != nil {
		t.Errorf("--user without CAP_SETUID: %v", err)
	}
	// A passwd that is a link to the host's: not followed.
	link := t.TempDir()
	os.Mkdir(link+"/etc", 0o755)
	os.Symlink("/etc/passwd", link+"/etc/passwd")
	if _, err := plan(Container{Layers: []string{link}, User: "root"}); err == nil ||
		!strings.Contains(err.Error(), "etc/passwd is a symbolic link: plumb reads the container's /etc/passwd only as a file, and follows no link out of the root") {
		t.Errorf("a passwd that is a link: %v", err)
	}
	// A whiteout over the upper passwd (a container that deleted it).
	upper := st.Overlay("c").Upper
	os.MkdirAll(upper+"/etc", 0o755)
	if err := syscall.Mknod(upper+"/etc/passwd", syscall.S_IFCHR|0o600, 0); err != nil {
		t.Skipf("mknod of a whiteout: %v", err)
	}
	if p, err := plan(Container{Layers: []string{top, base}}); err != nil || p.Env[len(p.Env)-1] != "HOME=/" {
		t.Errorf("passwd deleted in the upper layer: %+v, %v", p, err)
	}
}

// TestLookup: the merged view of an overlay's directories, topmost first,
// without following links: a whiteout or an opaque directory hides what is
// below, a file or link above hides a directory below, and a path through
// a link stops at the link.
func TestLookup(t *testing.T) {
	top, mid, base := t.TempDir(), t.TempDir(), t.TempDir()
	mk := func(p string) { os.MkdirAll(p, 0o755) }
	mk(base + "/etc")
	os.WriteFile(base+"/etc/hosts", nil, 0o644)
	os.WriteFile(base+"/etc/hostname", nil, 0o644)
	mk(mid + "/etc")
	os.Symlink("/etc/shadow", mid+"/etc/resolv.conf")
	mk(top + "/etc")
	if err := syscall.Mknod(top+"/etc/hostname", syscall.S_IFCHR|0o600, 0); err != nil {
		t.Skipf("mknod of a whiteout: %v", err)
	}
	os.Symlink("/", top+"/srv")
	mk(base + "/srv/app")
	dirs := []string{top, mid, base}
	for _, c := range []struct {
		rel   string
		path  string // "" absent
		whole bool
	}{
		{"etc/hosts", base + "/etc/hosts", true},
		{"etc/hostname", "", true},
		{"etc/resolv.conf", mid + "/etc/resolv.conf", true},
		{"srv/app", top + "/srv", false},
		{"srv", top + "/srv", true},
		{"nope/x", "", true},
	} {
		p, fi, whole, err := lookup(dirs, c.rel)
		if err != nil || p != c.path || whole != c.whole || (fi == nil) != (c.path == "") {
			t.Errorf("%s: %s, %v, whole %v, %v; want %s, whole %v", c.rel, p, fi, whole, err, c.path, c.whole)
		}
	}
	if err := checkEtc(dirs); err == nil || err.Error() != "--layer: "+mid+"/etc/resolv.conf is a symbolic link (to /etc/shadow): plumb binds a file of its own onto the container's /etc/resolv.conf and follows no link out of the root (Docker mounts over the link's target, resolved inside the root)" {
		t.Errorf("checkEtc: %v", err)
	}
	if err := checkEtc([]string{top, base}); err != nil {
		t.Errorf("checkEtc without the link: %v", err)
	}
	if err := checkWorkDir(dirs, "/srv/app"); err == nil || err.Error() != "--workdir: /srv/app: "+top+"/srv is a symbolic link (to /), and plumb follows no link out of the container's root" {
		t.Errorf("checkWorkDir: %v", err)
	}
	if err := checkWorkDir(dirs, "/etc/hosts/x"); err == nil || !strings.HasSuffix(err.Error(), "/etc/hosts is a regular file, not a directory") {
		t.Errorf("checkWorkDir through a file: %v", err)
	}
	for _, ok := range []string{"/", "/etc", "/new/dir"} {
		if err := checkWorkDir(dirs, ok); err != nil {
			t.Errorf("checkWorkDir %s: %v", ok, err)
		}
	}
	// An opaque directory hides the layers below.
	if err := syscall.Setxattr(top+"/etc", "trusted.overlay.opaque", []byte("y"), 0); err != nil {
		t.Skipf("setting trusted.overlay.opaque: %v", err)
	}
	if _, fi, _, _ := lookup(dirs, "etc/hosts"); fi != nil {
		t.Errorf("etc/hosts under an opaque /etc: %v", fi)
	}
}

// TestEtcMountPoints: the mount points of the /etc files that no layer
// has are made in the upper layer before the mount (with /etc there when
// the upper layer lacks it); none for those a layer has, when the
// upper layer already holds one, or when /etc is not a directory.
func TestEtcMountPoints(t *testing.T) {
	for _, c := range []struct {
		name  string
		setup func(upper, layer string)
		want  []string // relative to upper
	}{
		{"no /etc anywhere", func(string, string) {}, []string{"mkdir etc", "etc/hostname", "etc/hosts", "etc/resolv.conf"}},
		{"/etc/hosts in the layer", func(_, l string) {
			os.MkdirAll(l+"/etc", 0o755)
			os.WriteFile(l+"/etc/hosts", nil, 0o644)
		}, []string{"mkdir etc", "etc/hostname", "etc/resolv.conf"}},
		{"all three in the layer", func(_, l string) {
			os.MkdirAll(l+"/etc", 0o755)
			for _, f := range []string{"hostname", "hosts", "resolv.conf"} {
				os.WriteFile(l+"/etc/"+f, nil, 0o644)
			}
		}, nil},
		{"a kept upper layer with /etc and its hostname", func(u, _ string) {
			os.MkdirAll(u+"/etc", 0o755)
			os.WriteFile(u+"/etc/hostname", nil, 0o644)
		}, []string{"etc/hosts", "etc/resolv.conf"}},
		{"/etc a link", func(_, l string) { os.Symlink("/etc", l+"/etc") }, nil},
	} {
		upper, layer := filepath.Join(t.TempDir(), "upper"), t.TempDir()
		os.Mkdir(upper, 0o755)
		c.setup(upper, layer)
		var got []string
		for _, s := range etcMountPoints(upper, []string{layer}) {
			switch a := s.Action.(type) {
			case actions.Mkdir:
				got = append(got, "mkdir "+strings.TrimPrefix(a.Path, upper+"/"))
			case actions.WriteFile:
				if a.Content != "" {
					t.Errorf("%s: a mount point with content %q", c.name, a.Content)
				}
				got = append(got, strings.TrimPrefix(a.Path, upper+"/"))
			default:
				t.Errorf("%s: step %T", c.name, a)
			}
		}
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.name, diff)
		}
	}
}

// TestCheckImageConfig: what an image's config says that -e, -w or -u
// would refuse is refused as --image, naming the config's field.
func TestCheckImageConfig(t *testing.T) {
	if err := CheckImageConfig([]string{"PATH=/bin"}, "/www", "33:33"); err != nil {
		t.Errorf("a good config: %v", err)
	}
	for name, c := range map[string]struct {
		env       []string
		dir, user string
		field     string
	}{
		"NUL in Env":        {env: []string{"A=x\x00y"}, field: "Env"},
		"relative workdir":  {dir: "foo/../../etc", field: "WorkingDir"},
		"user with two ':'": {user: "a:b:c", field: "User"},
	} {
		err := CheckImageConfig(c.env, c.dir, c.user)
		var r *plan.Refused
		if !errors.As(err, &r) || r.Flag != "image" || !strings.Contains(r.Msg, "its config's "+c.field) {
			t.Errorf("%s: %v; want a refusal of --image naming %s", name, err, c.field)
		}
	}
}
