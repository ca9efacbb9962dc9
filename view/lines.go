package view

import (
	"bytes"
	"io"
	"sync"
)

// LockedWriter is W shared by several writers: a Write at a time.
type LockedWriter struct {
	W  io.Writer
	Mu *sync.Mutex
}

func (l *LockedWriter) Write(b []byte) (int, error) {
	l.Mu.Lock()
	defer l.Mu.Unlock()
	return l.W.Write(b)
}

// PrefixWriter writes each line to W after Prefix, whole lines only (one
// Write each, so that writers side by side never split a line: the logs
// of a project's containers, followed together); Flush writes what is
// left of a last line.
type PrefixWriter struct {
	W      io.Writer
	Prefix string
	buf    []byte
}

func (p *PrefixWriter) Write(b []byte) (int, error) {
	p.buf = append(p.buf, b...)
	i := bytes.LastIndexByte(p.buf, '\n')
	if i < 0 {
		return len(b), nil
	}
	var out []byte
	for _, line := range bytes.SplitAfter(p.buf[:i+1], []byte("\n")) {
		if len(line) > 0 {
			out = append(append(out, p.Prefix...), line...)
		}
	}
	p.buf = append(p.buf[:0], p.buf[i+1:]...)
	if _, err := p.W.Write(out); err != nil {
		return 0, err
	}
	return len(b), nil
}

// Flush writes a last line that had no newline, with one.
func (p *PrefixWriter) Flush() {
	if len(p.buf) > 0 {
		p.Write([]byte("\n"))
	}
}
