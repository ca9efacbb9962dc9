package volume

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"plumb/actions"
)

// CopyUp copies what root has at dest into data when data is empty, as
// Docker fills a volume on its first use: dest is resolved inside root
// (openat2 RESOLVE_IN_ROOT), so that an image's /data -> /etc, or
// ../../../etc, names the container's /etc, never the host's. Nothing is
// copied when data holds anything, or when dest is missing or not a
// directory. The copy is made in a directory beside data that no
// container sees (the volume's own, root's alone), then each entry is
// renamed into data without replacing anything (RENAME_NOREPLACE): a
// container that shares the volume and plants a link in it meanwhile
// never has cp write through that link. It says what it did.
func CopyUp(ctx context.Context, r actions.Runner, root, dest, data string) (string, error) {
	entries, err := os.ReadDir(data)
	if err != nil {
		return "", err
	}
	if len(entries) > 0 {
		return fmt.Sprintf("volume %s is not empty: nothing copied", data), nil
	}
	src, err := Resolve(root, dest)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return fmt.Sprintf("the image has no directory %s: nothing copied", dest), nil
	}
	if err != nil {
		return "", err
	}
	stage := filepath.Join(filepath.Dir(data), ".copy-up")
	if err := os.RemoveAll(stage); err != nil { // what a killed copy left
		return "", err
	}
	if err := os.Mkdir(stage, 0o700); err != nil {
		return "", err
	}
	defer os.RemoveAll(stage)
	if _, err := r.Run(ctx, []string{"cp", "-a", "--", src + "/.", stage + "/"}, nil); err != nil {
		return "", err
	}
	copied, err := os.ReadDir(stage)
	if err != nil {
		return "", err
	}
	var kept []string
	for _, e := range copied {
		err := unix.Renameat2(unix.AT_FDCWD, filepath.Join(stage, e.Name()), unix.AT_FDCWD, filepath.Join(data, e.Name()), unix.RENAME_NOREPLACE)
		if errors.Is(err, unix.EEXIST) {
			kept = append(kept, e.Name())
		} else if err != nil {
			return "", fmt.Errorf("moving %s into %s: %w", e.Name(), data, err)
		}
	}
	if len(kept) > 0 {
		return fmt.Sprintf("copied %s into %s but for %s, which a container made there meanwhile", src, data, strings.Join(kept, ", ")), nil
	}
	return fmt.Sprintf("copied %s into %s", src, data), nil
}

// Resolve is the directory dest names inside root, following symbolic
// links as if root were /: its path on the host, always under root.
func Resolve(root, dest string) (string, error) {
	rfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", &os.PathError{Op: "open", Path: root, Err: err}
	}
	defer unix.Close(rfd)
	fd, err := unix.Openat2(rfd, strings.TrimPrefix(filepath.Clean("/"+dest), "/"), &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV,
	})
	if err != nil {
		return "", &os.PathError{Op: "resolve", Path: filepath.Join(root, dest), Err: err}
	}
	defer unix.Close(fd)
	top, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", rfd))
	if err != nil {
		return "", err
	}
	path, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
	if err != nil {
		return "", err
	}
	if path != top && !strings.HasPrefix(path, top+"/") {
		return "", fmt.Errorf("%s resolves to %s, outside %s", dest, path, root)
	}
	return path, nil
}
