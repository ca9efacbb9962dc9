package plan

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Locks. One process's work on one object must never wait for another's on
// an unrelated one (two attaches on two bridges, an overlay mounted while a
// bridge comes up, an image committed while a container attaches), yet two
// processes must never interleave on the same object, the same addresses or
// the same shared host setting. plumb takes flock(2) locks, each a file:
//
//	lock                      the store's: shared by every command that
//	                          names the objects it works on, exclusive for
//	                          one that works on the whole store (recover,
//	                          down, detach, stop, GC, index rebuilds; and
//	                          every command of an older plumb, which knows
//	                          no other lock)
//	locks/bridge/NAME         a network: exclusive to make, finish or
//	                          remove it, shared to attach to it
//	locks/images/store        the images, layers and their short names
//	locks/KIND/NAME           any other object (attachment, overlay,
//	                          container, veth)
//	locks/alloc/NET           a network's addresses, while one is chosen
//	                          and reserved (AddrStore)
//	locks/ledger/shared.json  the ledger, around each read-modify-write
//	locks/names/NET           a network's names index, around each write
//
// Deadlock is ruled out by one order, in which every process takes its
// locks: the store's first, then networks, the images, other objects (by
// kind, then name), a network's allocation, and last the leaves (ledger,
// names index), under which nothing else is taken. A process may take a
// lock below one it holds only by trying (tryLock: it fails at once rather
// than wait), which cannot deadlock. Every lock waits --wait, each its own.
//
// What a lock protects is changed only under it: a journal, by a process
// holding the store's lock exclusive, or its object's lock (an attachment:
// its network's exclusive, or its own); the index's entries are written
// with their journal; a temporary file is swept, a stale index entry
// dropped and the index rebuilt only under the store's lock exclusive, or
// when the object it belongs to is not locked by anyone (busy).

// lockRank is a lock's place in the order.
type lockRank int

const (
	rankStore lockRank = iota
	rankNetwork
	rankImages
	rankPorts
	rankObject
	rankAlloc
	rankLeaf
)

// Lock names one lock and how it is taken.
type Lock struct {
	rank lockRank
	// Kind and Name place it: locks/KIND/NAME.
	Kind, Name string
	// Shared: others may hold it shared at the same time.
	Shared bool
}

// NetworkLock is a network's lock: shared to attach to it, exclusive to
// make or remove it.
func NetworkLock(name string, shared bool) Lock {
	return NetworkRef{Kind: BridgeKind.Name(), Name: name}.Lock(shared)
}

// ImagesLock is the lock of the images and layers: shared to read them
// (an overlay of layers), exclusive to add one.
func ImagesLock(shared bool) Lock {
	return Lock{rank: rankImages, Kind: "images", Name: "store", Shared: shared}
}

// PortsLock is the lock of the host's published ports, which every
// network shares: taken by whatever publishes one, from the check that a
// port is free until its journal says it holds it, so that two attaches
// at once never both take one port (the network's lock is shared by
// attaches, and allocation's is let go before the host is checked).
func PortsLock() Lock { return Lock{rank: rankPorts, Kind: "ports", Name: "host"} }

// ObjectLock is an object's own lock, exclusive, unless its kind takes
// another (Locked): a network's is its NetworkLock.
func ObjectLock(kind, name string) Lock {
	if k, ok := Lookup(kind); ok {
		if l, ok := k.(Locked); ok {
			return l.ObjectLock(name)
		}
	}
	return Lock{rank: rankObject, Kind: kind, Name: name}
}

// allocLock is a network's addresses' lock.
func allocLock(network string) Lock { return Lock{rank: rankAlloc, Kind: "alloc", Name: network} }

// ledgerLock is the ledger's lock.
func ledgerLock() Lock { return Lock{rank: rankLeaf, Kind: "ledger", Name: "shared.json"} }

// namesLock is a network's names index's lock.
func namesLock(network string) Lock { return Lock{rank: rankLeaf, Kind: "names", Name: network} }

// key orders locks; the mode plays no part in it.
func (l Lock) key() Lock { l.Shared = false; return l }

// compare is the lock order.
func (l Lock) compare(m Lock) int {
	return cmp.Or(cmp.Compare(l.rank, m.rank), strings.Compare(l.Kind, m.Kind), strings.Compare(l.Name, m.Name))
}

// String names the lock for messages.
func (l Lock) String() string {
	switch l.rank {
	case rankStore:
		return "the state directory"
	case rankImages:
		return "the images"
	case rankPorts:
		return "the host's published ports"
	case rankAlloc:
		return "the addresses of " + l.Name
	case rankLeaf:
		return fmt.Sprintf("the %s %s", l.Kind, l.Name)
	}
	return l.Kind + "/" + l.Name
}

// heldLock is a lock this process holds.
type heldLock struct {
	Lock
	f *os.File
}

// lockPath is the lock's file.
func (s *Store) lockPath(l Lock) string {
	if l.rank == rankStore {
		return s.lockFile()
	}
	return filepath.Join(s.locksDir(), l.Kind, IndexKey(l.Name))
}

func (l Layout) locksDir() string { return filepath.Join(l.Dir, "locks") }

// exclusive reports whether this process holds the store's lock exclusive:
// no other plumb process holds any lock.
func (s *Store) exclusive() bool { return s.lock != nil && !s.lockShared }

// LockFor takes the store's lock shared, then locks, in the lock order,
// each waiting up to wait: what a command that works on these objects
// alone holds, so that others working on other objects do not wait for it.
// A lock this process holds already (in its mode or a stronger one) is not
// taken again; one that comes before a lock it holds is refused, as a
// deadlock waiting to happen. With the store's lock exclusive, no other
// process holds any: the locks are taken all the same, so that busy and
// tryLock see them.
func (s *Store) LockFor(ctx context.Context, wait time.Duration, locks ...Lock) error {
	if s.lock == nil {
		if err := s.buildIndex(ctx, wait); err != nil {
			return err
		}
		if err := s.takeStore(ctx, wait, true); err != nil {
			return err
		}
	}
	want := slices.Clone(locks)
	slices.SortFunc(want, func(a, b Lock) int { return cmp.Or(a.compare(b), boolCmp(a.Shared, b.Shared)) })
	for _, l := range want {
		if h, ok := s.Holding(l); ok {
			if h.Shared && !l.Shared {
				return fmt.Errorf("plumb holds %s shared and would take it exclusive: a lock is never upgraded, it is taken exclusive first", l)
			}
			continue
		}
		if last := s.lastHeld(); last != nil && l.compare(last.Lock) < 0 && !s.exclusive() {
			return fmt.Errorf("taking %s after %s breaks the lock order (see plan/lock.go)", l, last.Lock)
		}
		f, err := s.take(ctx, l, wait, false)
		if err != nil {
			return err
		}
		s.held = append(s.held, heldLock{l, f})
		slices.SortFunc(s.held, func(a, b heldLock) int { return a.compare(b.Lock) })
	}
	return nil
}

// buildIndex builds the index, under the store's lock exclusive, when it
// is not complete: built, it is kept by every save under the shared lock.
func (s *Store) buildIndex(ctx context.Context, wait time.Duration) error {
	if s.Indexed() {
		return nil
	}
	if err := s.takeStore(ctx, wait, false); err != nil {
		return err
	}
	defer s.Unlock()
	return s.BuildIndex()
}

// boolCmp puts false (exclusive) before true: asked for twice, a lock is
// taken in the stronger mode.
func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

// TryLock takes l without waiting, whatever this process holds: false
// when another holds it. Trying cannot deadlock, so the order does not
// bind it.
func (s *Store) TryLock(ctx context.Context, l Lock) (bool, error) {
	if _, ok := s.Holding(l); ok {
		return true, nil
	}
	f, err := s.take(ctx, l, 0, true)
	if errors.Is(err, errBusy) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	s.held = append(s.held, heldLock{l, f})
	slices.SortFunc(s.held, func(a, b heldLock) int { return a.compare(b.Lock) })
	return true, nil
}

// unlock releases one lock this process holds (the store's is released by
// Unlock alone).
func (s *Store) unlock(l Lock) {
	for i, h := range s.held {
		if h.key() == l.key() {
			unlockFile(h.f, !h.Shared)
			s.held = slices.Delete(s.held, i, i+1)
			return
		}
	}
}

// withLock runs fn holding l, a leaf or a network's allocation lock, and
// releases it after, unless this process held it already. It waits as
// long as the store's lock was waited for.
func (s *Store) withLock(ctx context.Context, l Lock, fn func() error) error {
	if _, ok := s.Holding(l); ok {
		return fn()
	}
	if err := s.lockOne(ctx, l); err != nil {
		return err
	}
	defer s.unlock(l)
	return fn()
}

// lockOne takes l, in the lock order, without the store's lock (which
// its caller holds, or a test does without), waiting as long as the
// store's lock was waited for.
func (s *Store) lockOne(ctx context.Context, l Lock) error {
	if _, ok := s.Holding(l); ok {
		return nil
	}
	if last := s.lastHeld(); last != nil && l.compare(last.Lock) < 0 && !s.exclusive() {
		return fmt.Errorf("taking %s after %s breaks the lock order (see plan/lock.go)", l, last.Lock)
	}
	f, err := s.take(ctx, l, s.wait, false)
	if err != nil {
		return err
	}
	s.held = append(s.held, heldLock{l, f})
	slices.SortFunc(s.held, func(a, b heldLock) int { return a.compare(b.Lock) })
	return nil
}

// busy reports whether another plumb process (or this one) holds kind/NAME's
// object lock now: an object whose journal is not written yet, or is being
// applied, is not stale.
func (s *Store) busy(kind, name string) bool {
	if _, ok := s.Holding(ObjectLock(kind, name)); ok {
		return true
	}
	return s.lockedElsewhere(kind, name)
}

// lockedElsewhere reports whether kind/NAME's object lock is held by
// another open of it than this Store's: another plumb process at work on
// the object (a lock this Store holds is not counted).
func (s *Store) lockedElsewhere(kind, name string) bool {
	return s.heldElsewhere(ObjectLock(kind, name))
}

// Changing reports whether another plumb process holds rec's own lock
// (its kind's, as Locked says, or its object lock) exclusive now: a
// record not up is then being applied, not left by a crash.
func (s *Store) Changing(rec *Record) bool {
	l := ObjectLock(rec.Kind, rec.Name)
	if k, ok := capability[Locked](rec); ok {
		l = k.ObjectLock(rec.Name)
	}
	return s.heldElsewhere(l)
}

// heldElsewhere reports whether l is held by another open of it than this
// Store's.
func (s *Store) heldElsewhere(l Lock) bool {
	if _, ok := s.Holding(l); ok {
		return false
	}
	f, err := os.OpenFile(s.lockPath(l), os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return false // never locked: nobody could hold it
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		return errors.Is(err, syscall.EWOULDBLOCK)
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false
}

// Holding is the lock this process holds under l's key.
func (s *Store) Holding(l Lock) (heldLock, bool) {
	for _, h := range s.held {
		if h.key() == l.key() {
			return h, true
		}
	}
	return heldLock{}, false
}

// lastHeld is the last lock in the order that this process holds, beside
// the store's.
func (s *Store) lastHeld() *heldLock {
	if len(s.held) == 0 {
		return nil
	}
	return &s.held[len(s.held)-1]
}

// errBusy is a lock another process holds, when not waiting for it.
var errBusy = errors.New("locked by another process")

// takeStore takes the store's lock, shared or exclusive (see Lock).
func (s *Store) takeStore(ctx context.Context, wait time.Duration, shared bool) error {
	s.headers, s.index = nil, nil // others may have written while we waited
	s.wait = wait
	if err := s.Layout.Check(); err != nil {
		return err
	}
	if err := s.TrustDirs("", true); err != nil {
		return err
	}
	f, err := s.take(ctx, Lock{rank: rankStore, Shared: shared}, wait, false)
	if err != nil {
		return err
	}
	if err := s.closeDirs(ctx); err != nil {
		unlockFile(f, !shared)
		return err
	}
	s.lock, s.lockShared = f, shared
	return nil
}

// take opens l's file and locks it, waiting up to wait (not at all with
// try, then errBusy) for another process to let it go. Past that it names
// the holder and gives up. A lock taken exclusive says who holds it, for
// whoever waits next.
func (s *Store) take(ctx context.Context, l Lock, wait time.Duration, try bool) (*os.File, error) {
	f, err := s.openLockFile(l)
	if err != nil {
		return nil, err
	}
	how := syscall.LOCK_EX
	if l.Shared {
		how = syscall.LOCK_SH
	}
	deadline := time.Now().Add(wait)
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", f.Name(), err)
		}
		if try {
			f.Close()
			return nil, errBusy
		}
		if time.Now().After(deadline) {
			holder := make([]byte, 4096)
			n, _ := f.ReadAt(holder, 0)
			f.Close()
			who := strings.TrimSpace(string(holder[:n]))
			if who == "" {
				who = "another plumb process"
			}
			if l.rank == rankStore {
				return nil, fmt.Errorf("state directory %s is locked by %s; waited %s (raise it with --wait)", s.Dir, who, wait)
			}
			return nil, fmt.Errorf("%s is locked by %s; waited %s (raise it with --wait)", l, who, wait)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	if !l.Shared {
		// Best effort: on a full disk the lock still works.
		_ = f.Truncate(0)
		_, _ = f.WriteAt([]byte(fmt.Sprintf("pid %d (%s) since %s\n", os.Getpid(), strings.Join(os.Args, " "), time.Now().UTC().Format(time.RFC3339))), 0)
	}
	return f, nil
}

// unlockFile unlocks f and closes it; a lock held exclusive forgets its holder.
func unlockFile(f *os.File, exclusive bool) {
	if exclusive {
		_ = f.Truncate(0)
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	f.Close()
}

// openLockFile opens l's file, made 0600 (in directories made 0700) when
// missing, without following a symbolic link (`ln -s /some/file
// STATE/lock` had plumb truncate /some/file), and checks it before writing
// to it.
func (s *Store) openLockFile(l Lock) (*os.File, error) {
	path := s.lockPath(l)
	if l.rank != rankStore {
		if err := s.indexDirs(filepath.Dir(path), true); err != nil {
			return nil, &Refused{Flag: "state-dir", Msg: fmt.Sprintf("the directory of %s cannot be made or trusted: %v", path, err)}
		}
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o600)
	if err != nil {
		if isLink(path) {
			return nil, s.Untrusted(path, "is a symbolic link")
		}
		return nil, &Refused{Flag: "state-dir", Msg: fmt.Sprintf("state directory %s is not writable: %v", s.Dir, err)}
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if why := s.distrust(fi, false); why != "" {
		f.Close()
		return nil, s.Untrusted(path, why)
	}
	return f, nil
}

// NetworkRef names a network: the kind of the object that keeps it and
// its name. Its lock is locks/KIND/NAME.
type NetworkRef struct {
	Kind string
	Name string
}

func (r NetworkRef) String() string { return r.Kind + "/" + r.Name }

// Lock is the network's lock: shared to attach to it, exclusive to make,
// change or remove it.
func (r NetworkRef) Lock(shared bool) Lock {
	return Lock{rank: rankNetwork, Kind: r.Kind, Name: r.Name, Shared: shared}
}
