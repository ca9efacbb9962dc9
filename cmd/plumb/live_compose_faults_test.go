package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// faultProject is the fault matrix's project: three services on one
// network, one publishing a port; v2 changes b's command.
const faultProject = `name: f
services:
  a:
    image: plumb-demo/busybox:1
    command: [sleep, "600"]
  b:
    image: plumb-demo/busybox:1
    command: [sleep, "%s"]
    depends_on: [a]
  c:
    image: plumb-demo/busybox:1
    command: [httpd, -f, -p, "80"]
    ports: ["8080:80"]
`

// composeStride is how sparsely this matrix is sampled: each case is a
// project's up (three containers, about 8 s here), so even make
// test-faults takes every 8th of its 800-odd cases (in composeShards
// shares side by side), and make test every 120th.
func composeStride() int {
	if faultStride == 1 {
		return 8
	}
	return 120
}

// composeShards is how many shares make test-faults runs the sample in.
const composeShards = 4

// TestLiveComposeFaults is the fault matrix of `plumb compose up`: for
// every step of (A) a project's first up (a network with its resolver,
// three containers) and (B) an up that replaces one of its services, the
// step fails, fails half-way, or plumb gets SIGINT/SIGTERM while it runs
// (plumb rolls the up back: the project is as it was, the old one or
// none: plan of the old file says "nothing to do", or the namespace is
// as before), and plumb is SIGKILLed before it, after it, or in its
// rollback (each object is then whole or rolled back by plumb recover,
// and the next compose command rolls the project back from its journal:
// up of the old file has nothing to do, down of a first up nothing to
// remove; down leaves the namespace as before).
func TestLiveComposeFaults(t *testing.T) {
	t.Parallel()
	inShares(t, composeShards, testLiveComposeFaults)
}

func testLiveComposeFaults(t *testing.T, share *share) {
	if !isolateWorld(t) {
		return
	}
	dir, _, _ := composeWorld(t)
	project := filepath.Join(dir, "f")
	write(t, project+"/v1.yaml", fmt.Sprintf(faultProject, "600"))
	write(t, project+"/v2.yaml", fmt.Sprintf(faultProject, "700"))
	write(t, project+"/v3.yaml", strings.Replace(fmt.Sprintf(faultProject, "600"), "8080:80", "8081:80", 1))
	compose := func(env []string, args ...string) (string, error) {
		cmd := exec.Command("plumb", append([]string{"--log-level", "warn", "compose"}, args...)...)
		cmd.Dir, cmd.Env = project, append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	mustCompose := func(args ...string) string {
		t.Helper()
		out, err := compose(nil, args...)
		if err != nil {
			t.Fatalf("plumb compose %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	steps := func(file string) []string {
		t.Helper()
		var doc struct {
			Changes []struct {
				Plans []struct {
					Steps []struct {
						Argv []string `json:"argv"`
					} `json:"steps"`
				} `json:"plans"`
			} `json:"changes"`
		}
		if err := json.Unmarshal([]byte(mustCompose("-f", file, "plan", "-o", "json")), &doc); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, c := range doc.Changes {
			for _, p := range c.Plans {
				for _, s := range p.Steps {
					out = append(out, strings.Join(s.Argv, " "))
				}
			}
		}
		return out
	}
	tools := []string{"ip", "iptables", "iptables-restore", "sysctl", "mount", "umount", "mkdir", "rmdir", "rm", "touch", "sh", "unshare", "crun", "runc"}
	env := faultEnv(t, tools...)
	self := filepath.Join(t.TempDir(), "plumb")
	wrapper, _ := filepath.Abs("../../testdata/standin/failwrap.sh")
	must(t, os.Symlink(wrapper, self))
	realPlumb, err := exec.LookPath("plumb")
	if err != nil {
		t.Fatal(err)
	}
	env = append(env, "PLUMB_SELF="+self, "REAL_PLUMB="+realPlumb)
	marker := filepath.Join(t.TempDir(), "failed")
	// A fault comes once: the rollback runs some of the steps' commands
	// again (a replaced container made again as it was).
	once := filepath.Join(t.TempDir(), "once")
	env = append(env, "FAULT_ONCE="+once)
	quiet := t.TempDir()
	before, status := settled(t, quiet), mustPlumb(t, "status")

	// (A) the first up.
	first := steps("v1.yaml")
	// (B) an up that replaces b: its steps are b's removal and making;
	// (C) one that changes c's published port in place.
	mustCompose("-f", "v1.yaml", "up")
	replace, update := steps("v2.yaml"), steps("v3.yaml")
	mustCompose("-f", "v1.yaml", "down", "-t", "0")
	if len(first) < 60 || len(replace) < 30 || len(update) != 2 {
		t.Fatalf("plans of %d, %d and %d steps: not a project's, a replace's and a port's", len(first), len(replace), len(update))
	}
	seen, stride := 0, composeStride()
	ran, kept := 0, 0
	for _, sc := range []struct {
		name  string
		steps []string
		old   string // "": none
		file  string
	}{{"first up", first, "", "v2.yaml"}, {"replace b", replace, "v1.yaml", "v2.yaml"}, {"update c", update, "v1.yaml", "v3.yaml"}} {
		for k, step := range sc.steps {
			for _, f := range faultsAt(k, step, marker) {
				seen++
				if (seen-1)%stride != 0 || ((seen-1)/stride)%share.n != share.i {
					continue
				}
				name := fmt.Sprintf("%s: step %d/%d (%s) %s", sc.name, k+1, len(sc.steps), strings.SplitN(step, "\n", 2)[0], f.name)
				ran++
				if sc.old != "" {
					mustCompose("-f", sc.old, "up")
				}
				os.Remove(marker)
				os.Remove(once)
				out, err := compose(append(f.env, env...), "-f", sc.file, "up", "-t", "0")
				if err == nil {
					// A fault in a step whose failure is not fatal (an
					// undo that found nothing), or a SIGKILL after the
					// last step: the project is the new one.
					if p := mustCompose("-f", sc.file, "plan"); p != "nothing to do\n" {
						t.Errorf("%s: up succeeded, and plan then says:\n%s", name, p)
					}
				} else {
					rec, err := plumb(t, nil, "recover")
					if err != nil {
						t.Fatalf("%s: plumb recover: %v\n%s\nplumb said:\n%s", name, err, rec, out)
					}
					switch {
					case f.clean && !strings.Contains(rec, "nothing to recover"):
						t.Errorf("%s: plumb left its rollback to recover:\n%s\nplumb said:\n%s", name, rec, out)
					case f.clean && sc.old != "":
						if p := mustCompose("-f", sc.old, "plan"); p != "nothing to do\n" {
							t.Errorf("%s: after the rollback, the old file's plan:\n%s\nplumb said:\n%s", name, p, out)
						}
					case f.clean:
						if got := mustPlumb(t, "status"); got != status {
							t.Errorf("%s: after the rollback, plumb keeps:\n%s\nplumb said:\n%s", name, got, out)
						}
					case sc.old != "":
						// Killed: the objects are whole (recover); the
						// next up rolls the project back from its journal,
						// and finds it as the old file says.
						if up := mustCompose("-f", sc.old, "up", "-t", "0"); !strings.Contains(up, "project f is as the file says: nothing to do") {
							t.Errorf("%s: after recover, up of the old file:\n%s\nplumb said:\n%s", name, up, out)
						}
					default:
						// Killed in a first up: the next down rolls it back,
						// and finds nothing left to remove.
						if down := mustCompose("-f", sc.file, "down", "-t", "0"); !strings.Contains(down, "project f has nothing to remove") {
							t.Errorf("%s: after recover, down:\n%s\nplumb said:\n%s", name, down, out)
						}
					}
				}
				mustCompose("-f", sc.file, "down", "-t", "0")
				if after := settled(t, quiet); after != before {
					t.Errorf("%s: after down, the namespace differs (-before +after):\n%s\nplumb said:\n%s", name, cmp.Diff(before, after), out)
					continue
				}
				kept++
			}
		}
	}
	t.Logf("compose fault matrix: %d of its %d cases ran here (every %d-th, share %d of %d), %d left the namespace as before", ran, seen, stride, share.i+1, share.n, kept)
}
