// Package targets reads the containers one command acts on: process IDs,
// named network namespaces and (for detach) addresses, from flags and from
// a --from file. It checks each value once, at the edge, so recipes take
// typed values.
package targets

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"plumb/actions"
	"plumb/plan"
	"plumb/plan/ipam"
)

// ParsePID reads a process ID: a positive number. Whether it lives is
// checked later, and only when something will run.
func ParsePID(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a process ID; give a positive number such as $CONTAINER_PID", s)
	}
	return n, nil
}

// CheckNetns refuses what cannot be the name of a namespace made by
// `ip netns add`.
func CheckNetns(s string) error {
	switch {
	case s == "" || s == "." || s == "..":
		return fmt.Errorf("%q is not a network namespace name", s)
	case strings.ContainsAny(s, "/\x00") || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == ' ' || r == '\t' }):
		return fmt.Errorf("network namespace name %q must not contain '/', whitespace or control characters", s)
	case strings.HasPrefix(s, "-"):
		return fmt.Errorf("network namespace name %q must not start with '-': ip -n would read it as an option", s)
	case len(s) > 255:
		return fmt.Errorf("network namespace name is %d bytes; at most 255", len(s))
	}
	return nil
}

// ParseAddr reads a single address of a family plumb sets up, without a
// prefix length.
func ParseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address, such as 10.200.0.1 (no /prefix)", s)
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%s has a zone; give a global address, without %%%s", a, a.Zone())
	}
	if a.Is4In6() {
		return netip.Addr{}, fmt.Errorf("%s is an IPv4-mapped IPv6 address; give it as IPv4, %s", a, a.Unmap())
	}
	if !ipam.Supported(ipam.FamilyOf(a)) {
		return netip.Addr{}, fmt.Errorf("%s is not an address of a family plumb sets up", a)
	}
	return a, nil
}

// List is the containers one command acts on: from repeated --pid and
// --netns flags and from --from FILE, in that order. Detach also takes
// addresses (--ip, "ip ADDR" lines).
type List struct {
	Targets []actions.Netns
	IPs     []netip.Addr
}

// Len is how many containers the list names.
func (l *List) Len() int { return len(l.Targets) + len(l.IPs) }

const fromHelp = `one container a line: a PID, "pid PID", "netns NAME"`

// Read adds the containers of a --from file ("-": stdin): one a line, as
// a PID, "pid PID" or "netns NAME" (and "ip ADDR" where addresses are
// taken); blank lines and lines starting with # are skipped. An error names
// the file and line, and nothing is run.
func (l *List) Read(path string, stdin io.Reader, takeIPs bool) error {
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
			var p int
			if p, err = ParsePID(f[1]); err == nil {
				l.Targets = append(l.Targets, actions.Netns{PID: p})
			}
		case "netns":
			if err = CheckNetns(f[1]); err == nil {
				l.Targets = append(l.Targets, actions.Netns{Name: f[1]})
			}
		case "ip":
			if !takeIPs {
				return bad("addresses are given out by attach; give containers")
			}
			var a netip.Addr
			if a, err = ParseAddr(f[1]); err == nil {
				l.IPs = append(l.IPs, a)
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
