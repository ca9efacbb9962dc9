package view

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"plumb/actions"
	"plumb/plan"
	"plumb/plan/image"
)

// record is a journal's header of f's kind, as the store reads one.
func record(t *testing.T, name string, state plan.State, f plan.Facts) *plan.Record {
	t.Helper()
	data, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	return &plan.Record{FormatVersion: plan.FormatVersion, Kind: f.Kind().Name(), Name: name, State: state, Summary: "s " + name,
		FactsJSON: data, FactsVersion: f.Kind().FactsVersion(), Created: at, Updated: at}
}

// imageOfLayers is an image's facts listing layers of these chain IDs.
func imageOfLayers(id string, chains ...string) plan.ImageFacts {
	f := plan.ImageFacts{ID: id}
	for _, c := range chains {
		f.Layers = append(f.Layers, plan.ImageLayerRef{DiffID: "d" + c, ChainID: c})
		f.Links = append(f.Links, "L"+c)
	}
	return f
}

// TestStatusRows: without all, an image's layers that are up fold into
// its row (a shared one into both), and a layer that is not up, or that
// no image lists, keeps its row; with all, every journal has its row.
func TestStatusRows(t *testing.T) {
	recs := []*plan.Record{
		record(t, "a", plan.StateUp, imageOfLayers("sha256:a", "c1", "c2")),
		record(t, "b", plan.StateUp, imageOfLayers("sha256:b", "c1", "c3")),
		record(t, "empty", plan.StateUp, imageOfLayers("sha256:e")),
		record(t, "l1", plan.StateUp, plan.ImageLayerFacts{ChainID: "c1"}),
		record(t, "l2", plan.StateUp, plan.ImageLayerFacts{ChainID: "c2"}),
		record(t, "l3", plan.StateApplying, plan.ImageLayerFacts{ChainID: "c3"}),
		record(t, "lone", plan.StateUp, plan.ImageLayerFacts{ChainID: "c9"}),
	}
	for _, tc := range []struct {
		all  bool
		want []string // name: summary
	}{
		{false, []string{
			"a: s a; its 2 layers are up (--all lists them)",
			"b: s b; 1 of its 2 layers are up (--all lists them)",
			"empty: s empty", "l3: s l3", "lone: s lone"}},
		{true, []string{"a: s a", "b: s b", "empty: s empty", "l1: s l1", "l2: s l2", "l3: s l3", "lone: s lone"}},
	} {
		var got []string
		for _, r := range statusRows(recs, tc.all).Rows {
			got = append(got, r.Name+": "+r.Summary)
		}
		if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("all=%v:\n%s\nwant\n%s", tc.all, strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
		}
	}
}

// TestObjectOf: docker inspect's NetworkSettings of a veth and of
// attachments in each family, a published port in the families it is
// published in, and the MAC address read from the container's end.
func TestObjectOf(t *testing.T) {
	a4, gw4 := netip.MustParseAddr("192.0.2.5"), netip.MustParseAddr("192.0.2.1")
	a6, gw6 := netip.MustParseAddr("2001:db8::5"), netip.MustParseAddr("2001:db8::1")
	ports := []plan.Port{
		{Host: 8080, Container: 80, Proto: "tcp"},
		{Host: 5353, Container: 53, Proto: "udp", HostIP: netip.IPv6Unspecified()},
		{Host: 2222, Container: 22, Proto: "tcp", HostIP: netip.IPv4Unspecified()},
	}
	veth := record(t, "v0", plan.StateUp, plan.VethFacts{HostIf: "v0h", ContIf: "eth1", Subnet: netip.MustParsePrefix("192.0.2.0/30"), HostIP: gw4, ContIP: a4})
	dual := record(t, "web", plan.StateUp, plan.AttachmentFacts{Bridge: "br0", IP: a4, PrefixLen: 24, Gateway: gw4, If: "eth0", HostVeth: "vethweb",
		IP6: a6, PrefixLen6: 64, Gateway6: gw6, Ports: ports})
	dual.Target = &actions.Netns{Name: "web"}
	only6 := record(t, "six", plan.StateUp, plan.AttachmentFacts{Bridge: "br6", IP: a6, PrefixLen: 64, Gateway: gw6, If: "eth0", HostVeth: "vethsix", Ports: ports[:1]})
	for _, tc := range []struct {
		rec     *plan.Record
		network string
		want    Endpoint
		sandbox string
		ports   map[string][]PortBinding
	}{
		{veth, "v0", Endpoint{IPAddress: "192.0.2.5", IPPrefixLen: 30, Gateway: "192.0.2.1"}, "", map[string][]PortBinding{}},
		{dual, "br0", Endpoint{IPAddress: "192.0.2.5", IPPrefixLen: 24, Gateway: "192.0.2.1",
			GlobalIPv6Address: "2001:db8::5", GlobalIPv6PrefixLen: 64, IPv6Gateway: "2001:db8::1", MacAddress: "mac of eth0 in web"},
			"/run/netns/web", map[string][]PortBinding{
				"80/tcp": {{"0.0.0.0", "8080"}, {"::", "8080"}},
				"53/udp": {{"::", "5353"}},
				"22/tcp": {{"0.0.0.0", "2222"}},
			}},
		{only6, "br6", Endpoint{GlobalIPv6Address: "2001:db8::5", GlobalIPv6PrefixLen: 64, IPv6Gateway: "2001:db8::1"}, "",
			map[string][]PortBinding{"80/tcp": {{"::", "8080"}}}},
	} {
		v, err := objectOf(tc.rec, func(n actions.Netns, dev string) string { return "mac of " + dev + " in " + n.Name })
		if err != nil {
			t.Fatal(err)
		}
		ns := v.NetworkSettings
		if ns == nil {
			t.Fatalf("%s: no NetworkSettings", tc.rec.ID())
		}
		got, _ := json.Marshal(ns)
		want, _ := json.Marshal(NetworkSettings{SandboxKey: tc.sandbox, Endpoint: tc.want, Ports: tc.ports, Networks: map[string]Endpoint{tc.network: tc.want}})
		if !bytes.Equal(got, want) {
			t.Errorf("%s:\n got %s\nwant %s", tc.rec.ID(), got, want)
		}
	}
}

// TestObjectOfUnreadable: an object whose facts cannot be read is not
// shown as one without them.
func TestObjectOfUnreadable(t *testing.T) {
	r := record(t, "x", plan.StateUp, plan.VethFacts{})
	r.FactsVersion++
	if _, err := objectOf(r, nil); err == nil {
		t.Error("facts of a version this plumb does not read: no error")
	}
}

// TestTemplate: docker inspect -f's functions over the JSON document,
// numbers as JSON writes them, and a template that cannot run refused.
func TestTemplate(t *testing.T) {
	doc := struct {
		Name  string
		Len   int
		Tags  []string
		Ports map[string]int
	}{"web", 24, []string{"a", "b"}, map[string]int{"80/tcp": 8080}}
	for _, tc := range []struct{ format, want, err string }{
		{"{{.Name}}/{{.Len}}", "web/24\n", ""},
		{"{{join .Tags \",\"}} {{upper .Name}} {{title .Name}} {{lower \"X\"}}", "a,b WEB Web x\n", ""},
		{"{{json .Ports}}", "{\"80/tcp\":8080}\n", ""},
		{"{{index (split \"a:b\" \":\") 1}}", "b\n", ""},
		{"{{.Missing}}", "", "format"},
		{"{{.Name", "", "format"},
	} {
		var b bytes.Buffer
		err := Template(&b, tc.format, doc)
		var refused *plan.Refused
		switch {
		case tc.err != "" && (!errors.As(err, &refused) || refused.Flag != tc.err):
			t.Errorf("%s: error %v, want one refusing --%s", tc.format, err, tc.err)
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.format, err)
		case b.String() != tc.want:
			t.Errorf("%s: %q, want %q", tc.format, b.String(), tc.want)
		}
	}
}

// TestTable: an empty listing is an empty JSON list under its key (never
// null) and a header alone in text; Write gives Err after the rows.
func TestTable(t *testing.T) {
	unread := errors.New("journal x unreadable")
	tb := Table[PsRow]{key: "containers", header: "NAME", Err: unread}
	for _, tc := range []struct {
		out  Output
		want string
	}{
		{JSON, "{\n  \"format_version\": 1,\n  \"containers\": []\n}\n"},
		{Text, "NAME\n"},
	} {
		var b bytes.Buffer
		if err := tb.Write(&b, tc.out); err != unread {
			t.Errorf("%s: error %v, want %v", tc.out, err, unread)
		}
		if b.String() != tc.want {
			t.Errorf("%s: %q, want %q", tc.out, b.String(), tc.want)
		}
	}
}

// TestImageRows: one row per name, by repository and tag as docker images
// shows them, <none> for an image without a name.
func TestImageRows(t *testing.T) {
	for _, tc := range []struct {
		refs []string
		want []string
	}{
		{nil, []string{"<none>:<none>"}},
		{[]string{"docker.io/library/busybox:1.36"}, []string{"busybox:1.36"}},
		{[]string{"localhost:5000/app:v1", "example.com/team/app@sha256:" + strings.Repeat("a", 64)}, []string{"localhost:5000/app:v1", "example.com/team/app:"}},
	} {
		var got []string
		for _, r := range imageRows(plan.ImageFacts{ID: "sha256:x", Refs: tc.refs, Layers: []plan.ImageLayerRef{{Size: 3}, {Size: 4}}}, "then") {
			got = append(got, r.Repository+":"+r.Tag)
			if r.Size != 7 || r.Layers != 2 || r.Since != "then" {
				t.Errorf("%v: row %+v", tc.refs, r)
			}
		}
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("%v: %v, want %v", tc.refs, got, tc.want)
		}
	}
}

// TestImageText: what an image's config holds is quoted where it is not
// printable, so that it can neither redraw the terminal nor forge a line.
func TestImageText(t *testing.T) {
	v := imageOf(plan.ImageFacts{ID: "sha256:x", From: "file\n  forged: line", Platform: "linux/amd64",
		Config: image.Config{WorkingDir: "/w\x1b[2J", User: "1000 1000", ExposedPorts: []string{"80/tcp"}},
		Layers: []plan.ImageLayerRef{{DiffID: "sha256:d", ChainID: "sha256:c", Size: 1536}}, Links: []string{"L1"}})
	var b bytes.Buffer
	if err := v.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"from:        \"file\\n  forged: line\"\n",
		"workdir:     \"/w\\x1b[2J\"\n",
		"user:        1000 1000\n",
		"names:       -\n",
		"ports:       80/tcp\n",
		"    1  sha256:d     1.5kB  L1 -> ",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("no %q in\n%s", want, b.String())
		}
	}
	if v.GraphDriver.Data["LowerDir"] != "L1" || len(v.Config.ExposedPorts) != 1 {
		t.Errorf("document %+v", v)
	}
}

func TestHumanSize(t *testing.T) {
	for n, want := range map[int64]string{0: "-", -1: "-", 1: "1B", 1023: "1023B", 1024: "1.0kB", 1<<20 - 1: "1024.0kB",
		1 << 20: "1.0MB", 5 << 29: "2.5GB", 1 << 40: "1024.0GB"} {
		if got := humanSize(n); got != want {
			t.Errorf("humanSize(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestCheckReport: each object's line, its drift named step by step, the
// host's warnings last, and an error counting the objects not in effect.
func TestCheckReport(t *testing.T) {
	r := CheckReport{Objects: []Checked{
		{ID: "bridge/br0", Steps: 9},
		{ID: "veth/v0", Steps: 4, Drift: []plan.Drift{{Step: 2, Command: "ip link set v0 up", Problem: "v0 is down"}}},
		{ID: "container/c", Steps: 3, Err: errors.New("container/c is not up")},
	}, Warnings: []string{"br_netfilter is loaded"}}
	var b bytes.Buffer
	err := r.Write(&b)
	want := `ok    bridge/br0: 9 steps in effect
DRIFT veth/v0: 1 of 4 steps no longer in effect
      step 2: ip link set v0 up
        v0 is down
FAIL  container/c: container/c is not up
WARN  br_netfilter is loaded
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	if err == nil || err.Error() != "2 of 3 objects have drifted from what plumb applied" {
		t.Errorf("error %v", err)
	}
	if err := (CheckReport{Objects: r.Objects[:1]}).Write(&bytes.Buffer{}); err != nil {
		t.Errorf("nothing drifted: %v", err)
	}
}

// TestPortOrder: inspect's text lists published ports by number, then
// protocol, whatever order the map gives them in.
func TestPortOrder(t *testing.T) {
	ports := map[string][]PortBinding{"8080/tcp": nil, "53/udp": nil, "443/tcp": nil, "53/tcp": nil, "80/tcp": nil}
	for range 20 {
		if got, want := strings.Join(portOrder(ports), " "), "53/tcp 53/udp 80/tcp 443/tcp 8080/tcp"; got != want {
			t.Fatalf("portOrder = %s, want %s", got, want)
		}
	}
}
