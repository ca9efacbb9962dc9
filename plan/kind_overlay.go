package plan

import (
	"fmt"
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

func (overlayKind) Overlay(f Facts) OverlayFacts {
	o, _ := f.(OverlayFacts)
	return o
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
