#!/bin/sh
# Stand-in for the tools plumb runs (ip, nsenter, sysctl, iptables, mount,
# umount, mkdir, rmdir, rm, env) in script tests: it logs the
# command line it was given, answers the read-only probes plumb makes, and
# fails when its command line equals $FAIL_ON (stderr $FAIL_STDERR, exit
# $FAIL_CODE), or kills plumb with SIGKILL when it equals $KILL_ON.
# Nothing on the host is touched: mkdir, rmdir and rm really run after
# logging, on the test's own directories, so that what plumb reads back from
# the file system is what it would see; and what `plumb check` probes (a
# link, an address, a default route, a sysctl) is answered from the log of
# the commands that ran before.
line="$(basename "$0") $*"
echo "$line" >>"${STANDIN_LOG:?}"
# nft -f - reads its transaction on stdin: the log shows it under the
# command, each line marked "| ".
[ "$line" = "nft -f -" ] && sed 's/^/| /' >>"$STANDIN_LOG"
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
