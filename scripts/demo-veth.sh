#!/usr/bin/env bash
# make demo-veth: the document's "DIY networking setup" done by plumb, in a
# throwaway network and mount namespace, so the host's own interfaces,
# rules and mounts are never touched. It shows the plan, applies it, proves
# the container reaches an "internet" through NAT, then tears it all down
# and shows that nothing is left.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
throwaway_namespaces "$@"
work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

say "A stand-in host: eth0 is a veth to a namespace \"inet\" that plays the internet (192.0.2.0/24, TEST-NET-1)"
stand_in_host
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
