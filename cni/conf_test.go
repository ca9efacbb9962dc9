package cni

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/google/go-cmp/cmp"

	"plumb/actions"
	"plumb/network"
	"plumb/plan"
	"plumb/plan/firewall"
	"plumb/plan/ipam"
)

// conf is a config of type plumb with extra keys merged in (at the top, or
// in ipam with an "ipam." prefix).
func conf(t *testing.T, extra map[string]any) []byte {
	t.Helper()
	c := map[string]any{"cniVersion": "1.1.0", "name": "mynet", "type": "plumb",
		"ipam": map[string]any{"type": "host-local", "subnet": "10.88.0.0/16"}}
	for k, v := range extra {
		if ik, ok := strings.CutPrefix(k, "ipam."); ok {
			c["ipam"].(map[string]any)[ik] = v
			continue
		}
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCNIConfAccepted(t *testing.T) {
	a := netip.MustParseAddr
	got, err := ParseNetConf(conf(t, map[string]any{
		"bridge": "br7", "isGateway": true, "isDefaultGateway": true, "ipMasq": true, "mtu": 1400, "hairpinMode": true,
		"dns":           map[string]any{"nameservers": []string{"10.88.0.1"}, "search": []string{"example.test"}},
		"args":          map[string]any{"cni": map[string]any{"x": 1}},
		"capabilities":  map[string]any{"portMappings": true},
		"runtimeConfig": map[string]any{"portMappings": []map[string]any{{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}, {"hostPort": 8080, "containerPort": 80, "protocol": "tcp", "hostIP": ""}, {"hostPort": 53, "containerPort": 53, "protocol": "UDP"}}},
		"prevResult":    map[string]any{"cniVersion": "1.1.0"},
		"cni.dev/other": 1,
		// The reference bridge's keys plumb does not implement, at their
		// defaults: what plumb does anyway.
		"forceAddress": false, "promiscMode": false, "vlan": 0, "macspoofchk": false,
		"ipam.routes": []map[string]any{{"dst": "0.0.0.0/0"}, {"dst": "198.51.100.0/24", "gw": "10.88.0.254"}},
		"ipam.subnet": nil, "ipam.ranges": [][]map[string]any{{{"subnet": "10.88.0.0/16", "rangeStart": "10.88.1.1", "rangeEnd": "10.88.1.254", "gateway": "10.88.0.254"}}},
	}), "")
	if err != nil {
		t.Fatal(err)
	}
	want := &NetConf{CNIVersion: "1.1.0", Name: "mynet", Bridge: "br7", DefaultRoute: true, NAT: true, MTU: 1400, Hairpin: true,
		IPAM: IPAM{Subnet: netip.MustParsePrefix("10.88.0.0/16"), Gateway: a("10.88.0.254"), Range: ipam.Range{Start: a("10.88.1.1"), End: a("10.88.1.254")},
			Routes: []network.Route{{Dst: netip.MustParsePrefix("0.0.0.0/0"), Via: a("10.88.0.254")}, {Dst: netip.MustParsePrefix("198.51.100.0/24"), Via: a("10.88.0.254")}}},
		DNS:   types.DNS{Nameservers: []string{"10.88.0.1"}, Search: []string{"example.test"}},
		Ports: []plan.Port{{Host: 8080, Container: 80, Proto: "tcp"}, {Host: 53, Container: 53, Proto: "udp"}},
		// No ipMasqBackend: PLUMB_FIREWALL's, else iptables.
		Firewall: firewall.Iptables{},
	}
	got.PrevResult = nil
	if diff := cmp.Diff(want, got, cmp.Comparer(func(x, y netip.Addr) bool { return x == y }), cmp.Comparer(func(x, y netip.Prefix) bool { return x == y })); diff != "" {
		t.Errorf("parsed config (-want +got):\n%s", diff)
	}

	// Dual stack: an IPv6 range set beside the IPv4 one, in either order;
	// isDefaultGateway routes both families, a route goes through its
	// family's gateway; ipMasq masquerades both, as the reference plugin's.
	got, err = ParseNetConf(conf(t, map[string]any{"isDefaultGateway": true, "ipMasq": true,
		"ipam.routes": []map[string]any{{"dst": "2001:db8:1::/48"}},
		"ipam.subnet": nil, "ipam.ranges": [][]map[string]any{{{"subnet": "fd00:88::/64", "rangeStart": "fd00:88::100"}}, {{"subnet": "10.88.0.0/16"}}}}), "")
	if err != nil {
		t.Fatal(err)
	}
	if got.Subnet.String() != "10.88.0.0/16" || got.Subnet6.String() != "fd00:88::/64" || got.Gateway6 != a("fd00:88::1") || got.Range6.Start != a("fd00:88::100") {
		t.Errorf("dual stack: %+v", got)
	}
	wantRoutes := []network.Route{{Dst: netip.MustParsePrefix("0.0.0.0/0"), Via: a("10.88.0.1")}, {Dst: netip.MustParsePrefix("::/0"), Via: a("fd00:88::1")},
		{Dst: netip.MustParsePrefix("2001:db8:1::/48"), Via: a("fd00:88::1")}}
	if diff := cmp.Diff(wantRoutes, got.Routes, cmp.Comparer(func(x, y netip.Addr) bool { return x == y }), cmp.Comparer(func(x, y netip.Prefix) bool { return x == y })); diff != "" {
		t.Errorf("dual-stack routes (-want +got):\n%s", diff)
	}
	if b := got.BridgeRecipe(); !b.NAT6 || b.Subnet6 != got.Subnet6 {
		t.Errorf("dual-stack bridge: %+v", b)
	}
	// IPv6 alone.
	if got, err = ParseNetConf(conf(t, map[string]any{"ipam.subnet": "fd00:88::/64"}), ""); err != nil || got.Subnet.String() != "fd00:88::/64" || got.Subnet6.IsValid() {
		t.Errorf("IPv6 alone: %+v, %v", got, err)
	}

	// The defaults: bridge cni0, the subnet's first host as gateway, no
	// NAT, no routes; a subnet with host bits is read as host-local reads it.
	got, err = ParseNetConf(conf(t, map[string]any{"ipam.subnet": "10.88.3.4/16", "ipam.type": "plumb"}), "")
	if err != nil {
		t.Fatal(err)
	}
	if got.Bridge != "cni0" || got.Subnet.String() != "10.88.0.0/16" || got.Gateway.String() != "10.88.0.1" || got.NAT || len(got.Routes) != 0 || got.HasValid {
		t.Errorf("defaults: %+v", got)
	}
	// The old host-local form: rangeStart, rangeEnd, gateway beside subnet.
	got, err = ParseNetConf(conf(t, map[string]any{"ipam.rangeStart": "10.88.0.100", "ipam.gateway": "10.88.0.254"}), "")
	if err != nil || got.Range.Start != a("10.88.0.100") || got.Gateway != a("10.88.0.254") {
		t.Errorf("old form: %+v, %v", got, err)
	}
}

func TestCNIConfValidAttachments(t *testing.T) {
	for _, tt := range []struct {
		extra    map[string]any
		has      bool
		attached int
	}{
		{map[string]any{}, false, 0},
		{map[string]any{"cni.dev/valid-attachments": []any{}}, true, 0},
		{map[string]any{"cni.dev/valid-attachments": []map[string]string{{"containerID": "c1", "ifname": "eth0"}}}, true, 1},
		{map[string]any{"cni.dev/attachments": []map[string]string{{"containerID": "c1", "ifname": "eth0"}}}, true, 1},
	} {
		c := conf(t, nil)
		if len(tt.extra) > 0 {
			var m map[string]any
			_ = json.Unmarshal(c, &m)
			for k, v := range tt.extra {
				m[k] = v
			}
			c, _ = json.Marshal(m)
		}
		got, err := ParseNetConf(c, "")
		if err != nil || got.HasValid != tt.has || len(got.Valid) != tt.attached {
			t.Errorf("%s: HasValid %v, %d valid, %v; want %v, %d", c, got.HasValid, len(got.Valid), err, tt.has, tt.attached)
		}
	}
	// libcni sends null for an empty Go list: the key is there, the list empty.
	got, err := ParseNetConf([]byte(`{"cniVersion":"1.1.0","name":"n","type":"plumb","ipam":{"subnet":"10.88.0.0/16"},"cni.dev/valid-attachments":null}`), "")
	if err != nil || !got.HasValid || len(got.Valid) != 0 {
		t.Errorf("null list: HasValid %v, %v", got.HasValid, err)
	}
}

// TestCNIConfBackend: ipMasqBackend, the reference bridge plugin's key,
// chooses the back end of the bridge the config makes; without it,
// PLUMB_FIREWALL does.
func TestCNIConfBackend(t *testing.T) {
	for _, tt := range []struct {
		key, env, want string
	}{
		{"nftables", "", "nftables"},
		{"iptables", "nftables", "iptables"},
		{"", "nftables", "nftables"},
		{"", "", "iptables"},
	} {
		extra := map[string]any{"ipMasq": true}
		if tt.key != "" {
			extra["ipMasqBackend"] = tt.key
		}
		got, err := ParseNetConf(conf(t, extra), tt.env)
		if err != nil {
			t.Fatalf("%+v: %v", tt, err)
		}
		if got.Firewall.Name() != tt.want || got.BridgeRecipe().Firewall.Name() != tt.want {
			t.Errorf("ipMasqBackend %q, PLUMB_FIREWALL %q: back end %s, want %s", tt.key, tt.env, got.Firewall.Name(), tt.want)
		}
		if fw := got.Network().Firewall; fw != firewall.Recorded(got.Firewall) {
			t.Errorf("ipMasqBackend %q: the network's facts say %q", tt.key, fw)
		}
	}
	if _, err := ParseNetConf(conf(t, nil), "bpf"); err == nil || !strings.Contains(err.Msg, "PLUMB_FIREWALL") {
		t.Errorf("PLUMB_FIREWALL=bpf: %v", err)
	}
}

func TestCNIConfRefused(t *testing.T) {
	for _, tt := range []struct {
		extra map[string]any
		code  uint
		msg   string
	}{
		{map[string]any{"forceAddress": true}, 2, "unsupported field forceAddress=true"},
		{map[string]any{"ipMasqBackend": "bpf"}, 7, `ipMasqBackend "bpf" is not a firewall back end: iptables or nftables`},
		{map[string]any{"ipMasqBackend": "nft"}, 7, `ipMasqBackend "nft" is not a firewall back end`},
		{map[string]any{"promiscMode": true}, 2, "promiscMode=true"},
		{map[string]any{"vlan": 100}, 2, "vlan=100"},
		{map[string]any{"vlanTrunk": []map[string]int{{"id": 5}}}, 2, "vlanTrunk="},
		{map[string]any{"preserveDefaultVlan": true}, 2, "preserveDefaultVlan=true"},
		{map[string]any{"macspoofchk": true}, 2, "macspoofchk=true"},
		{map[string]any{"enabledad": true}, 2, "enabledad=true"},
		{map[string]any{"portIsolation": true}, 2, "portIsolation=true"},
		{map[string]any{"disableContainerInterface": true}, 2, "disableContainerInterface=true"},
		{map[string]any{"isGateway": false}, 2, "isGateway=false"},
		{map[string]any{"bridgeName": "x"}, 7, "unknown key bridgeName"},
		{map[string]any{"bridge": "a/b"}, 7, "bridge:"},
		{map[string]any{"mtu": -1}, 7, "mtu -1"},
		{map[string]any{"name": nil}, 7, "no name"},
		{map[string]any{"ipam": nil}, 7, "no ipam"},
		{map[string]any{"ipam.type": "dhcp"}, 2, `ipam.type="dhcp"`},
		{map[string]any{"ipam.dataDir": "/var/lib/cni/networks"}, 2, "ipam.dataDir="},
		{map[string]any{"ipam.resolvConf": "/etc/resolv.conf"}, 2, "ipam.resolvConf="},
		{map[string]any{"ipam.foo": 1}, 7, "unknown key ipam.foo"},
		{map[string]any{"ipam.subnet": nil}, 7, "no subnet"},
		{map[string]any{"ipam.subnet": "10.88.0.0"}, 7, "not a CIDR"},
		{map[string]any{"ipam.subnet": "fe80::/64"}, 7, "link-local"},
		{map[string]any{"ipam.subnet": "fd00::/124"}, 7, "a bridge's IPv6 subnet is /48 to /120"},
		{map[string]any{"ipam.subnet": nil, "ipam.ranges": [][]map[string]any{{{"subnet": "10.88.0.0/16"}}, {{"subnet": "fd00::/64"}}, {{"subnet": "fd01::/64"}}}}, 2, "3 range sets"},
		{map[string]any{"ipam.subnet": nil, "ipam.ranges": [][]map[string]any{{{"subnet": "fd00::/64"}}, {{"subnet": "fd01::/64"}}}}, 2, "two range sets of one family"},
		{map[string]any{"ipam.subnet": nil, "ipam.ranges": [][]map[string]any{{{"subnet": "10.88.0.0/16"}}, {{"subnet": "fd00::/64", "rangeStart": "fd01::1"}}}}, 7, "outside the subnet fd00::/64"},
		{map[string]any{"ipam.subnet": nil, "ipam.ranges": [][]map[string]any{{{"subnet": "10.88.0.0/16"}, {"subnet": "10.89.0.0/16"}}}}, 2, "2 ranges"},
		{map[string]any{"ipam.ranges": [][]map[string]any{{{"subnet": "10.88.0.0/16"}}}}, 7, "both ranges and subnet"},
		{map[string]any{"ipam.subnet": nil, "ipam.ranges": [][]map[string]any{{{"subnet": "10.88.0.0/16", "foo": 1}}}}, 7, "ipam.ranges[0][0].foo"},
		{map[string]any{"ipam.rangeStart": "10.89.0.1"}, 7, "outside the subnet"},
		{map[string]any{"ipam.rangeStart": "10.88.0.20", "ipam.rangeEnd": "10.88.0.10"}, 7, "after its end"},
		{map[string]any{"ipam.gateway": "10.88.255.255"}, 7, "broadcast"},
		{map[string]any{"ipam.subnet": "10.88.0.0/31"}, 7, "no room"},
		{map[string]any{"ipam.routes": []map[string]any{{"dst": "fd00::/8"}}}, 7, "no IPv6 range"},
		{map[string]any{"ipam.routes": []map[string]any{{"dst": "x"}}}, 7, "not a CIDR"},
		// A gateway off the subnet: refused with the config, not by the
		// kernel at the route's step.
		{map[string]any{"ipam.routes": []map[string]any{{"dst": "198.51.100.0/24", "gw": "192.0.2.1"}}}, 7, "ipam.routes[0].gw: 192.0.2.1 is outside the subnet 10.88.0.0/16; a route's gateway must be a host on the container's own subnet"},
		{map[string]any{"ipam.routes": []map[string]any{{"dst": "0.0.0.0/0"}, {"dst": "198.51.100.0/24", "gw": "10.88.0.0"}}}, 7, "ipam.routes[1].gw: 10.88.0.0 is the network address"},
		{map[string]any{"ipam.subnet": nil, "ipam.ranges": [][]map[string]any{{{"subnet": "10.88.0.0/16"}}, {{"subnet": "fd00:88::/64"}}},
			"ipam.routes": []map[string]any{{"dst": "2001:db8::/32", "gw": "fd00:99::1"}}}, 7, "ipam.routes[0].gw: fd00:99::1 is outside the subnet fd00:88::/64"},
		{map[string]any{"ipam.routes": []map[string]any{{"dst": "0.0.0.0/0", "mtu": 1300}}}, 2, "ipam.routes[0].mtu=1300"},
		{map[string]any{"runtimeConfig": map[string]any{"ips": []string{"10.88.0.5/16"}}}, 2, "runtimeConfig.ips"},
		{map[string]any{"ipMasq": true, "runtimeConfig": map[string]any{"portMappings": []map[string]any{{"hostPort": 80, "containerPort": 80, "hostIP": "192.0.2.1"}}}}, 2, "hostIP=192.0.2.1"},
		{map[string]any{"ipMasq": true, "runtimeConfig": map[string]any{"portMappings": []map[string]any{{"hostPort": 0, "containerPort": 80}}}}, 7, "portMappings[0]"},
		{map[string]any{"runtimeConfig": map[string]any{"portMappings": []map[string]any{{"hostPort": 80, "containerPort": 80}}}}, 7, "needs ipMasq"},
	} {
		_, err := ParseNetConf(conf(t, tt.extra), "")
		if err == nil || err.Code != tt.code || !strings.Contains(err.Msg, tt.msg) {
			t.Errorf("%v: %v; want code %d with %q", tt.extra, err, tt.code, tt.msg)
		}
	}
	if _, err := ParseNetConf([]byte("{"), ""); err == nil || err.Code != types.ErrDecodingFailure {
		t.Errorf("bad JSON: %v; want code 6", err)
	}
}

// TestCNIPortMappings: runtimes list a mapping once per host address
// family, or once for both; the families are kept apart, and a host port
// sent to two container ports in one family is refused (code 7), naming
// both mappings.
func TestCNIPortMappings(t *testing.T) {
	type m = map[string]any
	port := func(s string) plan.Port {
		p, err := plan.ParsePort(s)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tt := range []struct {
		name string
		maps []m
		want []string // ports as --publish writes them
		err  string
	}{
		{"once for both", []m{{"hostPort": 8080, "containerPort": 80}}, []string{"8080:80"}, ""},
		{"once per family", []m{{"hostPort": 8080, "containerPort": 80, "hostIP": "0.0.0.0"}, {"hostPort": 8080, "containerPort": 80, "hostIP": "::"}}, []string{"8080:80"}, ""},
		{"IPv6 first", []m{{"hostPort": 9090, "containerPort": 90, "hostIP": "::"}, {"hostPort": 9090, "containerPort": 90, "hostIP": "0.0.0.0"}}, []string{"9090:90"}, ""},
		{"one family", []m{{"hostPort": 9090, "containerPort": 90, "hostIP": "::"}}, []string{"[::]:9090:90"}, ""},
		{"twice the same", []m{{"hostPort": 8080, "containerPort": 80}, {"hostPort": 8080, "containerPort": 80, "hostIP": ""}}, []string{"8080:80"}, ""},
		{"both, then one", []m{{"hostPort": 8080, "containerPort": 80}, {"hostPort": 8080, "containerPort": 80, "hostIP": "::"}}, []string{"8080:80"}, ""},
		{"other protocol", []m{{"hostPort": 53, "containerPort": 53, "protocol": "udp"}, {"hostPort": 53, "containerPort": 5353, "protocol": "tcp"}}, []string{"53:53/udp", "53:5353/tcp"}, ""},
		{"families apart", []m{{"hostPort": 8080, "containerPort": 80, "hostIP": "0.0.0.0"}, {"hostPort": 8080, "containerPort": 81, "hostIP": "::"}}, []string{"0.0.0.0:8080:80", "[::]:8080:81"}, ""},
		{"two container ports", []m{{"hostPort": 8080, "containerPort": 80}, {"hostPort": 8080, "containerPort": 81}}, nil,
			"runtimeConfig.portMappings[0] (8080:80/tcp) and [1] (8080:81/tcp) publish host port 8080/tcp to two container ports; a host port leads to one"},
		{"two container ports, one family", []m{{"hostPort": 8080, "containerPort": 80, "hostIP": "0.0.0.0"}, {"hostPort": 8081, "containerPort": 80}, {"hostPort": 8080, "containerPort": 81}}, nil,
			"runtimeConfig.portMappings[0] (0.0.0.0:8080:80/tcp) and [2] (8080:81/tcp) publish host port 8080/tcp"},
		{"merged, then a clash", []m{{"hostPort": 8080, "containerPort": 80, "hostIP": "::"}, {"hostPort": 8080, "containerPort": 80, "hostIP": "0.0.0.0"}, {"hostPort": 8080, "containerPort": 81, "hostIP": "0.0.0.0"}}, nil,
			"runtimeConfig.portMappings[1] (0.0.0.0:8080:80/tcp) and [2] (0.0.0.0:8080:81/tcp)"},
	} {
		got, err := ParseNetConf(conf(t, map[string]any{"ipMasq": true, "runtimeConfig": map[string]any{"portMappings": tt.maps}}), "")
		if tt.err != "" {
			if err == nil || err.Code != types.ErrInvalidNetworkConfig || !strings.Contains(err.Msg, tt.err) {
				t.Errorf("%s: %v; want code 7 with %q", tt.name, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		var want []plan.Port
		for _, s := range tt.want {
			want = append(want, port(s))
		}
		if diff := cmp.Diff(want, got.Ports, cmp.Comparer(func(x, y netip.Addr) bool { return x == y })); diff != "" {
			t.Errorf("%s: ports (-want +got):\n%s", tt.name, diff)
		}
	}
}

// TestCNICall: the environment's names become typed input.
func TestCNICall(t *testing.T) {
	c, _ := ParseNetConf(conf(t, nil), "")
	call, err := newCall(c, Args{ContainerID: "abc", Netns: "/run/netns/x/../y", IfName: "net1"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if call.netns != (actions.Netns{File: "/run/netns/y"}) || call.ifc != "net1" || call.id != network.RuntimeID(plan.RuntimeRef{Network: "mynet", ContainerID: "abc", IfName: "net1"}) {
		t.Errorf("call: %+v", call)
	}
	for _, tt := range []struct {
		args Args
		msg  string
	}{
		{Args{ContainerID: "abc", Netns: "rel/path", IfName: "eth0"}, "not an absolute path"},
		{Args{ContainerID: "abc", IfName: "eth0"}, "CNI_NETNS is empty"},
		{Args{ContainerID: "abc", Netns: "/x", IfName: "a+b"}, "CNI_IFNAME"},
	} {
		if _, err := newCall(c, tt.args, true); err == nil || err.Code != types.ErrInvalidEnvironmentVariables || !strings.Contains(err.Msg, tt.msg) {
			t.Errorf("%+v: %v; want code 4 with %q", tt.args, err, tt.msg)
		}
	}
	if _, err := newCall(c, Args{ContainerID: "abc", IfName: "eth0"}, false); err != nil {
		t.Errorf("DEL without CNI_NETNS: %v", err)
	}
}

// TestCNIResult: the result lists the bridge, the host's end and the
// container's interface in its sandbox, the address on it, the routes and
// dns; printed in each version the config asks for.
func TestCNIResult(t *testing.T) {
	c, _ := ParseNetConf(conf(t, map[string]any{"isDefaultGateway": true, "dns": map[string]any{"nameservers": []string{"10.88.0.1"}},
		"ipam.routes": []map[string]any{{"dst": "198.51.100.0/24"}}}), "")
	call, _ := newCall(c, Args{ContainerID: "abc", Netns: "/run/netns/x", IfName: "eth0"}, true)
	f := plan.AttachmentFacts{Bridge: "cni0", IP: netip.MustParseAddr("10.88.0.2"), PrefixLen: 16, Gateway: netip.MustParseAddr("10.88.0.1"),
		HostVeth: "veth0a580002", If: "eth0"}
	res := buildResult(call, f, "aa:aa:aa:aa:aa:aa", "bb:bb:bb:bb:bb:bb", 1500)
	var b bytes.Buffer
	if err := PrintResult(&b, res, "1.1.0"); err != nil {
		t.Fatal(err)
	}
	want := `{
    "cniVersion": "1.1.0",
    "dns": {
        "nameservers": [
            "10.88.0.1"
        ]
    },
    "interfaces": [
        {
            "mac": "02:50:0a:58:00:01",
            "name": "cni0"
        },
        {
            "mac": "aa:aa:aa:aa:aa:aa",
            "name": "veth0a580002"
        },
        {
            "mac": "bb:bb:bb:bb:bb:bb",
            "mtu": 1500,
            "name": "eth0",
            "sandbox": "/run/netns/x"
        }
    ],
    "ips": [
        {
            "address": "10.88.0.2/16",
            "gateway": "10.88.0.1",
            "interface": 2
        }
    ],
    "routes": [
        {
            "dst": "0.0.0.0/0",
            "gw": "10.88.0.1"
        },
        {
            "dst": "198.51.100.0/24",
            "gw": "10.88.0.1"
        }
    ]
}
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	for _, v := range []string{"0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0"} {
		b.Reset()
		if err := PrintResult(&b, res, v); err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		var got struct {
			CNIVersion string `json:"cniVersion"`
		}
		if err := json.Unmarshal(b.Bytes(), &got); err != nil || got.CNIVersion != v || !strings.Contains(b.String(), "10.88.0.2/16") {
			t.Errorf("result as %s: %s", v, b.String())
		}
	}
	// Chained after another plugin, plumb's interfaces follow its.
	c.PrevResult = json.RawMessage(`{"cniVersion":"1.1.0","interfaces":[{"name":"lo0"}],"ips":[{"interface":0,"address":"192.0.2.9/32"}]}`)
	chain, err := chained(c, buildResult(call, f, "aa", "bb", 1500))
	if err != nil {
		t.Fatal(err)
	}
	if len(chain.Interfaces) != 4 || len(chain.IPs) != 2 || *chain.IPs[1].Interface != 3 {
		t.Errorf("chained result: %+v", chain)
	}
	if msg := prevResultDrift(c, f); !strings.Contains(msg, "does not list its address 10.88.0.2") {
		t.Errorf("prevResult with another address: %q", msg)
	}
	c.PrevResult, _ = json.Marshal(&types100.Result{CNIVersion: "1.1.0", IPs: res.IPs})
	if msg := prevResultDrift(c, f); msg != "" {
		t.Errorf("prevResult with its address: %q", msg)
	}
}
