#!/usr/bin/env bash
# make demo: the document's Docker experiment ("Docker's OverlayFS in action"
# and "Docker's Networking in action") done by plumb with a real image, in
# throwaway network, mount and PID namespaces, so the host's own interfaces,
# rules and mounts are never touched: an image of three layers built offline
# from busybox-static (the third whites out a file of the first), imported
# as one overlay lower directory per layer; a bridge; a server and a client
# container from that image (the same lower directories, different upper
# ones); the server's address found with the document's own inspect -f
# template; the page fetched from inside the client; the host's view (the
# document's steps 5-6); then a teardown that leaves nothing behind.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
throwaway_namespaces "$@"
start=$(date +%s%N)
mount -t tmpfs tmpfs /srv # the demo's files
export PLUMB_STATE_DIR=/run/plumb
image=plumb-demo/busybox:1

# container_pid NAME COMM prints the PID of a container's first process once
# it runs COMM (docker inspect -f '{{.State.Pid}}'): plumb ps gives the PID
# the runtime wrote, the container's PID 1.
container_pid() {
	local pid i
	for i in $(seq 50); do
		pid=$(plumb ps -o json | sed -n "/\"name\": \"$1\"/,/}/s/.*\"pid\": \([0-9]*\).*/\1/p")
		if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ]; then
			echo "$pid"
			return
		fi
		sleep 0.1
	done
	echo "container $1 does not run $2" >&2
	return 1
}

say "A stand-in host: eth0 leads to a namespace that plays the internet (192.0.2.0/24)"
stand_in_host
snapshot >/srv/before

say "An image of three layers, built offline from Debian's busybox-static"
run plumb-mkimage --format docker-archive /srv/demo.tar

say "Import it: one lower directory per layer, unpacked side by side, each a step of the plan"
run plumb image import /srv/demo.tar 2>/dev/null
run plumb image ls
run plumb image inspect "$image"

say "A bridge, like docker0"
run plumb bridge up plumb0 --subnet 10.88.0.0/24 2>/dev/null

say "The server container runs the image's own Cmd (httpd): its plan first (nothing runs), then -d"
# The trailing -- is an empty CMD: plumb then runs the image's Entrypoint and
# Cmd (without it this plumb's argument parser wants a CMD).
run plumb run server --image "$image" --net plumb0 --dry-run -- | sed -n '/^[$] /p;/^# [a-z]*\/[^ ]*: /p;/^unshare /p;/^mount -t overlay/p;/^    "args"/p;/^        "args": \["sh", "-c", "cat >\/dev\/null; exec/p;/"bounding"/p;/^\(crun\|runc\) /p'
echo '...   (abridged: three objects, as CRI keeps them: the sandbox (its network namespace on the'
echo '      bridge, its /etc files), the root file system (the overlay of the three layers), the'
echo '      container (config.json: the image'"'"'s Cmd, Docker'"'"'s 14 capabilities, the hook that keeps'
echo '      the root nodev,nosuid; the OCI runtime that starts it from that bundle))'
run plumb run server --image "$image" --net plumb0 -d -- 2>/dev/null

say "The client container, from the same image (the document's step 2)"
run plumb run client --image "$image" --net plumb0 -d -- sleep 3600 2>/dev/null
container_pid client sleep >/dev/null # started: its PID 1 runs sleep
run plumb ps

say "Same lower directories, different upper directories (the document's overlay claim)"
run plumb inspect -f '{{.GraphDriver.Data.LowerDir}}' server
run plumb inspect -f '{{.GraphDriver.Data.LowerDir}}' client
run plumb inspect -f '{{.GraphDriver.Data.UpperDir}}' server
run plumb inspect -f '{{.GraphDriver.Data.UpperDir}}' client
lower_s=$(plumb inspect -f '{{.GraphDriver.Data.LowerDir}}' server)
lower_c=$(plumb inspect -f '{{.GraphDriver.Data.LowerDir}}' client)
upper_s=$(plumb inspect -f '{{.GraphDriver.Data.UpperDir}}' server)
upper_c=$(plumb inspect -f '{{.GraphDriver.Data.UpperDir}}' client)
if [ "$lower_s" = "$lower_c" ] && [ "$upper_s" != "$upper_c" ]; then
	echo "# the same $(tr ':' '\n' <<<"$lower_s" | grep -c .) lower directories (topmost first), a different upper directory each"
else
	echo "lower or upper directories are not as the document says" >&2
	exit 1
fi
run readlink -f ${lower_s//:/ }

say "The server's address, with the document's own template (its step 3)"
run plumb inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' server
ip=$(plumb inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' server)

say "Inside the client, as docker exec: its own busybox wget fetches the page (the document's step 4)"
exec_client=(plumb exec client --)
for i in $(seq 50); do # httpd may still be starting
	"${exec_client[@]}" wget -qO /dev/null "http://$ip/" 2>/dev/null && break
	sleep 0.1
done
run "${exec_client[@]}" wget -qO- "http://$ip/"
run "${exec_client[@]}" hostname
run "${exec_client[@]}" sh -c 'mount | grep " / "'

say "The whiteout: layer 3 deleted the base layer's /etc/deleteme"
run "${exec_client[@]}" ls -l /etc
if "${exec_client[@]}" test -e /etc/deleteme; then
	echo "/etc/deleteme is there in the container: the whiteout was not applied" >&2
	exit 1
fi
echo "# /etc/deleteme is absent in the container; on the host, the base layer keeps it and layer 3 holds overlayfs' whiteout (a 0/0 character device):"
base=${lower_s##*:} top=${lower_s%%:*}
run ls -l "$base/etc/deleteme" "$top/etc/deleteme"

say "Copy-on-write: a write in the client lands in its upper directory only"
run "${exec_client[@]}" sh -c 'echo "<h1>changed in the client</h1>" >/www/index.html'
run ls -l "$upper_c/www"
run ls -A "$upper_s"
run "${exec_client[@]}" wget -qO- "http://$ip/"
run cat "$(readlink -f "$(tr ':' '\n' <<<"$lower_s" | sed -n 2p)")/www/index.html"

say "A pod: a sidecar joins the server's sandbox (--net container:server) and fetches from 127.0.0.1"
run plumb run sidecar --image "$image" --net container:server -d -- sleep 600 2>/dev/null
run plumb exec sidecar -- wget -qO- http://127.0.0.1/
run plumb exec sidecar -- hostname
run plumb inspect -f '{{.HostConfig.NetworkMode}}' sidecar
run plumb inspect -f '{{.Sandbox}} {{.Rootfs}}' sidecar
run plumb ps

say "The host's view (the document's steps 5 and 6)"
run ip link show
run bridge link

say "Stop everything; nothing is left (the server's sandbox goes with the last container in it)"
run plumb stop server --rm --time 1 2>/dev/null
run plumb exec sidecar -- wget -qO- http://127.0.0.1/ || echo "(the server is gone; its sandbox, which the sidecar holds, is not)"
run plumb inspect -f '{{.Summary}}' sandbox/server
run plumb rm -f sidecar 2>/dev/null
run plumb stop client --rm --time 1 2>/dev/null
run plumb bridge down plumb0 2>/dev/null
run plumb image rm "$image" 2>/dev/null
run plumb status
run plumb image ls
run find "$PLUMB_ROOT"
# The root and its overlay and sandbox directories stay, as /var/lib/docker's
# and containerd's do.
left=$(find "$PLUMB_ROOT" -mindepth 1 -not -path "$PLUMB_ROOT/overlay" -not -path "$PLUMB_ROOT/sandbox")
if [ -n "$left" ]; then
	echo "left in the root directory:" >&2
	echo "$left" >&2
	exit 1
fi
snapshot >/srv/after
if diff -u /srv/before /srv/after; then
	echo "nothing is left: no layer, no container, no object in the state directory; links, addresses, routes, iptables-save, ip_forward and the mount table equal what they were before"
else
	echo "the namespace differs from before (diff above)" >&2
	exit 1
fi
echo "demo: $(awk -v s="$start" -v e="$(date +%s%N)" 'BEGIN { printf "%.1f", (e - s) / 1e9 }') s inside the namespaces"
