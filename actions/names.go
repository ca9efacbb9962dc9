package actions

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// IfName is a network interface name the kernel will accept: 1 to 15 bytes
// (IFNAMSIZ less its NUL), not "." or "..", no '/', ':' or whitespace.
type IfName string

// ParseIfName returns s as an IfName or says which rule it breaks: the
// kernel's (kernelName), and plumb's for a name it is given, which refuses
// what a tool would read as something else.
func ParseIfName(s string) (IfName, error) {
	if _, err := kernelName(s); err != nil {
		return "", err
	}
	switch {
	case !utf8.ValidString(s):
		return "", fmt.Errorf("interface name %q is not valid UTF-8", s)
	case strings.Contains(s, "+"):
		return "", fmt.Errorf("interface name %q must not contain '+': iptables reads it as a wildcard (-i %s would match every interface whose name starts so)", s, s)
	case strings.Contains(s, "%"):
		return "", fmt.Errorf("interface name %q must not contain '%%': the kernel reads it as a template and names the link itself (x%%d becomes x0)", s)
	case strings.HasPrefix(s, "-"):
		return "", fmt.Errorf("interface name %q must not start with '-': commands would read it as an option", s)
	case ipKeyword(s):
		return "", fmt.Errorf("interface name %q is a word of the ip command, or the start of one that ip takes for it (ip link add %s ... would not make a link of that name)", s, s)
	}
	return IfName(s), nil
}

// kernelName checks the rules the kernel itself sets for a name: what a
// journal written by any plumb holds, and what it must still read back.
func kernelName(s string) (IfName, error) {
	switch {
	case s == "":
		return "", fmt.Errorf("an interface name cannot be empty")
	case len(s) > 15:
		return "", fmt.Errorf("interface name %q is %d bytes; the kernel allows at most 15", s, len(s))
	case s == "." || s == "..":
		return "", fmt.Errorf("interface name %q is not allowed", s)
	case strings.ContainsAny(s, "/:"):
		return "", fmt.Errorf("interface name %q must not contain '/' or ':'", s)
	case strings.IndexFunc(s, unicode.IsSpace) >= 0:
		return "", fmt.Errorf("interface name %q must not contain whitespace", s)
	case strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0:
		return "", fmt.Errorf("interface name %q must not contain control characters", s)
	}
	return IfName(s), nil
}

// ipKeywords are words iproute2's `ip link` reads as keywords where a name
// may stand: `ip link add up type bridge` makes a bridge named bridge0.
var ipKeywords = map[string]bool{}

// ipKeyword reports whether ip would read s as a keyword: iproute2 takes
// any start of one for it (`a` for address, `br` for broadcast).
func ipKeyword(s string) bool {
	for kw := range ipKeywords {
		if strings.HasPrefix(kw, s) {
			return true
		}
	}
	return false
}

func init() {
	for _, w := range strings.Fields(`up down name index mtu xdp xdpgeneric xdpdrv xdpoffload netns
		multicast allmulticast promisc trailers arp vf master vrf nomaster dynamic noqueue mode state
		numtxqueues numrxqueues addrgenmode link-netns link-netnsid protodown protodown_reason
		gso_max_size gso_max_segs gro_max_size parentdev type dev link address broadcast brd peer
		txqueuelen qlen txqlen group alias carrier help all default`) {
		ipKeywords[w] = true
	}
}

// UnmarshalText parses a name plumb is given (a flag): ParseIfName's rules.
func (n *IfName) UnmarshalText(b []byte) error {
	v, err := ParseIfName(string(b))
	if err != nil {
		return err
	}
	*n = v
	return nil
}

// UnmarshalJSON reads a name from a journal with the kernel's rules only:
// a journal an earlier plumb wrote, of a name later rules refuse, must
// still load, so that its object can be undone.
func (n *IfName) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := kernelName(s)
	if err != nil {
		return err
	}
	*n = v
	return nil
}

func (n IfName) String() string { return string(n) }
