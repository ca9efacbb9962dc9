package view

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"plumb/actions"
	"plumb/plan"
)

// PortBinding is where a published port listens, as docker inspect says.
type PortBinding struct {
	HostIP   string `json:"HostIp"`
	HostPort string `json:"HostPort"`
}

// Endpoint is a network object's address in docker inspect's terms.
type Endpoint struct {
	IPAddress   string
	IPPrefixLen int
	Gateway     string
	// The IPv6 side, as docker inspect names it; absent without IPv6.
	GlobalIPv6Address   string `json:",omitempty"`
	GlobalIPv6PrefixLen int    `json:",omitempty"`
	IPv6Gateway         string `json:",omitempty"`
	MacAddress          string
}

// set fills in the side of ip's family, as docker inspect shows them:
// IPAddress and company for IPv4, GlobalIPv6Address and company for IPv6
// (an IPv6-only network's IPAddress is "").
func (ep *Endpoint) set(ip netip.Addr, bits int, gw netip.Addr) {
	if ip.Is6() && !ip.Is4In6() {
		ep.GlobalIPv6Address, ep.GlobalIPv6PrefixLen, ep.IPv6Gateway = ip.String(), bits, gw.String()
		return
	}
	ep.IPAddress, ep.IPPrefixLen, ep.Gateway = ip.String(), bits, gw.String()
}

// NetworkSettings are a veth's or an attached container's, as docker
// inspect shows a container's.
type NetworkSettings struct {
	SandboxKey string
	Endpoint
	Ports    map[string][]PortBinding
	Networks map[string]Endpoint
}

// GraphDriver is an overlay's directories, as docker inspect shows them.
type GraphDriver struct {
	Name string
	Data map[string]string
}

// ContainerConfig is a container's docker inspect Config: what its
// command runs with.
type ContainerConfig struct {
	Hostname   string
	Image      string
	Cmd        string // as a shell line
	Env        []string
	WorkingDir string
	User       string // UID:GID, as resolved in the container's root
}

// MountPoint is one of a container's mounts, as docker inspect's Mounts
// shows it.
type MountPoint struct {
	Type        string
	Name        string `json:",omitempty"`
	Source      string
	Destination string
	Mode        string
	RW          bool
	Propagation string
}

// ContainerState is a container's State as docker inspect shows it.
type ContainerState struct {
	Status     string // running, exited, created (starting), unknown
	Running    bool
	Pid        int
	ExitCode   int
	StartedAt  string
	FinishedAt string
	// Error says why ExitCode is not the command's, as Docker's State.Error
	// says what went wrong: an exited container whose end nobody saw.
	Error string `json:",omitempty"`
	// Journal is the state of the container's journal (up, or a plan
	// not finished).
	Journal plan.State
}

// notFinished is FinishedAt while no end was seen, as Docker shows it.
const notFinished = "0001-01-01T00:00:00Z"

// stateOf is a container record's State: its process read live, its exit
// as its shim wrote it.
func stateOf(rec *plan.Record) *ContainerState {
	pid, state := plan.ContainerState(rec)
	st := &ContainerState{Status: state, Running: state == "running", Pid: pid, Journal: rec.State,
		StartedAt: rec.Created.Format(time.RFC3339Nano), FinishedAt: notFinished}
	if state == "starting" {
		st.Status = "created"
	}
	if !st.Running {
		st.Pid = 0
	}
	if ex, ok := plan.ContainerExit(rec); ok {
		st.ExitCode = ex.ExitCode
		st.StartedAt, st.FinishedAt = ex.StartedAt.Format(time.RFC3339Nano), ex.FinishedAt.Format(time.RFC3339Nano)
	} else if state == "exited" {
		// No shim saw it end: the plumb that ran it in the foreground
		// ended first (killed), and the runtime took its status along;
		// or a plumb from before shims ran it.
		st.ExitCode = -1
		st.Error = "no exit status was kept: nothing watched it end (run in the foreground by a plumb that ended first, or by a plumb from before shims)"
	}
	return st
}

// HostConfig is what docker inspect's HostConfig holds of what plumb
// keeps: the binds (-v of host directories and volumes, as given), the
// network, what the container may do.
type HostConfig struct {
	Binds          []string
	NetworkMode    string
	CapAdd         []string
	CapDrop        []string
	Privileged     bool
	ReadonlyRootfs bool
	Memory         int64
	MemorySwap     int64
	NanoCpus       int64
	PidsLimit      *int64            // nil: none, as Docker's
	Tmpfs          map[string]string `json:",omitempty"`
}

// Object is `plumb inspect`'s document: any object, with what docker
// inspect would show of it where it fits, then its steps.
type Object struct {
	PlumbFormatVersion int
	ID                 string `json:"Id"`
	Kind               string
	Name               string
	// State is the journal's state ("up"), or for a container docker
	// inspect's State object, the journal's state in it as Journal.
	State           any
	Created         string
	Summary         string
	Image           string           `json:",omitempty"` // a container's image ID
	Config          *ContainerConfig `json:",omitempty"`
	NetworkSettings *NetworkSettings `json:",omitempty"`
	GraphDriver     *GraphDriver     `json:",omitempty"`
	HostConfig      *HostConfig      `json:",omitempty"`
	Mounts          *[]MountPoint    `json:",omitempty"` // a container's, [] when none

	// Runtime and Pod are the names a container runtime (CNI) gave an
	// attachment: its network, container ID and interface, and the
	// Kubernetes pod it is for.
	Runtime *plan.RuntimeRef `json:",omitempty"`
	Pod     *plan.PodRef     `json:",omitempty"`
	// Sandbox and Rootfs are a container's sandbox and root file system,
	// the objects it runs in and on (KIND/NAME).
	Sandbox string `json:",omitempty"`
	Rootfs  string `json:",omitempty"`
	// A bridge's, as docker network inspect has the first two: nil for
	// any other object.
	EnableIPv6 *bool `json:",omitempty"`
	Internal   *bool `json:",omitempty"`
	Isolated   *bool `json:",omitempty"` // forwards nothing to other isolated networks
	Steps      []plan.StepView
}

// Inspect finds the object name (NAME or KIND/NAME) in env's store and
// builds its document; the container end's MAC address is read live
// through env's runner, read-only.
func Inspect(ctx context.Context, env plan.Env, name string) (Object, error) {
	rec, err := plan.Find(env.St, name)
	if err != nil {
		return Object{}, err
	}
	mac := func(t actions.Netns, dev string) string { return macOf(ctx, env.R, t, dev) }
	v, err := objectOf(rec, mac)
	if err != nil || !rec.Is(plan.ContainerKind) {
		return v, err
	}
	return containerObject(env.St, rec, v, mac)
}

// containerObject is a container's document v with what its sandbox and
// root file system hold, where docker inspect shows them: the network,
// its mode and the root's directories. A container always has
// NetworkSettings, empty with no network of its own, as Docker's.
func containerObject(st *plan.Store, rec *plan.Record, v Object, mac func(t actions.Netns, dev string) string) (Object, error) {
	f, err := st.ContainerOf(rec)
	if err != nil {
		return Object{}, err
	}
	v.HostConfig, v.Mounts = hostConfigOf(f)
	if f.Sandbox != "" {
		v.Sandbox = plan.SandboxKind.Name() + "/" + f.Sandbox
	}
	if f.Rootfs != "" {
		v.Rootfs = plan.RootfsKind.Name() + "/" + f.Rootfs
	}
	if f.Sandbox != "" && f.NetworkMode == "" {
		if sb, err := st.LoadHeader(plan.SandboxKind.Name(), f.Sandbox); err == nil {
			sv, err := objectOf(sb, mac)
			if err != nil {
				return Object{}, err
			}
			v.NetworkSettings = sv.NetworkSettings
			if sf, err := sb.Sandbox(); err == nil && v.NetworkSettings != nil {
				ns := actions.Netns{Name: sf.Netns}
				v.NetworkSettings.SandboxKey = ns.Path()
				if sf.Net != nil {
					v.NetworkSettings.MacAddress = mac(ns, sf.Net.If.String())
					for k, ep := range v.NetworkSettings.Networks {
						ep.MacAddress = v.NetworkSettings.MacAddress
						v.NetworkSettings.Networks[k] = ep
					}
				}
			}
		}
	}
	if v.NetworkSettings == nil {
		v.NetworkSettings = &NetworkSettings{Ports: map[string][]PortBinding{}, Networks: map[string]Endpoint{}}
	}
	if f.Root != (plan.OverlayFacts{}) {
		v.GraphDriver = &GraphDriver{Name: "overlay", Data: map[string]string{
			"LowerDir": f.Root.LowerDir, "UpperDir": f.Root.UpperDir, "WorkDir": f.Root.WorkDir, "MergedDir": f.Root.Merged}}
	}
	return v, nil
}

// objectOf is rec's document; mac reads the MAC address of device dev in
// namespace t ("" when it cannot).
func objectOf(rec *plan.Record, mac func(t actions.Netns, dev string) string) (Object, error) {
	v := Object{PlumbFormatVersion: plan.FormatVersion, ID: rec.ID(), Kind: rec.Kind, Name: rec.Name, State: rec.State,
		Created: rec.Created.Format("2006-01-02T15:04:05Z07:00"), Summary: rec.Summary, Steps: plan.Steps(rec)}
	facts, err := rec.Facts()
	if err != nil {
		return Object{}, err
	}
	if ep, dev, network, ports, ok := endpointOf(rec, facts); ok {
		ns := &NetworkSettings{Ports: map[string][]PortBinding{}, Networks: map[string]Endpoint{}}
		if rec.Target != nil {
			ns.SandboxKey = rec.Target.Path() // a container's is /run/netns/plumb-NAME
			ep.MacAddress = mac(*rec.Target, dev)
		}
		ns.Endpoint = ep
		ns.Networks[network] = ep
		for _, port := range ports {
			key := fmt.Sprintf("%d/%s", port.Container, port.Proto)
			for _, ip := range []string{ep.IPAddress, ep.GlobalIPv6Address} {
				if ip == "" || port.HostIP.IsValid() && anyAddress(ip) != port.HostIP.String() {
					continue
				}
				ns.Ports[key] = append(ns.Ports[key], PortBinding{anyAddress(ip), strconv.Itoa(int(port.Host))})
			}
		}
		v.NetworkSettings = ns
	}
	if a, ok := facts.(plan.AttachmentFacts); ok {
		v.Runtime, v.Pod = a.Runtime, a.Pod
	}
	if c, ok := facts.(plan.ContainerFacts); ok && c.Env != nil {
		v.Image = c.ImageID
		v.Config = &ContainerConfig{Hostname: c.Hostname, Image: c.Image, Cmd: c.Cmd, Env: c.Env, WorkingDir: c.WorkDir, User: c.User}
	}
	if c, ok := facts.(plan.ContainerFacts); ok {
		v.HostConfig, v.Mounts = hostConfigOf(c)
		v.State = stateOf(rec)
	}
	if b, ok := facts.(plan.BridgeFacts); ok {
		v6 := b.Subnet6.IsValid() || b.Subnet.Addr().Is6()
		v.EnableIPv6, v.Internal, v.Isolated = &v6, &b.Internal, &b.Isolate
	}
	if o, ok := rec.Overlay(); ok {
		v.GraphDriver = &GraphDriver{Name: "overlay", Data: map[string]string{
			"LowerDir": o.LowerDir, "UpperDir": o.UpperDir, "WorkDir": o.WorkDir, "MergedDir": o.Merged}}
	}
	return v, nil
}

// hostConfigOf is a container's HostConfig and Mounts in docker
// inspect's terms.
func hostConfigOf(c plan.ContainerFacts) (*HostConfig, *[]MountPoint) {
	h := &HostConfig{Binds: []string{}, NetworkMode: "none", CapAdd: c.CapAdd, CapDrop: c.CapDrop, Privileged: c.Privileged, ReadonlyRootfs: c.ReadOnly,
		Memory: c.Memory, MemorySwap: c.MemorySwap, NanoCpus: c.NanoCPUs}
	if c.PidsLimit != 0 {
		h.PidsLimit = &c.PidsLimit
	}
	if c.Net != nil {
		h.NetworkMode = c.Net.Bridge
	} else if c.NetworkMode != "" {
		h.NetworkMode = c.NetworkMode
	}
	mounts := []MountPoint{}
	for _, m := range c.Mounts {
		mp := MountPoint{Type: m.Type, Name: m.Name, Source: m.Source, Destination: m.Destination, Mode: m.Mode, RW: m.RW, Propagation: m.Propagation}
		switch m.Type {
		case "tmpfs":
			if h.Tmpfs == nil {
				h.Tmpfs = map[string]string{}
			}
			h.Tmpfs[m.Destination] = strings.Join(m.Options, ",")
		case "volume":
			h.Binds = append(h.Binds, bindOf(m.Name, m))
		case "bind":
			h.Binds = append(h.Binds, bindOf(m.Source, m))
		}
		mounts = append(mounts, mp)
	}
	return h, &mounts
}

// bindOf is a mount as -v gives it: SOURCE:TARGET[:MODE].
func bindOf(source string, m plan.MountFacts) string {
	b := source + ":" + m.Destination
	if m.Mode != "" {
		b += ":" + m.Mode
	} else if !m.RW {
		b += ":ro"
	}
	return b
}

// endpointOf is a network object's address in docker inspect's terms: a
// veth's container end, or a container's place on its bridge.
func endpointOf(rec *plan.Record, facts plan.Facts) (ep Endpoint, dev, network string, ports []plan.Port, ok bool) {
	if f, isVeth := facts.(plan.VethFacts); isVeth {
		ep.set(f.ContIP, f.Subnet.Bits(), f.HostIP)
		return ep, f.ContIf.String(), rec.Name, nil, true
	}
	a, isAttached := rec.Attachment()
	if !isAttached {
		return Endpoint{}, "", "", nil, false
	}
	ep.set(a.IP, a.PrefixLen, a.Gateway)
	if a.IP6.IsValid() {
		ep.set(a.IP6, a.PrefixLen6, a.Gateway6)
	}
	return ep, a.If.String(), a.Bridge, a.Ports, true
}

// anyAddress is the unspecified address of ip's family, where Docker says a
// published port listens on every address.
func anyAddress(ip string) string {
	if a, err := netip.ParseAddr(ip); err == nil && a.Is6() && !a.Is4In6() {
		return netip.IPv6Unspecified().String()
	}
	return netip.IPv4Unspecified().String()
}

// macOf reads the container end's MAC address, "" when it cannot be read.
func macOf(ctx context.Context, r actions.Runner, t actions.Netns, dev string) string {
	if _, err := t.Identity(); err != nil || dev == "" {
		return ""
	}
	out, err := r.Run(ctx, t.Wrap([]string{"ip", "-j", "link", "show", "dev", dev}), nil)
	if err != nil {
		return ""
	}
	var links []struct {
		Address string `json:"address"`
	}
	if json.Unmarshal(out, &links) != nil || len(links) == 0 {
		return ""
	}
	return links[0].Address
}

// WriteText writes the object as `plumb inspect` shows it.
func (v Object) WriteText(w io.Writer) error {
	state := fmt.Sprint(v.State)
	if c, ok := v.State.(*ContainerState); ok {
		state = string(c.Journal) + ", " + c.Status
		if c.Running {
			state += fmt.Sprintf(" (PID %d)", c.Pid)
		} else if c.Status == "exited" && c.FinishedAt != notFinished {
			state += fmt.Sprintf(" (%d)", c.ExitCode)
		}
	}
	fmt.Fprintf(w, "%s  %s since %s\n  %s\n", v.ID, state, v.Created, v.Summary)
	if v.Sandbox != "" {
		fmt.Fprintf(w, "  runs in %s, on %s\n", v.Sandbox, v.Rootfs)
	}
	if ns := v.NetworkSettings; ns != nil {
		if ns.IPAddress != "" {
			fmt.Fprintf(w, "  address %s/%d, gateway %s, mac %s, sandbox %s\n", ns.IPAddress, ns.IPPrefixLen, ns.Gateway, OrNone(ns.MacAddress), ns.SandboxKey)
		}
		if ns.GlobalIPv6Address != "" {
			fmt.Fprintf(w, "  IPv6 address %s/%d, gateway %s, mac %s, sandbox %s\n", ns.GlobalIPv6Address, ns.GlobalIPv6PrefixLen, ns.IPv6Gateway, OrNone(ns.MacAddress), ns.SandboxKey)
		}
		for _, port := range portOrder(ns.Ports) {
			for _, b := range ns.Ports[port] {
				fmt.Fprintf(w, "  port %s published at %s:%s\n", port, b.HostIP, b.HostPort)
			}
		}
	}
	if r := v.Runtime; r != nil {
		fmt.Fprintf(w, "  CNI network %s, container %s, interface %s\n", r.Network, r.ContainerID, r.IfName)
	}
	if p := v.Pod; p != nil {
		fmt.Fprintf(w, "  pod %s/%s (uid %s, sandbox %s)\n", p.Namespace, p.Name, OrNone(p.UID), OrNone(p.InfraContainer))
	}
	if g := v.GraphDriver; g != nil {
		for _, k := range []string{"LowerDir", "UpperDir", "WorkDir", "MergedDir"} {
			fmt.Fprintf(w, "  %-9s %s\n", k, OrNone(g.Data[k]))
		}
	}
	var mounts []MountPoint
	if v.Mounts != nil {
		mounts = *v.Mounts
	}
	for _, m := range mounts {
		src, rw := m.Source, "rw"
		if m.Type == "volume" {
			src = m.Name + " (" + m.Source + ")"
		}
		if !m.RW {
			rw = "ro"
		}
		fmt.Fprintf(w, "  mount %-6s %s on %s, %s\n", m.Type, OrNone(src), m.Destination, rw)
	}
	fmt.Fprintln(w, "steps:")
	for _, s := range v.Steps {
		fmt.Fprintf(w, "  %2d %-7s %s\n", s.Index, s.Status, s.Command)
		if s.Undo != "" {
			fmt.Fprintf(w, "             undo: %s\n", s.Undo)
		}
		if s.Shared != "" {
			fmt.Fprintf(w, "             shared: %s (restored when no plumb object needs it)\n", s.Shared)
		}
	}
	return nil
}

// portOrder is the keys of ports ("80/tcp") by number, then protocol:
// the same object always prints the same lines.
func portOrder(ports map[string][]PortBinding) []string {
	keys := slices.Collect(maps.Keys(ports))
	slices.SortFunc(keys, func(a, b string) int {
		an, ap, _ := strings.Cut(a, "/")
		bn, bp, _ := strings.Cut(b, "/")
		x, _ := strconv.Atoi(an)
		y, _ := strconv.Atoi(bn)
		return cmp.Or(cmp.Compare(x, y), strings.Compare(ap, bp))
	})
	return keys
}
