#!/usr/bin/env bash
# make demo: the document's Docker experiment ("Docker's Networking in
# action") done by plumb from layers on disk, in a throwaway network and
# mount namespace, so the host's own interfaces, rules and mounts are never
# touched: a busybox layer, a bridge, two containers from that same layer
# (shared lower, separate uppers), a page served by httpd on port 5000 in one
# and fetched with wget from the other; then ps, inspect, the host's view
# (the document's steps 5-6), and a teardown that leaves nothing behind.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
throwaway_namespaces "$@"
mount -t tmpfs tmpfs /srv # the demo's files

say "A stand-in host: eth0 leads to a namespace that plays the internet (192.0.2.0/24)"
stand_in_host
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
