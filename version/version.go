// Package version says which plumb this is: the release it was cut as,
// the commit it was built from and the Go that built it, for `plumb
// version`, the man pages' date and the Debian package's version.
package version

import (
	"runtime"
	"runtime/debug"
)

// Number is the release; make deb names the package after it.
const Number = "0.1.0"

// Date is Number's release date, which the man pages carry (a build's
// date would make every `make man` differ).
const Date = "2026-12-06"

// commit is set by make (-ldflags -X plumb/version.commit=...): go build
// records the commit itself only with -buildvcs, which GOFLAGS may turn
// off (it is off on this project's machine).
var commit string

// Commit is the commit the binary was built from, with "-dirty" when the
// tree had changes: make's, else as go build recorded it, else "unknown"
// (go run, go test, a build outside a git checkout).
func Commit() string {
	if commit != "" {
		return commit
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	var rev, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if rev == "" {
		return "unknown"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	return rev + dirty
}

// Go is the Go release that built the binary.
func Go() string { return runtime.Version() }
