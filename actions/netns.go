package actions

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// NetnsDir is where `ip netns add` keeps named namespaces.
const NetnsDir = "/run/netns"

// Netns names a network namespace: a process's (PID), a named one made by
// `ip netns add` (Name), or a namespace file by its path (File), as a
// container runtime gives it (CNI_NETNS). The zero value is the host's own
// namespace.
type Netns struct {
	PID  int    `json:"pid,omitempty"`
	Name string `json:"name,omitempty"`
	File string `json:"file,omitempty"`
}

// IsHost reports whether n is the namespace plumb itself runs in.
func (n Netns) IsHost() bool { return n.PID == 0 && n.Name == "" && n.File == "" }

// String is the form `ip link set DEV netns X` takes (a path works there).
func (n Netns) String() string {
	if n.Name != "" {
		return n.Name
	}
	if n.File != "" {
		return n.File
	}
	if n.PID != 0 {
		return strconv.Itoa(n.PID)
	}
	return "host"
}

// Label names the namespace for people and the journal: "pid 4242" or
// "netns ctr1", never ambiguous.
func (n Netns) Label() string {
	switch {
	case n.Name != "":
		return "netns " + n.Name
	case n.PID != 0:
		return "pid " + strconv.Itoa(n.PID)
	case n.File != "":
		return "path " + n.File
	}
	return "host"
}

// Wrap turns a command into the same command run inside n: the document's
// `nsenter -t PID -n` for a process, `ip -n NAME` for a named namespace,
// `nsenter --net=PATH` for a namespace file (`ip -n` takes no path).
func (n Netns) Wrap(argv []string) []string {
	switch {
	case n.PID != 0:
		return append([]string{"nsenter", "-t", strconv.Itoa(n.PID), "-n"}, argv...)
	case n.File != "":
		return append([]string{"nsenter", "--net=" + n.File}, argv...)
	case n.Name != "" && len(argv) > 0 && argv[0] == "ip":
		return append([]string{"ip", "-n", n.Name}, argv[1:]...)
	case n.Name != "":
		return append([]string{"ip", "netns", "exec", n.Name}, argv...)
	}
	return argv
}

// Path is the file that stands for the namespace.
func (n Netns) Path() string {
	if n.Name != "" {
		return NetnsDir + "/" + n.Name
	}
	if n.PID != 0 {
		return "/proc/" + strconv.Itoa(n.PID) + "/ns/net"
	}
	if n.File != "" {
		return n.File
	}
	return "/proc/self/ns/net"
}

// Identity reads which namespace n is now (device and inode of its nsfs
// file). A PID that died and was reused, or a name removed and made again,
// gives another identity, so apply stops rather than enter the wrong one.
func (n Netns) Identity() (string, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(n.Path(), &st); err != nil {
		if os.IsNotExist(err) {
			if n.PID != 0 {
				return "", fmt.Errorf("no process with PID %d is running", n.PID)
			}
			if n.File != "" {
				return "", fmt.Errorf("no network namespace at %s", n.File)
			}
			return "", fmt.Errorf("no network namespace named %q (ip netns list shows them)", n.Name)
		}
		return "", fmt.Errorf("reading network namespace of %s: %w", n, err)
	}
	return identity(uint64(st.Dev), st.Ino), nil
}

// identity is how a namespace file's device and inode are written.
func identity(dev, ino uint64) string { return fmt.Sprintf("%d:%d", dev, ino) }
