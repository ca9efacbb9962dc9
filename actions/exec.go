package actions

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/rs/zerolog"
)

// Runner starts one process. Everything plumb runs goes through a Runner, so
// tests can record or refuse calls, and a later batching runner can group them.
type Runner interface {
	// Run runs argv with stdin (may be nil) and returns its stdout. A failure
	// is an *ExecError carrying the command, its exit code and its stderr.
	Run(ctx context.Context, argv []string, stdin []byte) ([]byte, error)
}

// ExecError is a command that failed: what ran, how it ended, what it said.
type ExecError struct {
	Argv   []string
	Code   int // exit code; -1 when it did not exit normally
	Stderr string
	Err    error // the underlying error when the process could not start or was killed
}

func (e *ExecError) Error() string {
	var b strings.Builder
	b.WriteString(Quote(e.Argv))
	if e.Code >= 0 {
		fmt.Fprintf(&b, ": exit status %d", e.Code)
	} else if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if s := strings.TrimSpace(e.Stderr); s != "" {
		b.WriteString(": ")
		b.WriteString(s)
	}
	return b.String()
}

func (e *ExecError) Unwrap() error { return e.Err }

// MissingToolError says which Debian package provides a command not on PATH.
type MissingToolError struct {
	Tool    string
	Package string
}

func (e *MissingToolError) Error() string {
	if e.Package == "" {
		return fmt.Sprintf("%s: not found on PATH", e.Tool)
	}
	return fmt.Sprintf("%s: not found — install the %s package", e.Tool, e.Package)
}

// debianPackage maps each tool plumb runs to the Debian package that has it.
func debianPackage(tool string) string {
	switch tool {
	case "ip", "bridge":
		return "iproute2"
	case "nsenter", "unshare", "findmnt":
		return "util-linux"
	case "mount", "umount":
		return "mount"
	case "sysctl":
		return "procps"
	case "iptables", "iptables-save", "iptables-restore", "ip6tables", "ip6tables-save", "ip6tables-restore":
		return "iptables"
	case "mkdir", "rmdir", "env", "rm", "touch", "ln":
		return "coreutils"
	case "nft":
		return "nftables"
	case "tar":
		return "tar"
	case "hostname":
		return "hostname"
	case "sh":
		return "dash"
	}
	return ""
}

// maxStderr bounds what is kept of a command's stderr; the start of it says
// what went wrong, and a runaway tool must not fill memory.
const maxStderr = 64 << 10

// Exec is the Runner that starts real processes. It reads links by name
// and sysctls in-process (ReadLinks, ReadSysctl) unless ProbeByCommand,
// which reads them with `ip -j link show` and `sysctl -n` as a person would
// (--exec each, and the stand-in tests, whose stand-ins play the host).
type Exec struct {
	ProbeByCommand bool
	// Self, when set (by the CLI), runs a step that is one of plumb's own
	// commands (argv without its "plumb") inside this process, and gives
	// its exit status and what it wrote on stderr.
	Self func(ctx context.Context, args []string) (code int, stderr string)
	// SelfPath, when set (PLUMB_SELF, read by the CLI), names the binary
	// that runs plumb's own steps as processes instead, so that tests can
	// put a wrapper in front of them; Self is then not used.
	SelfPath string
}

// Run implements Runner. iptables and ip6tables commands run holding the
// xtables lock (as kube-proxy does) so concurrent plumb processes never fail
// with exit 4, while the command line stays exactly as rendered.
func (e Exec) Run(ctx context.Context, argv []string, stdin []byte) ([]byte, error) {
	return e.run(ctx, argv, stdin, nil)
}

// Entering is a Runner that can start a process inside a container's
// network namespace by itself, without nsenter or ip -n in front.
type Entering interface {
	// RunIn runs argv inside in, whose identity must still be id (see
	// Netns.Identity; "" skips the check).
	RunIn(ctx context.Context, in Netns, id string, argv []string, stdin []byte) ([]byte, error)
}

// RunIn implements Entering: a thread of plumb's own joins the namespace
// (setns) and starts the process there, which inherits it, as nsenter
// would. That spares a process per container its second exec (nsenter's)
// or its mount namespace and /sys remount (ip -n's): about 1 ms each here.
// The namespace is opened once and its identity checked on the open file,
// so a PID that died and was reused cannot lead elsewhere. Afterwards the
// thread goes back to the namespace it came from and only then is given
// back to Go; if it cannot go back, it stays locked and ends with its
// goroutine, so no other code runs in the container's namespace. Going
// back matters: the thread may be the process's main thread, which Go
// never ends (it parks it for good), and whose namespace is the one
// /proc/PID/ns/net and `ip netns pids` give for plumb; left in a
// container's namespace, a foreground `plumb run` counted as one of the
// container's processes, and `plumb stop` of it killed plumb (seen about
// once in 25 runs). The child's environment says where it runs
// (PLUMB_RUN_IN="pid N" or "netns NAME"), for wrappers in front of ip.
func (e Exec) RunIn(ctx context.Context, in Netns, id string, argv []string, stdin []byte) ([]byte, error) {
	var out []byte
	err := inside(in, id, func() error {
		var err error
		out, err = e.run(ctx, argv, stdin, []string{"PLUMB_RUN_IN=" + in.Label()})
		return err
	})
	return out, err
}

// inside runs fn on a thread of plumb's own that has joined in's network
// namespace (see RunIn), whose identity must still be id ("" skips the
// check).
func inside(in Netns, id string, fn func() error) error {
	f, err := os.Open(in.Path())
	if err != nil {
		return fmt.Errorf("entering the network namespace of %s: %w", in.Label(), err)
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return fmt.Errorf("entering the network namespace of %s: %w", in.Label(), err)
	}
	if id != "" && identity(uint64(st.Dev), st.Ino) != id {
		return fmt.Errorf("the network namespace of %s changed since plumb started (the process died and its PID was reused?); stopping", in.Label())
	}
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // until the thread is back where it was
		back, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			done <- fmt.Errorf("entering the network namespace of %s: %w", in.Label(), err)
			return
		}
		defer back.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("entering the network namespace of %s: %w", in.Label(), err)
			return
		}
		err = fn()
		if unix.Setns(int(back.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		done <- err
	}()
	return <-done
}

func (e Exec) run(ctx context.Context, argv []string, stdin []byte, env []string) ([]byte, error) {
	if len(argv) == 0 {
		return nil, errors.New("empty command")
	}
	if env != nil {
		zerolog.Ctx(ctx).Debug().Msgf("exec: %s (%s)", Quote(argv), strings.Join(env, " "))
	} else {
		zerolog.Ctx(ctx).Debug().Msgf("exec: %s", Quote(argv))
	}
	if argv[0] == "plumb" && e.Self != nil && e.SelfPath == "" {
		code, stderr := e.Self(ctx, argv[1:])
		if code == 0 {
			return nil, nil
		}
		if len(stderr) > maxStderr {
			stderr = stderr[:maxStderr]
		}
		return nil, &ExecError{Argv: argv, Code: code, Stderr: stderr}
	}
	path, err := e.lookPath(argv[0])
	if err != nil {
		return nil, &MissingToolError{Tool: argv[0], Package: debianPackage(argv[0])}
	}
	if needsXtablesLock(argv[0]) {
		unlock := xtablesLock()
		defer unlock()
	}
	cmd := exec.CommandContext(ctx, path, argv[1:]...)
	cmd.Args[0] = argv[0]
	// A step dies with plumb. Killed (SIGKILL, or SIGHUP, which plumb does
	// not catch), plumb leaves journals that `plumb recover` undoes; a step
	// that ran on, such as a layer's unpack, would write what no journal
	// names, after or while recover ran. The signal comes when the thread
	// that started the step ends: Go ends a thread only with a goroutine
	// that locked it (RunIn's), and that one waits for its step first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Env = childEnv(os.Environ(), env)
	if stdin != nil {
		// A file, not a pipe: iproute2 6.1's `ip -batch -` misreads
		// commands from a pipe ('"type" is invalid lladdr') but not from a
		// file. A memfd, not a file in /tmp: /tmp may be a disk, where
		// creating and removing a file per batch cost milliseconds.
		f, err := stdinFile()
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if _, err := f.Write(stdin); err != nil {
			return nil, err
		}
		if _, err := f.Seek(0, 0); err != nil {
			return nil, err
		}
		cmd.Stdin = f
	}
	var stdout bytes.Buffer
	stderr := &boundedBuffer{max: maxStderr}
	cmd.Stdout = &stdout
	cmd.Stderr = stderr
	err = cmd.Run()
	if err == nil {
		return stdout.Bytes(), nil
	}
	ee := &ExecError{Argv: argv, Code: -1, Stderr: stderr.String(), Err: err}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) && exitErr.Exited() {
		ee.Code = exitErr.ExitCode()
		ee.Err = nil
	}
	return stdout.Bytes(), ee
}

// childEnv is the environment of a step: plumb's own (environ), with
// LC_ALL=C and no LANGUAGE, then extra. plumb reads a failed step's stderr
// to tell "already gone" or "already there" (File exists, Cannot find
// device, No such file or directory) from a real failure; under the
// caller's locale, `LANGUAGE=de ln -s a x` says "Die Datei existiert
// bereits", the Clash was missed, and a rollback deleted a link plumb had
// not made. LC_ALL overrides LANG and every LC_*; gettext ignores LANGUAGE
// in the C locale, and it goes anyway, for a tool that reads it itself.
func childEnv(environ, extra []string) []string {
	out := make([]string, 0, len(environ)+len(extra)+1)
	for _, kv := range environ {
		if k, _, _ := strings.Cut(kv, "="); k == "LC_ALL" || k == "LANGUAGE" {
			continue
		}
		out = append(out, kv)
	}
	out = append(out, "LC_ALL=C")
	return append(out, extra...)
}

// needsXtablesLock reports whether tool is one of the iptables family
// (iptables, ip6tables, their -save and -restore, the -legacy and -nft
// variants), which contend for the xtables lock.
func needsXtablesLock(tool string) bool {
	base := filepath.Base(tool)
	return strings.HasPrefix(base, "iptables") || strings.HasPrefix(base, "ip6tables")
}

// xtablesLock takes the lock iptables itself uses, or nothing when the lock
// file cannot be opened (iptables then reports contention itself).
func xtablesLock() (unlock func()) {
	path := os.Getenv("XTABLES_LOCKFILE")
	if path == "" {
		path = "/run/xtables.lock"
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return func() {}
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return func() {}
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}
}

type boundedBuffer struct {
	buf bytes.Buffer
	max int
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.buf.Len(); room > 0 {
		if len(p) > room {
			b.buf.Write(p[:room])
		} else {
			b.buf.Write(p)
		}
	}
	return len(p), nil
}

func (b *boundedBuffer) String() string { return b.buf.String() }

// StderrOf returns the stderr of a failed command, or "" for other errors.
func StderrOf(err error) string {
	var e *ExecError
	if errors.As(err, &e) {
		return e.Stderr
	}
	return ""
}

// Start implements actions.Starter: the process runs on after plumb exits
// (its own session, stdio to a log file), or, attached, shares plumb's stdio
// and is waited for by the caller. Not tied to ctx: a container outlives the
// command that started it. Unlike a step's (childEnv), its environment is
// the caller's, locale and all: it is the container's process, whose
// output plumb never reads.
func (Exec) Start(ctx context.Context, argv []string, log string, attach bool) (int, error) {
	zerolog.Ctx(ctx).Debug().Msgf("start: %s", Quote(argv))
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return 0, &MissingToolError{Tool: argv[0], Package: debianPackage(argv[0])}
	}
	cmd := exec.Command(path, argv[1:]...)
	cmd.Args[0] = argv[0]
	if attach {
		// In the foreground the container lives only as long as plumb:
		// killed with plumb (even by SIGKILL), it is not orphaned.
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	} else {
		f, err := os.OpenFile(log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		cmd.Stdout, cmd.Stderr = f, f
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	}
	if err := cmd.Start(); err != nil {
		return 0, &ExecError{Argv: argv, Code: -1, Err: err}
	}
	pid := cmd.Process.Pid
	if !attach {
		_ = cmd.Process.Release()
	}
	return pid, nil
}

// lookPath finds a tool on PATH, and plumb itself (a step such as `plumb
// layer unpack`) as the binary running: the command shown says plumb, and
// the plumb that runs it is this one, not another on PATH. SelfPath names
// another binary to run instead, for tests that put a wrapper in front.
func (e Exec) lookPath(tool string) (string, error) {
	if tool != "plumb" {
		return exec.LookPath(tool)
	}
	if e.SelfPath != "" {
		return e.SelfPath, nil
	}
	return os.Executable()
}

// stdinFile is an anonymous file in memory (memfd_create), or where the
// kernel has none, an unlinked file in the temporary directory.
func stdinFile() (*os.File, error) {
	fd, err := unix.MemfdCreate("plumb-stdin", unix.MFD_CLOEXEC)
	if err == nil {
		return os.NewFile(uintptr(fd), "plumb-stdin"), nil
	}
	f, err := os.CreateTemp("", "plumb-stdin-")
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name())
	return f, nil
}
