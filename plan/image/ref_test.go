package image

import (
	"encoding/json"
	"strings"
	"testing"
)

const dig = "sha256:1111111111111111111111111111111111111111111111111111111111111111"

func TestParseRef(t *testing.T) {
	for _, tc := range []struct {
		in                          string
		registry, repo, tag, digest string
		full, familiar              string
		plainHTTP                   bool
		ggcrHTTP                    bool // go-containerregistry's own scheme rule says http
	}{
		// Docker Hub names, as `docker pull` resolves them.
		{in: "busybox", registry: "index.docker.io", repo: "library/busybox", tag: "latest",
			full: "index.docker.io/library/busybox:latest", familiar: "busybox:latest"},
		{in: "busybox:1.36", registry: "index.docker.io", repo: "library/busybox", tag: "1.36",
			full: "index.docker.io/library/busybox:1.36", familiar: "busybox:1.36"},
		{in: "docker.io/library/busybox", registry: "index.docker.io", repo: "library/busybox", tag: "latest",
			full: "index.docker.io/library/busybox:latest", familiar: "busybox:latest"},
		{in: "docker.io/busybox", registry: "index.docker.io", repo: "library/busybox", tag: "latest",
			full: "index.docker.io/library/busybox:latest", familiar: "busybox:latest"},
		{in: "someone/tool:2", registry: "index.docker.io", repo: "someone/tool", tag: "2",
			full: "index.docker.io/someone/tool:2", familiar: "someone/tool:2"},
		// Other registries: the first component is a host when it has '.', ':' or is localhost.
		{in: "ghcr.io/owner/app:v1", registry: "ghcr.io", repo: "owner/app", tag: "v1",
			full: "ghcr.io/owner/app:v1", familiar: "ghcr.io/owner/app:v1"},
		{in: "127.0.0.1:5000/app", registry: "127.0.0.1:5000", repo: "app", tag: "latest",
			full: "127.0.0.1:5000/app:latest", familiar: "127.0.0.1:5000/app:latest", plainHTTP: true},
		{in: "localhost:5000/a/b:t", registry: "localhost:5000", repo: "a/b", tag: "t",
			full: "localhost:5000/a/b:t", familiar: "localhost:5000/a/b:t", plainHTTP: true},
		{in: "localhost/app", registry: "localhost", repo: "app", tag: "latest",
			full: "localhost/app:latest", familiar: "localhost/app:latest", plainHTTP: true},
		{in: "127.0.0.2:80/app", registry: "127.0.0.2:80", repo: "app", tag: "latest",
			full: "127.0.0.2:80/app:latest", familiar: "127.0.0.2:80/app:latest", plainHTTP: true},
		{in: "[::1]:5000/app", registry: "[::1]:5000", repo: "app", tag: "latest",
			full: "[::1]:5000/app:latest", familiar: "[::1]:5000/app:latest", plainHTTP: true},
		{in: "reg.localhost:5000/app", registry: "reg.localhost:5000", repo: "app", tag: "latest",
			full: "reg.localhost:5000/app:latest", familiar: "reg.localhost:5000/app:latest", plainHTTP: false, ggcrHTTP: true}, // *.localhost may resolve elsewhere: plumb's guard refuses http
		// Private addresses are https only (go-containerregistry alone would try http too).
		{in: "10.0.0.5:5000/app", registry: "10.0.0.5:5000", repo: "app", tag: "latest",
			full: "10.0.0.5:5000/app:latest", familiar: "10.0.0.5:5000/app:latest", ggcrHTTP: true},
		{in: "192.168.1.2/app", registry: "192.168.1.2", repo: "app", tag: "latest",
			full: "192.168.1.2/app:latest", familiar: "192.168.1.2/app:latest", ggcrHTTP: true},
		// Digests: by digest alone, and with a tag kept for display.
		{in: "busybox@" + dig, registry: "index.docker.io", repo: "library/busybox", digest: dig,
			full: "index.docker.io/library/busybox@" + dig, familiar: "busybox@" + dig},
		{in: "busybox:1.36@" + dig, registry: "index.docker.io", repo: "library/busybox", tag: "1.36", digest: dig,
			full: "index.docker.io/library/busybox:1.36@" + dig, familiar: "busybox:1.36@" + dig},
		{in: "127.0.0.1:5000/app@" + dig, registry: "127.0.0.1:5000", repo: "app", digest: dig,
			full: "127.0.0.1:5000/app@" + dig, familiar: "127.0.0.1:5000/app@" + dig, plainHTTP: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			r, err := ParseRef(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if r.Registry() != tc.registry || r.Repository() != tc.repo || r.Tag() != tc.tag || r.Digest() != tc.digest {
				t.Errorf("got registry %q repo %q tag %q digest %q", r.Registry(), r.Repository(), r.Tag(), r.Digest())
			}
			if r.String() != tc.full {
				t.Errorf("String() = %q, want %q", r.String(), tc.full)
			}
			if r.Familiar() != tc.familiar {
				t.Errorf("Familiar() = %q, want %q", r.Familiar(), tc.familiar)
			}
			if r.PlainHTTP() != tc.plainHTTP {
				t.Errorf("PlainHTTP() = %v, want %v", r.PlainHTTP(), tc.plainHTTP)
			}
			// The full name parses back to the same Ref.
			again, err := ParseRef(r.String())
			if err != nil || again != r {
				t.Errorf("ParseRef(%q) = %#v, %v; want %#v", r.String(), again, err, r)
			}
			nr, err := r.nameRef(false)
			if err != nil {
				t.Fatal(err)
			}
			// The reference handed to go-containerregistry names the same thing.
			wantName := tc.registry + "/" + tc.repo
			if tc.digest != "" {
				wantName += "@" + tc.digest
			} else {
				wantName += ":" + tc.tag
			}
			if nr.Name() != wantName {
				t.Errorf("go-containerregistry name %q, want %q", nr.Name(), wantName)
			}
			if want := map[bool]string{true: "http", false: "https"}[tc.plainHTTP || tc.ggcrHTTP]; nr.Context().Scheme() != want {
				t.Errorf("scheme %q, want %q", nr.Context().Scheme(), want)
			}
		})
	}
}

func TestParseRefRefuses(t *testing.T) {
	for _, in := range []string{
		"",
		"Busybox",                    // upper case
		"busybox:",                   // empty tag
		"busybox@sha256:abc",         // short digest
		"http://127.0.0.1:5000/app",  // a URL, not a reference
		"busybox:a:b:c",              // not a tag
		"busybox@" + dig + "@" + dig, // two digests
	} {
		if r, err := ParseRef(in); err == nil {
			t.Errorf("ParseRef(%q) = %v, want an error", in, r)
		} else if in != "" && !strings.Contains(err.Error(), in) {
			t.Errorf("ParseRef(%q): error %q does not name the input", in, err)
		}
	}
}

func TestRefJSON(t *testing.T) {
	r, err := ParseRef("busybox")
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(struct{ Ref Ref }{r})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"Ref":"index.docker.io/library/busybox:latest"}` {
		t.Errorf("json %s", b)
	}
	var back struct{ Ref Ref }
	if err := json.Unmarshal(b, &back); err != nil || back.Ref != r {
		t.Errorf("back %v, %v", back.Ref, err)
	}
}

func TestLoopbackHost(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "localhost:5000": true, "LOCALHOST:1": true, "a.localhost": false,
		"127.0.0.1": true, "127.0.0.1:5000": true, "127.9.9.9:1": true, "::1": true, "[::1]": true,
		"[::1]:5000": true, "[::ffff:127.0.0.1]:80": true,
		"10.0.0.1": false, "192.168.0.1:5000": false, "localhost.example.com": false,
		"example.com:5000": false, "[::2]:5000": false, "": false,
	} {
		if got := loopbackHost(host); got != want {
			t.Errorf("loopbackHost(%q) = %v, want %v", host, got, want)
		}
	}
}
