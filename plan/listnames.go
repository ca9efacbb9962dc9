package plan

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// ObjectNames are the names of kind's objects, read from their journals' file
// names alone: without the lock, the trust checks or a journal read, for
// shell completion, which must answer at once while another plumb holds
// the lock, and only prints words.
func (l Layout) ObjectNames(kind string) []string {
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

// ImageRefs are the names images were pulled or imported as, read from
// the image journals' facts (their files are named by the image's ID),
// as every journal is read (readTrusted: no link followed, no FIFO waited
// on, none another user could write), but without the lock.
func (s *Store) ImageRefs() []string {
	var refs []string
	for _, id := range s.ObjectNames(ImageKind.Name()) {
		data, why, err := s.readTrusted(s.Journal(ImageKind.Name(), id))
		if err != nil || why != "" {
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
