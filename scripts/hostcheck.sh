#!/usr/bin/env bash
# hostcheck.sh CMD [ARG...]: runs CMD and fails, naming the difference, when
# the host's network, firewall, mounts or plumb's well-known directories are
# not as they were before it. make test runs every test under it: live tests
# must stay inside the namespaces they make, and a test that changes the host
# (as FuzzShell once made /run/netns) is a failure even when it passes.
#
# What is compared is what a test could leave behind and a person would
# mind: links, addresses and routes (both families, every table), the
# iptables and ip6tables rules of both back ends and the nft rule set
# (counters dropped: traffic moves them), the mount table, a few sysctls
# plumb writes, what /dev/shm holds, and whether /run/netns, /run/plumb,
# /var/lib/cni and /var/lib/plumb exist. Without root only what can be read is compared.
# What moves by itself (counters, carrier flags, timeouts of set elements)
# is left out; anything else that changes the host meanwhile (a Docker or
# fail2ban of the machine's own) fails it too: run it on a quiet host.
set -uo pipefail
export LC_ALL=C
unset LANGUAGE

[ $# -gt 0 ] || { echo "usage: hostcheck.sh CMD [ARG...]" >&2; exit 2; }

# state prints the host's state, one section per reading.
state() {
	section() { printf '## %s\n' "$1"; }
	section links
	# Names, kinds and flags; not counters, nor the operational state that
	# a carrier may flap.
	ip -o link show 2>/dev/null | sed -E 's/^[0-9]+: //; s/ state [A-Z]+//; s/ qdisc [^ ]+//; s/ (qlen|group|mode) [^ ]+//g; s/(,LOWER_UP|,NO-CARRIER|,M-DOWN)//g'
	section addresses
	ip -o addr show 2>/dev/null | sed -E 's/^[0-9]+: //; s/(valid|preferred)_lft [^ ]+//g'
	section routes
	ip -4 route show table all 2>/dev/null | sed -E 's/ expires [0-9]+sec//'
	ip -6 route show table all 2>/dev/null | sed -E 's/ expires [0-9]+sec//'
	for save in iptables-save ip6tables-save iptables-legacy-save ip6tables-legacy-save iptables-nft-save ip6tables-nft-save; do
		command -v "$save" >/dev/null 2>&1 || continue
		section "$save"
		"$save" 2>/dev/null | grep -v '^#' | sed -E 's/\[[0-9]+:[0-9]+\]//g'
	done
	if command -v nft >/dev/null 2>&1; then
		section nft
		nft list ruleset 2>/dev/null | sed -E 's/counter packets [0-9]+ bytes [0-9]+/counter/g; s/ expires [0-9hms.]+//g'
	fi
	section mounts
	# Mount point, type and source; not the IDs, which a remount renumbers.
	awk '{ for (i = 7; $i != "-"; i++) ; print $5, $(i+1), $(i+2) }' /proc/self/mountinfo | sort
	section sysctls
	for k in net.ipv4.ip_forward net.ipv6.conf.all.forwarding net.ipv4.conf.all.route_localnet; do
		printf '%s = %s\n' "$k" "$(cat "/proc/sys/${k//./\/}" 2>/dev/null)"
	done
	section paths
	for p in /run/netns /run/plumb /var/lib/cni /var/lib/plumb; do
		if [ -e "$p" ]; then echo "$p exists"; else echo "$p absent"; fi
	done
	# What a tool run by a test may leave in the host's shared memory
	# (podman's libpod_lock did).
	section /dev/shm
	ls -A /dev/shm 2>/dev/null
}

before=$(mktemp) after=$(mktemp)
trap 'rm -f "$before" "$after"' EXIT
state >"$before"
"$@"
rc=$?
state >"$after"
if ! diff -u --label 'host before the tests' --label 'host after the tests' "$before" "$after" >&2; then
	echo "hostcheck: the tests changed the host (above: - before, + after)" >&2
	[ "$rc" -ne 0 ] || rc=1
fi
exit "$rc"
