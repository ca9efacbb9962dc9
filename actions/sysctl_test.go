package actions

import "testing"

// TestLinkSysctlKey: a link's key as sysctl reads it, with slashes where
// the link's name has a dot (sysctl would read the dot as a level).
func TestLinkSysctlKey(t *testing.T) {
	for _, c := range []struct {
		family, param string
		dev           IfName
		want          string
	}{
		{"ipv6", "accept_ra", "br0", "net.ipv6.conf.br0.accept_ra"},
		{"ipv6", "accept_ra", "br.1", "net/ipv6/conf/br.1/accept_ra"},
		{"ipv4", "route_localnet", "pd_n.1", "net/ipv4/conf/pd_n.1/route_localnet"},
	} {
		if got := LinkSysctlKey(c.family, c.dev, c.param); got != c.want {
			t.Errorf("LinkSysctlKey(%s, %s, %s) = %s, want %s", c.family, c.dev, c.param, got, c.want)
		}
	}
	if dev, ok := routeLocalnet(LinkSysctlKey("ipv4", "br.1", "route_localnet")); !ok || dev != "br.1" {
		t.Errorf("routeLocalnet reads %q, %v back", dev, ok)
	}
}
