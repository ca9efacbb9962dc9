package supervise

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"plumb/actions"
	"plumb/container"
	"plumb/plan"
)

// LogMax is the size at which a container's log is rotated: the log
// becomes LOG.1 (the one before is dropped) and a new LOG begins, so a
// container keeps at most twice this (Docker's json-file with max-size
// 10m and max-file 2).
const LogMax = 10 << 20

// logLineMax is the longest log record: a longer line is split, as
// Docker's json-file splits at 16 KiB.
const logLineMax = 16 << 10

// ShimMain is `plumb shim --log LOG --exit FILE --pid-file FILE -- RUNTIME
// ... run --detach ...`. It runs the runtime with the container's stdout
// and stderr on pipes of its own, as a child subreaper: when the runtime
// returns, the container's first process becomes its child. It tells
// plumb how the runtime ended (ShimStatusFD), then copies the output to
// LOG a line a record, waits for the process and writes its status to the
// exit file. It returns its own exit code. Its protocol with plumb is
// actions.Exec.StartShim's.
func ShimMain(args []string) int {
	fs := flag.NewFlagSet("plumb shim", flag.ContinueOnError)
	logPath := fs.String("log", "", "the container's log")
	exitPath := fs.String("exit", "", "where the container's exit status is written")
	pidPath := fs.String("pid-file", "", "where the runtime writes the container's PID")
	var then []string
	fs.Func("then", "a word of the plumb command started once the container has ended", func(v string) error {
		then = append(then, v)
		return nil
	})
	if err := fs.Parse(args); err != nil || fs.NArg() == 0 || *logPath == "" || *exitPath == "" || *pidPath == "" {
		fmt.Fprintln(os.Stderr, "plumb shim: plumb's own process beside a detached container; plumb starts it")
		return 2
	}
	syscall.CloseOnExec(actions.ShimStatusFD) // not the runtime's
	status := os.NewFile(actions.ShimStatusFD, "status")
	if name, err := unix.BytePtrFromString(actions.ShimName); err == nil {
		_ = unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(name)), 0, 0, 0)
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Fprintf(status, "fail 1\nplumb shim: becoming a subreaper: %v\n", err)
		return 1
	}
	s := &shim{argv: fs.Args(), pidPath: *pidPath, exitPath: *exitPath, collecting: true, then: then}
	// An exit file of an earlier run of the same name (kept by a reboot,
	// or written after a delete stopped waiting) is not this run's.
	if err := os.Remove(*exitPath); err != nil && !os.IsNotExist(err) {
		fmt.Fprintf(status, "fail 1\nplumb shim: %v\n", err)
		return 1
	}
	var err error
	if s.log, err = openLog(*logPath); err != nil {
		fmt.Fprintf(status, "fail 1\nplumb shim: %v\n", err)
		return 1
	}
	code := s.run(status)
	s.log.close()
	if s.ended && len(s.then) > 0 {
		s.startThen()
	}
	return code
}

type shim struct {
	argv              []string
	pidPath, exitPath string
	log               *jsonLog
	// then is the plumb command to start once the container has ended
	// (ended: it has, and its status is written).
	then  []string
	ended bool
	// first is what was written before the runtime returned: its own
	// messages and the container's first words, told to plumb when the
	// runtime fails. Kept while collecting.
	mu         sync.Mutex
	first      bytes.Buffer
	collecting bool
}

func (s *shim) run(status *os.File) int {
	tell := func(format string, a ...any) {
		fmt.Fprintf(status, format, a...)
		status.Close()
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		tell("fail 1\nplumb shim: %v\n", err)
		return 1
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		tell("fail 1\nplumb shim: %v\n", err)
		return 1
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		tell("fail 1\nplumb shim: %v\n", err)
		return 1
	}
	path, err := exec.LookPath(s.argv[0])
	if err != nil {
		tell("fail 127\nplumb shim: %v\n", err)
		return 1
	}
	cmd := exec.Command(path, s.argv[1:]...)
	cmd.Args[0] = s.argv[0]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, outW, errW
	if err := cmd.Start(); err != nil {
		tell("fail 127\nplumb shim: %v\n", err)
		return 1
	}
	outW.Close()
	errW.Close()
	devnull.Close()
	var copying sync.WaitGroup
	copying.Add(2)
	go s.copy(&copying, outR, "stdout")
	go s.copy(&copying, errR, "stderr")

	// Reap every child: the runtime first, then the container's first
	// process, which is reparented here once the runtime exits.
	var ws syscall.WaitStatus
	if _, err := wait4(cmd.Process.Pid, &ws); err != nil {
		tell("fail 1\nplumb shim: waiting for %s: %v\n", s.argv[0], err)
		return 1
	}
	if code := actions.ShellStatus(ws); code != 0 {
		// What the runtime said is on the pipes, which it has closed; the
		// container (if any) may hold them: wait a moment, not forever.
		time.Sleep(20 * time.Millisecond)
		s.mu.Lock()
		msg := s.first.String()
		s.mu.Unlock()
		tell("fail %d\n%s", code, msg)
		return 0
	}
	started := time.Now().UTC()
	pid := readPID(s.pidPath)
	tell("ok %d\n", pid)
	s.mu.Lock()
	s.collecting = false
	s.first = bytes.Buffer{}
	s.mu.Unlock()

	code := -1
	for pid > 0 {
		got, err := wait4(-1, &ws)
		if err != nil {
			break // ECHILD: no child left
		}
		if got == pid {
			code = actions.ShellStatus(ws)
		}
	}
	if code < 0 && pid > 0 {
		// Not reparented here (a runtime that double-forks through a
		// subreaper of its own): its end is seen, not its status.
		for syscall.Kill(pid, 0) == nil {
			time.Sleep(100 * time.Millisecond)
		}
	}
	copying.Wait()
	writeExit(s.exitPath, plan.ExitStatus{ExitCode: code, StartedAt: started, FinishedAt: time.Now().UTC()})
	s.ended = true
	return 0
}

// writeExit writes a container's exit file (see plan.ReadExit) whole or
// not at all: a reader never sees half of it.
func writeExit(path string, st plan.ExitStatus) {
	data, _ := json.Marshal(st)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err == nil {
		os.Rename(tmp, path)
	}
}

// startThen starts the plumb command of -d --rm (plumb rm NAME) in a
// session of its own and does not wait: that rm waits for this shim to
// end. Its output goes nowhere (the log it would go to is what it
// deletes); a failure leaves the container listed by ps -a.
func (s *shim) startThen() {
	self, err := os.Executable()
	if err != nil {
		return
	}
	// The shim's own PID names the container this rm is for: a container
	// of the same name run since is not removed (rm --if-shim).
	cmd := exec.Command(self, append(s.then, fmt.Sprintf("--if-shim=%d", os.Getpid()))...)
	cmd.Args[0] = "plumb"
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if cmd.Start() == nil {
		cmd.Process.Release()
	}
}

// copy writes r's lines to the log as records of stream.
func (s *shim) copy(wg *sync.WaitGroup, r io.ReadCloser, stream string) {
	defer wg.Done()
	defer r.Close()
	br := bufio.NewReaderSize(r, logLineMax)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			s.mu.Lock()
			if s.collecting && s.first.Len() < 4096 {
				s.first.Write(line[:min(len(line), 4096-s.first.Len())])
			}
			s.mu.Unlock()
			s.log.write(container.LogRecord{Log: string(line), Stream: stream, Time: time.Now().UTC()})
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

// jsonLog is a container's log file, rotated at LogMax.
type jsonLog struct {
	mu   sync.Mutex
	path string
	f    *os.File
	size int64
}

func openLog(path string) (*jsonLog, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &jsonLog{path: path, f: f, size: fi.Size()}, nil
}

func (l *jsonLog) write(e container.LogRecord) {
	data, err := json.Marshal(e)
	if err != nil {
		return
	}
	data = append(data, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return
	}
	if l.size > 0 && l.size+int64(len(data)) > LogMax {
		l.f.Close()
		os.Rename(l.path, l.path+".1")
		f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			l.f = nil
			return
		}
		l.f, l.size = f, 0
	}
	n, _ := l.f.Write(data)
	l.size += int64(n)
}

func (l *jsonLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
}

func wait4(pid int, ws *syscall.WaitStatus) (int, error) {
	for {
		got, err := syscall.Wait4(pid, ws, 0, nil)
		if err == syscall.EINTR {
			continue
		}
		return got, err
	}
}

func readPID(path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	return pid
}
