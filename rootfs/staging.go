package rootfs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"plumb/actions"
	"plumb/plan"
	"plumb/plan/image"
	"plumb/plan/unpack"
)

// Limits bound what one image's pull or import may cost, so that a hostile
// or broken source fails its step, named, instead of running for hours.
// Zero means no limit. Each is a flag of `plumb image pull`, `image
// import` and `layer unpack`; the error of each names its flag.
type Limits struct {
	MaxTrailer int64         // --max-tar-trailer: bytes after a tar's end-of-archive marker
	MaxLayer   int64         // --max-layer-size: a layer's uncompressed stream
	MaxImage   int64         // --max-image-size: the new layers of one image, together
	MaxEntries int           // --max-layer-entries: tar entries of one layer
	MinRate    int64         // --min-rate: bytes a second a pull must average, over RateWindow
	RateWindow time.Duration // how long MinRate is averaged over
}

// errTooSlow ends a pull whose rate fell under Limits.MinRate.
var errTooSlow = errors.New("the pull is too slow")

// options are the unpack options for one layer under l, and an error
// (naming the flag) for the limits unpack does not know of.
func (l Limits) options(o unpack.Options) unpack.Options {
	o.MaxTrailer, o.MaxBytes, o.MaxEntries = l.MaxTrailer, l.MaxLayer, l.MaxEntries
	return o
}

// limitError is an error that names the flag of the limit it is about.
type limitError struct {
	err  error
	flag string
}

func (e *limitError) Error() string {
	return fmt.Sprintf("%v (the limit is %s; raise it if the image is to be trusted)", e.err, e.flag)
}
func (e *limitError) Unwrap() error { return e.err }

// explain adds to err the flag of the limit it is about, once.
func (l Limits) explain(err error) error {
	var named *limitError
	if errors.As(err, &named) {
		return err
	}
	for _, f := range []struct {
		err  error
		flag string
	}{
		{unpack.ErrTrailer, "--max-tar-trailer"},
		{unpack.ErrTooLarge, "--max-layer-size"},
		{unpack.ErrTooManyEntries, "--max-layer-entries"},
		{errImageTooLarge, "--max-image-size"},
		{errTooSlow, "--min-rate"},
	} {
		if errors.Is(err, f.err) {
			return &limitError{err, f.flag}
		}
	}
	return err
}

var errImageTooLarge = errors.New("the image is too large")

// Stage unpacks, without the state directory's lock, each layer of the
// image that plumb does not keep yet, into a staging directory of this
// process's own: the slow part of a pull or an import (the fetch, the
// decompression, the writes, the digest) then holds up no CNI ADD and no
// other plumb command. The plan made afterwards, under the lock, renames
// each staged layer into place (`plumb layer unpack --staged`), a step of
// a millisecond; a layer another process recorded meanwhile is kept as it
// is, and its staged copy deleted. done deletes the staging directory and
// must be called once the plan ran (or failed); a process killed before
// that leaves it unlocked, and the next Stage or `plumb recover` deletes it.
func (g *ImageGet) Stage(ctx context.Context, st *plan.Store, lim Limits) (done func(), err error) {
	done = func() {}
	g.staged = map[string]string{} // not nil: Plan unpacks nothing unstaged
	if rec, err := st.Load(plan.ImageKind.Name(), plan.HexOf(g.Img.ID)); err == nil && rec.State == plan.StateUp {
		return done, nil // kept: nothing to unpack
	}
	if err := st.TrustDirs("", true); err != nil {
		return done, err
	}
	if err := st.ImageDirs(); err != nil {
		return done, err
	}
	root := st.StagingRoot()
	if why, err := st.CheckDir(root, true); err != nil {
		return done, err
	} else if why != "" {
		return done, st.Untrusted(root, why)
	}
	if _, err := SweepStaging(st); err != nil {
		return done, err
	}
	dir, lock, err := newStagingDir(root)
	if err != nil {
		return done, err
	}
	done = func() {
		_ = os.RemoveAll(dir)
		lock.Close() // and with it the flock
	}

	diffs := make([]string, len(g.Img.Layers))
	for i, l := range g.Img.Layers {
		diffs[i] = l.DiffID
	}
	chains := ChainIDs(diffs)
	lowers := make([]string, len(chains))    // each layer's directory: kept or staged
	ready := make([]chan error, len(chains)) // gets the layer's error (nil: staged); nil when kept
	staged := map[string]string{}
	for i, c := range chains {
		if rec, err := st.Load(plan.ImageLayerKind.Name(), plan.HexOf(c)); err == nil && rec.State == plan.StateUp {
			f, err := rec.ImageLayer()
			if err != nil {
				done()
				return func() {}, err
			}
			lowers[i] = f.Dir
			continue
		}
		lowers[i] = filepath.Join(dir, plan.HexOf(c))
		ready[i] = make(chan error, 1)
		staged[c] = lowers[i]
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var total, recent atomic.Int64
	count := func(n int64) error {
		recent.Add(n)
		if t := total.Add(n); lim.MaxImage > 0 && t > lim.MaxImage {
			return fmt.Errorf("%w: its new layers are more than %d bytes uncompressed", errImageTooLarge, lim.MaxImage)
		}
		return nil
	}
	if lim.MinRate > 0 && lim.RateWindow > 0 {
		go watchRate(ctx, cancel, &recent, lim.MinRate, lim.RateWindow)
	}

	slots := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	var failed atomic.Bool
	for i := range chains {
		if ready[i] == nil {
			continue
		}
		// Slots are taken base first: a layer waiting for the ones below
		// never holds the slot one of them needs.
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			// Ended (a deadline, a signal) before this layer started: it
			// is not staged, and Stage must say so, not succeed.
			failed.Store(true)
			ready[i] <- context.Cause(ctx)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			var below []string
			var wait []chan error
			for j := i - 1; j >= 0; j-- {
				below = append(below, lowers[j])
				if ready[j] != nil {
					wait = append(wait, ready[j])
				}
			}
			item := g.Progress.Item(fmt.Sprintf("layer %d/%d %s", i+1, len(chains), actions.ShortDigest(g.Img.Layers[i].DiffID)), true)
			counted := func(n int64) error {
				item.Add(n)
				return count(n)
			}
			opts := lim.options(unpack.Options{Lower: below, DiffID: g.Img.Layers[i].DiffID, Count: counted,
				Ready: waitStaged(wait), Reserve: reserve(dir), ReserveInodes: reserveInodes(dir)})
			err := stageLayer(ctx, g.Img, g.Img.Layers[i].DiffID, lowers[i], opts)
			item.Done(err)
			if err != nil {
				failed.Store(true)
				// The first error ends the others: it is the one said.
				cancel(fmt.Errorf("layer %s: %w", actions.ShortDigest(g.Img.Layers[i].DiffID), lim.explain(err)))
			}
			ready[i] <- err
		}()
	}
	wg.Wait()
	g.Progress.Wait()
	if err := context.Cause(ctx); err != nil && (failed.Load() || len(staged) == 0) {
		done()
		return func() {}, lim.explain(err)
	}
	g.staged = staged
	return done, nil
}

// waitStaged waits until each of the layers below is staged; a layer below
// that failed is this one's error too.
func waitStaged(below []chan error) func(context.Context) error {
	return func(ctx context.Context) error {
		for _, c := range below {
			select {
			case err := <-c:
				c <- err // for the next layer up that waits on it
				if err != nil {
					return fmt.Errorf("a layer below was not unpacked")
				}
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}
}

// stageLayer unpacks one layer of img into dir (which must not exist),
// through dir.partial, as UnpackLayer does.
func stageLayer(ctx context.Context, img *image.Image, diffID, dir string, opts unpack.Options) error {
	layer, ok := img.Layer(diffID)
	if !ok {
		return fmt.Errorf("the image has no layer %s", diffID)
	}
	rc, err := layer.Uncompressed(ctx)
	if err != nil {
		return err
	}
	defer rc.Close()
	partial := dir + ".partial"
	if err := os.Mkdir(partial, 0o755); err != nil { // as UnpackLayer's: inside a 0700 staging directory
		return err
	}
	if _, err := unpack.Apply(ctx, partial, rc, opts); err != nil {
		return err
	}
	return os.Rename(partial, dir)
}

// watchRate ends the pull (cancel with errTooSlow) when fewer than min
// bytes a second were read over a window: a registry that sends a byte
// every few seconds never trips the idle timeout, and would keep the pull
// going for days.
func watchRate(ctx context.Context, cancel context.CancelCauseFunc, recent *atomic.Int64, min int64, window time.Duration) {
	t := time.NewTicker(window)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			got := recent.Swap(0)
			if want := min * int64(window/time.Millisecond) / 1000; got < want {
				cancel(fmt.Errorf("%w: %d bytes in the last %s, under %d bytes a second", errTooSlow, got, window, min))
				return
			}
		}
	}
}

// newStagingDir makes a staging directory (0700) and holds its lock: a
// flock on the directory itself, which the kernel releases when the
// process ends, however it ends.
func newStagingDir(root string) (string, *os.File, error) {
	for {
		dir, err := os.MkdirTemp(root, "stage-")
		if errors.Is(err, fs.ErrNotExist) {
			// The last image's `image rm` removed the empty root
			// since it was checked: make it again, as checked.
			if err = os.Mkdir(root, 0o700); err == nil || errors.Is(err, fs.ErrExist) {
				continue
			}
		}
		if err != nil {
			return "", nil, fmt.Errorf("making a staging directory: %w", err)
		}
		f, err := os.OpenFile(dir, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW, 0)
		if errors.Is(err, fs.ErrNotExist) {
			continue // swept before it was locked: make another
		}
		if err != nil {
			return "", nil, fmt.Errorf("making a staging directory: %w", err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
			f.Close()
			return "", nil, fmt.Errorf("locking %s: %w", dir, err)
		}
		// A sweep may have taken it between the mkdir and the lock (it
		// was not locked yet): then it is gone, or going; make another.
		var a, b unix.Stat_t
		if unix.Fstat(int(f.Fd()), &a) == nil && unix.Lstat(dir, &b) == nil && a.Ino == b.Ino && a.Dev == b.Dev {
			return dir, f, nil
		}
		f.Close()
	}
}

// SweepStaging deletes the staging directories no process holds: those a
// pull or an import left when killed. It says which it deleted.
func SweepStaging(st *plan.Store) (swept []string, err error) { return sweepStaging(st, false) }

// AbandonedStaging are the staging directories SweepStaging would delete
// now (`plumb recover --dry-run`); nothing is changed.
func AbandonedStaging(st *plan.Store) ([]string, error) { return sweepStaging(st, true) }

func sweepStaging(st *plan.Store, dryRun bool) (swept []string, err error) {
	roots := []string{st.StagingRoot()}
	if st.Split() {
		// Where a plumb before --root staged, killed before it ended.
		roots = append(roots, st.Legacy().StagingRoot())
	}
	var errs []error
	for _, root := range roots {
		s, err := sweepStagingIn(root, dryRun)
		swept = append(swept, s...)
		errs = append(errs, err)
	}
	return swept, errors.Join(errs...)
}

// sweepStagingIn is sweepStaging in the staging directory root.
func sweepStagingIn(root string, dryRun bool) (swept []string, err error) {
	ents, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "stage-") || !e.IsDir() {
			continue
		}
		p := filepath.Join(root, e.Name())
		f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW, 0)
		if err != nil {
			continue
		}
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
			if dryRun {
				swept = append(swept, p)
			} else if err := os.RemoveAll(p); err != nil {
				errs = append(errs, fmt.Errorf("deleting the abandoned staging directory %s: %w", p, err))
			} else {
				swept = append(swept, p)
			}
		}
		f.Close()
	}
	return swept, errors.Join(errs...)
}

// reserveInodes is the free inodes an image's layer leaves on its file
// system: 5% of them, and at least 1024, as reserve keeps blocks.
func reserveInodes(dir string) int64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil || st.Files == 0 {
		return 0
	}
	return max(int64(st.Files)/20, 1024)
}
