package image

import (
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// Ref is an image reference as Docker resolves it: a registry, a repository, and a tag, a
// digest or both. Names without a registry are Docker Hub's, and one-word Docker Hub names
// are in its "library/" namespace, so "busybox" is index.docker.io/library/busybox:latest
// (go-containerregistry spells Docker Hub index.docker.io; Docker itself prints docker.io).
//
// The zero Ref names nothing. Refs compare with == when both came from ParseRef.
type Ref struct {
	registry   string // "index.docker.io", "127.0.0.1:5000"
	repository string // "library/busybox"
	tag        string // "latest"; "" for a digest given without a tag
	digest     string // "sha256:..." or ""
}

// ParseRef parses an image reference as `docker pull` takes it: [HOST[:PORT]/]REPO[:TAG][@DIGEST].
// The first component is a registry when it is "localhost" or holds a '.' or ':'. A missing
// tag is "latest" unless a digest is given; with both, the digest decides what is fetched and
// the tag is kept for display, as Docker does.
func ParseRef(s string) (Ref, error) {
	if s == "" {
		return Ref{}, fmt.Errorf("image reference: empty")
	}
	r, err := name.ParseReference(s)
	if err != nil {
		return Ref{}, fmt.Errorf("image reference %q: %w", s, err)
	}
	out := Ref{registry: r.Context().RegistryStr(), repository: r.Context().RepositoryStr()}
	switch r := r.(type) {
	case name.Tag:
		out.tag = r.TagStr()
	case name.Digest:
		out.digest = r.DigestStr()
		// ggcr drops a tag written before the digest; keep it when one was written.
		base, _, _ := strings.Cut(s, "@")
		if t, err := name.NewTag(base); err == nil && strings.HasSuffix(base, ":"+t.TagStr()) {
			out.tag = t.TagStr()
		}
	}
	return out, nil
}

// Registry is the registry's host, with its port when one was given: "index.docker.io".
func (r Ref) Registry() string { return r.registry }

// Repository is the repository within the registry: "library/busybox".
func (r Ref) Repository() string { return r.repository }

// Tag is the tag, "latest" when none was written; "" for a reference by digest alone.
func (r Ref) Tag() string { return r.tag }

// Digest is the manifest digest the reference pins ("sha256:..."), or "".
func (r Ref) Digest() string { return r.digest }

// IsZero reports whether r names nothing.
func (r Ref) IsZero() bool { return r == Ref{} }

// String is the full name: registry/repository[:tag][@digest].
func (r Ref) String() string {
	if r.IsZero() {
		return ""
	}
	s := r.registry + "/" + r.repository
	if r.tag != "" {
		s += ":" + r.tag
	}
	if r.digest != "" {
		s += "@" + r.digest
	}
	return s
}

// Familiar is the name as `docker images` shows it: Docker Hub's registry and its "library/"
// namespace left out ("busybox:latest", "someone/tool:1", "127.0.0.1:5000/app:v1").
func (r Ref) Familiar() string {
	s := r.String()
	if r.registry == name.DefaultRegistry {
		s = strings.TrimPrefix(s, name.DefaultRegistry+"/")
		s = strings.TrimPrefix(s, "library/")
	}
	return s
}

// MarshalText writes String, so a Ref in JSON is its full name.
func (r Ref) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText parses what MarshalText wrote; an empty text is the zero Ref.
func (r *Ref) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*r = Ref{}
		return nil
	}
	p, err := ParseRef(string(b))
	if err != nil {
		return err
	}
	*r = p
	return nil
}

// PlainHTTP reports whether plumb may talk to r's registry over plain http without being
// told to (Options.Insecure): only when the registry is this machine, as Docker's default
// insecure range 127.0.0.0/8 allows. The host is then tried with https first and plain http
// after, go-containerregistry's way (its transport pings https and falls back to http).
//
// go-containerregistry alone allows that fallback for more: "localhost:PORT" (but not
// "localhost" without a port), *.localhost, 127.0.0.1 (but not the rest of 127/8), ::1, and
// every RFC 1918 address (10/8, 172.16/12, 192.168/16). A registry on a private address
// could then be downgraded to http by anyone who can break its https; plumb refuses plain
// http to those unless Options.Insecure is set.
func (r Ref) PlainHTTP() bool { return loopbackHost(r.registry) }

// loopbackHost reports whether a registry host (with an optional port) is this machine:
// localhost, 127.0.0.0/8 or ::1.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap().IsLoopback()
	}
	// "localhost" by name, as Docker's default; not *.localhost, which
	// another resolver may send elsewhere, with the credentials for it.
	return strings.ToLower(host) == "localhost"
}

// nameRef is r as go-containerregistry's reference, allowed plain http (name.Insecure) when
// PlainHTTP or insecure says so.
func (r Ref) nameRef(insecure bool) (name.Reference, error) {
	var opts []name.Option
	if insecure || r.PlainHTTP() {
		opts = append(opts, name.Insecure)
	}
	s := r.registry + "/" + r.repository
	if r.digest != "" {
		return name.NewDigest(s+"@"+r.digest, opts...)
	}
	return name.NewTag(s+":"+r.tag, opts...)
}
