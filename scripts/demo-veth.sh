#!/usr/bin/env bash
# make demo: the document's "DIY networking setup" done by plumb, in a
# throwaway network and mount namespace, so the host's own interfaces,
# rules and mounts are never touched. It shows the plan, applies it, proves
# the container reaches an "internet" through NAT, then tears it all down
# and shows that nothing is left.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
export PATH="$here/bin:$PATH:/usr/sbin:/sbin"

if [ "${PLUMB_DEMO_INSIDE:-}" != 1 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "make demo needs root: it creates network namespaces (inside a throwaway one; the host is not changed)" >&2
		exit 1
	fi
	exec env PLUMB_DEMO_INSIDE=1 unshare --net --mount --propagation private --fork -- "$0" "$@"
fi

# From here on we are inside the throwaway namespaces.
mount -t tmpfs tmpfs /run
work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

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
	sysctl net.ipv4.ip_forward
}

say "A stand-in host: eth0 is a veth to a namespace \"inet\" that plays the internet (192.0.2.0/24, TEST-NET-1)"
sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
ip link set lo up
ip netns add inet
ip link add eth0 type veth peer name wan0 netns inet
ip addr add 192.0.2.1/24 dev eth0 && ip link set eth0 up
ip -n inet addr add 192.0.2.2/24 dev wan0 && ip -n inet link set wan0 up && ip -n inet link set lo up
ip route add default via 192.0.2.2
# The host has a firewall of its own, as real hosts do; plumb must leave
# these rules alone. (On a host with no iptables tables at all, the first
# rule creates empty tables that stay after teardown: see the README.)
iptables -A FORWARD -i eth1 -j DROP
iptables -t nat -A POSTROUTING -o eth1 -j RETURN
mkdir -p "$work/www/cgi-bin"
cat >"$work/www/cgi-bin/whoami" <<'CGI'
#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\n'
echo "hello from the internet (192.0.2.2); your packets came from $REMOTE_ADDR"
CGI
chmod +x "$work/www/cgi-bin/whoami"
ip netns exec inet busybox httpd -f -p 192.0.2.2:80 -h "$work/www" &
pids+=($!)
run ip -br addr show eth0
run ip route
run iptables -S FORWARD

say "A container: a process in a network namespace of its own (the document's part one)"
unshare --net sleep 600 &
CONTAINER_PID=$!
pids+=($CONTAINER_PID)
while [ "$(readlink /proc/$CONTAINER_PID/ns/net)" = "$(readlink /proc/self/ns/net)" ]; do sleep 0.01; done
echo "CONTAINER_PID=$CONTAINER_PID"
snapshot >"$work/before"

say "The plan: the document's commands with its variables (nothing runs)"
run plumb veth up --pid "$CONTAINER_PID" --dry-run

say "Apply it (each step journaled before it runs, rolled back if one fails)"
run plumb veth up --pid "$CONTAINER_PID"
run plumb status

say "The container's view"
run nsenter -t "$CONTAINER_PID" -n ip -br addr
run nsenter -t "$CONTAINER_PID" -n ip route
run nsenter -t "$CONTAINER_PID" -n timeout 5 busybox wget -qO- http://192.0.2.2/cgi-bin/whoami
echo "(192.0.2.1 is the host's eth0: NAT rewrote the container's 10.200.0.2)"

say "The host's rules"
run iptables -S FORWARD
run iptables -t nat -S POSTROUTING
run sysctl net.ipv4.ip_forward

say "Tear it down from the journal"
run plumb veth down --host-if veth-host --dry-run
run plumb veth down --host-if veth-host
snapshot >"$work/after"
if diff -u "$work/before" "$work/after"; then
	echo "nothing is left: ip -j link/addr/route, iptables-save and net.ipv4.ip_forward equal what they were before"
else
	echo "the namespace differs from before (diff above)" >&2
	exit 1
fi
