package plan

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestBeside: a mesh's peers are written beside its journal, in a file
// named by their content, which the journal names; each save that ends an
// update keeps that file and the newest other; a file changed or missing
// is an error naming it; down removes them all; a journal of version 1,
// its peers in it, is still read.
func TestBeside(t *testing.T) {
	st := NewStore(t.TempDir())
	dir := filepath.Join(st.Dir, "objects", "mesh", "m1.d")
	peers := func(n int) []Peer {
		var out []Peer
		for i := range n {
			out = append(out, Peer{IP: netip.AddrFrom4([4]byte{192, 0, 2, byte(10 + i)}), Subnet: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 244, byte(2 + i), 0}), 24), Node: "n" + string(rune('a'+i))})
		}
		return out
	}
	facts := MeshFacts{VNI: 42, Port: 8472, Local: netip.MustParseAddr("192.0.2.1"), Underlay: "eth0", Cluster: netip.MustParsePrefix("10.244.0.0/16"),
		Subnet: netip.MustParsePrefix("10.244.1.0/24"), MTU: 1450, MAC: "02:50:0a:f4:01:00"}
	files := func() []string {
		ents, _ := os.ReadDir(dir)
		var out []string
		for _, e := range ents {
			out = append(out, e.Name())
		}
		return out
	}
	save := func(n int) string {
		t.Helper()
		f := facts
		f.Peers, f.Generation = peers(n), n
		rec := &Record{FormatVersion: FormatVersion, Kind: "mesh", Name: "m1", State: StateUp}
		if err := rec.SetFacts(f); err != nil {
			t.Fatal(err)
		}
		if err := st.Save(rec); err != nil {
			t.Fatal(err)
		}
		name, _ := f.besideFile()
		return name
	}
	load := func() (MeshFacts, error) {
		t.Helper()
		rec, err := NewStore(st.Dir).LoadHeader("mesh", "m1") // another process's store: nothing kept
		if err != nil {
			t.Fatal(err)
		}
		return rec.MeshFacts()
	}

	one := save(3)
	journal, _ := os.ReadFile(st.Journal("mesh", "m1"))
	if strings.Contains(string(journal), "192.0.2.10") || !strings.Contains(string(journal), `"peer_set": "`+one+`"`) || !strings.Contains(string(journal), `"peer_count": 3`) {
		t.Errorf("the journal holds the peers, or does not name their file %s:\n%s", one, journal)
	}
	text, err := os.ReadFile(filepath.Join(dir, one))
	if err != nil || string(text) != "192.0.2.10 10.244.2.0/24 na\n192.0.2.11 10.244.3.0/24 nb\n192.0.2.12 10.244.4.0/24 nc\n" {
		t.Errorf("%s: %q, %v", one, text, err)
	}
	if f, err := load(); err != nil || !slices.Equal(f.Peers, peers(3)) || f.Generation != 3 {
		t.Errorf("read back: %+v, %v", f, err)
	}
	two := save(4)
	three := save(5)
	if got := files(); !slices.Equal(got, sorted(three, two)) {
		t.Errorf("after three sets: %v; want the last and the one before, %s and %s", got, three, two)
	}
	if again := save(4); again != two || !slices.Equal(files(), sorted(three, two)) {
		t.Errorf("a set again: %s, files %v", again, files())
	}

	// The file changed, or gone.
	os.WriteFile(filepath.Join(dir, two), []byte("192.0.2.99 10.244.99.0/24\n"), 0o600)
	if _, err := load(); err == nil || !strings.Contains(err.Error(), "does not hold what its name says") || !strings.Contains(err.Error(), two) {
		t.Errorf("a changed file: %v", err)
	}
	os.Remove(filepath.Join(dir, two))
	if _, err := load(); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, two)+", which its journal names, is missing") {
		t.Errorf("a missing file: %v", err)
	}

	// No peers: no file.
	save(0)
	if f, err := load(); err != nil || len(f.Peers) != 0 {
		t.Errorf("no peers: %+v, %v", f, err)
	}
	rec, _ := st.LoadHeader("mesh", "m1")
	if err := st.Remove(rec); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("after the journal's removal: %v", files())
	}

	// Facts changed in place after they were set are refused, not
	// saved naming a file never written.
	f := facts
	f.Peers = peers(2)
	changed := &Record{FormatVersion: FormatVersion, Kind: "mesh", Name: "m1", State: StateUp}
	if err := changed.SetFacts(f); err != nil {
		t.Fatal(err)
	}
	f.Peers[0].Node = "other"
	if err := st.Save(changed); err == nil || !strings.Contains(err.Error(), "changed after they were set") {
		t.Errorf("facts changed after SetFacts: %v", err)
	}
	if _, err := os.Stat(st.Journal("mesh", "m1")); !os.IsNotExist(err) {
		t.Errorf("a journal was written: %v", err)
	}

	// A directory of files beside that is a link elsewhere: nothing
	// there is swept.
	save(3)
	elsewhere := t.TempDir()
	for _, n := range []string{"a", "b", "c"} {
		os.WriteFile(filepath.Join(elsewhere, n), nil, 0o600)
	}
	os.RemoveAll(dir)
	if err := os.Symlink(elsewhere, dir); err != nil {
		t.Fatal(err)
	}
	linked, err := NewStore(st.Dir).LoadHeader("mesh", "m1")
	if err != nil {
		t.Fatal(err)
	}
	NewStore(st.Dir).Save(linked)
	if ents, _ := os.ReadDir(elsewhere); len(ents) != 3 {
		t.Errorf("through a link, the sweep removed files elsewhere: %d left", len(ents))
	}
	if _, err := load(); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("peers read through a link: %v", err)
	}
	os.Remove(dir)
	os.Remove(st.Journal("mesh", "m1"))

	// Version 1: the peers in the journal.
	v1 := map[string]any{"vni": 42, "port": 8472, "local": "192.0.2.1", "underlay": "eth0", "cluster": "10.244.0.0/16", "subnet": "10.244.1.0/24",
		"mtu": 1450, "mac": "02:50:0a:f4:01:00", "generation": 2, "peers": []string{"192.0.2.10 10.244.2.0/24 na", "192.0.2.11 10.244.3.0/24 nb"}}
	raw, _ := json.Marshal(v1)
	old := &Record{FormatVersion: FormatVersion, Kind: "mesh", Name: "m1", State: StateUp, FactsJSON: raw, FactsVersion: 1}
	if err := st.Save(old); err != nil {
		t.Fatal(err)
	}
	if f, err := load(); err != nil || !slices.Equal(f.Peers, peers(2)) || f.Generation != 2 {
		t.Errorf("version 1: %+v, %v", f, err)
	}
}

func sorted(s ...string) []string { slices.Sort(s); return s }
