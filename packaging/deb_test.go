package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestLiveDeb builds the package as make deb does, installs it with dpkg
// into a throwaway root (its own dpkg database; the host's is not
// touched), runs the installed plumb there (chroot: the binary is
// static) and reads its man page with man -l.
func TestLiveDeb(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("live test: dpkg --root and chroot need root")
	}
	for _, tool := range []string{"dpkg", "dpkg-deb", "chroot", "man"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: make deps-test installs it (man: the man-db package)", tool)
		}
	}
	dir := t.TempDir()
	run := func(env []string, name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	bin := filepath.Join(dir, "plumb")
	// The commit as make deb gives it (go build's own record may be off).
	commit := "unknown"
	if out, err := exec.Command("git", "-C", "..", "rev-parse", "--short=12", "HEAD").Output(); err == nil {
		commit = strings.TrimSpace(string(out))
	}
	run([]string{"CGO_ENABLED=0"}, "go", "build", "-C", "..", "-ldflags=-X plumb/version.commit="+commit, "-o", bin, "./cmd/plumb")
	stage := filepath.Join(dir, "stage")
	run([]string{"DESTDIR=" + stage, "PREFIX=/usr"}, "../scripts/install.sh", bin, "../man")
	deb := filepath.Join(dir, "plumb_0.0.0_amd64.deb")
	if err := build("nfpm.yaml", stage, "0.0.0", "2026-12-06", deb); err != nil {
		t.Fatal(err)
	}

	control := run(nil, "dpkg-deb", "-f", deb)
	for _, want := range []string{"Package: plumb", "Version: 0.0.0", "Architecture: amd64",
		"Depends: iproute2, iptables | nftables, mount", "Recommends: crun | runc, nftables"} {
		if !strings.Contains(control, want+"\n") {
			t.Errorf("control lacks %q:\n%s", want, control)
		}
	}
	files := run(nil, "dpkg-deb", "-c", deb)
	for _, want := range []string{"./usr/sbin/plumb", "./usr/share/man/man8/plumb.8.gz", "./usr/share/man/man8/plumb-bridge.8.gz",
		"./usr/share/bash-completion/completions/plumb", "./usr/share/zsh/vendor-completions/_plumb", "./usr/share/fish/vendor_completions.d/plumb.fish", "./usr/share/doc/plumb/copyright"} {
		if !strings.Contains(files, " "+want+"\n") {
			t.Errorf("the package lacks %s:\n%s", want, files)
		}
	}

	root := filepath.Join(dir, "root")
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "var/lib/dpkg/status"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// Its dependencies are the host's packages, not this root's.
	run(nil, "dpkg", "--root", root, "--force-depends", "--force-script-chrootless", "-i", deb)
	if st := run(nil, "dpkg", "--root", root, "-s", "plumb"); !strings.Contains(st, "Status: install ok installed") {
		t.Errorf("dpkg -s plumb in the root:\n%s", st)
	}
	version := run(nil, "chroot", root, "/usr/sbin/plumb", "version")
	if !regexp.MustCompile(`^plumb [0-9]+\.[0-9]+\.[0-9]+\ncommit: ` + commit + `\ngo: go1\.`).MatchString(version) {
		t.Errorf("plumb version, installed:\n%s", version)
	}
	// col -b drops the overstrikes man makes bold with when not on a terminal.
	page := run([]string{"MANWIDTH=200"}, "sh", "-c", `man -l "$1" | col -b`, "sh", filepath.Join(root, "usr/share/man/man8/plumb.8.gz"))
	for _, want := range []string{"PLUMB(8)", "NAME", "plumb - containers' network", "--state-dir=DIR", "bridge", "plumb-compose(8)"} {
		if !strings.Contains(page, want) {
			t.Errorf("man -l plumb.8.gz lacks %q:\n%s", want, page)
		}
	}
	// Every page renders without troff's warnings (a line too long to
	// fill is only a matter of width), and whatis(1) gets a NAME line.
	pages, _ := filepath.Glob(filepath.Join(root, "usr/share/man/man8/*.8.gz"))
	if len(pages) < 10 {
		t.Fatalf("%d man pages installed", len(pages))
	}
	for _, p := range pages {
		warn := run(nil, "sh", "-c", `man --warnings -l "$1" 2>&1 >/dev/null | grep -v -e "cannot adjust line" -e "cannot break line" || true`, "sh", p)
		if warn != "" {
			t.Errorf("man --warnings -l %s:\n%s", filepath.Base(p), warn)
		}
		whatis := strings.TrimSpace(run(nil, "lexgrog", p))
		if !strings.Contains(whatis, ` - `) || len(whatis) > len(p)+200 {
			t.Errorf("lexgrog %s: the NAME line is %q", filepath.Base(p), whatis)
		}
	}
	if bash := run(nil, "cat", filepath.Join(root, "usr/share/bash-completion/completions/plumb")); !strings.Contains(bash, `COMP_POINT="$COMP_POINT" '/usr/sbin/plumb')`) {
		t.Errorf("bash completion does not run /usr/sbin/plumb: %q", bash)
	}
}
