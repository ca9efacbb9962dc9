// Command plumb gives containers their network with the plain commands a
// person could type, shown before they run, rolled back when a step fails
// and torn down later from what was recorded.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kong"
	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"

	"plumb/actions"
	"plumb/compose"
	"plumb/config"
	"plumb/plan"
	"plumb/plan/firewall"
	"plumb/progress"
	"plumb/supervise"
)

// CLI is plumb's command tree; each command is a struct in a file of its own.
type CLI struct {
	StateDir    pathFlag      `name:"state-dir" env:"PLUMB_STATE_DIR" default:"/run/plumb" placeholder:"DIR" help:"What lasts one boot: the journals of what plumb applied (links, rules, mounts), its index, its ledger of shared settings and its locks; a tmpfs (${env}); made absolute."`
	Root        pathFlag      `name:"root" env:"PLUMB_ROOT" default:"/var/lib/plumb" placeholder:"DIR" help:"What outlives a boot: images, imported layers, the upper directories of overlays and containers, pulls being staged (${env}); made absolute. plumb migrate moves there what an older plumb kept in --state-dir."`
	LogFormat   string        `name:"log-format" enum:"console,json" default:"console" help:"Logs on stderr: console (readable) or json (one object a line)."`
	LogLevel    string        `name:"log-level" enum:"debug,info,warn,error" default:"info" help:"Least severe log level shown; debug shows every command run, probes included."`
	Wait        time.Duration `name:"wait" default:"30s" help:"How long to wait for another plumb process holding the state directory's lock."`
	ExecMode    string        `name:"exec" env:"PLUMB_EXEC" enum:"batch,each" default:"batch" help:"batch: consecutive ip steps of one namespace run as one ip -batch, iptables steps as one iptables-restore --noflush (a block per table; ip6tables-restore for IPv6), nft steps as one nft -f -, undos too; each: one process per step, and links read by ip -j link show rather than in-process, for debugging."`
	ShowVersion versionFlag   `name:"version" help:"Print plumb's version, commit and Go version, and exit (as plumb version)."`
	Firewall    string        `name:"firewall" env:"PLUMB_FIREWALL" default:"iptables" placeholder:"iptables|nftables" predictor:"firewall" help:"The back end of new objects' firewall rules: iptables (the document's commands) or nftables (a table of plumb's own per object, one nft -f - transaction). An object keeps the back end it was made with: attach, detach and down follow it."`

	Veth       VethCmd       `cmd:"" help:"A point-to-point network between the host and one container (the document's DIY setup)."`
	Run        RunCmd        `cmd:"" help:"Run a command in a container: an overlay root, its own namespaces, a bridge network."`
	Exec       ExecCmd       `cmd:"" help:"Run a command in a running container, as docker exec: its namespaces, capabilities and environment."`
	Stop       StopCmd       `cmd:"" help:"Stop a container and undo its network and mount; its upper layer is kept unless --rm."`
	Logs       LogsCmd       `cmd:"" help:"Show what a detached container wrote to its stdout and stderr, as docker logs."`
	Rm         RmCmd         `cmd:"" help:"Remove containers, as docker rm: an ended one torn down as stop --rm, a running one only with -f."`
	Ps         PsCmd         `cmd:"" help:"List containers with PID, state and address."`
	Layer      LayerCmd      `cmd:"" help:"Layers for plumb run."`
	Image      ImageCmd      `cmd:"" help:"Images: pulled from a registry or imported from a file, each layer unpacked once and shared."`
	Volume     VolumeCmd     `cmd:"" help:"Named volumes: directories under --root that containers mount and that outlive them."`
	Bridge     BridgeCmd     `cmd:"" help:"A docker0-like network that many containers join, with NAT and published ports."`
	Mesh       MeshCmd       `cmd:"" help:"Several hosts' bridges joined over VXLAN (flannel's model), fed by Kubernetes' node list."`
	Overlay    OverlayCmd    `cmd:"" help:"Container root file systems as overlays of shared read-only layers."`
	Status     StatusCmd     `cmd:"" help:"List every object plumb keeps: kind, name, state, when, summary."`
	Inspect    InspectCmd    `cmd:"" help:"Show one object in full (-o json in docker inspect's terms)."`
	Check      CheckCmd      `cmd:"" help:"Compare the live state with what was applied; exit 1 on drift."`
	Down       DownCmd       `cmd:"" help:"Undo any object by name, whatever its kind."`
	Recover    RecoverCmd    `cmd:"" help:"Finish the rollback of plans a crash interrupted."`
	Migrate    MigrateCmd    `cmd:"" help:"Move what an older plumb kept in --state-dir (images, layers, upper directories) to --root."`
	Compose    ComposeCmd    `cmd:"" help:"Compose files, planned and converged: networks, volumes and services as plumb's objects."`
	DNS        DNSCmd        `cmd:"" name:"dns" help:"A network's resolver: its containers' names, as Docker's embedded DNS answers them (bridge up --dns starts it)."`
	CNI        CNICmd        `cmd:"" name:"cni" help:"plumb as a CNI plugin: show the plan a runtime's ADD or DEL would run."`
	Version    VersionCmd    `cmd:"" help:"Print plumb's version, the commit it was built from and the Go that built it."`
	Completion CompletionCmd `cmd:"" help:"Print the script that has bash, zsh or fish complete plumb's commands, flags and names."`

	ManPages ManPagesCmd `cmd:"" name:"man-pages" hidden:"" help:"Write the man pages (make man)."`

	// Docker's words (docker.go): the same commands under the names a
	// Docker user types.
	Images  ImageLsCmd   `cmd:"" group:"Docker's words" help:"The same as 'plumb image ls' (docker images)."`
	Pull    ImagePullCmd `cmd:"" group:"Docker's words" help:"The same as 'plumb image pull' (docker pull)."`
	Network NetworkCmd   `cmd:"" group:"Docker's words" help:"docker network's words for the bridge commands: create, ls, rm, connect, disconnect, inspect."`
}

const description = `plumb gives containers their network with the plain Linux commands a person could
type themselves (ip, nsenter, sysctl, iptables). Every command can be shown first
(--dry-run), is journaled before it runs, is rolled back when a later one fails,
and can be torn down later from what was recorded.`

// deps are what commands need from the outside world, bound by kong.
type deps struct {
	ctx context.Context
	// cfg is the process's one Config; the fields below are read from it.
	cfg    config.Config
	runner actions.Runner
	store  *plan.Store
	stdin  io.Reader // --from -
	stdout io.Writer
	wait   time.Duration
	mode   plan.Mode
	// firewall writes the rules of the objects made now (--firewall).
	firewall firewall.Backend
	// proc is the /proc read for the host's firewalls (PLUMB_PROC, tests).
	proc string
	// warned is this call's warnings already logged (see plan.Env.Warned).
	warned *plan.Warned
	// stderr is where logs and progress go; logw writes logs there (above
	// progress bars while they are drawn); jsonLogs: --log-format json.
	stderr   io.Writer
	logw     *progress.Log
	jsonLogs bool
}

// lock takes the state directory's lock, for a command about to change
// the host: refused first when plumb lacks the privileges for it.
func (d *deps) lock() error {
	if err := privileged(); err != nil {
		return err
	}
	return d.store.Lock(d.ctx, d.wait)
}

// env is what plan's bring-up and teardown work with.
func (d *deps) env() plan.Env {
	return plan.Env{R: d.runner, St: d.store, Wait: d.wait, Mode: d.mode, Proc: d.proc, Warned: d.warned}
}

// warnInterrupted says so when a plan was left unfinished, and what to do.
func warnInterrupted(d *deps, composing bool) {
	for _, r := range plan.Interrupted(d.store) {
		zerolog.Ctx(d.ctx).Warn().Msgf("%s was interrupted (state %s); run `plumb recover` to finish its rollback", r.ID(), r.State)
	}
	if composing {
		return // compose up and down roll the project back themselves; plan says so
	}
	for _, name := range compose.InterruptedProjects(d.store.Layout) {
		zerolog.Ctx(d.ctx).Warn().Msgf("an up of compose project %s was interrupted; run `plumb recover` (or its next compose up or down) to roll it back", name)
	}
}

func main() {
	inProcess = self
	if len(os.Args) > 1 && os.Args[1] == "shim" {
		// plumb's own process beside a detached container (supervise.ShimMain).
		os.Exit(supervise.ShimMain(os.Args[2:]))
	}
	if completing(os.Stdout) {
		return // the shell asked, with COMP_LINE, for the words that fit
	}
	if cniMode(os.Args[1:]) {
		cniMain()
		return
	}
	os.Exit(profiled(func() int { return run(os.Args[1:], os.Stdout, os.Stderr) }))
}

// self runs a step that is one of plumb's own commands (`plumb layer
// unpack ...`) inside this process, as the CLI would run it from the same
// words: the same parsing, the same code, without a process start per
// layer (about 30 ms of CPU each, most of an image's import).
func self(ctx context.Context, args []string) (int, string) {
	var stderr bytes.Buffer
	code := runIn(ctx, args, io.Discard, &stderr)
	return code, stderr.String()
}

func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := interruptible(context.Background())
	defer stop()
	return runIn(ctx, args, stdout, stderr)
}

// runIn parses args and runs the command on ctx.
func runIn(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var cli CLI
	exit := -1
	if err := validUTF8(args); err != nil {
		fmt.Fprintf(stderr, "plumb: error: %v\n", err)
		return 2
	}
	args = negativeValues(args)
	kctx, err := parseNamed(&cli, args, stdout, stderr)
	if kctx == nil {
		var parser *kong.Kong
		if parser, err = newParser(&cli, stdout, stderr, func(code int) { exit = code }); err != nil {
			fmt.Fprintf(stderr, "plumb: %v\n", err)
			return 1
		}
		kctx, err = parser.Parse(args)
	}
	if exit >= 0 { // --help
		return exit
	}
	if err != nil {
		fmt.Fprintf(stderr, "plumb: error: %v\n", err)
		return 2
	}
	// Logs go through logw, which prints them above progress bars while a
	// pull draws them.
	logw := progress.NewLog(stderr)
	ctx = newLogger(cli.LogFormat, cli.LogLevel, logw, isTerminal(stderr)).WithContext(ctx)
	cfg, err := cliConfig(&cli)
	if err != nil {
		fmt.Fprintf(stderr, "plumb: error: %v\n", err)
		return 2
	}
	d := newDeps(ctx, cfg, os.Stdin, stdout)
	d.stderr, d.logw, d.jsonLogs = stderr, logw, cli.LogFormat == "json"
	defer d.store.Unlock()
	// recover and status say it themselves; layer unpack and migrate journal are steps of a plan
	// being applied (the plan is unfinished while it runs), and reads no journal.
	if cmd := kctx.Command(); cmd != "recover" && cmd != "status" && !strings.HasPrefix(cmd, "layer unpack") && !strings.HasPrefix(cmd, "migrate journal") {
		warnInterrupted(d, strings.HasPrefix(cmd, "compose"))
	}
	err = kctx.Run(d)
	if err == nil {
		return 0
	}
	var code exitCode
	if errors.As(err, &code) {
		return int(code)
	}
	fmt.Fprintf(stderr, "plumb: error: %v\n", err)
	var refused *plan.Refused
	if errors.As(err, &refused) {
		return 2
	}
	return 1
}

// interruptible is ctx cancelled by the first SIGINT or SIGTERM, with the
// signal as its cause: plumb starts no more steps and rolls back what it
// did (undos run on a context of their own, bounded: plan.UndoTimeout).
// The signals' default action is then restored, so a second one ends
// plumb at once, leaving the journal to `plumb recover`.
func interruptible(parent context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case sig := <-sigs:
			signal.Stop(sigs)
			cancel(fmt.Errorf("%s received", signalName(sig)))
		case <-ctx.Done():
		}
	}()
	return ctx, func() { signal.Stop(sigs); cancel(nil) }
}

func signalName(sig os.Signal) string {
	switch sig {
	case os.Interrupt:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return sig.String()
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}

// tracker shows long work's progress on stderr: bars on a terminal, a
// line per finished item elsewhere, nothing when quiet or when the logs
// are JSON (a program reads stderr then).
func (d *deps) tracker(quiet bool) *progress.Tracker {
	switch {
	case quiet || d.jsonLogs || d.stderr == nil:
		return progress.New(progress.Quiet, nil, nil)
	case isTerminal(d.stderr):
		return progress.New(progress.Bars, d.stderr, d.logw)
	}
	return progress.New(progress.Lines, d.stderr, d.logw)
}

// printsOnly is the one rule for every command that changes the host:
// --dry-run, -o json and -o sh print what would run and change nothing.
func printsOnly(dryRun bool, output string) bool { return dryRun || output == "json" || output == "sh" }

// newParser builds the command line parser; exit is called for --help.
func newParser(cli *CLI, stdout, stderr io.Writer, exit func(int)) (*kong.Kong, error) {
	return kong.New(cli, parserOptions(stdout, stderr, exit)...)
}

func parserOptions(stdout, stderr io.Writer, exit func(int)) []kong.Option {
	return []kong.Option{
		kong.Name("plumb"),
		kong.Description(description),
		kong.Writers(stdout, stderr),
		kong.Exit(exit),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
		kong.Vars{
			"plan_output_help": "Plan format: text (one command a line), json, or sh (a bash runbook with rollback); json and sh print the plan and change nothing, as --dry-run does.",
			"quiet_help":       "No progress: without it each layer's bytes and rate are drawn on a terminal, and a line per layer unpacked is written elsewhere (not with --log-format json).",
			"undo_output_help": "Format of the undo commands: text, json, or sh (a bash runbook); json and sh print them and change nothing, as --dry-run does.",
		},
	}
}

// newLogger logs to w, in colour when tty (w is, or goes to, a terminal).
func newLogger(format, level string, w io.Writer, tty bool) zerolog.Logger {
	lvl, _ := zerolog.ParseLevel(level)
	if format == "json" {
		return zerolog.New(w).Level(lvl).With().Timestamp().Logger()
	}
	cw := zerolog.ConsoleWriter{Out: w, NoColor: !tty, TimeFormat: "15:04:05"}
	return zerolog.New(cw).Level(lvl).With().Timestamp().Logger()
}
