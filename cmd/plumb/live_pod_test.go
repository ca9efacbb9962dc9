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
// Docker does; the owner cannot be stopped while the member lives, and
// after both are removed the namespace is as before.
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
	// Refused: a second network for a member, a member of a member, the
	// owner's stop while the member lives.
	for args, want := range map[string]string{
		"run x --layer bb --net container:owner --publish 8081:80 -- true": "belong to the container whose network is joined",
		"run x --layer bb --net container:member -- true":                  "member shares the network of owner: join owner",
		"run x --layer bb --net container:nobody -- true":                  "no container named nobody to join",
		"stop owner": "container/owner's network is shared by container/member",
	} {
		out, err := plumb(t, nil, strings.Fields(args)...)
		if err == nil || !strings.Contains(out, want) {
			t.Errorf("plumb %s: %v, want %q in:\n%s", args, err, want, out)
		}
	}
	// A member that has exited needs the network no more: it blocks
	// nothing. rm -f of the owner and a member in one call removes both.
	mustPlumb(t, "run", "gone", "--layer", "bb", "--net", "container:owner", "-d", "--", "true")
	for i := 0; i < 50 && strings.Contains(mustPlumb(t, "ps"), "gone"); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	mustPlumb(t, "rm", "gone")
	mustPlumb(t, "rm", "-f", "owner", "member")

	// An owner in the foreground whose command ends while a member runs:
	// its status is plumb's, and it stays, exited with that status, until
	// the member is gone.
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
	if st := mustPlumb(t, "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "fgown"); st != "exited 7\n" {
		t.Errorf("the owner after its command ended: %q", st)
	}
	mustPlumb(t, "rm", "-f", "side")
	mustPlumb(t, "rm", "fgown")
	if _, err := os.Stat("/run/netns/plumb-owner"); err == nil {
		t.Error("the owner's network namespace is still there")
	}
	sameSnapshot(t, before, "after rm")
}
