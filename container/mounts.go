package container

import (
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"plumb/actions"
	"plumb/plan"
	"plumb/volume"
)

// Mount is one of a container's mounts besides its root, as docker run's
// -v, --mount and --tmpfs give them.
type Mount struct {
	Type   string // "bind", "volume" or "tmpfs"
	Source string // bind: an absolute host path; volume: its name
	Target string // absolute, clean, in the container
	// ReadOnly mounts it read-only; NoCopy leaves a new volume empty
	// rather than filled from the image.
	ReadOnly, NoCopy bool
	// Create makes a bind's missing source, as -v does (--mount refuses it).
	Create bool
	// Mode is -v's third field as given ("ro", "rw,rprivate"), for inspect.
	Mode string
	// Propagation is a bind's (rprivate when none is given, as Docker's).
	Propagation string
	// Options are a tmpfs's mount options (size=, mode=, ...).
	Options []string
	// flag is the flag it came from, for messages.
	flag string
}

var propagations = []string{"private", "rprivate", "shared", "rshared", "slave", "rslave"}

// ParseVolume reads -v SOURCE:TARGET[:OPTIONS] as docker run does: a
// SOURCE that starts with / is a host directory (made when missing),
// anything else a volume's name. OPTIONS are ro, rw, nocopy and a bind's
// propagation, separated by commas.
func ParseVolume(s string) (Mount, error) {
	parts := strings.Split(s, ":")
	if len(parts) == 1 {
		return Mount{}, plan.Refuse("volume", "%q: plumb has no anonymous volumes; name one (-v NAME:%s) or give a host directory (-v /DIR:%s)", s, s, s)
	}
	if len(parts) > 3 {
		return Mount{}, plan.Refuse("volume", "%q: SOURCE:TARGET[:OPTIONS], and a path with ':' is not one -v can take (use --mount)", s)
	}
	m := Mount{Source: parts[0], Target: parts[1], flag: "volume"}
	if len(parts) == 3 {
		m.Mode = parts[2]
		for _, o := range strings.Split(parts[2], ",") {
			switch {
			case o == "ro":
				m.ReadOnly = true
			case o == "rw":
				m.ReadOnly = false
			case o == "nocopy":
				m.NoCopy = true
			case slices.Contains(propagations, o):
				m.Propagation = o
			case o == "z" || o == "Z":
				return Mount{}, plan.Refuse("volume", "%q: plumb does not relabel for SELinux (:%s)", s, o)
			default:
				return Mount{}, plan.Refuse("volume", "%q: unknown option %q (ro, rw, nocopy, or a propagation: %s)", s, o, strings.Join(propagations, ", "))
			}
		}
	}
	if strings.HasPrefix(m.Source, "/") {
		m.Type, m.Create = "bind", true
		if m.NoCopy {
			return Mount{}, plan.Refuse("volume", "%q: nocopy is for volumes, not host directories", s)
		}
	} else {
		m.Type = "volume"
		if m.Propagation != "" {
			return Mount{}, plan.Refuse("volume", "%q: a propagation is for host directories, not volumes", s)
		}
	}
	return m, m.check()
}

// ParseMount reads --mount as docker run does: comma-separated KEY=VALUE,
// type bind, volume (the default) or tmpfs.
func ParseMount(s string) (Mount, error) {
	fields, err := csv.NewReader(strings.NewReader(s)).Read()
	if err != nil {
		return Mount{}, plan.Refuse("mount", "%q: %v", s, err)
	}
	m := Mount{Type: "volume", flag: "mount"}
	var size, mode string
	for _, f := range fields {
		k, v, hasValue := strings.Cut(f, "=")
		boolean := func() (bool, error) {
			if !hasValue {
				return true, nil
			}
			b, err := strconv.ParseBool(v)
			if err != nil {
				return false, plan.Refuse("mount", "%q: %s=%s is not true or false", s, k, v)
			}
			return b, nil
		}
		switch strings.ToLower(k) {
		case "type":
			m.Type = v
		case "source", "src":
			m.Source = v
		case "target", "destination", "dst":
			m.Target = v
		case "readonly", "ro":
			if m.ReadOnly, err = boolean(); err != nil {
				return Mount{}, err
			}
		case "volume-nocopy":
			if m.NoCopy, err = boolean(); err != nil {
				return Mount{}, err
			}
		case "bind-propagation":
			if !slices.Contains(propagations, v) {
				return Mount{}, plan.Refuse("mount", "%q: bind-propagation is one of %s", s, strings.Join(propagations, ", "))
			}
			m.Propagation = v
		case "tmpfs-size":
			n, err := parseSize(v)
			if err != nil {
				return Mount{}, plan.Refuse("mount", "%q: tmpfs-size: %v", s, err)
			}
			size = "size=" + strconv.FormatInt(n, 10)
		case "tmpfs-mode":
			if _, err := strconv.ParseUint(v, 8, 32); err != nil {
				return Mount{}, plan.Refuse("mount", "%q: tmpfs-mode %q is not an octal mode", s, v)
			}
			mode = "mode=" + v
		default:
			return Mount{}, plan.Refuse("mount", "%q: plumb does not know the key %q (type, source, target, readonly, volume-nocopy, bind-propagation, tmpfs-size, tmpfs-mode)", s, k)
		}
	}
	switch m.Type {
	case "bind", "volume":
		if size != "" || mode != "" {
			return Mount{}, plan.Refuse("mount", "%q: tmpfs-size and tmpfs-mode are for type=tmpfs", s)
		}
		if m.Type == "volume" && m.Propagation != "" || m.Type == "bind" && m.NoCopy {
			return Mount{}, plan.Refuse("mount", "%q: bind-propagation is for binds, volume-nocopy for volumes", s)
		}
		if m.Source == "" {
			return Mount{}, plan.Refuse("mount", "%q: give the source (source=%s)", s, map[string]string{"bind": "/HOST/DIR", "volume": "NAME"}[m.Type])
		}
		if m.Type == "bind" && !filepath.IsAbs(m.Source) {
			return Mount{}, plan.Refuse("mount", "%q: a bind's source is an absolute host path", s)
		}
	case "tmpfs":
		if m.Source != "" || m.Propagation != "" || m.NoCopy {
			return Mount{}, plan.Refuse("mount", "%q: a tmpfs has no source, propagation or copy", s)
		}
		m.Options = tmpfsOptions(slices.DeleteFunc([]string{size, mode}, func(o string) bool { return o == "" }))
	default:
		return Mount{}, plan.Refuse("mount", "%q: type is bind, volume or tmpfs", s)
	}
	return m, m.check()
}

// ParseTmpfs reads --tmpfs TARGET[:OPTIONS]: OPTIONS are mount(8)'s for
// tmpfs (size=64m,mode=1777,...).
func ParseTmpfs(s string) (Mount, error) {
	target, opts, _ := strings.Cut(s, ":")
	m := Mount{Type: "tmpfs", Target: target, flag: "tmpfs", Mode: opts}
	var given []string
	if opts != "" {
		given = strings.Split(opts, ",")
	}
	m.Options = tmpfsOptions(given)
	for _, o := range m.Options {
		if o == "ro" {
			m.ReadOnly = true
		}
	}
	return m, m.check()
}

// tmpfsOptions are a tmpfs's options as Docker gives them: noexec, nosuid
// and nodev unless exec, suid or dev was asked for.
func tmpfsOptions(given []string) []string {
	var out []string
	for _, d := range [][2]string{{"noexec", "exec"}, {"nosuid", "suid"}, {"nodev", "dev"}} {
		if !slices.Contains(given, d[0]) && !slices.Contains(given, d[1]) {
			out = append(out, d[0])
		}
	}
	return append(out, given...)
}

// parseSize reads a size as Docker's units.RAMInBytes: a number (1.5
// too) and an optional b, k, m, g (or kb, mb, gb; any case), powers of
// 1024.
func parseSize(v string) (int64, error) {
	s := strings.ToLower(strings.TrimSpace(v))
	s = strings.TrimSuffix(s, "b")
	mult := int64(1)
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 'k':
			mult, s = 1<<10, s[:n-1]
		case 'm':
			mult, s = 1<<20, s[:n-1]
		case 'g':
			mult, s = 1<<30, s[:n-1]
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || strings.ContainsAny(s, "eEnNxX+-") || f <= 0 || f*float64(mult) > 1<<62 || int64(f*float64(mult)) <= 0 {
		return 0, fmt.Errorf("%q is not a size (such as 64m)", v)
	}
	return int64(f * float64(mult)), nil
}

// check applies the rules every mount shares: an absolute target other
// than /, a volume's name.
func (m *Mount) check() error {
	if !filepath.IsAbs(m.Target) {
		return plan.Refuse(m.flag, "the target %q is not an absolute path in the container", m.Target)
	}
	m.Target = filepath.Clean(m.Target)
	if m.Target == "/" {
		return plan.Refuse(m.flag, "a mount cannot replace the container's root (/)")
	}
	if m.Type == "bind" {
		m.Source = filepath.Clean(m.Source)
	}
	if m.Type == "volume" {
		return volume.CheckName(m.flag, m.Source)
	}
	return nil
}

// checkMounts refuses two mounts on one target, as Docker does ("Duplicate
// mount point").
func checkMounts(ms []Mount) error {
	seen := map[string]bool{}
	for _, m := range ms {
		if seen[m.Target] {
			return plan.Refuse(m.flag, "two mounts on %s", m.Target)
		}
		seen[m.Target] = true
	}
	return nil
}

// Volumes are the names of the volumes ms mount.
func Volumes(ms []Mount) []string {
	var out []string
	for _, m := range ms {
		if m.Type == "volume" && !slices.Contains(out, m.Source) {
			out = append(out, m.Source)
		}
	}
	return out
}

// sortedMounts are ms, parents before what is mounted inside them (Docker
// sorts them so), otherwise in the order given.
func sortedMounts(ms []Mount) []Mount {
	out := slices.Clone(ms)
	slices.SortStableFunc(out, func(a, b Mount) int {
		return strings.Count(a.Target, "/") - strings.Count(b.Target, "/")
	})
	return out
}

// source is the host path a bind or volume mounts.
func (m Mount) source(st *plan.Store) string {
	if m.Type == "volume" {
		return st.Volume(m.Source).Data
	}
	return m.Source
}

// specMount is m as config.json gives it to the runtime.
func (m Mount) specMount(st *plan.Store) specs.Mount {
	if m.Type == "tmpfs" {
		return specs.Mount{Destination: m.Target, Type: "tmpfs", Source: "tmpfs", Options: m.Options}
	}
	opts := []string{"rbind", m.propagation()}
	if m.ReadOnly {
		opts = append(opts, "ro")
	}
	return specs.Mount{Destination: m.Target, Type: "bind", Source: m.source(st), Options: opts}
}

func (m Mount) propagation() string {
	if m.Propagation == "" {
		return "rprivate"
	}
	return m.Propagation
}

// facts are m as records keep it, in docker inspect's terms.
func (m Mount) facts(st *plan.Store) plan.MountFacts {
	f := plan.MountFacts{Type: m.Type, Destination: m.Target, Mode: m.Mode, RW: !m.ReadOnly, Options: m.specMount(st).Options}
	switch m.Type {
	case "volume":
		f.Name, f.Source = m.Source, m.source(st)
	case "bind":
		f.Source, f.Propagation = m.Source, m.propagation()
	}
	return f
}

// mountSteps are the steps a container's mounts need on the host before
// its runtime starts: -v's missing sources made, new volumes filled from
// the image (after the root is mounted: they read it).
func mountSteps(st *plan.Store, ms []Mount, merged string) []plan.Step {
	var steps []plan.Step
	for _, m := range ms {
		switch {
		case m.Type == "bind" && m.Create:
			if _, err := os.Lstat(m.Source); err == nil {
				continue
			}
			steps = append(steps, plan.Step{Action: actions.Mkdir{Path: m.Source,
				Purpose: fmt.Sprintf("create %s, the missing source of -v %s:%s, as docker run -v does", m.Source, m.Source, m.Target)}})
		case m.Type == "volume" && !m.NoCopy:
			steps = append(steps, plan.Step{Action: actions.CopyUp{Root: merged, Dest: m.Target, Data: m.source(st), Volume: m.Source}})
		}
	}
	return steps
}

// checkSources refuses what the host lacks: a --mount bind's source (as
// Docker: "bind source path does not exist"), a volume that is not there.
func checkSources(st *plan.Store, ms []Mount) error {
	for _, m := range ms {
		switch m.Type {
		case "bind":
			if _, err := os.Stat(m.Source); err != nil && !m.Create {
				return plan.Refuse(m.flag, "bind source path does not exist: %s", m.Source)
			}
		case "volume":
			if _, err := os.Stat(m.source(st)); err != nil {
				return plan.Refuse(m.flag, "volume %s does not exist: plumb volume create %s", m.Source, m.Source)
			}
		}
	}
	return nil
}

// userMountPoints are the steps that make, in the upper layer before the
// overlay is mounted, the directories the container's mounts go on that
// no layer has, as mountPoints does for /dev, /proc and /sys: the runtime
// would make them in the upper layer otherwise, where a rollback would
// find them. A target below a symbolic link of the image is left to the
// runtime, which resolves it inside the root (a mkdir -p here would make
// a directory in place of the link); so is a bind of a file, whose mount
// point is a file; and so is one below a directory only a lower layer
// has: a mkdir -p in the upper layer would give that directory root's
// owner and plumb's mode in the merged view, where the runtime's mkdir
// copies it up with its own.
func userMountPoints(upper string, layers []string, ms []Mount) []plan.Step {
	var steps []plan.Step
	dirs := append([]string{upper}, layers...)
	made := map[string]bool{}
outer:
	for _, m := range ms {
		if m.Type == "bind" {
			if fi, err := os.Stat(m.Source); err == nil && !fi.IsDir() {
				continue
			}
		}
		rel := strings.TrimPrefix(m.Target, "/")
		parts := strings.Split(rel, "/")
		for i := range parts {
			prefix := strings.Join(parts[:i+1], "/")
			at, fi, err := topEntry(dirs, prefix)
			switch {
			case err != nil:
				continue outer
			case fi != nil && fi.IsDir() && !strings.HasPrefix(at, upper+"/"):
				if i < len(parts)-1 {
					continue outer // a lower layer's directory: the runtime's
				}
			case fi == nil:
				p := filepath.Join(upper, rel)
				if !made[p] {
					made[p] = true
					steps = append(steps, plan.Step{Action: actions.Mkdir{Path: p,
						Purpose: fmt.Sprintf("create %s: the container's %s is mounted there, and no layer has it", p, m.Target)}})
				}
				continue outer
			case !fi.IsDir():
				continue outer // a link, or a file: the runtime's to resolve
			}
		}
	}
	return steps
}

// CheckMount is a mount given field by field (a Compose file's long
// form), checked as -v's and --mount's are; a tmpfs gets Docker's options.
func CheckMount(m Mount) (Mount, error) {
	if m.Type == "tmpfs" {
		m.Options = tmpfsOptions(m.Options)
	}
	return m, m.check()
}
