package cni

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/containernetworking/cni/pkg/types"

	"plumb/plan"
)

// portMapping is one of runtimeConfig.portMappings, as runtimes send it.
type portMapping struct {
	HostPort      int    `json:"hostPort"`
	ContainerPort int    `json:"containerPort"`
	Protocol      string `json:"protocol"`
	HostIP        string `json:"hostIP"`
}

// readRuntimeConfig reads what the runtime gives for the capabilities the
// conflist asks for: portMappings, published as --publish does. Another
// capability's value is refused: plumb would not honour it.
func readRuntimeConfig(raw json.RawMessage) ([]plan.Port, *types.Error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil {
		return nil, Error(types.ErrDecodingFailure, "reading runtimeConfig: %v", err)
	}
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if k != "portMappings" && !isDefault(keys[k]) {
			return nil, Error(types.ErrUnsupportedField, "unsupported field runtimeConfig.%s=%s: plumb implements the portMappings capability only", k, compact(keys[k]))
		}
	}
	var pm []portMapping
	if v, ok := keys["portMappings"]; ok && !isDefault(v) {
		if err := json.Unmarshal(v, &pm); err != nil {
			return nil, Error(types.ErrDecodingFailure, "reading runtimeConfig.portMappings: %v", err)
		}
	}
	var ports []plan.Port
	asked := make([]plan.Port, 0, len(pm)) // each mapping as given
	for i, m := range pm {
		p, err := m.port(i)
		if err != nil {
			return nil, err
		}
		asked = append(asked, p)
		if ports, err = addPort(ports, asked); err != nil {
			return nil, err
		}
	}
	return ports, nil
}

// port is mapping i as --publish would take it.
func (m portMapping) port(i int) (plan.Port, *types.Error) {
	proto := strings.ToLower(m.Protocol)
	if proto == "" {
		proto = "tcp"
	}
	if m.HostIP != "" && m.HostIP != "0.0.0.0" && m.HostIP != "::" {
		return plan.Port{}, Error(types.ErrUnsupportedField, "unsupported field runtimeConfig.portMappings[%d].hostIP=%s: plumb publishes a port on every address of the host", i, m.HostIP)
	}
	spec := fmt.Sprintf("%d:%d/%s", m.HostPort, m.ContainerPort, proto)
	switch m.HostIP {
	case "::":
		spec = "[::]:" + spec // IPv6 alone
	case "0.0.0.0":
		spec = "0.0.0.0:" + spec // IPv4 alone, as the reference portmap plugin
	}
	p, err := plan.ParsePort(spec)
	if err != nil {
		return p, Error(types.ErrInvalidNetworkConfig, "runtimeConfig.portMappings[%d]: %v", i, err)
	}
	return p, nil
}

// addPort adds the last of the mappings asked to ports. Runtimes list a
// port once per host address family (hostIP 0.0.0.0, then ::), or once
// for both: a mapping that repeats another's host port to the same
// container port adds its family to it. The same host port and protocol
// sent to two container ports in one family is an invalid config (the
// kernel would keep one rule); in two families apart, each family gets its
// own rule.
func addPort(ports, asked []plan.Port) ([]plan.Port, *types.Error) {
	i := len(asked) - 1
	p := asked[i]
	for j, q := range asked[:i] {
		if p.Shares(q) && p.Container != q.Container {
			return nil, Error(types.ErrInvalidNetworkConfig, "runtimeConfig.portMappings[%d] (%s) and [%d] (%s) publish host port %d/%s to two container ports; a host port leads to one",
				j, q, i, p, p.Host, p.Proto)
		}
	}
	for j, q := range ports {
		if q.Host == p.Host && q.Proto == p.Proto && q.Container == p.Container {
			if q.HostIP != p.HostIP {
				ports[j].HostIP = netip.Addr{} // both families
			}
			return ports, nil
		}
	}
	return append(ports, p), nil
}
