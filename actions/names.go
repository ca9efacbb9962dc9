package actions

import (
	"fmt"
	"strings"
	"unicode"
)

// IfName is a network interface name the kernel will accept: 1 to 15 bytes
// (IFNAMSIZ less its NUL), not "." or "..", no '/', ':' or whitespace.
type IfName string

// ParseIfName returns s as an IfName or says which rule it breaks.
func ParseIfName(s string) (IfName, error) {
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

// UnmarshalText lets flags and the journal parse names with the same rules.
func (n *IfName) UnmarshalText(b []byte) error {
	v, err := ParseIfName(string(b))
	if err != nil {
		return err
	}
	*n = v
	return nil
}

func (n IfName) String() string { return string(n) }
