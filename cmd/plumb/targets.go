package main

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"

	"plumb/actions"
	"plumb/plan"
)

// containerList is the containers one command acts on: from repeated --pid
// and --netns flags and from --from FILE, in that order. Detach also takes
// addresses (--ip, "ip ADDR" lines).
type containerList struct {
	targets []actions.Netns
	ips     []netip.Addr
}

func (l *containerList) len() int { return len(l.targets) + len(l.ips) }

// fromFlags starts the list with the flags' values.
func fromFlags(pids []pidFlag, names []netnsFlag, ips []addrFlag) *containerList {
	l := &containerList{}
	for _, p := range pids {
		l.targets = append(l.targets, actions.Netns{PID: int(p)})
	}
	for _, n := range names {
		l.targets = append(l.targets, actions.Netns{Name: string(n)})
	}
	for _, a := range ips {
		l.ips = append(l.ips, a.Addr)
	}
	return l
}

const fromHelp = `one container a line: a PID, "pid PID", "netns NAME"`

// read adds the containers of a --from file ("-": stdin): one a line, as
// a PID, "pid PID" or "netns NAME" (and "ip ADDR" where addresses are
// taken); blank lines and lines starting with # are skipped. An error names
// the file and line, and nothing is run.
func (l *containerList) read(path string, stdin io.Reader, takeIPs bool) error {
	if path == "" {
		return nil
	}
	r, name := stdin, "stdin"
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return &plan.Refused{Flag: "from", Msg: err.Error()}
		}
		defer f.Close()
		r, name = f, path
	}
	want := fromHelp
	if takeIPs {
		want += `, "ip ADDR"`
	}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		bad := func(why string) error {
			return &plan.Refused{Flag: "from", Msg: fmt.Sprintf("%s:%d: %s (%s)", name, n, why, want)}
		}
		f := strings.Fields(line)
		if len(f) == 1 {
			f = []string{"pid", f[0]}
		}
		if len(f) != 2 {
			return bad(fmt.Sprintf("%q is not a container", line))
		}
		var err error
		switch f[0] {
		case "pid":
			var p pidFlag
			if err = p.UnmarshalText([]byte(f[1])); err == nil {
				l.targets = append(l.targets, actions.Netns{PID: int(p)})
			}
		case "netns":
			var ns netnsFlag
			if err = ns.UnmarshalText([]byte(f[1])); err == nil {
				l.targets = append(l.targets, actions.Netns{Name: string(ns)})
			}
		case "ip":
			if !takeIPs {
				return bad("addresses are given out by attach; give containers")
			}
			var a addrFlag
			if err = a.UnmarshalText([]byte(f[1])); err == nil {
				l.ips = append(l.ips, a.Addr)
			}
		default:
			return bad(fmt.Sprintf("%q is not a container", line))
		}
		if err != nil {
			return bad(err.Error())
		}
	}
	if err := sc.Err(); err != nil {
		return &plan.Refused{Flag: "from", Msg: fmt.Sprintf("%s: %v", name, err)}
	}
	return nil
}
