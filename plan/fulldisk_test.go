package plan

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"plumb/internal/isolate"
	"plumb/plan/plantest"
)

// Issue 12, row 9: a state directory that is full (a big tarball unpacked
// into the default tmpfs /run/plumb) locked plumb for good: undoing saves
// the journal before every step, so `recover` failed at its first write,
// every time. Undoing must work on a full disk.

// inMountNamespace re-runs the calling test, as root, in a mount namespace
// of its own and returns true there (see isolate.Rerun).
func inMountNamespace(t *testing.T) bool {
	t.Helper()
	return isolate.Rerun(t, "mount namespace", "--mount")
}

// fill writes dir/filler until the file system says it is full.
func fill(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	page := make([]byte, 4096)
	for {
		if _, err := f.Write(page); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return
		}
	}
}

// TestUndoOnFullTmpfs fills a small tmpfs that holds the state directory,
// then recovers an interrupted plan and takes down objects that share
// ip_forward: each works, and finishing frees the journal's space.
func TestUndoOnFullTmpfs(t *testing.T) {
	if !inMountNamespace(t) {
		return
	}
	ctx := context.Background()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=256k,mode=0700"); err != nil {
		t.Fatalf("mounting a small tmpfs: %v", err)
	}
	defer syscall.Unmount(dir, syscall.MNT_DETACH)
	st := NewStore(filepath.Join(dir, "plumb"))
	if err := st.Lock(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	defer st.Unlock()
	// A bridge and a veth hold ip_forward; a layer import was interrupted.
	keepBridge(t, st, "10.88.0.0/24")
	veth, err := Apply(ctx, &plantest.FakeRunner{}, st, selfPair().plan(), Each)
	if err != nil {
		t.Fatal(err)
	}
	_, victim := victimJournal(t, st)

	fill(t, dir)
	if err := os.WriteFile(filepath.Join(dir, "probe"), make([]byte, 4096), 0o600); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("the tmpfs is not full: %v", err)
	}

	f := &plantest.FakeRunner{}
	got, err := Recover(ctx, f, st)
	if err != nil || !slices.Equal(got, []string{"layer/x"}) {
		t.Fatalf("Recover() on a full disk = %v, %v; want layer/x recovered", got, err)
	}
	if want := "rm -rf --one-file-system -- " + victim; !slices.Equal(f.Calls, []string{want}) {
		t.Errorf("Recover() ran %q; want %q", f.Calls, want)
	}
	if _, err := st.Load("layer", "x"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("recovered journal: %v; want it removed", err)
	}
	fill(t, dir) // removing it freed a page or more

	// Down of the veth: the bridge still needs ip_forward, so it stays.
	f = &plantest.FakeRunner{}
	if _, err := Unwind(ctx, f, st, veth); err != nil {
		t.Fatalf("unwind() on a full disk = %v", err)
	}
	if slices.Contains(f.Calls, "sysctl -w net.ipv4.ip_forward=0") {
		t.Errorf("ip_forward restored while the bridge needs it: %q", f.Calls)
	}
	if _, err := st.Load("veth", "veth-host"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("veth journal: %v; want it removed", err)
	}

	// With space again, the bridge's down restores ip_forward: the
	// veth's hold, which the full disk kept in shared.json, is not counted.
	if err := os.Remove(filepath.Join(dir, "filler")); err != nil {
		t.Fatal(err)
	}
	br, err := st.Load("bridge", "br0")
	if err != nil {
		t.Fatal(err)
	}
	f = &plantest.FakeRunner{}
	if _, err := Unwind(ctx, f, st, br); err != nil {
		t.Fatalf("unwind() of the bridge = %v", err)
	}
	if !slices.Contains(f.Calls, "sysctl -w net.ipv4.ip_forward=0") {
		t.Errorf("ip_forward not restored when the last holder went: %q", f.Calls)
	}
	if recs, errs := st.List(); len(recs) != 0 || len(errs) != 0 {
		t.Errorf("left: %d journals, %v", len(recs), errs)
	}
}

// fullAfter makes st's journal writes fail as on a full disk after n more
// succeed (n = 0: from now on).
func fullAfter(st *Store, n int) {
	st.write = func(f *os.File, data []byte) (int, error) {
		if n > 0 {
			n--
			return f.Write(data)
		}
		return 0, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
}

// TestUndoOnFullDisk: recover, down, a link group's down and the rollback
// of an apply that fills the disk half-way all undo everything, with
// journal writes failing as on a full disk. When an undo fails there, the
// journal is left as it was and the error says what to run again.
func TestUndoOnFullDisk(t *testing.T) {
	ctx := context.Background()
	t.Run("recover", func(t *testing.T) {
		st := NewStore(t.TempDir())
		journal, _ := victimJournal(t, st)
		fullAfter(st, 0)
		f := &plantest.FakeRunner{}
		got, err := Recover(ctx, f, st)
		if err != nil || !slices.Equal(got, []string{"layer/x"}) || len(f.Calls) != 1 {
			t.Fatalf("Recover() = %v, %v, ran %q", got, err, f.Calls)
		}
		if _, err := os.Stat(journal); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("journal: %v; want it removed", err)
		}

		// An undo that fails: the journal keeps what it held, and says so.
		st = NewStore(t.TempDir())
		journal, victim := victimJournal(t, st)
		before, _ := os.ReadFile(journal)
		fullAfter(st, 0)
		f = &plantest.FakeRunner{FailOn: "rm -rf --one-file-system -- " + victim, FailStderr: "rm: Device or resource busy"}
		_, err = Recover(ctx, f, st)
		if err == nil || !strings.Contains(err.Error(), "layer/x: the state directory is full, so its journal still reads as before this undo (state applying): undoing it again is safe; free some space, then run `plumb recover`") {
			t.Errorf("Recover() with a failing undo = %v", err)
		}
		if after, _ := os.ReadFile(journal); string(after) != string(before) {
			t.Errorf("journal changed on a full disk:\n%s", after)
		}
		st.write = nil
		if _, err := Recover(ctx, &plantest.FakeRunner{}, st); err != nil {
			t.Errorf("Recover() with space again = %v", err)
		}
	})
	t.Run("down", func(t *testing.T) {
		st := NewStore(t.TempDir())
		rec, err := Apply(ctx, &plantest.FakeRunner{}, st, selfPair().plan(), Each)
		if err != nil {
			t.Fatal(err)
		}
		fullAfter(st, 0)
		f := &plantest.FakeRunner{FailOn: "ip link del veth-host", FailStderr: "RTNETLINK answers: Operation not permitted"}
		if _, err := Unwind(ctx, f, st, rec); err == nil || !strings.Contains(err.Error(), "(state up): undoing it again is safe; free some space, then run `plumb down veth/veth-host`") {
			t.Errorf("unwind() with a failing undo = %v", err)
		}
		rec, err = st.Load("veth", "veth-host")
		if err != nil {
			t.Fatal(err)
		}
		calls := f.Calls
		f = &plantest.FakeRunner{}
		if _, err := Unwind(ctx, f, st, rec); err != nil {
			t.Fatalf("unwind() on a full disk = %v", err)
		}
		calls = append(calls, f.Calls...)
		if n := strings.Count(strings.Join(calls, "\n"), "sysctl -w net.ipv4.ip_forward=0"); n != 1 {
			t.Errorf("ip_forward restored %d times: %q", n, calls)
		}
		if recs, errs := st.List(); len(recs) != 0 || len(errs) != 0 {
			t.Errorf("left: %d journals, %v", len(recs), errs)
		}
	})
	t.Run("link group", func(t *testing.T) {
		st := NewStore(t.TempDir())
		recs, err := ApplyAll(ctx, &plantest.FakeRunner{}, st, attachPlans(t, st, plantest.Containers(t, 3)), Batch)
		if err != nil {
			t.Fatal(err)
		}
		fullAfter(st, 0)
		f := &plantest.FakeRunner{FailOn: "ip -force -batch -", FailStderr: "RTNETLINK answers: Operation not permitted\nCommand failed -:1"}
		if _, err := UnwindAll(ctx, f, st, recs, Batch); err == nil || !strings.Contains(err.Error(), "attachment/br0-10.88.0.4: the state directory is full") {
			t.Errorf("unwindAll() with one link refused = %v", err)
		}
		if got := Attachments(st, "br0"); len(got) != 1 || got[0].State != StateUp {
			t.Errorf("kept %d attachments; want the refused one, its journal as before", len(got))
		}
		st.write = nil
		rec, err := st.Load("attachment", "br0-10.88.0.4")
		if err != nil {
			t.Fatal(err)
		}
		fullAfter(st, 0)
		if _, err := UnwindAll(ctx, &plantest.FakeRunner{}, st, []*Record{rec}, Batch); err != nil {
			t.Errorf("unwindAll() on a full disk = %v", err)
		}
		if got := Attachments(st, "br0"); len(got) != 0 {
			t.Errorf("kept %d attachments", len(got))
		}
	})
	t.Run("apply fills the disk", func(t *testing.T) {
		p := selfPair().plan()
		// Every write of an apply that succeeds but its last (which
		// TestFinishFailsRollsBack fails) fails in turn.
		st := NewStore(t.TempDir())
		writes := 0
		st.write = func(f *os.File, data []byte) (int, error) { writes++; return f.Write(data) }
		if _, err := Apply(ctx, &plantest.FakeRunner{}, st, p, Each); err != nil {
			t.Fatal(err)
		}
		for n := 1; n < writes-1; n++ {
			st := NewStore(t.TempDir())
			fullAfter(st, n)
			f := &plantest.FakeRunner{}
			_, err := Apply(ctx, f, st, p, Each)
			var ae *ApplyError
			if !errors.As(err, &ae) || ae.UndoErr != nil || !isFull(err) {
				t.Fatalf("full after %d writes: Apply() = %v; want it failed and rolled back", n, err)
			}
			if recs, errs := st.List(); len(recs) != 0 || len(errs) != 0 {
				t.Errorf("full after %d writes: left %d journals, %v", n, len(recs), errs)
			}
			if _, err := os.Stat(st.ledger()); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("full after %d writes: shared.json left: %v", n, err)
			}
		}
	})
}

// TestUndoFreesSpace: once an undo frees space (a layer's rm -rf), the
// journal is saved again, and a later failure does not claim it is behind.
func TestUndoFreesSpace(t *testing.T) {
	ctx := context.Background()
	st := NewStore(t.TempDir())
	rec, err := Apply(ctx, &plantest.FakeRunner{}, st, selfPair().plan(), Each)
	if err != nil {
		t.Fatal(err)
	}
	fullAfter(st, 0)
	f := &plantest.FakeRunner{FailOn: "ip link del veth-host", FailStderr: "RTNETLINK answers: Operation not permitted"}
	var freed bool
	full := st.write
	st.write = func(file *os.File, data []byte) (int, error) {
		if !freed && len(f.Calls) > 0 { // the first undo ran and freed space
			freed = true
		}
		if freed {
			return file.Write(data)
		}
		return full(file, data)
	}
	_, err = Unwind(ctx, f, st, rec)
	if err == nil || strings.Contains(err.Error(), "state directory is full") {
		t.Errorf("unwind() = %v; want the failed undo, and no claim that the journal is behind", err)
	}
	if rec, err := st.Load("veth", "veth-host"); err != nil || rec.State != StateUndoFailed {
		t.Errorf("journal: %v, %v; want it saved as undo-failed", rec, err)
	}
}

// TestFinishFailsRollsBack: every step of a plan ran, then the journal could
// not record it (the disk filled at the last save): plumb undoes the steps
// rather than leave an applied object its journal calls unfinished, and
// says so with exit 1's meaning, "rolled back".
func TestFinishFailsRollsBack(t *testing.T) {
	p := selfPair().plan()
	// Count the writes of an apply that succeeds; the last marks it up.
	st := NewStore(t.TempDir())
	writes := 0
	st.write = func(f *os.File, data []byte) (int, error) { writes++; return f.Write(data) }
	if _, err := Apply(context.Background(), &plantest.FakeRunner{}, st, p, Each); err != nil {
		t.Fatal(err)
	}
	st = NewStore(t.TempDir())
	f := &plantest.FakeRunner{}
	fullAfter(st, writes-1)
	_, err := Apply(context.Background(), f, st, p, Each)
	var ae *ApplyError
	if !errors.As(err, &ae) || !strings.Contains(err.Error(), "recording that every step is done") {
		t.Fatalf("Apply() = %v; want a rollback after the journal failed", err)
	}
	if !slices.Contains(f.Calls, "ip link del veth-host") {
		t.Errorf("the steps were not undone: %q", f.Calls)
	}
}
