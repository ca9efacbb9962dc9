package main

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"unicode/utf8"

	"plumb/targets"
)

// Flag types parse once, at the edge, into the values recipes take; their
// errors are one sentence that kong prefixes with the flag's name.

// pidFlag is a process ID: a positive number (targets.ParsePID).
type pidFlag int

func (p *pidFlag) UnmarshalText(b []byte) error {
	n, err := targets.ParsePID(string(b))
	*p = pidFlag(n)
	return err
}

// netnsFlag is the name of a namespace made by `ip netns add`.
type netnsFlag string

func (n *netnsFlag) UnmarshalText(b []byte) error {
	if err := targets.CheckNetns(string(b)); err != nil {
		return err
	}
	*n = netnsFlag(b)
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
// prefix length (targets.ParseAddr).
type addrFlag struct{ netip.Addr }

func (f *addrFlag) UnmarshalText(b []byte) (err error) {
	f.Addr, err = targets.ParseAddr(string(b))
	return err
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
