package actions

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// scripted is a Runner that records each command and fails those in fail
// with the stderr given.
type scripted struct {
	calls []string
	fail  map[string]string
}

func (s *scripted) Run(_ context.Context, argv []string, _ []byte) ([]byte, error) {
	line := Quote(argv)
	s.calls = append(s.calls, line)
	if stderr, ok := s.fail[line]; ok {
		return nil, &ExecError{Argv: argv, Code: 1, Stderr: stderr}
	}
	return nil, nil
}

// TestHalfWayCleanup: when unshare --uts=FILE hostname NAME fails after
// unshare has bind-mounted FILE, the step unmounts FILE itself, so that
// nothing of it stays for a rollback that only undoes the steps that
// succeeded. The error stays the command's own; a mount already gone is
// fine; a cleanup that fails is said.
func TestHalfWayCleanup(t *testing.T) {
	uts := UTSNew{File: "/run/plumb/overlay/my_app/uts", Hostname: "my_app", EndOptions: true}
	net := NetnsNew{Name: "plumb-web"}
	for _, c := range []struct {
		name    string
		a       halfWay
		fail    map[string]string
		calls   []string
		wantErr string
	}{
		{"succeeds", uts, nil, []string{"unshare --uts=/run/plumb/overlay/my_app/uts hostname -- my_app"}, ""},
		{"hostname refuses the name", uts,
			map[string]string{"unshare --uts=/run/plumb/overlay/my_app/uts hostname -- my_app": "hostname: the specified hostname is invalid"},
			[]string{"unshare --uts=/run/plumb/overlay/my_app/uts hostname -- my_app", "umount /run/plumb/overlay/my_app/uts"},
			"exit status 1: hostname: the specified hostname is invalid"},
		{"nothing was mounted", uts,
			map[string]string{"unshare --uts=/run/plumb/overlay/my_app/uts hostname -- my_app": "unshare: mount failed",
				"umount /run/plumb/overlay/my_app/uts": "umount: /run/plumb/overlay/my_app/uts: not mounted."},
			[]string{"unshare --uts=/run/plumb/overlay/my_app/uts hostname -- my_app", "umount /run/plumb/overlay/my_app/uts"},
			"unshare: mount failed"},
		{"the cleanup fails too", uts,
			map[string]string{"unshare --uts=/run/plumb/overlay/my_app/uts hostname -- my_app": "hostname: the specified hostname is invalid",
				"umount /run/plumb/overlay/my_app/uts": "umount: /run/plumb/overlay/my_app/uts: target is busy."},
			[]string{"unshare --uts=/run/plumb/overlay/my_app/uts hostname -- my_app", "umount /run/plumb/overlay/my_app/uts"},
			"cleaning up after it failed too, run it by hand: umount /run/plumb/overlay/my_app/uts: exit status 1: umount: /run/plumb/overlay/my_app/uts: target is busy."},
		{"a network namespace", net,
			map[string]string{"unshare --net=/run/netns/plumb-web true": "unshare: failed to execute true"},
			[]string{"unshare --net=/run/netns/plumb-web true", "ip netns del plumb-web"},
			"unshare: failed to execute true"},
	} {
		r := &scripted{fail: c.fail}
		err := c.a.(Custom).Exec(context.Background(), r)
		if diff := cmp.Diff(c.calls, r.calls); diff != "" {
			t.Errorf("%s: commands (-want +got):\n%s", c.name, diff)
		}
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("%s: error %v, want ...%s...", c.name, err, c.wantErr)
		}
		var ee *ExecError
		if err != nil && (!errors.As(err, &ee) || Quote(ee.Argv) != c.calls[0]) {
			t.Errorf("%s: the error is not the command's own: %v", c.name, err)
		}
	}
}

// TestJournaledArgvKept: fields left unset, as in journals written before
// they existed, render the commands those journals recorded.
func TestJournaledArgvKept(t *testing.T) {
	for _, c := range []struct {
		a    Action
		want string
	}{
		{UTSNew{File: "/s/uts", Hostname: "web"}, "unshare --uts=/s/uts hostname web"},
		{StartContainer{Netns: "plumb-web", UTS: "/s/uts", Root: "/s/merged", Cmd: []string{"sleep", "1000"}},
			"nsenter --net=/run/netns/plumb-web --uts=/s/uts unshare --pid --mount --ipc --fork --kill-child --mount-proc --root=/s/merged --wd=/ -- sleep 1000"},
		{OverlayMount{Lower: []string{"/l"}, Upper: "/u", Work: "/w", Merged: "/m"}, "mount -t overlay overlay -o lowerdir=/l,upperdir=/u,workdir=/w /m"},
		{Touch{Path: "/s/uts"}, "touch /s/uts"},
		{Mkdir{Path: "/s/upper"}, "mkdir -p /s/upper"},
		// The mode, when set, is said on the command line: a runbook makes
		// the directory as plumb does, whatever its reader's umask.
		{Mkdir{Path: "/s/overlay", Mode: 0o700}, "mkdir -p --mode=700 /s/overlay"},
	} {
		if got := Quote(c.a.Argv()); got != c.want {
			t.Errorf("%T: %s, want %s", c.a, got, c.want)
		}
	}
	if got, want := (Touch{Path: "/s/uts"}).Why(), "create /s/uts to keep the container's UTS namespace"; got != want {
		t.Errorf("Touch.Why: %q", got)
	}
}

// TestConfinementScript: the script a confined container starts with, and
// what --privileged leaves out of it.
func TestConfinementScript(t *testing.T) {
	a := StartContainer{Netns: "plumb-web", UTS: "/s/uts", Root: "/s/merged", Cmd: []string{"-x", "$(id)"},
		Confine: &Confinement{Caps: []string{"chown", "sys_chroot"}}}
	argv := a.Argv()
	wantHead := []string{"nsenter", "--net=/run/netns/plumb-web", "--uts=/s/uts", "unshare", "--pid", "--mount", "--ipc",
		"--fork", "--kill-child", "--", "sh", "-euc"}
	if diff := cmp.Diff(wantHead, argv[:len(wantHead)]); diff != "" {
		t.Errorf("argv (-want +got):\n%s", diff)
	}
	// The root and the command are arguments of the script, never part of it.
	if diff := cmp.Diff([]string{"sh", "/s/merged", "-x", "$(id)"}, argv[len(wantHead)+1:]); diff != "" {
		t.Errorf("the script's arguments (-want +got):\n%s", diff)
	}
	script := argv[len(wantHead)]
	lines := strings.Split(script, "\n")
	for _, want := range []string{
		`mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$r/sys"`,
		`mount -t tmpfs -o nosuid,nodev,mode=755,size=65536k tmpfs "$r/dev"`,
		`mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5,nosuid,noexec devpts "$r/dev/pts"`,
		`  if [ -e "$r/$p" ]; then mount --bind -o ro,nosuid,nodev,noexec "$r/$p" "$r/$p"; fi`,
	} {
		if !strings.Contains(script, want) {
			t.Errorf("the script lacks %s", want)
		}
	}
	// The end: the root moved onto / (so that chroot cannot lead out of it),
	// then setpriv, then chroot, each exec'd: CMD is PID 1.
	if diff := cmp.Diff([]string{`cd "$r"`, `mount --no-mtab --move . /`,
		`exec setpriv --bounding-set=-all,+chown,+sys_chroot --inh-caps=-all -- chroot . "$@"`}, lines[len(lines)-3:]); diff != "" {
		t.Errorf("the script's end (-want +got):\n%s", diff)
	}
	if strings.Contains(script, "'") {
		t.Errorf("the script holds a single quote, which Quote would render as '\\'': %s", script)
	}

	a.Confine = &Confinement{Privileged: true, NoNewPrivs: true}
	script = a.Argv()[len(wantHead)]
	for _, absent := range []string{"proc/kcore", "proc/sysrq-trigger", "ro,nosuid,nodev,noexec sysfs", "nosuid,nodev,mode=755", "--bounding-set"} {
		if strings.Contains(script, absent) {
			t.Errorf("--privileged: the script holds %s", absent)
		}
	}
	if !strings.HasSuffix(script, "\nexec setpriv --no-new-privs -- chroot . \"$@\"") {
		t.Errorf("--privileged with no new privileges ends:\n%s", script)
	}
	a.Confine = &Confinement{Privileged: true}
	if script = a.Argv()[len(wantHead)]; !strings.HasSuffix(script, "\nexec chroot . \"$@\"") {
		t.Errorf("--privileged ends:\n%s", script)
	}
}
