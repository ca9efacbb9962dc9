// Package progress shows long work while it runs: on a terminal, a line
// per item with its bytes and rate, redrawn (mpb); elsewhere (a log file,
// CI) one line per item once it ends; nothing when quiet. Logs written
// meanwhile go through Log, which prints them above the bars: the two
// never share a line.
package progress

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// Mode is how a Tracker shows its items.
type Mode int

const (
	Quiet Mode = iota // nothing
	Lines             // a line per item once it ends
	Bars              // a redrawn line per item, with bytes and rate
)

// Log is the writer logs go to: out, or while a Tracker draws bars, the
// bars' container, which prints a log line above them.
type Log struct {
	mu  sync.Mutex
	out io.Writer
	via io.Writer
}

// NewLog is a Log writing to out.
func NewLog(out io.Writer) *Log { return &Log{out: out} }

func (l *Log) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.via != nil {
		if n, err := l.via.Write(b); err == nil {
			return n, nil
		}
	}
	return l.out.Write(b)
}

func (l *Log) route(w io.Writer) {
	l.mu.Lock()
	l.via = w
	l.mu.Unlock()
}

// Tracker shows the items of one piece of work. The nil Tracker shows
// nothing; its items count nothing.
type Tracker struct {
	mode Mode
	out  io.Writer
	logs []*Log
	bars *mpb.Progress
	// mu: one line at a time in Lines mode, items, bars and waited.
	mu     sync.Mutex
	items  []*Item
	waited bool
}

// New is a Tracker writing to out (stderr) in mode; log, when not nil (the
// logger's), is routed above the bars while they are drawn.
func New(mode Mode, out io.Writer, log *Log) *Tracker {
	t := &Tracker{mode: mode, out: out}
	if log != nil {
		t.logs = []*Log{log}
	}
	return t
}

// Route has l, too, printed above the bars while they are drawn (stdout,
// when it is the same terminal). Before the first item only.
func (t *Tracker) Route(l *Log) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.logs = append(t.logs, l)
}

// Bars reports whether t draws bars.
func (t *Tracker) Bars() bool { return t != nil && t.mode == Bars }

// start draws the bars from the first item on (t.mu held): work that
// turns out to have no item draws nothing and leaves the logs alone.
func (t *Tracker) start() {
	if t.mode != Bars || t.bars != nil || t.waited {
		return
	}
	// Auto refresh: Bars is chosen for a terminal, which mpb would check
	// again, and without a refresh it would hold log lines back.
	t.bars = mpb.New(mpb.WithOutput(t.out), mpb.WithWidth(40), mpb.WithRefreshRate(150*time.Millisecond), mpb.WithAutoRefresh())
	for _, l := range t.logs {
		l.route(t.bars)
	}
}

// Item is one thing being done: a layer being unpacked, a service being
// created.
type Item struct {
	t     *Tracker
	name  string
	bar   *mpb.Bar
	bytes atomic.Int64
	start time.Time
	ended atomic.Bool
}

// Item starts an item named name; counted says whether it counts bytes
// (Add), shown with their rate. Its line stays once it ends.
func (t *Tracker) Item(name string, counted bool) *Item { return t.item(name, counted, false) }

// Step starts an item that is drawn only while it runs, with its time:
// one whose end the caller says itself (compose up's line on stdout).
// Off a terminal it writes nothing.
func (t *Tracker) Step(name string) *Item {
	if t == nil || t.mode != Bars {
		return nil
	}
	return t.item(name, false, true)
}

func (t *Tracker) item(name string, counted, transient bool) *Item {
	if t == nil || t.mode == Quiet {
		return nil
	}
	it := &Item{t: t, name: name, start: time.Now()}
	t.mu.Lock()
	t.start()
	t.items = append(t.items, it)
	bars := t.bars
	t.mu.Unlock()
	if bars != nil {
		// The name first and as it is (no column synced to the longest:
		// an 80-column terminal cut every line before its status).
		decors := []decor.Decorator{decor.Name(name + " ")}
		if counted {
			decors = append(decors, decor.Current(decor.SizeB1024(0), "% .1f "),
				decor.AverageSpeed(decor.SizeB1024(0), "% .1f "))
		} else {
			start := it.start
			decors = append(decors, decor.Any(func(decor.Statistics) string {
				return fmt.Sprintf("%.1f s ", time.Since(start).Seconds())
			}))
		}
		opts := []mpb.BarOption{mpb.BarWidth(1), mpb.PrependDecorators(decors...),
			mpb.AppendDecorators(decor.OnAbort(decor.OnComplete(decor.Name(""), " done"), " failed"))}
		if transient {
			opts = append(opts, mpb.BarRemoveOnComplete())
		}
		it.bar = bars.New(0, mpb.SpinnerStyle(), opts...)
	}
	return it
}

// Add counts n more bytes.
func (it *Item) Add(n int64) {
	if it == nil {
		return
	}
	it.bytes.Add(n)
	if it.bar != nil {
		it.bar.IncrInt64(n)
	}
}

// Done ends the item; err says it failed. Only the first call counts.
func (it *Item) Done(err error) {
	if it == nil || it.ended.Swap(true) {
		return
	}
	if it.bar != nil {
		if err != nil {
			it.bar.Abort(false)
		} else {
			it.bar.SetTotal(-1, true)
		}
		return
	}
	took := time.Since(it.start)
	line := it.name + ": "
	switch n := it.bytes.Load(); {
	case err != nil:
		line += "failed"
	case n > 0:
		line += fmt.Sprintf("%s in %.2f s (%s/s)", Size(n), took.Seconds(), Size(int64(float64(n)/max(took.Seconds(), 1e-3))))
	default:
		line += fmt.Sprintf("done in %.2f s", took.Seconds())
	}
	it.t.mu.Lock()
	fmt.Fprintln(it.t.out, line)
	it.t.mu.Unlock()
}

// Wait ends the work: every item not ended yet is shown failed, the bars
// are drawn a last time and logs go straight to their writer again. An
// item started after Wait is shown as a line.
func (t *Tracker) Wait() {
	if t == nil {
		return
	}
	t.mu.Lock()
	items, bars, waited := t.items, t.bars, t.waited
	t.waited = true
	t.mu.Unlock()
	if bars == nil || waited {
		return
	}
	for _, it := range items {
		it.Done(errUnfinished)
	}
	bars.Wait()
	for _, l := range t.logs {
		l.route(nil)
	}
}

var errUnfinished = errors.New("not finished")

// Size is n bytes in binary units, as the bars show them: "12.3 MiB".
func Size(n int64) string {
	v, units := float64(n), []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}
