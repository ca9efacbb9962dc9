package image

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Options says which image to read and how.
type Options struct {
	// Platform is the platform to take from an index, and that a lone image must be for.
	// The zero Platform is this machine's (Host).
	Platform Platform
	// Insecure lets a registry other than this machine be reached over plain http (after
	// https fails), as `crane --insecure` or Docker's insecure-registries. Without it only
	// localhost and 127.0.0.0/8 may be (Ref.PlainHTTP). TLS certificates are checked either
	// way. Files ignore it.
	Insecure bool
}

// FromRegistry reads an image's manifest and config from its registry, choosing this
// machine's platform when ref names an index. Credentials are those `docker login` leaves,
// found as go-containerregistry's authn.DefaultKeychain finds them: the Docker config
// ($DOCKER_CONFIG/config.json when DOCKER_CONFIG is set, else $HOME/.docker/config.json; its
// "auths" entry for the registry, or the credential helper it names, which is run), and
// only when there is no Docker config, Podman's auth.json ($REGISTRY_AUTH_FILE,
// $XDG_RUNTIME_DIR/containers/auth.json, ~/.config/containers/auth.json). None: anonymous.
// The home is the user's plumb runs as: root's under sudo.
//
// ctx bounds this reading only; each Layer.Uncompressed takes its own. A reference by digest
// is checked against the manifest fetched, and every blob against its digest once read.
func FromRegistry(ctx context.Context, ref Ref, opts Options) (*Image, error) {
	want := opts.Platform.orHost()
	nref, err := ref.nameRef(opts.Insecure)
	if err != nil {
		return nil, fmt.Errorf("pulling %s: %w", ref, err)
	}
	puller, err := remote.NewPuller(
		remote.WithAuthFromKeychain(authn.DefaultKeychain),
		// Indexes are resolved by fromIndex; this is for any go-containerregistry resolves itself.
		remote.WithPlatform(v1.Platform{OS: want.OS, Architecture: want.Architecture, Variant: want.Variant}),
		remote.WithTransport(plainHTTPGuard(opts.Insecure)),
	)
	if err != nil {
		return nil, fmt.Errorf("pulling %s: %w", ref, err)
	}
	img, err := fromRegistry(ctx, puller, nref, want)
	if err != nil {
		return nil, fmt.Errorf("pulling %s: %w%s", ref, registryError(ref, err), plainHTTPHint(ref, opts.Insecure, err))
	}
	img.Ref = ref.String()
	return img, nil
}

func fromRegistry(ctx context.Context, puller *remote.Puller, nref name.Reference, want Platform) (*Image, error) {
	desc, err := puller.Get(ctx, nref)
	if err != nil {
		return nil, err
	}
	var (
		img     v1.Image
		checked bool
	)
	switch {
	case desc.MediaType.IsIndex():
		idx, err := desc.ImageIndex()
		if err != nil {
			return nil, err
		}
		img, checked, err = fromIndex(idx, want, 0)
		if err != nil {
			return nil, err
		}
	case desc.MediaType.IsSchema1():
		return nil, fmt.Errorf("the registry serves a Docker schema 1 manifest (%s), deprecated since 2017 and not read by plumb", desc.MediaType)
	default:
		img, err = desc.Image()
		if err != nil {
			return nil, err
		}
	}
	repo := nref.Context()
	return describeManifest(img, want, checked, func(ctx context.Context, d v1.Descriptor) (io.ReadCloser, error) {
		// A layer is fetched on ctx, its own; the puller keeps the registry's transport and
		// token from reading the manifest.
		l, err := puller.Layer(ctx, repo.Digest(d.Digest.String()))
		if err != nil {
			return nil, registryError(Ref{}, err)
		}
		// Compressed checks the blob against its digest once read to its end.
		rc, err := l.Compressed()
		if err != nil {
			return nil, registryError(Ref{}, err)
		}
		return decompress(newIdleReader(rc, RegistryIdle))
	})
}

// registryError says in words what a registry's refusal means, keeping its own message.
func registryError(ref Ref, err error) error {
	var te *transport.Error
	if !errors.As(err, &te) {
		return err
	}
	switch te.StatusCode {
	case http.StatusNotFound:
		return fmt.Errorf("%w in the registry (%v)", ErrNotFound, err)
	case http.StatusUnauthorized, http.StatusForbidden:
		if ref.IsZero() {
			return fmt.Errorf("access denied; credentials come from `docker login` (%v)", err)
		}
		return fmt.Errorf("access denied; credentials come from `docker login %s` (%v)", ref.Registry(), err)
	}
	return err
}

// plainHTTPHint is what to add to err, an https request's failure, when the
// registry may speak plain http: a registry off this machine is reached
// over TLS only, unless --insecure, and a plain http server answers a TLS
// handshake with an HTTP response, garbage or nothing at all (EOF), none
// of which says so.
func plainHTTPHint(ref Ref, insecure bool, err error) string {
	if insecure || ref.PlainHTTP() || ctxErr(err) {
		return ""
	}
	msg := err.Error()
	var rh tls.RecordHeaderError
	if errors.As(err, &rh) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		strings.HasSuffix(msg, ": EOF") || strings.Contains(msg, "server gave HTTP response to HTTPS client") || strings.Contains(msg, "first record does not look like a TLS handshake") {
		return fmt.Sprintf("; if the registry %s speaks plain http, not https, pass --insecure (without it plumb reaches a registry off this machine over TLS only)", ref.Registry())
	}
	return ""
}

func ctxErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// plainHTTPGuard is the transport to a registry: go-containerregistry's default one, refusing
// plain http to a host that is not this machine unless insecure. (go-containerregistry would
// fall back to http for every private address; see Ref.PlainHTTP.)
func plainHTTPGuard(insecure bool) http.RoundTripper {
	return &guard{inner: remote.DefaultTransport, insecure: insecure}
}

type guard struct {
	inner    http.RoundTripper
	insecure bool
}

func (g *guard) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !g.insecure && !loopbackHost(req.URL.Host) {
		return nil, fmt.Errorf("plain http to %s refused: only registries on this machine are reached without TLS unless told to (insecure)", req.URL.Host)
	}
	return g.inner.RoundTrip(req)
}

// RegistryIdle is how long a registry's blob may send nothing before the read
// ends with an error: a registry that stalls in the middle of a layer would
// otherwise hold plumb, and its state directory's lock, for as long as it
// likes (only a signal ended it).
var RegistryIdle = 60 * time.Second

// idleReader ends its reads with an error once rc has given nothing for
// idle: a watchdog closes rc (closing an http body ends a read blocked on
// it), and the read says why.
type idleReader struct {
	rc    io.ReadCloser
	idle  time.Duration
	timer *time.Timer
	mu    sync.Mutex
	fired bool
}

func newIdleReader(rc io.ReadCloser, idle time.Duration) *idleReader {
	r := &idleReader{rc: rc, idle: idle}
	r.timer = time.AfterFunc(idle, func() {
		r.mu.Lock()
		r.fired = true
		r.mu.Unlock()
		rc.Close()
	})
	return r
}

func (r *idleReader) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	r.mu.Lock()
	fired := r.fired
	r.mu.Unlock()
	if fired {
		return n, fmt.Errorf("the registry sent nothing for %s in the middle of a layer; giving up", r.idle)
	}
	if n > 0 {
		r.timer.Reset(r.idle)
	}
	return n, err
}

func (r *idleReader) Close() error {
	r.timer.Stop()
	return r.rc.Close()
}
