package plan

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"plumb/actions"
)

// Layout is where things live: one place that knows every path, so no
// recipe or command builds one by hand. As containerd keeps its root and
// its state apart, what lasts one boot (journals of live links and mounts,
// the index, the ledger, the locks) is under the state directory, Dir
// (--state-dir, /run/plumb, a tmpfs), and what outlives a boot (images,
// layers, what containers wrote) under the root, Root (--root,
// /var/lib/plumb). Under the state directory:
//
//	lock, locks/...            the locks plumb processes take in turn
//	shared.json                the ledger of shared host settings
//	objects/KIND/NAME.json     one journal per object
//	index/...                  what calls look up among many objects
//	                           without reading every journal (index.go)
//
// Under the root (a plumb before --root kept them in the state directory:
// see Legacy and `plumb migrate`):
//
//	layers/NAME                an imported layer
//	overlay/NAME/{upper,work,merged}
//	                           a laid-out overlay, as Docker's overlay2 lays
//	                           out /var/lib/docker/overlay2/ID; a container's
//	                           also holds its uts, pid and log files, and
//	                           the hostname, hosts and resolv.conf bound
//	                           onto its /etc
type Layout struct {
	Dir  string // the state directory
	Root string // the root; "" is the state directory (RootDir)
}

// RootDir is the root: Root, or the state directory when no root was
// given (a store of today's tests and of a plumb before --root).
func (l Layout) RootDir() string {
	if l.Root == "" {
		return l.Dir
	}
	return l.Root
}

// Legacy is the layout of a plumb before --root, which kept layers,
// overlays and images in the state directory; the layout itself when the
// root is the state directory.
func (l Layout) Legacy() Layout { return Layout{Dir: l.Dir, Root: l.Dir} }

// Split reports whether the root is apart from the state directory.
func (l Layout) Split() bool { return filepath.Clean(l.RootDir()) != filepath.Clean(l.Dir) }

// ResolverPID is the PID file of network's resolver (bridge up --dns).
func (l Layout) ResolverPID(network string) string {
	return filepath.Join(l.Dir, "dns", IndexKey(network)+".pid")
}

func (l Layout) objects() string  { return filepath.Join(l.Dir, "objects") }
func (l Layout) lockFile() string { return filepath.Join(l.Dir, "lock") }
func (l Layout) ledger() string   { return filepath.Join(l.Dir, "shared.json") }

func (l Layout) Journal(kind, name string) string {
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

func (l Layout) layersDir() string   { return filepath.Join(l.RootDir(), "layers") }
func (l Layout) overlaysDir() string { return filepath.Join(l.RootDir(), "overlay") }

// PrivateDirs are the steps that make the directories below the root down
// to dir that are missing (exists says which are there), each by a step of
// its own, 0700: `mkdir -p --mode=700` gives its mode to the last directory
// only, and every one of these must be reachable by root alone, in the
// runbook as when plumb runs it. The root itself, and what is missing
// above it, are steps too when missing (a first `plumb run` on a host makes
// /var/lib/plumb): the lock makes only the state directory. With the root
// in the state directory (no --root), that is there: plumb made it when it
// took the lock.
func (l Layout) PrivateDirs(dir string, exists func(string) bool) []Step {
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
	// Config is its bundle's config.json (the bundle is Base); Monitor
	// keeps the PID of the runtime that runs it in the foreground; Exit
	// and Shim, a detached one's exit status and its shim's PID.
	Config, Monitor, Exit, Shim string
	// The files plumb writes for a container and binds onto its
	// /etc/hostname, /etc/hosts and /etc/resolv.conf, as Docker keeps them
	// in the container's directory.
	Hostname, Hosts, Resolv string
}

// Overlay lays out overlay NAME (or container NAME's root).
func (l Layout) Overlay(name string) OverlayDirs {
	return OverlayAt(filepath.Join(l.overlaysDir(), name))
}

// OverlayAt is the layout of the container directory base, as a record's
// Root.Layout names it.
func OverlayAt(base string) OverlayDirs {
	return OverlayDirs{Base: base, Upper: base + "/upper", Work: base + "/work", Merged: base + "/merged",
		UTS: base + "/uts", PID: base + "/pid", Log: base + "/log", Config: base + "/config.json", Monitor: base + "/monitor.pid",
		Exit: base + "/exit.json", Shim: base + "/shim.pid",
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
func (l Layout) ImageDir() string { return filepath.Join(l.RootDir(), "image") }

// ImageLayer is the directory of the image layer whose chain ID is chain
// ("sha256:HEX").
func (l Layout) ImageLayer(chain string) string {
	return filepath.Join(l.ImageDir(), "layers", HexOf(chain))
}

// ImageLink is the short link named short.
func (l Layout) ImageLink(short string) string { return filepath.Join(l.ImageDir(), "l", short) }

// LayerDir is imported layer name's directory: under the root, or where a
// plumb before --root kept it, in the state directory, while it is there
// alone (until `plumb migrate` moves it): its journal and the containers
// made from it name that path.
func (s *Store) LayerDir(name string) string {
	return s.kept(s.Layer(name), s.Legacy().Layer(name))
}

// OverlayOf lays out overlay NAME (or container NAME's root) as Overlay
// does, or where a plumb before --root laid it out, in the state
// directory, while it is there alone: a container stopped without --rm
// finds what it wrote there when it runs again.
func (s *Store) OverlayOf(name string) OverlayDirs {
	d := s.Overlay(name)
	if s.kept(d.Base, s.Legacy().Overlay(name).Base) != d.Base {
		return s.Legacy().Overlay(name)
	}
	return d
}

// kept is path, under the root, or old, the same under the state
// directory, when old is there and path is not.
func (s *Store) kept(path, old string) string {
	if !s.Split() || IsThere(path) || !IsThere(old) {
		return path
	}
	return old
}

// ImageLayerOf is the directory of the image layer chain whose short link
// is link: beside it, in the same image/ (the root's, or the state
// directory's of a plumb before --root), as the link leads to it.
func ImageLayerOf(link, chain string) string {
	return filepath.Join(filepath.Dir(filepath.Dir(link)), "layers", HexOf(chain))
}

// Within reports whether p is dir or below it.
func Within(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// IsThere reports whether path is there (a link counts, as it would for
// mkdir).
func IsThere(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func HexOf(digest string) string { return strings.TrimPrefix(digest, "sha256:") }

// ImageDirs makes image/, image/layers and image/l as plumb makes its
// other directories: 0700, owned by it, checked as the journals' are.
func (s *Store) ImageDirs() error {
	if err := s.TrustRoot(true); err != nil {
		return err
	}
	for _, d := range []string{s.ImageDir(), filepath.Dir(s.ImageLayer("x")), filepath.Dir(s.ImageLink("x"))} {
		if why, err := s.CheckDir(d, true); err != nil {
			return err
		} else if why != "" {
			return s.Untrusted(d, why)
		}
	}
	return nil
}

// StagingRoot is where layers are unpacked before they are recorded:
// image/staging/stage-XXX, one directory per pull or import, each held
// (flock on the directory) by the process that made it. Like image/l and
// image/layers it stays, empty, until the last image goes.
func (l Layout) StagingRoot() string { return filepath.Join(l.ImageDir(), "staging") }
