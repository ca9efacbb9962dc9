package actions

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Verifier is an action whose effect can be confirmed by read-only probes:
// `plumb check` runs Verify for each applied step and reports the ones whose
// effect is gone (drift). A nil error means the effect is in place.
type Verifier interface {
	Verify(ctx context.Context, r Runner) error
}

// linkInfo is what `ip -j link show dev X` says of a link.
type linkInfo struct {
	Name   string   `json:"ifname"`
	Flags  []string `json:"flags"`
	MTU    int      `json:"mtu"`
	Master string   `json:"master"`
	MAC    string   `json:"address"`
	Group  string   `json:"group"` // "default" for 0, else its name or number
}

func showLink(ctx context.Context, r Runner, in Netns, dev IfName) (*linkInfo, error) {
	out, err := r.Run(ctx, in.Wrap([]string{"ip", "-j", "link", "show", "dev", dev.String()}), nil)
	if err != nil {
		return nil, fmt.Errorf("link %s is missing in %s", dev, in.Label())
	}
	var links []linkInfo
	if err := json.Unmarshal(out, &links); err != nil || len(links) == 0 {
		return nil, fmt.Errorf("link %s: unreadable `ip -j link show` output", dev)
	}
	return &links[0], nil
}

// LinkMAC reads a link's MAC address and MTU (`ip -j link show dev X`, or
// in-process where the runner can).
func LinkMAC(ctx context.Context, r Runner, in Netns, dev IfName) (mac string, mtu int, err error) {
	if mr, ok := r.(MACReader); ok {
		return mr.ReadMAC(ctx, in, dev.String())
	}
	l, err := showLink(ctx, r, in, dev)
	if err != nil {
		return "", 0, err
	}
	return l.MAC, l.MTU, nil
}

func (a LinkAddVeth) Verify(ctx context.Context, r Runner) error {
	_, err := showLink(ctx, r, Netns{}, a.Host)
	return err
}

func (a LinkAddBridge) Verify(ctx context.Context, r Runner) error {
	l, err := showLink(ctx, r, Netns{}, a.Name)
	if err != nil {
		return err
	}
	// ip prints a group's name where /etc/iproute2/group gives one: a
	// name other than the default's is taken for plumb's group.
	_, numeric := strconv.ParseUint(l.Group, 10, 32)
	if g := strconv.FormatUint(uint64(a.Group), 10); a.Group != 0 && l.Group != g && (numeric == nil || l.Group == "default") {
		return fmt.Errorf("link %s is in device group %s, not %s", a.Name, l.Group, g)
	}
	return nil
}

func (a LinkSetNetns) Verify(ctx context.Context, r Runner) error {
	_, err := showLink(ctx, r, a.To, a.Name)
	return err
}

func (a LinkRename) Verify(ctx context.Context, r Runner) error {
	_, err := showLink(ctx, r, a.In, a.Name)
	return err
}

func (a LinkSetUp) Verify(ctx context.Context, r Runner) error {
	l, err := showLink(ctx, r, a.In, a.Dev)
	if err != nil {
		return err
	}
	if !slices.Contains(l.Flags, "UP") {
		return fmt.Errorf("link %s is down", a.Dev)
	}
	return nil
}

func (a LinkSetMTU) Verify(ctx context.Context, r Runner) error {
	l, err := showLink(ctx, r, Netns{}, a.Dev)
	if err != nil {
		return err
	}
	if l.MTU != a.MTU {
		return fmt.Errorf("link %s has MTU %d, not %d", a.Dev, l.MTU, a.MTU)
	}
	return nil
}

func (a LinkSetMaster) Verify(ctx context.Context, r Runner) error {
	l, err := showLink(ctx, r, Netns{}, a.Dev)
	if err != nil {
		return err
	}
	if l.Master != a.Master.String() {
		return fmt.Errorf("link %s is not in bridge %s", a.Dev, a.Master)
	}
	return nil
}

func (a AddrAdd) Verify(ctx context.Context, r Runner) error {
	out, err := r.Run(ctx, a.In.Wrap([]string{"ip", "-j", "addr", "show", "dev", a.Dev.String()}), nil)
	if err != nil {
		return fmt.Errorf("link %s is missing in %s", a.Dev, a.In.Label())
	}
	var links []struct {
		Addrs []struct {
			Local     string `json:"local"`
			PrefixLen int    `json:"prefixlen"`
		} `json:"addr_info"`
	}
	if err := json.Unmarshal(out, &links); err != nil {
		return fmt.Errorf("link %s: unreadable `ip -j addr show` output", a.Dev)
	}
	for _, l := range links {
		for _, ad := range l.Addrs {
			if ad.Local == a.Addr.Addr().String() && ad.PrefixLen == a.Addr.Bits() {
				return nil
			}
		}
	}
	return fmt.Errorf("address %s is missing from %s", a.Addr, a.Dev)
}

func (a RouteAddDefault) Verify(ctx context.Context, r Runner) error {
	return routeVia(ctx, r, a.In, a.Via, "default", fmt.Sprintf("default route via %s", a.Via))
}

func (a RouteAdd) Verify(ctx context.Context, r Runner) error {
	return routeVia(ctx, r, a.In, a.Via, a.Dst.String(), fmt.Sprintf("route to %s via %s", a.Dst, a.Via))
}

// routeVia checks that in has a route to dst through via; what names the
// route in the error.
func routeVia(ctx context.Context, r Runner, in Netns, via netip.Addr, dst, what string) error {
	out, err := r.Run(ctx, routeArgv(in, via, "show", dst), nil)
	if err != nil {
		return fmt.Errorf("cannot read routes in %s", in.Label())
	}
	var routes []struct {
		Gateway string `json:"gateway"`
	}
	if err := json.Unmarshal(out, &routes); err == nil {
		for _, rt := range routes {
			if rt.Gateway == via.String() {
				return nil
			}
		}
	}
	return fmt.Errorf("%s is missing in %s", what, in.Label())
}

// Verify reads the port's hairpin flag (ip -d: sysfs may be another
// namespace's).
func (a LinkSetHairpin) Verify(ctx context.Context, r Runner) error {
	out, err := r.Run(ctx, []string{"ip", "-d", "-j", "link", "show", "dev", a.Dev.String()}, nil)
	if err != nil {
		return fmt.Errorf("link %s is missing on the host", a.Dev)
	}
	var links []struct {
		Info struct {
			Slave struct {
				Hairpin bool `json:"hairpin"`
			} `json:"info_slave_data"`
		} `json:"linkinfo"`
	}
	if err := json.Unmarshal(out, &links); err != nil || len(links) == 0 {
		return fmt.Errorf("link %s: unreadable `ip -d -j link show` output", a.Dev)
	}
	if !links[0].Info.Slave.Hairpin {
		return fmt.Errorf("hairpin mode is off on %s", a.Dev)
	}
	return nil
}

func (a SysctlSet) Verify(ctx context.Context, r Runner) error {
	v, err := SysctlGet(ctx, r, a.Key)
	if err != nil {
		return err
	}
	if v != a.Value {
		return fmt.Errorf("%s is %s, not %s", a.Key, v, a.Value)
	}
	return nil
}

func verifyRule(ctx context.Context, r Runner, rule Rule) error {
	if _, err := r.Run(ctx, rule.argv("-C"), nil); err != nil {
		return fmt.Errorf("rule missing: %s", Quote(rule.argv("-A")))
	}
	return nil
}

func (a IptablesAppend) Verify(ctx context.Context, r Runner) error {
	return verifyRule(ctx, r, a.Rule)
}
func (a IptablesInsert) Verify(ctx context.Context, r Runner) error {
	return verifyRule(ctx, r, a.Rule)
}

func (a IptablesNewChain) Verify(ctx context.Context, r Runner) error {
	if _, err := r.Run(ctx, a.rule().argv("-S"), nil); err != nil {
		return fmt.Errorf("chain %s is missing from the %s table", a.Chain, a.Table)
	}
	return nil
}

func (a Mkdir) Verify(context.Context, Runner) error {
	if st, err := os.Stat(a.Path); err != nil || !st.IsDir() {
		return fmt.Errorf("directory %s is missing", a.Path)
	} else if a.Mode != 0 && st.Mode().Perm() != a.Mode.Perm() {
		return fmt.Errorf("directory %s is mode %04o, not %04o as plumb made it", a.Path, st.Mode().Perm(), a.Mode.Perm())
	}
	return nil
}

// Verify: the file is there with what was written. A container's /etc
// file that someone changed (the container itself can: it is bound
// read-write, as Docker binds it) is drift too.
func (a WriteFile) Verify(context.Context, Runner) error {
	data, err := os.ReadFile(a.Path)
	switch {
	case err != nil:
		return fmt.Errorf("file %s is missing", a.Path)
	case string(data) != a.Content:
		return fmt.Errorf("file %s no longer holds what plumb wrote", a.Path)
	}
	return nil
}

func (a OverlayMount) Verify(context.Context, Runner) error {
	fstype, err := MountType(a.Merged)
	if err != nil {
		return err
	}
	if fstype != "overlay" {
		return fmt.Errorf("%s is not an overlay mount", a.Merged)
	}
	return nil
}

// Mounts reads this mount namespace's mount table from /proc/self/mountinfo:
// each mount point with the type of the file system visible there.
func Mounts() (map[string]string, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPER
		f := strings.Fields(line)
		if len(f) < 7 {
			continue
		}
		if i := slices.Index(f[6:], "-"); i >= 0 && 6+i+1 < len(f) {
			out[unescapeOctal(f[4])] = f[6+i+1] // a later mount on the same point hides an earlier
		}
	}
	return out, nil
}

// MountType is the type of the file system mounted at dir; an error when
// nothing is.
func MountType(dir string) (string, error) {
	m, err := Mounts()
	if err != nil {
		return "", err
	}
	t, ok := m[dir]
	if !ok {
		return "", fmt.Errorf("nothing is mounted at %s", dir)
	}
	return t, nil
}

// unescapeOctal undoes mountinfo's octal escapes (\040 for a space).
func unescapeOctal(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				out = append(out, byte(v))
				i += 3
				continue
			}
		}
		out = append(out, s[i])
	}
	return string(out)
}
