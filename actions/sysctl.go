package actions

import (
	"context"
	"fmt"
	"os"
	"strings"
)

// SysctlSet sets a kernel parameter. Its undo restores the value it found.
type SysctlSet struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

func (a SysctlSet) Kind() string   { return "sysctl_set" }
func (a SysctlSet) Argv() []string { return []string{"sysctl", "-w", a.Key + "=" + a.Value} }
func (a SysctlSet) Why() string {
	if forwarding(a.Key) && a.Value == "1" && strings.HasPrefix(a.Key, "net.ipv6.") {
		return "let the host forward IPv6 packets between the container and its uplink"
	}
	if forwarding(a.Key) && a.Value == "1" {
		return "let the host forward packets between the container and its uplink"
	}
	if dev, ok := routeLocalnet(a.Key); ok && a.Value == "1" {
		return "let " + dev + " carry the host's loopback traffic to the containers' published ports (127.0.0.1:PORT)"
	}
	return fmt.Sprintf("set %s to %s", a.Key, a.Value)
}

// routeLocalnet reports whether key is an interface's route_localnet, and
// which interface.
func routeLocalnet(key string) (string, bool) {
	for _, sep := range []string{".", "/"} {
		pre, suf := strings.Join([]string{"net", "ipv4", "conf", ""}, sep), sep+"route_localnet"
		if dev, ok := strings.CutPrefix(key, pre); ok && strings.HasSuffix(dev, suf) && len(dev) > len(suf) {
			return strings.TrimSuffix(dev, suf), true
		}
	}
	return "", false
}
func (a SysctlSet) Undo() Action { return nil }

// Gone: a per-interface key vanishes with its interface (sysctl: "cannot
// stat /proc/sys/net/ipv4/conf/br0/route_localnet: No such file or
// directory"); restoring it then has nothing left to restore.
func (a SysctlSet) Gone(stderr string) bool {
	return strings.Contains(stderr, "cannot stat /proc/sys/") && strings.Contains(stderr, "No such file or directory")
}
func (a SysctlSet) UndoNote() string {
	return "restores the value found at apply time, if plumb changed it"
}

// Prepare reads the current value; the undo writes it back if it differs.
func (a SysctlSet) Prepare(ctx context.Context, r Runner) (Action, error) {
	old, err := SysctlGet(ctx, r, a.Key)
	if err != nil {
		return nil, err
	}
	if old == a.Value {
		return nil, nil
	}
	return SysctlSet{Key: a.Key, Value: old}, nil
}

// SysctlReader is a Runner that reads kernel parameters itself.
type SysctlReader interface {
	ReadSysctl(ctx context.Context, key string) (string, error)
}

// SysctlGet reads a kernel parameter: from /proc/sys where the runner can
// (no process), else with `sysctl -n`.
func SysctlGet(ctx context.Context, r Runner, key string) (string, error) {
	if sr, ok := r.(SysctlReader); ok {
		return sr.ReadSysctl(ctx, key)
	}
	return sysctlByCommand(ctx, r, key)
}

// ReadSysctl implements SysctlReader: /proc/sys/KEY with the dots as
// slashes, what `sysctl -n KEY` reads (net.* for plumb's own namespace).
func (e Exec) ReadSysctl(ctx context.Context, key string) (string, error) {
	if e.ProbeByCommand || strings.ContainsAny(key, "/") || strings.Contains(key, "..") {
		return sysctlByCommand(ctx, e, key)
	}
	b, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(key, ".", "/"))
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", key, err)
	}
	return strings.TrimSpace(string(b)), nil
}

func sysctlByCommand(ctx context.Context, r Runner, key string) (string, error) {
	out, err := r.Run(ctx, []string{"sysctl", "-n", key}, nil)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", key, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// Shell reads the old value first and undoes only a change. The key is
// quoted where the runbook runs it and again inside the undo, which the
// rollback evals: "sysctl -w KEY=" then the old value as sysctl printed it,
// the one word of a forwarding setting.
func (a SysctlSet) Shell(n int) []string {
	v := fmt.Sprintf("old_%d", n)
	undo := Quote([]string{"sysctl", "-w", a.Key + "="})
	return []string{
		fmt.Sprintf("%s=$(sysctl -n %s)", v, Quote([]string{a.Key})),
		Quote(a.Argv()),
		fmt.Sprintf(`[ "$%s" = %s ] || undo+=("%s$%s")`, v, Quote([]string{a.Value}), escapeDoubleQuoted(undo), v),
	}
}

// escapeDoubleQuoted escapes what bash still expands inside double quotes.
func escapeDoubleQuoted(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, `$`, `\$`, "`", "\\`").Replace(s)
}

// forwarding reports whether key turns on forwarding for an address family
// (net.ipv4.ip_forward, net.ipv6.conf.all.forwarding).
func forwarding(key string) bool {
	return strings.HasPrefix(key, "net.ipv") && (strings.HasSuffix(key, ".ip_forward") || strings.HasSuffix(key, ".all.forwarding"))
}

// LinkSysctlSet sets a kernel parameter of a link plumb made (a bridge's
// accept_ra): the key goes with the link, so deleting the link is its
// undo. -e: on a host without IPv6 (ipv6.disable=1) there is no
// net.ipv6 key to set, and nothing it would guard against.
type LinkSysctlSet struct {
	Dev   IfName `json:"dev"`
	Key   string `json:"key"`
	Value string `json:"value"`
}

// LinkSysctlKey is the key of dev's parameter param in family ("ipv4",
// "ipv6"), as sysctl reads it: a name with a dot takes slashes.
func LinkSysctlKey(family string, dev IfName, param string) string {
	if strings.Contains(dev.String(), ".") {
		return "net/" + family + "/conf/" + dev.String() + "/" + param
	}
	return "net." + family + ".conf." + dev.String() + "." + param
}

func (a LinkSysctlSet) Kind() string   { return "link_sysctl_set" }
func (a LinkSysctlSet) Argv() []string { return []string{"sysctl", "-e", "-w", a.Key + "=" + a.Value} }
func (a LinkSysctlSet) Why() string {
	if strings.HasSuffix(a.Key, "accept_ra") && a.Value == "0" {
		return fmt.Sprintf("ignore router advertisements on %s, as Docker's bridges do: a container could send one and give the host a default route or an address", a.Dev)
	}
	return fmt.Sprintf("set %s to %s", a.Key, a.Value)
}
func (a LinkSysctlSet) Undo() Action     { return nil }
func (a LinkSysctlSet) UndoNote() string { return "deleting the link removes it" }

// Verify: the value is in place, or the host has no such key.
func (a LinkSysctlSet) Verify(ctx context.Context, r Runner) error {
	v, err := SysctlGet(ctx, r, a.Key)
	if err != nil {
		return nil // no such key: -e set nothing
	}
	if v != a.Value {
		return fmt.Errorf("%s is %s, not %s", a.Key, v, a.Value)
	}
	return nil
}
