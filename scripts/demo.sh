#!/usr/bin/env bash
# make demo: the document's Docker experiment ("Docker's Networking in
# action") done by plumb from layers on disk, in a throwaway network and
# mount namespace, so the host's own interfaces, rules and mounts are never
# touched: a busybox layer, a bridge, two containers from that same layer
# (shared lower, separate uppers), a page served by httpd on port 5000 in one
# and fetched with wget from the other; then ps, inspect, the host's view
# (the document's steps 5-6), and a teardown that leaves nothing behind.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
export PATH="$here/bin:$PATH:/usr/sbin:/sbin"

if [ "${PLUMB_DEMO_INSIDE:-}" != 1 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "make demo needs root: it creates namespaces (inside a throwaway one; the host is not changed)" >&2
		exit 1
	fi
	exec env PLUMB_DEMO_INSIDE=1 unshare --net --mount --propagation private --fork -- "$0" "$@"
fi

# Inside the throwaway namespaces: a private /run (plumb's state, named
# network namespaces) and /srv (the demo's files).
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /srv
# Should a step fail, no container is left running in the throwaway namespaces.
trap 'for ns in $(ip netns list | cut -d" " -f1); do ip netns pids "$ns" | xargs -r kill -9; done' EXIT
say() { printf '\n=== %s\n' "$*"; }
# run shows a command as one would type it (single-quoting words that need it), then runs it.
run() {
	local a words=()
	for a in "$@"; do
		if [[ $a =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then words+=("$a"); else words+=("'${a//\'/\'\\\'\'}'"); fi
	done
	printf '$ %s\n' "${words[*]}"
	"$@"
}
snapshot() {
	ip -j link show; ip -j addr show; ip -j route show table all
	iptables-save | { grep -v '^#' || true; } | sed 's/\[[0-9]*:[0-9]*\]/[0:0]/'
	sysctl net.ipv4.ip_forward; grep -c . /proc/self/mountinfo
}

say "A stand-in host: eth0 leads to a namespace that plays the internet (192.0.2.0/24)"
sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
ip link set lo up
ip netns add inet
ip link add eth0 type veth peer name wan0 netns inet
ip addr add 192.0.2.1/24 dev eth0 && ip link set eth0 up
ip -n inet addr add 192.0.2.2/24 dev wan0 && ip -n inet link set wan0 up
ip route add default via 192.0.2.2
iptables -A FORWARD -i eth1 -j DROP # the host's own firewall, which plumb leaves alone
iptables -t nat -A POSTROUTING -o eth1 -j RETURN
snapshot >/srv/before

say "A busybox layer from Debian's busybox-static"
mkdir -p /srv/rootfs/bin /srv/rootfs/proc /srv/rootfs/tmp /srv/rootfs/dev
cp "$(command -v busybox)" /srv/rootfs/bin/busybox
for applet in $(busybox --list); do [ "$applet" = busybox ] || ln -s busybox "/srv/rootfs/bin/$applet"; done
tar -C /srv/rootfs -cf /srv/busybox.tar .
run plumb layer import /srv/busybox.tar --name busybox 2>/dev/null

say "A bridge, like docker0"
run plumb bridge up plumb0 --subnet 10.88.0.0/24 2>/dev/null

say "The server container: its plan first (nothing runs), then -d"
server=(sh -c 'mkdir -p /www && echo "<h1>hello from $(hostname), served by busybox httpd in a plumb container</h1>" >/www/index.html && exec httpd -f -p 5000 -h /www')
run plumb run server --layer busybox --net plumb0 --dry-run -- "${server[@]}"
run plumb run server --layer busybox --net plumb0 -d -- "${server[@]}" 2>/dev/null
ip=$(plumb inspect server -o json | sed -n 's/.*"IPAddress": "\(.*\)",/\1/p' | head -n 1)
sleep 0.3

say "The client container, from the same layer, fetches the page (the document's step 4)"
run plumb run client --layer busybox --net plumb0 -d -- sh -c "wget -qO- http://$ip:5000/ && exec sleep 3600" 2>/dev/null
sleep 0.5
echo "# the page, from the client's output (plumb keeps a detached container's output in its log):"
run cat /run/plumb/overlay/client/log

say "plumb ps, and inspect in docker inspect's terms"
run plumb ps
run plumb inspect server -o json | sed -n '1,/"Steps"/p' | sed '$d'
echo '  ...'

say "Shared lower layer, separate uppers: the page is in the server's upper only"
run ls /run/plumb/overlay/server/upper/www
run ls /run/plumb/overlay/client/upper
run ls /run/plumb/layers/busybox

say "The host's view (the document's steps 5 and 6)"
run ip link show
run bridge link

say "Stop everything; nothing is left"
run plumb stop client --rm --time 1 2>/dev/null
run plumb stop server --rm --time 1 2>/dev/null
run plumb bridge down plumb0 2>/dev/null
run plumb down layer/busybox 2>/dev/null
run plumb status
snapshot >/srv/after
if diff -u /srv/before /srv/after; then
	echo "nothing is left: links, addresses, routes, iptables-save, ip_forward and the mount table equal what they were before"
else
	echo "the namespace differs from before (diff above)" >&2
	exit 1
fi
