package plan

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestHostnameFrom(t *testing.T) {
	for name, want := range map[string]string{
		"web":                               "web",
		"my_app":                            "my-app",
		"my_app_2":                          "my-app-2",
		"a_":                                "a",
		"x.-y_":                             "x.y",
		"a..b":                              "a.b",
		"Web.Server":                        "Web.Server",
		"___":                               "container",
		strings.Repeat("a", 70):             strings.Repeat("a", 63),
		"b" + strings.Repeat("_", 61) + "c": "b" + strings.Repeat("-", 61) + "c",
		"b" + strings.Repeat("_", 62) + "c": "b", // a label of 64: cut to 63, then trimmed
	} {
		got := HostnameFrom(name)
		if got != want {
			t.Errorf("HostnameFrom(%q) = %q, want %q", name, got, want)
		}
		if err := CheckHostname(got); err != nil {
			t.Errorf("HostnameFrom(%q) = %q, which hostname(1) refuses: %v", name, got, err)
		}
	}
	// Every name Docker accepts for a container ([a-zA-Z0-9][a-zA-Z0-9_.-]+)
	// and plumb too (at most 58 bytes, so that plumb-NAME fits) gives a
	// hostname that hostname(1) takes.
	const first = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	const rest = first + "_.-"
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		b := []byte{first[r.IntN(len(first))]}
		for n := 1 + r.IntN(57); len(b) < n+1; {
			b = append(b, rest[r.IntN(len(rest))])
		}
		name := string(b)
		if err := CheckObjectName("<name>", name); err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		if err := CheckHostname(HostnameFrom(name)); err != nil {
			t.Fatalf("HostnameFrom(%q) = %q: %v", name, HostnameFrom(name), err)
		}
	}
}

func TestCheckHostname(t *testing.T) {
	for _, ok := range []string{"web", "a-b.c", "1abc", "A.B", strings.Repeat("a", 63), strings.Repeat("a", 62) + ".b"} {
		if err := CheckHostname(ok); err != nil {
			t.Errorf("CheckHostname(%q): %v", ok, err)
		}
	}
	// What hostname(1) refuses here ("the specified hostname is invalid"),
	// an option it would read (-a prints the host's aliases), and what the
	// kernel refuses (more than 64 bytes).
	for bad, why := range map[string]string{
		"-a": "starts with '-'", "--help": "starts with '-'", "my_app": "RFC 1123", "abc-": "RFC 1123",
		"a..b": "RFC 1123", ".a": "RFC 1123", "a.": "RFC 1123", "": "empty", "a b": "RFC 1123", "a/b": "RFC 1123",
		"a\nb": "RFC 1123", "é": "RFC 1123", strings.Repeat("a", 64) + "b": "at most 64",
		strings.Repeat("a", 64): "RFC 1123", "a.-b": "RFC 1123",
	} {
		if err := CheckHostname(bad); err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("CheckHostname(%q) = %v, want ...%s...", bad, err, why)
		}
	}
	c := &Container{Name: "h1", Layers: []string{"/l"}, Cmd: []string{"hostname"}, Hostname: "-a"}
	var r *Refused
	if err := c.Check(); !errors.As(err, &r) || r.Flag != "hostname" {
		t.Errorf("--hostname=-a: %v, want a refusal of --hostname", err)
	}
	c = &Container{Name: "my_app", Layers: []string{"/l"}, Cmd: []string{"sleep", "1"}}
	if err := c.Check(); err != nil || c.hostname() != "my-app" {
		t.Errorf("my_app: %v, hostname %q", err, c.hostname())
	}
}
