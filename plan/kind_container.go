package plan

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"plumb/actions"
)

// ContainerKind is a container's (run): its process, as the OCI runtime
// runs it, in a sandbox (SandboxKind) on a root file system (RootfsKind),
// both objects of their own that it names.
var ContainerKind = Register(containerKind{})

type containerKind struct{ FactsCodec[ContainerFacts] }

func (containerKind) Name() string { return "container" }

// FactsVersion 2: the sandbox and the root file system are objects of
// their own, named by Sandbox and Rootfs. Version 1 kept them inline
// (Root, Net), and so do its records, which this plumb still reads and
// removes. (Version 1 itself made the root and the network structs of
// their own, unlike the one key space of the details map.)
func (containerKind) FactsVersion() int { return 2 }

// DecodeOlderFacts reads version 1: the same fields, Root and Net set.
func (k containerKind) DecodeOlderFacts(_ int, data json.RawMessage) (Facts, error) {
	return k.DecodeFacts(data)
}

// ContainerFacts are a container's (run): its process, the sandbox and
// root file system it runs in, as names; or, for a container of version
// 1, the root and the attachment themselves.
type ContainerFacts struct {
	// Sandbox and Rootfs name its sandbox and its root file system;
	// Bundle is its directory, where its config.json, PID file, log and
	// exit status are kept. "" in version 1.
	Sandbox string `json:"sandbox,omitempty"`
	Rootfs  string `json:"rootfs,omitempty"`
	Bundle  string `json:"bundle,omitempty"`
	// Root and Net are version 1's: its root and its attachment (nil:
	// --net none), kept in the container's own record. Version 2 leaves
	// them out; Store.ContainerOf fills them from its objects.
	Root     OverlayFacts     `json:"root,omitzero"`
	Netns    string           `json:"netns"` // the name of its network namespace
	Hostname string           `json:"hostname"`
	Cmd      string           `json:"cmd"` // the command, as a shell line
	PIDFile  string           `json:"pid_file"`
	Log      string           `json:"log"`
	Target   string           `json:"target"`
	Net      *AttachmentFacts `json:"net,omitempty"`
	// What the command runs with: the image it came from (its name and
	// ID; "" for --layer), its environment, working directory and user
	// ("UID:GID") as the plan resolved them. Journals of plumb before
	// images have none of them.
	Image   string   `json:"image,omitempty"`
	ImageID string   `json:"image_id,omitempty"`
	Env     []string `json:"env"`
	WorkDir string   `json:"working_dir,omitempty"`
	User    string   `json:"user,omitempty"`
	// Runtime is the OCI runtime that runs it and RuntimeState that
	// runtime's --root; "" for containers plumb started itself, before it
	// handed them to a runtime.
	Runtime      string `json:"runtime,omitempty"`
	RuntimeState string `json:"runtime_state,omitempty"`
	// Mounts are its volumes, binds and tmpfs mounts (-v, --mount,
	// --tmpfs), in the order they are mounted.
	Mounts []MountFacts `json:"mounts,omitempty"`
	// What the container may do, as its flags asked (docker inspect's
	// HostConfig): --cap-add, --cap-drop, --privileged, --read-only.
	// NetworkMode is "container:NAME" for a container that joined NAME's
	// network namespace (Netns is then NAME's); "" otherwise.
	NetworkMode string   `json:"network_mode,omitempty"`
	CapAdd      []string `json:"cap_add,omitempty"`
	CapDrop     []string `json:"cap_drop,omitempty"`
	Privileged  bool     `json:"privileged,omitempty"`
	// Limits (--memory, --memory-swap in bytes, --cpus × 10⁹,
	// --pids-limit); 0 none. The container has a cgroup of its own when
	// any is set.
	Memory     int64 `json:"memory,omitempty"`
	MemorySwap int64 `json:"memory_swap,omitempty"`
	NanoCPUs   int64 `json:"nano_cpus,omitempty"`
	PidsLimit  int64 `json:"pids_limit,omitempty"`
	// Labels are its labels (Compose's project, service, number and
	// configuration hash).
	Labels   map[string]string `json:"labels,omitempty"`
	ReadOnly bool              `json:"read_only,omitempty"`
}

// Kind is ContainerKind.
func (ContainerFacts) Kind() Kind { return ContainerKind }

// DecodeDetails reads the one key space the map form shared: the root's
// keys, the network's (unless "net" is "none"), and the container's own
// ("target" and "layout" written by both).
func (containerKind) DecodeDetails(d *DetailsReader) Facts {
	c := ContainerFacts{Root: d.overlay(), Netns: d.S("netns"), Hostname: d.S("hostname"), Cmd: d.S("cmd"),
		PIDFile: d.S("pid_file"), Log: d.S("log"), Target: d.S("target"),
		Image: d.S("image"), ImageID: d.S("image_id"), WorkDir: d.S("working_dir"), User: d.S("user")}
	d.JSON("env", &c.Env)
	if d.S("net") != "none" {
		a := d.attachment()
		c.Net = &a
	}
	return c
}

// SelfNamed: a container answers to its name on its network.
func (containerKind) SelfNamed() {}

// The network of a container of version 1, kept in its record: what a
// sandbox holds now (see held).
func (containerKind) Attachment(f Facts) (AttachmentFacts, bool) {
	c, _ := f.(ContainerFacts)
	return held(c.Net).attachment()
}

// Overlay: a container of version 1's root; one of version 2 has none
// of its own (its root file system has it).
func (containerKind) Overlay(f Facts) (OverlayFacts, bool) {
	c, _ := f.(ContainerFacts)
	return c.Root, c.Rootfs == ""
}

func (containerKind) IndexEntries(l Layout, f Facts) []string {
	c, _ := f.(ContainerFacts)
	return held(c.Net).indexEntries(l)
}

func (containerKind) Rules(f Facts) (rules, bridged bool) {
	c, _ := f.(ContainerFacts)
	return held(c.Net).rules()
}

func (containerKind) Firewall(f Facts) string {
	c, _ := f.(ContainerFacts)
	return held(c.Net).firewall()
}

// Dependents, of a container of version 1 alone, are the containers of
// version 1 that share its network namespace (run --net container:NAME)
// and have not exited: its record holds their sandbox. One that has
// exited needs it no more (it cannot be started again). A container of
// version 2 has none: its sandbox is an object of its own.
func (containerKind) Dependents(st *Store, rec *Record, _ Facts) []*Record {
	if f, err := rec.Container(); err == nil && f.Sandbox != "" {
		return nil
	}
	var out []*Record
	for _, r := range holders(st, func(f ContainerFacts) bool { return f.NetworkMode == "container:"+rec.Name && f.Sandbox == "" }) {
		if _, state := ContainerState(r); state != "exited" {
			out = append(out, r)
		}
	}
	return out
}

// Holds are its sandbox and its root file system (headers).
func (containerKind) Holds(st *Store, _ *Record, f Facts) []*Record {
	c, ok := f.(ContainerFacts)
	if !ok {
		return nil
	}
	var out []*Record
	for _, ref := range c.HeldRefs() {
		if h, err := st.LoadHeader(ref.Kind, ref.Name); err == nil {
			out = append(out, h)
		}
	}
	return out
}

// HeldRefs name its root file system and its sandbox (records of kind and
// name alone), the root first; none for a container of version 1.
func (f ContainerFacts) HeldRefs() []*Record {
	var out []*Record
	if f.Rootfs != "" {
		out = append(out, &Record{Kind: RootfsKind.Name(), Name: f.Rootfs})
	}
	if f.Sandbox != "" {
		out = append(out, &Record{Kind: SandboxKind.Name(), Name: f.Sandbox})
	}
	return out
}

// BeforeDown refuses a container of version 1 whose network others share
// (its record holds their sandbox) but for those removed with it, and
// gives the container's stop opts.Grace seconds (0: Docker's 10;
// negative: SIGKILL at once). The run recorded none: its own rollback
// kills the container at once.
func (k containerKind) BeforeDown(env Env, rec *Record, opts DownOptions, _ bool) ([]*Record, error) {
	if members := opts.notRemoved(k.Dependents(env.St, rec, nil)); len(members) > 0 {
		return nil, &Refused{Msg: fmt.Sprintf("%s's network is shared by %s; remove them first (plumb rm -f %s)", rec.ID(), strings.Join(recordIDs(members), ", "), strings.Join(namesOf(members), " "))}
	}
	g := opts.Grace
	if g == 0 {
		g = int(actions.Grace / time.Second)
	}
	return nil, StopGrace(rec, g)
}

// Container is a container record's facts.
func (r *Record) Container() (ContainerFacts, error) {
	if !r.Is(ContainerKind) {
		return ContainerFacts{}, fmt.Errorf("%s is not a container", r.ID())
	}
	f, err := r.Facts()
	if err != nil {
		return ContainerFacts{}, err
	}
	return f.(ContainerFacts), nil
}

// ContainerState says whether a container's process still runs: its PID
// lives and is still in the container's network namespace. It is
// "unknown" when the record's facts cannot be read (Container says why).
func ContainerState(rec *Record) (pid int, state string) {
	f, err := rec.Container()
	if err != nil {
		return 0, "unknown"
	}
	data, err := os.ReadFile(f.PIDFile)
	if err != nil {
		return 0, "exited"
	}
	pid, _ = strconv.Atoi(strings.TrimSpace(string(data)))
	if _, ok := ContainerExit(rec); ok {
		return pid, "exited" // its shim saw it end
	}
	if pid <= 0 {
		return pid, "exited"
	}
	if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err != nil {
		return pid, "exited"
	} else if f := strings.Fields(string(stat)); len(f) > 2 && f[2] == "Z" {
		return pid, "exited"
	}
	var proc, ns syscall.Stat_t
	if syscall.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &proc) != nil ||
		syscall.Stat(actions.Netns{Name: f.Netns}.Path(), &ns) != nil || proc.Ino != ns.Ino || proc.Dev != ns.Dev {
		// The PID plumb recorded is nsenter's, which enters the container's
		// namespaces a moment after it starts: until then it is starting,
		// not exited. Any other process there is not the container.
		if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil && strings.TrimSpace(string(comm)) == "nsenter" {
			return pid, "starting"
		}
		return pid, "exited"
	}
	return pid, "running"
}

// ExitStatus is what a detached container's shim writes when its first
// process has ended: its status as a shell gives it, and when.
type ExitStatus struct {
	ExitCode   int       `json:"exit_code"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
}

// ReadExit reads the exit file a shim wrote; ok is false while there is none.
func ReadExit(path string) (ExitStatus, bool) {
	var st ExitStatus
	data, err := os.ReadFile(path)
	if err != nil || json.Unmarshal(data, &st) != nil {
		return st, false
	}
	return st, true
}

// ContainerExit is how a detached container's first process ended, as its
// shim wrote it; ok is false while it runs (or for a container with no
// shim: one in the foreground, or from before the shim).
func ContainerExit(rec *Record) (ExitStatus, bool) {
	f, err := rec.Container()
	if err != nil || f.Runtime == "" || f.Dir() == "" {
		return ExitStatus{}, false
	}
	return ReadExit(OverlayAt(f.Dir()).Exit)
}

// Dir is the container's directory (its bundle): where its config.json,
// PID file, log and exit status are; "" for one of a plumb before it had
// one.
func (f ContainerFacts) Dir() string {
	if f.Bundle != "" {
		return f.Bundle
	}
	return f.Root.Layout
}

// StopGrace sets how long stopping rec's container waits after SIGTERM.
func StopGrace(rec *Record, seconds int) error {
	return rewriteUndos(rec, func(u actions.Action) actions.Action {
		switch sc := u.(type) {
		case actions.StopContainer:
			sc.GraceSeconds = seconds
			return sc
		case actions.RuntimeDelete:
			sc.GraceSeconds, sc.LogAlways = seconds, false // a stop keeps what the container said
			return sc
		}
		return nil
	})
}

// ContainerOf is a container record's facts with its sandbox's and its
// root file system's filled in where a container of version 1 kept them
// (Root and Net), for what reads a
// container whole: inspect, ps, exec, logs, Compose. Of version 1, they
// are the record's own.
func (s *Store) ContainerOf(rec *Record) (ContainerFacts, error) {
	f, err := rec.Container()
	if err != nil || f.Sandbox == "" && f.Rootfs == "" {
		return f, err
	}
	if f.Rootfs != "" {
		r, err := s.LoadHeader(RootfsKind.Name(), f.Rootfs)
		if err != nil {
			return f, fmt.Errorf("%s: its root file system: %w", rec.ID(), err)
		}
		rf, err := r.Facts()
		if err != nil {
			return f, err
		}
		f.Root = rf.(RootfsFacts).Root
	}
	if f.Sandbox != "" {
		r, err := s.LoadHeader(SandboxKind.Name(), f.Sandbox)
		if err != nil {
			return f, fmt.Errorf("%s: its sandbox: %w", rec.ID(), err)
		}
		sb, err := r.Sandbox()
		if err != nil {
			return f, err
		}
		if f.NetworkMode == "" {
			f.Net = sb.Net // a member of another's sandbox shows no network of its own, as Docker's
		}
	}
	return f, nil
}
