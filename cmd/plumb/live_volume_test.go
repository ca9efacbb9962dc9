package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestLiveVolumes: a container with a host directory read-write and
// read-only, a named volume filled from the image on first use, a tmpfs,
// and destinations under the image's symbolic links (/lnk -> /etc,
// /up -> ../../../etc) that land in the container's /etc, never the
// host's. The volume is refused rm while a container mounts it, keeps what
// one wrote for the next, and goes with volume rm; a --mount bind of a
// missing source is refused with nothing made; afterwards the namespace
// and the mount table are as before.
func TestLiveVolumes(t *testing.T) {
	t.Parallel()
	if !isolate(t) {
		return
	}
	mustPlumb(t, "layer", "import", busyboxTarball(t), "--name", "bb")
	img := t.TempDir()
	write(t, img+"/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")
	write(t, img+"/data/seed", "from the image\n")
	for name, target := range map[string]string{"lnk": "/etc", "up": "../../../etc", "updata": "../../../etc"} {
		if err := os.Symlink(target, filepath.Join(img, name)); err != nil {
			t.Fatal(err)
		}
	}
	// A directory of a lower layer, not root's: a mount below it keeps
	// its owner and mode in the container.
	if err := os.MkdirAll(img+"/home/app", 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(img+"/home/app", 1000, 1000); err != nil {
		t.Fatal(err)
	}
	rw, ro, fresh := t.TempDir(), t.TempDir(), filepath.Join(t.TempDir(), "made")
	write(t, ro+"/file", "read only\n")
	before := snapshot(t)
	mounts := func() string { return read(t, "/proc/self/mountinfo") }
	mountsBefore := len(strings.Split(mounts(), "\n"))

	// A --mount bind whose source is missing is refused before anything.
	out, err := plumb(t, nil, "run", "bad", "--layer", img, "--layer", "bb", "--mount", "type=bind,source=/nonexistent/x,target=/x", "--", "true")
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(out, "bind source path does not exist: /nonexistent/x") {
		t.Errorf("--mount of a missing source: %v\n%s", err, out)
	}

	mustPlumb(t, "run", "box", "--layer", img, "--layer", "bb", "-d",
		"-v", rw+":/rw", "-v", ro+":/ro:ro", "-v", "vol1:/data", "-v", fresh+":/fresh",
		"--tmpfs", "/scratch:size=1m", "--mount", "type=bind,source="+rw+",target=/lnk/plumb-lnk",
		"-v", rw+":/up/plumb-up", "-v", "vol2:/updata", "-v", "vol3:/home/app/cache",
		"--", "sleep", "600")
	out = plumbStdout(t, "exec", "box", "--", "sh", "-c", `
		echo written > /rw/f
		touch /ro/x 2>/dev/null && echo ro-writable
		cat /ro/file /data/seed
		echo kept > /data/new
		grep -E ' /scratch ' /proc/self/mountinfo | grep -c 'tmpfs.*size=1024k'
		ls /etc/plumb-lnk/f /etc/plumb-up/f
		stat -c 'home %a %u' /home/app`)
	for _, want := range []string{"read only\n", "from the image\n", "1\n", "/etc/plumb-lnk/f\n", "/etc/plumb-up/f\n", "home 700 1000\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("in the container: no %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "ro-writable") {
		t.Errorf("-v %s:/ro:ro is writable in the container", ro)
	}
	if got := read(t, rw+"/f"); got != "written\n" {
		t.Errorf("%s/f on the host: %q", rw, got)
	}
	if st, err := os.Stat(fresh); err != nil || !st.IsDir() {
		t.Errorf("-v made no %s: %v", fresh, err)
	}
	for _, p := range []string{"/etc/plumb-lnk", "/etc/plumb-up"} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s exists on the host: a mount left the container's root", p)
		}
	}
	// vol2's destination is /updata -> ../../../etc: the copy is of the
	// container's /etc (the image's passwd), not the host's.
	if got := read(t, "/run/plumb-root/volumes/vol2/_data/passwd"); got != "root:x:0:0:root:/root:/bin/sh\n" {
		t.Errorf("vol2, filled from /updata -> ../../../etc: passwd is %q", got)
	}
	insp := mustPlumb(t, "volume", "inspect", "vol1")
	if !strings.Contains(insp, `"Mountpoint": "/run/plumb-root/volumes/vol1/_data"`) || !strings.Contains(insp, `"box"`) {
		t.Errorf("volume inspect vol1:\n%s", insp)
	}
	insp = plumbStdout(t, "inspect", "-o", "json", "box")
	for _, want := range []string{`"Binds": [`, `"` + ro + `:/ro:ro"`, `"vol1:/data"`, `"Type": "volume",
      "Name": "vol1",
      "Source": "/run/plumb-root/volumes/vol1/_data",
      "Destination": "/data",
      "Mode": "",
      "RW": true`, `"/scratch": "noexec,nosuid,nodev,size=1m"`, `"NetworkMode": "none"`} {
		if !strings.Contains(insp, want) {
			t.Errorf("inspect box: no %s in:\n%s", want, insp)
		}
	}
	out, err = plumb(t, nil, "volume", "rm", "vol1")
	if err == nil || !strings.Contains(out, "volume vol1 is in use by container/box") {
		t.Errorf("volume rm of a volume in use: %v\n%s", err, out)
	}

	mustPlumb(t, "rm", "-f", "box")
	// A volume on /etc goes under the container's /etc files, as Docker
	// sorts mounts parents first.
	if out := plumbStdout(t, "--log-level", "error", "run", "etc", "--layer", "bb", "-v", "etcvol:/etc", "--", "cat", "/etc/hostname"); out != "etc\n" {
		t.Errorf("/etc/hostname under -v etcvol:/etc: %q", out)
	}
	if _, err := os.Stat(fresh); err == nil {
		t.Errorf("%s, made for -v and empty, is still there after rm", fresh)
	}
	// A second container finds what the first wrote; the image's seed is
	// not copied again over it.
	cmd := exec.Command("plumb", "run", "again", "--layer", img, "--layer", "bb", "-v", "vol1:/data", "--", "sh", "-c", "cat /data/new; ls /data")
	res, err := cmd.Output()
	if err != nil || string(res) != "kept\nnew\nseed\n" {
		t.Errorf("a second container on vol1: %v\n%s", err, res)
	}
	if ls := mustPlumb(t, "volume", "ls"); !strings.Contains(ls, "local   vol1") {
		t.Errorf("volume ls:\n%s", ls)
	}
	mustPlumb(t, "volume", "prune") // keeps named volumes, as Docker's
	if ls := mustPlumb(t, "volume", "ls"); !strings.Contains(ls, "vol1") {
		t.Errorf("volume prune without -a removed vol1:\n%s", ls)
	}
	mustPlumb(t, "volume", "prune", "-a")
	if ls := mustPlumb(t, "volume", "ls"); strings.Contains(ls, "vol") {
		t.Errorf("volume ls after prune:\n%s", ls)
	}
	if _, err := os.Stat("/run/plumb-root/volumes/vol1"); err == nil {
		t.Errorf("vol1's directory is there after prune")
	}
	if n := len(strings.Split(mounts(), "\n")); n != mountsBefore {
		t.Errorf("mount table: %d lines, %d before:\n%s", n, mountsBefore, mounts())
	}
	sameSnapshot(t, before, "after rm and prune")
}

// TestLiveVolumeFaults is the fault matrix of `plumb volume create`: at
// each of its steps the six faults of faultsAt (fail, fail half-way,
// SIGINT or SIGTERM, SIGKILL before and after, SIGKILL in the rollback),
// then recover; the journals and every file under /run are as before, and
// a second recover does nothing. The run fault matrix covers a container
// that mounts a volume, a directory -v makes and a tmpfs.
func TestLiveVolumeFaults(t *testing.T) {
	t.Parallel()
	if !isolate(t) {
		return
	}
	mustPlumb(t, "volume", "create", "warm") // the root and volumes/ exist from here
	mustPlumb(t, "volume", "rm", "warm")
	before := settled(t, "/run")
	status := mustPlumb(t, "status")
	var p struct {
		Steps []struct {
			Argv []string `json:"argv"`
		} `json:"steps"`
	}
	if err := json.Unmarshal([]byte(plumbStdout(t, "volume", "create", "data", "-o", "json")), &p); err != nil {
		t.Fatal(err)
	}
	env := faultEnv(t, "mkdir", "rmdir", "rm")
	marker := filepath.Join(t.TempDir(), "failed")
	ran, restored := 0, 0
	var picked sample // make test's sample of the cases (see faultStride)
	for k, s := range p.Steps {
		step := strings.Join(s.Argv, " ")
		for _, f := range faultsAt(k, step, marker) {
			if !picked.take() {
				continue
			}
			ran++
			name := fmt.Sprintf("step %d/%d (%s) %s", k+1, len(p.Steps), step, f.name)
			os.Remove(marker)
			out, err := plumb(t, append(f.env, env...), "volume", "create", "data")
			if err == nil {
				t.Errorf("%s: plumb succeeded:\n%s", name, out)
				mustPlumb(t, "volume", "rm", "data")
				continue
			}
			rec, err := plumb(t, nil, "recover")
			if err != nil {
				t.Errorf("%s: recover failed: %v\n%s", name, err, rec)
				continue
			}
			if f.clean && !strings.Contains(rec, "nothing to recover") {
				t.Errorf("%s: plumb left its rollback to recover:\n%s\nplumb said:\n%s", name, rec, out)
			}
			if again := mustPlumb(t, "recover"); !strings.Contains(again, "nothing to recover") {
				t.Errorf("%s: second recover did something:\n%s", name, again)
			}
			if got := mustPlumb(t, "status"); got != status {
				t.Errorf("%s: journal differs:\n%s\nwant:\n%s", name, got, status)
				continue
			}
			if after := settled(t, "/run"); after != before {
				t.Errorf("%s: files differ from before:\n%s\nplumb said:\n%s", name, cmp.Diff(before, after), out)
				continue
			}
			restored++
		}
	}
	t.Logf("volume create fault matrix: %d of %d cases restored the snapshot exactly", restored, ran)
	if picked.seen != 6*len(p.Steps) || restored != ran {
		t.Errorf("%d of %d cases restored (%d steps)", restored, ran, len(p.Steps))
	}
}
