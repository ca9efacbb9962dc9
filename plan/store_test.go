package plan

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestLockWaitNamesHolder: a second plumb waits for the lock, then names
// who holds it; once released, it gets it.
func TestLockWaitNamesHolder(t *testing.T) {
	dir := t.TempDir()
	first, second := NewStore(dir), NewStore(dir)
	ctx := context.Background()
	if err := first.Lock(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err := second.Lock(ctx, 100*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("is locked by pid %d", os.Getpid())) {
		t.Fatalf("second Lock() = %v; want it to name the holder", err)
	}
	if waited := time.Since(start); waited < 100*time.Millisecond {
		t.Errorf("gave up after %s; want it to wait", waited)
	}
	go func() { time.Sleep(50 * time.Millisecond); first.Unlock() }()
	if err := second.Lock(ctx, 2*time.Second); err != nil {
		t.Fatalf("Lock() after release = %v", err)
	}
	second.Unlock()
}

func TestUnwritableStateDir(t *testing.T) {
	if os.Geteuid() == 0 {
		// root writes anywhere but /proc.
		st := NewStore("/proc/plumb-state")
		if err := st.Lock(context.Background(), time.Second); err == nil || !strings.Contains(err.Error(), "cannot be created") {
			t.Errorf("Lock() on /proc = %v", err)
		}
		return
	}
	st := NewStore("/root/plumb-state")
	if err := st.Lock(context.Background(), time.Second); err == nil {
		t.Error("Lock() in an unwritable directory succeeded")
	}
}
