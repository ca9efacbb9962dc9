package cni

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strings"

	"github.com/containernetworking/cni/pkg/types"

	"plumb/actions"
	"plumb/network"
	"plumb/plan"
	"plumb/plan/firewall"
)

// NetConf is a CNI plugin config of type plumb, read into the typed input
// plumb's recipes take: the keys users write for the reference bridge and
// host-local plugins, and what runtimes insert.
type NetConf struct {
	CNIVersion string
	Name       string
	Bridge     actions.IfName
	// DefaultRoute: isDefaultGateway, a default route through the bridge.
	DefaultRoute bool
	NAT          bool // ipMasq
	// Firewall is the back end of a bridge the config makes: ipMasqBackend,
	// else the plugin's default (PLUMB_FIREWALL), else iptables. A bridge
	// already kept keeps its own.
	Firewall firewall.Backend
	MTU      int
	Hairpin  bool
	IPAM
	DNS   types.DNS
	Ports []plan.Port // runtimeConfig.portMappings
	// Mesh is the mesh the bridge is on ("mesh": plumb's own key): the
	// node's subnet and MTU come from it when the config gives none, so
	// that one config serves every node of a cluster.
	Mesh string
	// MeshIPAM is the ipam section of a config on a mesh that gives no
	// subnet, read once the mesh's subnet is known (OnMesh); nil
	// otherwise.
	MeshIPAM json.RawMessage
	// PrevResult is the runtime's cached result (CHECK), or nil.
	PrevResult json.RawMessage
	// Valid: GC's cni.dev/valid-attachments; HasValid tells an empty list
	// from a missing key.
	Valid    []types.GCAttachment
	HasValid bool
}

// Error is a CNI error with one of the spec's codes.
func Error(code uint, format string, args ...any) *types.Error {
	return types.NewError(code, fmt.Sprintf(format, args...), "")
}

// Keys of a plugin config: plumb's (the reference bridge's that it
// implements), those every runtime may insert, and the reference bridge's
// that it does not implement, with why.
var (
	ownKeys     = []string{"bridge", "isGateway", "isDefaultGateway", "ipMasq", "ipMasqBackend", "mtu", "hairpinMode", "ipam", "dns", "mesh"}
	runtimeKeys = []string{"cniVersion", "name", "type", "runtimeConfig", "args", "prevResult", "capabilities"}
	refusedKeys = map[string]string{
		"forceAddress":              "plumb never changes an address the bridge holds",
		"promiscMode":               "plumb leaves the bridge's promiscuous mode alone",
		"vlan":                      "plumb sets up no VLAN filtering",
		"vlanTrunk":                 "plumb sets up no VLAN filtering",
		"preserveDefaultVlan":       "plumb sets up no VLAN filtering",
		"macspoofchk":               "plumb writes no MAC spoofing rules",
		"enabledad":                 "plumb does not turn on duplicate address detection",
		"portIsolation":             "plumb does not isolate bridge ports",
		"disableContainerInterface": "plumb always brings the container's interface up",
	}
)

// rawConf is a plugin config as JSON has it.
type rawConf struct {
	CNIVersion       string          `json:"cniVersion"`
	Name             string          `json:"name"`
	Type             string          `json:"type"`
	Bridge           *string         `json:"bridge"`
	IsGateway        *bool           `json:"isGateway"`
	IsDefaultGateway bool            `json:"isDefaultGateway"`
	IPMasq           bool            `json:"ipMasq"`
	IPMasqBackend    *string         `json:"ipMasqBackend"`
	MTU              int             `json:"mtu"`
	HairpinMode      bool            `json:"hairpinMode"`
	Mesh             string          `json:"mesh"`
	IPAM             json.RawMessage `json:"ipam"`
	DNS              types.DNS       `json:"dns"`
	RuntimeConfig    json.RawMessage `json:"runtimeConfig"`
	PrevResult       json.RawMessage `json:"prevResult"`
	Valid            json.RawMessage `json:"cni.dev/valid-attachments"`
	Older            json.RawMessage `json:"cni.dev/attachments"`
}

// ParseNetConf reads a plugin config. A key plumb does not implement is an
// error naming it (code 2, unsupported field), unless its value is the
// reference plugin's default, which asks for what plumb does anyway; a key
// no CNI plugin of this kind knows is an invalid config (code 7).
// defaultFirewall (PLUMB_FIREWALL) is the back end when ipMasqBackend is unset.
func ParseNetConf(stdin []byte, defaultFirewall string) (*NetConf, *types.Error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(stdin, &raw); err != nil {
		return nil, Error(types.ErrDecodingFailure, "reading the network config: %v", err)
	}
	if err := checkKeys("", raw, slices.Concat(ownKeys, runtimeKeys), refusedKeys, "cni.dev/"); err != nil {
		return nil, err
	}
	var c rawConf
	if err := json.Unmarshal(stdin, &c); err != nil {
		return nil, Error(types.ErrDecodingFailure, "reading the network config: %v", err)
	}
	conf := &NetConf{CNIVersion: c.CNIVersion, Name: c.Name, DefaultRoute: c.IsDefaultGateway, NAT: c.IPMasq,
		MTU: c.MTU, Hairpin: c.HairpinMode, DNS: c.DNS, Bridge: "cni0"}
	if err := conf.readNetwork(&c, defaultFirewall); err != nil {
		return nil, err
	}
	if c.Mesh != "" {
		if _, err := actions.ParseIfName(c.Mesh); err != nil {
			return nil, Error(types.ErrInvalidNetworkConfig, "mesh: %v", err)
		}
	}
	var err *types.Error
	if conf.Mesh = c.Mesh; conf.Mesh != "" && !hasSubnet(c.IPAM) {
		conf.MeshIPAM = c.IPAM // read by OnMesh, with the node's subnet
	} else {
		ipamConf, err := readIPAM(c.IPAM, conf.DefaultRoute)
		if err != nil {
			return nil, err
		}
		conf.IPAM = *ipamConf
	}
	if conf.Ports, err = readRuntimeConfig(c.RuntimeConfig); err != nil {
		return nil, err
	}
	if len(conf.Ports) > 0 && !conf.NAT {
		return nil, Error(types.ErrInvalidNetworkConfig, "runtimeConfig.portMappings needs ipMasq true: published ports are rules of the network's NAT chains")
	}
	if len(c.PrevResult) > 0 && string(c.PrevResult) != "null" {
		conf.PrevResult = c.PrevResult
	}
	if err := conf.readValid(&c); err != nil {
		return nil, err
	}
	return conf, nil
}

// ParseDelNetConf reads DEL's config: a config plumb would refuse for ADD
// does not stop a DEL, whose name is enough to find the attachment.
func ParseDelNetConf(stdin []byte, defaultFirewall string) (*NetConf, *types.Error) {
	conf, cerr := ParseNetConf(stdin, defaultFirewall)
	if cerr == nil {
		return conf, nil
	}
	var named struct {
		Name string `json:"name"`
	}
	if json.Unmarshal(stdin, &named) != nil || named.Name == "" {
		return nil, cerr
	}
	return &NetConf{Name: named.Name}, nil
}

// readNetwork reads the bridge's own keys: its name, gateway, firewall
// back end and MTU.
func (conf *NetConf) readNetwork(c *rawConf, defaultFirewall string) *types.Error {
	if c.Name == "" {
		return Error(types.ErrInvalidNetworkConfig, "the network config has no name")
	}
	if c.Bridge != nil {
		br, err := actions.ParseIfName(*c.Bridge)
		if err != nil {
			return Error(types.ErrInvalidNetworkConfig, "bridge: %v", err)
		}
		conf.Bridge = br
	}
	backend := defaultFirewall
	if c.IPMasqBackend != nil && *c.IPMasqBackend != "" { // "": the default, as the reference plugin reads it
		backend = *c.IPMasqBackend
		if backend != "iptables" && backend != "nftables" {
			return Error(types.ErrInvalidNetworkConfig, "ipMasqBackend %q is not a firewall back end: iptables or nftables", backend)
		}
	}
	fw, err := firewall.ByName(backend)
	if err != nil {
		return Error(types.ErrInvalidNetworkConfig, "PLUMB_FIREWALL: %v", err)
	}
	conf.Firewall = fw
	if c.IsGateway != nil && !*c.IsGateway {
		return Error(types.ErrUnsupportedField, "unsupported field isGateway=false: plumb's bridge always holds the network's gateway address; leave it out or set it true")
	}
	if c.MTU < 0 {
		return Error(types.ErrInvalidNetworkConfig, "mtu %d is not an MTU", c.MTU)
	}
	return nil
}

// readValid reads GC's list of the attachments the runtime keeps.
func (conf *NetConf) readValid(c *rawConf) *types.Error {
	valid := c.Valid
	if valid == nil {
		valid = c.Older // what older libcni sends
	}
	if valid == nil {
		return nil
	}
	conf.HasValid = true
	if err := json.Unmarshal(valid, &conf.Valid); err != nil {
		return Error(types.ErrDecodingFailure, "reading cni.dev/valid-attachments: %v", err)
	}
	return nil
}

// checkKeys refuses, by name, the keys of raw that are not in known: those
// in refused with their reason (unless their value is a default), the rest
// as unknown. Keys starting with prefix are accepted.
func checkKeys(where string, raw map[string]json.RawMessage, known []string, refused map[string]string, prefix string) *types.Error {
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if slices.Contains(known, k) || prefix != "" && strings.HasPrefix(k, prefix) {
			continue
		}
		if why, ok := refused[k]; ok {
			if isDefault(raw[k]) {
				continue
			}
			return Error(types.ErrUnsupportedField, "unsupported field %s%s=%s: plumb does not implement it (%s)", where, k, compact(raw[k]), why)
		}
		return Error(types.ErrInvalidNetworkConfig, "unknown key %s%s in the network config: plumb takes %s", where, k, strings.Join(known, ", "))
	}
	return nil
}

// isDefault reports whether a JSON value is its type's zero: false, 0, "",
// null, [] or {}.
func isDefault(v json.RawMessage) bool {
	switch s := string(bytes.TrimSpace(v)); s {
	case "false", "0", `""`, "null", "[]", "{}":
		return true
	}
	return false
}

func compact(v json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Compact(&b, v); err != nil {
		return string(v)
	}
	return b.String()
}

// BridgeRecipe is the config's network as plumb's bridge recipe takes it.
func (conf *NetConf) BridgeRecipe() *network.Bridge {
	// ipMasq masquerades every family, as the reference bridge plugin's.
	return &network.Bridge{Name: conf.Bridge, Subnet: conf.Subnet, Gateway: conf.Gateway, NoNAT: !conf.NAT, MTU: conf.MTU, Firewall: conf.Firewall,
		Subnet6: conf.Subnet6, Gateway6: conf.Gateway6, NAT6: conf.NAT && (conf.Subnet6.IsValid() || conf.Subnet.Addr().Is6()), Mesh: conf.Mesh}
}

// hasSubnet reports whether an ipam section gives a subnet (or ranges).
func hasSubnet(raw json.RawMessage) bool {
	var c struct {
		Subnet string            `json:"subnet"`
		Ranges []json.RawMessage `json:"ranges"`
	}
	return json.Unmarshal(raw, &c) == nil && (c.Subnet != "" || len(c.Ranges) > 0)
}

// OnMesh completes a config on a mesh from the mesh on this node: its
// subnet, when the ipam section gives none, and its MTU, when the config
// gives none. The mesh not up is code 11 (try again later): a node's
// mesh comes up beside its runtime, and kubelet retries.
func (conf *NetConf) OnMesh(st *plan.Store) *types.Error {
	if conf.Mesh == "" {
		return nil
	}
	rec, err := st.LoadHeader(plan.MeshKind.Name(), conf.Mesh)
	if errors.Is(err, fs.ErrNotExist) {
		return Error(types.ErrTryAgainLater, "mesh %s is not up on this node (plumb mesh up %s)", conf.Mesh, conf.Mesh)
	} else if err != nil {
		return Error(types.ErrTryAgainLater, "mesh %s: %v", conf.Mesh, err)
	}
	m, err := rec.MeshFacts()
	if err != nil {
		return Error(types.ErrInternal, "%v", err)
	}
	// A sync changes the peers alone: the device, subnet and MTU serve
	// meanwhile.
	if rec.State != plan.StateUp && !(rec.State == plan.StateApplying && rec.Updating != nil) {
		return Error(types.ErrTryAgainLater, "mesh %s is %s, not up (plumb recover finishes what a killed plumb left)", conf.Mesh, rec.State)
	}
	if conf.MTU == 0 {
		conf.MTU = m.MTU
	}
	if conf.MeshIPAM == nil && conf.Subnet.IsValid() {
		return nil
	}
	section := map[string]json.RawMessage{}
	if len(conf.MeshIPAM) > 0 && string(conf.MeshIPAM) != "null" {
		if err := json.Unmarshal(conf.MeshIPAM, &section); err != nil {
			return Error(types.ErrDecodingFailure, "reading ipam: %v", err)
		}
	}
	if _, ok := section["type"]; !ok {
		section["type"] = json.RawMessage(`"host-local"`)
	}
	section["subnet"], _ = json.Marshal(m.Subnet.String())
	raw, _ := json.Marshal(section)
	ipamConf, cerr := readIPAM(raw, conf.DefaultRoute)
	if cerr != nil {
		return cerr
	}
	conf.IPAM, conf.MeshIPAM = *ipamConf, nil
	return nil
}

// Network is the bridge as an attachment sees it, before it is kept.
func (conf *NetConf) Network() network.BridgeNetwork {
	fw := ""
	if conf.NAT {
		fw = firewall.Recorded(conf.Firewall)
	}
	return network.BridgeNetwork{Name: conf.Bridge, BridgeFacts: plan.BridgeFacts{Subnet: conf.Subnet, Gateway: conf.Gateway, NAT: conf.NAT, MTU: conf.MTU, Firewall: fw, Mesh: conf.Mesh,
		Subnet6: conf.Subnet6, Gateway6: conf.Gateway6, NAT6: conf.BridgeRecipe().NAT6, LoopbackGuard: conf.NAT && conf.Subnet.Addr().Is4()}}
}
