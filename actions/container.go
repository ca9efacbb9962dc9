package actions

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"
)

// NetnsAdd makes a named network namespace (ip netns add): the container's
// network exists, by name, before its process does, so every network step
// can be planned and shown before anything runs.
type NetnsAdd struct {
	Name string `json:"name"`
}

func (a NetnsAdd) Kind() string   { return "netns_add" }
func (a NetnsAdd) Argv() []string { return []string{"ip", "netns", "add", a.Name} }
func (a NetnsAdd) Why() string {
	return fmt.Sprintf("make the container's network namespace %s", a.Name)
}
func (a NetnsAdd) Undo() Action { return NetnsDel(a) }
func (a NetnsAdd) Verify(context.Context, Runner) error {
	if _, err := os.Stat(Netns{Name: a.Name}.Path()); err != nil {
		return fmt.Errorf("network namespace %s is missing", a.Name)
	}
	return nil
}

// NetnsDel deletes a named network namespace.
type NetnsDel struct {
	Name string `json:"name"`
}

func (a NetnsDel) Kind() string   { return "netns_del" }
func (a NetnsDel) Argv() []string { return []string{"ip", "netns", "del", a.Name} }
func (a NetnsDel) Why() string    { return fmt.Sprintf("delete the network namespace %s", a.Name) }
func (a NetnsDel) Undo() Action   { return nil }
func (a NetnsDel) Gone(stderr string) bool {
	return strings.Contains(stderr, "No such file or directory")
}

// Touch creates an empty file, the mount point of a namespace kept by name.
type Touch struct {
	Path string `json:"path"`
	// Keeps names the namespace the file will keep, for Why: "" is the
	// container's UTS namespace (journals of earlier versions say nothing).
	Keeps string `json:"keeps,omitempty"`
}

func (a Touch) Kind() string   { return "touch" }
func (a Touch) Argv() []string { return []string{"touch", a.Path} }
func (a Touch) Why() string {
	keeps := a.Keeps
	if keeps == "" {
		keeps = "UTS namespace"
	}
	return fmt.Sprintf("create %s to keep the container's %s", a.Path, keeps)
}
func (a Touch) Undo() Action { return RemoveFile{Path: a.Path} }

// RemoveFile deletes one file; a missing file is already gone.
type RemoveFile struct {
	Path string `json:"path"`
}

func (a RemoveFile) Kind() string   { return "remove_file" }
func (a RemoveFile) Argv() []string { return []string{"rm", "-f", "--", a.Path} }
func (a RemoveFile) Why() string    { return fmt.Sprintf("delete %s", a.Path) }
func (a RemoveFile) Undo() Action   { return nil }

// NetnsNew makes a network namespace kept at /run/netns/NAME, as `ip netns
// add NAME` does, without what ip netns add also does the first time: make
// /run/netns a shared mount point of its own, which stays in the host's mount
// table after the namespace is deleted. The file must exist (Touch); `ip -n
// NAME`, `ip netns pids NAME` and `ip netns del NAME` work on it as on one
// made by ip netns add.
type NetnsNew struct {
	Name string `json:"name"`
}

func (a NetnsNew) Kind() string { return "netns_new" }
func (a NetnsNew) Argv() []string {
	return []string{"unshare", "--net=" + Netns{Name: a.Name}.Path(), "true"}
}
func (a NetnsNew) Why() string {
	return fmt.Sprintf("make the container's network namespace %s, kept at %s", a.Name, Netns{Name: a.Name}.Path())
}
func (a NetnsNew) Undo() Action { return NetnsDel(a) }

// Cleanup removes what a failed run may have left: unshare bind-mounts the
// namespace on its file before it starts true.
func (a NetnsNew) Cleanup() Action { return NetnsDel(a) }

// Exec runs the command and, when it fails, its Cleanup.
func (a NetnsNew) Exec(ctx context.Context, r Runner) error { return runHalfWay(ctx, r, a) }

func (a NetnsNew) Verify(ctx context.Context, r Runner) error { return NetnsAdd(a).Verify(ctx, r) }

// UTSNew makes a UTS namespace kept at File (unshare --uts=FILE) with the
// container's hostname, set by the host's own hostname command.
type UTSNew struct {
	File     string `json:"file"`
	Hostname string `json:"hostname"`
	// EndOptions puts -- before the hostname, so that hostname(1) never
	// reads it as an option. False in journals of earlier versions.
	EndOptions bool `json:"end_options,omitempty"`
}

func (a UTSNew) Kind() string { return "uts_new" }
func (a UTSNew) Argv() []string {
	argv := []string{"unshare", "--uts=" + a.File, "hostname"}
	if a.EndOptions {
		argv = append(argv, "--")
	}
	return append(argv, a.Hostname)
}
func (a UTSNew) Why() string {
	return fmt.Sprintf("give the container its own hostname, %s", a.Hostname)
}
func (a UTSNew) Undo() Action { return Umount{Path: a.File} }

// Cleanup is what a failed UTSNew may leave: unshare bind-mounts the new
// namespace on File before hostname runs, so a hostname that refuses its
// argument leaves the mount, and `rm` of the file then fails "Device or
// resource busy".
func (a UTSNew) Cleanup() Action { return Umount{Path: a.File} }

// Exec runs the command and, when it fails, its Cleanup.
func (a UTSNew) Exec(ctx context.Context, r Runner) error { return runHalfWay(ctx, r, a) }

// Shell cleans up in the runbook as plumb does: when the command fails, the
// mount it may have made is removed before the runbook rolls back.
func (a UTSNew) Shell(int) []string { return halfWayShell(a) }

// Shell: see UTSNew.Shell.
func (a NetnsNew) Shell(int) []string { return halfWayShell(a) }

// halfWay is an action whose command can fail after part of its effect
// took place; Cleanup removes that part and tolerates finding it absent.
type halfWay interface {
	Action
	Cleanup() Action
}

// runHalfWay runs a's command; when it fails, a's Cleanup runs at once, so
// that the failed step leaves nothing (the executor undoes only the steps
// that succeeded). The step's error stays the command's own; a cleanup
// that fails too is added to it, naming the command to run by hand.
func runHalfWay(ctx context.Context, r Runner, a halfWay) error {
	err := RunCommand(ctx, r, a)
	if err == nil {
		return nil
	}
	c := a.Cleanup()
	zerolog.Ctx(ctx).Info().Msgf("cleaning up after the failed step: %s", Quote(c.Argv()))
	if cerr := RunCommand(ctx, r, c); cerr != nil {
		if g, ok := c.(Tolerant); !ok || !g.Gone(StderrOf(cerr)) {
			return fmt.Errorf("%w; cleaning up after it failed too, run it by hand: %v", err, cerr)
		}
	}
	return err
}

// RunCommand runs a's command line: in-process when a is Native and r
// can, else as a process fed a's stdin (Fed). An action of its own kind
// (Custom) calls it for each command it runs.
func RunCommand(ctx context.Context, r Runner, a Action) error {
	if n, ok := a.(Native); ok {
		if nr, ok := r.(NativeRunner); ok {
			if done, err := nr.RunNative(ctx, n); done {
				return err
			}
		}
	}
	var stdin []byte
	if f, ok := a.(Fed); ok {
		stdin = f.Stdin() // nft -f -: its transaction
	}
	_, err := r.Run(ctx, a.Argv(), stdin)
	return err
}

// halfWayShell is a half-way action's runbook lines: its command, its
// cleanup when it fails (keeping the command's status for the ERR trap),
// then its undo pushed.
func halfWayShell(a halfWay) []string {
	return []string{
		Quote(a.Argv()) + " || { status=$?; " + Quote(a.Cleanup().Argv()) + " 2>/dev/null || true; (exit $status); }",
		"undo+=(" + Quote([]string{Quote(a.Undo().Argv())}) + ")",
	}
}

// StartContainer starts CMD with the overlay as its root, in new PID, mount
// and IPC namespaces, inside the network and UTS namespaces made for it.
// It runs on past the command: Exec starts it.
//
// With Confine (every plan since journals began to record it), a short
// shell script, run by the host's sh as the new PID namespace's first
// process, prepares the root inside the container's own mount namespace
// (mounts there vanish with it, so they need no undo of their own), then
// ends in exec: setpriv sets the capabilities and the groups, env -i the
// environment, and unshare --root=. --wd=DIR [-S UID] enters the root, the
// working directory and the user and execs CMD, which is PID 1. Before
// that, the script binds the files of Etc onto the container's /etc. The
// script reads the root as $1, then the /etc files, the working directory
// and the environment up to a --, and CMD as the rest of its arguments, so
// nothing from input is ever parsed as shell. A journal of the version
// before Etc and Process has them nil: its script ends in setpriv --
// chroot . CMD, run as root in / with plumb's environment. Without Confine
// (journals of earlier versions still), unshare --root starts CMD with
// every capability, as plumb did then.
type StartContainer struct {
	Netns   string       `json:"netns"`
	UTS     string       `json:"uts"`
	Root    string       `json:"root"`
	Cmd     []string     `json:"cmd"`
	Log     string       `json:"log"`              // the detached container's stdout and stderr
	Attach  bool         `json:"attach,omitempty"` // stdio is plumb's own (run in the foreground)
	PIDFile string       `json:"pid_file"`
	Confine *Confinement `json:"confine,omitempty"`
	// Etc are bound onto the container's /etc/hostname, /etc/hosts and
	// /etc/resolv.conf. Process is the environment, working directory and
	// user CMD runs with. Both need Confine; both are nil in journals of
	// earlier versions, whose commands render as they did: no files bound,
	// and CMD ran as root in / with plumb's environment.
	Etc     *EtcFiles `json:"etc,omitempty"`
	Process *Process  `json:"process,omitempty"`
}

// Confinement is what a container may do, as `docker run` decides it.
type Confinement struct {
	// Privileged keeps every capability plumb has, masks nothing, mounts
	// /sys read-write and lets device nodes work (docker run --privileged).
	Privileged bool `json:"privileged,omitempty"`
	// Caps is the capability bounding set, as setpriv names them (chown,
	// net_raw, ...), in the kernel's order. Ignored when Privileged.
	Caps []string `json:"caps,omitempty"`
	// NoNewPrivs: setuid bits and file capabilities grant nothing
	// (docker run --security-opt no-new-privileges).
	NoNewPrivs bool `json:"no_new_privs,omitempty"`
}

// CapNames are the capabilities Linux knows, as setpriv names them, in the
// kernel's order (bit 0 is chown; cap_last_cap is 40 since Linux 5.9).
var CapNames = []string{"chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill",
	"setgid", "setuid", "setpcap", "linux_immutable", "net_bind_service", "net_broadcast", "net_admin",
	"net_raw", "ipc_lock", "ipc_owner", "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct",
	"sys_admin", "sys_boot", "sys_nice", "sys_resource", "sys_time", "sys_tty_config", "mknod", "lease",
	"audit_write", "audit_control", "setfcap", "mac_override", "mac_admin", "syslog", "wake_alarm",
	"block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore"}

// MaskedPaths are the paths Docker hides from a container: an empty
// read-only tmpfs on each directory, /dev/null on each file.
var MaskedPaths = []string{"/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
	"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware"}

// ReadonlyPaths are the paths Docker makes read-only in a container.
var ReadonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}

// DevNodes are the device nodes of a container's /dev, bound from the host's.
var DevNodes = []string{"null", "zero", "full", "random", "urandom", "tty"}

// Script is the shell script that prepares the container's root inside its
// mount namespace and ends in exec of the command: $1 is the root, the
// rest is the command. Each line is a command a person could type.
func (c Confinement) Script() string { return c.script(false, nil) }

// EtcNames are the files of a container's /etc that plumb writes for it
// and binds there, in the order StartContainer passes their sources.
var EtcNames = []string{"hostname", "hosts", "resolv.conf"}

// script is Script, and with etc the binds of the container's /etc files
// (the files are the arguments after the root), and with proc the command's
// environment, working directory and user (the working directory, the
// environment and -- come after them, then the command). Everything that
// comes from input is an argument, never part of the script's text.
func (c Confinement) script(etc bool, proc *Process) string {
	rel := func(paths []string) string {
		out := make([]string, len(paths))
		for i, p := range paths {
			out[i] = strings.TrimPrefix(p, "/")
		}
		return strings.Join(out, " ")
	}
	sysOpts, devOpts := "ro,nosuid,nodev,noexec", "nosuid,nodev,mode=755,size=65536k"
	if c.Privileged {
		sysOpts, devOpts = "nosuid,nodev,noexec", "nosuid,mode=755,size=65536k"
	}
	lines := []string{`r=$1; shift`}
	if etc {
		lines = append(lines, `etc_hostname=$1 etc_hosts=$2 etc_resolv=$3; shift 3`)
	}
	if proc != nil {
		lines = append(lines, `wd=$1; shift`)
	}
	lines = append(lines,
		`mkdir -p "$r/proc" "$r/sys" "$r/dev"`,
		`mount -t proc -o nosuid,nodev,noexec proc "$r/proc"`,
		`mount -t sysfs -o `+sysOpts+` sysfs "$r/sys"`,
		`mount -t tmpfs -o `+devOpts+` tmpfs "$r/dev"`,
		`for d in `+strings.Join(DevNodes, " ")+`; do touch "$r/dev/$d"; mount --bind "/dev/$d" "$r/dev/$d"; done`,
		`mkdir "$r/dev/pts" "$r/dev/shm"`,
		`mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5,nosuid,noexec devpts "$r/dev/pts"`,
		`mount -t tmpfs -o nosuid,nodev,noexec,mode=1777,size=65536k shm "$r/dev/shm"`,
		`ln -s pts/ptmx "$r/dev/ptmx"; ln -s /proc/self/fd "$r/dev/fd"`,
		`ln -s /proc/self/fd/0 "$r/dev/stdin"; ln -s /proc/self/fd/1 "$r/dev/stdout"; ln -s /proc/self/fd/2 "$r/dev/stderr"`,
	)
	if !c.Privileged {
		lines = append(lines,
			`for p in `+rel(MaskedPaths)+`; do`,
			`  if [ -d "$r/$p" ]; then mount -t tmpfs -o ro,nosuid,nodev,noexec tmpfs "$r/$p"`,
			`  elif [ -e "$r/$p" ]; then mount --bind /dev/null "$r/$p"; fi`,
			`done`,
			`for p in `+rel(ReadonlyPaths)+`; do`,
			`  if [ -e "$r/$p" ]; then mount --bind -o ro,nosuid,nodev,noexec "$r/$p" "$r/$p"; fi`,
			`done`,
		)
	}
	// The root is moved onto / before it is entered (chroot(2), by unshare
	// --root or chroot(1)): the container's root is then the top of its
	// mount namespace, so that a chroot of its own cannot lead out of it (a
	// plain chroot can be left by chroot to a subdirectory and enough "cd
	// .."). --no-mtab: mount(8) would otherwise record the move in
	// /run/mount/utab, a file of the host's /run.
	if etc {
		lines = append(lines, etcLines...)
	}
	if proc != nil {
		lines = append(lines, workdirLines...)
	}
	lines = append(lines, `cd "$r"`, `mount --no-mtab --move . /`)
	var priv []string
	if !c.Privileged {
		caps := make([]string, len(c.Caps))
		for i, cp := range c.Caps {
			caps[i] = "+" + cp
		}
		priv = append(priv, "--bounding-set="+strings.Join(append([]string{"-all"}, caps...), ","), "--inh-caps=-all")
	}
	if c.NoNewPrivs {
		priv = append(priv, "--no-new-privs")
	}
	if proc == nil {
		last := `exec chroot . "$@"`
		if len(priv) > 0 {
			last = `exec setpriv ` + strings.Join(priv, " ") + ` -- chroot . "$@"`
		}
		return strings.Join(append(lines, last), "\n")
	}
	// The command's user: its group and supplementary groups set by setpriv
	// (as root, before the root is entered), its user ID by unshare -S once
	// it has entered the root and its working directory, as runc does it
	// (chroot, chdir, then setuid): a user other than root could no longer
	// chroot, and /etc/passwd was read by plumb, so that every ID here is a
	// number and nothing is looked up in the host's user database.
	priv = append(priv, "--regid="+strconv.Itoa(proc.GID))
	if len(proc.Groups) == 0 {
		priv = append(priv, "--clear-groups")
	} else {
		gs := make([]string, len(proc.Groups))
		for i, g := range proc.Groups {
			gs[i] = strconv.Itoa(g)
		}
		priv = append(priv, "--groups="+strings.Join(gs, ","))
	}
	enter := `"$u" --root=. --wd="$wd"`
	if proc.UID != 0 {
		enter += " -S " + strconv.Itoa(proc.UID)
	}
	// env -i gives the command exactly its environment. env finds the next
	// program on the PATH it has just set, the container's, so unshare is
	// named by its path on the host, found before. The arguments are the
	// environment, --, then the command: the -- becomes unshare and its
	// options, so that env -i gets the environment, then unshare, then the
	// command (the environment is KEY=VALUE words, never a lone --).
	return strings.Join(append(lines,
		`u=$(command -v unshare)`,
		`sep=1`,
		`for a in "$@"; do`,
		`  shift`,
		`  if [ "$sep" = 1 ] && [ "$a" = -- ]; then sep=0; set -- "$@" `+enter+` --`,
		`  else set -- "$@" "$a"; fi`,
		`done`,
		`exec setpriv `+strings.Join(priv, " ")+` -- env -i -- "$@"`,
	), "\n")
}

// etcLines bind the container's /etc files, creating /etc and the mount
// points that the root lacks (in the upper layer, as a container's own
// writes would be). Docker binds over /etc/resolv.conf where the image
// has it even when it is a symbolic link: runc resolves the link inside
// the root (securejoin) and mounts over its target. Here mount and the
// shell run with the host's root, so a link would be followed out of the
// container's root (an absolute one into the host's /etc). plumb does not
// follow it and removes nothing of the image: the start fails, saying
// which link. Every component of $r/etc/NAME is tested (the root itself is
// plumb's own mount point), and nothing in the container runs yet that
// could change them after the test.
var etcLines = []string{
	`if [ -L "$r/etc" ]; then echo "plumb: /etc in the container is a symbolic link; plumb binds its hostname, hosts and resolv.conf there and does not follow links out of the root" >&2; exit 1; fi`,
	`[ -d "$r/etc" ] || mkdir -m 755 "$r/etc"`,
	`for f in hostname hosts resolv.conf; do`,
	`  if [ -L "$r/etc/$f" ]; then echo "plumb: /etc/$f in the container is a symbolic link; plumb binds a file of its own there and does not follow links out of the root" >&2; exit 1; fi`,
	`  [ -e "$r/etc/$f" ] || touch "$r/etc/$f"`,
	`done`,
	`mount --bind "$etc_hostname" "$r/etc/hostname"`,
	`mount --bind "$etc_hosts" "$r/etc/hosts"`,
	`mount --bind "$etc_resolv" "$r/etc/resolv.conf"`,
}

// workdirLines make the working directory inside the root when it is
// missing, as Docker does (mode 0755, root's), one component at a time,
// never through a symbolic link (for the reason etcLines give). $wd is
// absolute and clean: no . or .. components.
var workdirLines = []string{
	`d=$r`,
	`set -f; IFS=/`,
	`for c in ${wd#/}; do`,
	`  d=$d/$c`,
	`  if [ -L "$d" ]; then echo "plumb: the working directory $wd passes through a symbolic link, /${d#"$r"/}; plumb does not follow links out of the root" >&2; exit 1; fi`,
	`  [ -d "$d" ] || mkdir -m 755 "$d"`,
	`done`,
	`unset IFS; set +f`,
}

func (a StartContainer) Kind() string { return "start_container" }
func (a StartContainer) Argv() []string {
	argv := []string{"nsenter", "--net=" + Netns{Name: a.Netns}.Path(), "--uts=" + a.UTS,
		"unshare", "--pid", "--mount", "--ipc", "--fork", "--kill-child"}
	if a.Confine == nil {
		argv = append(argv, "--mount-proc", "--root="+a.Root, "--wd=/", "--")
	} else {
		argv = append(argv, "--", "sh", "-euc", a.Confine.script(a.Etc != nil, a.Process), "sh", a.Root)
	}
	if a.Confine != nil && a.Etc != nil {
		argv = append(argv, a.Etc.Hostname, a.Etc.Hosts, a.Etc.Resolv)
	}
	if a.Confine != nil && a.Process != nil {
		argv = append(append(append(argv, a.Process.Dir), a.Process.Env...), "--")
	}
	return append(argv, a.Cmd...)
}
func (a StartContainer) Why() string {
	why := "start " + Quote(a.Cmd) + " in the container: new PID, mount and IPC namespaces, the overlay as its root, /proc inside"
	switch c := a.Confine; {
	case c == nil:
		return why
	case c.Privileged:
		why += ", /sys read-write, a fresh /dev, nothing masked, every capability (--privileged)"
	default:
		why += ", /sys read-only, a fresh /dev, Docker's masked and read-only paths, the capabilities " + strings.Join(c.Caps, ",")
	}
	if a.Confine.NoNewPrivs {
		why += ", no new privileges"
	}
	if a.Etc != nil {
		why += ", its /etc/hostname, /etc/hosts and /etc/resolv.conf bound from plumb's files"
	}
	if p := a.Process; p != nil {
		why += fmt.Sprintf(", as user %d:%d in %s with only its own environment", p.UID, p.GID, p.Dir)
	}
	return why
}
func (a StartContainer) Undo() Action { return StopContainer{Netns: a.Netns, PIDFile: a.PIDFile} }

// Starter is a Runner that can also start a process and leave it running.
type Starter interface {
	Start(ctx context.Context, argv []string, log string, attach bool) (pid int, err error)
}

// Exec starts the container and records its PID.
func (a StartContainer) Exec(ctx context.Context, r Runner) error {
	s, ok := r.(Starter)
	if !ok {
		return errors.New("this runner cannot start long-running processes")
	}
	pid, err := s.Start(ctx, a.Argv(), a.Log, a.Attach)
	if err != nil {
		return err
	}
	return os.WriteFile(a.PIDFile, []byte(strconv.Itoa(pid)+"\n"), 0o600)
}

// Shell starts it in the background and keeps its PID, as -d does.
func (a StartContainer) Shell(n int) []string {
	return []string{
		Quote(a.Argv()) + " >" + Quote([]string{a.Log}) + " 2>&1 </dev/null &",
		"echo $! >" + Quote([]string{a.PIDFile}),
		"undo+=(" + Quote([]string{Quote(StopContainer{Netns: a.Netns}.Argv())}) + ")",
	}
}

// StopContainer ends every process in the container's network namespace:
// SIGTERM, then SIGKILL to those left after a grace period. Processes are
// found by namespace (ip netns pids), never by a PID that may have been reused.
type StopContainer struct {
	Netns   string `json:"netns"`
	PIDFile string `json:"pid_file,omitempty"`
	// GraceSeconds is how long to wait after SIGTERM before SIGKILL; 0
	// means Grace. A container's PID 1 ignores SIGTERM unless it handles it.
	GraceSeconds int `json:"grace_seconds,omitempty"`
}

// Grace is how long stop waits after SIGTERM before SIGKILL, as docker stop.
const Grace = 10 * time.Second

func (a StopContainer) grace() time.Duration { return graceOf(a.GraceSeconds) }

// graceOf reads a recorded grace: 0 is Grace, negative is none (SIGKILL
// at once: rollback, recover, stop --time 0).
func graceOf(seconds int) time.Duration {
	if seconds < 0 {
		return 0
	}
	if seconds > 0 {
		return time.Duration(seconds) * time.Second
	}
	return Grace
}

func (a StopContainer) Kind() string { return "stop_container" }
func (a StopContainer) Argv() []string {
	// The name is quoted inside the script: sh -c parses it again.
	return []string{"sh", "-c", "ip netns pids " + Quote([]string{a.Netns}) + " | xargs -r kill -TERM"}
}
func (a StopContainer) Why() string {
	return fmt.Sprintf("stop the container's processes (SIGTERM, SIGKILL after %s)", a.grace())
}
func (a StopContainer) Undo() Action { return nil }

// Exec sends SIGTERM, waits, then SIGKILL.
func (a StopContainer) Exec(ctx context.Context, r Runner) error {
	pids := func() []int {
		out, err := r.Run(ctx, []string{"ip", "netns", "pids", a.Netns}, nil)
		if err != nil {
			return nil // the namespace is gone, and its processes with it
		}
		var ps []int
		for _, f := range strings.Fields(string(out)) {
			if p, err := strconv.Atoi(f); err == nil && p != os.Getpid() {
				ps = append(ps, p)
			}
		}
		return ps
	}
	signal := func(sig syscall.Signal, ps []int) {
		for _, p := range ps {
			_ = syscall.Kill(p, sig)
		}
	}
	// The process plumb started is waited for by its starter (a foreground
	// run reports its status): it is never reaped here.
	started := 0
	if data, err := os.ReadFile(a.PIDFile); a.PIDFile != "" && err == nil {
		started, _ = strconv.Atoi(strings.TrimSpace(string(data)))
	}
	ps := pids()
	signal(syscall.SIGTERM, ps)
	for deadline := time.Now().Add(a.grace()); len(ps) > 0 && time.Now().Before(deadline); ps = pids() {
		reap(ps, started)
		time.Sleep(100 * time.Millisecond)
	}
	if len(ps) > 0 {
		signal(syscall.SIGKILL, ps)
		for i := 0; i < 100 && len(ps) > 0; i, ps = i+1, pids() {
			reap(ps, started)
			time.Sleep(20 * time.Millisecond)
		}
	}
	if len(ps) > 0 {
		return fmt.Errorf("processes %v of %s did not end", ps, a.Netns)
	}
	if a.PIDFile != "" {
		_ = os.Remove(a.PIDFile)
	}
	return nil
}

// reap collects those of ps that are plumb's own children and have ended,
// so that they do not linger as zombies in the namespace's process list;
// all but keep, whose starter waits for it.
func reap(ps []int, keep int) {
	for _, p := range ps {
		if p == keep {
			continue
		}
		var ws syscall.WaitStatus
		_, _ = syscall.Wait4(p, &ws, syscall.WNOHANG, nil)
	}
}

// Extract unpacks a root file system tarball (plain or compressed; tar
// detects which) into a layer directory.
type Extract struct {
	File string `json:"file"`
	Dir  string `json:"dir"`
}

func (a Extract) Kind() string { return "extract" }
func (a Extract) Argv() []string {
	return []string{"tar", "-xf", a.File, "-C", a.Dir, "--numeric-owner"}
}
func (a Extract) Why() string  { return fmt.Sprintf("unpack %s as the layer %s", a.File, a.Dir) }
func (a Extract) Undo() Action { return RemoveTree{Path: a.Dir} }
