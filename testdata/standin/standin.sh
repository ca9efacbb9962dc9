#!/bin/sh
# Stand-in for the tools plumb runs (ip, nsenter, sysctl, iptables, mount,
# umount, mkdir, rmdir, rm, env) in script tests: it logs the
# command line it was given, answers the read-only probes plumb makes, and
# fails when its command line equals $FAIL_ON (stderr $FAIL_STDERR, exit
# $FAIL_CODE). Nothing on the host is touched: mkdir, rmdir and rm really
# run after logging, on the test's own directories, so that what plumb reads
# back from the file system is what it would see.
line="$(basename "$0") $*"
echo "$line" >>"${STANDIN_LOG:?}"
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
"ip -j route show default")
	echo "${STANDIN_ROUTE:-$route}" ;;
"sysctl -n "*)
	echo "${STANDIN_SYSCTL:-0}" ;;
esac
exit 0
