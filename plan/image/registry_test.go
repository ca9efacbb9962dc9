package image

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// basicAuth makes a registry ask for user:pass, as a registry behind `htpasswd` does.
func basicAuth(user, pass string) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
				w.Header().Set("WWW-Authenticate", `Basic realm="plumb-test"`)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
}

// TestCredentialsFromDockerConfig pulls from a registry that wants a password, with the
// Docker config as `docker login` leaves it, then as a credential helper gives it.
func TestCredentialsFromDockerConfig(t *testing.T) {
	home := noCredentials(t)
	ti := buildImage(t, Host(), dockerGzip, "host")
	reg := newRegistry(t, basicAuth("plumb", "s3cret"))
	ref := reg + "/plumb/web:v1"
	if err := remote.Write(mustTag(t, ref), ti.img, remote.WithAuth(&authn.Basic{Username: "plumb", Password: "s3cret"})); err != nil {
		t.Fatal(err)
	}

	// No credentials: refused, saying where they come from.
	_, err := FromRegistry(context.Background(), mustRef(t, ref), Options{})
	if err == nil || !strings.Contains(err.Error(), "access denied; credentials come from `docker login "+reg+"`") ||
		!strings.Contains(err.Error(), "UNAUTHORIZED") {
		t.Fatalf("without credentials: %v", err)
	}

	dockerDir := filepath.Join(home, ".docker")
	if err := os.MkdirAll(dockerDir, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", dockerDir)
	writeConfig := func(s string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dockerDir, "config.json"), []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("docker login", func(t *testing.T) {
		// What `docker login 127.0.0.1:PORT` writes without a credential store.
		writeConfig(`{"auths":{"` + reg + `":{"auth":"` + base64.StdEncoding.EncodeToString([]byte("plumb:s3cret")) + `"}}}`)
		got, err := FromRegistry(context.Background(), mustRef(t, ref), Options{})
		if err != nil {
			t.Fatal(err)
		}
		ti.check(t, got, true)
	})
	t.Run("wrong password", func(t *testing.T) {
		writeConfig(`{"auths":{"` + reg + `":{"auth":"` + base64.StdEncoding.EncodeToString([]byte("plumb:wrong")) + `"}}}`)
		_, err := FromRegistry(context.Background(), mustRef(t, ref), Options{})
		if err == nil || !strings.Contains(err.Error(), "access denied") {
			t.Fatalf("%v", err)
		}
	})
	t.Run("credential helper", func(t *testing.T) {
		// A credHelpers entry runs docker-credential-NAME get, the server on stdin.
		bin := t.TempDir()
		helper := "#!/bin/sh\nread server\necho \"$server\" > " + filepath.Join(bin, "asked") + "\n" +
			`echo '{"ServerURL":"'"$server"'","Username":"plumb","Secret":"s3cret"}'` + "\n"
		if err := os.WriteFile(filepath.Join(bin, "docker-credential-plumbtest"), []byte(helper), 0o755); err != nil {
			t.Fatal(err)
		}
		t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
		writeConfig(`{"credHelpers":{"` + reg + `":"plumbtest"}}`)
		got, err := FromRegistry(context.Background(), mustRef(t, ref), Options{})
		if err != nil {
			t.Fatal(err)
		}
		ti.check(t, got, true)
		asked, err := os.ReadFile(filepath.Join(bin, "asked"))
		if err != nil || strings.TrimSpace(string(asked)) != reg {
			t.Errorf("helper asked for %q (%v), want %q", asked, err, reg)
		}
	})
}

// TestPlainHTTPGuard checks the transport refuses plain http to hosts that are not this
// machine, which go-containerregistry would try for private addresses.
func TestPlainHTTPGuard(t *testing.T) {
	for _, tc := range []struct {
		url      string
		insecure bool
		passes   bool
	}{
		{"http://127.0.0.1:5000/v2/", false, true},
		{"http://localhost:5000/v2/", false, true},
		{"http://[::1]:5000/v2/", false, true},
		{"https://10.0.0.5:5000/v2/", false, true},
		{"http://10.0.0.5:5000/v2/", false, false},
		{"http://192.168.1.2/v2/", false, false},
		{"http://registry.example.com/v2/", false, false},
		{"http://10.0.0.5:5000/v2/", true, true},
	} {
		var reached bool
		g := &guard{insecure: tc.insecure, inner: roundTripFunc(func(*http.Request) (*http.Response, error) {
			reached = true
			return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader(""))}, nil
		})}
		req := httptest.NewRequest("GET", tc.url, nil)
		_, err := g.RoundTrip(req)
		if reached != tc.passes || (err == nil) != tc.passes {
			t.Errorf("%s insecure=%v: reached %v, err %v; want passing %v", tc.url, tc.insecure, reached, err, tc.passes)
		}
		if err != nil && !strings.Contains(err.Error(), "plain http to "+req.URL.Host+" refused") {
			t.Errorf("%s: error %q", tc.url, err)
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestLayerContext: a layer is read on the context given to Uncompressed, not on the one the
// image was described with, and a read blocked on the network ends when that context does.
func TestLayerContext(t *testing.T) {
	noCredentials(t)
	ti := buildImage(t, Host(), ociMixed, "host")
	m, err := ti.img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	stall := "/blobs/" + m.Layers[0].Digest.String()
	release := make(chan struct{})
	defer close(release)
	reg := newRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, stall) {
				h.ServeHTTP(w, r)
				return
			}
			// Send a first part of the blob, then nothing until the client gives up.
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			body := rec.Body.Bytes()
			w.Header().Set("Content-Length", rec.Header().Get("Content-Length"))
			w.WriteHeader(rec.Code)
			w.Write(body[:len(body)/2])
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-release:
			}
		})
	})
	ref := reg + "/plumb/web:v1"
	if err := remote.Write(mustTag(t, ref), ti.img); err != nil {
		t.Fatal(err)
	}

	describeCtx, cancelDescribe := context.WithCancel(context.Background())
	img, err := FromRegistry(describeCtx, mustRef(t, ref), Options{})
	if err != nil {
		t.Fatal(err)
	}
	cancelDescribe()

	// The describing context is gone; layers still read on their own.
	for i := 1; i < len(img.Layers); i++ {
		rc, err := img.Layers[i].Uncompressed(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(b, ti.tars[i]) {
			t.Fatalf("layer %d after the describing context ended: %v", i, err)
		}
	}

	// A context already done opens nothing.
	done, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := img.Layers[0].Uncompressed(done); !errors.Is(err, context.Canceled) {
		t.Errorf("done context: %v", err)
	}

	// A read stalled on the network ends with the context.
	ctx, cancel := context.WithCancel(context.Background())
	rc, err := img.Layers[0].Uncompressed(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	result := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(rc)
		result <- err
	}()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case err := <-result:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("stalled read ended with %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a stalled read did not end when its context did")
	}

	// A read stalled with nobody to cancel it ends once the registry has
	// sent nothing for RegistryIdle.
	defer func(d time.Duration) { RegistryIdle = d }(RegistryIdle)
	RegistryIdle = 300 * time.Millisecond
	rc2, err := img.Layers[0].Uncompressed(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer rc2.Close()
	start := time.Now()
	_, err = io.ReadAll(rc2)
	if err == nil || !strings.Contains(err.Error(), "the registry sent nothing for 300ms") || time.Since(start) > 5*time.Second {
		t.Errorf("a stalled read with no deadline: %v after %s; want it to give up after 300ms of silence", err, time.Since(start))
	}
}

// TestRegistryBlobChecked: a registry's blob that is not what its digest says fails the read
// at its end (go-containerregistry checks it), even where the tar itself still parses.
func TestRegistryBlobChecked(t *testing.T) {
	noCredentials(t)
	ti := buildImage(t, Host(), ociMixed, "host")
	m, err := ti.img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	plain := "/blobs/" + m.Layers[2].Digest.String() // the uncompressed layer
	reg := newRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, plain) {
				h.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			body := bytes.Replace(rec.Body.Bytes(), []byte("ustar"), []byte("USTAR"), 1)
			w.Header().Set("Content-Length", rec.Header().Get("Content-Length"))
			w.WriteHeader(rec.Code)
			w.Write(body)
		})
	})
	ref := reg + "/plumb/web:v1"
	if err := remote.Write(mustTag(t, ref), ti.img); err != nil {
		t.Fatal(err)
	}
	img, err := FromRegistry(context.Background(), mustRef(t, ref), Options{})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := img.Layers[2].Uncompressed(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	_, err = io.ReadAll(rc)
	t.Log(err)
	if err == nil || !strings.Contains(err.Error(), m.Layers[2].Digest.String()) {
		t.Errorf("reading a changed blob: %v, want an error naming its digest", err)
	}
}
