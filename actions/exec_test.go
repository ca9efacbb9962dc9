package actions

import "testing"

func TestNeedsXtablesLock(t *testing.T) {
	tests := []struct {
		tool string
		want bool
	}{
		{"iptables", true},
		{"iptables-save", true},
		{"iptables-restore", true},
		{"ip6tables", true},
		{"ip6tables-save", true},
		{"ip6tables-restore", true},
		{"iptables-nft", true},
		{"iptables-legacy-restore", true},
		{"/usr/sbin/ip6tables", true},
		{"ip", false},
		{"ipset", false},
		{"nsenter", false},
		{"sysctl", false},
		{"ebtables", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := needsXtablesLock(tt.tool); got != tt.want {
			t.Errorf("needsXtablesLock(%q) = %v, want %v", tt.tool, got, tt.want)
		}
	}
}
