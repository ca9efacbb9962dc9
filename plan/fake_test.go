package plan

import (
	"context"
	"strings"
	"sync"

	"plumb/actions"
)

// fakeRunner records every command and answers probes from canned output.
// It fails (or "crashes", by panicking) at the command equal to failOn.
type fakeRunner struct {
	mu         sync.Mutex // ApplyAll runs containers' batches side by side
	calls      []string
	stdins     []string // what each call read on stdin, "" for none
	failOn     string
	failStderr string
	crashOn    string
	sysctl     string // what `sysctl -n` prints
}

type crash struct{}

func (f *fakeRunner) Run(_ context.Context, argv []string, stdin []byte) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	line := actions.Quote(argv)
	f.calls = append(f.calls, line)
	f.stdins = append(f.stdins, string(stdin))
	if line == f.crashOn {
		panic(crash{})
	}
	if line == f.failOn {
		stderr := f.failStderr
		if stderr == "" {
			stderr = "RTNETLINK answers: File exists"
		}
		return nil, &actions.ExecError{Argv: argv, Code: 2, Stderr: stderr}
	}
	switch {
	case strings.HasPrefix(line, "sysctl -n "):
		v := f.sysctl
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

// must is v, or a panic: for plans a test knows to be valid.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
