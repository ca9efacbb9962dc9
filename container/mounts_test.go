package container

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestParseMounts(t *testing.T) {
	for _, c := range []struct {
		flag, in string
		want     Mount
		err      string
	}{
		{"v", "/srv/www:/www", Mount{Type: "bind", Source: "/srv/www", Target: "/www", Create: true}, ""},
		{"v", "/srv/www/../w:/www/:ro", Mount{Type: "bind", Source: "/srv/w", Target: "/www", Create: true, ReadOnly: true, Mode: "ro"}, ""},
		{"v", "/srv:/s:rw,rslave", Mount{Type: "bind", Source: "/srv", Target: "/s", Create: true, Mode: "rw,rslave", Propagation: "rslave"}, ""},
		{"v", "data:/data:ro,nocopy", Mount{Type: "volume", Source: "data", Target: "/data", ReadOnly: true, NoCopy: true, Mode: "ro,nocopy"}, ""},
		{"v", "/data", Mount{}, "no anonymous volumes"},
		{"v", "a:b:c:d", Mount{}, "SOURCE:TARGET[:OPTIONS]"},
		{"v", "data:rel", Mount{}, `"rel" is not an absolute path`},
		{"v", "data:/", Mount{}, "cannot replace the container's root"},
		{"v", "-x:/data", Mount{}, "is not a volume name"},
		{"v", "./here:/data", Mount{}, "is not a volume name"},
		{"v", "data:/d:Z", Mount{}, "does not relabel for SELinux"},
		{"v", "data:/d:rshared", Mount{}, "a propagation is for host directories"},
		{"v", "/srv:/d:nocopy", Mount{}, "nocopy is for volumes"},
		{"v", "/srv:/d:exec", Mount{}, `unknown option "exec"`},
		{"mount", "type=bind,source=/srv,target=/s,readonly", Mount{Type: "bind", Source: "/srv", Target: "/s", ReadOnly: true}, ""},
		{"mount", "type=bind,src=/srv,dst=/s,ro=false,bind-propagation=shared", Mount{Type: "bind", Source: "/srv", Target: "/s", Propagation: "shared"}, ""},
		{"mount", "source=data,target=/d,volume-nocopy", Mount{Type: "volume", Source: "data", Target: "/d", NoCopy: true}, ""},
		{"mount", `type=tmpfs,target=/t,tmpfs-size=64m,tmpfs-mode=1777`, Mount{Type: "tmpfs", Target: "/t", Options: []string{"noexec", "nosuid", "nodev", "size=67108864", "mode=1777"}}, ""},
		{"mount", "type=bind,target=/s", Mount{}, "give the source"},
		{"mount", "type=bind,source=srv,target=/s", Mount{}, "absolute host path"},
		{"mount", "type=tmpfs,source=x,target=/t", Mount{}, "a tmpfs has no source"},
		{"mount", "type=nfs,source=x,target=/t", Mount{}, "type is bind, volume or tmpfs"},
		{"mount", "type=bind,source=/s,target=/t,consistency=cached", Mount{}, `does not know the key "consistency"`},
		{"mount", "type=tmpfs,target=/t,tmpfs-size=lots", Mount{}, "is not a size"},
		{"mount", "type=tmpfs,target=/t,tmpfs-mode=999", Mount{}, "not an octal mode"},
		{"mount", "type=volume,source=d,target=/t,readonly=maybe", Mount{}, "is not true or false"},
		{"mount", "type=volume,source=d,target=/t,tmpfs-size=1m", Mount{}, "are for type=tmpfs"},
		{"tmpfs", "/run", Mount{Type: "tmpfs", Target: "/run", Options: []string{"noexec", "nosuid", "nodev"}}, ""},
		{"tmpfs", "/run:exec,size=1m,ro", Mount{Type: "tmpfs", Target: "/run", Mode: "exec,size=1m,ro", ReadOnly: true, Options: []string{"nosuid", "nodev", "exec", "size=1m", "ro"}}, ""},
		{"tmpfs", "run", Mount{}, "not an absolute path"},
	} {
		parse := map[string]func(string) (Mount, error){"v": ParseVolume, "mount": ParseMount, "tmpfs": ParseTmpfs}[c.flag]
		got, err := parse(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("--%s %q: %v, want an error with %q", c.flag, c.in, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("--%s %q: %v", c.flag, c.in, err)
			continue
		}
		if diff := cmp.Diff(c.want, got, cmpopts.IgnoreUnexported(Mount{})); diff != "" {
			t.Errorf("--%s %q (-want +got):\n%s", c.flag, c.in, diff)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"512": 512, "1k": 1024, "64m": 64 << 20, "2G": 2 << 30, "3kb": 3072, "5MB": 5 << 20, "1.5g": 3 << 29} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "m", "-1", "0", "1t", "9999999999g", "1e3", "NaN", "inf", "0.1"} {
		if n, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", in, n)
		}
	}
}

// TestMountOrder: parents before what is mounted in them, otherwise as
// given; two mounts on one target are refused.
func TestMountOrder(t *testing.T) {
	ms := []Mount{{Target: "/a/b/c"}, {Target: "/x"}, {Target: "/a"}, {Target: "/a/b"}}
	var got []string
	for _, m := range sortedMounts(ms) {
		got = append(got, m.Target)
	}
	if want := "/x /a /a/b /a/b/c"; strings.Join(got, " ") != want {
		t.Errorf("sortedMounts: %v, want %s", got, want)
	}
	if err := checkMounts([]Mount{{Target: "/d", flag: "volume"}, {Target: "/d", flag: "tmpfs"}}); err == nil || !strings.Contains(err.Error(), "two mounts on /d") {
		t.Errorf("checkMounts of two on /d: %v", err)
	}
}
