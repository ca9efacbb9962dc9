package cni_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/types"

	"plumb/cni"
	"plumb/network"
	"plumb/plan"
)

// hostRunner runs nothing: it answers as a host with an uplink, lists the
// links it was asked to add, and records what it was asked.
type hostRunner struct {
	ran   []string
	links []string
}

func (h *hostRunner) Run(_ context.Context, argv []string, _ []byte) ([]byte, error) {
	line := strings.Join(argv, " ")
	h.ran = append(h.ran, line)
	switch {
	case len(argv) > 1 && argv[0] == "sysctl" && argv[1] == "-n":
		return []byte("0\n"), nil
	case strings.HasPrefix(line, "ip -j route show default"):
		return []byte(`[{"dst":"default","gateway":"192.0.2.1","dev":"eth0"}]`), nil
	case line == "ip -j link show":
		var ls []string
		for _, l := range append([]string{"lo", "eth0"}, h.links...) {
			ls = append(ls, `{"ifname":"`+l+`","mtu":1500}`)
		}
		return []byte("[" + strings.Join(ls, ",") + "]"), nil
	case strings.Contains(line, "ip -j "):
		return []byte(`[]`), nil
	case len(argv) > 3 && argv[0] == "ip" && argv[1] == "link" && argv[2] == "add":
		h.links = append(h.links, argv[3])
	case len(argv) > 3 && argv[0] == "ip" && argv[1] == "link" && argv[2] == "del":
		h.links = slices.DeleteFunc(h.links, func(l string) bool { return l == argv[3] })
	}
	return nil, nil
}

const netConf = `{"cniVersion":"1.1.0","name":"libnet","type":"plumb","bridge":"plumb-lib0","ipam":{"type":"host-local","subnet":"10.231.0.0/24"}}`

// TestPluginAsLibrary: a program of its own calls the plugin's ADD, CHECK,
// GC, DEL and STATUS with typed input and reads the CNI library's types
// back, as cmd/plumb does; nothing runs (the runner records).
func TestPluginAsLibrary(t *testing.T) {
	ctx := context.Background()
	st := plan.NewStore(t.TempDir())
	r := &hostRunner{}
	p := &cni.Plugin{Env: plan.Env{R: r, St: st, Mode: plan.Each}}
	conf, cerr := cni.ParseNetConf([]byte(netConf), "")
	if cerr != nil {
		t.Fatal(cerr)
	}
	// The sandbox is a file: nothing enters it.
	netns := filepath.Join(t.TempDir(), "c1")
	if err := os.WriteFile(netns, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	args := cni.Args{ContainerID: "c1", Netns: netns, IfName: "eth0"}
	res, err := p.Add(ctx, conf, args)
	if err != nil {
		t.Fatalf("ADD: %v\nran:\n%s", err, strings.Join(r.ran, "\n"))
	}
	if len(res.IPs) != 1 || res.IPs[0].Address.String() != "10.231.0.2/24" || res.IPs[0].Gateway.String() != "10.231.0.1" {
		t.Errorf("ADD's address: %+v", res.IPs)
	}
	if len(res.Interfaces) != 3 || res.Interfaces[0].Name != "plumb-lib0" || res.Interfaces[2].Sandbox != netns {
		t.Errorf("ADD's interfaces: %+v", res.Interfaces)
	}
	id := cni.ID(conf, args)
	if _, err := st.Load("attachment", id); err != nil {
		t.Errorf("ADD kept no journal of attachment/%s: %v", id, err)
	}
	// GC with the attachment listed valid keeps it.
	conf.HasValid, conf.Valid = true, []types.GCAttachment{{ContainerID: "c1", IfName: "eth0"}}
	if err := p.GC(ctx, conf); err != nil {
		t.Errorf("GC: %v", err)
	}
	if _, err := st.Load("attachment", id); err != nil {
		t.Errorf("GC removed a valid attachment: %v", err)
	}
	// GC removes an attachment the runtime does not list.
	args2 := cni.Args{ContainerID: "c2", Netns: netns, IfName: "eth1"}
	if _, err := p.Add(ctx, conf, args2); err != nil {
		t.Fatalf("second ADD: %v", err)
	}
	if err := p.GC(ctx, conf); err != nil {
		t.Errorf("GC: %v", err)
	}
	if _, err := st.Load("attachment", cni.ID(conf, args2)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("GC left attachment/%s, which the runtime does not list: %v", cni.ID(conf, args2), err)
	}
	if err := p.Del(ctx, conf, cni.Args{ContainerID: "c1", IfName: "eth0"}); err != nil {
		t.Errorf("DEL: %v", err)
	}
	if _, err := st.Load("attachment", id); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("DEL left attachment/%s: %v", id, err)
	}
	// DEL again changes nothing; CHECK of what is gone says so.
	if err := p.Del(ctx, conf, cni.Args{ContainerID: "c1", IfName: "eth0"}); err != nil {
		t.Errorf("second DEL: %v", err)
	}
	var te *types.Error
	if err := p.Check(ctx, conf, args); !errors.As(err, &te) || te.Code != types.ErrUnknownContainer {
		t.Errorf("CHECK after DEL: %v; want code %d", err, types.ErrUnknownContainer)
	}
}

// TestPluginRefuses: the plugin's errors are CNI errors with the spec's
// codes, and a call that lacks privileges changes nothing.
func TestPluginRefuses(t *testing.T) {
	ctx := context.Background()
	st := plan.NewStore(t.TempDir())
	r := &hostRunner{}
	p := &cni.Plugin{Env: plan.Env{R: r, St: st}, Permit: func() error { return &plan.Refused{Msg: "needs root"} }}
	conf, _ := cni.ParseNetConf([]byte(netConf), "")
	for _, tt := range []struct {
		name string
		err  error
		code uint
	}{
		{"ADD without privileges", second(p.Add(ctx, conf, cni.Args{ContainerID: "c1", Netns: "/run/netns/c1", IfName: "eth0"})), cni.ErrRefused},
		{"ADD without CNI_NETNS", second(p.Add(ctx, conf, cni.Args{ContainerID: "c1", IfName: "eth0"})), types.ErrInvalidEnvironmentVariables},
		{"DEL without privileges", p.Del(ctx, conf, cni.Args{ContainerID: "c1", IfName: "eth0"}), cni.ErrRefused},
	} {
		var te *types.Error
		if !errors.As(tt.err, &te) || te.Code != tt.code {
			t.Errorf("%s: %v; want code %d", tt.name, tt.err, tt.code)
		}
	}
	if len(r.ran) != 0 {
		t.Errorf("refused calls ran %q", r.ran)
	}
	if conf, err := cni.ParseDelNetConf([]byte(`{"name":"libnet","ipam":{}}`), ""); err != nil || conf.Name != "libnet" {
		t.Errorf("DEL's config by name alone: %+v, %v", conf, err)
	}
}

func second[T any](_ T, err error) error { return err }

// TestAddSharesTheNetwork: once its bridge is up, an ADD takes the
// network's lock shared, not the state directory's exclusive: it goes on
// while another plumb holds an unrelated object (which an exclusive lock
// would wait for, and give up on), while a network's first ADD, which
// makes the bridge, still waits for the whole state directory.
func TestAddSharesTheNetwork(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	r := &hostRunner{}
	p := &cni.Plugin{Env: plan.Env{R: r, St: plan.NewStore(dir), Mode: plan.Each, Wait: 200 * time.Millisecond}}
	conf, cerr := cni.ParseNetConf([]byte(netConf), "")
	if cerr != nil {
		t.Fatal(cerr)
	}
	add := func(id string) error {
		netns := filepath.Join(t.TempDir(), id)
		if err := os.WriteFile(netns, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		p.Env.St = plan.NewStore(dir) // a plumb process of its own
		_, err := p.Add(ctx, conf, cni.Args{ContainerID: id, Netns: netns, IfName: "eth0"})
		return err
	}
	other := plan.NewStore(dir)
	if err := other.LockFor(ctx, time.Second, plan.ObjectLock(plan.VethKind.Name(), "unrelated")); err != nil {
		t.Fatal(err)
	}
	if err := add("c1"); err == nil || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("the network's first ADD, with another plumb at work: %v; want it to wait for the state directory", err)
	}
	other.Unlock()
	if err := add("c1"); err != nil {
		t.Fatalf("the first ADD: %v", err)
	}
	if err := other.LockFor(ctx, time.Second, plan.ObjectLock(plan.VethKind.Name(), "unrelated")); err != nil {
		t.Fatal(err)
	}
	defer other.Unlock()
	if err := add("c2"); err != nil {
		t.Errorf("an ADD on an up bridge, with another plumb at work on an unrelated object: %v", err)
	}
	// DEL locks as ADD does: never waiting for the whole state directory
	// while others work on the network.
	p.Env.St = plan.NewStore(dir)
	if err := p.Del(ctx, conf, cni.Args{ContainerID: "c1", IfName: "eth0"}); err != nil {
		t.Errorf("a DEL on an up bridge, with another plumb at work on an unrelated object: %v", err)
	}
	if left := network.RuntimeAttachments(plan.NewStore(dir), conf.Name); len(left) != 1 {
		t.Errorf("after c1's DEL, %d attachments are kept; want c2's alone", len(left))
	}
}
