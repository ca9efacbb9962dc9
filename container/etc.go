package container

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"plumb/actions"
	"plumb/plan"
)

// What a container gets besides its root, as Docker gives it: its
// /etc/hostname, /etc/hosts and /etc/resolv.conf, and the environment,
// working directory and user its command runs with.

// DefaultPath is the PATH a container's command gets when none is given,
// Docker's (oci.DefaultPathEnv on Linux).
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// HostsFile is a container's /etc/hosts as Docker writes it: the
// localhost lines (libnetwork/etchosts' defaults), then, for a container
// with an address on a bridge, that address and its hostname, tab
// separated (with the first label of a hostname that has dots too, as
// Docker adds it). A container without an address (--net none) gets the
// localhost lines only.
func HostsFile(ip netip.Addr, hostname string) string {
	var b strings.Builder
	for _, l := range [][2]string{
		{"127.0.0.1", "localhost"},
		{"::1", "localhost ip6-localhost ip6-loopback"},
		{"fe00::0", "ip6-localnet"},
		{"ff00::0", "ip6-mcastprefix"},
		{"ff02::1", "ip6-allnodes"},
		{"ff02::2", "ip6-allrouters"},
	} {
		fmt.Fprintf(&b, "%s\t%s\n", l[0], l[1])
	}
	if ip.IsValid() {
		names := hostname
		if short, _, ok := strings.Cut(hostname, "."); ok {
			names += " " + short
		}
		fmt.Fprintf(&b, "%s\t%s\n", ip, names)
	}
	return b.String()
}

// InternalResolvConf is the resolv.conf of a container on an internal
// network without a resolver of its own (bridge up --internal without
// --dns): no nameserver, so that a lookup fails at once rather than wait
// for ones nothing on the network reaches.
const InternalResolvConf = "# an internal network without --dns: no nameserver is reachable from it\n"

// fallbackNameservers are Docker's when the host's resolv.conf leaves none
// that works inside a container's network namespace.
var fallbackNameservers = []string{"8.8.8.8", "8.8.4.4"}

// ResolvConf is a container's /etc/resolv.conf made from the host's (data,
// read from src), as Docker makes it for a network without its own DNS
// server (libnetwork's resolvconf, TransformForLegacyNw): the host's
// nameservers except loopback ones (127.0.0.0/8, ::1), which answer only
// in the host's network namespace, and except IPv6 ones, as Docker drops
// them on a network without IPv6 (plumb gives containers IPv4 only); when
// none is left, Docker's fallback, 8.8.8.8 and 8.8.4.4. The last search
// (or domain) line, every options line, and lines it does not know are
// kept as they are; comments and blank lines go. Docker's closing comments
// say where it came from. A line that is not UTF-8 or holds a NUL is left
// out: the journal keeps only text.
func ResolvConf(data []byte, src string) string {
	var ns, search, options, other, invalid []string
	ndots := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !utf8.ValidString(line) || strings.ContainsRune(line, 0) {
			continue
		}
		f := strings.Fields(line)
		if len(f) == 0 || f[0][0] == '#' || f[0][0] == ';' {
			continue
		}
		switch f[0] {
		case "nameserver":
			if len(f) < 2 {
				continue
			}
			a, err := netip.ParseAddr(f[1])
			switch {
			case err != nil:
				invalid = append(invalid, f[1])
			case a.IsLoopback() || a.Is6():
				// Unreachable from the container: dropped, as Docker does.
			default:
				ns = append(ns, a.String())
			}
		case "search", "domain":
			if len(f) > 1 {
				search = f[1:]
			}
		case "options":
			for _, o := range f[1:] {
				if o == "ndots" || strings.HasPrefix(o, "ndots:") {
					ndots = true
				}
			}
			options = append(options, f[1:]...)
		default:
			other = append(other, line)
		}
	}
	fallback := len(ns) == 0
	if fallback {
		ns = fallbackNameservers
	}
	var b strings.Builder
	for _, n := range ns {
		fmt.Fprintf(&b, "nameserver %s\n", n)
	}
	if len(search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(search, " "))
	}
	if len(options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(options, " "))
	}
	for _, o := range other {
		b.WriteString(o + "\n")
	}
	fmt.Fprintf(&b, "\n# Based on host file: '%s' (legacy)\n", src)
	if fallback {
		b.WriteString("# Used default nameservers.\n")
	}
	if len(invalid) > 0 {
		fmt.Fprintf(&b, "# Invalid nameservers: [%s]\n", strings.Join(invalid, " "))
	}
	b.WriteString("# Overrides: []\n")
	if ndots {
		b.WriteString("# Option ndots from: host\n")
	}
	return b.String()
}

// readResolvConf reads the host's resolv.conf at src; a host without one
// is a host without nameservers (Docker's fallback then).
func readResolvConf(src string) (string, error) {
	data, err := readSmall(src, 1<<20)
	if errors.Is(err, fs.ErrNotExist) {
		data, err = nil, nil
	}
	if err != nil {
		return "", plan.RefuseErr("resolv-conf", fmt.Errorf("reading the host's nameservers: %w", err))
	}
	return ResolvConf(data, src), nil
}

func readSmall(p string, limit int64) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err == nil && int64(len(data)) > limit {
		err = fmt.Errorf("%s is larger than %d bytes", p, limit)
	}
	return data, err
}

// Environment is a container's environment as Docker makes it: PATH (its
// default) and HOSTNAME first, then env in order, each KEY=VALUE replacing
// the KEY there or added at the end, and a bare KEY removing it (docker
// run -e KEY for a KEY unset where docker runs); then HOME from the user's
// /etc/passwd entry when env leaves it unset or empty, as runc sets it.
func Environment(env []string, hostname, home string) []string {
	out := []string{"PATH=" + DefaultPath, "HOSTNAME=" + hostname}
	at := map[string]int{"PATH": 0, "HOSTNAME": 1}
	for _, e := range env {
		k, _, set := strings.Cut(e, "=")
		i, ok := at[k]
		switch {
		case !set && ok:
			out[i] = ""
		case !set:
		case ok:
			out[i] = e
		default:
			at[k] = len(out)
			out = append(out, e)
		}
	}
	kept := out[:0]
	homeAt := -1
	for _, e := range out {
		if e == "" {
			continue
		}
		if strings.HasPrefix(e, "HOME=") {
			homeAt = len(kept)
		}
		kept = append(kept, e)
	}
	switch {
	case homeAt < 0:
		kept = append(kept, "HOME="+home)
	case kept[homeAt] == "HOME=":
		kept[homeAt] = "HOME=" + home
	}
	return kept
}

// checkEnv applies docker run -e's rules: a name before the '=', and
// nothing exec cannot carry.
func checkEnv(env []string) error {
	for _, e := range env {
		k, _, _ := strings.Cut(e, "=")
		switch {
		case k == "":
			return plan.Refuse("env", "%q: a variable needs a name: KEY=VALUE, or KEY for the value it has where plumb runs", e)
		case strings.ContainsRune(e, 0):
			return plan.Refuse("env", "%q holds a NUL byte, which no environment can", e)
		}
	}
	return nil
}

// cleanWorkDir is --workdir as Docker takes it: absolute, cleaned (so no
// .. can climb above the root); "" is /.
func cleanWorkDir(dir string) (string, error) {
	switch {
	case dir == "":
		return "/", nil
	case !path.IsAbs(dir):
		return "", plan.Refuse("workdir", "%q is not an absolute path: the working directory is a path inside the container, such as /app", dir)
	case strings.ContainsAny(dir, "\x00\n"):
		return "", plan.Refuse("workdir", "%q holds a NUL or a newline", dir)
	}
	return path.Clean(dir), nil
}

// UserSpec is docker run --user: a user name or UID, and optionally a
// group name or GID after ':'.
type UserSpec struct {
	User, Group string
}

// maxID is the largest user or group ID runc takes.
const maxID = 1<<31 - 1

// ParseUser reads --user: NAME, UID, NAME:GROUP, UID:GID (and any mix).
func ParseUser(s string) (UserSpec, error) {
	u, g, _ := strings.Cut(s, ":")
	switch {
	case strings.Contains(g, ":"):
		return UserSpec{}, plan.Refuse("user", "%q: give USER or USER:GROUP (names or numbers), with one ':'", s)
	case strings.ContainsAny(s, "\x00\n"):
		return UserSpec{}, plan.Refuse("user", "%q holds a NUL or a newline", s)
	}
	for _, v := range []string{u, g} {
		if n, err := strconv.Atoi(v); err == nil && (n < 0 || n > maxID) {
			return UserSpec{}, plan.Refuse("user", "%q: user and group IDs are 0 to %d", s, maxID)
		}
		if strings.HasPrefix(v, "+") || strings.HasPrefix(v, "-") {
			return UserSpec{}, plan.Refuse("user", "%q: a name does not start with '+' or '-', and an ID is a plain number", s)
		}
	}
	return UserSpec{User: u, Group: g}, nil
}

// passwdEntry and groupEntry are the lines of /etc/passwd and /etc/group
// that resolving a user needs.
type passwdEntry struct {
	name     string
	uid, gid int
	home     string
}

type groupEntry struct {
	name    string
	gid     int
	members []string
}

func parsePasswd(data []byte) []passwdEntry {
	var out []passwdEntry
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Split(strings.TrimSpace(l), ":")
		if len(f) < 4 || f[0] == "" || strings.HasPrefix(f[0], "#") {
			continue
		}
		uid, err1 := strconv.Atoi(f[2])
		gid, err2 := strconv.Atoi(f[3])
		if err1 != nil || err2 != nil {
			continue
		}
		e := passwdEntry{name: f[0], uid: uid, gid: gid}
		if len(f) > 5 {
			e.home = f[5]
		}
		out = append(out, e)
	}
	return out
}

func parseGroup(data []byte) []groupEntry {
	var out []groupEntry
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Split(strings.TrimSpace(l), ":")
		if len(f) < 3 || f[0] == "" || strings.HasPrefix(f[0], "#") {
			continue
		}
		gid, err := strconv.Atoi(f[2])
		if err != nil {
			continue
		}
		e := groupEntry{name: f[0], gid: gid}
		if len(f) > 3 && f[3] != "" {
			e.members = strings.Split(f[3], ",")
		}
		out = append(out, e)
	}
	return out
}

// ExecUser is a resolved user: IDs, supplementary groups, home.
type ExecUser struct {
	UID, GID int
	Groups   []int
	Home     string
}

// Resolve finds the user as runc does (libcontainer/user.GetExecUser)
// in the root's /etc/passwd and /etc/group (nil when the root has none):
// a number is a UID whether or not passwd has it (then group 0, home /);
// a name must be there. No user given is UID 0's entry. With a group
// given, that is the group (a number, or a name /etc/group must have) and
// there are no supplementary groups; without one, the user's own group and
// the groups that list the user by name.
func (s UserSpec) Resolve(passwd, group []byte) (ExecUser, error) {
	u := ExecUser{Home: "/"}
	uidArg, uidErr := strconv.Atoi(s.User)
	matched := ""
	for _, e := range parsePasswd(passwd) {
		if s.User == "" && e.uid == 0 || s.User != "" && (uidErr == nil && e.uid == uidArg || uidErr != nil && e.name == s.User) {
			matched, u.UID, u.GID, u.Home = e.name, e.uid, e.gid, e.home
			break
		}
	}
	if matched == "" && s.User != "" {
		if uidErr != nil {
			return ExecUser{}, plan.Refuse("user", "no user %q in the container's /etc/passwd", s.User)
		}
		u.UID = uidArg
	}
	if s.Group == "" && matched == "" {
		return u, nil
	}
	gidArg, gidErr := strconv.Atoi(s.Group)
	var found []groupEntry
	for _, g := range parseGroup(group) {
		switch {
		case s.Group == "":
			for _, m := range g.members {
				if m == matched {
					found = append(found, g)
					break
				}
			}
		case gidErr == nil && g.gid == gidArg, gidErr != nil && g.name == s.Group:
			found = append(found, g)
		}
	}
	switch {
	case s.Group != "" && len(found) > 0:
		u.GID = found[0].gid
	case s.Group != "" && gidErr != nil:
		return ExecUser{}, plan.Refuse("user", "no group %q in the container's /etc/group", s.Group)
	case s.Group != "":
		u.GID = gidArg
	default:
		for _, g := range found {
			u.Groups = append(u.Groups, g.gid)
		}
	}
	return u, nil
}

// lookup finds rel (a clean relative path) in the merged view of an
// overlay's directories, topmost first, as overlayfs would show it, and
// never follows a symbolic link: a component that is not a directory in
// the merged view ends the walk there (whole is false, and p and fi are
// that component). fi is nil when the path is absent (missing, or a
// whiteout above it). A directory marked opaque hides the layers below.
func lookup(dirs []string, rel string) (p string, fi os.FileInfo, whole bool, err error) {
	parts := strings.Split(rel, "/")
	layers := dirs
	for i := range parts {
		sub := filepath.Join(parts[:i+1]...)
		var below []string
		fi = nil
		for _, d := range layers {
			q := filepath.Join(d, sub)
			lower := d != dirs[0] // the upper directory (or a layer alone) is read each time
			st, err := lowerStat(q, lower)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return q, nil, false, err
			}
			if whiteout(st) {
				break
			}
			if fi == nil {
				p, fi = q, st
			}
			if !st.IsDir() || !fi.IsDir() {
				break
			}
			below = append(below, d)
			if lowerOpaque(q, lower) {
				break
			}
		}
		if fi == nil {
			return "", nil, true, nil
		}
		if !fi.IsDir() && i < len(parts)-1 {
			return p, fi, false, nil
		}
		layers = below
	}
	return p, fi, true, nil
}

func whiteout(fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && fi.Mode()&os.ModeCharDevice != 0 && st.Rdev == 0
}

// lowerCache keeps, for one plumb process, what the read-only layers
// below a container's upper directory hold: plumb never writes them, and
// a Compose plan looks up the same paths in the same image's layers for
// each of its containers. dirs[0] of a lookup (the upper directory, or a
// layer given alone) is never cached.
var lowerCache sync.Map // path -> lowerEntry

type lowerEntry struct {
	fi     os.FileInfo
	err    error
	opaque int8 // 0 not read, 1 no, 2 yes
}

// lowerStat is os.Lstat, remembered for a lower layer's path.
func lowerStat(p string, cache bool) (os.FileInfo, error) {
	if !cache {
		return os.Lstat(p)
	}
	if e, ok := lowerCache.Load(p); ok {
		return e.(*lowerEntry).fi, e.(*lowerEntry).err
	}
	fi, err := os.Lstat(p)
	lowerCache.Store(p, &lowerEntry{fi: fi, err: err})
	return fi, err
}

// lowerOpaque is opaque, remembered for a lower layer's directory.
func lowerOpaque(dir string, cache bool) bool {
	if !cache {
		return opaque(dir)
	}
	if e, ok := lowerCache.Load(dir); ok && e.(*lowerEntry).opaque != 0 {
		return e.(*lowerEntry).opaque == 2
	}
	o := opaque(dir)
	v := int8(1)
	if o {
		v = 2
	}
	if e, ok := lowerCache.Load(dir); ok {
		c := *e.(*lowerEntry)
		c.opaque = v
		lowerCache.Store(dir, &c)
	} else {
		fi, err := os.Lstat(dir)
		lowerCache.Store(dir, &lowerEntry{fi: fi, err: err, opaque: v})
	}
	return o
}

func opaque(dir string) bool {
	buf := make([]byte, 1)
	for _, k := range []string{"trusted.overlay.opaque", "user.overlay.opaque"} {
		if n, err := unix.Lgetxattr(dir, k, buf); err == nil && n == 1 && buf[0] == 'y' {
			return true
		}
	}
	return false
}

// rootFile reads the file rel of the merged root, without following a
// symbolic link: nil when the root has none.
func rootFile(dirs []string, rel string) ([]byte, error) {
	p, fi, whole, err := lookup(dirs, rel)
	switch {
	case err != nil:
		return nil, err
	case fi == nil:
		return nil, nil
	case !whole || !fi.Mode().IsRegular():
		return nil, fmt.Errorf("%s is a %s: plumb reads the container's /%s only as a file, and follows no link out of the root", p, fileKind(fi), rel)
	}
	// A file of a read-only layer (not of the first directory, the upper
	// one) is read once per process: each container of an image reads
	// the same /etc/passwd and /etc/group.
	lower := len(dirs) > 1 && !strings.HasPrefix(p, dirs[0]+string(filepath.Separator))
	if lower {
		if data, ok := lowerFiles.Load(p); ok {
			return slices.Clone(data.([]byte)), nil
		}
	}
	data, err := readRootFile(p)
	if err == nil && lower {
		lowerFiles.Store(p, data)
	}
	return data, err
}

// lowerFiles are the files of read-only layers rootFile read (see
// lowerCache).
var lowerFiles sync.Map // path -> []byte

func readRootFile(p string) ([]byte, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	const limit = 16 << 20
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err == nil && len(data) > limit {
		err = fmt.Errorf("%s is larger than %d bytes", p, limit)
	}
	return data, err
}

// process is what the container's command runs with: the user resolved in
// its root (dirs, topmost first), the environment, the working directory.
func (c *Container) process(dirs []string) (*actions.Process, error) {
	spec, err := ParseUser(c.User)
	if err != nil {
		return nil, err
	}
	flag := "user"
	if c.User == "" {
		flag = "layer"
	}
	passwd, err := rootFile(dirs, "etc/passwd")
	if err != nil {
		return nil, plan.RefuseErr(flag, err)
	}
	group, err := rootFile(dirs, "etc/group")
	if err != nil {
		return nil, plan.RefuseErr(flag, err)
	}
	u, err := spec.Resolve(passwd, group)
	if err != nil {
		var r *plan.Refused
		if c.ImageUser && errors.As(err, &r) {
			return nil, plan.Refuse("image", "its config's User: %s", r.Msg)
		}
		return nil, err
	}
	dir, err := cleanWorkDir(c.WorkDir)
	if err != nil {
		return nil, err
	}
	return &actions.Process{Env: Environment(c.Env, c.hostname(), u.Home), Dir: dir, UID: u.UID, GID: u.GID, Groups: u.Groups}, nil
}

// etcMountPoints are the steps that make, in the upper layer before the
// overlay is mounted, the mount points of the container's /etc files that
// no layer has (and /etc, when the upper layer lacks it), as Docker's init
// layer holds them: the script then writes nothing in the root, and the
// undos remove them, so a container that wrote nothing leaves nothing.
// Where the upper layer already has something there (a kept upper layer,
// a whiteout), or /etc is not a directory, the script deals with it (or
// Preflight refuses it).
func etcMountPoints(upper string, layers []string) []plan.Step {
	dirs := append([]string{upper}, layers...)
	if _, fi, _, err := lookup(dirs, "etc"); err != nil || fi != nil && !fi.IsDir() {
		return nil
	}
	etc := filepath.Join(upper, "etc")
	fi, err := os.Lstat(etc)
	if err == nil && !fi.IsDir() {
		return nil
	}
	var steps []plan.Step
	if err != nil {
		steps = append(steps, plan.Step{Action: actions.Mkdir{Path: etc,
			Purpose: fmt.Sprintf("create %s: the container's /etc files are mounted there, and the upper layer lacks it", etc)}})
	}
	for _, f := range actions.EtcNames {
		p := filepath.Join(etc, f)
		if _, err := os.Lstat(p); err == nil {
			continue
		}
		if _, fi, _, err := lookup(dirs, "etc/"+f); err != nil || fi != nil {
			continue
		}
		steps = append(steps, plan.Step{Action: actions.WriteFile{Path: p, For: "the mount point of the container's /etc/" + f + ", which no layer has"}})
	}
	if len(steps) == 1 && err != nil {
		return nil // every layer has the three files: no mount point to make
	}
	return steps
}

// checkEtc refuses a root whose /etc, or whose /etc/hostname, /etc/hosts or
// /etc/resolv.conf, is something the container's script will not bind
// over: a symbolic link (see actions' etcLines for why) or not a file.
func checkEtc(dirs []string) error {
	if p, fi, _, err := lookup(dirs, "etc"); err != nil {
		return plan.RefuseErr("layer", err)
	} else if fi != nil && !fi.IsDir() {
		return plan.Refuse("layer", "%s is a %s, not a directory: plumb binds the container's /etc/hostname, /etc/hosts and /etc/resolv.conf there, and follows no link out of the root", p, fileKind(fi))
	}
	for _, f := range actions.EtcNames {
		p, fi, _, err := lookup(dirs, "etc/"+f)
		switch {
		case err != nil:
			return plan.RefuseErr("layer", err)
		case fi == nil || fi.Mode().IsRegular():
		case fi.Mode()&os.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			return plan.Refuse("layer", "%s is a symbolic link (to %s): plumb binds a file of its own onto the container's /etc/%s and follows no link out of the root "+
				"(Docker mounts over the link's target, resolved inside the root)", p, target, f)
		default:
			return plan.Refuse("layer", "%s is a %s: plumb binds a file of its own onto the container's /etc/%s", p, fileKind(fi), f)
		}
	}
	return nil
}

// checkWorkDir refuses a working directory that passes through something
// other than a directory in the root: a symbolic link the script would
// refuse to follow, or a file it cannot make a directory of.
func checkWorkDir(dirs []string, dir string) error {
	if dir == "/" {
		return nil
	}
	p, fi, whole, err := lookup(dirs, strings.TrimPrefix(dir, "/"))
	switch {
	case err != nil:
		return plan.RefuseErr("workdir", err)
	case fi == nil || whole && fi.IsDir():
		return nil
	case fi.Mode()&os.ModeSymlink != 0:
		target, _ := os.Readlink(p)
		return plan.Refuse("workdir", "%s: %s is a symbolic link (to %s), and plumb follows no link out of the container's root", dir, p, target)
	}
	return plan.Refuse("workdir", "%s: %s is a %s, not a directory", dir, p, fileKind(fi))
}

// CheckImageConfig applies to an image's Env, WorkingDir and User the rules
// -e, -w and -u follow, and refuses as --image what breaks them, naming the
// config's field: the user gave no flag.
func CheckImageConfig(env []string, workDir, user string) error {
	for _, c := range []struct {
		field string
		err   error
	}{{"Env", checkEnv(env)}, {"WorkingDir", func() error { _, err := cleanWorkDir(workDir); return err }()},
		{"User", func() error { _, err := ParseUser(user); return err }()}} {
		if c.err != nil {
			msg := c.err.Error()
			var r *plan.Refused
			if errors.As(c.err, &r) {
				msg = r.Msg
			}
			return plan.Refuse("image", "its config's %s: %s", c.field, msg)
		}
	}
	return nil
}
