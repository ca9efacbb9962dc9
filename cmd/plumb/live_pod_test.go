package main

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestLivePod: a container that joins another's network (--net
// container:NAME), as the containers of a Kubernetes pod share their
// sandbox's: one network namespace (the same inode), the owner's hostname,
// a server of the owner reached on 127.0.0.1; inspect names the mode as
// Docker does; the network is the sandbox's, an object of its own that
// outlives the owner while a member lives, and after all are removed the
// namespace is as before.
func TestLivePod(t *testing.T) {
	t.Parallel()
	if !isolate(t) {
		return
	}
	mustPlumb(t, "layer", "import", busyboxTarball(t), "--name", "bb")
	www := t.TempDir()
	write(t, www+"/www/index.html", "from the owner\n")
	before := snapshot(t)
	mustPlumb(t, "run", "owner", "--layer", www, "--layer", "bb", "--hostname", "pod-host", "-d", "--", "httpd", "-f", "-p", "127.0.0.1:8080", "-h", "/www")
	mustPlumb(t, "run", "member", "--layer", "bb", "--net", "container:owner", "-d", "--", "sleep", "600")

	var page string
	for i := 0; i < 50; i++ { // httpd may still be starting
		out, err := plumb(t, nil, "exec", "member", "--", "wget", "-qO-", "http://127.0.0.1:8080/")
		if page = out; err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if page != "from the owner\n" {
		t.Errorf("wget of 127.0.0.1:8080 in the member: %q", page)
	}
	ns := func(name string) string {
		return plumbStdout(t, "exec", name, "--", "sh", "-c", "readlink /proc/self/ns/net; hostname")
	}
	if o, m := ns("owner"), ns("member"); o != m || !strings.HasSuffix(m, "\npod-host\n") {
		t.Errorf("network namespace and hostname: owner %q, member %q", o, m)
	}
	if st := mustPlumb(t, "inspect", "-f", "{{.State.Status}} {{.State.Running}}", "member"); st != "running true\n" {
		t.Errorf("member's State: %q", st)
	}
	if mode := mustPlumb(t, "inspect", "-f", "{{.HostConfig.NetworkMode}}", "member"); mode != "container:owner\n" {
		t.Errorf("member's NetworkMode: %q", mode)
	}
	if ps := mustPlumb(t, "ps"); !strings.Contains(ps, "member") || !strings.Contains(ps, "container:owner") {
		t.Errorf("ps:\n%s", ps)
	}
	// Refused: a second network for a member, a container that is not
	// there, an empty name.
	for args, want := range map[string]string{
		"run x --layer bb --net container:owner --publish 8081:80 -- true": "belong to the container whose network is joined",
		"run x --layer bb --net container:nobody -- true":                  "no container named nobody to join",
		"run x --layer bb --net container: -- true":                        "container: needs the name of the container",
	} {
		out, err := plumb(t, nil, strings.Fields(args)...)
		if err == nil || !strings.Contains(out, want) {
			t.Errorf("plumb %s: %v, want %q in:\n%s", args, err, want, out)
		}
	}
	// A member of a member joins the same sandbox.
	mustPlumb(t, "run", "third", "--layer", "bb", "--net", "container:member", "-d", "--", "sleep", "600")
	if o, m := ns("owner"), ns("third"); o != m {
		t.Errorf("a member of a member: owner %q, third %q", o, m)
	}
	mustPlumb(t, "rm", "-f", "third")
	// The sandbox is an object of its own, which lives while any of its
	// containers does (CRI's): the owner stops, the member keeps the
	// network and its 127.0.0.1; the owner's name is taken until then.
	mustPlumb(t, "stop", "owner", "--rm", "--time", "0")
	if _, err := os.Stat("/run/netns/plumb-owner"); err != nil {
		t.Errorf("the sandbox's namespace went with the owner, its member still running: %v", err)
	}
	if got := plumbStdout(t, "exec", "member", "--", "sh", "-c", "readlink /proc/self/ns/net; hostname"); !strings.HasSuffix(got, "\npod-host\n") {
		t.Errorf("the member after the owner's stop: %q", got)
	}
	if out, err := plumb(t, nil, "run", "owner", "--layer", "bb", "--", "true"); err == nil || !strings.Contains(out, "still shared by member") {
		t.Errorf("a new owner while the old one's sandbox lives: %v\n%s", err, out)
	}
	if st := mustPlumb(t, "status"); !strings.Contains(st, "sandbox    owner") || strings.Contains(st, "rootfs     owner") {
		t.Errorf("status after the owner's stop:\n%s", st)
	}
	// The last container takes it.
	mustPlumb(t, "rm", "-f", "member")
	if _, err := os.Stat("/run/netns/plumb-owner"); err == nil {
		t.Error("the sandbox's namespace outlived its last container")
	}

	// An owner in the foreground whose command ends while a member runs:
	// its status is plumb's, it goes, and its sandbox stays until the
	// member is gone.
	fg := exec.Command("plumb", "run", "fgown", "--layer", "bb", "--", "sh", "-c", "sleep 1; exit 7")
	if err := fg.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50 && !strings.Contains(mustPlumb(t, "ps"), "fgown"); i++ {
		time.Sleep(50 * time.Millisecond)
	}
	mustPlumb(t, "run", "side", "--layer", "bb", "--net", "container:fgown", "-d", "--", "sleep", "600")
	var ee *exec.ExitError
	if err := fg.Wait(); !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Errorf("a foreground owner ending with 7 while a member runs: %v", err)
	}
	if out, err := plumb(t, nil, "inspect", "-f", "{{.Kind}}", "fgown"); err != nil || out != "sandbox\n" {
		// The name is its sandbox's alone now.
		t.Errorf("inspect of the owner after its command ended: %v\n%s", err, out)
	}
	if _, err := os.Stat("/run/netns/plumb-fgown"); err != nil {
		t.Errorf("the foreground owner's sandbox went with it, its member still running: %v", err)
	}
	mustPlumb(t, "rm", "-f", "side")
	for _, ns := range []string{"/run/netns/plumb-owner", "/run/netns/plumb-fgown"} {
		if _, err := os.Stat(ns); err == nil {
			t.Errorf("%s is still there", ns)
		}
	}
	sameSnapshot(t, before, "after rm")
}
