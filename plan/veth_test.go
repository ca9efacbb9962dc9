package plan

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"plumb/actions"
	"plumb/plan/plantest"
)

func docVeth() *Veth {
	return &Veth{
		Target: actions.Netns{PID: 4242},
		HostIf: "veth-host", ContIf: "veth-container",
		Subnet: netip.MustParsePrefix("10.200.0.0/24"),
		HostIP: netip.MustParseAddr("10.200.0.1"), ContIP: netip.MustParseAddr("10.200.0.2"),
		Uplink: "eth0",
	}
}

// docCommands is the document's steps 3–11 with its variables.
var docCommands = []string{
	"ip link add veth-host type veth peer name veth-container",
	"ip link set veth-container netns 4242",
	"ip addr add 10.200.0.1/24 dev veth-host",
	"ip link set veth-host up",
	"nsenter -t 4242 -n ip addr add 10.200.0.2/24 dev veth-container",
	"nsenter -t 4242 -n ip link set veth-container up",
	"nsenter -t 4242 -n ip link set lo up",
	"nsenter -t 4242 -n ip route add default via 10.200.0.1",
	"sysctl -w net.ipv4.ip_forward=1",
	"iptables -A FORWARD -i veth-host -o eth0 -j ACCEPT",
	"iptables -A FORWARD -i eth0 -o veth-host -m state --state RELATED,ESTABLISHED -j ACCEPT",
	"iptables -t nat -A POSTROUTING -s 10.200.0.0/24 -o eth0 -j MASQUERADE",
}

func lines(p *Plan) []string {
	var out []string
	for _, s := range p.Steps {
		out = append(out, actions.Quote(s.Action.Argv()))
	}
	return out
}

func TestVethPlan(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Veth)
		want []string
	}{
		{"document", func(*Veth) {}, docCommands},
		{"no nat", func(v *Veth) { v.NoNAT = true; v.Uplink = "" }, docCommands[:8]},
		{"named netns", func(v *Veth) { v.Target = actions.Netns{Name: "ctr"}; v.NoNAT = true }, []string{
			"ip link add veth-host type veth peer name veth-container",
			"ip link set veth-container netns ctr",
			"ip addr add 10.200.0.1/24 dev veth-host",
			"ip link set veth-host up",
			"ip -n ctr addr add 10.200.0.2/24 dev veth-container",
			"ip -n ctr link set veth-container up",
			"ip -n ctr link set lo up",
			"ip -n ctr route add default via 10.200.0.1",
		}},
		{"custom", func(v *Veth) {
			v.HostIf, v.ContIf, v.Uplink = "h0", "c0", "up0"
			v.Subnet = netip.MustParsePrefix("198.51.100.0/30")
			v.HostIP, v.ContIP = netip.MustParseAddr("198.51.100.2"), netip.MustParseAddr("198.51.100.1")
		}, []string{
			"ip link add h0 type veth peer name c0",
			"ip link set c0 netns 4242",
			"ip addr add 198.51.100.2/30 dev h0",
			"ip link set h0 up",
			"nsenter -t 4242 -n ip addr add 198.51.100.1/30 dev c0",
			"nsenter -t 4242 -n ip link set c0 up",
			"nsenter -t 4242 -n ip link set lo up",
			"nsenter -t 4242 -n ip route add default via 198.51.100.2",
			"sysctl -w net.ipv4.ip_forward=1",
			"iptables -A FORWARD -i h0 -o up0 -j ACCEPT",
			"iptables -A FORWARD -i up0 -o h0 -m state --state RELATED,ESTABLISHED -j ACCEPT",
			"iptables -t nat -A POSTROUTING -s 198.51.100.0/30 -o up0 -j MASQUERADE",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := docVeth()
			tt.edit(v)
			if err := v.Check(); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, lines(plantest.Must(v.plan()))); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVethCheck(t *testing.T) {
	tests := []struct {
		name, flag, msg string
		edit            func(*Veth)
	}{
		{"no target", "", "--pid PID or --netns NAME", func(v *Veth) { v.Target = actions.Netns{} }},
		{"ipv6 link-local", "subnet", "link-local", func(v *Veth) { v.Subnet = netip.MustParsePrefix("fe80::/64") }},
		{"ipv6 with IPv4 ends", "host-ip", "outside the subnet fd00::/64", func(v *Veth) { v.Subnet = netip.MustParsePrefix("fd00::/64") }},
		{"ipv6 nat on IPv4", "ipv6-nat", "no IPv6 subnet", func(v *Veth) { v.NAT6 = true }},
		{"host bits", "subnet", "host bits set; the subnet is 10.200.0.0/24", func(v *Veth) { v.Subnet = netip.MustParsePrefix("10.200.0.7/24") }},
		{"too small", "subnet", "no room for two hosts", func(v *Veth) {
			v.Subnet = netip.MustParsePrefix("10.200.0.0/31")
		}},
		{"host outside", "host-ip", "outside the subnet", func(v *Veth) { v.HostIP = netip.MustParseAddr("10.201.0.1") }},
		{"cont network", "cont-ip", "network address", func(v *Veth) { v.ContIP = netip.MustParseAddr("10.200.0.0") }},
		{"host broadcast", "host-ip", "broadcast address", func(v *Veth) { v.HostIP = netip.MustParseAddr("10.200.0.255") }},
		{"same ip", "cont-ip", "also the host's address", func(v *Veth) { v.ContIP = v.HostIP }},
		{"same name", "cont-if", "also the host end's name", func(v *Veth) { v.ContIf = v.HostIf }},
		{"uplink is pair", "uplink", "one of the veth pair's own ends", func(v *Veth) { v.Uplink = v.HostIf }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := docVeth()
			tt.edit(v)
			err := v.Check()
			var r *Refused
			if !errors.As(err, &r) {
				t.Fatalf("Check() = %v, want a refusal", err)
			}
			if r.Flag != tt.flag || !strings.Contains(r.Msg, tt.msg) {
				t.Errorf("Check() = --%s: %s; want --%s: ...%s...", r.Flag, r.Msg, tt.flag, tt.msg)
			}
		})
	}
}

func TestFindUplink(t *testing.T) {
	v := docVeth()
	v.Uplink = ""
	up, err := v.FindUplink(context.Background(), &plantest.FakeRunner{})
	if err != nil {
		t.Fatal(err)
	}
	if up != "eth0" {
		t.Errorf("uplink = %q, want eth0 from the default route", up)
	}
	if v.Uplink != "" {
		t.Errorf("FindUplink wrote the recipe's uplink: %q", v.Uplink)
	}
}

// selfTarget is a namespace that exists for the whole test: our own process.
func selfTarget() actions.Netns { return actions.Netns{PID: os.Getpid()} }

func selfVeth() *Veth {
	v := docVeth()
	v.Target = selfTarget()
	return v
}

// TestRollbackAtEachStep fails each step in turn and checks the commands
// run: the steps up to the failure, then the undos of those done, reversed.
func TestRollbackAtEachStep(t *testing.T) {
	p := plantest.Must(selfVeth().plan())
	cmds := lines(p)
	undos := map[int]string{ // step index (0-based) -> its undo
		0:  "ip link del veth-host",
		8:  "sysctl -w net.ipv4.ip_forward=0",
		9:  "iptables -D FORWARD -i veth-host -o eth0 -j ACCEPT",
		10: "iptables -D FORWARD -i eth0 -o veth-host -m state --state RELATED,ESTABLISHED -j ACCEPT",
		11: "iptables -t nat -D POSTROUTING -s 10.200.0.0/24 -o eth0 -j MASQUERADE",
	}
	for k := range cmds {
		t.Run(cmds[k], func(t *testing.T) {
			st := NewStore(t.TempDir())
			f := &plantest.FakeRunner{FailOn: cmds[k]}
			_, err := Apply(context.Background(), f, st, p, Each)
			var ae *ApplyError
			if !errors.As(err, &ae) || ae.Step != k+1 || ae.UndoErr != nil {
				t.Fatalf("Apply() = %v; want step %d to fail and roll back cleanly", err, k+1)
			}
			var want []string
			for i := 0; i <= k; i++ {
				if i == 8 {
					want = append(want, "sysctl -n net.ipv4.ip_forward")
				}
				want = append(want, cmds[i])
			}
			for i := k; i >= 0; i-- {
				// A failed step may have done part of its work, so it is
				// undone too, unless it failed because what it makes was
				// there before: the stand-in's "File exists" for step 1.
				if u, ok := undos[i]; ok && (i < k || i == k && k != 0) {
					want = append(want, u)
				}
			}
			if diff := cmp.Diff(want, f.Calls); diff != "" {
				t.Errorf("commands run (-want +got):\n%s", diff)
			}
			assertEmptyStore(t, st)
		})
	}
}

func assertEmptyStore(t *testing.T, st *Store) {
	t.Helper()
	recs, errs := st.List()
	if len(recs) != 0 || len(errs) != 0 {
		t.Errorf("store keeps %d records (%v) after a complete rollback", len(recs), errs)
	}
	if _, err := os.Stat(st.ledger()); !os.IsNotExist(err) {
		t.Errorf("shared ledger left behind: %v", err)
	}
}

func TestUndoFailureIsKeptAndRetried(t *testing.T) {
	st := NewStore(t.TempDir())
	p := plantest.Must(selfVeth().plan())
	f := &plantest.FakeRunner{FailOn: "ip link set veth-host up"}
	// Make the undo fail too, with an error that is not "already gone".
	f2 := &undoFailer{FakeRunner: f, undo: "ip link del veth-host"}
	_, err := Apply(context.Background(), f2, st, p, Each)
	var ae *ApplyError
	if !errors.As(err, &ae) || ae.UndoErr == nil {
		t.Fatalf("Apply() = %v; want a failed undo reported", err)
	}
	if !strings.Contains(err.Error(), "plumb recover") {
		t.Errorf("error does not point to recover: %v", err)
	}
	rec, err := st.Load("veth", "veth-host")
	if err != nil || rec.State != StateUndoFailed {
		t.Fatalf("journal after failed undo: %v, %v", rec, err)
	}
	// The undo now works: recover finishes, and a second recover does nothing.
	f3 := &plantest.FakeRunner{}
	got, err := Recover(context.Background(), f3, st)
	if err != nil || len(got) != 1 {
		t.Fatalf("Recover() = %v, %v", got, err)
	}
	if diff := cmp.Diff([]string{"ip link del veth-host"}, f3.Calls); diff != "" {
		t.Errorf("recover ran (-want +got):\n%s", diff)
	}
	f4 := &plantest.FakeRunner{}
	if got, err := Recover(context.Background(), f4, st); err != nil || len(got) != 0 || len(f4.Calls) != 0 {
		t.Errorf("second Recover() = %v, %v, ran %v; want nothing", got, err, f4.Calls)
	}
	assertEmptyStore(t, st)
}

type undoFailer struct {
	*plantest.FakeRunner
	undo string
}

func (u *undoFailer) Run(ctx context.Context, argv []string, stdin []byte) ([]byte, error) {
	if actions.Quote(argv) == u.undo {
		u.Calls = append(u.Calls, u.undo)
		return nil, &actions.ExecError{Argv: argv, Code: 2, Stderr: "RTNETLINK answers: Operation not permitted"}
	}
	return u.FakeRunner.Run(ctx, argv, stdin)
}

func TestUndoOfWhatIsGoneSucceeds(t *testing.T) {
	st := NewStore(t.TempDir())
	p := plantest.Must(selfVeth().plan())
	if _, err := Apply(context.Background(), &plantest.FakeRunner{}, st, p, Each); err != nil {
		t.Fatal(err)
	}
	rec, _ := st.Load("veth", "veth-host")
	f := &plantest.FakeRunner{FailOn: "ip link del veth-host", FailStderr: `Cannot find device "veth-host"`}
	if _, err := Unwind(context.Background(), f, st, rec); err != nil {
		t.Fatalf("unwind() with the link already gone = %v", err)
	}
	assertEmptyStore(t, st)
}

// TestCrashThenRecover kills apply (a panic stands in for SIGKILL) while
// each step runs: the step is journaled as started, and recover undoes it
// along with those before it.
func TestCrashThenRecover(t *testing.T) {
	p := plantest.Must(selfVeth().plan())
	cmds := lines(p)
	for k := range cmds {
		t.Run(cmds[k], func(t *testing.T) {
			st := NewStore(t.TempDir())
			func() {
				defer func() {
					if r := recover(); r != nil {
						if _, ok := r.(plantest.Crash); !ok {
							panic(r)
						}
					}
				}()
				_, _ = Apply(context.Background(), &plantest.FakeRunner{CrashOn: cmds[k]}, st, p, Each)
				t.Fatal("apply did not crash")
			}()
			rec, err := st.Load("veth", "veth-host")
			if err != nil || rec.State != StateApplying || rec.Steps[k].Status != Started {
				t.Fatalf("journal after crash at step %d: %+v, %v", k+1, rec, err)
			}
			f := &plantest.FakeRunner{}
			if _, err := Recover(context.Background(), f, st); err != nil {
				t.Fatal(err)
			}
			if len(f.Calls) == 0 || f.Calls[len(f.Calls)-1] != "ip link del veth-host" {
				t.Errorf("recover ran %v; want it to end deleting the link", f.Calls)
			}
			if k >= 9 && !contains(f.Calls, actions.Quote(p.Steps[k].Action.Undo().Argv())) {
				t.Errorf("recover ran %v; want the undo of the step that was running", f.Calls)
			}
			assertEmptyStore(t, st)
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestSharedSysctl: forwarding is restored only when the last object that
// needed it goes, and never when plumb found it already on.
func TestSharedSysctl(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		original string
		want     []string // commands run by the second down
	}{
		{"plumb turned it on", "0", []string{"sysctl -w net.ipv4.ip_forward=0"}},
		{"it was on already", "1", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := NewStore(t.TempDir())
			a, b := selfVeth(), selfVeth()
			b.HostIf, b.ContIf, b.Subnet = "vh2", "vc2", netip.MustParsePrefix("10.201.0.0/24")
			b.HostIP, b.ContIP = netip.MustParseAddr("10.201.0.1"), netip.MustParseAddr("10.201.0.2")
			if _, err := Apply(ctx, &plantest.FakeRunner{Sysctl: tt.original}, st, plantest.Must(a.plan()), Each); err != nil {
				t.Fatal(err)
			}
			// By now forwarding is on, whatever it was.
			if _, err := Apply(ctx, &plantest.FakeRunner{Sysctl: "1"}, st, plantest.Must(b.plan()), Each); err != nil {
				t.Fatal(err)
			}
			recA, _ := st.Load("veth", "veth-host")
			f := &plantest.FakeRunner{}
			if _, err := Unwind(ctx, f, st, recA); err != nil {
				t.Fatal(err)
			}
			if contains(f.Calls, "sysctl -w net.ipv4.ip_forward=0") {
				t.Errorf("first down restored forwarding while vh2 still needs it: %v", f.Calls)
			}
			recB, _ := st.Load("veth", "vh2")
			undos, _ := undoPlan(st, recB)
			f = &plantest.FakeRunner{}
			if _, err := Unwind(ctx, f, st, recB); err != nil {
				t.Fatal(err)
			}
			var sys []string
			for _, c := range f.Calls {
				if strings.HasPrefix(c, "sysctl") {
					sys = append(sys, c)
				}
			}
			if diff := cmp.Diff(tt.want, sys); diff != "" {
				t.Errorf("last down's sysctl commands (-want +got):\n%s", diff)
			}
			var planned []string
			for _, u := range undos {
				planned = append(planned, actions.Quote(u.Argv()))
			}
			if diff := cmp.Diff(planned, f.Calls); diff != "" {
				t.Errorf("down --dry-run differs from what down ran (-dry +ran):\n%s", diff)
			}
			assertEmptyStore(t, st)
		})
	}
}

func TestCorruptJournalIsNeverUndone(t *testing.T) {
	ctx := context.Background()
	good := func(t *testing.T) (*Store, string) {
		st := NewStore(t.TempDir())
		if _, err := Apply(ctx, &plantest.FakeRunner{}, st, plantest.Must(selfVeth().plan()), Each); err != nil {
			t.Fatal(err)
		}
		return st, filepath.Join(st.Dir, "objects", "veth", "veth-host.json")
	}
	edits := map[string]func(string) string{
		"truncated":      func(s string) string { return s[:len(s)/2] },
		"future version": func(s string) string { return strings.Replace(s, `"format_version": 1`, `"format_version": 9`, 1) },
		"edited command": func(s string) string {
			return strings.Replace(s, `"ip",
          "link",
          "del",
          "veth-host"`, `"ip",
          "link",
          "del",
          "eth0"`, 1)
		},
		"unknown state": func(s string) string { return strings.Replace(s, `"state": "up"`, `"state": "sideways"`, 1) },
		"empty":         func(string) string { return "" },
	}
	for name, edit := range edits {
		t.Run(name, func(t *testing.T) {
			st, path := good(t)
			data, _ := os.ReadFile(path)
			edited := edit(string(data))
			if edited == string(data) {
				t.Fatal("edit changed nothing; the test would prove nothing")
			}
			os.WriteFile(path, []byte(edited), 0o600)
			_, err := st.Load("veth", "veth-host")
			var ce *CorruptError
			if !errors.As(err, &ce) || ce.Path != path {
				t.Fatalf("Load() = %v; want a CorruptError naming %s", err, path)
			}
			f := &plantest.FakeRunner{}
			if _, err := Recover(ctx, f, st); err == nil || len(f.Calls) != 0 {
				t.Errorf("Recover() = %v and ran %v; want an error and nothing run", err, f.Calls)
			}
		})
	}
}

func TestTargetChangedStopsApply(t *testing.T) {
	// A target whose namespace differs from the one recorded: apply must stop
	// before entering it. Point the plan at ourselves, then fake the record.
	st := NewStore(t.TempDir())
	v := selfVeth()
	p := plantest.Must(v.plan())
	f := &plantest.FakeRunner{}
	rec := &Record{TargetID: "0:0", Steps: make([]StepRecord, len(p.Steps))}
	x := &executor{ctx: context.Background(), r: f, st: st, plans: []*Plan{p}, recs: []*Record{rec}}
	fail := x.run(&unit{refs: []stepRef{{0, 4}}})
	if fail == nil || !strings.Contains(fail.err.Error(), "changed since plumb started") {
		t.Fatalf("a step into a changed namespace = %v", fail)
	}
	if len(f.Calls) != 0 {
		t.Errorf("ran %v", f.Calls)
	}
}
