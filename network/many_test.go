package network

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"plumb/actions"
	"plumb/plan"
	"plumb/plan/plantest"
)

func attachMany(t *testing.T, st *plan.Store, targets []actions.Netns) []*plan.Plan {
	plans, _ := attachManyOf(t, st, targets)
	return plans
}

// attachManyOf plans the targets' attachments to a new bridge, and gives
// the attachments too, to plan them again.
func attachManyOf(t *testing.T, st *plan.Store, targets []actions.Netns) ([]*plan.Plan, []*Attach) {
	t.Helper()
	br := bridgeUp(t, st, "10.88.0.0/24")
	var as []*Attach
	for _, c := range targets {
		as = append(as, &Attach{Network: br, Target: c, If: "eth0"})
	}
	plans, err := attachAll(st, as)
	if err != nil {
		t.Fatal(err)
	}
	return plans, as
}

// TestApplyAllBatch: the host's steps of every container run as one ip
// -batch, in plan order; each container's steps as one process of its own.
func TestApplyAllBatch(t *testing.T) {
	st := plan.NewStore(t.TempDir())
	cs := plantest.Containers(t, 3)
	plans := attachMany(t, st, cs)
	f := &plantest.FakeRunner{}
	recs, err := plan.ApplyAll(context.Background(), f, st, plans, plan.Batch)
	if err != nil {
		t.Fatal(err)
	}
	if f.Calls[0] != "ip -batch -" {
		t.Fatalf("first process %q; want the host's batch", f.Calls[0])
	}
	var host []string
	for i, c := range cs {
		v := fmt.Sprintf("veth0a58000%d", i+2)
		host = append(host, fmt.Sprintf("link add %s type veth peer name plmb0a58000%d netns %d", v, i+2, c.PID),
			"link set "+v+" master br0", "link set "+v+" up")
	}
	if diff := cmp.Diff(strings.Join(host, "\n")+"\n", f.Stdins[0]); diff != "" {
		t.Errorf("host batch (-want +got):\n%s", diff)
	}
	var got, want []string
	for i, c := range cs {
		want = append(want, fmt.Sprintf("nsenter -t %d -n ip -batch -", c.PID))
		got = append(got, f.Calls[i+1])
	}
	slices.Sort(got)
	slices.Sort(want)
	if diff := cmp.Diff(want, got); diff != "" || len(f.Calls) != 4 {
		t.Errorf("container processes (-want +got):\n%s\nall: %q", diff, f.Calls)
	}
	for _, rec := range recs {
		loaded, err := st.Load(rec.Kind, rec.Name)
		if err != nil || loaded.State != plan.StateUp {
			t.Fatalf("%s: %v %v", rec.ID(), loaded, err)
		}
		for i, s := range loaded.Steps {
			if s.Status != plan.Done {
				t.Errorf("%s step %d is %s", rec.ID(), i+1, s.Status)
			}
		}
	}
}

// TestApplyAllFailure: one container's batch fails; every container of the
// call is rolled back, the links deleted as one group in one process.
func TestApplyAllFailure(t *testing.T) {
	for _, mode := range []plan.Mode{plan.Batch, plan.Each} {
		st := plan.NewStore(t.TempDir())
		cs := plantest.Containers(t, 3)
		plans := attachMany(t, st, cs)
		f := &plantest.FakeRunner{FailOn: fmt.Sprintf("nsenter -t %d -n ip -batch -", cs[1].PID),
			FailStderr: "Error: ipv4: Address already assigned.\nCommand failed -:2"}
		if mode == plan.Each {
			f.FailOn = fmt.Sprintf("nsenter -t %d -n ip addr add 10.88.0.3/24 dev eth0", cs[1].PID)
			f.FailStderr = "Error: ipv4: Address already assigned."
		}
		_, err := plan.ApplyAll(context.Background(), f, st, plans, mode)
		var me *plan.ManyError
		if !errors.As(err, &me) || me.Object != "attachment/br0-10.88.0.3" || me.Step != 5 || me.Objects != 3 || me.UndoErr != nil {
			t.Fatalf("mode %d: ApplyAll() = %v; want step 5 of attachment/br0-10.88.0.3 to fail, all rolled back", mode, err)
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("nsenter -t %d -n ip addr add 10.88.0.3/24 dev eth0: exit status 2: Error: ipv4: Address already assigned.", cs[1].PID)) ||
			!strings.Contains(err.Error(), "rolled back all 3 objects") {
			t.Errorf("error does not name the step and the rollback:\n%v", err)
		}
		if got := plan.Attachments(st, "br0"); len(got) != 0 {
			t.Errorf("mode %d: %d attachments kept after the rollback", mode, len(got))
		}
		if mode == plan.Each {
			var dels []string
			for _, c := range f.Calls {
				if strings.HasPrefix(c, "ip link del ") {
					dels = append(dels, c)
				}
			}
			if want := []string{"ip link del veth0a580004", "ip link del veth0a580003", "ip link del veth0a580002"}; !cmp.Equal(want, dels) {
				t.Errorf("each mode: undos %q; want %q", dels, want)
			}
			continue
		}
		last := len(f.Calls) - 1
		if f.Calls[last] != "ip -force -batch -" || f.Calls[last-1] != "ip -j link show" {
			t.Fatalf("rollback processes: %q", f.Calls[last-1:])
		}
		want := "link set dev veth0a580004 group 20556\nlink set dev veth0a580003 group 20556\nlink set dev veth0a580002 group 20556\nlink del group 20556\n"
		if diff := cmp.Diff(want, f.Stdins[last]); diff != "" {
			t.Errorf("group deletion (-want +got):\n%s", diff)
		}
	}
}

// TestApplyAllCrash: the journals are written before anything runs, so a
// crash part-way leaves every object for `plumb recover`.
func TestApplyAllCrash(t *testing.T) {
	st := plan.NewStore(t.TempDir())
	cs := plantest.Containers(t, 2)
	plans := attachMany(t, st, cs)
	f := &plantest.FakeRunner{CrashOn: "ip -batch -"}
	func() {
		defer func() {
			if _, ok := recover().(plantest.Crash); !ok {
				t.Fatal("no crash")
			}
		}()
		plan.ApplyAll(context.Background(), f, st, plans, plan.Batch)
	}()
	if n := len(plan.Interrupted(st)); n != 2 {
		t.Fatalf("%d interrupted objects; want 2", n)
	}
	f = &plantest.FakeRunner{}
	done, err := plan.Recover(context.Background(), f, st)
	if err != nil || len(done) != 2 {
		t.Fatalf("Recover() = %v, %v", done, err)
	}
	if want := []string{"ip link del veth0a580002", "ip link del veth0a580003"}; !cmp.Equal(want, f.Calls) {
		t.Errorf("recover ran %q; want %q", f.Calls, want)
	}
}

// TestDownAllGroup: each object learns its own outcome from the one
// process: gone counts as done; another failure keeps that journal only.
func TestDownAllGroup(t *testing.T) {
	cases := []struct {
		name, stderr string
		kept         []string
	}{
		{"all deleted", "", nil},
		{"one already gone", "Cannot find device \"veth0a580003\"\nCommand failed -:2", nil},
		{"all gone", "Cannot find device \"veth0a580004\"\nCommand failed -:1\nCannot find device \"veth0a580003\"\nCommand failed -:2\n" +
			"Cannot find device \"veth0a580002\"\nCommand failed -:3\nRTNETLINK answers: No such device\nCommand failed -:4", nil},
		{"one refused", "RTNETLINK answers: Operation not permitted\nCommand failed -:1", []string{"attachment/br0-10.88.0.4"}},
		{"group not deleted", "RTNETLINK answers: Device or resource busy\nCommand failed -:4",
			[]string{"attachment/br0-10.88.0.2", "attachment/br0-10.88.0.3", "attachment/br0-10.88.0.4"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := plan.NewStore(t.TempDir())
			plans := attachMany(t, st, plantest.Containers(t, 3))
			recs, err := plan.ApplyAll(context.Background(), &plantest.FakeRunner{}, st, plans, plan.Batch)
			if err != nil {
				t.Fatal(err)
			}
			f := &plantest.FakeRunner{}
			if tc.stderr != "" {
				f.FailOn, f.FailStderr = "ip -force -batch -", tc.stderr
			}
			ran, err := plan.UnwindAll(context.Background(), f, st, recs, plan.Batch)
			if len(ran) != 3 {
				t.Errorf("undos reported: %q", ran)
			}
			var kept []string
			for _, r := range plan.Attachments(st, "br0") {
				kept = append(kept, r.ID())
				if r.State != plan.StateUndoFailed {
					t.Errorf("%s kept in state %s", r.ID(), r.State)
				}
			}
			if !cmp.Equal(tc.kept, kept) {
				t.Errorf("kept %q; want %q", kept, tc.kept)
			}
			if (err != nil) != (len(tc.kept) > 0) {
				t.Errorf("unwindAll() error = %v", err)
			}
		})
	}
}

func TestAttachAllRefuses(t *testing.T) {
	st := plan.NewStore(t.TempDir())
	br := bridgeUp(t, st, "10.88.0.0/24")
	c := plantest.Containers(t, 1)[0]
	var r *plan.Refused
	err := (&AttachCall{List: []*Attach{{Target: c, If: "eth0"}, {Target: c, If: "eth0"}}}).Check()
	if !errors.As(err, &r) || !strings.Contains(r.Msg, "given twice") {
		t.Errorf("same container twice: %v", err)
	}
	err = (&AttachCall{List: []*Attach{{Target: c, If: "eth0", Publish: []plan.Port{{Host: 8080, Container: 80, Proto: "tcp"}}}, {Target: plantest.SelfTarget(), If: "eth0"}}}).Check()
	if !errors.As(err, &r) || r.Flag != "publish" {
		t.Errorf("publish with many: %v", err)
	}
	// Addresses run out across the call, not only across journals.
	var as []*Attach
	br.Subnet = netip.MustParsePrefix("10.88.0.0/29")
	for _, c := range plantest.Containers(t, 7) {
		as = append(as, &Attach{Network: br, Target: c, If: "eth0"})
	}
	if _, err := attachAll(st, as); !errors.As(err, &r) || !strings.Contains(r.Msg, "is full") {
		t.Errorf("7 containers on a /29: %v", err)
	}
}

func TestBatchLineErrors(t *testing.T) {
	got := actions.FailedLines("Cannot find device \"a\"\nCommand failed -:2\nRTNETLINK answers: No such device\nCommand failed -:5\n")
	want := map[int]string{2: `Cannot find device "a"`, 5: "RTNETLINK answers: No such device"}
	if !cmp.Equal(want, got) {
		t.Errorf("actions.FailedLines() = %v; want %v", got, want)
	}
}

// TestApplyAllWaves: past waveSize plans, waves overlap; every plan still
// runs its steps in order, and a failure in a later wave rolls back all.
func TestApplyAllWaves(t *testing.T) {
	st := plan.NewStore(t.TempDir())
	cs := plantest.Containers(t, 2*plan.WaveSize+10)
	plans, as := attachManyOf(t, st, cs)
	f := &plantest.FakeRunner{}
	if _, err := plan.ApplyAll(context.Background(), f, st, plans, plan.Batch); err != nil {
		t.Fatal(err)
	}
	hostBatches, containerBatches := 0, 0
	for i, c := range f.Calls {
		switch {
		case c == "ip -batch -":
			hostBatches++
			if n := strings.Count(f.Stdins[i], "\n"); n != 3*plan.WaveSize && n != 3*10 {
				t.Errorf("a host batch of %d lines", n)
			}
		case strings.HasSuffix(c, " -n ip -batch -"):
			containerBatches++
		}
	}
	if hostBatches != 3 || containerBatches != len(cs) {
		t.Errorf("%d host batches and %d container batches; want 3 and %d", hostBatches, containerBatches, len(cs))
	}
	for _, r := range plan.Attachments(st, "br0") {
		if r.State != plan.StateUp {
			t.Errorf("%s is %s", r.ID(), r.State)
		}
	}
	recs := plan.Attachments(st, "br0")
	var full []*plan.Record
	for _, h := range recs {
		r, _ := st.Load(h.Kind, h.Name)
		full = append(full, r)
	}
	if _, err := plan.UnwindAll(context.Background(), &plantest.FakeRunner{}, st, full, plan.Batch); err != nil {
		t.Fatal(err)
	}

	// A container of the second wave fails: all 60 are rolled back.
	plans, err := attachAll(st, as)
	if err != nil {
		t.Fatal(err)
	}
	f = &plantest.FakeRunner{FailOn: fmt.Sprintf("nsenter -t %d -n ip -batch -", cs[plan.WaveSize+3].PID), FailStderr: "Command failed -:1"}
	_, err = plan.ApplyAll(context.Background(), f, st, plans, plan.Batch)
	var me *plan.ManyError
	if !errors.As(err, &me) || me.Step != 4 || me.UndoErr != nil || me.Objects != len(cs) {
		t.Fatalf("ApplyAll() = %v", err)
	}
	if got := plan.Attachments(st, "br0"); len(got) != 0 {
		t.Errorf("%d attachments kept after rolling back all", len(got))
	}
}
