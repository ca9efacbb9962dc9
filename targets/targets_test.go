package targets

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"plumb/actions"
	"plumb/plan"
)

func TestRead(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		takeIPs  bool
		want     List
		err      string // a part of the refusal; "" for none
	}{
		{name: "bare pid", in: "42\n", want: List{Targets: []actions.Netns{{PID: 42}}}},
		{name: "forms and comments", in: "# mine\n\npid 7\n  netns web  \n", want: List{Targets: []actions.Netns{{PID: 7}, {Name: "web"}}}},
		{name: "ip taken", in: "ip 10.200.0.5\nnetns a\n", takeIPs: true,
			want: List{Targets: []actions.Netns{{Name: "a"}}, IPs: []netip.Addr{netip.MustParseAddr("10.200.0.5")}}},
		{name: "ip refused", in: "ip 10.200.0.5\n", err: `stdin:1: addresses are given out by attach; give containers (one container a line: a PID, "pid PID", "netns NAME")`},
		{name: "bad pid", in: "\n0\n", err: `stdin:2: "0" is not a process ID`},
		{name: "bad netns", in: "netns -x\n", err: `must not start with '-'`},
		{name: "three words", in: "pid 1 2\n", err: `stdin:1: "pid 1 2" is not a container`},
		{name: "unknown word", in: "cgroup x\n", takeIPs: true, err: `"cgroup x" is not a container (one container a line: a PID, "pid PID", "netns NAME", "ip ADDR")`},
		{name: "mapped address", in: "ip ::ffff:10.0.0.1\n", takeIPs: true, err: "IPv4-mapped"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var l List
			err := l.Read("-", strings.NewReader(tc.in), tc.takeIPs)
			if tc.err != "" {
				var r *plan.Refused
				if !errors.As(err, &r) || r.Flag != "from" || !strings.Contains(r.Msg, tc.err) {
					t.Fatalf("Read = %v; want a --from refusal containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(l, tc.want) {
				t.Errorf("Read = %+v; want %+v", l, tc.want)
			}
		})
	}
}

func TestReadFile(t *testing.T) {
	var l List
	if err := l.Read("", nil, false); err != nil || l.Len() != 0 {
		t.Fatalf("no path: %v, %d containers", err, l.Len())
	}
	p := filepath.Join(t.TempDir(), "list")
	if err := os.WriteFile(p, []byte("1\nnope\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := l.Read(p, nil, false)
	if err == nil || !strings.Contains(err.Error(), p+":2:") {
		t.Fatalf("Read = %v; want the file's name and line 2", err)
	}
	if err := l.Read(filepath.Join(p, "missing"), nil, false); err == nil {
		t.Fatal("a missing file is read")
	}
}
