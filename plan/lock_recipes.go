package plan

import "context"

// Locker is a recipe that names the locks its objects need (see lock.go):
// Up takes them, beside the store's lock shared, instead of the store's
// lock exclusive, so that other objects' commands do not wait for it.
// A recipe that names none holds the whole store.
type Locker interface {
	Locks() []Lock
}

// lockFor takes what rc needs to be applied: its locks, or the store's.
func lockFor(ctx context.Context, env Env, rc Recipe) error {
	if l, ok := rc.(Locker); ok {
		return env.St.LockFor(ctx, env.Wait, l.Locks()...)
	}
	return env.St.Lock(ctx, env.Wait)
}

// Locks: a network is made alone.
func (b *Bridge) Locks() []Lock { return []Lock{NetworkLock(b.Name.String(), false)} }

// Locks: attaching shares the network with other attaches (its addresses
// are given out under its allocation lock); an attachment a runtime names
// is locked by that name, one named after its address when the address
// is reserved (see AttachCall.Allocate).
func (c *AttachCall) Locks() []Lock {
	out := []Lock{NetworkLock(c.Bridge, true)}
	for _, a := range c.List {
		if a.ID.Object != "" {
			out = append(out, ObjectLock(AttachmentKind.Name(), a.ID.Object))
		}
	}
	return out
}

// Locks: a container shares its network and the images, and holds its
// name, which its overlay's directory shares with overlays'.
func (c *Container) Locks() []Lock {
	out := []Lock{ImagesLock(true), ObjectLock(ContainerKind.Name(), c.Name), ObjectLock(OverlayKind.Name(), c.Name)}
	if c.Bridge != "" {
		out = append(out, NetworkLock(c.Bridge, true))
	}
	return out
}

// Locks: an overlay holds its name (and its laid-out directory).
func (o *Overlay) Locks() []Lock { return []Lock{ObjectLock(OverlayKind.Name(), o.ObjectName())} }

// Locks: a veth pair holds its host end's name.
func (v *Veth) Locks() []Lock { return []Lock{ObjectLock(VethKind.Name(), v.HostIf.String())} }

// Locks: images and layers share short names and files: one process adds
// them at a time. (A pull stages its layers before, without any lock.)
func (g *ImageGet) Locks() []Lock { return []Lock{ImagesLock(false)} }

// Locks: as ImageGet.
func (l *Layer) Locks() []Lock { return []Lock{ImagesLock(false)} }
