package plan

import (
	"fmt"
	"os"
	"path/filepath"
	"plumb/actions"
	"strings"
)

// OverlayKind is a mounted overlay's (overlay mount).
var OverlayKind = Register(overlayKind{})

type overlayKind struct{ FactsCodec[OverlayFacts] }

func (overlayKind) Name() string      { return "overlay" }
func (overlayKind) FactsVersion() int { return 1 }

// OverlayFacts are a mounted overlay's: its directories as Docker's
// GraphDriver names them.
type OverlayFacts struct {
	LowerDir string `json:"lowerdir"` // the layers, topmost first, joined by ':'
	UpperDir string `json:"upperdir"` // "" for a read-only overlay
	WorkDir  string `json:"workdir"`
	Merged   string `json:"merged"`
	Layout   string `json:"layout,omitempty"` // the directory of a layout plumb made; "" for the user's own
}

// Kind is OverlayKind.
func (OverlayFacts) Kind() Kind { return OverlayKind }

func (overlayKind) DecodeDetails(d *DetailsReader) Facts { return d.overlay() }

func (overlayKind) Overlay(f Facts) (OverlayFacts, bool) {
	o, _ := f.(OverlayFacts)
	return o, true
}

// BeforeDown detaches a lazy overlay now (umount -l), and refuses one in
// use unless opts.Lazy, naming who holds it.
func (overlayKind) BeforeDown(_ Env, rec *Record, opts DownOptions, dryRun bool) ([]*Record, error) {
	if opts.Lazy {
		return nil, LazyUnmount(rec)
	}
	if dryRun {
		return nil, nil
	}
	f, err := rec.OverlayFacts()
	if err != nil {
		return nil, err
	}
	if hs := Holders(f.Merged); len(hs) > 0 {
		var names []string
		for _, h := range hs {
			names = append(names, h.String())
		}
		return nil, &Refused{Msg: fmt.Sprintf("%s is busy: in use by %s; stop them, or use --lazy to detach it now", f.Merged, strings.Join(names, ", "))}
	}
	return nil, nil
}

func (d *DetailsReader) overlay() OverlayFacts {
	return OverlayFacts{LowerDir: d.S("lowerdir"), UpperDir: d.S("upperdir"), WorkDir: d.S("workdir"), Merged: d.S("merged"), Layout: d.S("layout")}
}

// Holder is a process that keeps a mount busy.
type Holder struct {
	PID  int
	Comm string
	Why  string // "cwd", "root", "open file /x/y"
}

func (h Holder) String() string { return fmt.Sprintf("%d (%s, %s)", h.PID, h.Comm, h.Why) }

// Holders lists processes whose working directory, root or open files are
// under dir: the ones that make `umount` say "target is busy".
func Holders(dir string) []Holder {
	if dir == "" {
		return nil // a journal that names no mount point: "" would match every path
	}
	var out []Holder
	procs, _ := filepath.Glob("/proc/[0-9]*")
	under := func(p string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }
	for _, proc := range procs {
		var pid int
		fmt.Sscanf(filepath.Base(proc), "%d", &pid)
		if pid == os.Getpid() {
			continue
		}
		comm, _ := os.ReadFile(proc + "/comm")
		h := Holder{PID: pid, Comm: strings.TrimSpace(string(comm))}
		if l, _ := os.Readlink(proc + "/cwd"); under(l) {
			h.Why = "working directory"
		} else if l, _ := os.Readlink(proc + "/root"); l != "/" && under(l) {
			h.Why = "root directory"
		} else {
			fds, _ := filepath.Glob(proc + "/fd/*")
			for _, fd := range fds {
				if l, _ := os.Readlink(fd); under(l) {
					h.Why = "open file " + l
					break
				}
			}
		}
		if h.Why != "" {
			out = append(out, h)
		}
	}
	return out
}

// LazyUnmount makes a record's unmount lazy (umount -l) before it is undone.
func LazyUnmount(rec *Record) error {
	return rewriteUndos(rec, func(u actions.Action) actions.Action {
		switch a := u.(type) {
		case actions.Umount:
			a.Lazy = true
			return a
		case actions.RemoveTree:
			// A lazily detached overlay may still be using its work
			// directory: keep it unless it is empty.
			return actions.RmdirEmpty{Paths: []string{a.Path + "/work", a.Path + "/index", a.Path}}
		}
		return nil
	})
}
