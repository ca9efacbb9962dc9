#!/bin/sh
# Stand-in for the tools plumb runs (ip, bridge, nsenter, sysctl, iptables,
# mount, umount, mkdir, rmdir, rm, env) in script tests: it logs the
# command line it was given, answers the read-only probes plumb makes, and
# fails when its command line equals $FAIL_ON (stderr $FAIL_STDERR, exit
# $FAIL_CODE), or kills plumb with SIGKILL when it equals $KILL_ON.
# Nothing on the host is touched: mkdir, rmdir and rm really run after
# logging, on the test's own directories, so that what plumb reads back from
# the file system is what it would see; and what `plumb check` probes (a
# link, an address, a default route, a sysctl, a VXLAN device, a forwarding
# entry, a neighbour, a route on a device) is answered from the log of the
# commands that ran before.
line="$(basename "$0") $*"
echo "$line" >>"${STANDIN_LOG:?}"
# nft -f - reads its transaction on stdin: the log shows it under the
# command, each line marked "| ".
[ "$line" = "nft -f -" ] && sed 's/^/| /' >>"$STANDIN_LOG"
# A batch fed its lines (a mesh's peers): each line is logged as the
# command it stands for, which the probes below read back.
case "$line" in
"ip -batch -" | "ip -force -batch -" | "bridge -batch -" | "bridge -force -batch -")
	tool=${line%% *}
	while IFS= read -r l; do echo "$tool $l" >>"$STANDIN_LOG"; done ;;
"ip -j -batch -")
	# Probes in one process: each line answered as `ip -j LINE`.
	while IFS= read -r l; do "$0" -j $l; done
	exit 0 ;;
esac
if [ -n "${KILL_ON:-}" ] && [ "$line" = "$KILL_ON" ]; then
	kill -9 "$PPID" # plumb dies just before this step runs, as in a crash
	exit 137
fi
if [ -n "${FAIL_ON:-}" ] && [ "$line" = "$FAIL_ON" ]; then
	echo "${FAIL_STDERR:-RTNETLINK answers: File exists}" >&2
	exit "${FAIL_CODE:-2}"
fi
case "$(basename "$0")" in
mkdir | rmdir | rm) PATH=/usr/bin:/bin exec "$(basename "$0")" "$@" ;;
esac
links='[{"ifname":"lo"},{"ifname":"eth0"}]'
cont_links='[{"ifname":"lo"}]'
route='[{"dst":"default","gateway":"192.0.2.1","dev":"eth0","flags":[]}]'
case "$line" in
"ip -j link show")
	echo "${STANDIN_LINKS:-$links}" ;;
*"ip -j link show") # inside a container
	echo "${STANDIN_CONT_LINKS:-$cont_links}" ;;
"ip -j route show")
	echo "${STANDIN_ROUTES:-[]}" ;;
"ip -6 -j route show")
	echo "${STANDIN_ROUTES6:-[]}" ;;
"ip -j route show default")
	echo "${STANDIN_ROUTE:-$route}" ;;
"sysctl -n "*)
	key=${line#sysctl -n }
	set=$(grep "^sysctl -w $key=" "$STANDIN_LOG" | tail -n 1)
	echo "${set#sysctl -w $key=}" | grep . || echo "${STANDIN_SYSCTL:-0}" ;;
"ip -j addr show to "*)
	# The interface that holds an address: eth0 holds every one.
	holder='[{"ifname":"eth0"}]'
	echo "${STANDIN_ADDR_DEV:-$holder}" ;;
"ip -j route show dev "*)
	# Every route through DEV that the log's adds and dels leave: what
	# plumb check reads of a mesh's peers.
	awk -v dev="${line##* }" '
	$1 == "ip" && $2 == "route" && $5 == "via" && $8 == dev {
		if ($3 == "add") { if (!($4 in via)) order[++n] = $4; via[$4] = $6 }
		else if ($3 == "del") delete via[$4]
	}
	END {
		printf "["; sep = ""
		for (i = 1; i <= n; i++) if (order[i] in via) {
			printf "%s{\"dst\":\"%s\",\"gateway\":\"%s\",\"flags\":[\"onlink\"]}", sep, order[i], via[order[i]]; sep = ","
		}
		print "]"
	}' "$STANDIN_LOG" ;;
"ip -j neigh show dev "*" nud permanent")
	awk -v dev="$(echo "$line" | cut -d' ' -f6)" '
	$1 == "ip" && $2 == "neigh" {
		if ($3 == "add" && $8 == dev) { if (!($4 in mac)) order[++n] = $4; mac[$4] = $6 }
		else if ($3 == "del" && $6 == dev) delete mac[$4]
	}
	END {
		printf "["; sep = ""
		for (i = 1; i <= n; i++) if (order[i] in mac) {
			printf "%s{\"dst\":\"%s\",\"lladdr\":\"%s\",\"state\":[\"PERMANENT\"]}", sep, order[i], mac[order[i]]; sep = ","
		}
		print "]"
	}' "$STANDIN_LOG" ;;
"ip -d -j link show dev "*)
	# A VXLAN device made before, as ip -d -j shows it; nothing for others.
	dev=${line##* }
	vx=$(sed -n "s|^ip link add $dev address \([^ ]*\) mtu \([0-9]*\) type vxlan id \([0-9]*\) local \([^ ]*\) dev \([^ ]*\) dstport \([0-9]*\) nolearning\$|\1 \2 \3 \4 \5 \6|p" "$STANDIN_LOG" | tail -n 1)
	if [ -n "$vx" ]; then
		set -- $vx
		echo "[{\"ifname\":\"$dev\",\"mtu\":$2,\"address\":\"$1\",\"linkinfo\":{\"info_kind\":\"vxlan\",\"info_data\":{\"id\":$3,\"local\":\"$4\",\"link\":\"$5\",\"port\":$6,\"learning\":false}}}]"
	fi ;;
"bridge -j fdb show dev "*)
	# Each MAC's entry as the adds and replaces before left it; a del
	# with another dst deletes nothing, as the kernel's.
	awk -v dev="${line##* }" '
	$1 == "bridge" && $2 == "fdb" && $6 == dev && $7 == "dst" {
		if ($3 == "add" || $3 == "replace") { if (!($4 in seen)) order[++n] = $4; seen[$4] = 1; to[$4] = $8 }
		else if ($3 == "del" && to[$4] == $8) delete to[$4]
	}
	END {
		printf "["; sep = ""
		for (i = 1; i <= n; i++) if (order[i] in to) {
			printf "%s{\"mac\":\"%s\",\"dst\":\"%s\",\"flags\":[\"self\"],\"state\":\"permanent\"}", sep, order[i], to[order[i]]; sep = ","
		}
		print "]"
	}' "$STANDIN_LOG" ;;
"ip -j neigh show "*" dev "*)
	# ip neigh add IP lladdr MAC dev DEV nud permanent; ip neigh del IP dev DEV
	awk -v ip="$(echo "$line" | cut -d' ' -f5)" -v dev="${line##* }" '
	$1 == "ip" && $2 == "neigh" && $4 == ip {
		if ($3 == "add" && $8 == dev) mac = $6
		else if ($3 == "del" && $6 == dev) mac = ""
	}
	END {
		if (mac == "") print "[]"
		else printf "[{\"dst\":\"%s\",\"lladdr\":\"%s\",\"state\":[\"PERMANENT\"]}]\n", ip, mac
	}' "$STANDIN_LOG" ;;
"ip -j route show "*" dev "* | "ip -6 -j route show "*" dev "*)
	# ip route add DST via VIA dev DEV onlink; ip route del DST via VIA dev DEV
	awk -v dst="$(echo "$line" | sed 's/.* show \([^ ]*\) dev .*/\1/')" -v dev="${line##* }" '
	$1 == "ip" && $2 == "route" && $4 == dst && $5 == "via" && $8 == dev {
		if ($3 == "add") { via = $6; onlink = ($9 == "onlink") }
		else if ($3 == "del" && via == $6) via = ""
	}
	END {
		if (via == "") print "[]"
		else printf "[{\"dst\":\"%s\",\"gateway\":\"%s\",\"flags\":[%s]}]\n", dst, via, onlink ? "\"onlink\"" : ""
	}' "$STANDIN_LOG" ;;
*"ip -j link show dev "*)
	dev=${line##* }
	mtu=$(sed -n "s|^ip link set $dev mtu \([0-9]*\)\$|\1|p" "$STANDIN_LOG" | tail -n 1)
	echo "[{\"ifname\":\"$dev\",\"flags\":[\"BROADCAST\",\"UP\"],\"mtu\":${mtu:-1500}}]" ;;
*"ip -j addr show dev "*)
	dev=${line##* }
	addr=$(sed -n "s|.*ip addr add \([^ ]*\)/\([0-9]*\) dev $dev\( nodad\)\{0,1\}\$|\1 \2|p" "$STANDIN_LOG" | tail -n 1)
	echo "[{\"ifname\":\"$dev\",\"addr_info\":[{\"local\":\"${addr% *}\",\"prefixlen\":${addr#* }}]}]" ;;
*" ip -j route show default" | "ip -n "*" -j route show default")
	via=$(sed -n 's|.*ip route add default via \([^ :]*\)$|\1|p' "$STANDIN_LOG" | tail -n 1)
	echo "[{\"dst\":\"default\",\"gateway\":\"$via\"}]" ;;
*" ip -6 -j route show default" | "ip -n "*" -6 -j route show default")
	via=$(sed -n 's|.*ip route add default via \([^ ]*:[^ ]*\)$|\1|p' "$STANDIN_LOG" | tail -n 1)
	echo "[{\"dst\":\"default\",\"gateway\":\"$via\"}]" ;;
esac
exit 0
