package network

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"plumb/actions"
	"plumb/plan"
	"plumb/plan/plantest"
)

func TestAttachNames(t *testing.T) {
	for _, c := range []struct {
		name string
		a    Attach
		want []string
	}{
		{"a name and aliases, each once", Attach{Name: "web", Aliases: []string{"www", "web", "", "www"}}, []string{"web", "www"}},
		{"a named namespace's name", Attach{Target: actions.Netns{Name: "ctr1"}, Aliases: []string{"db"}}, []string{"ctr1", "db"}},
		{"a runtime's container ID", Attach{Target: actions.Netns{File: "/x"}, Runtime: &plan.RuntimeRef{Network: "n", ContainerID: "abc", IfName: "eth0"}}, []string{"abc"}},
		{"the name over the namespace's", Attach{Name: "web", Target: actions.Netns{Name: "plumb-web"}}, []string{"web"}},
		{"a process: aliases alone", Attach{Target: actions.Netns{PID: 7}, Aliases: []string{"x"}}, []string{"x"}},
		{"a process: none", Attach{Target: actions.Netns{PID: 7}}, []string{}},
	} {
		if got := c.a.Names(); !cmp.Equal(c.want, got) {
			t.Errorf("%s: names %q, want %q", c.name, got, c.want)
		}
	}
}

// namesAttach applies an attachment of the test's own process to net, as
// an attach does, and returns its journal.
func namesAttach(t *testing.T, st *plan.Store, net BridgeNetwork, a *Attach) *plan.Record {
	t.Helper()
	a.Network, a.Target, a.If = net, plantest.SelfTarget(), "eth0"
	rec, err := plan.Apply(context.Background(), &plantest.FakeRunner{}, st, plantest.Must(a.Plan()), plan.Each)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// memberIDs are the IDs of br0's entries, each once, sorted.
func memberIDs(t *testing.T, st *plan.Store) []string {
	t.Helper()
	var ids []string
	_ = filepath.WalkDir(st.NamesDir("br0"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			id, _ := url.PathUnescape(d.Name())
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
		return nil
	})
	slices.Sort(ids)
	return ids
}

// addrCmp compares addresses as == does.
var addrCmp = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

func addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

// TestNamesIndex: attaching gives an object's names and aliases on its
// network, both families, a shared alias all its holders' addresses; the
// index answers as the journals do; a teardown takes them away; an old
// journal's names are derived; after a crash that lost the names file or
// left a member without its journal, the stale member is not answered and
// the rebuild (recover's) brings the index back to the journals.
func TestNamesIndex(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := plan.NewStore(dir)
	if err := st.Lock(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	defer func() { st.Unlock() }()
	br := bridgeUp(t, st, "10.88.0.0/24")
	if err := st.BuildIndex(); err != nil || !st.Indexed() {
		t.Fatalf("index not built: %v", err)
	}
	dual := br
	dual.Subnet6, dual.Gateway6 = netip.MustParsePrefix("fd00:88::/64"), netip.MustParseAddr("fd00:88::1")
	// A name too long for a file name of its own is hashed there.
	long := strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 60)
	web := namesAttach(t, st, dual, &Attach{IP: netip.MustParseAddr("10.88.0.2"), IP6: netip.MustParseAddr("fd00:88::2"), Name: "web", Aliases: []string{"www", long}})
	db := namesAttach(t, st, br, &Attach{IP: netip.MustParseAddr("10.88.0.3"), Aliases: []string{"db", "www"}})
	// A journal of before names were recorded: a container's name is its own.
	old := withFacts(&plan.Record{FormatVersion: plan.FormatVersion, Kind: plan.ContainerKind.Name(), Name: "old", State: plan.StateUp},
		plan.ContainerFacts{Net: &plan.AttachmentFacts{Bridge: "br0", IP: netip.MustParseAddr("10.88.0.4"), PrefixLen: 24,
			Gateway: netip.MustParseAddr("10.88.0.1"), HostVeth: "veth0a580004", If: "eth0", Target: "netns plumb-old"}})
	if _, err := old.Facts(); err != nil {
		t.Fatal(err)
	}
	if err := st.Save(old); err != nil {
		t.Fatal(err)
	}
	// Not up yet: no name.
	pending := attachmentRec("br0-10.88.0.5", "10.88.0.5", "netns pending", plan.StateApplying)
	if err := st.Save(pending); err != nil {
		t.Fatal(err)
	}
	want := map[string][]netip.Addr{
		"web": addrs("10.88.0.2", "fd00:88::2"),
		long:  addrs("10.88.0.2", "fd00:88::2"),
		"www": addrs("10.88.0.2", "fd00:88::2", "10.88.0.3"), // its holders in the order of their IDs
		"db":  addrs("10.88.0.3"),
		"old": addrs("10.88.0.4"),
	}
	if d := cmp.Diff(want, st.Names("br0"), addrCmp); d != "" {
		t.Errorf("names by the index (-want +got):\n%s", d)
	}
	journals := plan.NewStore(dir)
	journals.SkipIndex() // no index: read the journals
	if d := cmp.Diff(want, journals.Names("br0"), addrCmp); d != "" {
		t.Errorf("names by the journals (-want +got):\n%s", d)
	}
	if got := st.Lookup("br0", "db"); !cmp.Equal(got, addrs("10.88.0.3"), addrCmp) {
		t.Errorf("Lookup db: %v", got)
	}
	if got := st.Lookup("br1", "db"); got != nil {
		t.Errorf("db on another network: %v", got)
	}
	// A teardown takes the attachment's names with its journal.
	if _, err := plan.Unwind(ctx, &plantest.FakeRunner{}, st, plantest.Must(st.Load(db.Kind, db.Name))); err != nil {
		t.Fatal(err)
	}
	delete(want, "db")
	want["www"] = addrs("10.88.0.2", "fd00:88::2")
	if d := cmp.Diff(want, st.Names("br0"), addrCmp); d != "" {
		t.Errorf("names after a teardown (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{web.ID(), old.ID()}, memberIDs(t, st)); d != "" {
		t.Errorf("members after a teardown (-want +got):\n%s", d)
	}
	// Crashes: a journal gone without its names (its member is stale),
	// and a journal up whose names file was lost.
	if err := os.Remove(st.Journal(old.Kind, old.Name)); err != nil {
		t.Fatal(err)
	}
	delete(want, "old")
	if d := cmp.Diff(want, st.Names("br0"), addrCmp); d != "" {
		t.Errorf("names with a stale member (-want +got):\n%s", d)
	}
	if err := os.RemoveAll(st.NamesDir("br0")); err != nil {
		t.Fatal(err)
	}
	if got := st.Names("br0"); len(got) != 0 {
		t.Errorf("names with the file lost: %v", got)
	}
	// Recover rebuilds the index, as a process of its own would: a store
	// that has not read the journals yet.
	st.Unlock()
	st = plan.NewStore(dir)
	if err := st.Lock(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := plan.Recover(ctx, &plantest.FakeRunner{}, st); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, st.Names("br0"), addrCmp); d != "" {
		t.Errorf("names rebuilt (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{web.ID()}, memberIDs(t, st)); d != "" {
		t.Errorf("members rebuilt (-want +got):\n%s", d)
	}
	// A call for two rolled back when the second fails: a call marks its
	// objects up together once every step ran, so neither was named, and
	// neither is.
	var plans []*plan.Plan
	for i, name := range []string{"r1", "r2"} {
		a := &Attach{Network: br, Target: plantest.SelfTarget(), If: "eth0", IP: netip.AddrFrom4([4]byte{10, 88, 0, byte(20 + i)}), Name: name}
		plans = append(plans, plantest.Must(a.Plan()))
	}
	if _, err := plan.ApplyAll(ctx, &plantest.FakeRunner{FailOn: fmt.Sprintf("nsenter -t %d -n ip addr add 10.88.0.21/24 dev eth0", os.Getpid())}, st, plans, plan.Each); err == nil {
		t.Fatal("the call did not fail")
	}
	if d := cmp.Diff(want, st.Names("br0"), addrCmp); d != "" {
		t.Errorf("names after a rollback (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{web.ID()}, memberIDs(t, st)); d != "" {
		t.Errorf("members after a rollback (-want +got):\n%s", d)
	}
	// Every object gone: no names file left.
	for _, r := range []*plan.Record{web, pending} {
		if err := st.Remove(r); err != nil {
			t.Fatal(err)
		}
	}
	var left []string
	_ = filepath.WalkDir(st.IndexDir(), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasPrefix(p, st.BridgeIndex("br0")) {
			left = append(left, strings.TrimPrefix(p, st.IndexDir()+"/"))
		}
		return nil
	})
	if d := cmp.Diff([]string{"v1"}, left); d != "" {
		t.Errorf("index files left with no attachment (-want +got):\n%s", d)
	}
}

func TestCheckAlias(t *testing.T) {
	for _, c := range []struct {
		name string
		ok   bool
	}{
		{"web", true}, {"web-1.project_default", true}, {"A9", true}, {strings.Repeat("a", 63), true},
		{"", false}, {"a b", false}, {"-a", false}, {"a-", false}, {"a..b", false}, {".a", false},
		{strings.Repeat("a", 64), false}, {strings.Repeat("a.", 127) + "a", false}, {"é", false}, {"a/b", false},
	} {
		if err := checkAlias(c.name); (err == nil) != c.ok {
			t.Errorf("checkAlias(%q): %v, want ok %v", c.name, err, c.ok)
		}
	}
	if err := CheckAliases([]string{"web"}, false); err == nil {
		t.Error("an alias on no network was not refused")
	}
}
