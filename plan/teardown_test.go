package plan

import (
	"context"
	"errors"
	"fmt"
	"os"
	"plumb/plan/plantest"
	"strings"
	"testing"
)

// TestBridgeDownUnreadableAttachment (issue 12, row 13): a bridge is not
// taken down while a journal that could be one of its containers cannot
// be read: `bridge down --force` said "down" and left that container's
// veth. The refusal names the journal and says what to do; nothing runs.
func TestBridgeDownUnreadableAttachment(t *testing.T) {
	spoils := map[string]func(t *testing.T, path string){
		"truncated": func(t *testing.T, path string) {
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
		},
		"cut in half": func(t *testing.T, path string) {
			data, _ := os.ReadFile(path)
			if err := os.WriteFile(path, data[:len(data)/2], 0o600); err != nil {
				t.Fatal(err)
			}
		},
		"writable by others": func(t *testing.T, path string) { chmod(t, path, 0o666) },
	}
	for name, spoil := range spoils {
		for _, force := range []bool{true, false} {
			for _, dryRun := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/force=%v/dry-run=%v", name, force, dryRun), func(t *testing.T) {
					ctx := context.Background()
					st := NewStore(t.TempDir())
					plans := attachPlans(t, st, plantest.Containers(t, 2))
					if _, err := ApplyAll(ctx, &plantest.FakeRunner{}, st, plans, Batch); err != nil {
						t.Fatal(err)
					}
					bad := st.Journal("attachment", "br0-10.88.0.3")
					spoil(t, bad)
					st = NewStore(st.Dir) // a new plumb process
					br, err := st.Load("bridge", "br0")
					if err != nil {
						t.Fatal(err)
					}
					f := &plantest.FakeRunner{}
					_, err = Remove(ctx, Env{R: f, St: st, Mode: Batch}, []*Record{br}, DownOptions{Force: force}, dryRun)
					var r *Refused
					if !errors.As(err, &r) || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "fix or remove it") {
						t.Errorf("Remove(force %v, dry run %v) = %v; want a refusal naming %s and what to do", force, dryRun, err, bad)
					}
					if len(f.Calls) != 0 {
						t.Errorf("ran %q; want nothing", f.Calls)
					}
					if _, err := st.Load("bridge", "br0"); err != nil {
						t.Errorf("bridge journal: %v", err)
					}
				})
			}
		}
	}
}

// TestBridgeDownIgnoresOtherKinds: an unreadable journal of a kind that
// cannot be attached to a bridge (a veth) does not hold a bridge up.
func TestBridgeDownIgnoresOtherKinds(t *testing.T) {
	ctx := context.Background()
	st := NewStore(t.TempDir())
	keepBridge(t, st, "10.88.0.0/24")
	if err := os.MkdirAll(st.objects()+"/veth", 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(st.Journal("veth", "v0"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	br, err := st.Load("bridge", "br0")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Remove(ctx, Env{R: &plantest.FakeRunner{}, St: st, Mode: Batch}, []*Record{br}, DownOptions{}, false); err != nil {
		t.Fatalf("Remove() = %v", err)
	}
}
