package actions

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"net/netip"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// kindSamples holds one value of every action kind the journal can hold,
// with every field set, so that each field's journal form is read back.
// A kind registered in codec.go without a sample here fails
// TestEveryKindRoundTrips, and so does a sample of an unregistered kind.
var kindSamples = []Action{
	LinkAddVeth{Host: "vh1", Peer: "vc1", PeerIn: Netns{PID: 4242}, MTU: 1400, PeerAddress: "02:50:0a:59:00:02"},
	LinkDel{Name: "eth0", In: Netns{Name: "ctr1"}},
	LinkSetNetns{Name: "vc1", To: Netns{File: "/var/run/netns/cni-1234"}},
	LinkSetUp{Dev: "lo", In: Netns{Name: "ctr1"}},
	AddrAdd{Addr: netip.MustParsePrefix("fd00:200::2/64"), Dev: "eth0", In: Netns{PID: 4242}, NoDAD: true},
	RouteAddDefault{Via: netip.MustParseAddr("10.200.0.1"), In: Netns{Name: "ctr1"}},
	RouteAdd{Dst: netip.MustParsePrefix("198.51.100.0/24"), Via: netip.MustParseAddr("10.200.0.1"), In: Netns{File: "/var/run/netns/cni-1"}},
	LinkSetHairpin{Dev: "veth0a580002"},
	SysctlSet{Key: "net.ipv4.ip_forward", Value: "1"},
	IptablesAppend{Rule: Rule{Table: NAT, Chain: "POSTROUTING",
		Spec: []string{"-s", "fd00:200::/64", "!", "-o", "br0", "-j", "MASQUERADE"}, Purpose: "masquerade the containers' traffic", IPv6: true}},
	IptablesDelete{Rule: Rule{Table: Filter, Chain: "FORWARD",
		Spec: []string{"-i", "eth0", "-o", "vh1", "-m", "state", "--state", "RELATED,ESTABLISHED", "-j", "ACCEPT"}, Purpose: "let replies in", IPv6: true}},
	LinkAddBridge{Name: "br0", Address: "02:42:ac:11:00:01", Group: 28780},
	LinkSysctlSet{Dev: "br0", Key: "net.ipv6.conf.br0.accept_ra", Value: "0"},
	LinkSetMTU{Dev: "br0", MTU: 1450},
	LinkChangeMTU{Dev: "br0", MTU: 1400, From: 1500},
	LinkSetMaster{Dev: "vb1", Master: "br0"},
	LinkRename{Dev: "pb1", Name: "eth0", In: Netns{File: "/proc/4242/ns/net"}},
	IptablesInsert{Rule: Rule{Table: Filter, Chain: "FORWARD", Spec: []string{"-j", "PLUMB-br0"}, Purpose: "send the bridge's traffic to its chain", IPv6: true}},
	IptablesNewChain{Table: Filter, Chain: "PLUMB-br0", IPv6: true},
	IptablesDeleteChain{Table: NAT, Chain: "PLUMB-br0", IPv6: true},
	NetnsAdd{Name: "ctr1"},
	NetnsDel{Name: "ctr1"},
	Touch{Path: "/run/plumb/uts/ctr1", Keeps: "network namespace"},
	RemoveFile{Path: "/run/plumb/uts/ctr 1"},
	UTSNew{File: "/run/plumb/uts/ctr1", Hostname: "web-1", EndOptions: true},
	NetnsNew{Name: "plumb-ctr1"},
	StartContainer{Netns: "ctr1", UTS: "/run/plumb/uts/ctr1", Root: "/var/lib/plumb/ctr1/merged",
		Cmd: []string{"/bin/sh", "-c", "echo 'hello, world' >/tmp/x"}, Log: "/var/lib/plumb/ctr1/log",
		Attach: true, PIDFile: "/run/plumb/ctr1.pid",
		Confine: &Confinement{Privileged: true, Caps: []string{"chown", "net_raw"}, NoNewPrivs: true},
		Etc:     &EtcFiles{Hostname: "/var/lib/plumb/ctr1/hostname", Hosts: "/var/lib/plumb/ctr1/hosts", Resolv: "/var/lib/plumb/ctr1/resolv.conf"},
		Process: &Process{Env: []string{"PATH=/bin", "A=b c"}, Dir: "/srv/my app", UID: 1000, GID: 100, Groups: []int{10, 50}}},
	WriteConfig{Path: "/var/lib/plumb/overlay/ctr1/config.json", Content: "{\"ociVersion\": \"1.0.2\"}\n"},
	RuntimeRun{Runtime: Runtime{Name: "crun", State: "/run/plumb/runtime/crun", NoCgroups: true}, ID: "ctr1",
		Bundle: "/var/lib/plumb/overlay/ctr1", PIDFile: "/var/lib/plumb/overlay/ctr1/pid", Log: "/var/lib/plumb/overlay/ctr1/log",
		Attach: true, Monitor: "/var/lib/plumb/overlay/ctr1/monitor.pid", Exit: "/var/lib/plumb/overlay/ctr1/exit.json", Shim: "/var/lib/plumb/overlay/ctr1/shim.pid",
		Remove: []string{"--state-dir", "/run/plumb", "--root", "/var/lib/plumb", "rm", "ctr1"}},
	RuntimeDelete{Runtime: Runtime{Name: "crun", State: "/run/plumb/runtime/crun", NoCgroups: true}, ID: "ctr 1", GraceSeconds: 3,
		Files: []string{"/var/lib/plumb/overlay/ctr1/pid"}, Log: "/var/lib/plumb/overlay/ctr1/log", LogAlways: true, Shim: "/var/lib/plumb/overlay/ctr1/shim.pid"},
	WriteFile{Path: "/var/lib/plumb/ctr1/hosts", Content: "127.0.0.1\tlocalhost\n10.88.0.2\tweb 'one'\n", For: "the container's /etc/hosts"},
	NftApply{Input: []string{"add element ip plumb-br0 ports { tcp . 8080 : 10.88.0.2 . 80 }"}, Purpose: "publish 8080",
		Made: &NftDelete{Family: "ip", Table: "plumb-br0", Set: "ports", Element: "tcp . 8080"}},
	NftDelete{Family: "ip", Table: "plumb-br0", Set: "ports", Element: "tcp . 8080"},
	Move{From: "/run/plumb/layers/base", To: "/var/lib/plumb/layers/base"},
	RewriteJournal{Path: "/run/plumb/objects/layer/base.json", From: []string{"/run/plumb/layers/base"}, To: []string{"/var/lib/plumb/layers/base"}},
	StopContainer{Netns: "ctr1", PIDFile: "/run/plumb/ctr1.pid", GraceSeconds: 3},
	Extract{File: "/srv/images/alpine.tar.gz", Dir: "/var/lib/plumb/layers/alpine"},
	Mkdir{Path: "/var/lib/plumb/ctr1/work", Scratch: true, Purpose: "make sure the work directory exists", Mode: 0o700, Holds: "the volume's data"},
	CopyUp{Root: "/var/lib/plumb/overlay/web/merged", Dest: "/data", Data: "/var/lib/plumb/volumes/data/_data", Volume: "data"},
	ResolverStart{StateDir: "/run/plumb", Network: "shop_default", Listen: netip.MustParseAddr("10.89.0.1"), PIDFile: "/run/plumb/dns/shop_default.pid", Internal: true},
	ResolverStop{PIDFile: "/run/plumb/dns/shop_default.pid", Network: "shop_default"},
	RmdirEmpty{Paths: []string{"/var/lib/plumb/ctr1/upper", "/var/lib/plumb/ctr1"}},
	OverlayMount{Lower: []string{"layers/app", "layers/a:b,c"}, Upper: "ctr1/upper", Work: "ctr1/work",
		Merged: "/var/lib/plumb/ctr1/merged", Dir: "/var/lib/plumb", NoDev: true, NoSuid: true},
	Umount{Path: "/var/lib/plumb/ctr1/merged", Lazy: true},
	RemoveTree{Path: "/var/lib/plumb/ctr1", More: []string{"/var/lib/plumb/ctr1.partial"}},
	UnpackLayer{Source: LayerSource{Pull: "127.0.0.1:5000/busybox@sha256:" + strings.Repeat("a", 64), Insecure: true, Import: "/srv/x.tar", Name: "busybox:1"},
		DiffID: "sha256:" + strings.Repeat("b", 64), Dir: "/run/plumb/image/layers/" + strings.Repeat("c", 64),
		Lower: []string{"/run/plumb/image/l/abcde"}, Of: "2 of 3", Staged: "/run/plumb/image/staging/stage-1/" + strings.Repeat("c", 64)},
	Symlink{Target: "../layers/" + strings.Repeat("c", 64), Link: "/run/plumb/image/l/abcde", Purpose: "a short name"},
	LinkAddVxlan{Name: "m1", MAC: "02:50:0a:f4:01:00", MTU: 1450, VNI: 42, Local: netip.MustParseAddr("192.168.77.1"), Dev: "eth0", Port: 8472},
	TunnelUnroute{Dev: "m1", Peers: []TunnelPeer{{Subnet: netip.MustParsePrefix("10.244.2.0/24"), IP: netip.MustParseAddr("192.168.77.2")}}, Force: true},
	TunnelRoute{Dev: "m1", Peers: []TunnelPeer{{Subnet: netip.MustParsePrefix("10.244.2.0/24"), IP: netip.MustParseAddr("192.168.77.2")}}, Force: true},
	TunnelFdb{Dev: "m1", Del: []TunnelPeer{{Subnet: netip.MustParsePrefix("10.244.2.0/24"), IP: netip.MustParseAddr("192.168.77.2")}},
		Move: []TunnelPeer{{Subnet: netip.MustParsePrefix("10.244.3.0/24"), IP: netip.MustParseAddr("192.168.77.13"), From: netip.MustParseAddr("192.168.77.3")}},
		Add:  []TunnelPeer{{Subnet: netip.MustParsePrefix("10.244.4.0/24"), IP: netip.MustParseAddr("192.168.77.4")}}, Force: true},
	FdbAdd{MAC: "02:50:0a:f4:02:00", Dev: "m1", Dst: netip.MustParseAddr("192.168.77.2")},
	FdbDel{MAC: "02:50:0a:f4:02:00", Dev: "m1", Dst: netip.MustParseAddr("192.168.77.2")},
	FdbReplace{MAC: "02:50:0a:f4:02:00", Dev: "m1", Dst: netip.MustParseAddr("192.168.77.12"), From: netip.MustParseAddr("192.168.77.2")},
	NeighAdd{IP: netip.MustParseAddr("10.244.2.0"), MAC: "02:50:0a:f4:02:00", Dev: "m1"},
	NeighDel{IP: netip.MustParseAddr("10.244.2.0"), Dev: "m1"},
	RouteAddOnlink{Dst: netip.MustParsePrefix("10.244.2.0/24"), Via: netip.MustParseAddr("10.244.2.0"), Dev: "m1"},
	RouteDel{Dst: netip.MustParsePrefix("10.244.2.0/24"), Via: netip.MustParseAddr("10.244.2.0"), Dev: "m1"},
}

func TestEveryKindRoundTrips(t *testing.T) {
	kinds := Kinds()
	if !slices.IsSorted(kinds) {
		t.Errorf("Kinds() is not sorted: %q", kinds)
	}
	sampled := map[string]bool{}
	for _, a := range kindSamples {
		k := a.Kind()
		if sampled[k] {
			t.Errorf("two samples of kind %q; keep one", k)
		}
		sampled[k] = true
		if !slices.Contains(kinds, k) {
			t.Errorf("kind %q (%T) has a sample but is not registered in codec.go: Decode would refuse it", k, a)
		}
	}
	for _, k := range kinds {
		if !sampled[k] {
			t.Errorf("kind %q is registered but has no sample in kindSamples", k)
		}
	}

	for _, a := range kindSamples {
		t.Run(a.Kind(), func(t *testing.T) {
			if zero := zeroFields(reflect.ValueOf(a), reflect.TypeOf(a).Name()); len(zero) > 0 {
				t.Errorf("sample leaves fields unset, so their journal form goes untested: %v", zero)
			}
			e, err := Encode(a)
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			var back Encoded
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			got, err := Decode(back)
			if err != nil {
				t.Fatalf("Decode(%s): %v", b, err)
			}
			if diff := cmp.Diff(a, got, cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})); diff != "" {
				t.Errorf("round trip through %s (-want +got):\n%s", b, diff)
			}
			if !slices.Equal(got.Argv(), a.Argv()) || !slices.Equal(back.Argv, a.Argv()) {
				t.Errorf("argv changed in the round trip:\n  was %s\n  got %s\n  recorded %s", Quote(a.Argv()), Quote(got.Argv()), Quote(back.Argv))
			}
		})
	}
}

// zeroFields names the exported fields of the struct v left at their zero
// value (an empty slice counts), looking inside this package's own structs.
// A Netns is either a PID or a name, so it only has to be set as a whole.
func zeroFields(v reflect.Value, path string) []string {
	var zero []string
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		fv := v.Field(i)
		name := path + "." + f.Name
		if fv.IsZero() || (fv.Kind() == reflect.Slice && fv.Len() == 0) {
			zero = append(zero, name)
			continue
		}
		if fv.Kind() == reflect.Struct && f.Type.PkgPath() == t.PkgPath() && f.Type != reflect.TypeFor[Netns]() {
			zero = append(zero, zeroFields(fv, name)...)
		}
	}
	return zero
}

// TestEveryActionTypeHasASample closes the loop: a new action type (any type
// of this package with a Kind method) that was neither registered nor given
// a sample would escape TestEveryKindRoundTrips, so the source is read for them.
func TestEveryActionTypeHasASample(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var withKind []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv == nil || fn.Name.Name != "Kind" {
				continue
			}
			recv := fn.Recv.List[0].Type
			if star, ok := recv.(*ast.StarExpr); ok {
				recv = star.X
			}
			if id, ok := recv.(*ast.Ident); ok {
				withKind = append(withKind, id.Name)
			}
		}
	}
	if len(withKind) == 0 {
		t.Fatal("found no Kind methods in the package's source")
	}
	var sampled []string
	for _, a := range kindSamples {
		sampled = append(sampled, reflect.TypeOf(a).Name())
	}
	for _, name := range withKind {
		if !slices.Contains(sampled, name) {
			t.Errorf("%s has a Kind method but no sample in kindSamples (and should be registered in codec.go)", name)
		}
	}
}
