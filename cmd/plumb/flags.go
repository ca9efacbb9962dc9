package main

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"plumb/plan/ipam"
)

// Flag types parse once, at the edge, into the values recipes take; their
// errors are one sentence that kong prefixes with the flag's name.

// pidFlag is a process ID: a positive number. Whether it lives is checked
// later, and only when something will run.
type pidFlag int

func (p *pidFlag) UnmarshalText(b []byte) error {
	n, err := strconv.Atoi(string(b))
	if err != nil || n <= 0 {
		return fmt.Errorf("%q is not a process ID; give a positive number such as $CONTAINER_PID", b)
	}
	*p = pidFlag(n)
	return nil
}

// netnsFlag is the name of a namespace made by `ip netns add`.
type netnsFlag string

func (n *netnsFlag) UnmarshalText(b []byte) error {
	s := string(b)
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
	*n = netnsFlag(s)
	return nil
}

// subnetFlag is a subnet in CIDR form.
type subnetFlag struct{ netip.Prefix }

func (f *subnetFlag) UnmarshalText(b []byte) error {
	p, err := netip.ParsePrefix(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a subnet in CIDR form, such as 10.200.0.0/24", b)
	}
	f.Prefix = p
	return nil
}

// addrFlag is a single address of a family plumb sets up, without a
// prefix length.
type addrFlag struct{ netip.Addr }

func (f *addrFlag) UnmarshalText(b []byte) error {
	a, err := netip.ParseAddr(string(b))
	if err != nil {
		return fmt.Errorf("%q is not an IP address, such as 10.200.0.1 (no /prefix)", b)
	}
	if a.Zone() != "" {
		return fmt.Errorf("%s has a zone; give a global address, without %%%s", a, a.Zone())
	}
	if a.Is4In6() {
		return fmt.Errorf("%s is an IPv4-mapped IPv6 address; give it as IPv4, %s", a, a.Unmap())
	}
	if !ipam.Supported(ipam.FamilyOf(a)) {
		return fmt.Errorf("%s is not an address of a family plumb sets up", a)
	}
	f.Addr = a
	return nil
}

// pathFlag is a path made absolute against the working directory.
type pathFlag string

func (p *pathFlag) UnmarshalText(b []byte) error {
	s := string(b)
	if s == "" {
		return fmt.Errorf("a path cannot be empty")
	}
	abs, err := filepath.Abs(s)
	if err != nil {
		return err
	}
	*p = pathFlag(abs)
	return nil
}

// validUTF8 refuses an argument that is not UTF-8, before the parser sees
// it (it would quietly change the bytes to U+FFFD): plumb's journal and
// plans are JSON, which cannot hold them, and a path or command that plumb
// records must be the one that ran.
func validUTF8(args []string) error {
	for i, a := range args {
		if !utf8.ValidString(a) {
			return fmt.Errorf("argument %d, %q, is not valid UTF-8; plumb's journal could not record it faithfully", i+1, a)
		}
	}
	return nil
}
