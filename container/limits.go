package container

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"plumb/plan"
)

// Limits are docker run's resource flags, as the runtime's cgroups apply
// them (the spec's linux.resources). Zero is no limit.
type Limits struct {
	Memory     int64 // --memory, bytes
	MemorySwap int64 // --memory-swap: memory and swap together; -1 unlimited
	NanoCPUs   int64 // --cpus × 10⁹
	PidsLimit  int64 // --pids-limit; -1 unlimited
}

// LimitsOf are the limits a container's record keeps.
func LimitsOf(f plan.ContainerFacts) Limits {
	return Limits{Memory: f.Memory, MemorySwap: f.MemorySwap, NanoCPUs: f.NanoCPUs, PidsLimit: f.PidsLimit}
}

// Any says whether a limit was asked for.
func (l Limits) Any() bool { return l != Limits{} }

// cpuPeriod is the CFS period Docker gives --cpus (100 ms).
const cpuPeriod = 100000

// minPids is the least --pids-limit a container with the root's hook
// starts under.
const minPids = 8

// minMemory is Docker's least --memory (6 MiB).
const minMemory = 6 << 20

// ParseSize reads a size as docker run's --memory takes it (64m, 1g,
// 512k, bytes).
func ParseSize(flag, v string) (int64, error) {
	n, err := parseSize(v)
	if err != nil {
		return 0, plan.RefuseErr(flag, err)
	}
	return n, nil
}

// check applies docker run's rules to the flags alone.
func (l Limits) check() error {
	switch {
	case l.Memory != 0 && l.Memory < minMemory:
		return plan.Refuse("memory", "the least memory limit is 6MB (Docker's)")
	case l.MemorySwap != 0 && l.Memory == 0:
		return plan.Refuse("memory-swap", "give --memory too: --memory-swap is memory and swap together")
	case l.MemorySwap > 0 && l.MemorySwap < l.Memory:
		return plan.Refuse("memory-swap", "it is memory and swap together: at least --memory (%d bytes), or -1 for unlimited swap", l.Memory)
	case l.MemorySwap < -1:
		return plan.Refuse("memory-swap", "a size, or -1 for unlimited swap")
	case l.NanoCPUs < 0 || l.NanoCPUs > int64(runtime.NumCPU())*1e9:
		return plan.Refuse("cpus", "from 0.01 to %d.00: this host has %d CPUs", runtime.NumCPU(), runtime.NumCPU())
	case l.NanoCPUs > 0 && l.NanoCPUs < 1e7:
		return plan.Refuse("cpus", "from 0.01 to %d.00", runtime.NumCPU())
	case l.PidsLimit < -1:
		return plan.Refuse("pids-limit", "a number of processes, or -1 for no limit")
	}
	return nil
}

// resources are the limits as the spec's linux.resources: --cpus as a CFS
// quota over Docker's 100 ms period; swap, when --memory-swap is not
// given, as much as the memory again (Docker's default) where the host
// accounts for swap.
func (l Limits) resources(swapAccounting bool) *specs.LinuxResources {
	if !l.Any() {
		return nil
	}
	r := &specs.LinuxResources{}
	if l.Memory > 0 {
		mem := l.Memory
		r.Memory = &specs.LinuxMemory{Limit: &mem}
		switch swap := l.MemorySwap; {
		case swap != 0:
			r.Memory.Swap = &swap
		case swapAccounting:
			swap = 2 * l.Memory
			r.Memory.Swap = &swap
		}
	}
	if l.NanoCPUs > 0 {
		quota, period := l.NanoCPUs*cpuPeriod/1e9, uint64(cpuPeriod)
		r.CPU = &specs.LinuxCPU{Quota: &quota, Period: &period}
	}
	if l.PidsLimit != 0 {
		n := l.PidsLimit
		r.Pids = &specs.LinuxPids{Limit: &n}
	}
	return r
}

// cgroupRoot is where the host's cgroups are mounted.
var cgroupRoot = "/sys/fs/cgroup"

// swapAccounted says whether the host's cgroups limit swap: on cgroup
// v2 when a cgroup below the root has memory.swap.max (the root never
// has it; a kernel without swap accounting gives none); on v1 when the
// memory.memsw files exist.
func swapAccounted() bool {
	if unifiedCgroups("") {
		found, _ := filepath.Glob(filepath.Join(cgroupRoot, "*", "memory.swap.max"))
		return len(found) > 0
	}
	_, err := os.Stat(filepath.Join(cgroupRoot, "memory", "memory.memsw.limit_in_bytes"))
	return err == nil
}

// checkHost refuses limits the host's cgroups cannot apply: a limit is
// never silently dropped. cgroup v2 must offer the controller in its
// root's cgroup.controllers; cgroup v1 (runc on a hybrid host) must have
// its hierarchy mounted, and swap accounting for --memory-swap.
func (l Limits) checkHost(rt string) error {
	if !l.Any() {
		return nil
	}
	need := map[string]string{}
	if l.Memory != 0 {
		need["memory"] = "memory"
	}
	if l.NanoCPUs != 0 {
		need["cpu"] = "cpus"
	}
	if l.PidsLimit != 0 {
		need["pids"] = "pids-limit"
	}
	if unifiedCgroups("") {
		data, err := os.ReadFile(filepath.Join(cgroupRoot, "cgroup.controllers"))
		if err != nil {
			return plan.Refuse("", "the limits need cgroups, and %s cannot be read: %v", cgroupRoot, err)
		}
		have := strings.Fields(string(data))
		for _, c := range []string{"memory", "cpu", "pids"} {
			if flag, ok := need[c]; ok && !slices.Contains(have, c) {
				return plan.Refuse(flag, "%s cannot apply it: this host's cgroup v2 hierarchy (%s) has no %s controller (cgroup.controllers: %q); its controllers may be on cgroup v1, where runc applies them (--runtime runc)", rt, cgroupRoot, c, strings.TrimSpace(string(data)))
			}
		}
		if l.MemorySwap != 0 && !swapAccounted() {
			return plan.Refuse("memory-swap", "this host's kernel does not account for swap in cgroups (no memory.swap.max): boot with swapaccount=1")
		}
		return nil
	}
	files := map[string]string{"memory": "memory/tasks", "cpu": "cpu/cpu.cfs_quota_us", "pids": "pids/tasks"}
	for _, c := range []string{"memory", "cpu", "pids"} {
		if flag, ok := need[c]; ok {
			if _, err := os.Stat(filepath.Join(cgroupRoot, files[c])); err != nil {
				return plan.Refuse(flag, "%s cannot apply it: no cgroup v1 %s hierarchy at %s", rt, c, filepath.Join(cgroupRoot, filepath.Dir(files[c])))
			}
		}
	}
	if l.MemorySwap != 0 && !swapAccounted() {
		return plan.Refuse("memory-swap", "this host's kernel does not account for swap in cgroups (no memory.memsw.limit_in_bytes): boot with swapaccount=1")
	}
	return nil
}
