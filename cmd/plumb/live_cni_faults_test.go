package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// cniFaultConf is the network of the CNI fault matrix: cniConflist's
// plugin, as a runtime hands it to the plugin (one config, no list).
const cniFaultConf = `{"cniVersion": "1.1.0", "name": "plumbnet", "type": "plumb",
  "bridge": "cni0", "isGateway": true, "isDefaultGateway": true, "ipMasq": true, "hairpinMode": true,
  "ipam": {"type": "host-local",
    "ranges": [[{"subnet": "10.88.0.0/24", "rangeStart": "10.88.0.10", "rangeEnd": "10.88.0.99"}]],
    "routes": [{"dst": "0.0.0.0/0"}]},
  "dns": {"nameservers": ["10.88.0.1"]}%s}`

// cniPorts is what a runtime inserts for the portMappings capability.
const cniPorts = `,
  "runtimeConfig": {"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"},
    {"hostPort": 5353, "containerPort": 53, "protocol": "udp"}]}`

// cniCall is one call of the plugin: the CNI environment and the config.
type cniFaultCall struct {
	command, containerID, netns, conf string
}

func (c cniFaultCall) env() []string {
	return []string{"CNI_COMMAND=" + c.command, "CNI_CONTAINERID=" + c.containerID, "CNI_NETNS=" + c.netns, "CNI_IFNAME=eth0"}
}

// TestLiveCNIFaults is the fault matrix of plumb as a CNI plugin, run as a
// runtime runs it (the plumb binary, CNI_COMMAND and the rest in its
// environment, the config on stdin), with the fault wrapper in front of
// every tool it runs, for (a) the first ADD of a network, which makes the
// bridge too, (b) an ADD onto a bridge with a container on it already and
// two published ports (runtimeConfig portMappings), and (c) DEL of such an
// attachment. At every step of each plan (as `plumb cni plan` lists it):
// the step fails; it does its work and then fails; plumb gets SIGINT or
// SIGTERM while it runs; plumb is SIGKILLed just before it, just after it,
// and during the rollback of a failure there.
//
// ADD: a call that was not killed printed a CNI error on stdout, with code
// 101, and nothing else; one that was killed printed nothing. A killed ADD
// is cleaned up twice over: by `plumb recover` then DEL, and by DEL alone
// (a runtime knows nothing of recover; it calls DEL after a failed ADD).
// After either, the namespace (links, addresses, routes, iptables-save,
// ip_forward, the mount table) and the container's namespace are as before
// the ADD, the state directory keeps the same journals (none of that
// attachment), `plumb status` is as before, a DEL again succeeds, and a
// second recover does nothing.
//
// DEL: the attachment is made for real first; then DEL under the fault,
// then (killed) `plumb recover` and DEL, or DEL alone, and DEL once more:
// each DEL after the faulty one succeeds, and everything is as before the
// ADD.
//
// With each back end, chosen by the config's ipMasqBackend. With nftables
// the matrix runs every fault at the nft steps of (a) and (b) (the table,
// each port's element) and at every step of (c), whose undos are nft's;
// the other steps are the iptables run's, which has them all.
//
// (a), (b) and (c) run as subtests of their own, in namespaces of their
// own, side by side; (b) and (c) attach the first container first.
func TestLiveCNIFaults(t *testing.T) {
	forCNIFirewalls(t, func(t *testing.T, fw string) {
		for _, part := range []string{"first-ADD", "ADD-onto-a-bridge", "DEL"} {
			// iptables's first ADD has 216 cases, its ADD onto a bridge 117.
			n := map[string]int{"first-ADD": 4, "ADD-onto-a-bridge": 2, "DEL": 1}[part]
			if fw != "iptables" {
				n = 1
			}
			t.Run(part, func(t *testing.T) {
				t.Parallel()
				inShares(t, n, func(t *testing.T, s *share) { testLiveCNIFaults(t, fw, part, s) })
			})
		}
	})
}

func testLiveCNIFaults(t *testing.T, fw, part string, share *share) {
	if !isolateWorld(t) {
		return
	}
	start := time.Now()
	self, err := exec.LookPath("plumb")
	if err != nil {
		t.Fatal(err)
	}
	backend := ""
	if fw != "iptables" {
		backend = `, "ipMasqBackend": "` + fw + `"`
	}
	plain := fmt.Sprintf(cniFaultConf, backend)
	ports := fmt.Sprintf(cniFaultConf, backend+cniPorts)
	// The container's namespace, its loopback up as the runtime's loopback
	// plugin leaves it (plumb brings lo up and leaves it up: others in the
	// namespace may rely on it), and one for a container attached first.
	for _, c := range []string{"ip netns add c0", "ip -n c0 link set lo up", "ip netns add w0"} {
		sh(t, strings.Fields(c)...)
	}
	faults := faultEnv(t)
	marker := filepath.Join(t.TempDir(), "failed")
	confDir := t.TempDir()

	// call runs the plugin as a runtime does; stdout and stderr apart.
	call := func(c cniFaultCall, extra ...string) (stdout, stderr string, err error) {
		cmd := exec.Command(self)
		cmd.Env = append(append(append(os.Environ(), "CNI_PATH="+filepath.Dir(self)), c.env()...), extra...)
		cmd.Stdin = strings.NewReader(c.conf)
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err = cmd.Run()
		return o.String(), e.String(), err
	}
	mustCall := func(label string, c cniFaultCall) {
		t.Helper()
		out, errOut, err := call(c)
		if err != nil {
			t.Fatalf("%s: %s %s: %v\nstdout:\n%s\nstderr:\n%s", label, c.command, c.containerID, err, out, errOut)
		}
	}
	// plan is `plumb cni plan -o json` of the same call: its steps, and
	// the objects it makes (kind/name).
	plan := func(c cniFaultCall) (steps, objects []string) {
		t.Helper()
		conf := filepath.Join(confDir, c.containerID+".json")
		write(t, conf, c.conf)
		out, err := plumb(t, append(c.env(), "PLUMB_LOG_LEVEL=error"), "cni", "plan", "-o", "json", "--config", conf)
		if err != nil {
			t.Fatalf("plumb cni plan: %v\n%s", err, out)
		}
		type onePlan struct {
			Object struct{ Kind, Name string }
			Steps  []struct {
				Argv  []string
				Input string
			}
		}
		var doc struct {
			onePlan
			Plans []onePlan
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("plumb cni plan -o json: %v\n%s", err, out)
		}
		if len(doc.Plans) == 0 {
			doc.Plans = []onePlan{doc.onePlan}
		}
		for _, p := range doc.Plans {
			objects = append(objects, p.Object.Kind+"/"+p.Object.Name)
			for _, st := range p.Steps {
				// As failwrap.sh sees the step: its words joined by
				// spaces, unquoted (nft delete element ... '{ tcp .
				// 8080 }' is quoted as a command), and a step fed its
				// input (nft -f -) with the input's first line.
				step := strings.Join(st.Argv, " ")
				if first, _, _ := strings.Cut(st.Input, "\n"); first != "" {
					step += " " + first
				}
				steps = append(steps, step)
			}
		}
		return steps, objects
	}
	// state is everything a case must restore: this namespace, the
	// container's, the mount table; settled as one.
	state := func() string {
		mi, err := os.ReadFile("/proc/self/mountinfo")
		if err != nil {
			t.Fatal(err)
		}
		return netState(t, "") + "# the container's namespace\n" + netState(t, "/run/netns/c0") + "# mountinfo\n" + string(mi)
	}

	ran, restored, bridgeLeft := 0, 0, 0
	// check says what a case left that differs from before: before, status
	// and journals as they were before the ADD (for DEL: before the ADD that
	// made what DEL removes); "" when nothing does. clean: plumb rolled back
	// by itself, or DEL did recover's work: recover finds nothing.
	check := func(said string, clean, full bool, before, status, journals string) string {
		t.Helper()
		rec, err := plumb(t, nil, "recover")
		if err != nil {
			return fmt.Sprintf("recover failed: %v\n%s", err, rec)
		}
		if clean && !strings.Contains(rec, "nothing to recover") {
			return fmt.Sprintf("plumb left work to recover:\n%s\nplumb said:\n%s", rec, said)
		}
		if got := mustPlumb(t, "status"); got != status {
			return fmt.Sprintf("plumb status differs:\n%s\nwant:\n%s\nplumb said:\n%s", got, status, said)
		}
		if got := cniJournals(t); got != journals {
			return fmt.Sprintf("the journals differ:\n%s\nwant:\n%s", got, journals)
		}
		if !full {
			return ""
		}
		if after := state(); after != before {
			return fmt.Sprintf("the namespaces differ from before (-before +after):\n%s\nplumb said:\n%s", cmp.Diff(before, after), said)
		}
		return ""
	}

	// reset leaves nothing of a failed case for the next: recover, DEL of
	// the cases' containers, and the bridge when the ADD was the first.
	reset := func(bridge bool) {
		plumb(t, nil, "recover")
		for _, id := range []string{"ctr-first", "ctr-ports"} {
			call(cniFaultCall{"DEL", id, "/run/netns/c0", plain})
		}
		if bridge {
			plumb(t, nil, "down", "cni0")
		}
	}

	// addMatrix runs the ADD cases of one call at every step of its plan.
	addMatrix := func(name string, add cniFaultCall, firstADD bool) {
		before, status, journals := state(), mustPlumb(t, "status"), cniJournals(t)
		steps, objects := plan(add)
		if len(objects) == 0 {
			t.Fatalf("%s: cni plan lists no object", name)
		}
		attachment := objects[len(objects)-1]
		if firstADD != (len(objects) == 2) || !strings.HasPrefix(attachment, "attachment/") {
			t.Fatalf("%s: cni plan names %v", name, objects)
		}
		del := add
		del.command = "DEL"
		for k, step := range steps {
			if fw != "iptables" && !strings.HasPrefix(step, "nft ") {
				continue
			}
			for _, f := range faultsAt(k, step, marker) {
				// A killed ADD: recover then DEL, and DEL alone.
				cleanups := []string{""}
				if !f.clean {
					cleanups = []string{"recover, DEL", "DEL alone"}
				}
				for _, cleanup := range cleanups {
					if !share.mine() {
						continue
					}
					os.Remove(marker)
					ran++
					if !func() bool {
						label := fmt.Sprintf("%s, step %d/%d %s (%s)", name, k+1, len(steps), f.name, stepLabel(step))
						if cleanup != "" {
							label += ", then " + cleanup
						}
						out, errOut, err := call(add, append(append([]string{"PLUMB_EXEC=batch"}, faults...), f.env...)...)
						said := "stdout:\n" + out + "stderr:\n" + errOut
						if !answered(t, label, out, err, !f.clean, 101, said) {
							return false
						}
						if strings.Contains(f.name, "fails") && !strings.Contains(out, "injected failure") {
							t.Errorf("%s: the error does not carry the step's stderr:\n%s", label, out)
						}
						if cleanup == "DEL alone" {
							if o, e, err := call(del); err != nil || o != "" {
								t.Errorf("%s: DEL after a killed ADD: %v\nstdout:\n%s\nstderr:\n%s", label, err, o, e)
								return false
							}
						}
						if cleanup == "recover, DEL" {
							if rec, err := plumb(t, nil, "recover"); err != nil {
								t.Errorf("%s: recover failed: %v\n%s", label, err, rec)
								return false
							}
							if o, e, err := call(del); err != nil || o != "" {
								t.Errorf("%s: DEL after recover: %v\nstdout:\n%s\nstderr:\n%s", label, err, o, e)
								return false
							}
						}
						if problem := check(said, true, false, before, status, journals); problem != "" {
							// A first ADD killed once its bridge was up leaves the
							// bridge, whole: an object plumb keeps as if `plumb
							// bridge up` had made it, which the next ADD uses.
							if f.clean || !firstADD || !leftBridge(t, status) {
								t.Errorf("%s: %s", label, problem)
								return false
							}
							bridgeLeft++
							mustPlumb(t, "down", "cni0")
							if problem := check(said, true, false, before, status, journals); problem != "" {
								t.Errorf("%s, then plumb down cni0: %s", label, problem)
								return false
							}
						}
						if strings.Contains(cniJournals(t), attachment) {
							t.Errorf("%s: %s is still journaled", label, attachment)
							return false
						}
						// A DEL (again) of the same container and ifname succeeds
						// and changes nothing.
						if o, e, err := call(del); err != nil || o != "" {
							t.Errorf("%s: DEL: %v\nstdout:\n%s\nstderr:\n%s", label, err, o, e)
							return false
						}
						if problem := check(said, true, true, before, status, journals); problem != "" {
							t.Errorf("%s, then DEL again: %s", label, problem)
							return false
						}
						return true
					}() {
						reset(firstADD)
						continue
					}
					restored++
				}
			}
		}
	}

	// (a) The first ADD of the network: the bridge's plan, then the
	// attachment's.
	first := cniFaultCall{"ADD", "ctr-first", "/run/netns/c0", plain}
	if part == "first-ADD" {
		addMatrix("first ADD", first, true)
		t.Logf("cni fault matrix (%s, %s): %d cases ran, %d restored (%d of them after `plumb down cni0`: a first ADD killed once its bridge was up) (%s)",
			fw, part, ran, restored, bridgeLeft, time.Since(start).Round(time.Millisecond))
		if restored != ran {
			t.Errorf("%d of %d cases did not restore the namespaces", ran-restored, ran)
		}
		return
	}

	// (b) An ADD onto the bridge, with a container on it already (which
	// also warms the bridge: the first port to come up gives it a carrier
	// and an IPv6 link-local address that stay), and two published ports.
	mustCall("a container first", cniFaultCall{"ADD", "ctr-warm", "/run/netns/w0", plain})
	onBridge := cniFaultCall{"ADD", "ctr-ports", "/run/netns/c0", ports}
	if part == "ADD-onto-a-bridge" {
		addMatrix("ADD with portMappings onto a bridge", onBridge, false)
		t.Logf("cni fault matrix (%s, %s): %d cases ran, %d restored (%s)", fw, part, ran, restored, time.Since(start).Round(time.Millisecond))
		if restored != ran {
			t.Errorf("%d of %d cases did not restore the namespaces", ran-restored, ran)
		}
		return
	}

	// (c) DEL of that attachment.
	before, status, journals := state(), mustPlumb(t, "status"), cniJournals(t)
	del := onBridge
	del.command = "DEL"
	mustCall("the attachment to delete", onBridge)
	steps, _ := plan(del)
	mustCall("DEL for real", del)
	if want := map[string]int{"iptables": 6, "nftables": 4}[fw]; len(steps) != want {
		t.Fatalf("DEL's plan has %d steps, want %d (the four rules, or two elements, of two ports; the bridge's route_localnet, restored with its last publisher; the link):\n%s", len(steps), want, strings.Join(steps, "\n"))
	}
	for k, step := range steps {
		for _, f := range faultsAt(k, step, marker) {
			if strings.HasPrefix(f.name, "SIG") {
				// plumb lets an undo finish when a signal comes: the
				// wrapper returns the undo's status rather than wait.
				f.env = append(f.env, "SIGNAL_WAIT=0")
			}
			if f.name == "killed in rollback" && k == len(steps)-1 {
				// DEL goes on past a failed undo: no command follows the
				// last one's to be killed at, and DEL answers 103.
				f.clean = true
			}
			cleanups := []string{"DEL"}
			if !f.clean {
				cleanups = []string{"recover, DEL", "DEL alone"}
			}
			for _, cleanup := range cleanups {
				if !share.mine() {
					continue
				}
				os.Remove(marker)
				ran++
				label := fmt.Sprintf("DEL, step %d/%d %s (%s), then %s", k+1, len(steps), f.name, stepLabel(step), cleanup)
				mustCall(label+": the ADD", onBridge)
				out, errOut, err := call(del, append(append([]string{"PLUMB_EXEC=batch"}, faults...), f.env...)...)
				said := "stdout:\n" + out + "stderr:\n" + errOut
				switch {
				case !f.clean:
					if !answered(t, label, out, err, true, 0, said) {
						continue
					}
				case err != nil:
					// An undo failed: the journal keeps it for the next DEL.
					if !answered(t, label, out, err, false, 103, said) {
						continue
					}
				case out != "":
					t.Errorf("%s: DEL succeeded and printed:\n%s", label, out)
					continue
				}
				if cleanup == "recover, DEL" {
					if rec, err := plumb(t, nil, "recover"); err != nil {
						t.Errorf("%s: recover failed: %v\n%s", label, err, rec)
						continue
					}
				}
				ok := true
				for i := 0; i < 2 && ok; i++ {
					if o, e, err := call(del); err != nil || o != "" {
						t.Errorf("%s: DEL %d after: %v\nstdout:\n%s\nstderr:\n%s\nthe faulty DEL said:\n%s", label, i+1, err, o, e, said)
						ok = false
					}
				}
				if !ok {
					continue
				}
				if problem := check(said, true, true, before, status, journals); problem != "" {
					t.Errorf("%s: %s", label, problem)
					continue
				}
				restored++
			}
		}
	}

	t.Logf("cni fault matrix (%s, %s): %d cases ran, %d restored (%s)", fw, part, ran, restored, time.Since(start).Round(time.Millisecond))
	if restored != ran {
		t.Errorf("%d of %d cases did not restore the namespaces", ran-restored, ran)
	}
}

// answered checks how a faulty call ended: killed (no answer on stdout),
// or a CNI error on stdout with code want (0: any code) and exit status 1.
func answered(t *testing.T, label, out string, err error, killed bool, want uint, said string) bool {
	t.Helper()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Errorf("%s: the plugin did not fail: %v\n%s", label, err, said)
		return false
	}
	if killed {
		if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Errorf("%s: the plugin was not killed: %v\n%s", label, err, said)
			return false
		}
		if out != "" {
			t.Errorf("%s: a killed plugin printed:\n%s", label, out)
			return false
		}
		return true
	}
	var e struct {
		CNIVersion string `json:"cniVersion"`
		Code       uint   `json:"code"`
		Msg        string `json:"msg"`
	}
	if derr := json.Unmarshal([]byte(out), &e); derr != nil || e.Code == 0 || e.Msg == "" || ee.ExitCode() != 1 {
		t.Errorf("%s: want a CNI error on stdout and exit status 1; exit %d, stdout is not one (%v)\n%s", label, ee.ExitCode(), derr, said)
		return false
	}
	if want != 0 && e.Code != want {
		t.Errorf("%s: CNI error code %d, want %d\n%s", label, e.Code, want, said)
		return false
	}
	return true
}

// cniJournals lists the journals in the state directory, one a line.
func cniJournals(t *testing.T) string {
	t.Helper()
	m, err := filepath.Glob("/run/plumb/objects/*/*")
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(m)
	return strings.Join(m, "\n")
}

// leftBridge reports whether plumb keeps what it kept before (status) and
// bridge/cni0 besides, up, with nothing attached.
func leftBridge(t *testing.T, status string) bool {
	t.Helper()
	got := strings.Split(strings.TrimSpace(mustPlumb(t, "status")), "\n")
	want := strings.Split(strings.TrimSpace(status), "\n")
	if len(got) != len(want)+1 {
		return false
	}
	for _, l := range got[1:] {
		f := strings.Fields(l)
		if len(f) >= 3 && f[0] == "bridge" && f[1] == "cni0" && f[2] == "up" {
			return regexp.MustCompile(`(?m)^cni0 .* 0$`).MatchString(mustPlumb(t, "bridge", "ls"))
		}
	}
	return false
}
