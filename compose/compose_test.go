package compose

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"plumb/plan"
)

// project writes files (name: content) into a directory of their own and
// loads them as a project: the first is the file, .env and others beside.
func project(t *testing.T, files map[string]string, o LoadOptions) (*Project, error) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "myapp")
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	o.Dir = dir
	if o.Env == nil {
		o.Env = []string{}
	}
	for i, f := range o.Files {
		o.Files[i] = filepath.Join(dir, f)
	}
	f, err := Load(context.Background(), o)
	if err != nil {
		return nil, err
	}
	return Model(f)
}

// TestRefused: what plumb does not do is refused before anything runs,
// one line per key with its service, whatever else the file asks for.
func TestRefused(t *testing.T) {
	for _, c := range []struct {
		name, file string
		want       []string
	}{
		{"build and healthcheck", `services:
  app:
    build: .
    image: app:1
    healthcheck: {test: ["CMD", "true"]}
    restart: always
    privileged: true
  db:
    image: db:1
    depends_on: {app: {condition: service_healthy}}
secrets:
  key: {file: ./key}
`, []string{
			"secrets: not supported",
			"service app: build: not supported (plumb runs images, it builds none: build it elsewhere, then plumb image import)",
			"service app: healthcheck: not supported (plumb runs no healthchecks)",
			"service app: privileged: not supported (use cap_add)",
			"service app: restart always: only \"no\" (plumb restarts nothing by itself)",
			"service db: depends_on.app: condition service_healthy: only service_started (plumb runs no healthcheck and waits for no exit)",
		}},
		{"network driver and options", `services:
  a: {image: a, networks: {n: {ipv6_address: "fd00::5"}}}
networks:
  n: {driver: overlay, driver_opts: {x: y}}
`, []string{
			"service a: networks.n: ipv6_address: not supported",
			"networks.n: driver_opts: not supported",
			"networks.n: driver overlay: only bridge",
		}},
		{"deploy's resources and a port's name", "services:\n  a: {image: a, deploy: {resources: {limits: {cpus: \"0.5\"}}}, ports: [{target: 80, published: \"80\", name: web}]}\n",
			[]string{"service a: ports[0]: name: not supported", "service a: deploy: resources: not supported"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := project(t, map[string]string{"compose.yaml": c.file}, LoadOptions{})
			if err == nil {
				t.Fatal("loaded")
			}
			lines := strings.Split(err.Error(), "\n")
			var got []string
			for _, l := range lines[1:] {
				got = append(got, strings.TrimSpace(l))
			}
			if !strings.HasPrefix(lines[0], "the file asks for") {
				t.Errorf("first line: %q", lines[0])
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("refusals (-want +got):\n%s", diff)
			}
		})
	}
}

// TestModel: the names Docker Compose gives (PROJECT-SERVICE-N,
// PROJECT_NET, PROJECT_VOL, PROJECT_default), a short stable bridge name
// when the network's does not fit an interface's 15 bytes, .env
// interpolation, two files merged, start order by depends_on, and the
// file's input plumb takes.
func TestModel(t *testing.T) {
	files := map[string]string{
		"compose.yaml": `services:
  web:
    image: web:${TAG}
    ports: ["8080:80", {target: 53, published: "5353", protocol: udp}]
    volumes: [data:/data, "./site:/www:ro", {type: tmpfs, target: /tmp}]
    depends_on: [api]
    networks: {frontend-of-the-shop: {aliases: [www]}}
    environment: [A=1]
  api:
    image: api:1
    deploy: {replicas: 2}
volumes:
  data: {}
networks:
  frontend-of-the-shop: {}
  default: {}
`,
		"override.yaml": "services:\n  api:\n    command: [serve, --fast]\n",
		".env":          "TAG=2\n",
	}
	p, err := project(t, files, LoadOptions{Files: []string{"compose.yaml", "override.yaml"}})
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "myapp" {
		t.Errorf("project name %q, want the directory's", p.Name)
	}
	var nets []string
	for _, n := range p.Networks {
		nets = append(nets, n.Name+"="+n.Bridge.String())
	}
	if diff := cmp.Diff([]string{"myapp_default=myapp_default", "myapp_frontend-of-the-shop=cmp-" + BridgeName("myapp_frontend-of-the-shop").String()[4:]}, nets); diff != "" {
		t.Errorf("networks (-want +got):\n%s", diff)
	}
	if b := BridgeName("myapp_frontend-of-the-shop"); len(b) != 12 || !strings.HasPrefix(b.String(), "cmp-") || b != BridgeName("myapp_frontend-of-the-shop") {
		t.Errorf("a long network's bridge: %q", b)
	}
	if len(p.Volumes) != 1 || p.Volumes[0].Name != "myapp_data" {
		t.Errorf("volumes: %+v", p.Volumes)
	}
	var order []string
	for _, s := range p.Services {
		order = append(order, s.Name)
	}
	if diff := cmp.Diff([]string{"api", "web"}, order); diff != "" {
		t.Errorf("start order (-want +got):\n%s", diff)
	}
	api, web := p.Services[0], p.Services[1]
	if api.Replicas != 2 || strings.Join(api.Spec.Command, " ") != "serve --fast" || api.Spec.Networks[0].Network != "myapp_default" {
		t.Errorf("api: %+v", api)
	}
	if web.Spec.Image != "web:2" || strings.Join(web.Spec.Env, " ") != "A=1" {
		t.Errorf("web: image %q env %q", web.Spec.Image, web.Spec.Env)
	}
	if diff := cmp.Diff([]string{"web", "www"}, web.Spec.Networks[0].Aliases); diff != "" {
		t.Errorf("web's aliases (-want +got):\n%s", diff)
	}
	if got := portList(web.Ports); got != "8080:80/tcp,5353:53/udp" {
		t.Errorf("web's ports: %s", got)
	}
	var mounts []string
	for _, m := range web.Spec.Mounts {
		mounts = append(mounts, m.Type+":"+filepath.Base(m.Source)+":"+m.Target)
	}
	if diff := cmp.Diff([]string{"volume:myapp_data:/data", "bind:site:/www", "tmpfs:.:/tmp"}, mounts); diff != "" {
		t.Errorf("web's mounts (-want +got):\n%s", diff)
	}
	if ContainerName(p.Name, "api", 2) != "myapp-api-2" {
		t.Errorf("container name %s", ContainerName(p.Name, "api", 2))
	}
}

// TestModelRefused: input that Compose takes but plumb cannot.
func TestModelRefused(t *testing.T) {
	for _, c := range []struct{ file, want string }{
		{"services:\n  a: {image: a, ports: [{target: 80, published: \"8000-8001\"}]}\n", `service a: ports[0]: published "8000-8001": one port, 1 to 65535 (no ranges)`},
		{"services:\n  a: {image: a, ports: [\"80\"]}\n", "service a: ports[0]: target 80 has no published port"},
		{"services:\n  a: {image: a, volumes: [/data]}\n", "service a: volumes[0]: plumb has no anonymous volumes"},
		{"services:\n  a: {image: a, depends_on: [b]}\n  b: {image: b, depends_on: [a]}\n", "dependency cycle detected: a -> b -> a"},
		{"services:\n  a: {image: a, ports: [\"80:80\"]}\nnetworks:\n  default: {internal: true}\n", "service a: ports: the service is on internal networks alone"},
		{"services:\n  a: {image: a}\nnetworks:\n  default: {internal: true, external: true}\n", "networks.default: an external network is what it was made"},
		{"services:\n  a: {image: a, deploy: {replicas: 2}, networks: {default: {ipv4_address: 10.89.0.9}}}\n", "one address for 2 replicas"},
		{"services:\n  a: {image: a}\nnetworks:\n  default: {ipam: {config: [{subnet: 10.5.0.0/24}, {subnet: 10.6.0.0/24}]}}\n", "a second subnet of one family"},
	} {
		_, err := project(t, map[string]string{"compose.yaml": c.file}, LoadOptions{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.file, err, c.want)
		}
	}
}

// TestInternalLast: a service's first network, which gives its default
// route and its published ports, is its first that is not internal, as
// Docker picks its gateway; the others keep their order.
func TestInternalLast(t *testing.T) {
	file := `services:
  a:
    image: a
    ports: ["8080:80"]
    networks: [back, inner, front]
networks:
  back: {internal: true}
  inner: {internal: true}
  front: {}
`
	p, err := project(t, map[string]string{"compose.yaml": file}, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range p.Services[0].Spec.Networks {
		got = append(got, r.Network)
	}
	if diff := cmp.Diff([]string{"myapp_front", "myapp_back", "myapp_inner"}, got); diff != "" {
		t.Errorf("networks (-want +got):\n%s", diff)
	}
	if n, _ := p.network("back"); !n.Internal {
		t.Errorf("back: %+v", n)
	}
}

// TestNoFile: a directory without a Compose file says where it looked.
func TestNoFile(t *testing.T) {
	dir := t.TempDir()
	_, err := Load(context.Background(), LoadOptions{Dir: dir, Env: []string{}})
	if err == nil || !strings.Contains(err.Error(), "no compose.yaml, compose.yml, docker-compose.yml or docker-compose.yaml in "+dir) {
		t.Errorf("%v", err)
	}
}

// TestChanged names what differs between two configurations.
func TestChanged(t *testing.T) {
	a := Spec{Image: "a:1", Command: []string{"x"}}
	b := Spec{Image: "a:2", Command: []string{"y"}, Env: []string{"K=V"}}
	if got := changed(a.JSON(), b.JSON()); got != "command, env, image changed" {
		t.Errorf("%q", got)
	}
	if got := changed("", b.JSON()); got != "its configuration changed" {
		t.Errorf("%q", got)
	}
	if a.Hash() == b.Hash() || a.Hash() != (Spec{Image: "a:1", Command: []string{"x"}}).Hash() {
		t.Error("hashes")
	}
}

// TestOnlyAliases: a configuration that differs from the one a container
// was made from in its aliases alone is changed in place, and says how;
// any other difference, or a label that cannot be read, replaces it.
func TestOnlyAliases(t *testing.T) {
	net := func(aliases ...string) NetRef {
		return NetRef{Bridge: "shop_front", Network: "shop_front", Aliases: aliases}
	}
	was := Spec{Image: "a:1", Networks: []NetRef{net("web", "www"), {Bridge: "shop_back", Network: "shop_back", Aliases: []string{"web"}}}}
	now := was
	now.Networks = []NetRef{net("web", "www", "shop"), was.Networks[1]}
	if !onlyAliases(was.JSON(), now) {
		t.Error("aliases alone: not in place")
	}
	if got := aliasChange(was, now); got != "aliases on shop_front web, www → web, www, shop" {
		t.Errorf("aliasChange: %q", got)
	}
	other := now
	other.Command = []string{"x"}
	if onlyAliases(was.JSON(), other) {
		t.Error("a command changed too: in place")
	}
	moved := now
	moved.Networks = []NetRef{net("web")}
	if onlyAliases(was.JSON(), moved) {
		t.Error("a network left: in place")
	}
	if onlyAliases("", now) || onlyAliases("{", now) {
		t.Error("an unreadable label: in place")
	}
}

// TestInterruptedProjects: the projects whose up left a journal, by the
// project each names (a name escaped in the file's name is read back),
// and not a stray file.
func TestInterruptedProjects(t *testing.T) {
	l := plan.Layout{Dir: t.TempDir()}
	if got := InterruptedProjects(l); got != nil {
		t.Errorf("no journal: %v", got)
	}
	for _, project := range []string{"shop", "a b"} {
		path := journalPath(l, project)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(`{"project":"`+project+`","changes":[]}`), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(l.Dir, "compose", "notes.txt"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	got := InterruptedProjects(l)
	slices.Sort(got)
	if !slices.Equal(got, []string{"a b", "shop"}) {
		t.Errorf("interrupted: %q", got)
	}
}

// TestNetworkChanged: a project's network that is up with settings other
// than the file's is refused, naming them, rather than kept as it is: an
// internal: changed either way, and a network made before a project's
// networks were isolated.
func TestNetworkChanged(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name              string
		internal, isolate bool // the bridge up
		file              bool // internal: in the file
		want              string
	}{
		{"as it is", false, true, false, ""},
		{"internal as it is", true, true, true, ""},
		{"made internal", false, true, true, "internal false → true"},
		{"made not internal", true, true, false, "internal true → false"},
		{"made before isolation", false, false, false, "isolated false → true"},
	} {
		st := plan.NewStore(t.TempDir())
		spec, err := plan.EncodeSpec(plan.BridgeSpecVersion, plan.BridgeSpec{Name: "myapp_back", Subnet: netip.MustParsePrefix("10.89.0.0/24"),
			Gateway: netip.MustParseAddr("10.89.0.1"), DNS: true, Project: "myapp", Internal: c.internal, Isolate: c.isolate})
		if err != nil {
			t.Fatal(err)
		}
		rec := &plan.Record{FormatVersion: plan.FormatVersion, Kind: plan.BridgeKind.Name(), Name: "myapp_back", State: plan.StateUp, Spec: spec}
		if err := rec.SetFacts(plan.BridgeFacts{Subnet: netip.MustParsePrefix("10.89.0.0/24"), Gateway: netip.MustParseAddr("10.89.0.1"), Internal: c.internal, Isolate: c.isolate}); err != nil {
			t.Fatal(err)
		}
		if err := st.Save(rec); err != nil {
			t.Fatal(err)
		}
		p := &Project{Name: "myapp"}
		n := Network{Key: "back", Name: "myapp_back", Bridge: "myapp_back", Internal: c.file}
		ch, _, err := p.networkChange(ctx, plan.Env{St: st}, n, nil)
		switch {
		case c.want == "" && (err != nil || ch != nil):
			t.Errorf("%s: %v, %v; want kept", c.name, ch, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "`plumb compose down`, then up")):
			t.Errorf("%s: %v; want refused, naming %q", c.name, err, c.want)
		}
	}
}

// TestExternalInternal: an external network's bridge says whether it is
// internal (a file cannot): a service's first network is then its first
// that is not, and ports on such networks alone are refused before
// anything runs.
func TestExternalInternal(t *testing.T) {
	st := plan.NewStore(t.TempDir())
	spec, err := plan.EncodeSpec(plan.BridgeSpecVersion, plan.BridgeSpec{Name: "aint", Subnet: netip.MustParsePrefix("10.92.0.0/24"),
		Gateway: netip.MustParseAddr("10.92.0.1"), Internal: true})
	if err != nil {
		t.Fatal(err)
	}
	rec := &plan.Record{FormatVersion: plan.FormatVersion, Kind: plan.BridgeKind.Name(), Name: "aint", State: plan.StateUp, Spec: spec}
	if err := st.Save(rec); err != nil {
		t.Fatal(err)
	}
	file := "services:\n  web: {image: a, networks: [zfront, shared]}\nnetworks:\n  zfront: {}\n  shared: {external: true, name: aint}\n"
	p, err := project(t, map[string]string{"compose.yaml": file}, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Services[0].Spec.Networks[0].Network; got != "aint" {
		t.Fatalf("before the bridge is read, the first network is %s; want the file's order (aint)", got)
	}
	if err := p.externalsInternal(st); err != nil {
		t.Fatal(err)
	}
	if got := p.Services[0].Spec.Networks[0].Network; got != "myapp_zfront" {
		t.Errorf("first network %s, want myapp_zfront: aint is internal", got)
	}
	file = "services:\n  web: {image: a, ports: [\"8080:80\"], networks: [shared]}\nnetworks:\n  shared: {external: true, name: aint}\n"
	if p, err = project(t, map[string]string{"compose.yaml": file}, LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	var r *plan.Refused
	if err := p.externalsInternal(st); !errors.As(err, &r) || !strings.Contains(err.Error(), "service web: ports: the service is on internal networks alone") {
		t.Errorf("ports on an external internal network alone: %v", err)
	}
}
