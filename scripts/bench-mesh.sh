#!/usr/bin/env bash
# make bench-mesh (docs/design/mesh.md §6 "Bench"): a mesh's peers.
#  1. `plumb mesh sync m1 --nodes FILE` adding 300 and 1,000 new peers (a
#     plain list) to a fresh mesh, against the same lines (plumb's own, from
#     its --dry-run) run by bare `bridge -batch` (fdb add) and `ip -batch`
#     (neigh add, route add onlink) files on a fresh device made by the ip
#     lines `plumb mesh up` runs. Target: plumb within 1.5x.
#  2. `plumb mesh peer add` of one more peer with 1,000 peers present against
#     with 5 present (the mesh synced to either set, untimed, in between; the
#     peer removed again, untimed). Target: within 1.25x.
# Beside the times, of each call: the journal's size after it
# (objects/mesh/m1.json), its saves (renames onto it) and the bytes those
# saves wrote, the last two by strace, once, untimed ("-" without strace).
# Peers: 198.18.X.Y underlays (RFC 2544's benchmark range) and subnets
# 10.(N/256).(N%256).0/24 of cluster 10.0.0.0/12 (not 10.0.0.0/8: plumb
# refuses a cluster holding the host's nameserver, 10.255.255.53 on this
# machine); this node is 10.15.255.0/24 from 192.0.2.1 on eth0, one end of
# a veth pair.
# Medians of RUNS runs (default 5), plumb and bare taking turns, order
# reversed every other run; wall and CPU (user + system) time. All of it in
# throwaway network, mount and PID namespaces (tmpfs over /run: state
# directory and root), nothing reaches the host. Writes bench/mesh.tsv and
# replaces its section at the end of bench/summary.txt (make bench rewrites
# that file without it: run make bench-mesh after make bench).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
RUNS=${RUNS:-5}
out=$here/bench/mesh.tsv
throwaway_namespaces "$@"
export PLUMB_STATE_DIR=/run/plumb
command -v plumb >/dev/null || { echo "plumb not found (make build)" >&2; exit 1; }
journal=$PLUMB_STATE_DIR/objects/mesh/m1.json

# The underlay: a veth pair, eth0 192.0.2.1/24, both ends here.
ip link set lo up
ip link add eth0 type veth peer name eth1
ip addr add 192.0.2.1/24 dev eth0 && ip link set eth0 up && ip link set eth1 up
up=(plumb mesh up m1 --vni 42 --cluster 10.0.0.0/12 --subnet 10.15.255.0/24 --local 192.0.2.1)

# Node lists: peer N (1..1000) is 198.18.(1+N/250).(1+N%250), 10.(N/256).(N%256).0/24.
# Each list holds this node too, as a cluster's does (sync refuses one without it).
nodes() { awk -v n="$1" 'BEGIN { printf "[{\"ip\":\"192.0.2.1\",\"subnet\":\"10.15.255.0/24\"}"; for (i = 1; i <= n; i++)
	printf ",{\"ip\":\"198.18.%d.%d\",\"subnet\":\"10.%d.%d.0/24\"}", 1 + int(i / 250), 1 + i % 250, int(i / 256), i % 256
	print "]" }'; }
for n in 5 300 1000; do nodes $n >/run/nodes$n.json; done
extra=(--node 198.19.0.1 --subnet 10.8.0.0/24) # the peer part 2 adds

# The bare side's files, plumb's own lines: the device's from mesh up's
# plan (ip link add ... type vxlan, addr add, link set up), each sync's
# from its plan (bridge fdb add; ip neigh add, route add onlink).
"${up[@]}" --dry-run | sed -n 's/^ip //p' >/run/dev.batch
"${up[@]}" >/dev/null 2>&1
for n in 300 1000; do
	plumb mesh sync m1 --nodes /run/nodes$n.json --dry-run >/run/plan$n
	# The plan feeds each batch its lines as a here-document.
	awk -v f=/run/fdb$n.batch -v i=/run/ip$n.batch '$0 == "EOF" { to = ""; next }
		to { print > to; next }
		/^bridge -batch - <</ { to = f } /^ip -batch - <</ { to = i }' /run/plan$n
	[ "$(wc -l </run/fdb$n.batch) $(wc -l </run/ip$n.batch)" = "$n $((2 * n))" ] || { echo "unexpected plan of a sync of $n:" >&2; cat /run/plan$n >&2; exit 1; }
done
plumb mesh down m1 >/dev/null 2>&1

# timed WHAT N RUN CMD... records CMD's wall time and the CPU time of it and
# its children (bash's time), in ms; a failed CMD stops the bench.
timed() {
	local w=$1 n=$2 r=$3 TIMEFORMAT='%3R %3U %3S' t
	shift 3
	t=$({ time "$@" >/dev/null 2>/run/err; } 2>&1) || { echo "failed: $*: $(cat /run/err)" >&2; exit 1; }
	awk -v w="$w" -v n="$n" -v r="$r" -v t="$t" 'BEGIN { split(t, f, " "); printf "%s\t%d\t%d\t%.1f\t%.1f\n", w, n, r, f[1] * 1000, (f[2] + f[3]) * 1000 }' >>/run/raw
}
bare() { bridge -batch /run/fdb$1.batch && ip -batch /run/ip$1.batch; }
# peers N checks m1 holds N routes, N permanent neighbours and N fdb entries.
peers() {
	local got
	got="$(ip route show dev m1 | grep -c onlink) $(ip neigh show dev m1 nud permanent | grep -c .) $(bridge fdb show dev m1 | grep -c dst)"
	[ "$got" = "$1 $1 $1" ] || { echo "m1 holds $got routes, neighbours, fdb entries; want $1" >&2; exit 1; }
}

: >/run/raw
for run in $(seq "$RUNS"); do
	# 1. new peers on a fresh device, plumb's and bare.
	order=(plumb bare)
	[ $((run % 2)) -eq 0 ] && order=(bare plumb)
	for n in 300 1000; do
		for t in "${order[@]}"; do
			if [ "$t" = plumb ]; then
				"${up[@]}" >/dev/null 2>&1
				timed sync-plumb "$n" "$run" plumb mesh sync m1 --nodes /run/nodes$n.json
				peers "$n"
				plumb mesh down m1 >/dev/null 2>&1
			else
				ip -batch /run/dev.batch
				timed sync-bare "$n" "$run" bare "$n"
				peers "$n"
				ip link del m1
			fi
		done
	done
	# 2. one more peer with 1000 present, with 5 present.
	order=(1000 5)
	[ $((run % 2)) -eq 0 ] && order=(5 1000)
	"${up[@]}" >/dev/null 2>&1
	for n in "${order[@]}"; do
		plumb mesh sync m1 --nodes /run/nodes$n.json >/dev/null 2>&1
		timed peer-add "$n" "$run" plumb mesh peer add m1 "${extra[@]}"
		peers $((n + 1))
		plumb mesh peer rm m1 --subnet 10.8.0.0/24 >/dev/null 2>&1
	done
	plumb mesh down m1 >/dev/null 2>&1
	echo "run $run of $RUNS done (load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
done

# The journal: its size after a call, and what a call writes to it (once
# each, untimed, under strace when it is installed: "-" otherwise).
# journal_io CMD... runs CMD and sets saves (renames onto the journal) and
# written (the bytes of those saves: every version of it the call wrote).
journal_io() {
	saves=- written=-
	if ! command -v strace >/dev/null; then "$@" >/dev/null 2>&1; return; fi
	strace -f -qq -y -s 0 -e trace=write,rename,renameat,renameat2 -e signal=none -o /run/strace "$@" >/dev/null 2>&1
	saves=$(grep -c "\"$journal\")" /run/strace || true)
	written=$(awk -v tmp="<${journal%/*}/.${journal##*/}.tmp-" 'index($0, tmp) && / = [0-9]+$/ { n += $NF } END { print n + 0 }' /run/strace)
}
declare -A io # N or add-N: "size after|saves|bytes written"
for n in 300 1000; do
	"${up[@]}" >/dev/null 2>&1
	journal_io plumb mesh sync m1 --nodes /run/nodes$n.json
	io[$n]="$(stat -c %s "$journal")|$saves|$written"
	[ "$n" = 300 ] && plumb mesh down m1 >/dev/null 2>&1
done
for n in 1000 5; do
	plumb mesh sync m1 --nodes /run/nodes$n.json >/dev/null 2>&1
	journal_io plumb mesh peer add m1 "${extra[@]}"
	io[add-$n]="$(stat -c %s "$journal")|$saves|$written"
	plumb mesh peer rm m1 --subnet 10.8.0.0/24 >/dev/null 2>&1
done
plumb mesh down m1 >/dev/null 2>&1

# mesh.tsv: a row per call measured, the medians of plumb and of its
# baseline, and the journal's figures of the call.
med() { awk -F'\t' -v w="$1" -v n="$2" -v c="$3" '$1 == w && $2 == n { print $c }' /run/raw | sort -n |
	awk '{ a[NR] = $1 } END { printf "%.1f", a[int((NR + 1) / 2)] }'; }
row() { # CALL WHAT N IO [BASELINE WHAT N TARGET]
	local pw pc bw=- bc=-
	pw=$(med "$2" "$3" 4) pc=$(med "$2" "$3" 5)
	[ -z "${5:-}" ] || bw=$(med "$6" "$7" 4) bc=$(med "$6" "$7" 5)
	awk -v c="$1" -v pw="$pw" -v pc="$pc" -v b="${5:--}" -v bw="$bw" -v bc="$bc" -v t="${8:--}" -v io="$4" 'BEGIN {
		split(io, j, "|"); r = rc = m = "-"
		if (b != "-") { r = sprintf("%.2f", pw / bw); rc = sprintf("%.2f", pc / bc); m = pw / bw <= t ? "met" : "NOT met" }
		printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c, pw, pc, b, bw, bc, r, rc, t, m, j[1], j[2], j[3] }'
}
{
	printf 'call\tms\tcpu ms\tbaseline\tbaseline ms\tbaseline cpu ms\tratio\tcpu ratio\ttarget\tmet\tjournal bytes after\tjournal saves\tjournal bytes written\n'
	row "mesh sync, 300 new peers" sync-plumb 300 "${io[300]}" "bare batches" sync-bare 300 1.5
	row "mesh sync, 1000 new peers" sync-plumb 1000 "${io[1000]}" "bare batches" sync-bare 1000 1.5
	row "mesh peer add, 1000 present" peer-add 1000 "${io[add-1000]}" "5 present" peer-add 5 1.25
	row "mesh peer add, 5 present" peer-add 5 "${io[add-5]}"
} >"$out"

# The summary's section, replacing the one of an earlier run.
summary=$here/bench/summary.txt
section=$(
	echo "mesh peers (docs/design/mesh.md §6), median of $RUNS runs (ms)"
	awk -F'\t' 'BEGIN { printf "%-30s %-14s %7s %9s %6s %7s %9s %6s  %s\n", "", "baseline", "wall", "baseline", "ratio", "CPU", "baseline", "ratio", "target (wall)" }
		NR > 1 && $4 != "-" { printf "%-30s %-14s %7s %9s %6s %7s %9s %6s  <= %s %s\n", $1, $4, $2, $5, $7, $3, $6, $8, $9, $10 }' "$out"
	echo "bare batches: bridge -batch (fdb add) and ip -batch (neigh add, route add onlink) of the sync's own lines, on a"
	echo "device made by mesh up's own ip lines (plumb's sync runs the same 2 processes); 5 present: the same peer add"
	awk -F'\t' -v s="$(command -v strace || true)" 'BEGIN { printf "journal objects/mesh/m1.json    size after  saves  bytes written (all saves of the call%s)\n", s ? "; strace" : ": strace not installed" }
		NR > 1 { printf "  %-30s %10s %6s %14s\n", $1, $11, $12, $13 }' "$out"
	echo "$(nproc) CPUs, $(date -u +%Y-%m-%d); plumb $(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo '?'); written to bench/mesh.tsv"
)
if [ -f "$summary" ]; then
	# Without an earlier run's section, nor the blank lines it leaves at the end.
	awk 'index($0, "mesh peers (docs/design/mesh.md") == 1 { skip = 1 } skip && $0 == "" { skip = 0 } !skip' "$summary" |
		sed -e :a -e '/^\n*$/{$d;N;ba' -e '}' >/run/summary
	cp /run/summary "$summary"
fi
printf '\n%s\n' "$section" | tee -a "$summary"
