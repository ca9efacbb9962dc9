package main

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// profiled runs main's work under a CPU profile when PLUMB_CPUPROFILE
// names a directory: one file per process (cpu-PID.pprof), so that the
// runs of a benchmark loop can be read together (`go tool pprof bin/plumb
// DIR/*.pprof`). A command of plumb's takes tens of milliseconds, a few
// samples each: only many runs merged say where its time goes.
func profiled(work func() int) int {
	dir := os.Getenv("PLUMB_CPUPROFILE")
	if dir == "" {
		return work()
	}
	f, err := os.Create(fmt.Sprintf("%s/cpu-%d.pprof", dir, os.Getpid()))
	if err != nil {
		fmt.Fprintf(os.Stderr, "plumb: PLUMB_CPUPROFILE: %v\n", err)
		return work()
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintf(os.Stderr, "plumb: PLUMB_CPUPROFILE: %v\n", err)
		return work()
	}
	defer pprof.StopCPUProfile()
	return work()
}
