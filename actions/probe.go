package actions

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/bitfield/script"
)

// Probes are read-only commands whose output plumb parses to check the host
// before it changes anything. They go through the same Runner as steps.

// LinkNames lists the interface names in a namespace (`ip -j link show`).
func LinkNames(ctx context.Context, r Runner, in Netns) (map[string]bool, error) {
	out, err := r.Run(ctx, in.Wrap([]string{"ip", "-j", "link", "show"}), nil)
	if err != nil {
		return nil, fmt.Errorf("listing links in %s: %w", in, err)
	}
	var links []struct {
		Name string `json:"ifname"`
	}
	if err := json.Unmarshal(out, &links); err != nil {
		return nil, fmt.Errorf("reading `ip -j link show` output: %w", err)
	}
	names := make(map[string]bool, len(links))
	for _, l := range links {
		names[l.Name] = true
	}
	return names, nil
}

// DefaultRouteDev is the interface of the host's default route, as the
// document's `ip route | grep default | awk '{print $5}'` finds it, read from
// `ip -j route show default` instead of by column. "" means no default route.
func DefaultRouteDev(ctx context.Context, r Runner) (string, error) {
	out, err := r.Run(ctx, []string{"ip", "-j", "route", "show", "default"}, nil)
	if err != nil {
		return "", fmt.Errorf("finding the default route: %w", err)
	}
	dev, err := script.Echo(string(out)).JQ(`[.[] | select(.dev != null) | .dev][0] // ""`).String()
	if err != nil {
		return "", fmt.Errorf("reading `ip -j route show default` output: %w", err)
	}
	return strings.Trim(strings.TrimSpace(dev), `"`), nil
}
