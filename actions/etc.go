package actions

import "fmt"

// WriteFile writes a file of plumb's own whole, with Content as it is: the
// container's hostname, hosts and resolv.conf files, which its start binds
// onto its /etc. The content is part of the command line, so that the plan
// shows every byte written and a person can type the same command. sh is
// there only for the redirection; the content and the path reach it as its
// arguments, never parsed as shell. umask 022 makes a new file 0644 whatever
// plumb's umask, as Docker writes these files: a container's user other
// than root must read them.
type WriteFile struct {
	Path    string `json:"path"`
	Content string `json:"content"`
	// For says what the file becomes, for Why: "the container's /etc/hosts".
	For string `json:"for,omitempty"`
}

func (a WriteFile) Kind() string { return "write_file" }
func (a WriteFile) Argv() []string {
	return []string{"sh", "-c", `umask 022; printf %s "$1" >"$2"`, "sh", a.Content, a.Path}
}
func (a WriteFile) Why() string {
	if a.For == "" {
		return fmt.Sprintf("write %s", a.Path)
	}
	return fmt.Sprintf("write %s, to be %s", a.Path, a.For)
}

// Undo deletes the file. It runs after a failed write too (a write is not a
// Clasher): printf may have written part of it before it failed.
func (a WriteFile) Undo() Action { return RemoveFile{Path: a.Path} }

// EtcFiles are the files in a container's directory that its start binds
// onto /etc/hostname, /etc/hosts and /etc/resolv.conf, as Docker binds the
// ones it writes for each container.
type EtcFiles struct {
	Hostname string `json:"hostname"`
	Hosts    string `json:"hosts"`
	Resolv   string `json:"resolv"`
}

// Process is what the container's command runs with, as docker run's -e,
// -w and -u (or an image's config) give it: exactly the environment Env
// (plumb's own is not passed on), the working directory Dir inside the
// root, made there when missing, and the user and groups by number, as
// plumb read them from the root's /etc/passwd and /etc/group.
type Process struct {
	Env    []string `json:"env"`
	Dir    string   `json:"dir"`
	UID    int      `json:"uid"`
	GID    int      `json:"gid"`
	Groups []int    `json:"groups,omitempty"` // supplementary
}
