package image

import (
	"bufio"
	"os"
	"runtime"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Platform is what an image runs on, as image indexes and configs name it: "linux/amd64",
// "linux/arm/v7". Names are Go's (GOOS, GOARCH), as in the OCI image spec.
type Platform struct {
	OS           string
	Architecture string
	Variant      string // "v7" for arm; "" where the architecture has none worth naming
}

// Host is this machine's platform: runtime.GOOS and runtime.GOARCH, and for 32-bit arm the
// CPU's architecture version from /proc/cpuinfo ("CPU architecture: 7" is v7), as containerd
// finds it; v7 when cpuinfo does not say.
func Host() Platform {
	p := Platform{OS: runtime.GOOS, Architecture: runtime.GOARCH}
	if p.Architecture == "arm" {
		p.Variant = armVariant("/proc/cpuinfo")
	}
	return p
}

// armVariant reads the CPU architecture version of an arm CPU from a cpuinfo file.
func armVariant(cpuinfo string) string {
	f, err := os.Open(cpuinfo)
	if err != nil {
		return "v7"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "CPU architecture") {
			continue
		}
		v = strings.TrimSpace(v)
		switch {
		case strings.HasPrefix(v, "8"), strings.HasPrefix(v, "AArch64"):
			return "v8"
		case v == "7" || v == "6" || v == "5":
			return "v" + v
		}
		break
	}
	return "v7"
}

// String is "os/arch" or "os/arch/variant".
func (p Platform) String() string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// describe names a wanted platform in a sentence: "this machine (linux/amd64)" when it is.
func (p Platform) describe() string {
	if p == Host() {
		return "this machine (" + p.String() + ")"
	}
	return p.String()
}

func (p Platform) orHost() Platform {
	if p.OS == "" && p.Architecture == "" {
		return Host()
	}
	return p
}

// normVariant gives the variant an architecture means when none is written, as containerd
// normalises them: arm64 is v8, arm is v7, amd64 is v1.
func normVariant(arch, variant string) string {
	if variant != "" {
		return variant
	}
	switch arch {
	case "arm64":
		return "v8"
	case "arm":
		return "v7"
	case "amd64":
		return "v1"
	}
	return ""
}

// rank says how well an image for platform have runs where want is asked for: 0 is an exact
// match, higher is a fallback (an arm/v6 image on an arm/v7 CPU is 1), and ok is false when it
// cannot run there. Only OS, architecture and variant count: OS version and features are
// Windows' business.
func rank(have v1.Platform, want Platform) (int, bool) {
	if have.OS != want.OS || have.Architecture != want.Architecture {
		return 0, false
	}
	hv, wv := normVariant(have.Architecture, have.Variant), normVariant(want.Architecture, want.Variant)
	if hv == wv {
		return 0, true
	}
	if want.Architecture == "arm" {
		// An arm CPU runs the images of the versions below its own (containerd's matcher).
		order := []string{"v8", "v7", "v6", "v5"}
		wi, hi := indexOf(order, wv), indexOf(order, hv)
		if wi >= 0 && hi > wi {
			return hi - wi, true
		}
	}
	return 0, false
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}
