package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"text/template"

	"plumb/actions"
	"plumb/plan"
)

// InspectCmd is `plumb inspect`.
type InspectCmd struct {
	Name   string `arg:"" help:"The object: NAME, or KIND/NAME when several kinds use the name."`
	Output string `name:"output" short:"o" enum:"text,json" default:"text" help:"text, or json in docker inspect's terms."`
	Format string `name:"format" short:"f" placeholder:"TEMPLATE" help:"A Go template over the document -o json prints, as docker inspect -f: {{.NetworkSettings.IPAddress}}."`
}

// Help is the long help of `plumb inspect --help`.
func (c *InspectCmd) Help() string {
	return `Shows one object in full. -o json speaks docker inspect's language where it
fits: NetworkSettings (IPAddress, IPPrefixLen, Gateway, GlobalIPv6Address,
GlobalIPv6PrefixLen, IPv6Gateway, MacAddress, SandboxKey, Networks, Ports) for a network attachment or veth, GraphDriver (Name "overlay",
Data with LowerDir, UpperDir, WorkDir, MergedDir) for an overlay; then the steps
applied, each with its status and recorded undo.`
}

type portBinding struct {
	HostIP   string `json:"HostIp"`
	HostPort string `json:"HostPort"`
}

type endpoint struct {
	IPAddress   string
	IPPrefixLen int
	Gateway     string
	// The IPv6 side, as docker inspect names it; absent without IPv6.
	GlobalIPv6Address   string `json:",omitempty"`
	GlobalIPv6PrefixLen int    `json:",omitempty"`
	IPv6Gateway         string `json:",omitempty"`
	MacAddress          string
}

// set fills in the side of ip's family, as docker inspect shows them:
// IPAddress and company for IPv4, GlobalIPv6Address and company for IPv6
// (an IPv6-only network's IPAddress is "").
func (ep *endpoint) set(ip netip.Addr, bits int, gw netip.Addr) {
	if ip.Is6() && !ip.Is4In6() {
		ep.GlobalIPv6Address, ep.GlobalIPv6PrefixLen, ep.IPv6Gateway = ip.String(), bits, gw.String()
		return
	}
	ep.IPAddress, ep.IPPrefixLen, ep.Gateway = ip.String(), bits, gw.String()
}

type networkSettings struct {
	SandboxKey string
	endpoint
	Ports    map[string][]portBinding
	Networks map[string]endpoint
}

type graphDriver struct {
	Name string
	Data map[string]string
}

// containerConfig is a container's docker inspect Config: what its
// command runs with.
type containerConfig struct {
	Hostname   string
	Image      string
	Cmd        string // as a shell line
	Env        []string
	WorkingDir string
	User       string // UID:GID, as resolved in the container's root
}

type inspectView struct {
	PlumbFormatVersion int
	ID                 string `json:"Id"`
	Kind               string
	Name               string
	State              plan.State
	Created            string
	Summary            string
	Image              string           `json:",omitempty"` // a container's image ID
	Config             *containerConfig `json:",omitempty"`
	NetworkSettings    *networkSettings `json:",omitempty"`
	GraphDriver        *graphDriver     `json:",omitempty"`
	Steps              []plan.StepView
}

// Run prints the object.
func (c *InspectCmd) Run(d *deps) error {
	rec, err := plan.Find(d.store, c.Name)
	if err != nil {
		return err
	}
	v := inspectView{PlumbFormatVersion: plan.FormatVersion, ID: rec.ID(), Kind: rec.Kind, Name: rec.Name, State: rec.State,
		Created: rec.Created.Format("2006-01-02T15:04:05Z07:00"), Summary: rec.Summary, Steps: plan.Steps(rec)}
	facts, err := rec.Facts()
	if err != nil {
		return err
	}
	if ep, dev, network, ports, ok := endpointOf(rec, facts); ok {
		ns := &networkSettings{Ports: map[string][]portBinding{}, Networks: map[string]endpoint{}}
		if rec.Target != nil {
			ns.SandboxKey = rec.Target.Path() // a container's is /run/netns/plumb-NAME
			ep.MacAddress = macOf(d, *rec.Target, dev)
		}
		ns.endpoint = ep
		ns.Networks[network] = ep
		for _, port := range ports {
			key := fmt.Sprintf("%d/%s", port.Container, port.Proto)
			for _, ip := range []string{ep.IPAddress, ep.GlobalIPv6Address} {
				if ip == "" || port.HostIP.IsValid() && anyAddress(ip) != port.HostIP.String() {
					continue
				}
				ns.Ports[key] = append(ns.Ports[key], portBinding{anyAddress(ip), strconv.Itoa(int(port.Host))})
			}
		}
		v.NetworkSettings = ns
	}
	if c, ok := facts.(plan.ContainerFacts); ok && c.Env != nil {
		v.Image = c.ImageID
		v.Config = &containerConfig{Hostname: c.Hostname, Image: c.Image, Cmd: c.Cmd, Env: c.Env, WorkingDir: c.WorkDir, User: c.User}
	}
	if o, ok := rec.Overlay(); ok {
		v.GraphDriver = &graphDriver{Name: "overlay", Data: map[string]string{
			"LowerDir": o.LowerDir, "UpperDir": o.UpperDir, "WorkDir": o.WorkDir, "MergedDir": o.Merged}}
	}
	switch {
	case c.Format != "":
		return formatInspect(d, c.Format, v)
	case c.Output == "json":
		return writeJSON(d.stdout, v)
	}
	return printInspect(d, v)
}

// inspectFuncs are the template functions docker inspect -f offers that
// plumb's documents can use.
var inspectFuncs = template.FuncMap{
	"json": func(v any) (string, error) {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		err := enc.Encode(v)
		return strings.TrimSuffix(b.String(), "\n"), err
	},
	"join": func(v []any, sep string) string {
		parts := make([]string, len(v))
		for i, x := range v {
			parts[i] = fmt.Sprint(x)
		}
		return strings.Join(parts, sep)
	},
	"split": strings.Split,
	"lower": strings.ToLower,
	"upper": strings.ToUpper,
	"title": func(s string) string {
		if s == "" {
			return s
		}
		return strings.ToUpper(s[:1]) + s[1:]
	},
}

// formatInspect runs a Go template over the JSON document of v, as
// `docker inspect -f` does over its own: field names are the JSON's, so
// the document's own command (`{{range .NetworkSettings.Networks}}
// {{.IPAddress}}{{end}}`) works as it is. A newline follows, as docker's.
func formatInspect(d *deps, format string, v any) error {
	tmpl, err := template.New("format").Funcs(inspectFuncs).Option("missingkey=error").Parse(format)
	if err != nil {
		return &plan.Refused{Flag: "format", Msg: err.Error()}
	}
	var doc bytes.Buffer
	if err := writeJSON(&doc, v); err != nil {
		return err
	}
	var data any
	dec := json.NewDecoder(&doc)
	dec.UseNumber() // 24, not 24.000000
	if err := dec.Decode(&data); err != nil {
		return err
	}
	var out bytes.Buffer
	if err := tmpl.Execute(&out, data); err != nil {
		return &plan.Refused{Flag: "format", Msg: err.Error()}
	}
	out.WriteByte('\n')
	_, err = d.stdout.Write(out.Bytes())
	return err
}

// endpointOf is a network object's address in docker inspect's terms: a
// veth's container end, or a container's place on its bridge.
func endpointOf(rec *plan.Record, facts plan.Facts) (ep endpoint, dev, network string, ports []plan.Port, ok bool) {
	if f, isVeth := facts.(plan.VethFacts); isVeth {
		ep.set(f.ContIP, f.Subnet.Bits(), f.HostIP)
		return ep, f.ContIf.String(), rec.Name, nil, true
	}
	a, isAttached := rec.Attachment()
	if !isAttached {
		return endpoint{}, "", "", nil, false
	}
	ep.set(a.IP, a.PrefixLen, a.Gateway)
	if a.IP6.IsValid() {
		ep.set(a.IP6, a.PrefixLen6, a.Gateway6)
	}
	return ep, a.If.String(), a.Bridge, a.Ports, true
}

// anyAddress is the unspecified address of ip's family, where Docker says a
// published port listens on every address.
func anyAddress(ip string) string {
	if a, err := netip.ParseAddr(ip); err == nil && a.Is6() && !a.Is4In6() {
		return netip.IPv6Unspecified().String()
	}
	return netip.IPv4Unspecified().String()
}

// macOf reads the container end's MAC address, "" when it cannot be read.
func macOf(d *deps, t actions.Netns, dev string) string {
	if _, err := t.Identity(); err != nil || dev == "" {
		return ""
	}
	out, err := d.runner.Run(d.ctx, t.Wrap([]string{"ip", "-j", "link", "show", "dev", dev}), nil)
	if err != nil {
		return ""
	}
	var links []struct {
		Address string `json:"address"`
	}
	if json.Unmarshal(out, &links) != nil || len(links) == 0 {
		return ""
	}
	return links[0].Address
}

func printInspect(d *deps, v inspectView) error {
	w := d.stdout
	fmt.Fprintf(w, "%s  %s since %s\n  %s\n", v.ID, v.State, v.Created, v.Summary)
	if ns := v.NetworkSettings; ns != nil {
		if ns.IPAddress != "" {
			fmt.Fprintf(w, "  address %s/%d, gateway %s, mac %s, sandbox %s\n", ns.IPAddress, ns.IPPrefixLen, ns.Gateway, orNone(ns.MacAddress), ns.SandboxKey)
		}
		if ns.GlobalIPv6Address != "" {
			fmt.Fprintf(w, "  IPv6 address %s/%d, gateway %s, mac %s, sandbox %s\n", ns.GlobalIPv6Address, ns.GlobalIPv6PrefixLen, ns.IPv6Gateway, orNone(ns.MacAddress), ns.SandboxKey)
		}
		for port, bs := range ns.Ports {
			for _, b := range bs {
				fmt.Fprintf(w, "  port %s published at %s:%s\n", port, b.HostIP, b.HostPort)
			}
		}
	}
	if g := v.GraphDriver; g != nil {
		for _, k := range []string{"LowerDir", "UpperDir", "WorkDir", "MergedDir"} {
			fmt.Fprintf(w, "  %-9s %s\n", k, orNone(g.Data[k]))
		}
	}
	fmt.Fprintln(w, "steps:")
	for _, s := range v.Steps {
		fmt.Fprintf(w, "  %2d %-7s %s\n", s.Index, s.Status, s.Command)
		if s.Undo != "" {
			fmt.Fprintf(w, "             undo: %s\n", s.Undo)
		}
		if s.Shared != "" {
			fmt.Fprintf(w, "             shared: %s (restored when no plumb object needs it)\n", s.Shared)
		}
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
