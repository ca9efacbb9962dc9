#!/usr/bin/env bash
# make bench-run (PARTS=run make bench runs it too): a container's whole
# life, plumb against podman (Debian's 4.3, crun, its netavark bridge),
# the same image (plumb-mkimage's busybox, `podman load` and `plumb image
# import` of one archive): `run --rm IMAGE echo hi` from start to finish,
# on a bridge and with no network, and `exec NAME true` in a running
# container. Each figure is the median of RUNS runs (default 11), the two
# tools taking turns. Runs in throwaway network, mount and PID namespaces
# (tmpfs over /run, /var/lib and /var/tmp: nothing reaches the host).
# Prints the table and writes it to bench/run.tsv.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
RUNS=${RUNS:-11}
out="$here/bench/run.tsv"
throwaway_namespaces "$@"
mount -t tmpfs tmpfs /var/lib
mount -t tmpfs tmpfs /var/tmp
export PLUMB_STATE_DIR=/run/plumb
ip link set lo up
for tool in podman crun plumb plumb-mkimage; do
	command -v "$tool" >/dev/null || { echo "$tool not found (make bench-run installs podman and crun as root, and builds plumb)" >&2; exit 1; }
done

# podman as NOTES.md runs it here: no cgroups of its own, and the
# machine's own ulimits (this VM withholds CAP_SYS_RESOURCE, so crun fails
# when podman asks for more).
cat >/run/containers.conf <<CONF
[containers]
cgroups = "disabled"
default_ulimits = ["nofile=$(ulimit -n):$(ulimit -Hn)", "memlock=$(ulimit -l):$(ulimit -Hl)", "nproc=$(ulimit -u):$(ulimit -Hu)"]
[network]
network_backend = "netavark"
CONF
export CONTAINERS_CONF=/run/containers.conf
pod=(podman --root /run/podman/root --runroot /run/podman/runroot --cgroup-manager cgroupfs --events-backend file --runtime crun)

plumb-mkimage --format docker-archive /run/img.tar >/dev/null
plumb image import /run/img.tar >/dev/null 2>&1
"${pod[@]}" load -i /run/img.tar >/dev/null 2>&1
image=plumb-demo/busybox:1
plumb bridge up plumb0 --subnet 10.88.0.0/24 >/dev/null 2>&1
# Warm both up once: podman makes its default network on first use.
"${pod[@]}" run --rm "$image" true >/dev/null 2>&1
"${pod[@]}" run --rm --network none "$image" true >/dev/null 2>&1
plumb --log-level error run warm --image "$image" --net plumb0 -- true

ms() { echo $(( ($2 - $1) / 1000 )); } # µs stamps to ms·1000
# time_it FILE CMD...: appends CMD's wall time in µs to FILE; its output
# must be "hi" or nothing.
time_it() {
	local file=$1 t0 t1 said
	shift
	t0=${EPOCHREALTIME/[.,]/}
	said=$("$@" 2>/run/err) || { echo "failed: $*" >&2; cat /run/err >&2; exit 1; }
	t1=${EPOCHREALTIME/[.,]/}
	case $said in "" | hi) ;; *) echo "unexpected output of $*: $said" >&2; exit 1 ;; esac
	echo $((t1 - t0)) >>"$file"
}
median() { sort -n "$1" | awk '{a[NR] = $1} END {printf "%.1f", a[int((NR + 1) / 2)] / 1000}'; }

rm -f /run/t.*
for i in $(seq "$RUNS"); do
	time_it /run/t.plumb-bridge plumb --log-level error run "r$i" --rm --image "$image" --net plumb0 -- echo hi
	time_it /run/t.podman-bridge "${pod[@]}" run --rm "$image" echo hi
	time_it /run/t.plumb-none plumb --log-level error run "n$i" --rm --image "$image" -- echo hi
	time_it /run/t.podman-none "${pod[@]}" run --rm --network none "$image" echo hi
done
plumb --log-level error run ex --image "$image" --net plumb0 -d -- sleep 600 >/dev/null
"${pod[@]}" run -d --name ex "$image" sleep 600 >/dev/null
for i in $(seq "$RUNS"); do
	time_it /run/t.plumb-exec plumb exec ex -- true
	time_it /run/t.podman-exec "${pod[@]}" exec ex true
done

{
	printf 'what\tplumb ms\tpodman ms\tplumb/podman\n'
	for what in bridge none exec; do
		p=$(median "/run/t.plumb-$what") q=$(median "/run/t.podman-$what")
		label=$what
		case $what in
		bridge) label="run --rm echo hi, on a bridge" ;;
		none) label="run --rm echo hi, --net none" ;;
		exec) label="exec NAME true" ;;
		esac
		printf '%s\t%s\t%s\t%s\n' "$label" "$p" "$q" "$(awk -v p="$p" -v q="$q" 'BEGIN {printf "%.2f", p / q}')"
	done
} | tee "$out" | column -t -s $'\t'
echo "medians of $RUNS runs each, $(nproc) CPUs, $(date -u +%Y-%m-%d); written to bench/run.tsv"
plumb --log-level error rm -f ex >/dev/null
"${pod[@]}" rm -f -t 0 ex >/dev/null
