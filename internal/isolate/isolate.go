// Package isolate lets a test run itself in namespaces it makes (unshare),
// so that what it mounts or configures never reaches the host. Tests of
// several packages need exactly this; it lives once, here.
package isolate

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// insideEnv tells the re-run test that it is the inner one.
const insideEnv = "PLUMB_TEST_ISOLATED"

// Inside reports whether this process is a re-run one, inside the
// namespaces Rerun made: there a test may set what the whole process sees
// (os.Setenv), as it runs alone in it, where t.Setenv would refuse a
// parallel test.
func Inside() bool { return os.Getenv(insideEnv) == "1" }

// Rerun skips without root, and otherwise re-runs the calling test under
// `unshare FLAGS... --propagation private --fork`, returning true in the
// inner run and false in the outer one, once the inner run has passed
// (its output is logged). what names the namespaces in that log.
func Rerun(t *testing.T, what string, flags ...string) bool {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("live test: needs root to make a " + what + " (CI runs it as root)")
	}
	if os.Getenv(insideEnv) == "1" {
		return true
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Fatal("live test: unshare not found — install the util-linux package")
	}
	// -test.run matches a subtest's name part by part (split at '/'):
	// each part anchored, or TestX/y would also run TestXY.
	parts := strings.Split(t.Name(), "/")
	for i, p := range parts {
		parts[i] = "^" + p + "$"
	}
	args := append(flags, "--propagation", "private", "--fork", "--",
		os.Args[0], "-test.run", strings.Join(parts, "/"), "-test.v", "-test.count=1")
	// The goldens are written where the test runs: -update goes along.
	for _, a := range os.Args[1:] {
		if a == "-update" || a == "--update" || a == "-update=true" {
			args = append(args, "-update")
		}
	}
	cmd := exec.Command("unshare", args...)
	cmd.Env = append(os.Environ(), insideEnv+"=1")
	out, err := cmd.CombinedOutput()
	t.Logf("inside a private %s:\n%s", what, out)
	if err != nil {
		t.Fatalf("isolated run failed: %v", err)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("isolated run did not pass %s", t.Name())
	}
	return false
}
