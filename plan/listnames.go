package plan

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// Names are the names of kind's objects, read from their journals' file
// names alone: without the lock, the trust checks or a journal read, for
// shell completion, which must answer at once while another plumb holds
// the lock, and only prints words.
func (l Layout) Names(kind string) []string {
	ents, err := os.ReadDir(filepath.Join(l.objects(), kind))
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range ents {
		if n, ok := strings.CutSuffix(e.Name(), ".json"); ok && !strings.HasPrefix(n, ".") {
			names = append(names, n)
		}
	}
	return names
}

// ImageRefs are the names images were pulled or imported as, read as
// Names reads, from the image journals' facts (their files are named by
// the image's ID).
func (l Layout) ImageRefs() []string {
	var refs []string
	for _, id := range l.Names(ImageKind.Name()) {
		data, err := readRegular(l.Journal(ImageKind.Name(), id))
		if err != nil {
			continue
		}
		var j struct {
			Facts struct {
				Refs []string `json:"refs"`
			} `json:"facts"`
		}
		if json.Unmarshal(data, &j) == nil {
			refs = append(refs, j.Facts.Refs...)
		}
	}
	slices.Sort(refs)
	return slices.Compact(refs)
}

// readRegular reads path when it is a regular file of at most 1 MiB: a
// FIFO or a device where a journal should be is never waited on, nor a
// link followed.
func readRegular(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() || fi.Size() > 1<<20 {
		return nil, fmt.Errorf("%s: not a journal", path)
	}
	return io.ReadAll(f)
}
