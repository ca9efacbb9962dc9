package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http/httptest"
	"os"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"plumb/internal/mkimage"
)

// composeFile is the live test's project: web on both networks with a
// published port and a named volume, db on back only (internal), proxy on
// front only; no resolver upstream (the names the networks do not have are
// refused at once).
const composeFile = `name: shop
services:
  web:
    image: plumb-demo/busybox:1
    command: ["httpd", "-f", "-p", "80", "-h", "/www"]
    ports: ["8080:80"]
    networks:
      front: {aliases: [www]}
      back: {}
    volumes: [data:/www]
    depends_on: [db]
  db:
    image: plumb-demo/busybox:1
    command: ["sleep", "3600"]
    environment: {ROLE: db}
    networks: [back]
  proxy:
    image: plumb-demo/busybox:1
    command: ["sleep", "3600"]
    networks: [front]
networks:
  front: {}
  back: {internal: true, ipam: {config: [{subnet: 10.90.0.0/24}]}}
volumes:
  data: {}
`

// TestLiveCompose: a three-service project on two networks with a named
// volume and a published port. Names resolve on a shared network and not
// across separate ones; the published port answers from the stand-in
// internet; plan after up is "nothing to do"; a changed port replaces
// that service alone (the others keep their PIDs); a second project in
// another directory with the same service names stays apart; down keeps
// the volume, down -v removes it, and the namespace and mount table are
// as before.
func TestLiveCompose(t *testing.T) {
	t.Parallel()
	if !isolateWorld(t) {
		return
	}
	quiet := t.TempDir() // stays empty: settled compares the network and the mount table
	before := settled(t, quiet)
	dir, noUpstream, demo := composeWorld(t)
	shop := filepath.Join(dir, "shop")
	write(t, shop+"/compose.yaml", composeFile)
	write(t, shop+"/port.yaml", "services:\n  web:\n    ports: !override [\"8081:80\"]\n")
	compose := func(project string, args ...string) string {
		t.Helper()
		cmd := exec.Command("plumb", append([]string{"--log-level", "warn", "compose"}, args...)...)
		cmd.Dir = project
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("plumb compose %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}

	out := compose(shop, "up", "-d")
	for _, want := range []string{"network shop_back: create", "network shop_front: create (subnet 10.89.0.0/24", "volume shop_data: create", "container shop-db-1: create", "container shop-web-1: create"} {
		if !strings.Contains(out, want) {
			t.Errorf("compose up: no %q in:\n%s", want, out)
		}
	}
	if out := compose(shop, "plan"); out != "nothing to do\n" {
		t.Errorf("plan right after up:\n%s", out)
	}
	// compose exec runs in the service's first container.
	if out := compose(shop, "exec", "web", "--", "cat", "/etc/hostname"); out != "shop-web-1\n" {
		t.Errorf("compose exec web -- cat /etc/hostname: %q", out)
	}
	// Names: proxy shares front with web, db shares back with web; proxy
	// and db share nothing.
	lookup := func(from, name string) string {
		out, _ := exec.Command("plumb", "exec", from, "--", "nslookup", name).CombinedOutput()
		if m := regexp.MustCompile(`(?m)^Address: (\S+)$`).FindStringSubmatch(string(out)); m != nil {
			return m[1]
		}
		return "none"
	}
	for _, c := range []struct{ from, name, want string }{
		{"shop-proxy-1", "web", "10.89.0.3"}, {"shop-proxy-1", "www", "10.89.0.3"}, {"shop-proxy-1", "shop-web-1", "10.89.0.3"},
		{"shop-proxy-1", "db", "none"}, {"shop-db-1", "web", "10.90.0.3"}, {"shop-db-1", "www", "none"}, {"shop-db-1", "proxy", "none"},
		// web asks front's resolver (its first network not internal), and finds back's names too.
		{"shop-web-1", "proxy", "10.89.0.2"}, {"shop-web-1", "db", "10.90.0.2"}, {"shop-web-1", "WWW", "10.89.0.3"},
	} {
		if got := lookup(c.from, c.name); got != c.want {
			t.Errorf("%s resolves %s to %s, want %s", c.from, c.name, got, c.want)
		}
	}
	// Traffic: the networks are kept apart, and back is internal. The
	// stand-in internet, given a route to both subnets through the host,
	// reaches web's front address and not its back one; proxy (front)
	// reaches web on front, not on back; db (back) has no default route.
	sh(t, "ip", "-n", "inet", "route", "add", "10.88.0.0/14", "via", "192.0.2.1")
	if !reaches(t, "/run/netns/inet", "10.89.0.3:80") || reaches(t, "/run/netns/inet", "10.90.0.3:80") {
		t.Errorf("from beyond the host: web's front address reached %v (want true), its internal back address %v (want false)",
			reaches(t, "/run/netns/inet", "10.89.0.3:80"), reaches(t, "/run/netns/inet", "10.90.0.3:80"))
	}
	// (busybox's nc: its static wget dies of SIGSEGV on Debian.)
	connects := func(from, ip string) bool {
		return exec.Command("plumb", "exec", from, "--", "nc", "-w", "1", ip, "80").Run() == nil
	}
	if !connects("shop-proxy-1", "10.89.0.3") || connects("shop-proxy-1", "10.90.0.3") {
		t.Errorf("proxy reached web on front %v (want true), on back %v (want false)", connects("shop-proxy-1", "10.89.0.3"), connects("shop-proxy-1", "10.90.0.3"))
	}
	if out, err := exec.Command("plumb", "exec", "shop-db-1", "--", "ip", "route").CombinedOutput(); err != nil || strings.Contains(string(out), "default") {
		t.Errorf("db's routes on an internal network: %v\n%s", err, out)
	}
	// The published port, from the stand-in internet; the volume was
	// filled from the image's /www.
	if out := getIn(t, "/run/netns/inet", "192.0.2.1:8080"); !strings.Contains(out, "hello from a plumb image layer") {
		t.Errorf("the published port answered:\n%s", out)
	}
	pids := func() map[string]string {
		out := compose(shop, "ps")
		m := map[string]string{}
		for _, l := range strings.Split(out, "\n")[1:] {
			if f := strings.Fields(l); len(f) >= 4 {
				m[f[0]] = f[3]
			}
		}
		return m
	}
	was := pids()

	// Another port: web's rules change in place; no container restarts.
	out = compose(shop, "-f", "compose.yaml", "-f", "port.yaml", "plan")
	for _, want := range []string{"# container shop-db-1: keep\n", "# container shop-proxy-1: keep\n", "# container shop-web-1: update (published ports 8080:80/tcp → 8081:80/tcp)\n", "--dport 8081 "} {
		if !strings.Contains(out, want) {
			t.Errorf("plan of a port change: no %q in:\n%s", want, out)
		}
	}
	compose(shop, "-f", "compose.yaml", "-f", "port.yaml", "up", "-t", "0")
	now := pids()
	if now["shop-db-1"] != was["shop-db-1"] || now["shop-proxy-1"] != was["shop-proxy-1"] || now["shop-web-1"] != was["shop-web-1"] {
		t.Errorf("a port change of web: PIDs %v, then %v", was, now)
	}
	if out := getIn(t, "/run/netns/inet", "192.0.2.1:8081"); !strings.Contains(out, "hello") {
		t.Errorf("the port published again answered:\n%s", out)
	}
	// Other aliases, on both of web's networks: its names change in place
	// (no container restarts), the new ones resolve where they are
	// given, the one taken away no longer does; back as they were, too.
	write(t, shop+"/alias.yaml", "services:\n  web:\n    networks: !override\n      front: {aliases: [www, shop]}\n      back: {aliases: [api]}\n")
	out = compose(shop, "-f", "compose.yaml", "-f", "port.yaml", "-f", "alias.yaml", "plan")
	if !strings.Contains(out, "# container shop-web-1: update (aliases on shop_front web, www → web, www, shop; aliases on shop_back web → web, api)\n") ||
		!strings.Contains(out, "# container shop-db-1: keep\n") {
		t.Errorf("plan of an alias change:\n%s", out)
	}
	compose(shop, "-f", "compose.yaml", "-f", "port.yaml", "-f", "alias.yaml", "up", "-t", "0")
	if now := pids(); now["shop-web-1"] != was["shop-web-1"] {
		t.Errorf("an alias change of web: PIDs %v, then %v", was, now)
	}
	for _, c := range []struct{ from, name, want string }{
		{"shop-proxy-1", "shop", "10.89.0.3"}, {"shop-proxy-1", "www", "10.89.0.3"}, {"shop-db-1", "api", "10.90.0.3"}, {"shop-proxy-1", "api", "none"},
	} {
		if got := lookup(c.from, c.name); got != c.want {
			t.Errorf("after the alias change, %s resolves %s to %s, want %s", c.from, c.name, got, c.want)
		}
	}
	if out := compose(shop, "-f", "compose.yaml", "-f", "port.yaml", "-f", "alias.yaml", "plan"); out != "nothing to do\n" {
		t.Errorf("plan right after the alias change:\n%s", out)
	}
	compose(shop, "-f", "compose.yaml", "-f", "port.yaml", "up", "-t", "0")
	if got := lookup("shop-proxy-1", "shop"); got != "none" {
		t.Errorf("the alias taken away still resolves: shop is %s", got)
	}

	// Another command: web alone is replaced, and keeps its addresses.
	write(t, shop+"/cmd.yaml", "services:\n  web:\n    command: [\"httpd\", \"-f\", \"-p\", \"80\", \"-h\", \"/www\", \"-v\"]\n")
	out = compose(shop, "-f", "compose.yaml", "-f", "port.yaml", "-f", "cmd.yaml", "up", "-t", "0")
	if !strings.Contains(out, "container shop-web-1: replace (command changed): done") {
		t.Errorf("up of a changed command:\n%s", out)
	}
	if again := pids(); again["shop-db-1"] != was["shop-db-1"] || again["shop-web-1"] == was["shop-web-1"] {
		t.Errorf("a command change of web: PIDs %v, then %v", was, again)
	}
	if got := lookup("shop-proxy-1", "web"); got != "10.89.0.3" {
		t.Errorf("after the replace, web is %s on front", got)
	}
	if out := getIn(t, "/run/netns/inet", "192.0.2.1:8081"); !strings.Contains(out, "hello") {
		t.Errorf("the port of the replaced container answered:\n%s", out)
	}

	// A volume the project did not make is not taken for its own.
	mustPlumb(t, "volume", "create", "other_data")
	// A second project with the same service names, in another directory;
	// its db's image is in a registry (in this namespace), which up pulls.
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	remote := strings.TrimPrefix(srv.URL, "http://") + "/plumb-demo/busybox:2"
	must(t, mkimage.Push(context.Background(), remote, demo))
	other := filepath.Join(dir, "other")
	// Written as real projects write them: an .env, long-form ports and
	// volumes.
	write(t, other+"/.env", "TAG=1\nWEB_PORT=9090\n")
	write(t, other+"/compose.yaml", `services:
  web:
    image: plumb-demo/busybox:${TAG}
    command: [httpd, -f, -p, "80", -h, /www]
    ports:
      - target: 80
        published: "${WEB_PORT}"
        protocol: tcp
  db:
    image: `+remote+`
    command: [sleep, "3600"]
    volumes:
      - type: volume
        source: data
        target: /data
      - type: tmpfs
        target: /scratch
volumes:
  data: {}
`)
	plan := exec.Command("plumb", "compose", "plan")
	plan.Dir = other
	if out, err := plan.CombinedOutput(); err == nil || !strings.Contains(string(out), "plumb keeps no image "+remote+": the plan needs the images' layers") {
		t.Errorf("plan of a project whose image is not here: %v\n%s", err, out)
	}
	cmd := exec.Command("plumb", "compose", "up")
	cmd.Dir = other
	// (Its image is pulled first, as docker compose up pulls what is
	// missing before it looks further.)
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "volumes.data: a volume named other_data exists and is not project other's (made by plumb volume create or run -v)") ||
		!strings.Contains(string(out), "image "+remote+": pulled\n") {
		t.Errorf("up with a volume made by hand under the project's name: %v\n%s", err, out)
	}
	mustPlumb(t, "volume", "rm", "other_data")
	out = compose(other, "up")
	if !strings.Contains(out, "network other_default: create (subnet 10.89.1.0/24") || !strings.Contains(out, "container other-web-1: create") {
		t.Errorf("second project's up:\n%s", out)
	}
	if got := lookup("other-db-1", "web"); got != "10.89.1.3" {
		t.Errorf("other's db resolves web to %s, want its own web", got)
	}
	if out := getIn(t, "/run/netns/inet", "192.0.2.1:9090"); !strings.Contains(out, "hello") {
		t.Errorf("other's web, its port from .env:\n%s", out)
	}
	// Another project's network is kept apart from shop's.
	if !connects("other-web-1", "10.89.1.3") || connects("other-web-1", "10.89.0.3") {
		t.Errorf("other's web reached itself %v (want true), shop's web on shop_front %v (want false)", connects("other-web-1", "10.89.1.3"), connects("other-web-1", "10.89.0.3"))
	}
	if out := compose(shop, "-f", "compose.yaml", "-f", "port.yaml", "-f", "cmd.yaml", "plan"); out != "nothing to do\n" {
		t.Errorf("shop's plan beside another project:\n%s", out)
	}
	// Its down without its file, by its name, as docker compose -p NAME down.
	if out := compose(dir, "-p", "other", "down", "-t", "0"); !strings.Contains(out, "network other_default: remove: done") {
		t.Errorf("down -p other, without the file:\n%s", out)
	}

	// logs --follow of two services side by side: each line whole, after
	// its container's name, until both have ended.
	chatty := filepath.Join(dir, "chatty")
	write(t, chatty+"/compose.yaml", "services:\n  a:\n    image: plumb-demo/busybox:1\n    command: [sh, -c, \"echo one; sleep 1; echo two\"]\n  b:\n    image: plumb-demo/busybox:1\n    command: [sh, -c, \"echo uno; sleep 2; echo dos\"]\n")
	compose(chatty, "up")
	follow := exec.Command("timeout", "20", "plumb", "compose", "logs", "--follow")
	follow.Dir = chatty
	if got, err := follow.CombinedOutput(); err != nil {
		t.Errorf("compose logs --follow of two services: %v\n%s", err, got)
	} else {
		for _, want := range []string{"chatty-a-1 | one\n", "chatty-a-1 | two\n", "chatty-b-1 | uno\n", "chatty-b-1 | dos\n"} {
			if !strings.Contains(string(got), want) {
				t.Errorf("compose logs --follow: no %q in:\n%s", want, got)
			}
		}
	}
	compose(chatty, "down", "-t", "0")

	out = compose(shop, "down", "-t", "0")
	if !strings.Contains(out, "network shop_front: remove") || strings.Contains(out, "volume") {
		t.Errorf("down:\n%s", out)
	}
	if out := mustPlumb(t, "volume", "ls"); !strings.Contains(out, "shop_data") {
		t.Errorf("down removed the volume:\n%s", out)
	}
	out = compose(shop, "down", "-v")
	if !strings.Contains(out, "volume shop_data: remove") {
		t.Errorf("down -v:\n%s", out)
	}
	// Its own resolvers: the others' (the fault matrix beside) read
	// another resolv.conf.
	if out, err := exec.Command("pgrep", "-af", "dns serve .*--resolv-conf "+noUpstream).Output(); err == nil {
		t.Errorf("resolvers left running: %s", out)
	}
	if diff := cmp.Diff(before, settled(t, quiet)); diff != "" {
		t.Errorf("after compose down -v, the namespace or mount table differs (-before +after):\n%s", diff)
	}
}

// reaches says whether a TCP connection to addr is made from inside the
// network namespace at nsPath within 300 ms (a dropped SYN is not; the
// namespaces are all on this host, where a connection takes well under
// a millisecond).
func reaches(t *testing.T, nsPath, addr string) bool {
	t.Helper()
	return inNetns(nsPath, func() error {
		conn, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
		if err == nil {
			conn.Close()
		}
		return err
	}) == nil
}

// getIn fetches http://addr/ from inside the network namespace at nsPath
// (the socket is made there: see inNetns).
func getIn(t *testing.T, nsPath, addr string) string {
	t.Helper()
	var conn net.Conn
	derr := inNetns(nsPath, func() (err error) {
		conn, err = net.DialTimeout("tcp", addr, 5*time.Second)
		return err
	})
	if derr != nil {
		return derr.Error()
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(conn, "GET / HTTP/1.0\r\nHost: %s\r\n\r\n", addr)
	b, _ := io.ReadAll(conn)
	return string(b)
}

// composeWorld is what a live Compose test starts from, in its isolated
// namespaces: the demo image imported, a resolv.conf without nameservers
// (a name a network lacks is refused at once, never asked of the host),
// and a cleanup that kills, should the test fail half-way, its
// containers (in its own namespaces) and its resolvers (known by that
// resolv.conf; the other tests' read theirs). It returns the test's
// directory, that resolv.conf and the image.
func composeWorld(t *testing.T) (dir, noUpstream string, demo v1.Image) {
	t.Helper()
	demo, err := mkimage.Build(mkimage.Options{})
	if err != nil {
		t.Skipf("the demo image needs busybox-static: %v", err)
	}
	dir = t.TempDir()
	archive := filepath.Join(dir, "demo.tar")
	must(t, mkimage.WriteDockerArchive(archive, "plumb-demo/busybox:1", demo))
	mustPlumb(t, "image", "import", archive)
	noUpstream = filepath.Join(dir, "resolv.conf")
	write(t, noUpstream, "# no nameserver: the resolvers answer their networks' names alone\n")
	os.Setenv("PLUMB_RESOLV_CONF", noUpstream)
	t.Cleanup(func() {
		out, _ := exec.Command("sh", "-c", "for ns in $(ip netns list | cut -d' ' -f1); do ip netns pids $ns; done; pgrep -f 'dns serve .*--resolv-conf "+noUpstream+"'").Output()
		for _, p := range strings.Fields(string(out)) {
			_ = exec.Command("kill", "-9", p).Run()
		}
	})
	return dir, noUpstream, demo
}
