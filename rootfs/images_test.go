package rootfs

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"plumb/actions"
	"plumb/plan"
	"plumb/plan/image"
	"plumb/plan/plantest"
)

func digest(c byte) string { return "sha256:" + strings.Repeat(string(c), 64) }

// TestChainIDs: the image spec's chain IDs; the expected value comes from
// sha256sum of "sha256:aaa… sha256:bbb…", not from this code.
func TestChainIDs(t *testing.T) {
	got := ChainIDs([]string{digest('a'), digest('b')})
	want := []string{digest('a'), "sha256:ccd722928bd92476ba1745586fed6e45a102504185ad88cd89e01ff116fd146c"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ChainIDs (-want +got):\n%s", diff)
	}
}

func TestShortNameSkipsTaken(t *testing.T) {
	c := digest('a')
	first := shortName(c, map[string]bool{})
	if len(first) != 5 {
		t.Fatalf("shortName = %q; want 5 characters", first)
	}
	second := shortName(c, map[string]bool{first: true})
	if len(second) != 6 || !strings.HasPrefix(second, first) {
		t.Errorf("shortName with %q taken = %q; want it one character longer", first, second)
	}
}

func testImage(id byte, diffs ...byte) *image.Image {
	img := &image.Image{ID: digest(id), Ref: "example.test/app:" + string(id), Config: image.Config{Cmd: []string{"httpd"}}}
	for _, d := range diffs {
		img.Layers = append(img.Layers, image.Layer{DiffID: digest(d), Size: 100})
	}
	return img
}

// getImage plans and applies an image with a fake runner, as image import
// does, and returns its plans.
func getImage(t *testing.T, st *plan.Store, img *image.Image) []*plan.Plan {
	t.Helper()
	g := &ImageGet{Img: img, Source: actions.LayerSource{Import: "/srv/" + img.Ref + ".tar"}, Ref: img.Ref}
	env := plan.Env{R: &plantest.FakeRunner{}, St: st, Mode: plan.Batch}
	out, err := plan.Up(context.Background(), env, g, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := KeepImageName(st, img.ID, img.Ref); err != nil {
		t.Fatal(err)
	}
	return out.Plans
}

// TestImageSharesBase: a second image on the same two base layers plans
// only its own layer, which lists the kept ones (their short links) as its
// lowers, topmost first.
func TestImageSharesBase(t *testing.T) {
	st := plan.NewStore(t.TempDir())
	first := getImage(t, st, testImage('1', 'a', 'b', 'c'))
	if len(first) != 4 || first[3].Kind != "image" {
		t.Fatalf("first image: %d plans; want 3 layers and the image", len(first))
	}
	chains := ChainIDs([]string{digest('a'), digest('b'), digest('d')})
	second := getImage(t, st, testImage('2', 'a', 'b', 'd'))
	if len(second) != 2 || second[0].Name != plan.HexOf(chains[2]) {
		t.Fatalf("second image: plans %v; want only layer %s and the image", ids(second), plan.HexOf(chains[2]))
	}
	unpack := second[0].Steps[1].Action.(actions.UnpackLayer)
	base, mid := first[0].Facts.(plan.ImageLayerFacts).Link, first[1].Facts.(plan.ImageLayerFacts).Link
	if diff := cmp.Diff([]string{mid, base}, unpack.Lower); diff != "" {
		t.Errorf("lowers of the new layer (-want +got):\n%s", diff)
	}
	if unpack.Dir != st.ImageLayer(chains[2]) {
		t.Errorf("unpacked into %s; want %s", unpack.Dir, st.ImageLayer(chains[2]))
	}
	f := second[1].Facts.(plan.ImageFacts)
	if diff := cmp.Diff([]string{second[0].Facts.(plan.ImageLayerFacts).Link, mid, base}, f.RootLayers()); diff != "" {
		t.Errorf("root layers (-want +got):\n%s", diff)
	}
	// Imported again: nothing to plan.
	g := &ImageGet{Img: testImage('2', 'a', 'b', 'd'), Source: actions.LayerSource{Import: "/srv/x.tar"}}
	if plans, err := g.Plan(context.Background(), plan.Env{St: st}); err != nil || len(plans) != 0 {
		t.Errorf("planning a kept image = %v, %v; want nothing", ids(plans), err)
	}
}

func ids(plans []*plan.Plan) []string {
	var out []string
	for _, p := range plans {
		out = append(out, p.ID())
	}
	return out
}

// TestImageRemoval: rm takes the image and the layers no other image has,
// topmost first; the shared base stays until its last image goes; an image
// a container runs from, or an overlay is mounted on, is refused.
func TestImageRemoval(t *testing.T) {
	st := plan.NewStore(t.TempDir())
	getImage(t, st, testImage('1', 'a', 'b', 'c'))
	getImage(t, st, testImage('2', 'a', 'b', 'd'))
	chains1 := ChainIDs([]string{digest('a'), digest('b'), digest('c')})
	chains2 := ChainIDs([]string{digest('a'), digest('b'), digest('d')})

	rec1, f1, err := FindImage(st, "example.test/app:1")
	if err != nil {
		t.Fatal(err)
	}
	got, err := ImageRemoval(st, rec1)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"image/" + plan.HexOf(f1.ID), "imagelayer/" + plan.HexOf(chains1[2])}, recIDs(got)); diff != "" {
		t.Errorf("removing image 1 (-want +got):\n%s", diff)
	}

	// A container on image 2's layers: image 2 is refused, image 1 is not.
	layer, _ := st.Load("imagelayer", plan.HexOf(chains2[2]))
	lf, _ := layer.ImageLayer()
	ctr := withFacts(&plan.Record{FormatVersion: plan.FormatVersion, Kind: "container", Name: "web", State: plan.StateUp},
		plan.ContainerFacts{Root: plan.OverlayFacts{LowerDir: lf.Link + ":/x"}})
	if err := st.Save(ctr); err != nil {
		t.Fatal(err)
	}
	st = plan.NewStore(st.Dir)
	rec2, _, err := FindImage(st, "example.test/app:2")
	if err != nil {
		t.Fatal(err)
	}
	var r *plan.Refused
	if _, err := ImageRemoval(st, rec2); !errors.As(err, &r) || !strings.Contains(err.Error(), "container/web") {
		t.Errorf("removing image 2 under a container = %v; want a refusal naming container/web", err)
	}
	if _, err := plan.Remove(context.Background(), plan.Env{St: st}, []*plan.Record{layer}, plan.DownOptions{}, true); !errors.As(err, &r) {
		t.Errorf("down of a layer an image lists = %v; want a refusal", err)
	}
	if _, err := ImageRemoval(st, rec1); err != nil {
		t.Errorf("removing image 1 = %v; want it allowed", err)
	}

	// An overlay mounted by hand on image 1's top layer uses it as a
	// container's root would: image 1 is refused too, naming it.
	top1, _ := st.Load("imagelayer", plan.HexOf(chains1[2]))
	tf, _ := top1.ImageLayer()
	ov := withFacts(&plan.Record{FormatVersion: plan.FormatVersion, Kind: "overlay", Name: "mine", State: plan.StateUp},
		plan.OverlayFacts{LowerDir: tf.Dir, UpperDir: "/u", WorkDir: "/w", Merged: "/m"})
	if err := st.Save(ov); err != nil {
		t.Fatal(err)
	}
	st = plan.NewStore(st.Dir)
	if _, err := ImageRemoval(st, rec1); !errors.As(err, &r) || !strings.Contains(err.Error(), "overlay/mine") {
		t.Errorf("removing image 1 under an overlay = %v; want a refusal naming overlay/mine", err)
	}
}

func recIDs(recs []*plan.Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.ID())
	}
	return out
}

// TestFindImage: by the name as given, as Docker shortens it, by ID or a
// prefix of at least 4 digits; an ambiguous prefix is refused.
func TestFindImage(t *testing.T) {
	st := plan.NewStore(t.TempDir())
	img := testImage('1', 'a')
	img.Ref = "index.docker.io/library/busybox:latest"
	getImage(t, st, img)
	other := testImage('2', 'b')
	other.ID = "sha256:1111" + strings.Repeat("2", 60)
	getImage(t, st, other)
	for _, name := range []string{"busybox", "busybox:latest", "docker.io/library/busybox", img.ID, "1111111", strings.Repeat("1", 64)} {
		if _, f, err := FindImage(st, name); err != nil || f.ID != img.ID {
			t.Errorf("FindImage(%q) = %s, %v; want %s", name, f.ID, err, img.ID)
		}
	}
	for _, name := range []string{"111", "1111", "alpine", "11113"} {
		if _, f, err := FindImage(st, name); err == nil {
			t.Errorf("FindImage(%q) = %s; want a refusal", name, f.ID)
		}
	}
}

// TestKeepImageNameMoves: a tag pulled again for another image leaves the
// old one, which keeps its other names.
func TestKeepImageNameMoves(t *testing.T) {
	st := plan.NewStore(t.TempDir())
	old := testImage('1', 'a')
	getImage(t, st, old)
	if err := KeepImageName(st, old.ID, "example.test/app:stable"); err != nil {
		t.Fatal(err)
	}
	newer := testImage('2', 'a', 'b')
	newer.Ref = "example.test/app:stable"
	getImage(t, st, newer)
	_, f, err := FindImage(st, old.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.Refs, []string{"example.test/app:1"}) {
		t.Errorf("old image's names = %q; want only example.test/app:1", f.Refs)
	}
	if _, f, err := FindImage(st, "example.test/app:stable"); err != nil || f.ID != newer.ID {
		t.Errorf("example.test/app:stable = %s, %v; want %s", f.ID, err, newer.ID)
	}
}

func TestImageCheckRefuses(t *testing.T) {
	many := testImage('1')
	for range MaxLowerLayers + 1 {
		many.Layers = append(many.Layers, image.Layer{DiffID: digest('a')})
	}
	for name, img := range map[string]*image.Image{
		"no layers":           testImage('1'),
		"501 layers":          many,
		"bad diff_id":         {ID: digest('1'), Layers: []image.Layer{{DiffID: "md5:00"}}},
		"bad ID":              {ID: "sha256:xyz", Layers: []image.Layer{{DiffID: digest('a')}}},
		"diff_id with a path": {ID: digest('1'), Layers: []image.Layer{{DiffID: "sha256:../../../../etc/" + strings.Repeat("a", 49)}}},
		"upper-case diff_id":  {ID: digest('1'), Layers: []image.Layer{{DiffID: "sha256:" + strings.Repeat("A", 64)}}},
	} {
		var r *plan.Refused
		if err := (&ImageGet{Img: img}).Check(); !errors.As(err, &r) {
			t.Errorf("%s: Check = %v; want a refusal", name, err)
		}
	}
}

// TestStageEnded: a Stage whose context ends (--pull-timeout, a signal)
// before its layers start fails with that cause; it once returned success
// with the layers unstaged, and the plan failed later with "not there".
func TestStageEnded(t *testing.T) {
	st := plan.NewStore(t.TempDir())
	g := &ImageGet{Img: testImage('2', 'a', 'b', 'd'), Source: actions.LayerSource{Import: "/srv/x.tar"}}
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(errors.New("the pull took longer than --pull-timeout"))
	done, err := g.Stage(ctx, st, Limits{})
	done()
	if err == nil || !strings.Contains(err.Error(), "--pull-timeout") {
		t.Fatalf("Stage after its context ended: %v; want the cause", err)
	}
}

// TestPlanUnstagedRefused: once Stage ran, a layer it did not stage (kept
// when it looked, removed by an image rm before the plan) is refused, not
// planned as a fetch and unpack under the lock.
func TestPlanUnstagedRefused(t *testing.T) {
	st := plan.NewStore(t.TempDir())
	g := &ImageGet{Img: testImage('2', 'a', 'b', 'd'), Source: actions.LayerSource{Import: "/srv/x.tar"}}
	// The image is kept when Stage looks: it stages nothing.
	rec := &plan.Record{FormatVersion: plan.FormatVersion, Kind: "image", Name: plan.HexOf(g.Img.ID), State: plan.StateUp}
	if err := st.Save(rec); err != nil {
		t.Fatal(err)
	}
	done, err := g.Stage(context.Background(), st, Limits{})
	done()
	if err != nil {
		t.Fatal(err)
	}
	// Removed meanwhile, layers and all.
	if err := st.Remove(rec); err != nil {
		t.Fatal(err)
	}
	if plans, err := g.Plan(context.Background(), plan.Env{St: st}); err == nil || !strings.Contains(err.Error(), "removed while this command staged") {
		t.Errorf("plan after the image went: %v, %v; want a refusal", ids(plans), err)
	}
	// A dry run stages nothing and plans every layer, as before.
	dry := &ImageGet{Img: testImage('2', 'a', 'b', 'd'), Source: actions.LayerSource{Import: "/srv/x.tar"}}
	if plans, err := dry.Plan(context.Background(), plan.Env{St: st}); err != nil || len(plans) != 4 {
		t.Errorf("dry run's plan: %v, %v; want 3 layers and the image", ids(plans), err)
	}
}
