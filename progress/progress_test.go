package progress

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// syncBuffer is a bytes.Buffer several goroutines write.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLines: off a terminal, one line per item once it ends, with its
// bytes and rate when it counts them; nothing when quiet.
func TestLines(t *testing.T) {
	var out syncBuffer
	tr := New(Lines, &out, nil)
	a := tr.Item("layer 1/2 45a9eaa7d211", true)
	b := tr.Item("layer 2/2 9bd0ea2c1a34", true)
	c := tr.Item("service web", false)
	a.Add(3 << 20)
	a.Add(1 << 19)
	b.Add(10)
	b.Done(errors.New("digest mismatch"))
	a.Done(nil)
	a.Done(nil) // once only
	c.Done(nil)
	st := tr.Step("container web-1: create") // drawn on a terminal only
	st.Done(nil)
	tr.Wait()
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	want := []*regexp.Regexp{
		regexp.MustCompile(`^layer 2/2 9bd0ea2c1a34: failed$`),
		regexp.MustCompile(`^layer 1/2 45a9eaa7d211: 3\.5 MiB in [0-9.]+ s \([0-9.]+ [KMGT]?i?B/s\)$`),
		regexp.MustCompile(`^service web: done in [0-9.]+ s$`),
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(want), out.String())
	}
	for i, re := range want {
		if !re.MatchString(lines[i]) {
			t.Errorf("line %d: %q does not match %s", i+1, lines[i], re)
		}
	}

	var quiet syncBuffer
	q := New(Quiet, &quiet, nil)
	it := q.Item("layer", true)
	it.Add(5)
	it.Done(nil)
	q.Wait()
	var none *Tracker
	none.Item("x", true).Add(1)
	none.Wait()
	if quiet.String() != "" {
		t.Errorf("quiet printed %q", quiet.String())
	}
}

// TestBarsAndLogs: with bars drawn, a log line goes above them whole, and
// after Wait logs go straight out again; every item ends drawn as done or
// failed, one not ended as failed.
func TestBarsAndLogs(t *testing.T) {
	var out syncBuffer
	log := NewLog(&out)
	tr := New(Bars, &out, log)
	a := tr.Item("layer 1/2", true)
	b := tr.Item("layer 2/2", true)
	a.Add(1 << 20)
	log.Write([]byte("12:00:00 INF a log line while the bars run\n"))
	a.Done(nil)
	_ = b // never ended: Wait shows it failed
	tr.Wait()
	log.Write([]byte("12:00:01 INF after\n"))
	text := out.String()
	if !regexp.MustCompile(`(?m)^(\x1b\[[0-9;]*[A-Za-z])*12:00:00 INF a log line while the bars run$`).MatchString(text) {
		t.Errorf("the log line is not a line of its own:\n%q", text)
	}
	for _, want := range []string{"layer 1/2", "1.0 MiB", "done", "layer 2/2", "failed"} {
		if !strings.Contains(text, want) {
			t.Errorf("the bars lack %q:\n%q", want, text)
		}
	}
	if !strings.HasSuffix(text, "12:00:01 INF after\n") {
		t.Errorf("a log after Wait is not written straight out:\n%q", text)
	}
}

func TestSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 3<<20 + 1<<19: "3.5 MiB", 5 << 30: "5.0 GiB"} {
		if got := Size(n); got != want {
			t.Errorf("Size(%d) = %q, want %q", n, got, want)
		}
	}
}
