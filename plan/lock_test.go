package plan

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestLockOrder: locks are taken in the order of lock.go whatever order
// they are asked in; one before a lock held is refused; two stores on two
// networks never wait for each other, on one network exclusive they do.
func TestLockOrder(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a, b := NewStore(dir), NewStore(dir)
	defer a.Unlock()
	defer b.Unlock()
	if err := a.LockFor(ctx, 0, ObjectLock("attachment", "x"), NetworkLock("br0", true), ImagesLock(true)); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range a.held {
		got = append(got, h.String())
	}
	if strings.Join(got, " ") != "bridge/br0 the images attachment/x" {
		t.Errorf("held in order %v", got)
	}
	if err := a.LockFor(ctx, 0, NetworkLock("br1", false)); err == nil || !strings.Contains(err.Error(), "lock order") {
		t.Errorf("a network after an object: %v", err)
	}
	if err := a.lockOne(ctx, allocLock("br0")); err != nil {
		t.Errorf("allocation after objects: %v", err)
	}
	if err := b.LockFor(ctx, 0, NetworkLock("br1", false)); err != nil {
		t.Errorf("another network waited: %v", err)
	}
	if err := b.LockFor(ctx, 0, NetworkLock("br2", false)); err != nil {
		t.Errorf("a second network in order: %v", err)
	}
	c := NewStore(dir)
	defer c.Unlock()
	if err := c.LockFor(ctx, 0, NetworkLock("br0", true)); err != nil {
		t.Errorf("a shared network lock was refused: %v", err)
	}
	if err := c.LockFor(ctx, 30*time.Millisecond, ObjectLock("attachment", "x")); err == nil || !strings.Contains(err.Error(), "attachment/x is locked") {
		t.Errorf("an object held elsewhere: %v", err)
	}
	if !c.busy("attachment", "x") || c.busy("attachment", "y") {
		t.Error("busy does not see who holds what")
	}
	if err := c.Lock(ctx, 0); err == nil {
		t.Error("the store's lock was upgraded")
	}
	a.Unlock()
	b.Unlock()
	c.Unlock()
	if err := c.Lock(ctx, time.Second); err != nil {
		t.Errorf("exclusive once all let go: %v", err)
	}
}

// TestAddrStore: a reservation is its holder's alone until released.
func TestAddrStore(t *testing.T) {
	st := NewStore(t.TempDir())
	as := LocalAddrs(st, "br0")
	ip := netip.MustParseAddr("10.88.0.2")
	if ok, err := as.Reserve("attachment/a", "eth0", ip, "ipv4"); !ok || err != nil {
		t.Fatalf("reserve: %v %v", ok, err)
	}
	if ok, _ := as.Reserve("attachment/b", "eth0", ip, "ipv4"); ok {
		t.Error("an address was given twice")
	}
	if ok, _ := as.Reserve("attachment/a", "eth0", ip, "ipv4"); !ok {
		t.Error("the same holder was refused")
	}
	if got := as.GetByID("attachment/a", "eth0"); len(got) != 1 || got[0] != ip {
		t.Errorf("GetByID: %v", got)
	}
	if err := as.ReleaseByID("attachment/a", "eth0"); err != nil || len(as.GetByID("attachment/a", "")) != 0 {
		t.Errorf("release: %v", err)
	}
	if ok, _ := as.Reserve("attachment/b", "eth0", ip, "ipv4"); !ok {
		t.Error("a released address was not given again")
	}
}

// TestInterruptedSkipsLocked: an unfinished journal whose object another
// plumb holds locked is work in progress, not a plan to recover; once the
// lock is let go, it is interrupted again. A bridge's lock is its
// network's.
func TestInterruptedSkipsLocked(t *testing.T) {
	ctx := context.Background()
	for _, kind := range []Kind{VethKind, BridgeKind} {
		t.Run(kind.Name(), func(t *testing.T) {
			dir := t.TempDir()
			st := NewStore(dir)
			rec := &Record{FormatVersion: FormatVersion, Kind: kind.Name(), Name: "x0", State: StateApplying}
			if err := st.Save(rec); err != nil {
				t.Fatal(err)
			}
			if n := len(Interrupted(NewStore(dir))); n != 1 {
				t.Fatalf("%d interrupted before the lock; want 1", n)
			}
			other := NewStore(dir) // another plumb process's
			if err := other.LockFor(ctx, time.Second, ObjectLock(kind.Name(), "x0")); err != nil {
				t.Fatal(err)
			}
			if got := Interrupted(NewStore(dir)); len(got) != 0 {
				t.Errorf("interrupted while another holds its lock: %v", got[0].ID())
			}
			if got := Interrupted(other); len(got) != 1 {
				t.Errorf("the lock's own holder sees %d interrupted; want 1 (its own lock is not another's)", len(got))
			}
			other.Unlock()
			if n := len(Interrupted(NewStore(dir))); n != 1 {
				t.Errorf("%d interrupted after the lock went; want 1", n)
			}
		})
	}
}
