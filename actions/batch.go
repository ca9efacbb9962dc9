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
	// Iptables lines run as one `iptables-restore --noflush`, each table's
	// lines a block of their own that it commits whole or not at all, one
	// block after another: a step group's rules in filter and nat are one
	// process.
	Iptables
	// Ip6tables lines are Iptables lines of IPv6's tables, run as one
	// `ip6tables-restore --noflush`.
	Ip6tables
	// Nft steps run as one `nft -f -`: one transaction, applied whole or
	// not at all.
	Nft
	// Bridge lines run as one `bridge -batch -` (a mesh's forwarding
	// entries), which, as ip, stops at the first failing line and says
	// "Command failed -:N"; the lines before it stay applied.
	Bridge
)

// Firewall reports whether the tool's lines are firewall rules (iptables,
// ip6tables, nft), which plumb warns about where other firewalls may
// interfere; ip and bridge lines are links, addresses, routes and
// forwarding entries.
func (t Tool) Firewall() bool { return t == Iptables || t == Ip6tables || t == Nft }

// Batch names the one process that can run a step's line together with the
// lines of other steps: a tool and the namespace it runs in. Steps of equal
// Batch values share a process. An iptables line starts with its table and
// a tab (see Input).
type Batch struct {
	Tool Tool
	In   Netns
}

// Batchable is an action whose command can be one line of a batch. ok is
// false when this action's words cannot be written as a batch line (a word
// the tool's batch reader would split or misread).
type Batchable interface {
	Batch() (b Batch, line string, ok bool)
}

// Argv is the batch process as a person would type it: `ip -batch -` or
// `bridge -batch -`, run inside a container as the action's own command
// would be (`ip -n NAME`, `nsenter -t PID -n`, `nsenter --net=PATH`), or
// `iptables-restore --noflush`.
func (b Batch) Argv() []string {
	switch b.Tool {
	case IP, Bridge:
		return b.In.Wrap(b.Inside())
	}
	return b.Inside()
}

// Inside is the batch process as started by plumb itself inside its
// namespace (see Entering): the tool alone. The firewall tools run on the
// host only, so theirs is their Argv.
func (b Batch) Inside() []string {
	switch b.Tool {
	case IP:
		return []string{"ip", "-batch", "-"}
	case Bridge:
		return []string{"bridge", "-batch", "-"}
	case Iptables:
		return []string{"iptables-restore", "--noflush"}
	case Ip6tables:
		return []string{"ip6tables-restore", "--noflush"}
	case Nft:
		return []string{"nft", "-f", "-"}
	}
	return nil
}

// Input is the batch's standard input for lines. iptables lines become
// table blocks, a new block wherever the table changes: `*nat`, its lines,
// COMMIT.
func (b Batch) Input(lines []string) []byte {
	if b.xtables() {
		var out []string
		for i, blk := range iptablesBlocks(lines) {
			if i > 0 {
				out = append(out, "COMMIT")
			}
			out = append(out, "*"+string(blk.table))
			for _, l := range lines[blk.from:blk.to] {
				_, rule, _ := strings.Cut(l, "\t")
				out = append(out, rule)
			}
		}
		lines = append(out, "COMMIT")
	}
	return []byte(strings.Join(lines, "\n") + "\n")
}

// block is lines [from, to) of one table, in an iptables batch.
type block struct {
	table    Table
	from, to int
}

func iptablesBlocks(lines []string) []block {
	var out []block
	for i, l := range lines {
		t, _, _ := strings.Cut(l, "\t")
		if len(out) == 0 || out[len(out)-1].table != Table(t) {
			out = append(out, block{table: Table(t), from: i})
		}
		out[len(out)-1].to = i + 1
	}
	return out
}

// iptablesLine is a rule's line in an iptables batch: its table, a tab,
// the words iptables-restore reads.
func iptablesLine(t Table, words string) string { return string(t) + "\t" + words }

// Atomic reports whether a failed batch's failing line was applied with
// none of the lines of its block (for iptables and ip6tables, its
// table's block; ip and bridge apply the lines before it; nft applies
// none of its transaction).
func (b Batch) Atomic() bool { return b.xtables() || b.Tool == Nft }

// xtables reports whether the batch is iptables-restore's or
// ip6tables-restore's, which read the same input.
func (b Batch) xtables() bool { return b.Tool == Iptables || b.Tool == Ip6tables }

// Outcome is what a failed batch left: lines [0, Done) applied, line Failed
// the one that failed (and, for an atomic batch, the lines from Done on
// not applied). Unsure means the tool did not say which line failed, so
// every line may have run.
type Outcome struct {
	Failed, Done int
	Unsure       bool
}

var (
	ipFailedLine       = regexp.MustCompile(`Command failed [^:\n]*:(\d+)`)
	iptablesFailedLine = regexp.MustCompile(`(?i)line:? (\d+)`)
)

// Outcome reads a failed batch's stderr, for its lines.
func (b Batch) Outcome(stderr string, lines []string) Outcome {
	n := len(lines)
	if b.Tool == Nft {
		// Atomic: none of it applied. A step's input is several lines, so
		// nft's line number does not name the step; its stderr, kept
		// whole in the error, does.
		return Outcome{}
	}
	if b.xtables() {
		// iptables-restore commits each table's block at its COMMIT and
		// stops at the first that fails: the blocks before it are applied.
		// Its input's line numbers count each block's header and COMMIT.
		blocks := iptablesBlocks(lines)
		if m := iptablesFailedLine.FindStringSubmatch(stderr); m != nil {
			k, _ := strconv.Atoi(m[1])
			at := 1 // input line number of the block's header
			for _, blk := range blocks {
				first, commit := at+1, at+1+blk.to-blk.from
				switch {
				case k >= first && k < commit:
					return Outcome{Failed: blk.from + k - first, Done: blk.from}
				case k == at || k == commit:
					// The block's header or its COMMIT: the kernel
					// refused the block as a whole (iptables-nft names
					// a jump to a missing chain at COMMIT, legacy every
					// rule the kernel rejects): not applied, the blocks
					// before it were.
					return Outcome{Failed: blk.from, Done: blk.from}
				}
				at = commit + 1
			}
		}
		if len(blocks) > 1 {
			return Outcome{Unsure: true}
		}
		return Outcome{}
	}
	// ip and bridge: "Command failed -:N" after the failing line's message
	// (bridge's batch reader is ip's).
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
func ipBatch(in Netns, args []string) (Batch, string, bool) { return wordsBatch(IP, in, args) }

// bridgeBatch is the batch line of a bridge command (its words after
// "bridge") run in in.
func bridgeBatch(in Netns, args []string) (Batch, string, bool) {
	return wordsBatch(Bridge, in, args)
}

// wordsBatch is the line of a tool whose batch reader splits lines into
// words at spaces (ip's and bridge's): none when a word would not read
// back as itself.
func wordsBatch(t Tool, in Netns, args []string) (Batch, string, bool) {
	for _, w := range args {
		if !Bare(w) {
			return Batch{}, "", false
		}
	}
	return Batch{Tool: t, In: in}, strings.Join(args, " "), true
}

// ipArgv is an ip command run in in, as a person would type it.
func ipArgv(in Netns, args ...string) []string {
	return in.Wrap(append([]string{"ip"}, args...))
}

// bridgeArgv is a bridge command run in in, as a person would type it.
func bridgeArgv(in Netns, args ...string) []string {
	return in.Wrap(append([]string{"bridge"}, args...))
}
