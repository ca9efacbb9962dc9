package plan

import (
	"context"
	"errors"
	"fmt"
	"plumb/plan/plantest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestBatchVeth: the document's twelve steps start four processes in batch
// mode (and a probe), each running exactly the plan's commands, in order:
// the rules of filter and nat are one iptables-restore.
func TestBatchVeth(t *testing.T) {
	st := NewStore(t.TempDir())
	v := selfPair()
	p := v.plan()
	f := &plantest.FakeRunner{}
	if _, err := Apply(context.Background(), f, st, p, Batch); err != nil {
		t.Fatal(err)
	}
	pid := fmt.Sprint(v.Target.PID)
	want := []string{
		"ip -batch -",
		"nsenter -t " + pid + " -n ip -batch -",
		"sysctl -n net.ipv4.ip_forward",
		"sysctl -w net.ipv4.ip_forward=1",
		"iptables-restore --noflush",
	}
	if diff := cmp.Diff(want, f.Calls); diff != "" {
		t.Errorf("processes (-want +got):\n%s", diff)
	}
	wantIn := []string{
		"link add veth-host type veth peer name veth-container\nlink set veth-container netns " + pid + "\naddr add 10.200.0.1/24 dev veth-host\nlink set veth-host up\n",
		"addr add 10.200.0.2/24 dev veth-container\nlink set veth-container up\nlink set lo up\nroute add default via 10.200.0.1\n",
		"", "",
		"*filter\n-A FORWARD -i veth-host -o eth0 -j ACCEPT\n-A FORWARD -i eth0 -o veth-host -m state --state RELATED,ESTABLISHED -j ACCEPT\nCOMMIT\n" +
			"*nat\n-A POSTROUTING -s 10.200.0.0/24 -o eth0 -j MASQUERADE\nCOMMIT\n",
	}
	if diff := cmp.Diff(wantIn, f.Stdins); diff != "" {
		t.Errorf("batch input (-want +got):\n%s", diff)
	}
	rec, _ := st.Load("veth", "veth-host")
	for i, s := range rec.Steps {
		if s.Status != Done {
			t.Errorf("step %d is %s after a batch", i+1, s.Status)
		}
	}
}

// TestBatchFailure: ip -batch stops at its failing line; the lines before it
// are done and undone, the failing step is named with its own command.
func TestBatchFailure(t *testing.T) {
	st := NewStore(t.TempDir())
	p := selfPair().plan()
	f := &plantest.FakeRunner{FailOn: "ip -batch -", FailStderr: "Error: ipv4: Address already assigned.\nCommand failed -:3"}
	_, err := Apply(context.Background(), f, st, p, Batch)
	var ae *ApplyError
	if !errors.As(err, &ae) || ae.Step != 3 {
		t.Fatalf("Apply() = %v; want step 3 to fail", err)
	}
	if !strings.Contains(err.Error(), "step 3 of 12 failed: ip addr add 10.200.0.1/24 dev veth-host: exit status 2: Error: ipv4: Address already assigned.") {
		t.Errorf("error does not name the step's command:\n%v", err)
	}
	if diff := cmp.Diff([]string{"ip -batch -", "ip link del veth-host"}, f.Calls); diff != "" {
		t.Errorf("processes (-want +got):\n%s", diff)
	}
	assertEmptyStore(t, st)

	// iptables-restore is atomic per table: nothing of its batch to undo.
	st = NewStore(t.TempDir())
	f = &plantest.FakeRunner{FailOn: "iptables-restore --noflush", FailStderr: "iptables-restore: line 3 failed"}
	_, err = Apply(context.Background(), f, st, p, Batch)
	if !errors.As(err, &ae) || ae.Step != 11 {
		t.Fatalf("Apply() = %v; want step 11 to fail", err)
	}
	want := []string{"ip -batch -", "nsenter -t " + fmt.Sprint(selfPair().Target.PID) + " -n ip -batch -",
		"sysctl -n net.ipv4.ip_forward", "sysctl -w net.ipv4.ip_forward=1", "iptables-restore --noflush",
		"sysctl -w net.ipv4.ip_forward=0", "ip link del veth-host"}
	if diff := cmp.Diff(want, f.Calls); diff != "" {
		t.Errorf("processes (-want +got):\n%s", diff)
	}
	assertEmptyStore(t, st)

	// A failure named at a block's COMMIT (iptables-nft names a jump to a
	// missing chain there) is the block's: filter's (input line 4) failing
	// applied none of the iptables steps, so none is undone, and the step
	// named is the block's first.
	st = NewStore(t.TempDir())
	f = &plantest.FakeRunner{FailOn: "iptables-restore --noflush", FailStderr: "Chain 'PLUMB-GONE' does not exist\nError occurred at line: 4"}
	_, err = Apply(context.Background(), f, st, p, Batch)
	if !errors.As(err, &ae) || ae.Step != 10 {
		t.Fatalf("Apply() = %v; want step 10 to fail", err)
	}
	if diff := cmp.Diff(append(want[:5:5], "sysctl -w net.ipv4.ip_forward=0", "ip link del veth-host"), f.Calls); diff != "" {
		t.Errorf("processes (-want +got):\n%s", diff)
	}
	assertEmptyStore(t, st)

	// One iptables-restore holds filter's block and nat's, and commits
	// them in turn: nat's rule (input line 6) failing leaves filter's two
	// rules applied, and they are undone, in one iptables-restore too.
	st = NewStore(t.TempDir())
	f = &plantest.FakeRunner{FailOn: "iptables-restore --noflush", FailStderr: "iptables-restore: line 6 failed"}
	_, err = Apply(context.Background(), f, st, p, Batch)
	if !errors.As(err, &ae) || ae.Step != 12 {
		t.Fatalf("Apply() = %v; want step 12 to fail", err)
	}
	// The undo batch (the same iptables-restore, failing again here) is
	// then undone one by one, each judged on its own.
	want = append(want[:5:5], "iptables-restore --noflush",
		"iptables -D FORWARD -i eth0 -o veth-host -m state --state RELATED,ESTABLISHED -j ACCEPT",
		"iptables -D FORWARD -i veth-host -o eth0 -j ACCEPT", "sysctl -w net.ipv4.ip_forward=0", "ip link del veth-host")
	if diff := cmp.Diff(want, f.Calls); diff != "" {
		t.Errorf("processes (-want +got):\n%s", diff)
	}
	wantIn := "*filter\n-D FORWARD -i eth0 -o veth-host -m state --state RELATED,ESTABLISHED -j ACCEPT\n-D FORWARD -i veth-host -o eth0 -j ACCEPT\nCOMMIT\n"
	if got := f.Stdins[5]; got != wantIn {
		t.Errorf("undo batch input %q; want %q", got, wantIn)
	}
	assertEmptyStore(t, st)
}

// TestBatchUndo: in batch mode, down runs consecutive undos of one tool as
// one process, as apply runs steps: the veth's three rules, of filter and
// nat, are one iptables-restore.
func TestBatchUndo(t *testing.T) {
	st := NewStore(t.TempDir())
	p := selfPair().plan()
	f := &plantest.FakeRunner{}
	rec, err := Apply(context.Background(), f, st, p, Batch)
	if err != nil {
		t.Fatal(err)
	}
	f.Calls, f.Stdins = nil, nil
	if _, err := unwindMode(context.Background(), f, st, rec, Batch); err != nil {
		t.Fatal(err)
	}
	want := []string{"iptables-restore --noflush", "sysctl -w net.ipv4.ip_forward=0", "ip link del veth-host"}
	if diff := cmp.Diff(want, f.Calls); diff != "" {
		t.Errorf("processes (-want +got):\n%s", diff)
	}
	wantIn := "*nat\n-D POSTROUTING -s 10.200.0.0/24 -o eth0 -j MASQUERADE\nCOMMIT\n" +
		"*filter\n-D FORWARD -i eth0 -o veth-host -m state --state RELATED,ESTABLISHED -j ACCEPT\n-D FORWARD -i veth-host -o eth0 -j ACCEPT\nCOMMIT\n"
	if got := f.Stdins[0]; got != wantIn {
		t.Errorf("undo batch input %q; want %q", got, wantIn)
	}
	assertEmptyStore(t, st)
}
