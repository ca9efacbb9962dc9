package plan

import (
	"fmt"
	"io/fs"
	"path/filepath"

	"plumb/actions"
)

// Layout is where things live under the state directory: one place that
// knows every path, so no recipe or command builds one by hand.
//
//	lock                       the lock two plumb processes take in turn
//	shared.json                the ledger of shared host settings
//	objects/KIND/NAME.json     one journal per object
//	index/...                  what calls look up among many objects
//	                           without reading every journal (index.go)
//	layers/NAME                an imported layer
//	overlay/NAME/{upper,work,merged}
//	                           a laid-out overlay, as Docker's overlay2 lays
//	                           out /var/lib/docker/overlay2/ID; a container's
//	                           also holds its uts, pid and log files, and
//	                           the hostname, hosts and resolv.conf bound
//	                           onto its /etc
type Layout struct {
	Dir string
}

func (l Layout) objects() string  { return filepath.Join(l.Dir, "objects") }
func (l Layout) lockFile() string { return filepath.Join(l.Dir, "lock") }
func (l Layout) ledger() string   { return filepath.Join(l.Dir, "shared.json") }

func (l Layout) journal(kind, name string) string {
	return filepath.Join(l.objects(), kind, name+".json")
}

// kindOf is the kind whose journal, or journals' directory, path is ("" for
// a path outside objects/).
func (l Layout) kindOf(path string) string {
	for p := path; p != filepath.Dir(p); p = filepath.Dir(p) {
		if filepath.Dir(p) == l.objects() {
			return filepath.Base(p)
		}
	}
	return ""
}

// Layer is an imported layer's directory.
func (l Layout) Layer(name string) string { return filepath.Join(l.layersDir(), name) }

// privateMode is the mode of every directory plumb makes in its state
// directory to hold others (and of the state directory itself): an
// image's setuid files and device nodes, and what a container writes to
// its upper directory, must be reachable by root alone, or any local user
// could run them as root (Docker keeps /var/lib/docker 0710 for this).
const privateMode fs.FileMode = 0o700

func (l Layout) layersDir() string   { return filepath.Join(l.Dir, "layers") }
func (l Layout) overlaysDir() string { return filepath.Join(l.Dir, "overlay") }

// privateDirs are the steps that make the directories below the state
// directory down to dir that are missing (exists says which are there),
// each by a step of its own, 0700: `mkdir -p --mode=700` gives its mode to the
// last directory only, and every one of these must be reachable by root
// alone, in the runbook as when plumb runs it. The state directory itself
// is not a step: plumb makes it (0700) when it takes the lock, before it
// plans, so a step for it would show in a dry run and never run.
func (l Layout) privateDirs(dir string, exists func(string) bool) []Step {
	var missing []string
	for d := filepath.Clean(dir); d != filepath.Clean(l.Dir) && d != filepath.Dir(d) && !exists(d); d = filepath.Dir(d) {
		missing = append(missing, d)
	}
	var steps []Step
	for i := len(missing) - 1; i >= 0; i-- {
		steps = append(steps, Step{Action: actions.Mkdir{Path: missing[i], Mode: privateMode,
			Purpose: fmt.Sprintf("create %s for root alone (mode 0700): the layers and overlays below it hold setuid files and device nodes", missing[i])}})
	}
	return steps
}

// OverlayDirs is a laid-out overlay's directories.
type OverlayDirs struct {
	Base, Upper, Work, Merged string
	// A container's files beside its root: the file that keeps its UTS
	// namespace, its PID, its output when detached.
	UTS, PID, Log string
	// The files plumb writes for a container and binds onto its
	// /etc/hostname, /etc/hosts and /etc/resolv.conf, as Docker keeps them
	// in the container's directory.
	Hostname, Hosts, Resolv string
}

// Overlay lays out overlay NAME (or container NAME's root).
func (l Layout) Overlay(name string) OverlayDirs {
	base := filepath.Join(l.Dir, "overlay", name)
	return OverlayDirs{Base: base, Upper: base + "/upper", Work: base + "/work", Merged: base + "/merged",
		UTS: base + "/uts", PID: base + "/pid", Log: base + "/log",
		Hostname: base + "/hostname", Hosts: base + "/hosts", Resolv: base + "/resolv.conf"}
}

// Image layers are kept as Docker's overlay2 keeps them, content addressed:
//
//	image/layers/CHAIN         one layer of an image, unpacked, named by its
//	                           chain ID (its diff_id and those of the layers
//	                           below: a directory a layer implies takes its
//	                           attributes from them, so the same diff_id on
//	                           another base is another directory)
//	image/layers/CHAIN.partial where it is unpacked before its digest checked out
//	image/l/SHORT              a short link to it, as overlay2's l/, so that
//	                           500 layers fit in the page of mount options
func (l Layout) imageDir() string { return filepath.Join(l.Dir, "image") }

// ImageLayer is the directory of the image layer whose chain ID is chain
// ("sha256:HEX").
func (l Layout) ImageLayer(chain string) string {
	return filepath.Join(l.imageDir(), "layers", hexOf(chain))
}

// ImageLink is the short link named short.
func (l Layout) ImageLink(short string) string { return filepath.Join(l.imageDir(), "l", short) }
