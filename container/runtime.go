package container

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"plumb/actions"
	"plumb/plan"
)

// Runtimes are the OCI runtimes plumb hands containers to, in the order
// it prefers them.
var Runtimes = []string{"crun", "runc"}

// unifiedCgroups says whether /sys/fs/cgroup is the cgroup v2 file system
// alone, as proc's self/mountinfo lists it (proc "" is /proc). A host in
// "hybrid" mode (v1 controllers, an empty v2 hierarchy beside them, as
// this project's CI machine) is refused by crun 1.8, even with
// --cgroup-manager=disabled; runc runs there.
func unifiedCgroups(proc string) bool {
	if proc == "" {
		proc = "/proc"
	}
	data, err := os.ReadFile(filepath.Join(proc, "self", "mountinfo"))
	if err != nil {
		return false
	}
	fstype := ""
	for _, line := range strings.Split(string(data), "\n") {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER
		f := strings.Fields(line)
		i := slices.Index(f, "-")
		if len(f) > 4 && i > 4 && i+1 < len(f) && f[4] == "/sys/fs/cgroup" {
			fstype = f[i+1] // the last mount there is the one seen
		}
	}
	return fstype == "cgroup2"
}

// runtimeOf is the runtime name keeping its containers' state in state.
// crun runs without cgroups of its own (see ChooseRuntime).
func runtimeOf(name, state string) actions.Runtime {
	return actions.Runtime{Name: name, State: state, NoCgroups: name == "crun"}
}

// ChooseRuntime picks the runtime: name ("crun" or "runc"; "" for the
// default: crun where it can run here, else runc), kept in stateDir's
// runtime/NAME. crun runs without cgroups of its own unless the container
// has limits (--memory, --cpus, --pids-limit: see Container's plan), as
// there is nothing for one to hold otherwise.
func ChooseRuntime(name, stateDir, proc string) (actions.Runtime, error) {
	installed := func(n string) bool { _, err := exec.LookPath(n); return err == nil }
	rt := func(n string) actions.Runtime { return runtimeOf(n, filepath.Join(stateDir, "runtime", n)) }
	hybrid := "crun 1.8 refuses this host's cgroup layout (cgroup v1 controllers beside an empty v2 hierarchy, \"hybrid\"): use --runtime runc, or boot with cgroup v2 alone (systemd.unified_cgroup_hierarchy=1)"
	switch name {
	case "crun":
		if !installed("crun") {
			return actions.Runtime{}, plan.Refuse("runtime", "crun: not found — install the crun package")
		}
		if !unifiedCgroups(proc) {
			return actions.Runtime{}, plan.Refuse("runtime", "%s", hybrid)
		}
		return rt("crun"), nil
	case "runc":
		if !installed("runc") {
			return actions.Runtime{}, plan.Refuse("runtime", "runc: not found — install the runc package")
		}
		return rt("runc"), nil
	case "":
		switch {
		case installed("crun") && unifiedCgroups(proc):
			return rt("crun"), nil
		case installed("runc"):
			return rt("runc"), nil
		case installed("crun"):
			return actions.Runtime{}, plan.Refuse("runtime", "%s; runc: not found — install the runc package", hybrid)
		}
		return actions.Runtime{}, plan.Refuse("runtime", "no OCI runtime found: install the crun or the runc package (plumb hands the container's process to one of them)")
	}
	return actions.Runtime{}, plan.Refuse("runtime", "%q is not a runtime plumb knows: crun or runc", name)
}

// checkRuntime is Preflight's: the runtime chosen is still there.
func checkRuntime(rt actions.Runtime) error {
	if _, err := exec.LookPath(rt.Name); err != nil {
		return &plan.Refused{Flag: "runtime", Msg: fmt.Sprintf("%s: not found — install the %s package", rt.Name, rt.Name)}
	}
	return nil
}
