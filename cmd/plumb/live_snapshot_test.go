package main

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"plumb/actions"
)

// Snapshots taken in-process: the links, addresses and routes of a network
// namespace by netlink dumps and its forwarding sysctls from /proc/sys, on
// a thread that entered the namespace (or the test's own), where they took
// eight processes (ip -j three times, sysctl, ip -6 addr show tentative,
// nft twice) and, polled until two readings agreed, twice that and more.
// The firewall stays a process each (iptables-save, ip6tables-save, nft
// -s list ruleset): no in-process reading of it fits, as iptables-nft's
// rules are its own encoding of xtables matches in nftables expressions,
// which only its save turns back into rules.

// netReading is one in-process reading of a network namespace: its links,
// addresses and routes as lines (masked and sorted as netStateByTools
// masks ip -j's), its forwarding sysctls, and why the kernel is not done
// with it yet ("" when it is).
type netReading struct {
	text      string
	unsettled string
	// stale are the links whose operstate does not match their carrier
	// yet: the kernel's linkwatch sets it, up to a second after the
	// carrier changed (and with it the routes' linkdown flags).
	stale []string
}

// inNetns runs fn inside the network namespace at path ("" is the
// test's own), on a locked thread as plumb enters one (actions.InNetns).
func inNetns(path string, fn func() error) error {
	if path == "" {
		return fn()
	}
	return actions.InNetns(path, fn)
}

// rtDump is one netlink dump (RTM_GETLINK, RTM_GETADDR or RTM_GETROUTE of
// every family) on the route socket fd.
func rtDump(fd int, typ uint16) ([]syscall.NetlinkMessage, error) {
	req := make([]byte, unix.NLMSG_HDRLEN+4)
	binary.NativeEndian.PutUint32(req[0:], uint32(len(req)))
	binary.NativeEndian.PutUint16(req[4:], typ)
	binary.NativeEndian.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	binary.NativeEndian.PutUint32(req[8:], 1)
	req[unix.NLMSG_HDRLEN] = unix.AF_UNSPEC // rtgenmsg
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, err
	}
	var all []syscall.NetlinkMessage
	buf := make([]byte, 1<<16)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return nil, err
		}
		// The messages point into what they were parsed from.
		msgs, err := syscall.ParseNetlinkMessage(append([]byte(nil), buf[:n]...))
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				return all, nil
			case unix.NLMSG_ERROR:
				return nil, fmt.Errorf("netlink dump %d: error %d", typ, int32(binary.NativeEndian.Uint32(m.Data)))
			}
			all = append(all, m)
		}
	}
}

// operstates are IF_OPER_* by number, as ip names them.
var operstates = []string{"UNKNOWN", "NOTPRESENT", "DOWN", "LOWERLAYERDOWN", "TESTING", "DORMANT", "UP"}

// readNet reads the namespace at path ("" for the test's own).
func readNet(path string) (netReading, error) {
	var r netReading
	err := inNetns(path, func() error {
		fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			return err
		}
		for try := 0; ; try++ {
			var dumps [3][]syscall.NetlinkMessage
			for i, typ := range []uint16{unix.RTM_GETLINK, unix.RTM_GETADDR, unix.RTM_GETROUTE} {
				if dumps[i], err = rtDump(fd, typ); err != nil {
					return err
				}
			}
			r = renderNet(dumps[0], dumps[1], dumps[2])
			if len(r.stale) == 0 || try == 1 {
				break
			}
			// Asking a link's carrier by ethtool (ETHTOOL_GLINK) makes the
			// kernel run its linkwatch for it now (linkwatch_sync_dev),
			// which it would run within the second anyway: no waiting.
			for _, name := range r.stale {
				if err := syncLink(name); err != nil {
					return fmt.Errorf("ETHTOOL_GLINK %s: %w", name, err)
				}
			}
		}
		var sysctls strings.Builder
		for _, k := range []string{"net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"} {
			v, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(k, ".", "/"))
			if err != nil {
				return err
			}
			sysctls.WriteString(k + " = " + strings.TrimSpace(string(v)) + "\n")
		}
		r.text += sysctls.String()
		return nil
	})
	return r, err
}

// renderNet turns the three dumps into sorted lines, one an object, with the
// fields ip -j prints, masked as
// netStateByTools masks them: MAC addresses, link-local addresses made
// from them, and an address's tentative flag. It also says whether the
// kernel is still at work: an address still tentative, or a link whose
// operstate (set by the kernel's linkwatch, up to a second after a carrier
// change, and with it the routes' linkdown flags) does not match its
// carrier yet.
func renderNet(links, addrs, routes []syscall.NetlinkMessage) netReading {
	var r netReading
	names := map[int32]string{}
	upLinks := map[int32]bool{}
	var lines []string
	for _, m := range links {
		if m.Header.Type != unix.RTM_NEWLINK || len(m.Data) < unix.SizeofIfInfomsg {
			continue
		}
		ifi := (*unix.IfInfomsg)(unsafe.Pointer(&m.Data[0]))
		attrs, _ := syscall.ParseNetlinkRouteAttr(&m)
		f := map[string]string{}
		for _, a := range attrs {
			v := a.Value
			switch a.Attr.Type {
			case unix.IFLA_IFNAME:
				f["ifname"] = cstr(v)
				names[ifi.Index] = cstr(v)
			case unix.IFLA_MTU:
				f["mtu"] = fmt.Sprint(u32(v))
			case unix.IFLA_QDISC:
				f["qdisc"] = cstr(v)
			case unix.IFLA_OPERSTATE:
				if int(v[0]) < len(operstates) {
					f["operstate"] = operstates[v[0]]
				} else {
					f["operstate"] = fmt.Sprint(v[0])
				}
			case unix.IFLA_LINKMODE:
				f["linkmode"] = fmt.Sprint(v[0])
			case unix.IFLA_GROUP:
				f["group"] = fmt.Sprint(u32(v))
			case unix.IFLA_TXQLEN:
				f["txqlen"] = fmt.Sprint(u32(v))
			case unix.IFLA_ADDRESS, unix.IFLA_BROADCAST:
				k := map[uint16]string{unix.IFLA_ADDRESS: "address", unix.IFLA_BROADCAST: "broadcast"}[a.Attr.Type]
				if len(v) == 6 {
					f[k] = "MAC"
				} else {
					f[k] = hex.EncodeToString(v)
				}
			case unix.IFLA_MASTER:
				f["master"] = fmt.Sprint(int32(u32(v)))
			case unix.IFLA_LINK:
				if int32(u32(v)) != ifi.Index {
					f["link"] = fmt.Sprint(int32(u32(v)))
				}
			case unix.IFLA_LINK_NETNSID:
				f["link_netnsid"] = fmt.Sprint(int32(u32(v)))
			case unix.IFLA_IFALIAS:
				f["alias"] = cstr(v)
			case unix.IFLA_PROTO_DOWN:
				if v[0] != 0 {
					f["proto_down"] = "1"
				}
			}
		}
		f["flags"] = ifFlags(ifi.Flags)
		if ifi.Flags&unix.IFF_UP != 0 && ifi.Flags&unix.IFF_LOWER_UP != 0 {
			upLinks[ifi.Index] = true
		}
		f["link_type"] = fmt.Sprint(ifi.Type)
		lines = append(lines, fmt.Sprintf("link %d %s", ifi.Index, fields(f)))
		// IFF_RUNNING follows the operstate, IFF_LOWER_UP the carrier.
		if up, lower, running := ifi.Flags&unix.IFF_UP != 0, ifi.Flags&unix.IFF_LOWER_UP != 0 && ifi.Flags&unix.IFF_DORMANT == 0, ifi.Flags&unix.IFF_RUNNING != 0; up && lower != running {
			r.unsettled = fmt.Sprintf("link %s: carrier %v, operstate %s", f["ifname"], lower, f["operstate"])
			r.stale = append(r.stale, f["ifname"])
		}
	}
	// A master's name, as ip prints it, once every link is known.
	for i, l := range lines {
		if _, after, ok := strings.Cut(l, " master="); ok {
			idx, _, _ := strings.Cut(after, " ")
			var n int32
			fmt.Sscan(idx, &n)
			if name, ok := names[n]; ok {
				lines[i] = strings.Replace(l, " master="+idx, " master="+name, 1)
			}
		}
	}
	sort.Strings(lines)
	var b strings.Builder
	b.WriteString("$ links\n" + strings.Join(lines, "\n") + "\n")

	lines = nil
	var wantLocal []string // IPv6 addresses and their links that need a local route
	for _, m := range addrs {
		if m.Header.Type != unix.RTM_NEWADDR || len(m.Data) < unix.SizeofIfAddrmsg {
			continue
		}
		ifa := (*unix.IfAddrmsg)(unsafe.Pointer(&m.Data[0]))
		attrs, _ := syscall.ParseNetlinkRouteAttr(&m)
		flags := uint32(ifa.Flags)
		f := map[string]string{}
		for _, a := range attrs {
			v := a.Value
			switch a.Attr.Type {
			case unix.IFA_FLAGS:
				flags = u32(v)
			case unix.IFA_LABEL:
				f["label"] = cstr(v)
			case unix.IFA_CACHEINFO:
				// ifa_prefered, ifa_valid; the rest are timestamps.
				f["preferred_life_time"] = fmt.Sprint(u32(v[0:]))
				f["valid_life_time"] = fmt.Sprint(u32(v[4:]))
			default:
				f[fmt.Sprintf("attr%d", a.Attr.Type)] = attrText(v, a.Attr.Type == unix.IFA_ADDRESS || a.Attr.Type == unix.IFA_LOCAL || a.Attr.Type == unix.IFA_BROADCAST)
			}
		}
		if flags&unix.IFA_F_TENTATIVE != 0 {
			r.unsettled = "an address is tentative"
		}
		// An IPv6 address (nodad ones too, never tentative) gets its local
		// route from the kernel's address work queue, a moment after the
		// address shows: on a link that is up, wait for it.
		if local, ok := f["attr1"]; ok && ifa.Family == unix.AF_INET6 && flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) == 0 && local != "fe80::LL" && upLinks[int32(ifa.Index)] {
			wantLocal = append(wantLocal, local+" "+devName(names, int32(ifa.Index)))
		}
		f["flags"] = fmt.Sprintf("%#x", flags&^unix.IFA_F_TENTATIVE)
		lines = append(lines, fmt.Sprintf("addr dev=%s family=%d prefixlen=%d scope=%d %s", devName(names, int32(ifa.Index)), ifa.Family, ifa.Prefixlen, ifa.Scope, fields(f)))
	}
	sort.Strings(lines)
	b.WriteString("$ addrs\n" + strings.Join(lines, "\n") + "\n")

	lines = nil
	haveLocal := map[string]bool{}
	for _, m := range routes {
		if m.Header.Type != unix.RTM_NEWROUTE || len(m.Data) < unix.SizeofRtMsg {
			continue
		}
		rt := (*unix.RtMsg)(unsafe.Pointer(&m.Data[0]))
		attrs, _ := syscall.ParseNetlinkRouteAttr(&m)
		f := map[string]string{"table": fmt.Sprint(rt.Table)}
		for _, a := range attrs {
			v := a.Value
			switch a.Attr.Type {
			case unix.RTA_TABLE:
				f["table"] = fmt.Sprint(u32(v))
			case unix.RTA_OIF:
				f["dev"] = devName(names, int32(u32(v)))
			case unix.RTA_PRIORITY:
				f["metric"] = fmt.Sprint(u32(v))
			case unix.RTA_CACHEINFO:
				// Use counts and times: not configuration.
			case unix.RTA_EXPIRES:
				f["expires"] = "yes"
			default:
				f[fmt.Sprintf("attr%d", a.Attr.Type)] = attrText(v, a.Attr.Type == unix.RTA_DST || a.Attr.Type == unix.RTA_SRC || a.Attr.Type == unix.RTA_GATEWAY || a.Attr.Type == unix.RTA_PREFSRC)
			}
		}
		if rt.Family == unix.AF_INET6 && rt.Type == unix.RTN_LOCAL && rt.Dst_len == 128 {
			haveLocal[f["attr1"]+" "+f["dev"]] = true
		}
		lines = append(lines, fmt.Sprintf("route family=%d type=%d dst_len=%d src_len=%d tos=%d protocol=%d scope=%d flags=%#x %s",
			rt.Family, rt.Type, rt.Dst_len, rt.Src_len, rt.Tos, rt.Protocol, rt.Scope, rt.Flags, fields(f)))
	}
	sort.Strings(lines)
	b.WriteString("$ routes\n" + strings.Join(lines, "\n") + "\n")
	for _, w := range wantLocal {
		if !haveLocal[w] {
			r.unsettled = "no local route yet for " + w
		}
	}
	r.text = b.String()
	return r
}

// attrText is an attribute's value: an address attribute (IFA_LOCAL,
// RTA_GATEWAY and the like) as an IP address, a link-local one masked;
// any other as hex.
func attrText(v []byte, isAddr bool) string {
	if isAddr && (len(v) == 4 || len(v) == 16) {
		ip := net.IP(v)
		if ip.IsLinkLocalUnicast() && ip.To4() == nil && !ip.Equal(net.IPv6linklocalallnodes) && !ip.Equal(net.ParseIP("fe80::")) {
			return "fe80::LL"
		}
		return ip.String()
	}
	return hex.EncodeToString(v)
}

// syncLink asks the link's carrier by ETHTOOL_GLINK, on a socket of the
// calling thread's network namespace.
func syncLink(name string) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	val := struct{ cmd, data uint32 }{unix.ETHTOOL_GLINK, 0}
	var ifr struct {
		name [unix.IFNAMSIZ]byte
		data uintptr
		_    [16]byte
	}
	copy(ifr.name[:], name)
	ifr.data = uintptr(unsafe.Pointer(&val))
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr))); e != 0 && e != unix.EOPNOTSUPP && e != unix.ENODEV {
		return e
	}
	return nil
}

var ifFlagNames = []struct {
	bit  uint32
	name string
}{
	{unix.IFF_UP, "UP"}, {unix.IFF_BROADCAST, "BROADCAST"}, {unix.IFF_DEBUG, "DEBUG"}, {unix.IFF_LOOPBACK, "LOOPBACK"},
	{unix.IFF_POINTOPOINT, "POINTOPOINT"}, {unix.IFF_NOTRAILERS, "NOTRAILERS"}, {unix.IFF_RUNNING, "RUNNING"},
	{unix.IFF_NOARP, "NOARP"}, {unix.IFF_PROMISC, "PROMISC"}, {unix.IFF_ALLMULTI, "ALLMULTI"}, {unix.IFF_MASTER, "MASTER"},
	{unix.IFF_SLAVE, "SLAVE"}, {unix.IFF_MULTICAST, "MULTICAST"}, {unix.IFF_PORTSEL, "PORTSEL"}, {unix.IFF_AUTOMEDIA, "AUTOMEDIA"},
	{unix.IFF_DYNAMIC, "DYNAMIC"}, {unix.IFF_LOWER_UP, "LOWER_UP"}, {unix.IFF_DORMANT, "DORMANT"}, {unix.IFF_ECHO, "ECHO"},
}

func ifFlags(fl uint32) string {
	var names []string
	for _, n := range ifFlagNames {
		if fl&n.bit != 0 {
			names = append(names, n.name)
			fl &^= n.bit
		}
	}
	if fl != 0 {
		names = append(names, fmt.Sprintf("%#x", fl))
	}
	return strings.Join(names, ",")
}

// fields renders f as sorted key=value words.
func fields(f map[string]string) string {
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k + "=" + f[k])
	}
	return b.String()
}

func devName(names map[int32]string, idx int32) string {
	if n, ok := names[idx]; ok {
		return n
	}
	return fmt.Sprint(idx)
}

func cstr(v []byte) string { return strings.TrimRight(string(v), "\x00") }

func u32(v []byte) uint32 {
	if len(v) < 4 {
		return 0
	}
	return binary.NativeEndian.Uint32(v)
}

// firewallState is the namespace's iptables and ip6tables rules (counters
// masked) and plumb's nft tables (-s: no counter values), one process
// each, run in the namespace at path ("" for the test's own). Not nft's
// whole ruleset: iptables-nft's tables are iptables-save's, and
// iptables-nft leaves a built-in chain it made for a rule (nat PREROUTING)
// when the rule goes, which iptables never shows.
func firewallState(t *testing.T, path string) string {
	t.Helper()
	run := func(argv ...string) string {
		t.Helper()
		if path != "" {
			argv = append([]string{"nsenter", "--net=" + path}, argv...)
		}
		cmd := exec.Command(argv[0], argv[1:]...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, stderr.String())
		}
		return string(out)
	}
	var b strings.Builder
	if _, err := exec.LookPath("nft"); err == nil {
		b.WriteString("$ nft -s list table ip plumb-*\n")
		in := false
		for _, l := range strings.SplitAfter(run("nft", "-s", "list", "ruleset"), "\n") {
			if f := strings.Fields(l); !in && len(f) == 4 && f[0] == "table" && f[3] == "{" {
				in = strings.HasPrefix(f[2], "plumb-")
			}
			if in {
				b.WriteString(l)
				if l == "}\n" {
					in = false
				}
			}
		}
	}
	for _, save := range []string{"iptables-save", "ip6tables-save"} {
		b.WriteString("$ " + save + "\n")
		for _, l := range strings.Split(run(save), "\n") {
			if !strings.HasPrefix(l, "#") {
				b.WriteString(counters.ReplaceAllString(l, "[0:0]") + "\n")
			}
		}
	}
	return b.String()
}

// netState is a settled reading of the network namespace at path ("" for
// the test's own): links, addresses, routes and forwarding in-process,
// then the firewall (firewallState). A reading counts once the kernel is
// done (no tentative address, every link's operstate matching its carrier,
// which readNet has the kernel bring up to date) and the reading taken
// after the firewall's, some milliseconds later, agrees with it: the
// kernel's work queues (IPv6 address configuration and the routes it
// adds) finish a moment after the command that started them.
func netState(t *testing.T, path string) string {
	t.Helper()
	read := func() netReading {
		t.Helper()
		r, err := readNet(path)
		if err != nil {
			t.Fatalf("reading the network namespace %q: %v", path, err)
		}
		return r
	}
	deadline := time.Now().Add(4 * time.Second)
	prev := read()
	for {
		fw := firewallState(t, path)
		cur := read()
		if (cur.unsettled == "" && cur.text == prev.text) || time.Now().After(deadline) {
			return cur.text + fw
		}
		prev = cur
		time.Sleep(5 * time.Millisecond)
	}
}

// TestLiveSnapshotAgrees: the in-process snapshot (netState) sees every
// change the snapshot by tools (netStateByTools: ip -j, sysctl, nft,
// iptables-save) sees, and no other: after each of a series of changes of
// the kind plumb makes (links, bridge ports, carriers, addresses of both
// families, routes in other tables, forwarding, rules of iptables,
// ip6tables and nft) and of some it must not see (a MAC address, nft
// tables not plumb's), either both differ from their reading before or
// neither does; and their forwarding and firewall parts are the same text.
func TestLiveSnapshotAgrees(t *testing.T) {
	t.Parallel()
	if !isolateWorld(t) {
		return
	}
	pid := strconv.Itoa(startContainer(t))
	byTools := func() string {
		prev := netStateByTools(t, here(t))
		for i := 0; i < 40; i++ {
			time.Sleep(25 * time.Millisecond)
			cur := netStateByTools(t, here(t))
			if cur == prev {
				break
			}
			prev = cur
		}
		return prev
	}
	tail := func(s string) string { return s[strings.Index(s, "net.ipv4.ip_forward"):] }
	changes := []struct {
		what string
		cmds []string
	}{
		{"nothing", nil},
		{"an MTU", []string{"ip link set uplink0 mtu 1400"}},
		{"a bridge", []string{"ip link add br9 type bridge"}},
		{"the bridge up", []string{"ip link set br9 up"}},
		{"a veth into a container", []string{"ip link add v9 type veth peer name eth0 netns " + pid}},
		{"a bridge port", []string{"ip link set v9 master br9"}},
		{"the port up: a carrier", []string{"ip -n inet link set lo up", "nsenter -t " + pid + " -n ip link set eth0 up", "ip link set v9 up"}},
		{"an IPv4 address", []string{"ip addr add 10.77.0.1/24 dev br9"}},
		{"an IPv6 address", []string{"ip addr add fd00:77::1/64 dev br9 nodad"}},
		{"a route with a metric", []string{"ip route add 10.78.0.0/24 via 10.77.0.2 metric 50"}},
		{"an IPv6 route", []string{"ip -6 route add fd00:78::/64 via fd00:77::2"}},
		{"a route in table 100", []string{"ip route add 10.79.0.0/24 dev br9 table 100"}},
		{"a txqueuelen", []string{"ip link set v9 txqueuelen 500"}},
		{"a link group", []string{"ip link set br9 group 7"}},
		{"an alias", []string{"ip link set br9 alias plumbtest"}},
		{"NOARP", []string{"ip link set uplink0 arp off"}},
		{"PROMISC", []string{"ip link set uplink0 promisc on"}},
		{"a MAC address (masked)", []string{"ip link set uplink0 address 02:00:00:00:00:99"}},
		{"ip_forward", []string{"sysctl -qw net.ipv4.ip_forward=1"}},
		{"IPv6 forwarding", []string{"sysctl -qw net.ipv6.conf.all.forwarding=1"}},
		{"an iptables rule", []string{"iptables -A FORWARD -i br9 -j ACCEPT"}},
		{"an ip6tables rule", []string{"ip6tables -t nat -A POSTROUTING -o br9 -j MASQUERADE"}},
		{"an nft table of plumb's", []string{"nft add table ip plumb-x", "nft add chain ip plumb-x c"}},
		{"an nft table not plumb's", []string{"nft add table ip other"}},
		{"the port leaves the bridge: no carrier", []string{"ip link set v9 nomaster"}},
		{"a route deleted", []string{"ip route del 10.79.0.0/24 table 100"}},
		{"the bridge down", []string{"ip link set br9 down"}},
		{"links deleted", []string{"ip link del v9", "ip link del br9"}},
		{"nothing again", nil},
	}
	prevOld, prevNew := byTools(), netState(t, "")
	differed := 0
	for _, c := range changes {
		for _, cmd := range c.cmds {
			sh(t, strings.Fields(cmd)...)
		}
		cur := netState(t, "") // settled: then the tools' reading is too
		old := byTools()
		if tail(old) != tail(cur) {
			t.Errorf("%s: forwarding and firewall differ (-by tools +in-process):\n%s", c.what, cmp.Diff(tail(old), tail(cur)))
		}
		if oldDiff, newDiff := cmp.Diff(prevOld, old), cmp.Diff(prevNew, cur); (oldDiff == "") != (newDiff == "") {
			t.Errorf("%s: the snapshot by tools changed: %v, in-process: %v\nby tools:\n%s\nin-process:\n%s", c.what, oldDiff != "", newDiff != "", oldDiff, newDiff)
		} else if oldDiff != "" {
			differed++
		}
		prevOld, prevNew = old, cur
	}
	if want := len(changes) - 4; differed != want {
		t.Errorf("%d changes seen by both, want %d", differed, want)
	}
}

// TestLiveSnapshotSettles: a snapshot taken at once after a bridge's last
// port went equals the one before the port came, three times over: the
// kernel's linkwatch, which sets the bridge's operstate (and the routes'
// linkdown flags) up to a second after its carrier went, is brought up to
// date first. Two readings 25 ms apart, as snapshots were settled before,
// both caught it stale.
func TestLiveSnapshotSettles(t *testing.T) {
	t.Parallel()
	if !isolateWorld(t) {
		return
	}
	for _, c := range []string{"ip link add br9 type bridge", "ip link set br9 up", "ip addr add 10.77.0.1/24 dev br9"} {
		sh(t, strings.Fields(c)...)
	}
	// A new bridge has a carrier until its first port comes and goes.
	var before string
	for i := -1; i < 3; i++ {
		for _, c := range []string{"ip link add v9 type veth peer name v9p", "ip link set v9 master br9", "ip link set v9 up", "ip link set v9p up"} {
			sh(t, strings.Fields(c)...)
		}
		if with := netState(t, ""); with == before {
			t.Fatal("the snapshot did not see a port come")
		}
		sh(t, "ip", "link", "del", "v9")
		if i < 0 {
			time.Sleep(1500 * time.Millisecond)
			before = netState(t, "")
			continue
		}
		start := time.Now()
		if diff := cmp.Diff(before, netState(t, "")); diff != "" {
			t.Errorf("round %d: the bridge differs once its port went (-before +after):\n%s", i+1, diff)
		}
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Errorf("round %d: the snapshot took %v: it waited for the kernel's linkwatch", i+1, d)
		}
	}
}
