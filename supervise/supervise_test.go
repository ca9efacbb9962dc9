package supervise

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"plumb/container"
	"plumb/plan"
)

// fakeProcess is a container's process that ends with status when told
// (or when signalled, with 128 + the signal).
type fakeProcess struct {
	end      chan int
	signaled chan os.Signal
}

func newFake() *fakeProcess {
	return &fakeProcess{end: make(chan int, 1), signaled: make(chan os.Signal, 1)}
}

func (f *fakeProcess) Wait() int { return <-f.end }

func (f *fakeProcess) Signal(sig os.Signal) {
	f.signaled <- sig
	f.end <- 128 + int(sig.(syscall.Signal))
}

// TestSuperviseStatus: the command's status is given back; a container
// plumb no longer keeps (stopped and undone elsewhere) is left alone.
func TestSuperviseStatus(t *testing.T) {
	env := plan.Env{St: plan.NewStore(t.TempDir()), Wait: time.Second}
	p := newFake()
	p.end <- 7
	status, err := Foreground{Name: "web", Created: time.Now(), Proc: p}.Supervise(context.Background(), env)
	if err != nil || status != 7 {
		t.Errorf("Supervise: status %d, %v; want 7", status, err)
	}
	select {
	case sig := <-p.signaled:
		t.Errorf("a command that ended by itself was sent %v", sig)
	default:
	}
}

// TestSuperviseSignal: a signal that came before the wait began (the
// context is cancelled) is passed to the command as SIGTERM, whose status
// is given back.
func TestSuperviseSignal(t *testing.T) {
	env := plan.Env{St: plan.NewStore(t.TempDir()), Wait: time.Second}
	p := newFake()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	status, err := Foreground{Name: "web", Created: time.Now(), Proc: p, StopAfter: time.Second}.Supervise(ctx, env)
	if err != nil || status != 128+int(syscall.SIGTERM) {
		t.Errorf("Supervise: status %d, %v; want %d", status, err, 128+int(syscall.SIGTERM))
	}
	if sig := <-p.signaled; sig != syscall.SIGTERM {
		t.Errorf("the command was sent %v; want SIGTERM", sig)
	}
}

// TestContainerInput: the root is an image or layers, not both and not
// neither; a layer is a name kept in the store or a directory.
func TestContainerInput(t *testing.T) {
	st := plan.NewStore(t.TempDir())
	for _, tt := range []struct {
		in   Input
		flag string
	}{
		{Input{Container: container.Container{Name: "c"}, Image: "alpine", Layers: []string{"base"}}, "layer"},
		{Input{Container: container.Container{Name: "c"}}, "image"},
		{Input{Container: container.Container{Name: "c"}, Image: "nosuchimage"}, "image"},
	} {
		_, err := Container(st, tt.in)
		r, ok := err.(*plan.Refused)
		if !ok || r.Flag != tt.flag {
			t.Errorf("%+v: %v; want refused for --%s", tt.in, err, tt.flag)
		}
	}
	dir := t.TempDir()
	ct, err := Container(st, Input{Container: container.Container{Name: "c", Bridge: "br0", Cmd: []string{"true"}}, Layers: []string{"base", dir + "/"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{st.Layer("base"), filepath.Clean(dir)}; len(ct.Layers) != 2 || ct.Layers[0] != want[0] || ct.Layers[1] != want[1] {
		t.Errorf("layers %q; want %q", ct.Layers, want)
	}
	if ct.Bridge != "br0" || ct.Name != "c" || len(ct.Cmd) != 1 {
		t.Errorf("container: %+v", ct)
	}
}

// TestEnvFile: docker run --env-file's lines: KEY=VALUE as written, KEY
// alone, comments and blank lines skipped; a name with a space refused
// with its line.
func TestEnvFile(t *testing.T) {
	got, err := EnvFile("f", []byte("# a comment\n\nA=1\n  B=two words\r\nC\nD=\"quoted\"\n"))
	want := []string{"A=1", "B=two words", "C", `D="quoted"`}
	if err != nil || strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("EnvFile = %q, %v; want %q", got, err, want)
	}
	for _, bad := range []string{"A B=1\n", "=x\n"} {
		if _, err := EnvFile("f", []byte("OK=1\n"+bad)); err == nil || !strings.Contains(err.Error(), "f:2:") {
			t.Errorf("EnvFile(%q) = %v; want a refusal naming f:2", bad, err)
		}
	}
}

// TestEntrypointNeedsImage: --entrypoint replaces an image's; with layers
// the command is given whole.
func TestEntrypointNeedsImage(t *testing.T) {
	e := "/bin/sh"
	_, err := Container(plan.NewStore(t.TempDir()), Input{Container: container.Container{Name: "c"}, Layers: []string{"/l"}, Entrypoint: &e})
	if r, ok := err.(*plan.Refused); !ok || r.Flag != "entrypoint" {
		t.Errorf("--entrypoint with --layer = %v; want it refused", err)
	}
}
