package plan

// RootfsKind is a container's root file system, kept apart from its
// process as CRI keeps them: an overlay of the image's layers and the
// container's upper layer, mounted nodev,nosuid unless the container may
// use device nodes and setuid bits. `plumb run` makes one for each
// container, named after it, and removes it after the container.
var RootfsKind = Register(rootfsKind{})

type rootfsKind struct{ FactsCodec[RootfsFacts] }

func (rootfsKind) Name() string      { return "rootfs" }
func (rootfsKind) FactsVersion() int { return 1 }

// RootfsFacts are a root file system's: its overlay, whose Layout is the
// container's directory (the bundle the runtime is given).
type RootfsFacts struct {
	Root OverlayFacts `json:"root"`
}

// Kind is RootfsKind.
func (RootfsFacts) Kind() Kind { return RootfsKind }

// DecodeDetails: root file systems came after typed facts; the keys read
// are an overlay's.
func (rootfsKind) DecodeDetails(d *DetailsReader) Facts { return RootfsFacts{Root: d.overlay()} }

func (rootfsKind) Overlay(f Facts) (OverlayFacts, bool) {
	r, _ := f.(RootfsFacts)
	return r.Root, true
}

// Held: a root file system is there for its container.
func (rootfsKind) Held() {}

// Dependents are the container it is the root of.
func (rootfsKind) Dependents(st *Store, rec *Record, _ Facts) []*Record {
	return holders(st, func(f ContainerFacts) bool { return f.Rootfs == rec.Name })
}

// BeforeDown refuses a root file system whose container is not removed
// with it: it goes with its container.
func (k rootfsKind) BeforeDown(env Env, rec *Record, opts DownOptions, _ bool) ([]*Record, error) {
	return nil, stillHeld(rec, opts.notRemoved(k.Dependents(env.St, rec, nil)))
}
