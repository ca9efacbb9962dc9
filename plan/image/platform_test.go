package image

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestHost(t *testing.T) {
	h := Host()
	if h.OS != runtime.GOOS || h.Architecture != runtime.GOARCH {
		t.Errorf("Host() = %v, want %s/%s", h, runtime.GOOS, runtime.GOARCH)
	}
	if (h.Variant != "") != (runtime.GOARCH == "arm") {
		t.Errorf("Host() = %v: a variant only for arm", h)
	}
}

func TestArmVariant(t *testing.T) {
	dir := t.TempDir()
	for text, want := range map[string]string{
		"processor\t: 0\nCPU architecture: 7\nCPU variant\t: 0x0\n": "v7",
		"CPU architecture: 8\n":                      "v8",
		"CPU architecture\t: 6TEJ\n":                 "v7", // unknown spelling: the default
		"CPU architecture\t: 6\n":                    "v6",
		"CPU architecture: AArch64\n":                "v8",
		"model name: something else\n":               "v7",
		"CPU architecture: 5\nCPU architecture: 7\n": "v5",
	} {
		p := filepath.Join(dir, "cpuinfo")
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := armVariant(p); got != want {
			t.Errorf("armVariant(%q) = %q, want %q", text, got, want)
		}
	}
	if got := armVariant(filepath.Join(dir, "absent")); got != "v7" {
		t.Errorf("armVariant(absent) = %q, want v7", got)
	}
}

func TestRank(t *testing.T) {
	p := func(os, arch, variant string) v1.Platform {
		return v1.Platform{OS: os, Architecture: arch, Variant: variant}
	}
	for _, tc := range []struct {
		have v1.Platform
		want Platform
		rank int
		ok   bool
	}{
		{p("linux", "amd64", ""), Platform{"linux", "amd64", ""}, 0, true},
		{p("linux", "amd64", "v1"), Platform{"linux", "amd64", ""}, 0, true},
		{p("linux", "amd64", "v3"), Platform{"linux", "amd64", ""}, 0, false}, // needs a newer CPU than assumed
		{p("linux", "arm64", ""), Platform{"linux", "amd64", ""}, 0, false},
		{p("windows", "amd64", ""), Platform{"linux", "amd64", ""}, 0, false},
		{p("unknown", "unknown", ""), Platform{"linux", "amd64", ""}, 0, false}, // buildkit's attestations
		{p("linux", "arm64", "v8"), Platform{"linux", "arm64", ""}, 0, true},
		{p("linux", "arm64", ""), Platform{"linux", "arm64", "v8"}, 0, true},
		{p("linux", "arm", "v7"), Platform{"linux", "arm", "v7"}, 0, true},
		{p("linux", "arm", ""), Platform{"linux", "arm", "v7"}, 0, true},
		{p("linux", "arm", "v6"), Platform{"linux", "arm", "v7"}, 1, true},
		{p("linux", "arm", "v5"), Platform{"linux", "arm", "v8"}, 3, true},
		{p("linux", "arm", "v7"), Platform{"linux", "arm", "v6"}, 0, false},
	} {
		r, ok := rank(tc.have, tc.want)
		if r != tc.rank || ok != tc.ok {
			t.Errorf("rank(%v, %v) = %d, %v; want %d, %v", tc.have, tc.want, r, ok, tc.rank, tc.ok)
		}
	}
}
