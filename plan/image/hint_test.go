package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"testing"
)

// TestPlainHTTPHint: the failures a plain http registry gives an https
// client (EOF, an HTTP response, a record that is not TLS) name --insecure
// for a registry off this machine, and only there: not with --insecure,
// not for this machine's (reached over http anyway), not for other
// failures.
func TestPlainHTTPHint(t *testing.T) {
	get := func(err error) error { return &url.Error{Op: "Get", URL: "https://192.0.2.10:5000/v2/", Err: err} }
	off, _ := ParseRef("192.0.2.10:5000/x/y:1")
	local, _ := ParseRef("127.0.0.1:5000/x/y:1")
	for _, tc := range []struct {
		name     string
		ref      Ref
		insecure bool
		err      error
		want     bool
	}{
		{"EOF", off, false, get(io.EOF), true},
		{"EOF as text", off, false, fmt.Errorf("ping: %v", get(io.EOF)), true},
		{"HTTP response", off, false, get(errors.New("http: server gave HTTP response to HTTPS client")), true},
		{"not TLS", off, false, get(errors.New("tls: first record does not look like a TLS handshake")), true},
		{"with --insecure", off, true, get(io.EOF), false},
		{"this machine", local, false, get(io.EOF), false},
		{"refused", off, false, get(errors.New("connect: connection refused")), false},
		{"cancelled", off, false, get(context.Canceled), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := plainHTTPHint(tc.ref, tc.insecure, tc.err)
			if has := strings.Contains(got, "pass --insecure"); has != tc.want {
				t.Errorf("hint %q; want one: %v", got, tc.want)
			}
		})
	}
}
