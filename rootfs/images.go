package rootfs

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"plumb/actions"
	"plumb/plan"
	"plumb/plan/image"
	"plumb/plan/unpack"
	"plumb/progress"
)

// ImageGet is `plumb image pull` and `plumb image import`: an image whose
// manifest and config were read before the plan is made (reading is not a
// step), its layers that plumb does not keep yet unpacked each into its own
// directory, side by side, and the image recorded under its ID. A layer
// kept already, for this image or another with the same base, is shared:
// nothing of it is unpacked again.
type ImageGet struct {
	Img    *image.Image
	Source actions.LayerSource // where each step reads its layer again
	Ref    string              // the name to keep it under; "" for none
	// Progress shows each layer Stage unpacks, its bytes and rate (nil:
	// nothing); Stage ends it.
	Progress *progress.Tracker
	plans    []*plan.Plan
	// staged are the layers Stage unpacked, by chain ID: their steps
	// rename them into place. Not nil once Stage ran: a layer to unpack
	// that it did not stage is then refused, never fetched under the lock.
	staged map[string]string
}

// Check applies the rules of the image alone.
func (g *ImageGet) Check() error {
	if g.Img == nil {
		return plan.Refuse("", "no image was read")
	}
	if !unpack.IsDigest(g.Img.ID) {
		return plan.Refuse("", "the image's ID %q is not a sha256 digest", g.Img.ID)
	}
	switch n := len(g.Img.Layers); {
	case n == 0:
		return plan.Refuse("", "%s has no layers: there is nothing to mount as a root", g.describe())
	case n > MaxLowerLayers:
		return plan.Refuse("", "%s has %d layers; the kernel stacks at most %d lower layers in one overlay", g.describe(), n, MaxLowerLayers)
	}
	for _, l := range g.Img.Layers {
		// Digests name directories and journals: nothing but 64 lower-case
		// hex digits may reach a path.
		if !unpack.IsDigest(l.DiffID) {
			return plan.Refuse("", "%s lists a layer whose diff_id %q is not a sha256 digest", g.describe(), l.DiffID)
		}
	}
	return nil
}

func (g *ImageGet) describe() string {
	if r, err := image.ParseRef(g.Ref); err == nil {
		return r.Familiar()
	}
	return "image " + actions.ShortDigest(g.Img.ID)
}

// Plan gives a plan for each layer plumb does not keep yet, base first,
// then the image's own (which has no steps: the image is its record, its
// layers are theirs). With nothing new the list is empty.
func (g *ImageGet) Plan(_ context.Context, env plan.Env) ([]*plan.Plan, error) {
	if rec, err := env.St.Load(plan.ImageKind.Name(), plan.HexOf(g.Img.ID)); err == nil {
		if rec.State != plan.StateUp {
			return nil, plan.Refuse("", "%s has an unfinished plan (state %s); run `plumb recover` first", rec.ID(), rec.State)
		}
		return nil, nil // kept: only its names may change (KeepImageName)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	diffs := make([]string, len(g.Img.Layers))
	for i, l := range g.Img.Layers {
		diffs[i] = l.DiffID
	}
	chains := ChainIDs(diffs)
	taken, err := usedShortNames(env.St)
	if err != nil {
		return nil, err
	}
	var plans []*plan.Plan
	links := make([]string, len(chains)) // each layer's short link
	facts := plan.ImageFacts{ID: g.Img.ID, Digest: g.Img.Digest, Platform: g.Img.Platform, Config: g.Img.Config, From: g.Source.String()}
	if g.Ref != "" {
		facts.Refs = []string{g.Ref}
	}
	for i, l := range g.Img.Layers {
		facts.Layers = append(facts.Layers, plan.ImageLayerRef{DiffID: l.DiffID, ChainID: chains[i], Size: l.Size})
		rec, err := env.St.Load(plan.ImageLayerKind.Name(), plan.HexOf(chains[i]))
		if err == nil {
			f, err := rec.ImageLayer()
			if err != nil {
				return nil, err
			}
			if rec.State != plan.StateUp {
				return nil, plan.Refuse("", "%s has an unfinished plan (state %s); run `plumb recover` first", rec.ID(), rec.State)
			}
			links[i] = f.Link
			continue
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		if g.staged != nil && g.staged[chains[i]] == "" {
			// Kept when Stage looked, gone now (an image rm meanwhile):
			// unpacking it here would fetch it under the lock, which
			// staging is there to avoid.
			return nil, fmt.Errorf("layer %s of %s was removed while this command staged its layers; run it again", actions.ShortDigest(l.DiffID), g.describe())
		}
		short := shortName(chains[i], taken)
		taken[short] = true
		links[i] = env.St.ImageLink(short)
		dir := env.St.ImageLayer(chains[i])
		var lower []string
		for j := i - 1; j >= 0; j-- {
			lower = append(lower, links[j])
		}
		parent := ""
		if i > 0 {
			parent = chains[i-1]
		}
		of := fmt.Sprintf("%d of %d", i+1, len(chains))
		plans = append(plans, &plan.Plan{
			Kind: plan.ImageLayerKind.Name(), Name: plan.HexOf(chains[i]), Ordered: true,
			Summary: fmt.Sprintf("layer %s (%s) of %s, at %s", actions.ShortDigest(l.DiffID), of, g.describe(), dir),
			Facts:   plan.ImageLayerFacts{ChainID: chains[i], DiffID: l.DiffID, Parent: parent, Dir: dir, Link: links[i], Size: l.Size},
			Steps: []plan.Step{
				{Action: actions.Symlink{Target: "../layers/" + plan.HexOf(chains[i]), Link: links[i],
					Purpose: fmt.Sprintf("give layer %s the short name %s, as overlay2's l/ does, so that up to %d layers fit in one mount's options", actions.ShortDigest(l.DiffID), short, MaxLowerLayers)}},
				{Action: actions.UnpackLayer{Source: g.Source, DiffID: l.DiffID, Dir: dir, Lower: lower, Of: of, Staged: g.staged[chains[i]]}},
			},
		})
	}
	facts.Links = links
	plans = append(plans, &plan.Plan{Kind: plan.ImageKind.Name(), Name: plan.HexOf(g.Img.ID), Ordered: true,
		Summary: fmt.Sprintf("%s: %d layers, %d new", g.describe(), len(chains), len(plans)),
		Facts:   facts})
	g.plans = plans
	return plans, nil
}

// Preflight refuses what would make a step fail: a layer's directory, its
// partial directory or its short link left on disk without a journal, and
// makes the image directories plumb keeps layers in.
func (g *ImageGet) Preflight(_ context.Context, env plan.Env) ([]string, error) {
	if err := env.St.ImageDirs(); err != nil {
		return nil, err
	}
	for _, p := range g.plans {
		f, ok := p.Facts.(plan.ImageLayerFacts)
		if !ok {
			continue
		}
		for _, path := range []string{f.Dir, actions.Partial(f.Dir), f.Link} {
			if _, err := os.Lstat(path); err == nil {
				return nil, plan.Refuse("", "%s is there but no journal of plumb's names it (left by an interrupted pull whose journal is gone?); remove it, then run this again", path)
			}
		}
	}
	return nil, nil
}

// ChainIDs are the chain IDs of layers with these diff_ids, base first, as
// the image spec defines them: the base's is its diff_id, each next one
// sha256 of "PARENT_CHAIN DIFF_ID". Docker's layer store and containerd's
// snapshots are keyed by them.
func ChainIDs(diffIDs []string) []string {
	out := make([]string, len(diffIDs))
	for i, d := range diffIDs {
		if i == 0 {
			out[i] = d
			continue
		}
		sum := sha256.Sum256([]byte(out[i-1] + " " + d))
		out[i] = "sha256:" + hex.EncodeToString(sum[:])
	}
	return out
}

// shortName is a layer's name under image/l: five characters of its chain
// ID in base32 (what 500 layers fit in a page of mount options with), one
// more for each that is taken.
func shortName(chain string, taken map[string]bool) string {
	raw, _ := hex.DecodeString(plan.HexOf(chain))
	s := strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(raw))
	for n := 5; n < len(s); n++ {
		if !taken[s[:n]] {
			return s[:n]
		}
	}
	return s
}

// usedShortNames are the names under image/l, and those the journals give.
func usedShortNames(st *plan.Store) (map[string]bool, error) {
	taken := map[string]bool{}
	// Those a plumb before --root made in the state directory too: `plumb
	// migrate` moves them beside the new ones.
	dirs := []string{filepath.Dir(st.ImageLink("x"))}
	if st.Split() {
		dirs = append(dirs, filepath.Dir(st.Legacy().ImageLink("x")))
	}
	for _, d := range dirs {
		ents, err := os.ReadDir(d)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		for _, e := range ents {
			taken[e.Name()] = true
		}
	}
	recs, _ := st.Headers()
	for _, r := range recs {
		if f, err := r.ImageLayer(); err == nil {
			taken[filepath.Base(f.Link)] = true
		}
	}
	return taken, nil
}

// FindImage is the image a user names: by a name it was pulled or imported
// as (in full, or as Docker shortens it: busybox for
// index.docker.io/library/busybox:latest), or by its ID or a prefix of it
// of at least 4 hex digits, with or without "sha256:".
func FindImage(st *plan.Store, name string) (*plan.Record, plan.ImageFacts, error) {
	recs, err := plan.Images(st)
	if err != nil && len(recs) == 0 {
		return nil, plan.ImageFacts{}, err
	}
	want := name
	if r, err := image.ParseRef(name); err == nil {
		want = r.String()
	}
	var found []*plan.Record
	var facts []plan.ImageFacts
	for _, r := range recs {
		f, err := r.Image()
		if err != nil {
			continue
		}
		id := plan.HexOf(f.ID)
		h := strings.TrimPrefix(name, "sha256:")
		if slices.Contains(f.Refs, want) || slices.Contains(f.Refs, name) || (len(h) >= 4 && strings.HasPrefix(id, h)) {
			found, facts = append(found, r), append(facts, f)
		}
	}
	switch len(found) {
	case 0:
		return nil, plan.ImageFacts{}, &plan.Refused{Msg: fmt.Sprintf("plumb keeps no image %s (`plumb image ls` lists them; `plumb image pull` or `plumb image import` gets one)", name)}
	case 1:
		return found[0], facts[0], nil
	}
	var ids []string
	for _, f := range facts {
		ids = append(ids, actions.ShortDigest(f.ID))
	}
	return nil, plan.ImageFacts{}, &plan.Refused{Msg: fmt.Sprintf("%s names %d images (%s); give more of the ID", name, len(found), strings.Join(ids, ", "))}
}

// KeepImageName records ref as the name of the image id, and takes it from
// any other image that had it (a tag moved on), as Docker does. Callers
// hold the lock.
func KeepImageName(st *plan.Store, id, ref string) error {
	if ref == "" {
		return nil
	}
	recs, err := plan.Images(st)
	if err != nil {
		return err
	}
	for _, h := range recs {
		rec, err := st.Load(h.Kind, h.Name)
		if err != nil {
			return err
		}
		f, err := rec.Image()
		if err != nil {
			return err
		}
		has := slices.Contains(f.Refs, ref)
		switch {
		case f.ID == id && !has:
			f.Refs = append(f.Refs, ref)
		case f.ID != id && has:
			f.Refs = slices.DeleteFunc(f.Refs, func(r string) bool { return r == ref })
		default:
			continue
		}
		if err := rec.SetFacts(f); err != nil {
			return err
		}
		if err := st.Save(rec); err != nil {
			return err
		}
	}
	return nil
}

// Familiar is ref as Docker shows it (busybox:latest).
func Familiar(ref string) string {
	if r, err := image.ParseRef(ref); err == nil {
		return r.Familiar()
	}
	return ref
}

// Untag takes ref from the image rec, which keeps its other names, its
// layers and its record: `docker rmi NAME` of an image with other names.
// Callers hold the lock.
func Untag(st *plan.Store, rec *plan.Record, ref string) error {
	f, err := rec.Image()
	if err != nil {
		return err
	}
	f.Refs = slices.DeleteFunc(f.Refs, func(r string) bool { return r == ref })
	if err := rec.SetFacts(f); err != nil {
		return err
	}
	return st.Save(rec)
}

// DropEmptyImageDirs deletes image/staging, image/l, image/layers and
// image/ when they are empty: the last image took its layers with it.
// One that is not empty (another image, a pull staging its layers) stays.
// Those a plumb before --root made in the state directory go the same way.
func DropEmptyImageDirs(st *plan.Store) {
	layouts := []plan.Layout{st.Layout}
	if st.Split() {
		layouts = append(layouts, st.Legacy())
	}
	for _, l := range layouts {
		for _, d := range []string{l.StagingRoot(), filepath.Dir(l.ImageLink("x")), filepath.Dir(l.ImageLayer("x")), l.ImageDir()} {
			_ = os.Remove(d)
		}
	}
}

// ImageRemoval is what `plumb image rm` undoes, in order: the image's
// record, then each of its layers that no other image has (topmost first).
// An image a container runs from is refused.
func ImageRemoval(st *plan.Store, rec *plan.Record) ([]*plan.Record, error) {
	f, err := rec.Image()
	if err != nil {
		return nil, err
	}
	var mine []plan.ImageLayerFacts
	var recs []*plan.Record
	for i := len(f.Layers) - 1; i >= 0; i-- {
		lr, err := st.Load(plan.ImageLayerKind.Name(), plan.HexOf(f.Layers[i].ChainID))
		if errors.Is(err, fs.ErrNotExist) {
			continue // gone already (an earlier rm that stopped half-way)
		}
		if err != nil {
			return nil, err
		}
		lf, err := lr.ImageLayer()
		if err != nil {
			return nil, err
		}
		mine = append(mine, lf)
		recs = append(recs, lr)
	}
	if users := plan.ImageUsers(st, mine...); len(users) > 0 {
		return nil, &plan.Refused{Msg: fmt.Sprintf("%s is the root of %s; stop them first (plumb stop NAME)", f.Name(), strings.Join(users, ", "))}
	}
	others, err := plan.Images(st)
	if err != nil {
		return nil, err
	}
	shared := map[string]bool{}
	for _, o := range others {
		if o.Name == rec.Name {
			continue
		}
		of, err := o.Image()
		if err != nil {
			return nil, fmt.Errorf("%s: %w; plumb cannot tell which layers it shares", o.ID(), err)
		}
		for _, l := range of.Layers {
			shared[l.ChainID] = true
		}
	}
	out := []*plan.Record{rec}
	for _, lr := range recs {
		lf, err := lr.ImageLayer()
		if err != nil {
			return nil, err
		}
		if !shared[lf.ChainID] {
			out = append(out, lr)
		}
	}
	return out, nil
}

// Locks: images and layers share short names and files: one process adds
// them at a time. (A pull stages its layers before, without any lock.)
func (g *ImageGet) Locks() []plan.Lock { return []plan.Lock{plan.ImagesLock(false)} }

// Get is `plumb image pull` and `image import` below their flags: the
// layers plumb does not keep staged first (under stage, the pull's own
// deadline, and before any lock), then the image's plan brought up, then
// the name it was asked by kept. With dryRun it plans alone. An image kept
// already has no plan: its name is kept all the same.
func Get(ctx, stage context.Context, env plan.Env, g *ImageGet, lim Limits, dryRun bool) (*plan.Outcome, error) {
	if !dryRun {
		if err := g.Check(); err != nil {
			return nil, err
		}
		done, err := g.Stage(stage, env.St, lim)
		defer done()
		if err != nil {
			return nil, TimedOut(stage, err)
		}
	}
	out, err := plan.Up(ctx, env, g, dryRun)
	if err != nil || dryRun {
		return out, err
	}
	return out, KeepImageName(env.St, g.Img.ID, g.Ref)
}

// Name is the image as the user reads it: the name asked, as Docker
// shortens it, or its ID.
func (g *ImageGet) Name() string {
	if _, err := image.ParseRef(g.Ref); err != nil && g.Ref != "" {
		return g.Ref
	}
	return g.describe()
}

// TimedOut is err, or the deadline's own words when ctx's ran out (a
// pull's --pull-timeout).
func TimedOut(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return context.Cause(ctx)
	}
	return err
}
