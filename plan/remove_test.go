package plan

import (
	"context"
	"errors"
	"net/netip"
	"plumb/plan/plantest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestRemoveOrder: whatever order a set is given in, Remove undoes an
// object's dependents before it (a bridge's attachments and containers,
// an image before its layers, a layer resting on another before it), and
// objects with no tie keep their order; runs say what is undone together.
func TestRemoveOrder(t *testing.T) {
	st := NewStore(t.TempDir())
	ctx := context.Background()
	if _, err := ApplyAll(ctx, &plantest.FakeRunner{}, st, attachPlans(t, st, plantest.Containers(t, 2)), Batch); err != nil {
		t.Fatal(err)
	}
	net := testAttachment()
	net.IP, net.IP6, net.Ports, net.Runtime = netip.MustParseAddr("10.88.0.9"), netip.Addr{}, nil, nil
	ctr := withFacts(&Record{FormatVersion: FormatVersion, Kind: "container", Name: "web", State: StateUp},
		ContainerFacts{Net: &net})
	if err := st.Save(ctr); err != nil {
		t.Fatal(err)
	}
	img, chains := saveImage(t, st, '1', 'a', 'b', 'c')
	var (
		br, a2, a3 = "bridge/br0", "attachment/br0-10.88.0.2", "attachment/br0-10.88.0.3"
		web        = "container/web"
		image      = img.ID()
		base, mid  = "imagelayer/" + HexOf(chains[0]), "imagelayer/" + HexOf(chains[1])
		top        = "imagelayer/" + HexOf(chains[2])
	)
	cases := []struct {
		name  string
		given []string
		opts  DownOptions
		want  [][]string // the runs, in order
	}{
		{"a bridge, forced, with its container given", []string{br, web}, DownOptions{Force: true},
			[][]string{{a2, a3, web}, {br}}},
		{"a bridge given before its attachments and container", []string{br, a3, web, a2}, DownOptions{},
			[][]string{{a3, web, a2}, {br}}},
		{"an image's layers given from the base", []string{base, mid, top, image}, DownOptions{WithLayers: true},
			[][]string{{image}, {top}, {mid}, {base}}},
		{"objects with no tie keep their order", []string{a3, web, a2}, DownOptions{},
			[][]string{{a3, web, a2}}},
		{"the bridge of a set goes after all of it", []string{a3, br, web, image, top, mid, base}, DownOptions{Force: true, WithLayers: true},
			[][]string{{a2, a3, web}, {br, image}, {top}, {mid}, {base}}}, // a2, brought, before what was given
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var recs []*Record
			for _, id := range c.given {
				r, err := Find(st, id)
				if err != nil {
					t.Fatal(err)
				}
				recs = append(recs, r)
			}
			set, tied, _, err := order(Env{St: st}, recs, c.opts, true)
			if err != nil {
				t.Fatal(err)
			}
			var got [][]string
			for _, run := range runs(set, tied) {
				got = append(got, recordIDs(run))
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("runs (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRemoveRefusalStopsAll: one object's refusal refuses the whole set
// before anything runs, even the objects given before it.
func TestRemoveRefusalStopsAll(t *testing.T) {
	st := NewStore(t.TempDir())
	ctx := context.Background()
	if _, err := ApplyAll(ctx, &plantest.FakeRunner{}, st, attachPlans(t, st, plantest.Containers(t, 1)), Batch); err != nil {
		t.Fatal(err)
	}
	img, _ := saveImage(t, st, '1', 'a')
	att, err := Find(st, "attachment/br0-10.88.0.2")
	if err != nil {
		t.Fatal(err)
	}
	for _, dryRun := range []bool{false, true} {
		f := &plantest.FakeRunner{}
		td, err := Remove(ctx, Env{R: f, St: st, Mode: Batch}, []*Record{att, img}, DownOptions{}, dryRun)
		var r *Refused
		if !errors.As(err, &r) || td != nil {
			t.Errorf("Remove(dry run %v) of an attachment and an image without its layers = %v, %v; want a refusal", dryRun, td, err)
		}
		if len(f.Calls) != 0 {
			t.Errorf("ran %q; want nothing", f.Calls)
		}
		if _, err := st.Load(att.Kind, att.Name); err != nil {
			t.Errorf("the attachment's journal: %v; want it kept", err)
		}
	}
}

// saveImage keeps the journals an image import of image id with layers
// diffs would leave: one per layer, each resting on the one below (chain
// IDs made up: the engine reads them, never computes them), and the
// image's, listing them. It returns the image's record and the chain IDs.
func saveImage(t *testing.T, st *Store, id byte, diffs ...byte) (*Record, []string) {
	t.Helper()
	digest := func(c byte) string { return "sha256:" + strings.Repeat(string(c), 64) }
	img := ImageFacts{ID: digest(id), Refs: []string{"example.test/app:" + string(id)}}
	var chains []string
	parent := ""
	for i, d := range diffs {
		chain := digest(byte('5' + i))
		l := ImageLayerFacts{ChainID: chain, DiffID: digest(d), Parent: parent, Dir: st.ImageLayer(chain), Link: "L" + string(d)}
		rec := withFacts(&Record{FormatVersion: FormatVersion, Kind: ImageLayerKind.Name(), Name: HexOf(chain), State: StateUp}, l)
		if err := st.Save(rec); err != nil {
			t.Fatal(err)
		}
		img.Layers = append(img.Layers, ImageLayerRef{DiffID: l.DiffID, ChainID: chain})
		img.Links = append(img.Links, l.Link)
		chains = append(chains, chain)
		parent = chain
	}
	rec := withFacts(&Record{FormatVersion: FormatVersion, Kind: ImageKind.Name(), Name: HexOf(img.ID), State: StateUp}, img)
	if err := st.Save(rec); err != nil {
		t.Fatal(err)
	}
	return rec, chains
}
