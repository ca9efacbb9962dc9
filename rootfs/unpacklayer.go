package rootfs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"plumb/actions"
	"plumb/plan"
	"plumb/plan/image"
	"plumb/plan/unpack"
)

// UnpackLayer is what the step actions.UnpackLayer runs (`plumb layer
// unpack`): the image found again at its source, its layer diffID read and
// unpacked into dir.partial, renamed to dir once its digest checked out. On
// any error nothing is left: the partial directory is deleted. A directory
// the layer implies waits for the layers below (lower, topmost first) to be
// there, as when an image's layers are unpacked side by side.
//
// With staged, the layer was unpacked and checked there already (see
// ImageGet.Stage): it is renamed to dir, nothing is read.
func UnpackLayer(ctx context.Context, src actions.LayerSource, diffID, dir string, lower []string, staged string, lim Limits) (unpack.Result, error) {
	var res unpack.Result
	if !filepath.IsAbs(dir) {
		return res, plan.Refuse("<dir>", "%s is not an absolute path", dir)
	}
	partial := actions.Partial(dir)
	for _, p := range []string{dir, partial} {
		if _, err := os.Lstat(p); err == nil {
			return res, plan.Refuse("<dir>", "%s exists: a layer is unpacked into a new directory (an interrupted unpack leaves %s; `plumb recover` or its undo deletes it)", p, partial)
		}
	}
	if staged != "" {
		return res, moveStaged(staged, dir)
	}
	img, err := readSource(ctx, src)
	if err != nil {
		return res, err
	}
	layer, ok := img.Layer(diffID)
	if !ok {
		return res, plan.Refuse("diff-id", "%s has no layer %s", src, diffID)
	}
	rc, err := layer.Uncompressed(ctx)
	if err != nil {
		return res, err
	}
	defer rc.Close()
	if err := os.Mkdir(partial, 0o755); err != nil {
		return res, err
	}
	res, err = unpack.Apply(ctx, partial, rc, lim.options(unpack.Options{Lower: lower, DiffID: diffID, Ready: waitLayers(lower), Reserve: reserve(partial), ReserveInodes: reserveInodes(partial)}))
	err = lim.explain(err)
	if err == nil {
		err = os.Rename(partial, dir)
	}
	if err != nil {
		if rmErr := os.RemoveAll(partial); rmErr != nil {
			err = errors.Join(err, fmt.Errorf("deleting what was unpacked: %w", rmErr))
		}
		return res, fmt.Errorf("layer %s: %w", diffID, err)
	}
	return res, nil
}

// moveStaged renames a layer staged in a staging directory beside dir's
// (image/staging/stage-XXX/CHAIN) to dir (image/layers/CHAIN): the same
// chain ID, so the same content, and nothing else is taken.
func moveStaged(staged, dir string) error {
	root := plan.Layout{Dir: filepath.Dir(filepath.Dir(filepath.Dir(dir)))}.StagingRoot()
	if filepath.Dir(filepath.Dir(staged)) != root || filepath.Base(staged) != filepath.Base(dir) ||
		!strings.HasPrefix(filepath.Base(filepath.Dir(staged)), "stage-") {
		return plan.Refuse("staged", "%s is not a layer staged for %s (ROOT/image/staging/stage-*/%s)", staged, dir, filepath.Base(dir))
	}
	if fi, err := os.Lstat(staged); err != nil || !fi.IsDir() {
		return plan.Refuse("staged", "%s is not there: the pull or import that staged it ended; run it again", staged)
	}
	return os.Rename(staged, dir)
}

// sources are the images read by readSource in this process: the layers of
// one image, unpacked as steps inside plumb, read its manifest and config
// once, not once a layer (an archive of 500 layers is 500 passes over its
// headers each time). A file is read again if it changed.
var sources sync.Map // key -> *image.Image

// readSource finds the image again where the plan found it.
func readSource(ctx context.Context, src actions.LayerSource) (*image.Image, error) {
	key := fmt.Sprintf("%#v", src)
	if src.Import != "" && src.Pull == "" {
		fi, err := os.Stat(src.Import)
		if err != nil {
			return nil, plan.RefuseErr("import", err)
		}
		key += fmt.Sprintf(" %d %d %d", fi.Size(), fi.ModTime().UnixNano(), fi.Sys().(*syscall.Stat_t).Ino)
	}
	if img, ok := sources.Load(key); ok {
		return img.(*image.Image), nil
	}
	img, err := readSourceOnce(ctx, src)
	if err == nil {
		sources.Store(key, img)
	}
	return img, err
}

func readSourceOnce(ctx context.Context, src actions.LayerSource) (*image.Image, error) {
	switch {
	case src.Pull != "" && src.Import != "":
		return nil, plan.Refuse("pull", "give --pull or --import, not both")
	case src.Pull != "":
		ref, err := image.ParseRef(src.Pull)
		if err != nil {
			return nil, plan.RefuseErr("pull", err)
		}
		if ref.Digest() == "" {
			return nil, plan.Refuse("pull", "%s names no manifest digest (REPO@sha256:...): a step reads exactly the image its plan was made from", src.Pull)
		}
		return image.FromRegistry(ctx, ref, image.Options{Insecure: src.Insecure})
	case src.Import != "":
		return image.Import(src.Import, src.Name, image.Options{})
	}
	return nil, plan.Refuse("pull", "give the image as --pull REPO@sha256:DIGEST or --import FILE")
}

// lowerGrace is how long a layer below may take to start being unpacked.
const lowerGrace = 10 * time.Second

// waitLayers waits until each of the layers lower (links to their
// directories) is there. A layer below that is neither there nor being
// unpacked (no partial directory) within lowerGrace, or whose unpack ended
// without it, is an error: its own step failed.
func waitLayers(lower []string) func(context.Context) error {
	return func(ctx context.Context) error {
		for _, l := range lower {
			if err := waitLayer(ctx, l); err != nil {
				return err
			}
		}
		return nil
	}
}

func waitLayer(ctx context.Context, link string) error {
	there := func() bool { fi, err := os.Stat(link); return err == nil && fi.IsDir() }
	target, err := os.Readlink(link)
	if err != nil {
		if there() {
			return nil // a directory, not a link
		}
		return fmt.Errorf("layer below %s: %w", link, err)
	}
	if !filepath.IsAbs(target) {
		target = filepath.Join(filepath.Dir(link), target)
	}
	partial := actions.Partial(target)
	start, started := time.Now(), false
	for {
		if there() {
			return nil
		}
		_, err := os.Lstat(partial)
		switch {
		case err == nil:
			started = true
		case !errors.Is(err, fs.ErrNotExist):
			return err
		case there():
			return nil // renamed between the two looks
		case started:
			return fmt.Errorf("the layer below, %s, was not unpacked: its own step failed", target)
		case time.Since(start) > lowerGrace:
			return fmt.Errorf("the layer below, %s, is not there and nothing is unpacking it", target)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// reserve is the free space an image's layer leaves on its file system: 5%
// of it, and at least 16 MiB, so that a layer that decompresses to more
// than was free (a gzip bomb) stops short of filling the state directory's
// file system, which on /run the rest of the system needs.
func reserve(dir string) int64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0
	}
	return max(int64(st.Blocks)*st.Bsize/20, 16<<20)
}
