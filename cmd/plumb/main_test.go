package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/rogpeppe/go-internal/testscript"

	"plumb/internal/mkimage"
)

var update = flag.Bool("update", false, "rewrite the goldens: testdata/script, testdata/nft, man/")

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"plumb": main})
}

// standins are the tools the stand-in script plays in script tests.
var standins = []string{"ip", "nsenter", "sysctl", "iptables", "iptables-restore", "ip6tables", "ip6tables-restore", "mount", "umount", "mkdir", "rmdir", "rm", "env",
	"nft", "iptables-legacy-save", "iptables-nft-save", "crun", "bridge"}

// TestScripts runs testdata/script/*.txtar. Each script gets its own state
// directory, live processes to target, each in an empty network namespace
// of its own ($CONTAINER_PID, like the document's variable, and
// $CONTAINER_PID2) and, in $WORK/bin, stand-ins for the
// network tools that log to $STANDIN_LOG; a script puts them first on PATH
// when it wants them.
func TestScripts(t *testing.T) {
	if !guarded(t) {
		return
	}
	standin, err := filepath.Abs("../../testdata/standin/standin.sh")
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir:                 "../../testdata/script",
		UpdateScripts:       *update,
		RequireExplicitExec: true,
		Cmds:                map[string]func(*testscript.TestScript, bool, []string){"exits": exits, "mkimage": mkimageCmd},
		Setup: func(env *testscript.Env) error {
			bin := filepath.Join(env.WorkDir, "bin")
			if err := os.MkdirAll(bin, 0o755); err != nil {
				return err
			}
			for _, tool := range standins {
				if err := os.Symlink(standin, filepath.Join(bin, tool)); err != nil {
					return err
				}
			}
			for _, name := range []string{"CONTAINER_PID", "CONTAINER_PID2"} {
				// Each in a network namespace of its own, as a container is:
				// plumb refuses a "container" in its own namespace.
				sleep := exec.Command("unshare", "--net", "sleep", "3600")
				if os.Geteuid() != 0 {
					sleep = exec.Command("unshare", "--map-root-user", "--net", "sleep", "3600")
				}
				if err := sleep.Start(); err != nil {
					return err
				}
				env.Defer(func() { _ = sleep.Process.Kill(); _ = sleep.Wait() })
				if err := inOwnNetns(sleep.Process.Pid); err != nil {
					return err
				}
				env.Setenv(name, strconv.Itoa(sleep.Process.Pid))
			}
			env.Setenv("STANDINS", bin)
			// The host's /proc is not the script's: no legacy tables, no
			// br_netfilter (plumb reads them for its firewall warnings).
			env.Setenv("PLUMB_PROC", filepath.Join(env.WorkDir, "proc"))
			// ... whose mount table has cgroup v2 alone, as a host that
			// crun runs on: the runtime in every golden is crun.
			if err := os.MkdirAll(filepath.Join(env.WorkDir, "proc", "self"), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(env.WorkDir, "proc", "self", "mountinfo"),
				[]byte("30 22 0:27 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw\n"), 0o644); err != nil {
				return err
			}
			env.Setenv("PLUMB_RUNTIME", "crun")
			self, err := exec.LookPath("plumb")
			if err != nil {
				return err
			}
			env.Setenv("PLUMB_BIN", filepath.Dir(self))
			env.Setenv("STANDIN_LOG", filepath.Join(env.WorkDir, "log"))
			// The host's resolv.conf, as plumb run reads it: the same on
			// every machine, with a loopback nameserver to leave out.
			resolv := filepath.Join(env.WorkDir, "resolv.conf")
			if err := os.WriteFile(resolv, []byte("nameserver 127.0.0.53\nnameserver 192.0.2.53\nsearch example.test\n"), 0o644); err != nil {
				return err
			}
			env.Setenv("PLUMB_RESOLV_CONF", resolv)
			env.Setenv("PLUMB_STATE_DIR", filepath.Join(env.WorkDir, "state"))
			// The root (--root) apart, as on a host: made, 0700, as a plumb
			// that kept images there would have left it.
			root := filepath.Join(env.WorkDir, "root")
			if err := os.Mkdir(root, 0o700); err != nil {
				return err
			}
			env.Setenv("PLUMB_ROOT", root)
			env.Setenv("XTABLES_LOCKFILE", filepath.Join(env.WorkDir, "xtables.lock"))
			// The goldens are the stand-ins' logs of one process per step.
			env.Setenv("PLUMB_EXEC", "each")
			return nil
		},
	})
}

// exits N CMD ARGS... runs CMD and fails unless it exits with status N. Its
// stdout and stderr are kept for the checks that follow, as with exec.
// plumb's exit codes are part of its interface: 2 for refused input, 1 for
// a failure while applying.
func exits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits N command [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exits: %q is not an exit status", args[0])
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("exits: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with status %d, want %d", args[1], got, want)
	}
}

// mkimage FORMAT PATH [LAYERS] writes the demo image (or one of LAYERS
// layers) as docker-archive or oci at PATH, with a stand-in for busybox, so
// that its digests, and the goldens that show them, are the same on every
// machine.
func mkimageCmd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: mkimage docker-archive|oci PATH [LAYERS]")
	}
	bb := ts.MkAbs("busybox.standin")
	if err := os.WriteFile(bb, []byte("#!/bin/false stand-in for busybox\n"), 0o755); err != nil {
		ts.Fatalf("%v", err)
	}
	opts := mkimage.Options{Busybox: bb, Applets: []string{"sh", "httpd", "cat"}, Platform: v1.Platform{OS: "linux", Architecture: runtime.GOARCH}}
	if len(args) == 3 {
		n, err := strconv.Atoi(args[2])
		ts.Check(err)
		opts.Layers = n
	}
	img, err := mkimage.Build(opts)
	ts.Check(err)
	out := ts.MkAbs(args[1])
	switch args[0] {
	case "docker-archive":
		ts.Check(mkimage.WriteDockerArchive(out, "plumb-demo/busybox:1", img))
	case "oci":
		ts.Check(mkimage.WriteLayout(out, "plumb-demo/busybox:1", img))
	default:
		ts.Fatalf("mkimage: format %q is not docker-archive or oci", args[0])
	}
}

// inOwnNetns waits until process pid has left this process's network
// namespace (unshare makes its own, then execs the command).
func inOwnNetns(pid int) error {
	self, _ := os.Readlink("/proc/self/ns/net")
	for i := 0; i < 400; i++ {
		if ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid)); ns != "" && ns != self {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("process %d did not enter a network namespace of its own", pid)
}
