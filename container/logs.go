package container

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"time"
)

// LogOptions are `plumb logs`' choices, as docker logs takes them.
type LogOptions struct {
	Follow     bool // go on until the container ends
	Tail       int  // the last Tail lines; negative: all
	Timestamps bool // each line after the time it was written
}

// LogRecord is a line of a container's log: Docker's json-file record (a
// line of its output, the stream, the time the shim read it; the shim
// writes them), or a plain line (a runbook's `>>LOG 2>&1`).
type LogRecord struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

func parseRecord(line []byte) LogRecord {
	var r LogRecord
	if json.Unmarshal(line, &r) != nil || r.Stream == "" {
		return LogRecord{Log: string(line), Stream: "stdout"}
	}
	return r
}

// WriteLogs writes a container's log, path (and path.1, the part rotated
// out before it), to out (stdout's lines) and errw (stderr's), as docker
// logs does. Following, it reads on until ended says the container has
// ended and nothing more was written, or ctx ends.
func WriteLogs(ctx context.Context, out, errw io.Writer, path string, opts LogOptions, ended func() bool) error {
	var recs []LogRecord
	for _, p := range []string{path + ".1", path} {
		data, err := os.ReadFile(p)
		if os.IsNotExist(err) {
			continue
		} else if err != nil {
			return err
		}
		for _, l := range bytes.SplitAfter(data, []byte("\n")) {
			if len(bytes.TrimSpace(l)) > 0 {
				recs = append(recs, parseRecord(bytes.TrimSuffix(l, []byte("\n"))))
			}
		}
	}
	if opts.Tail >= 0 && len(recs) > opts.Tail {
		recs = recs[len(recs)-opts.Tail:]
	}
	show := func(r LogRecord) {
		w := out
		if r.Stream == "stderr" {
			w = errw
		}
		if opts.Timestamps && !r.Time.IsZero() {
			io.WriteString(w, r.Time.UTC().Format(time.RFC3339Nano)+" ")
		}
		io.WriteString(w, r.Log)
	}
	for _, r := range recs {
		show(r)
	}
	if !opts.Follow {
		return nil
	}
	var offset int64
	if fi, err := os.Stat(path); err == nil {
		offset = fi.Size()
	}
	var partial []byte
	for {
		done := ended()
		f, err := os.Open(path)
		if err == nil {
			if fi, err := f.Stat(); err == nil && fi.Size() < offset {
				offset = 0 // rotated: LOG is a new file
			}
			f.Seek(offset, io.SeekStart)
			br := bufio.NewReader(f)
			for {
				line, err := br.ReadBytes('\n')
				offset += int64(len(line))
				if err != nil {
					partial = append(partial, line...)
					break
				}
				show(parseRecord(bytes.TrimSuffix(append(partial, line...), []byte("\n"))))
				partial = partial[:0]
			}
			f.Close()
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}
