package main

import (
	"os"
	"strconv"
	"strings"

	"plumb/plan"
)

// The capabilities plumb's commands need: network configuration
// (CAP_NET_ADMIN) and mounts and namespaces (CAP_SYS_ADMIN).
const (
	capNetAdmin = 12
	capSysAdmin = 21
)

// privileged refuses, before anything runs, a command that would change
// the host in a process without the capabilities for it: otherwise its
// first step fails "Operation not permitted" half-way into the plan.
func privileged() error {
	eff, ok := effectiveCaps()
	if !ok || eff&(1<<capNetAdmin) != 0 && eff&(1<<capSysAdmin) != 0 {
		return nil // unknown: let the commands say
	}
	return &plan.Refused{Msg: "changing the host's network and mounts needs root (or CAP_NET_ADMIN and CAP_SYS_ADMIN); " +
		"--dry-run, -o json and -o sh print the plan without them"}
}

// effectiveCaps reads this process's effective capability set.
func effectiveCaps() (uint64, bool) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "CapEff:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return n, err == nil
		}
	}
	return 0, false
}
