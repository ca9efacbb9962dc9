# Shared by the demo and bench scripts: source it, then call
# throwaway_namespaces "$@" first thing.

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$here/bin:$PATH:/usr/local/go/bin:/usr/sbin:/sbin"

# throwaway_namespaces re-runs the calling script inside new network, mount
# and PID namespaces with a private /run, so the host's own interfaces, rules
# and mounts are never touched, and kills whatever the script left running
# there when it exits (should a step fail half-way, or on Ctrl-C). The
# script is the PID namespace's first process: when it ends, however it
# ends (even SIGKILL, or unshare killed, which --kill-child passes on), the
# kernel kills every process left in it, containers included, and the
# namespaces go with them.
throwaway_namespaces() {
	if [ "${PLUMB_THROWAWAY_INSIDE:-}" != 1 ]; then
		if [ "$(id -u)" -ne 0 ]; then
			echo "$(basename "$0") needs root: it creates namespaces (inside a throwaway one; the host is not changed)" >&2
			exit 1
		fi
		exec env PLUMB_THROWAWAY_INSIDE=1 unshare --net --mount --propagation private --pid --mount-proc --kill-child -- "$0" "$@"
	fi
	mount -t tmpfs tmpfs /run
	# And /dev/shm: podman keeps its lock file there (libpod_lock), which
	# the host's would keep after the script.
	mount -t tmpfs -o mode=1777 tmpfs /dev/shm
	# cgroup v2 alone, in this mount namespace only: crun refuses a host
	# whose cgroups are in "hybrid" mode (see NOTES.md); on a host with v2
	# alone it is the same mount again.
	umount -l /sys/fs/cgroup && mount -t cgroup2 none /sys/fs/cgroup
	# plumb's --root (images, layers, upper directories) in the private
	# /run too: its default, /var/lib/plumb, is on the host's disk.
	export PLUMB_ROOT=/run/plumb-root
	trap 'for ns in $(ip netns list | cut -d" " -f1); do ip netns pids "$ns" | xargs -r kill -9; done' EXIT
	# A PID namespace's first process gets no signal it has no handler for:
	# these make Ctrl-C and kill end it, running the EXIT trap.
	trap 'exit 130' INT
	trap 'exit 143' TERM HUP
}

# stand_in_host gives the namespace what a host has: eth0 leading to a
# namespace "inet" that plays the internet (192.0.2.0/24, TEST-NET-1), a
# default route through it, and firewall rules of its own that plumb must
# leave alone. (On a host with no iptables tables at all, the first rule
# creates empty tables that stay after teardown: see the README.)
stand_in_host() {
	sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
	ip link set lo up
	ip netns add inet
	ip link add eth0 type veth peer name wan0 netns inet
	ip addr add 192.0.2.1/24 dev eth0 && ip link set eth0 up
	ip -n inet addr add 192.0.2.2/24 dev wan0 && ip -n inet link set wan0 up && ip -n inet link set lo up
	ip route add default via 192.0.2.2
	iptables -A FORWARD -i eth1 -j DROP
	iptables -t nat -A POSTROUTING -o eth1 -j RETURN
}

say() { printf '\n=== %s\n' "$*"; }

# run shows a command as one would type it (single-quoting words that need
# it), then runs it.
run() {
	local a words=()
	for a in "$@"; do
		if [[ $a =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then words+=("$a"); else words+=("'${a//\'/\'\\\'\'}'"); fi
	done
	printf '$ %s\n' "${words[*]}"
	"$@"
}

# snapshot prints what plumb may change: links, addresses, routes, rules
# (packet counters zeroed), ip_forward and the number of mounts.
snapshot() {
	ip -j link show; ip -j addr show; ip -j route show table all
	iptables-save | { grep -v '^#' || true; } | sed 's/\[[0-9]*:[0-9]*\]/[0:0]/'
	sysctl net.ipv4.ip_forward; grep -c . /proc/self/mountinfo
}
