// Package plantest holds what the tests of plan and of its domain
// packages share: a runner that records commands and fails or "crashes"
// where it is told to.
package plantest

import (
	"context"
	"strings"
	"sync"

	"plumb/actions"
)

// FakeRunner records every command and answers probes from canned output.
// It fails (or "crashes", by panicking with Crash) at the command equal
// to FailOn (CrashOn).
type FakeRunner struct {
	mu         sync.Mutex // ApplyAll runs containers' batches side by side
	Calls      []string
	Stdins     []string // what each call read on stdin, "" for none
	FailOn     string
	FailStderr string
	CrashOn    string
	Sysctl     string // what `sysctl -n` prints
}

// Crash is what FakeRunner panics with at CrashOn: a plumb killed there.
type Crash struct{}

func (f *FakeRunner) Run(_ context.Context, argv []string, stdin []byte) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	line := actions.Quote(argv)
	f.Calls = append(f.Calls, line)
	f.Stdins = append(f.Stdins, string(stdin))
	if line == f.CrashOn {
		panic(Crash{})
	}
	if line == f.FailOn {
		stderr := f.FailStderr
		if stderr == "" {
			stderr = "RTNETLINK answers: File exists"
		}
		return nil, &actions.ExecError{Argv: argv, Code: 2, Stderr: stderr}
	}
	switch {
	case strings.HasPrefix(line, "sysctl -n "):
		v := f.Sysctl
		if v == "" {
			v = "0"
		}
		return []byte(v + "\n"), nil
	case strings.Contains(line, "ip -j link show"):
		return []byte(`[{"ifname":"lo"},{"ifname":"eth0"}]`), nil
	case line == "ip -j route show default":
		return []byte(`[{"dst":"default","gateway":"192.0.2.1","dev":"eth0","flags":[]}]`), nil
	}
	return nil, nil
}

// Must is v, or a panic: for plans a test knows to be valid.
func Must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
