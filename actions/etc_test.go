package actions

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestWriteFile: the command written in the plan writes exactly the content
// (quotes, %, backslashes, newlines, no trailing newline), 0644 whatever
// plumb's umask, over an older file too; its undo deletes it, and deleting
// it again is fine.
func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	for _, content := range []string{
		"web\n",
		"127.0.0.1\tlocalhost\n10.88.0.2\tweb 'one' \"two\" $(id) %s %% \\n\n",
		"no newline at the end",
		"",
	} {
		a := WriteFile{Path: filepath.Join(dir, "my hosts"), Content: content, For: "the container's /etc/hosts"}
		if _, err := (Exec{}).Run(context.Background(), a.Argv(), nil); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(a.Path)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != content {
			t.Errorf("wrote %q, want %q", got, content)
		}
		if fi, _ := os.Stat(a.Path); fi.Mode().Perm() != 0o644 {
			t.Errorf("mode %v, want 0644", fi.Mode().Perm())
		}
		// The line in the plan, pasted into sh, does the same.
		os.Remove(a.Path)
		if out, err := exec.Command("sh", "-c", Quote(a.Argv())).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", Quote(a.Argv()), err, out)
		}
		if got, _ := os.ReadFile(a.Path); string(got) != content {
			t.Errorf("pasted: wrote %q, want %q", got, content)
		}
	}
	a := WriteFile{Path: filepath.Join(dir, "my hosts")}
	// plumb check: the file as written, changed, gone.
	if err := a.Verify(context.Background(), nil); err != nil {
		t.Errorf("Verify of the file as written: %v", err)
	}
	os.WriteFile(a.Path, []byte("changed"), 0o644)
	if err := a.Verify(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "no longer holds what plumb wrote") {
		t.Errorf("Verify of a changed file: %v", err)
	}
	for i := 0; i < 2; i++ {
		if _, err := (Exec{}).Run(context.Background(), a.Undo().Argv(), nil); err != nil {
			t.Fatalf("undo %d: %v", i+1, err)
		}
	}
	if _, err := os.Stat(a.Path); !os.IsNotExist(err) {
		t.Errorf("after the undo: %v", err)
	}
	if err := a.Verify(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "is missing") {
		t.Errorf("Verify of a deleted file: %v", err)
	}
	if got := (WriteFile{Path: "/s/hosts", For: "the container's /etc/hosts"}).Why(); got != "write /s/hosts, to be the container's /etc/hosts" {
		t.Errorf("Why: %q", got)
	}
}

// TestContainerScriptProcess: with Etc and Process, everything from input
// is an argument of the script (the /etc files, the working directory, the
// environment up to --, the command), the script binds the three files and
// ends in setpriv with the groups, env -i and unshare --root with the
// working directory and the user.
func TestContainerScriptProcess(t *testing.T) {
	a := StartContainer{Netns: "plumb-web", UTS: "/s/uts", Root: "/s/merged", Cmd: []string{"sh", "-c", "$(id)", "--", "x"},
		Confine: &Confinement{Caps: []string{"chown", "setuid", "sys_chroot"}},
		Etc:     &EtcFiles{Hostname: "/s/hostname", Hosts: "/s/hosts", Resolv: "/s/resolv.conf"},
		Process: &Process{Env: []string{"PATH=/bin", "A=b -- c"}, Dir: "/srv/my app", UID: 1000, GID: 100, Groups: []int{10, 50}}}
	argv := a.Argv()
	i := len(argv) - 14
	if argv[i-2] != "-euc" {
		t.Fatalf("argv: %q", argv)
	}
	if diff := cmp.Diff([]string{"sh", "/s/merged", "/s/hostname", "/s/hosts", "/s/resolv.conf", "/srv/my app",
		"PATH=/bin", "A=b -- c", "--", "sh", "-c", "$(id)", "--", "x"}, argv[i:]); diff != "" {
		t.Errorf("the script's arguments (-want +got):\n%s", diff)
	}
	script := argv[i-1]
	if strings.Contains(script, "'") {
		t.Errorf("the script holds a single quote, which Quote would render as '\\'': %s", script)
	}
	for _, want := range []string{
		`mount --bind "$etc_hostname" "$r/etc/hostname"`,
		`mount --bind "$etc_hosts" "$r/etc/hosts"`,
		`mount --bind "$etc_resolv" "$r/etc/resolv.conf"`,
		`  if [ -L "$r/etc/$f" ]; then echo`,
		`  [ -d "$d" ] || mkdir -m 755 "$d"`,
		`  if [ "$sep" = 1 ] && [ "$a" = -- ]; then sep=0; set -- "$@" "$u" --root=. --wd="$wd" -S 1000 --`,
		"\nexec setpriv --bounding-set=-all,+chown,+setuid,+sys_chroot --inh-caps=-all --regid=100 --groups=10,50 -- env -i -- \"$@\"",
	} {
		if !strings.Contains(script, want) {
			t.Errorf("the script lacks %s:\n%s", want, script)
		}
	}
	// The binds come before the root is moved; so does the working directory.
	if strings.Index(script, "mount --bind \"$etc_resolv\"") > strings.Index(script, "--move") ||
		strings.Index(script, "mkdir -m 755 \"$d\"") > strings.Index(script, "--move") {
		t.Errorf("the binds or the working directory come after the move:\n%s", script)
	}

	// Root, no supplementary groups, --privileged: no -S, --clear-groups,
	// no capabilities set.
	a.Confine = &Confinement{Privileged: true}
	a.Process = &Process{Env: []string{}, Dir: "/", UID: 0, GID: 0}
	script = a.Argv()[i-1]
	if strings.Contains(script, " -S ") || !strings.HasSuffix(script, "\nexec setpriv --regid=0 --clear-groups -- env -i -- \"$@\"") {
		t.Errorf("root, --privileged:\n%s", script)
	}
}

// TestContainerScriptArgs runs the end of the script, up to its exec, with
// sh: the environment, then unshare and its options, then the command,
// whatever the command holds (a --, spaces, $(...)) and with no variable at
// all.
func TestContainerScriptArgs(t *testing.T) {
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("unshare not found")
	}
	for _, c := range []struct {
		proc Process
		cmd  []string
		want []string
	}{
		{Process{Env: []string{"PATH=/bin", "A=b -- c"}, Dir: "/srv/my app", UID: 1000},
			[]string{"sh", "-c", "$(id)", "--", "x"},
			[]string{"PATH=/bin", "A=b -- c", unshare, "--root=.", "--wd=/srv/my app", "-S", "1000", "--", "sh", "-c", "$(id)", "--", "x"}},
		{Process{Env: []string{}, Dir: "/"}, []string{"--"},
			[]string{unshare, "--root=.", "--wd=/", "--", "--"}},
	} {
		a := StartContainer{Root: "/s/merged", Cmd: c.cmd, Confine: &Confinement{Privileged: true}, Process: &c.proc}
		argv := a.Argv()
		k := len(argv) - len(c.cmd) - len(c.proc.Env) - 4 // sh ROOT DIR ENV... -- CMD...
		script := argv[k-1]
		tail := "wd=$1; shift\n" + script[strings.Index(script, "u=$(command -v unshare)"):strings.LastIndex(script, "\nexec ")] +
			"\nprintf '%s\\n' \"$@\""
		out, err := exec.Command("sh", append([]string{"-euc", tail, "sh"}, argv[k+2:]...)...).Output()
		if err != nil {
			t.Fatalf("%v\n%s", err, tail)
		}
		if diff := cmp.Diff(c.want, strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")); diff != "" {
			t.Errorf("%q: exec's arguments (-want +got):\n%s", c.cmd, diff)
		}
	}
}
