package container

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"plumb/actions"
	"plumb/plan"
)

// specVersion is the runtime-spec version config.json claims: crun 1.8
// (Debian 12's) refuses any newer than it knows, and nothing plumb writes
// needs more than 1.0.2.
const specVersion = "1.0.2"

// MaskedPaths are the paths Docker hides from a container (moby's
// daemon/pkg/oci/defaults.go): the runtime mounts an empty read-only tmpfs
// on each directory, /dev/null on each file.
var MaskedPaths = []string{"/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys",
	"/proc/latency_stats", "/proc/sched_debug", "/proc/scsi", "/proc/timer_list", "/proc/timer_stats",
	"/sys/devices/virtual/powercap", "/sys/firmware"}

// devNodes are the device nodes of a container's /dev, bound from the host's.
var devNodes = []string{"null", "zero", "full", "random", "urandom", "tty"}

// ReadonlyPaths are the paths Docker makes read-only in a container.
var ReadonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}

// bundle is what a container's config.json is made from, beside the
// container's own fields: where its root and files are, and what the plan
// resolved.
type bundle struct {
	Root    string // the overlay's merged directory
	Netns   string // the network namespace's path
	Etc     actions.EtcFiles
	Proc    *actions.Process
	Confine *actions.Confinement
	// NoDev and NoSuid are the root's mount flags, which a hook sets
	// again inside the container (Mount is mount(8)'s path): crun's
	// remount of the root drops them.
	NoDev, NoSuid bool
	Mount         string
	// St lays out the volumes the container mounts.
	St *plan.Store
}

// rootHook remounts the root with its flags in the container's mount
// namespace before the runtime enters it (a createContainer hook): crun
// bind-mounts the root again without them, so that device nodes in an
// image would open and setuid bits would count. nil when no flag is set.
func rootHook(b bundle, readOnly bool) *specs.Hooks {
	opts := []string{"remount", "bind"}
	if b.NoDev {
		opts = append(opts, "nodev")
	}
	if b.NoSuid {
		opts = append(opts, "nosuid")
	}
	if len(opts) == 2 {
		return nil
	}
	if readOnly {
		opts = append(opts, "ro")
	}
	// The runtime writes the container's state on the hook's stdin after
	// it starts it; crun fails the start with EPIPE when the hook has
	// already exited (seen in CI: "error executing hook `/bin/mount`
	// (exit code: -33)"). mount(8) reads no stdin, so a shell drains it.
	remount := actions.Quote([]string{b.Mount, "-o", strings.Join(opts, ","), b.Root})
	return &specs.Hooks{CreateContainer: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "cat >/dev/null; exec " + remount}}}}
}

// seccompOpt reads --security-opt seccomp=…: "" is Docker's default
// profile, "unconfined" none, anything else a profile file in Docker's
// format.
func seccompOpt(opts []string) (string, bool) {
	for _, o := range slices.Backward(opts) {
		for _, p := range []string{"seccomp=", "seccomp:"} {
			if v, ok := strings.CutPrefix(o, p); ok {
				return v, true
			}
		}
	}
	return "", false
}

// ownCaps are the capabilities in plumb's own bounding set, which a
// --privileged container gets (as Docker's get the daemon's): asking the
// runtime for one plumb lacks fails (capset: Operation not permitted).
func ownCaps() ([]string, error) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil, err
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "CapBnd:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				return nil, fmt.Errorf("/proc/self/status: CapBnd: %w", err)
			}
			var out []string
			for i, n := range actions.CapNames {
				if mask&(1<<i) != 0 {
					out = append(out, n)
				}
			}
			return out, nil
		}
	}
	return nil, fmt.Errorf("/proc/self/status has no CapBnd")
}

// capNames are caps as the runtime spec names them: CAP_CHOWN, ...
func capNames(caps []string) []string {
	out := make([]string, len(caps))
	for i, c := range caps {
		out[i] = "CAP_" + strings.ToUpper(c)
	}
	return out
}

// Spec is the container's OCI runtime configuration as Docker writes it by
// default (moby's DefaultLinuxSpec and its daemon's additions): new mount,
// UTS, PID, IPC and cgroup namespaces and plumb's network namespace; /proc,
// a tmpfs /dev with the standard nodes, /dev/pts, /dev/shm, /dev/mqueue,
// /sys read-only, the cgroup file system read-only; Docker's masked and
// read-only paths, its 14 capabilities and its seccomp profile; the
// container's /etc/hostname, /etc/hosts and /etc/resolv.conf bound from the
// files plumb writes. --privileged keeps every capability, masks nothing,
// mounts /sys and the cgroups read-write and has no seccomp filter.
func (c *Container) spec(b bundle) (*specs.Spec, error) {
	caps := capNames(b.Confine.Caps)
	if b.Confine.Privileged {
		own, err := ownCaps()
		if err != nil {
			return nil, err
		}
		caps = capNames(own)
	}
	p := b.Proc
	groups := make([]uint32, len(p.Groups))
	for i, g := range p.Groups {
		groups[i] = uint32(g)
	}
	s := &specs.Spec{
		Version: specVersion,
		Process: &specs.Process{
			Args: c.Cmd, Env: p.Env, Cwd: p.Dir, Terminal: c.Tty && c.Attach,
			User:            specs.User{UID: uint32(p.UID), GID: uint32(p.GID), AdditionalGids: groups},
			Capabilities:    &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps},
			NoNewPrivileges: b.Confine.NoNewPrivs,
		},
		Root:     &specs.Root{Path: b.Root},
		Hostname: c.hostname(),
		Hooks:    rootHook(b, c.ReadOnly),
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"ro", "nosuid", "noexec", "nodev"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/etc/resolv.conf", Type: "bind", Source: b.Etc.Resolv, Options: []string{"rbind", "rprivate"}},
			{Destination: "/etc/hostname", Type: "bind", Source: b.Etc.Hostname, Options: []string{"rbind", "rprivate"}},
			{Destination: "/etc/hosts", Type: "bind", Source: b.Etc.Hosts, Options: []string{"rbind", "rprivate"}},
		},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.MountNamespace}, {Type: specs.NetworkNamespace, Path: b.Netns}, {Type: specs.UTSNamespace},
				{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace}, {Type: specs.CgroupNamespace},
			},
			MaskedPaths:   MaskedPaths,
			ReadonlyPaths: ReadonlyPaths,
			// Docker's, for a container with a network namespace of its
			// own: ports below 1024 and ping for any user in it.
			Sysctl: map[string]string{"net.ipv4.ip_unprivileged_port_start": "0", "net.ipv4.ping_group_range": "0 2147483647"},
			// runc always makes a cgroup, and deletes it with the
			// container: one level, so that no parent of plumb's stays
			// in the host's hierarchies (crun, without cgroups, reads
			// nothing here).
			CgroupsPath: "/plumb-" + c.Name,
		},
	}
	// The root read-only: by the hook, which remounts it with its flags
	// (runc's own read-only remount of / would clear nodev and nosuid),
	// or by the runtime when there is no hook. The /etc files too, as
	// Docker binds them for --read-only.
	if c.ReadOnly {
		s.Root.Readonly = s.Hooks == nil
		for i := range s.Mounts {
			if m := &s.Mounts[i]; m.Type == "bind" && strings.HasPrefix(m.Destination, "/etc/") {
				m.Options = append(slices.Clone(m.Options), "ro")
			}
		}
	}
	if !b.Confine.Privileged {
		// /dev nodev, its device nodes bound from the host's, as plumb's
		// own start did: Docker's /dev is not nodev, and its devices
		// cgroup stops a node made with CAP_MKNOD from opening; crun runs
		// without cgroups here, so nodev does that.
		var devs []specs.Mount
		for _, d := range devNodes {
			devs = append(devs, specs.Mount{Destination: "/dev/" + d, Type: "bind", Source: "/dev/" + d, Options: []string{"rbind", "nosuid", "noexec"}})
		}
		s.Mounts[1].Options = []string{"nosuid", "nodev", "strictatime", "mode=755", "size=65536k"}
		s.Mounts = slices.Insert(s.Mounts, 7, devs...)
	}
	if b.Confine.Privileged {
		s.Linux.MaskedPaths, s.Linux.ReadonlyPaths = nil, nil
		for i := range s.Mounts {
			if m := &s.Mounts[i]; m.Destination == "/sys" || m.Destination == "/sys/fs/cgroup" {
				m.Options = slices.DeleteFunc(slices.Clone(m.Options), func(o string) bool { return o == "ro" })
				m.Options = append(m.Options, "rw")
			}
		}
	}
	// The container's own mounts last, parents first; one on a path the
	// defaults mount (/etc/hosts, /dev/shm) takes its place, as in Docker.
	for _, m := range sortedMounts(c.Mounts) {
		s.Mounts = slices.DeleteFunc(s.Mounts, func(d specs.Mount) bool { return d.Destination == m.Target })
		s.Mounts = append(s.Mounts, m.specMount(b.St))
	}
	if len(c.Mounts) > 0 {
		// All of them parents first, as Docker sorts them: a mount on /etc
		// goes under the /etc/hosts, hostname and resolv.conf binds, not
		// over them.
		slices.SortStableFunc(s.Mounts, func(a, b specs.Mount) int {
			return strings.Count(filepath.Clean(a.Destination), "/") - strings.Count(filepath.Clean(b.Destination), "/")
		})
	}
	s.Linux.Resources = c.Limits.resources(c.Limits.Memory > 0 && c.Limits.MemorySwap == 0 && swapAccounted())
	if s.Linux.Resources != nil && b.Confine.Privileged {
		// With limits the container has a cgroup, whose device rules
		// would deny what --privileged allows: every device, as Docker's.
		s.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
	}
	prof, set := seccompOpt(c.SecurityOpt)
	switch {
	case prof == "unconfined" || b.Confine.Privileged && !set:
	case prof == "":
		sc, err := defaultProfile(s)
		if err != nil {
			return nil, fmt.Errorf("reading Docker's default seccomp profile: %w", err)
		}
		s.Linux.Seccomp = sc
	default:
		data, err := os.ReadFile(prof)
		if err != nil {
			return nil, plan.Refuse("security-opt", "seccomp profile: %v", err)
		}
		sc, err := seccomp.LoadProfile(string(data), s)
		if err != nil {
			return nil, plan.Refuse("security-opt", "seccomp profile %s: %v", prof, err)
		}
		s.Linux.Seccomp = sc
	}
	return s, nil
}

// specJSON is config.json's text: indented, with each of the seccomp
// profile's rules on one line, so that the plan shows the configuration
// in a few screens rather than a thousand lines of syscall names.
func specJSON(s *specs.Spec) (string, error) {
	sc := s.Linux.Seccomp
	s.Linux.Seccomp = nil
	defer func() { s.Linux.Seccomp = sc }()
	// Not HTML-escaped: a command's > and & read as written.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return "", err
	}
	out := indentJSON(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	if sc == nil {
		return out + "\n", nil
	}
	// "seccomp" goes last in "linux", its rules one to a line.
	text, err := seccompText(sc)
	if err != nil {
		return "", err
	}
	// The spec's last two lines close "linux" and the spec itself.
	i := strings.LastIndex(out, "\n  }\n}")
	if i < 0 {
		return "", fmt.Errorf("config.json: unexpected layout")
	}
	return out[:i] + text + out[i:] + "\n", nil
}

// Docker's default profile depends on the capabilities alone (and on
// the kernel and architecture, the same for the whole process): a
// Compose plan's containers, most with Docker's default capabilities,
// share one profile and its text, made once.
var (
	profiles   sync.Map // bounding capabilities -> *specs.LinuxSeccomp
	profileTxt sync.Map // *specs.LinuxSeccomp -> string
)

func defaultProfile(s *specs.Spec) (*specs.LinuxSeccomp, error) {
	var key string
	if s.Process != nil && s.Process.Capabilities != nil {
		key = strings.Join(s.Process.Capabilities.Bounding, ",")
	}
	if sc, ok := profiles.Load(key); ok {
		return sc.(*specs.LinuxSeccomp), nil
	}
	sc, err := seccomp.GetDefaultProfile(s)
	if err != nil {
		return nil, err
	}
	profiles.Store(key, sc)
	return sc, nil
}

// seccompText is the "seccomp" member of config.json's "linux", its rules
// one to a line.
func seccompText(sc *specs.LinuxSeccomp) (string, error) {
	if t, ok := profileTxt.Load(sc); ok {
		return t.(string), nil
	}
	var b strings.Builder
	head, err := json.Marshal(struct {
		DefaultAction   specs.LinuxSeccompAction `json:"defaultAction"`
		DefaultErrnoRet *uint                    `json:"defaultErrnoRet,omitempty"`
		Architectures   []specs.Arch             `json:"architectures,omitempty"`
		Flags           []specs.LinuxSeccompFlag `json:"flags,omitempty"`
	}{sc.DefaultAction, sc.DefaultErrnoRet, sc.Architectures, sc.Flags})
	if err != nil {
		return "", err
	}
	b.WriteString(",\n    \"seccomp\": ")
	b.WriteString(strings.TrimSuffix(string(head), "}"))
	b.WriteString(",\n      \"syscalls\": [\n")
	for i, r := range sc.Syscalls {
		line, err := json.Marshal(r)
		if err != nil {
			return "", err
		}
		b.WriteString("        ")
		b.Write(line)
		if i < len(sc.Syscalls)-1 {
			b.WriteString(",")
		}
		b.WriteString("\n")
	}
	b.WriteString("      ]\n    }")
	profileTxt.Store(sc, b.String())
	return b.String(), nil
}

// indentJSON is compact JSON indented by two spaces a level, as
// json.Indent writes it, but with each list of strings on one line
// (["a", "b"]): oneLineLists of json.Indent's output, in one pass (the
// plan of a Compose project indents each container's config.json).
func indentJSON(src []byte) string {
	var b strings.Builder
	b.Grow(len(src) * 2)
	depth := 0
	newline := func() {
		b.WriteByte('\n')
		for range depth {
			b.WriteString("  ")
		}
	}
	for i := 0; i < len(src); i++ {
		switch c := src[i]; c {
		case '"':
			j := stringEnd(src, i)
			b.Write(src[i:j])
			i = j - 1
		case '{', '[':
			if i+1 < len(src) && (src[i+1] == '}' || src[i+1] == ']') {
				b.WriteByte(c)
				b.WriteByte(src[i+1])
				i++
				continue
			}
			if c == '[' {
				if end, ok := stringList(src, i); ok {
					b.WriteByte('[')
					for k := i + 1; k < end; k++ {
						if src[k] == '"' {
							j := stringEnd(src, k)
							b.Write(src[k:j])
							k = j - 1
						} else if src[k] == ',' {
							b.WriteString(", ")
						}
					}
					b.WriteByte(']')
					i = end
					continue
				}
			}
			b.WriteByte(c)
			depth++
			newline()
		case '}', ']':
			depth--
			newline()
			b.WriteByte(c)
		case ',':
			b.WriteByte(',')
			newline()
		case ':':
			b.WriteString(": ")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// stringEnd is the index just past the JSON string starting at src[i].
func stringEnd(src []byte, i int) int {
	for j := i + 1; j < len(src); j++ {
		switch src[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(src)
}

// stringList says whether the list opening at src[i] holds strings alone,
// and where it closes.
func stringList(src []byte, i int) (int, bool) {
	j := i + 1
	for j < len(src) {
		if src[j] != '"' {
			return 0, false
		}
		j = stringEnd(src, j)
		if j >= len(src) {
			return 0, false
		}
		switch src[j] {
		case ']':
			return j, true
		case ',':
			j++
		default:
			return 0, false
		}
	}
	return 0, false
}
