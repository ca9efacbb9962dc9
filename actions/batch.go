package actions

import (
	"regexp"
	"strconv"
	"strings"
)

// Tool is a family of commands that can run many lines in one process.
type Tool int

// The tool families plumb batches.
const (
	// IP lines run as one `ip -batch -`, which stops at the first failing
	// line; the lines before it stay applied.
	IP Tool = iota + 1
	// Iptables lines of one table run as one `iptables-restore --noflush`,
	// which commits the table whole or not at all.
	Iptables
	// Nft steps run as one `nft -f -`: one transaction, applied whole or
	// not at all.
	Nft
)

// Batch names the one process that can run a step's line together with the
// lines of other steps: a tool, the namespace it runs in, and for iptables
// the table. Steps of equal Batch values share a process.
type Batch struct {
	Tool  Tool
	In    Netns
	Table Table
}

// Batchable is an action whose command can be one line of a batch. ok is
// false when this action's words cannot be written as a batch line (a word
// the tool's batch reader would split or misread).
type Batchable interface {
	Batch() (b Batch, line string, ok bool)
}

// Argv is the batch process as a person would type it: `ip -batch -`, run
// inside a container as the action's own command would be (`ip -n NAME`,
// `nsenter -t PID -n`, `nsenter --net=PATH`), or `iptables-restore --noflush`.
func (b Batch) Argv() []string {
	switch b.Tool {
	case Iptables:
		return []string{"iptables-restore", "--noflush"}
	case Nft:
		return []string{"nft", "-f", "-"}
	}
	return b.In.Wrap(b.Inside())
}

// Inside is the batch process as started by plumb itself inside its
// namespace (see Entering): the tool alone.
func (b Batch) Inside() []string {
	if b.Tool == Iptables || b.Tool == Nft {
		return b.Argv()
	}
	return []string{"ip", "-batch", "-"}
}

// Input is the batch's standard input for lines.
func (b Batch) Input(lines []string) []byte {
	if b.Tool == Iptables {
		lines = append(append([]string{"*" + string(b.Table)}, lines...), "COMMIT")
	}
	return []byte(strings.Join(lines, "\n") + "\n")
}

// Atomic reports whether a failed batch applied none of its lines.
func (b Batch) Atomic() bool { return b.Tool == Iptables || b.Tool == Nft }

// Outcome is what a failed batch of n lines left: lines [0, Done) applied,
// line Failed the one that failed. Unsure means the tool did not say which
// line failed, so every line may have run.
type Outcome struct {
	Failed, Done int
	Unsure       bool
}

var (
	ipFailedLine       = regexp.MustCompile(`Command failed [^:\n]*:(\d+)`)
	iptablesFailedLine = regexp.MustCompile(`(?i)line:? (\d+)`)
)

// Outcome reads a failed batch's stderr.
func (b Batch) Outcome(stderr string, n int) Outcome {
	if b.Tool == Nft {
		// Atomic: none of it applied. A step's input is several lines, so
		// nft's line number does not name the step; its stderr, kept
		// whole in the error, does.
		return Outcome{}
	}
	if b.Tool == Iptables {
		// Line 1 of the input is the table's header.
		if m := iptablesFailedLine.FindStringSubmatch(stderr); m != nil {
			if k, _ := strconv.Atoi(m[1]); k >= 2 && k-2 < n {
				return Outcome{Failed: k - 2}
			}
		}
		return Outcome{}
	}
	k := 0
	if m := ipFailedLine.FindStringSubmatch(stderr); m != nil {
		k, _ = strconv.Atoi(m[1])
	}
	if k < 1 || k > n {
		return Outcome{Unsure: true}
	}
	return Outcome{Failed: k - 1, Done: k - 1}
}

// FailedLines splits the stderr of `ip -force -batch` into each failing
// line's message, by line number (from 1): ip prints the message, then
// "Command failed -:N".
func FailedLines(stderr string) map[int]string {
	out := map[int]string{}
	var msg []string
	for _, l := range strings.Split(stderr, "\n") {
		if m := ipFailedLine.FindStringSubmatch(l); m != nil {
			n, _ := strconv.Atoi(m[1])
			out[n] = strings.Join(msg, "; ")
			msg = nil
			continue
		}
		if l = strings.TrimSpace(l); l != "" {
			msg = append(msg, l)
		}
	}
	return out
}

// ipBatch is the batch line of an ip command (its words after "ip") run in in.
func ipBatch(in Netns, args []string) (Batch, string, bool) {
	for _, w := range args {
		if !Bare(w) {
			return Batch{}, "", false
		}
	}
	return Batch{Tool: IP, In: in}, strings.Join(args, " "), true
}

// ipArgv is an ip command run in in, as a person would type it.
func ipArgv(in Netns, args ...string) []string {
	return in.Wrap(append([]string{"ip"}, args...))
}
