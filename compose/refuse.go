package compose

import (
	"fmt"
	"sort"
	"strings"
)

// What plumb does of a Compose file, key by key, as compose-go writes the
// project back (normalized: long forms, defaults filled in). A key not
// here is refused, never ignored: a file that builds an image, waits on a
// healthcheck or restarts a service would otherwise run as something else.
var (
	serviceKeys = keys("image", "command", "entrypoint", "environment", "env_file", "working_dir", "user", "hostname",
		"ports", "expose", "networks", "volumes", "tmpfs", "cap_add", "cap_drop", "read_only", "mem_limit", "cpus",
		"pids_limit", "depends_on", "deploy", "scale", "restart", "profiles", "security_opt")
	portKeys      = keys("target", "published", "protocol", "host_ip", "mode")
	volumeKeys    = keys("type", "source", "target", "read_only", "bind", "volume", "tmpfs")
	bindKeys      = keys("create_host_path", "propagation")
	volumeOptKeys = keys("nocopy")
	tmpfsKeys     = keys("size", "mode")
	netRefKeys    = keys("aliases", "ipv4_address")
	dependsKeys   = keys("condition", "required", "restart")
	deployKeys    = keys("replicas")
	topKeys       = keys("name", "services", "networks", "volumes")
	networkKeys   = keys("name", "driver", "ipam", "enable_ipv6", "internal", "external")
	ipamKeys      = keys("config", "driver")
	ipamConfKeys  = keys("subnet", "gateway")
	topVolumeKeys = keys("name", "external", "driver")
)

func keys(ks ...string) map[string]bool {
	m := map[string]bool{}
	for _, k := range ks {
		m[k] = true
	}
	return m
}

// Refusals are the lines naming what model (a project as compose-go writes
// it back) asks for that plumb does not do; none when it does it all.
// Extensions (x-*) are for other tools, and left alone as Compose says.
func Refusals(model map[string]any) []string {
	var r refusals
	for _, k := range sorted(model) {
		if !topKeys[k] && !strings.HasPrefix(k, "x-") {
			r.add("%s: not supported", k)
		}
	}
	services, _ := model["services"].(map[string]any)
	for _, name := range sorted(services) {
		svc, _ := services[name].(map[string]any)
		r.service(name, svc)
	}
	networks, _ := model["networks"].(map[string]any)
	for _, name := range sorted(networks) {
		n, _ := networks[name].(map[string]any)
		where := "networks." + name
		r.unknown(where, n, networkKeys)
		if d, ok := n["driver"]; ok && d != "bridge" {
			r.add("%s: driver %v: only bridge", where, d)
		}
		if ipam, ok := n["ipam"].(map[string]any); ok {
			r.unknown(where+".ipam", ipam, ipamKeys)
			if d, ok := ipam["driver"]; ok && d != "default" {
				r.add("%s.ipam: driver %v: only default", where, d)
			}
			confs, _ := ipam["config"].([]any)
			for i, c := range confs {
				c, _ := c.(map[string]any)
				r.unknown(fmt.Sprintf("%s.ipam.config[%d]", where, i), c, ipamConfKeys)
			}
		}
	}
	volumes, _ := model["volumes"].(map[string]any)
	for _, name := range sorted(volumes) {
		v, _ := volumes[name].(map[string]any)
		where := "volumes." + name
		r.unknown(where, v, topVolumeKeys)
		if d, ok := v["driver"]; ok && d != "local" {
			r.add("%s: driver %v: only local", where, d)
		}
	}
	return r.lines
}

type refusals struct{ lines []string }

func (r *refusals) add(format string, args ...any) {
	r.lines = append(r.lines, fmt.Sprintf(format, args...))
}

// unknown adds a line for each key of m that known lacks.
func (r *refusals) unknown(where string, m map[string]any, known map[string]bool) {
	for _, k := range sorted(m) {
		if !known[k] && !strings.HasPrefix(k, "x-") {
			r.add("%s: %s: not supported", where, k)
		}
	}
}

func (r *refusals) service(name string, svc map[string]any) {
	where := "service " + name
	for _, k := range sorted(svc) {
		if !serviceKeys[k] && !strings.HasPrefix(k, "x-") {
			r.add("%s: %s: not supported%s", where, k, why[k])
		}
	}
	if v, ok := svc["restart"]; ok && v != "no" {
		r.add("%s: restart %v: only \"no\" (plumb restarts nothing by itself)", where, v)
	}
	ports, _ := svc["ports"].([]any)
	for i, p := range ports {
		p, _ := p.(map[string]any)
		r.unknown(fmt.Sprintf("%s: ports[%d]", where, i), p, portKeys)
		if m, ok := p["mode"]; ok && m != "ingress" && m != "host" {
			r.add("%s: ports[%d]: mode %v: not supported", where, i, m)
		}
	}
	vols, _ := svc["volumes"].([]any)
	for i, v := range vols {
		v, _ := v.(map[string]any)
		w := fmt.Sprintf("%s: volumes[%d]", where, i)
		r.unknown(w, v, volumeKeys)
		if t := v["type"]; t != "bind" && t != "volume" && t != "tmpfs" {
			r.add("%s: type %v: only bind, volume or tmpfs", w, t)
		}
		for k, known := range map[string]map[string]bool{"bind": bindKeys, "volume": volumeOptKeys, "tmpfs": tmpfsKeys} {
			if m, ok := v[k].(map[string]any); ok {
				r.unknown(w+"."+k, m, known)
			}
		}
	}
	switch nets := svc["networks"].(type) {
	case map[string]any:
		for _, n := range sorted(nets) {
			m, _ := nets[n].(map[string]any)
			r.unknown(where+": networks."+n, m, netRefKeys)
		}
	}
	deps, _ := svc["depends_on"].(map[string]any)
	for _, d := range sorted(deps) {
		m, _ := deps[d].(map[string]any)
		w := where + ": depends_on." + d
		r.unknown(w, m, dependsKeys)
		if c, ok := m["condition"]; ok && c != "service_started" {
			r.add("%s: condition %v: only service_started (plumb runs no healthcheck and waits for no exit)", w, c)
		}
		if v, ok := m["restart"]; ok && v != false {
			r.add("%s: restart %v: not supported", w, v)
		}
	}
	if d, ok := svc["deploy"].(map[string]any); ok {
		r.unknown(where+": deploy", d, deployKeys)
	}
}

// why says more about the keys people most often write.
var why = map[string]string{
	"build":        " (plumb runs images, it builds none: build it elsewhere, then plumb image import)",
	"healthcheck":  " (plumb runs no healthchecks)",
	"secrets":      " (give the file as a bind mount)",
	"configs":      " (give the file as a bind mount)",
	"network_mode": " (a service joins the project's networks)",
	"privileged":   " (use cap_add)",
	"labels":       "",
}

func sorted[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
