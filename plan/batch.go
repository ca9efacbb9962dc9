package plan

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/rs/zerolog"

	"plumb/actions"
)

// Mode is how Apply starts processes for a plan's steps.
type Mode int

const (
	// Batch runs consecutive ip steps for one namespace as one `ip -batch -`
	// and consecutive iptables steps of one table as one
	// `iptables-restore --noflush`: far fewer processes, the same commands.
	Batch Mode = iota
	// Each runs one process per step, for debugging.
	Each
)

// batchGroup is consecutive steps that one process can run.
type batchGroup struct {
	key   string        // steps of one key can share the process
	in    actions.Netns // the container the steps enter; zero: the host
	argv  []string      // the batch process
	table string        // for iptables-restore
	lines []string      // one per step
}

var plainWord = regexp.MustCompile(`^[A-Za-z0-9_.:/,=+@%!\-]+$`)

// batchLine says which batch a step can join (its key), the batch process,
// and the step's line in it.
func batchLine(s Step) (key string, argv []string, table, line string, ok bool) {
	a := s.Action
	if s.Shared != "" {
		return "", nil, "", "", false
	}
	if _, p := a.(actions.Preparer); p {
		return "", nil, "", "", false
	}
	if _, c := a.(actions.Custom); c {
		return "", nil, "", "", false
	}
	args := a.Argv()
	for _, w := range args {
		if !plainWord.MatchString(w) {
			return "", nil, "", "", false
		}
	}
	switch {
	case len(args) > 3 && args[0] == "ip" && args[1] == "-n":
		return "ip -n " + args[2], []string{"ip", "-n", args[2], "-batch", "-"}, "", strings.Join(args[3:], " "), true
	case len(args) > 1 && args[0] == "ip" && args[1] == "netns":
		// Runs alone: steps after it enter the namespace it makes, and they
		// are checked before their batch starts.
		return "", nil, "", "", false
	case len(args) > 1 && args[0] == "ip" && !strings.HasPrefix(args[1], "-"):
		return "ip", []string{"ip", "-batch", "-"}, "", strings.Join(args[1:], " "), true
	case len(args) > 5 && args[0] == "nsenter" && args[1] == "-t" && args[3] == "-n" && args[4] == "ip" && !strings.HasPrefix(args[5], "-"):
		return "nsenter " + args[2], []string{"nsenter", "-t", args[2], "-n", "ip", "-batch", "-"}, "", strings.Join(args[5:], " "), true
	case len(args) > 2 && args[0] == "iptables":
		rest, t := args[1:], "filter"
		if rest[0] == "-t" && len(rest) > 2 {
			t, rest = rest[1], rest[2:]
		}
		switch rest[0] {
		case "-N":
			line = ":" + rest[1] + " - [0:0]"
		case "-A", "-I":
			line = strings.Join(rest, " ")
		default:
			return "", nil, "", "", false
		}
		return "iptables " + t, []string{"iptables-restore", "--noflush"}, t, line, true
	}
	return "", nil, "", "", false
}

// group returns how many steps from steps[0] on run as one batch (1: alone).
func group(steps []Step) (int, *batchGroup) {
	key, argv, table, line, ok := batchLine(steps[0])
	if !ok {
		return 1, nil
	}
	g := &batchGroup{key: key, argv: argv, table: table, lines: []string{line}}
	switch {
	case argv[0] == "ip" && argv[1] == "-n":
		g.in = actions.Netns{Name: argv[2]}
	case argv[0] == "nsenter":
		g.in.PID, _ = strconv.Atoi(argv[2])
	}
	for _, s := range steps[1:] {
		k, _, _, l, ok := batchLine(s)
		if !ok || k != key {
			break
		}
		g.lines = append(g.lines, l)
	}
	return len(g.lines), g
}

// inside is the batch as run inside its container by plumb itself.
var inside = []string{"ip", "-batch", "-"}

// run starts the batch's process. A container's batch is started inside
// its namespace by plumb itself where the runner can (see
// actions.Entering), as `nsenter --net=NS ip -batch -` would run it: the
// same lines, one exec less.
func (g *batchGroup) run(ctx context.Context, r actions.Runner, targetID string) error {
	if e, ok := r.(actions.Entering); ok && !g.in.IsHost() {
		zerolog.Ctx(ctx).Debug().Msgf("%s runs as %s, started inside %s by plumb", actions.Quote(g.argv), actions.Quote(inside), g.in.Label())
		_, err := e.RunIn(ctx, g.in, targetID, inside, g.input())
		return err
	}
	_, err := r.Run(ctx, g.argv, g.input())
	return err
}

func (g *batchGroup) input() []byte {
	lines := g.lines
	if g.table != "" {
		lines = append(append([]string{"*" + g.table}, lines...), "COMMIT")
	}
	return []byte(strings.Join(lines, "\n") + "\n")
}

var (
	ipFailedLine       = regexp.MustCompile(`Command failed [^:\n]*:(\d+)`)
	iptablesFailedLine = regexp.MustCompile(`(?i)line:? (\d+)`)
)

// applyBatch runs steps[from:from+len(g.lines)] as one process. The journal
// is written once before (every step started) and once after. On failure it
// returns the index of the failing step; ip -batch stops there (the lines
// before it stay applied), iptables-restore applies nothing of the table.
func applyBatch(ctx context.Context, r actions.Runner, st *Store, rec *Record, p *Plan, from int, g *batchGroup) (int, error) {
	n := len(g.lines)
	zerolog.Ctx(ctx).Info().Str("object", rec.ID()).Msgf("steps %d-%d/%d as one process: %s", from+1, from+n, len(p.Steps), actions.Quote(g.argv))
	for i := from; i < from+n; i++ {
		a := p.Steps[i].Action
		zerolog.Ctx(ctx).Info().Str("object", rec.ID()).Msgf("step %d/%d: %s", i+1, len(p.Steps), actions.Quote(a.Argv()))
		if t, ok := a.(actions.Targeted); ok && !t.Target().IsHost() {
			if err := sameTarget(rec, t.Target()); err != nil {
				return i, err
			}
		}
		if u := a.Undo(); u != nil {
			enc, err := encode(u)
			if err != nil {
				return i, err
			}
			rec.Steps[i].Undo = enc
		}
		rec.Steps[i].Status = Started
	}
	if err := st.Save(rec); err != nil {
		return from, err
	}
	err := g.run(ctx, r, rec.TargetID)
	if err == nil {
		for i := from; i < from+n; i++ {
			rec.Steps[i].Status = Done
		}
		return -1, st.Save(rec)
	}
	k, status := g.outcome(actions.StderrOf(err))
	for j, stat := range status {
		rec.Steps[from+j].Status = stat
	}
	failed := from + k
	return failed, g.blame(err, p.Steps[failed].Action)
}

// blame turns a batch's error into the failing step's: its own command,
// with what the batch said.
func (g *batchGroup) blame(err error, a actions.Action) error {
	var ee *actions.ExecError
	if errors.As(err, &ee) {
		return &actions.ExecError{Argv: a.Argv(), Code: ee.Code,
			Stderr: fmt.Sprintf("%s (run as one batch: %s)", strings.TrimSpace(ee.Stderr), actions.Quote(g.argv)), Err: ee.Err}
	}
	return err
}

// outcome reads a failed batch's stderr: the line that failed (an index of
// g.lines; 0 when the stderr does not say) and where each line stands. ip
// -batch stops at the failing line and the lines before it stay applied;
// when it does not say which line failed, every line may have run.
// iptables-restore applies nothing of the table.
func (g *batchGroup) outcome(stderr string) (int, []Status) {
	n := len(g.lines)
	status := make([]Status, n)
	if g.table == "" {
		m := ipFailedLine.FindStringSubmatch(stderr)
		k := 0
		if m != nil {
			k, _ = strconv.Atoi(m[1])
		}
		if k < 1 || k > n {
			for i := range status {
				status[i] = Started
			}
			return 0, status
		}
		for i := range status {
			switch {
			case i < k-1:
				status[i] = Done
			case i == k-1:
				status[i] = Started // the caller marks it failed
			default:
				status[i] = Pending
			}
		}
		return k - 1, status
	}
	failed := 0
	if m := iptablesFailedLine.FindStringSubmatch(stderr); m != nil {
		if k, _ := strconv.Atoi(m[1]); k >= 2 && k-2 < n {
			failed = k - 2
		}
	}
	for i := range status {
		status[i] = Pending
	}
	return failed, status
}
