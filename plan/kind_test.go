package plan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"plumb/plan/image"
)

// withFacts is rec with facts f, as newRecord keeps them.
func withFacts(rec *Record, f Facts) *Record {
	if err := rec.SetFacts(f); err != nil {
		panic(err)
	}
	return rec
}

// reread is rec written as a journal and read back, nothing decoded yet.
func reread(t *testing.T, rec *Record) *Record {
	t.Helper()
	data, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	var out Record
	if err := strictUnmarshal(data, &out); err != nil {
		t.Fatalf("%s: %v", data, err)
	}
	// The file its facts keep beside the journal, as a store reads it.
	if b, ok := rec.decoded.facts.(besideFacts); ok {
		if name, text := b.besideFile(); name != "" {
			out.beside = func(file string) ([]byte, error) {
				if file != name {
					return nil, fs.ErrNotExist
				}
				return text, nil
			}
		}
	}
	return &out
}

// everyKind are facts of each kind, every field set.
var everyKind = []Facts{
	VethFacts{Target: "netns c1", HostIf: "vh", ContIf: "eth0", Subnet: netip.MustParsePrefix("10.9.0.0/30"),
		HostIP: netip.MustParseAddr("10.9.0.1"), ContIP: netip.MustParseAddr("10.9.0.2"), Uplink: "eth1", Firewall: "nftables"},
	BridgeFacts{Subnet: netip.MustParsePrefix("10.88.0.0/24"), Gateway: netip.MustParseAddr("10.88.0.1"), NAT: true, MTU: 1400,
		Firewall: "nftables", Subnet6: netip.MustParsePrefix("fd00::/64"), Gateway6: netip.MustParseAddr("fd00::1"), NAT6: true, LoopbackGuard: true},
	testAttachment(),
	OverlayFacts{LowerDir: "/l/a:/l/b", UpperDir: "/o/upper", WorkDir: "/o/work", Merged: "/o/merged", Layout: "/o"},
	ContainerFacts{Root: OverlayFacts{LowerDir: "/l/a", UpperDir: "/o/upper", WorkDir: "/o/work", Merged: "/o/merged", Layout: "/o"},
		Netns: "plumb-web", Hostname: "web", Cmd: "httpd -f", PIDFile: "/o/pid", Log: "/o/log", Target: "netns plumb-web",
		Net: ptr(testAttachment()), Image: "busybox:1", ImageID: "sha256:ab", Env: []string{"PATH=/bin"}, WorkDir: "/www", User: "33:33",
		Mounts: []MountFacts{{Type: "volume", Name: "data", Source: "/v/data/_data", Destination: "/data", Mode: "ro", RW: false, Propagation: "rprivate", Options: []string{"rbind"}}},
		CapAdd: []string{"NET_ADMIN"}, CapDrop: []string{"CHOWN"}, Privileged: true, ReadOnly: true},
	LayerFacts{Dir: "/run/plumb/layers/base", File: "/srv/base.tar"},
	ImageFacts{ID: "sha256:ab", Digest: "sha256:cd", Refs: []string{"docker.io/library/busybox:1"}, From: "busybox:1", Platform: "linux/amd64",
		Config: image.Config{Cmd: []string{"sh"}, Env: []string{"PATH=/bin"}}, Layers: []ImageLayerRef{{DiffID: "sha256:d1", ChainID: "sha256:c1", Size: 7}},
		Links: []string{"L1"}},
	ImageLayerFacts{ChainID: "sha256:c1", DiffID: "sha256:d1", Parent: "sha256:c0", Dir: "/run/plumb/image/layers/c1", Link: "L1", Size: 7},
	MigrateFacts{},
	VolumeFacts{Dir: "/var/lib/plumb/volumes/data", Data: "/var/lib/plumb/volumes/data/_data"},
	MeshFacts{VNI: 42, Port: 8472, Local: netip.MustParseAddr("192.168.77.1"), Underlay: "eth0", Cluster: netip.MustParsePrefix("10.244.0.0/16"),
		Subnet: netip.MustParsePrefix("10.244.1.0/24"), MTU: 1450, MAC: "02:50:0a:f4:01:00", Generation: 3,
		Peers: []Peer{{IP: netip.MustParseAddr("192.168.77.2"), Subnet: netip.MustParsePrefix("10.244.2.0/24"), Node: "node-b"},
			{IP: netip.MustParseAddr("192.168.77.3"), Subnet: netip.MustParsePrefix("10.244.3.0/24")}}},
	SandboxFacts{Netns: "plumb-web", Hostname: "web", Dir: "/r/sandbox/web", Net: ptr(testAttachment())},
	RootfsFacts{Root: OverlayFacts{LowerDir: "/l/a", UpperDir: "/o/upper", WorkDir: "/o/work", Merged: "/o/merged", Layout: "/o"}},
}

func testAttachment() AttachmentFacts {
	return AttachmentFacts{Bridge: "br0", IP: netip.MustParseAddr("10.88.0.2"), PrefixLen: 24, Gateway: netip.MustParseAddr("10.88.0.1"),
		HostVeth: "veth0a580002", If: "eth0", Target: "netns c1",
		Ports:   []Port{{Host: 8080, Container: 80, Proto: "tcp"}, {Host: 53, Container: 53, Proto: "udp", HostIP: netip.MustParseAddr("::")}},
		Runtime: &RuntimeRef{Network: "net", ContainerID: "abc", IfName: "eth0"}, Firewall: "nftables",
		IP6: netip.MustParseAddr("fd00::2"), PrefixLen6: 64, Gateway6: netip.MustParseAddr("fd00::1")}
}

// netipEqual compares addresses and prefixes by value.
var netipEqual = cmp.Options{cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{}), cmpopts.IgnoreUnexported(MeshFacts{})} // a mesh's: what its journal named

// sameJSON compares JSON kept raw by its value: a journal is written
// indented, facts are encoded compact.
var sameJSON = cmp.Options{cmp.Comparer(func(a, b json.RawMessage) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var ca, cb bytes.Buffer
	return json.Compact(&ca, a) == nil && json.Compact(&cb, b) == nil && ca.String() == cb.String()
}), cmpopts.IgnoreUnexported(Record{})} // a record's facts decoded, kept for its next read

func ptr[T any](v T) *T { return &v }

// TestKindsRegistered: every kind's facts say their kind, and the registry
// finds it by name.
func TestKindsRegistered(t *testing.T) {
	for _, f := range everyKind {
		k, ok := Lookup(f.Kind().Name())
		if !ok || k != f.Kind() {
			t.Errorf("%T: Lookup(%q) = %v, %v", f, f.Kind().Name(), k, ok)
		}
	}
	if got, want := strings.Join(Kinds(), ","), "attachment,bridge,container,image,imagelayer,layer,mesh,migrate,overlay,rootfs,sandbox,veth,volume"; got != want {
		t.Errorf("Kinds() = %s, want %s", got, want)
	}
}

// TestFactsRoundTrip: each kind's facts are written typed, under "facts"
// with their version and no "details", and read back the same.
func TestFactsRoundTrip(t *testing.T) {
	for _, want := range everyKind {
		t.Run(want.Kind().Name(), func(t *testing.T) {
			rec := withFacts(&Record{FormatVersion: FormatVersion, Kind: want.Kind().Name(), Name: "x", State: StateUp}, want)
			data, err := json.Marshal(rec)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(data), `"details"`) || !strings.Contains(string(data), fmt.Sprintf(`"facts_version":%d`, want.Kind().FactsVersion())) {
				t.Errorf("journal %s: want facts and their version, no details", data)
			}
			got, err := reread(t, rec).Facts()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got, netipEqual); diff != "" {
				t.Errorf("facts (-want +got):\n%s", diff)
			}
			if !sameFacts(want, got) {
				t.Error("sameFacts of a round trip: false")
			}
		})
	}
}

// TestFactsErrors: facts that cannot be read say why, by record: a newer
// version, a field this plumb does not know, a bad value, an unknown kind.
func TestFactsErrors(t *testing.T) {
	for name, c := range map[string]struct {
		rec  Record
		want string
	}{
		"version":       {Record{Kind: "bridge", Name: "br0", FactsJSON: []byte(`{}`), FactsVersion: 2}, "bridge/br0: the journal's facts are of version 2"},
		"unknown field": {Record{Kind: "layer", Name: "l", FactsJSON: []byte(`{"dir":"/d","owner":"x"}`), FactsVersion: 1}, `unknown field "owner"`},
		"bad address":   {Record{Kind: "bridge", Name: "br0", FactsJSON: []byte(`{"gateway":"10.88.0.300"}`), FactsVersion: 1}, "bridge/br0: the journal's facts cannot be read"},
		"bad port":      {Record{Kind: "attachment", Name: "a", FactsJSON: []byte(`{"ports":["80"]}`), FactsVersion: 1}, "attachment/a: the journal's facts cannot be read"},
		"image links":   {Record{Kind: "image", Name: "i", FactsJSON: []byte(`{"layers":[{"diff_id":"d","chain_id":"c"}]}`), FactsVersion: 1}, "0 links for 1 layers"},
		"details":       {Record{Kind: "bridge", Name: "br0", Details: map[string]string{"subnet": "x"}}, "bridge/br0: the journal's subnet cannot be read"},
		"kind":          {Record{Kind: "gadget", Name: "v"}, `gadget/v: plumb keeps no objects of kind "gadget"`},
	} {
		_, err := c.rec.Facts()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}

// TestDetailsStillRead: a container's details map, one key space for its
// root, its network and its own ("target" and "layout" written by both),
// reads as the nested facts.
func TestDetailsStillRead(t *testing.T) {
	rec := Record{Kind: "container", Name: "web", Details: map[string]string{
		"lowerdir": "/l/a", "upperdir": "/o/upper", "workdir": "/o/work", "merged": "/o/merged", "layout": "/o",
		"netns": "plumb-web", "hostname": "web", "cmd": "sh", "pid_file": "/o/pid", "log": "/o/log", "target": "netns plumb-web",
		"env": `["PATH=/bin"]`, "bridge": "br0", "ip": "10.88.0.2", "prefix_len": "24", "gateway": "10.88.0.1",
		"host_veth": "veth0a580002", "if": "eth0", "ports": "8080:80/tcp,[::]:53:53/udp"}}
	got, err := rec.Container()
	if err != nil {
		t.Fatal(err)
	}
	want := ContainerFacts{Root: OverlayFacts{LowerDir: "/l/a", UpperDir: "/o/upper", WorkDir: "/o/work", Merged: "/o/merged", Layout: "/o"},
		Netns: "plumb-web", Hostname: "web", Cmd: "sh", PIDFile: "/o/pid", Log: "/o/log", Target: "netns plumb-web", Env: []string{"PATH=/bin"},
		Net: &AttachmentFacts{Bridge: "br0", IP: netip.MustParseAddr("10.88.0.2"), PrefixLen: 24, Gateway: netip.MustParseAddr("10.88.0.1"),
			HostVeth: "veth0a580002", If: "eth0", Target: "netns plumb-web",
			Ports: []Port{{Host: 8080, Container: 80, Proto: "tcp"}, {Host: 53, Container: 53, Proto: "udp", HostIP: netip.MustParseAddr("::")}}}}
	if diff := cmp.Diff(want, got, netipEqual); diff != "" {
		t.Errorf("container facts (-want +got):\n%s", diff)
	}
	// Written again (an image's untag, say), it keeps them typed.
	cp := rec
	again := *reread(t, withFacts(&cp, got))
	if again.Details != nil || again.FactsVersion != ContainerKind.FactsVersion() {
		t.Errorf("written again: details %v, facts version %d; want typed facts alone", again.Details, again.FactsVersion)
	}
	if f, err := again.Container(); err != nil || !cmp.Equal(f, want, netipEqual) {
		t.Errorf("written again: %+v, %v", f, err)
	}
	rec.Details["net"] = "none"
	if got, err := rec.Container(); err != nil || got.Net != nil {
		t.Errorf("--net none: %+v, %v", got.Net, err)
	}
}

// TestDependentsOf: a bridge's attachments and containers, a layer's
// containers, an image layer's images and containers; a veth has none.
func TestDependentsOf(t *testing.T) {
	st := NewStore(t.TempDir())
	save := func(r *Record, f Facts) *Record {
		r.FormatVersion, r.State = FormatVersion, StateUp
		if err := st.Save(withFacts(r, f)); err != nil {
			t.Fatal(err)
		}
		return r
	}
	br := save(&Record{Kind: "bridge", Name: "br0"}, everyKind[1])
	att := testAttachment()
	att.Runtime = nil
	save(&Record{Kind: "attachment", Name: "br0-10.88.0.2"}, att)
	ctr := everyKind[4].(ContainerFacts)
	ctr.Net = nil
	ctr.Root.LowerDir = "L1:/run/plumb/layers/base"
	save(&Record{Kind: "container", Name: "web"}, ctr)
	layer := save(&Record{Kind: "layer", Name: "base"}, everyKind[5])
	img := save(&Record{Kind: "image", Name: "ab"}, everyKind[6])
	il := save(&Record{Kind: "imagelayer", Name: "c1"}, everyKind[7])
	veth := save(&Record{Kind: "veth", Name: "vh"}, everyKind[0])
	for _, c := range []struct {
		rec  *Record
		want string
	}{
		{br, "attachment/br0-10.88.0.2"},
		{layer, "container/web"},
		{il, "image/ab,container/web"},
		{img, ""},
		{veth, ""},
	} {
		deps, err := DependentsOf(st, c.rec)
		if got := strings.Join(recordIDs(deps), ","); err != nil || got != c.want {
			t.Errorf("%s: %s, %v; want %s", c.rec.ID(), got, err, c.want)
		}
	}
}

// TestSaveUpgradesDetails: a journal read with a details map is written
// with typed facts; one whose details cannot be read keeps them.
func TestSaveUpgradesDetails(t *testing.T) {
	st := NewStore(t.TempDir())
	good := &Record{FormatVersion: FormatVersion, Kind: "layer", Name: "base", State: StateUp, Details: map[string]string{"dir": "/d", "file": "/f.tar"}}
	bad := &Record{FormatVersion: FormatVersion, Kind: "bridge", Name: "br0", State: StateUp, Details: map[string]string{"subnet": "x"}}
	for _, r := range []*Record{good, bad} {
		if err := st.Save(r); err != nil {
			t.Fatal(err)
		}
	}
	if r, err := st.Load("layer", "base"); err != nil || r.Details != nil || r.FactsVersion != 1 {
		t.Errorf("layer written again: %+v, %v; want typed facts", r, err)
	} else if f, err := r.Facts(); err != nil || f != (LayerFacts{Dir: "/d", File: "/f.tar"}) {
		t.Errorf("layer facts %+v, %v", f, err)
	}
	if r, err := st.Load("bridge", "br0"); err != nil || r.Details["subnet"] != "x" || r.FactsJSON != nil {
		t.Errorf("unreadable details written again: %+v, %v; want them kept", r, err)
	}
}

// TestContainerStateUnreadable: a container whose facts cannot be read is
// in an unknown state, not "exited".
func TestContainerStateUnreadable(t *testing.T) {
	rec := &Record{Kind: "container", Name: "web", Details: map[string]string{"env": "[not json"}}
	if _, state := ContainerState(rec); state != "unknown" {
		t.Errorf("state %q, want unknown", state)
	}
}

// TestSameInputDerived: a bridge recorded before the loopback guard, in
// either form, is the same input as today's plan; another subnet is not.
func TestSameInputDerived(t *testing.T) {
	b := everyKind[1].(BridgeFacts)
	old := b
	old.LoopbackGuard = false
	p := &Plan{Kind: "bridge", Name: "br0", Facts: b}
	typed := withFacts(&Record{Kind: "bridge", Name: "br0"}, old)
	legacy := &Record{Kind: "bridge", Name: "br0", Details: map[string]string{"subnet": "10.88.0.0/24", "gateway": "10.88.0.1", "nat": "true",
		"mtu": "1400", "firewall": "nftables", "subnet6": "fd00::/64", "gateway6": "fd00::1", "nat6": "true"}}
	for name, rec := range map[string]*Record{"typed": typed, "details": legacy} {
		if !SameInput(rec, p) {
			t.Errorf("%s: not the same input", name)
		}
	}
	other := b
	other.Subnet = netip.MustParsePrefix("10.89.0.0/24")
	if SameInput(typed, &Plan{Kind: "bridge", Name: "br0", Facts: other}) {
		t.Error("another subnet: the same input")
	}
}

// TestCapabilities: what each kind says of firewall rules, bridges,
// locks and index entries.
func TestCapabilities(t *testing.T) {
	for _, c := range []struct {
		f              Facts
		rules, bridged bool
		fw             string
		entries        int
	}{
		{everyKind[0], true, false, "nftables", 0},
		{everyKind[1], true, true, "nftables", 0},
		{everyKind[2], true, true, "nftables", 5}, // 2 addresses, target, 2 ports
		{everyKind[3], false, false, "", 0},
		{everyKind[4], true, true, "nftables", 5},
		{ContainerFacts{}, false, false, "", 0}, // --net none
		{everyKind[5], false, false, "", 0},
	} {
		rec := withFacts(&Record{Kind: c.f.Kind().Name(), Name: "x"}, c.f)
		rules, bridged := Firewalled([]*Record{rec})
		if rules != c.rules || bridged != c.bridged || rec.Firewall() != c.fw {
			t.Errorf("%T: rules %v bridged %v firewall %q; want %v %v %q", c.f, rules, bridged, rec.Firewall(), c.rules, c.bridged, c.fw)
		}
		if n := len(Layout{Dir: "/s"}.entries(rec)); n != c.entries {
			t.Errorf("%T: %d index entries, want %d", c.f, n, c.entries)
		}
	}
	if l := ObjectLock("bridge", "br0"); l.rank != rankNetwork {
		t.Errorf("a bridge's object lock: %+v, want its network lock", l)
	}
	if l := ObjectLock("container", "c"); l.rank != rankObject {
		t.Errorf("a container's object lock: %+v", l)
	}
}

// TestContainerStateStarting: right after run -d the PID plumb recorded is
// nsenter's, not yet in the container's namespace: ps says starting, not
// exited. Another process outside the namespace, or none, is exited.
func TestContainerStateStarting(t *testing.T) {
	dir := t.TempDir()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep")
	}
	for _, c := range []struct{ name, want string }{{"nsenter", "starting"}, {"sleep", "exited"}} {
		bin := filepath.Join(dir, c.name)
		data, err := os.ReadFile(sleep)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bin, data, 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "30")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pidFile := filepath.Join(dir, c.name+".pid")
		if err := os.WriteFile(pidFile, []byte(strconv.Itoa(cmd.Process.Pid)), 0o600); err != nil {
			t.Fatal(err)
		}
		rec := withFacts(&Record{Kind: "container", Name: "web"}, ContainerFacts{Netns: "plumb-test-none", PIDFile: pidFile})
		if _, got := ContainerState(rec); got != c.want {
			t.Errorf("a %s outside the container's namespace: %s, want %s", c.name, got, c.want)
		}
		cmd.Process.Kill()
		cmd.Wait()
		if _, got := ContainerState(rec); got != "exited" {
			t.Errorf("a %s that ended: %s, want exited", c.name, got)
		}
	}
}

// TestContainerFactsRoundTrip: what a container runs with is kept beside
// its overlay's own directories, none in another's place (overlay's
// workdir is not the command's working directory).
func TestContainerFactsRoundTrip(t *testing.T) {
	want := ContainerFacts{Root: OverlayFacts{LowerDir: "/l/a:/l/b", UpperDir: "/o/upper", WorkDir: "/o/work", Merged: "/o/merged", Layout: "/o"},
		Netns: "plumb-web", Hostname: "web", Cmd: "httpd -f", PIDFile: "/o/pid", Log: "/o/log", Target: "netns plumb-web",
		Image: "plumb-demo/busybox:1", ImageID: "sha256:" + strings.Repeat("1", 64), Env: []string{"PATH=/bin", "A=b c"}, WorkDir: "/www", User: "33:33"}
	rec := reread(t, withFacts(&Record{Kind: "container", Name: "web"}, want))
	got, err := rec.Facts()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Facts(want), got); diff != "" {
		t.Errorf("container facts (-want +got):\n%s", diff)
	}
}

// TestMeshFactsSame: a mesh's facts compare field by field (faster than
// by their JSON, for a thousand peers); a change of any field, a field
// added since included, makes them differ, as their JSON would.
func TestMeshFactsSame(t *testing.T) {
	base := MeshFacts{VNI: 1, Port: 8472, Local: netip.MustParseAddr("192.0.2.1"), Underlay: "eth0", Cluster: netip.MustParsePrefix("10.244.0.0/16"),
		Subnet: netip.MustParsePrefix("10.244.1.0/24"), MTU: 1450, MAC: "02:00:00:00:00:01", Generation: 2,
		Peers: []Peer{{IP: netip.MustParseAddr("192.0.2.2"), Subnet: netip.MustParsePrefix("10.244.2.0/24"), Node: "n2"}}}
	if !sameFacts(base, base) {
		t.Fatal("facts differ from themselves")
	}
	typ := reflect.TypeOf(base)
	for i := 0; i < typ.NumField(); i++ {
		if !typ.Field(i).IsExported() {
			continue // what a journal named: the peers are compared
		}
		changed := base
		changed.Peers = slices.Clone(base.Peers)
		f := reflect.ValueOf(&changed).Elem().Field(i)
		switch f.Kind() {
		case reflect.Slice:
			changed.Peers[0].Node = "other"
		case reflect.String:
			f.SetString(f.String() + "x")
		case reflect.Int, reflect.Int64:
			f.SetInt(f.Int() + 1)
		case reflect.Uint16, reflect.Uint32:
			f.SetUint(f.Uint() + 1)
		case reflect.Struct: // netip.Addr, netip.Prefix
			switch v := f.Interface().(type) {
			case netip.Addr:
				f.Set(reflect.ValueOf(v.Next()))
			case netip.Prefix:
				f.Set(reflect.ValueOf(netip.PrefixFrom(v.Addr(), v.Bits()+1)))
			default:
				t.Fatalf("field %s: a type this test cannot change (%T): teach it", typ.Field(i).Name, v)
			}
		default:
			t.Fatalf("field %s: a kind this test cannot change (%s): teach it", typ.Field(i).Name, f.Kind())
		}
		ja, _ := json.Marshal(base)
		jb, _ := json.Marshal(changed)
		if string(ja) == string(jb) {
			t.Fatalf("field %s: the change did not show in the JSON", typ.Field(i).Name)
		}
		if sameFacts(base, changed) {
			t.Errorf("a change of %s is not seen: MeshFacts.same must compare it", typ.Field(i).Name)
		}
	}
}
