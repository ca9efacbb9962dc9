package plan

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// A Warned says each warning once per call; two calls (two Warned) each
// say it, and a nil Warned says every one.
func TestWarnedOnce(t *testing.T) {
	cases := []struct {
		name   string
		warned []*Warned // the Warned of each Once call, in order
		want   int
	}{
		{"one call twice", func() []*Warned { w := &Warned{}; return []*Warned{w, w} }(), 1},
		{"two calls", []*Warned{{}, {}}, 2},
		{"nil", []*Warned{nil, nil}, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			ctx := zerolog.New(&buf).WithContext(context.Background())
			for _, w := range c.warned {
				w.Once(ctx, "br_netfilter is loaded")
			}
			if got := strings.Count(buf.String(), "br_netfilter is loaded"); got != c.want {
				t.Fatalf("logged %d times, want %d:\n%s", got, c.want, buf.String())
			}
		})
	}
}
