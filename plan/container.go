package plan

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"plumb/actions"
)

// Container is `plumb run`: an overlay of layers as the root, a network
// namespace made by name (joined to a bridge, or with only loopback), a
// UTS namespace with its hostname, then the command in new PID, mount and
// IPC namespaces. All of it is one object, undone as one.
type Container struct {
	Name     string
	Layers   []string // topmost first
	Bridge   *Record  // nil: --net none
	IP       netip.Addr
	Publish  []Port
	Hostname string
	Cmd      []string
	Attach   bool // foreground: the command shares plumb's stdio
	attach   *Attach
	overlay  *Overlay
}

// NetnsName is the container's network namespace: plumb-NAME.
func NetnsName(container string) string { return "plumb-" + container }

// ContainerDir is where the container's layout lives: overlay/NAME under the state
// directory, as `overlay mount --name` lays it out, plus its uts, pid and log.
func ContainerDir(stateDir, name string) string { return filepath.Join(stateDir, "overlay", name) }

// Check applies the rules that need no host beyond plumb's records.
func (c *Container) Check(st *Store) error {
	if err := CheckObjectName("<name>", c.Name); err != nil {
		return err
	}
	if len(NetnsName(c.Name)) > 64 {
		return refuse("<name>", "%q is too long for a namespace name", c.Name)
	}
	if len(c.Cmd) == 0 {
		return refuse("", "give the command to run after --, such as: plumb run web --layer busybox -- httpd -f -p 80")
	}
	if c.Hostname == "" {
		c.Hostname = c.Name
	}
	if len(c.Hostname) > 64 || strings.ContainsAny(c.Hostname, " \t\n/") {
		return refuse("hostname", "%q is not a hostname (at most 64 characters, no spaces or '/')", c.Hostname)
	}
	if c.Bridge == nil {
		if c.IP.IsValid() || len(c.Publish) > 0 {
			return refuse("net", "--ip and --publish need --net BRIDGE")
		}
		return nil
	}
	c.attach = &Attach{Bridge: c.Bridge, Target: actions.Netns{Name: NetnsName(c.Name)}, IP: c.IP, If: "eth0", Publish: c.Publish, NewNetns: true}
	if err := c.attach.Check(st); err != nil {
		return err
	}
	return c.attach.Allocate(st)
}

// Plan lays out the steps: the overlay, the network, the hostname, then the
// command.
func (c *Container) Plan(stateDir string) (*Plan, error) {
	dir := ContainerDir(stateDir, c.Name)
	o := &Overlay{Name: c.Name, Lower: c.Layers, Upper: dir + "/upper", Work: dir + "/work", Merged: dir + "/merged"}
	if err := o.Check(); err != nil {
		return nil, err
	}
	op, err := o.Plan()
	if err != nil {
		return nil, err
	}
	ns := NetnsName(c.Name)
	steps := append(op.Steps, Step{Action: actions.NetnsAdd{Name: ns}})
	details := map[string]string{"lowerdir": strings.Join(c.Layers, ":"), "upperdir": o.Upper, "workdir": o.Work,
		"merged": o.Merged, "layout": dir, "netns": ns, "hostname": c.Hostname, "cmd": actions.Quote(c.Cmd),
		"pid_file": dir + "/pid", "log": dir + "/log", "target": actions.Netns{Name: ns}.Label()}
	if c.attach != nil {
		ap := c.attach.Plan()
		steps = append(steps, ap.Steps...)
		for k, v := range ap.Details {
			details[k] = v
		}
	} else {
		steps = append(steps, Step{Action: actions.LinkSetUp{Dev: "lo", In: actions.Netns{Name: ns}}})
		details["net"] = "none"
	}
	uts := dir + "/uts"
	steps = append(steps,
		Step{Action: actions.Touch{Path: uts}},
		Step{Action: actions.UTSNew{File: uts, Hostname: c.Hostname}},
		Step{Action: actions.StartContainer{Netns: ns, UTS: uts, Root: o.Merged, Cmd: c.Cmd, Log: dir + "/log", Attach: c.Attach, PIDFile: dir + "/pid"}},
	)
	summary := fmt.Sprintf("%s from %s", actions.Quote(c.Cmd), plural(len(c.Layers), "layer"))
	if c.attach != nil {
		summary += fmt.Sprintf(", %s on %s", c.attach.IP, c.Bridge.Name)
	}
	c.overlay = o
	return &Plan{Kind: "container", Name: c.Name, Details: details, Steps: steps, Summary: summary}, nil
}

// Preflight checks the host before anything runs: the layers, the names,
// the bridge.
func (c *Container) Preflight(ctx context.Context, r actions.Runner, st *Store) error {
	if err := c.overlay.Preflight(); err != nil {
		return err
	}
	if _, err := os.Stat(actions.NetnsDir + "/" + NetnsName(c.Name)); err == nil {
		return refuse("<name>", "a network namespace named %s already exists", NetnsName(c.Name))
	}
	if c.attach != nil {
		return c.attach.Preflight(ctx, r, st)
	}
	return nil
}

// ContainerState says whether a container's process still runs: its PID
// lives and is still in the container's network namespace.
func ContainerState(rec *Record) (pid int, state string) {
	data, err := os.ReadFile(rec.Details["pid_file"])
	if err != nil {
		return 0, "exited"
	}
	pid, _ = strconv.Atoi(strings.TrimSpace(string(data)))
	var proc, ns syscall.Stat_t
	if pid <= 0 || syscall.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &proc) != nil ||
		syscall.Stat(actions.NetnsDir+"/"+rec.Details["netns"], &ns) != nil || proc.Ino != ns.Ino || proc.Dev != ns.Dev {
		return pid, "exited"
	}
	if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		if f := strings.Fields(string(stat)); len(f) > 2 && f[2] == "Z" {
			return pid, "exited"
		}
	}
	return pid, "running"
}

// StopGrace sets how long stopping rec's container waits after SIGTERM.
func StopGrace(rec *Record, seconds int) error {
	return rewriteUndos(rec, func(u actions.Action) actions.Action {
		if sc, ok := u.(actions.StopContainer); ok {
			sc.GraceSeconds = seconds
			return sc
		}
		return nil
	})
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
