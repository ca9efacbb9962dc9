package actions

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
)

// Encoded is an action as the journal stores it: its kind, its typed fields,
// and the argv it rendered when it was written. Decoding checks that the
// fields still render the same argv, so an edited journal never runs a
// command other than the one recorded.
type Encoded struct {
	Kind string          `json:"kind"`
	Spec json.RawMessage `json:"spec"`
	Argv []string        `json:"argv"`
}

// Encode turns an action into its journal form.
func Encode(a Action) (Encoded, error) {
	spec, err := json.Marshal(a)
	if err != nil {
		return Encoded{}, fmt.Errorf("encoding %s: %w", a.Kind(), err)
	}
	return Encoded{Kind: a.Kind(), Spec: spec, Argv: a.Argv()}, nil
}

// Decode is the inverse of Encode over the closed set of action kinds.
func Decode(e Encoded) (Action, error) {
	var a Action
	var err error
	switch e.Kind {
	case "link_add_veth":
		a, err = decodeAs[LinkAddVeth](e.Spec)
	case "link_del":
		a, err = decodeAs[LinkDel](e.Spec)
	case "link_set_netns":
		a, err = decodeAs[LinkSetNetns](e.Spec)
	case "link_set_up":
		a, err = decodeAs[LinkSetUp](e.Spec)
	case "addr_add":
		a, err = decodeAs[AddrAdd](e.Spec)
	case "route_add_default":
		a, err = decodeAs[RouteAddDefault](e.Spec)
	case "sysctl_set":
		a, err = decodeAs[SysctlSet](e.Spec)
	case "iptables_append":
		a, err = decodeAs[IptablesAppend](e.Spec)
	case "iptables_delete":
		a, err = decodeAs[IptablesDelete](e.Spec)
	case "link_add_bridge":
		a, err = decodeAs[LinkAddBridge](e.Spec)
	case "link_set_mtu":
		a, err = decodeAs[LinkSetMTU](e.Spec)
	case "link_set_master":
		a, err = decodeAs[LinkSetMaster](e.Spec)
	case "link_rename":
		a, err = decodeAs[LinkRename](e.Spec)
	case "iptables_insert":
		a, err = decodeAs[IptablesInsert](e.Spec)
	case "iptables_new_chain":
		a, err = decodeAs[IptablesNewChain](e.Spec)
	case "iptables_delete_chain":
		a, err = decodeAs[IptablesDeleteChain](e.Spec)
	case "netns_add":
		a, err = decodeAs[NetnsAdd](e.Spec)
	case "netns_del":
		a, err = decodeAs[NetnsDel](e.Spec)
	case "touch":
		a, err = decodeAs[Touch](e.Spec)
	case "remove_file":
		a, err = decodeAs[RemoveFile](e.Spec)
	case "uts_new":
		a, err = decodeAs[UTSNew](e.Spec)
	case "start_container":
		a, err = decodeAs[StartContainer](e.Spec)
	case "stop_container":
		a, err = decodeAs[StopContainer](e.Spec)
	case "extract":
		a, err = decodeAs[Extract](e.Spec)
	case "mkdir":
		a, err = decodeAs[Mkdir](e.Spec)
	case "rmdir_empty":
		a, err = decodeAs[RmdirEmpty](e.Spec)
	case "overlay_mount":
		a, err = decodeAs[OverlayMount](e.Spec)
	case "umount":
		a, err = decodeAs[Umount](e.Spec)
	case "remove_tree":
		a, err = decodeAs[RemoveTree](e.Spec)
	default:
		return nil, fmt.Errorf("unknown action kind %q", e.Kind)
	}
	if err != nil {
		return nil, fmt.Errorf("action %s: %w", e.Kind, err)
	}
	if got := a.Argv(); !slices.Equal(got, e.Argv) {
		return nil, fmt.Errorf("action %s: recorded command %q does not match its fields, which give %q", e.Kind, Quote(e.Argv), Quote(got))
	}
	return a, nil
}

func decodeAs[T Action](spec json.RawMessage) (Action, error) {
	var a T
	dec := json.NewDecoder(bytes.NewReader(spec))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		return nil, err
	}
	return a, nil
}
