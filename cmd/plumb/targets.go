package main

import (
	"plumb/actions"
	"plumb/targets"
)

// fromFlags starts a list of containers with the flags' values.
func fromFlags(pids []pidFlag, names []netnsFlag, ips []addrFlag) *targets.List {
	l := &targets.List{}
	for _, p := range pids {
		l.Targets = append(l.Targets, actions.Netns{PID: int(p)})
	}
	for _, n := range names {
		l.Targets = append(l.Targets, actions.Netns{Name: string(n)})
	}
	for _, a := range ips {
		l.IPs = append(l.IPs, a.Addr)
	}
	return l
}
