#!/usr/bin/env bash
# make bench-compose: a Compose project of N services (default 10, each
# sleep on the project's default network, one publishing a port), brought
# up with `up -d` and down again, plumb against podman-compose (Debian's
# 1.0.3, podman 4.3 with crun, the same image loaded into both); and
# `plumb compose plan` of a project of 50 services, none made yet. Each
# figure is the median of RUNS runs (default 5), the two tools taking
# turns. Runs in throwaway network, mount and PID namespaces (tmpfs over
# /run, /var/lib and /var/tmp: nothing reaches the host). Prints the
# table and writes it to bench/compose.tsv.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
RUNS=${RUNS:-5}
N=${N:-10}
out="$here/bench/compose.tsv"
throwaway_namespaces "$@"
mount -t tmpfs tmpfs /var/lib
mount -t tmpfs tmpfs /var/tmp
export PLUMB_STATE_DIR=/run/plumb PLUMB_RESOLV_CONF=/dev/null
ip link set lo up
stand_in_host
for tool in podman podman-compose crun plumb plumb-mkimage; do
	command -v "$tool" >/dev/null || { echo "$tool not found (make bench-compose installs podman, podman-compose and crun as root, and builds plumb)" >&2; exit 1; }
done

# podman as bench-run.sh runs it (see NOTES.md), its storage in /run.
cat >/run/containers.conf <<CONF
[containers]
cgroups = "disabled"
default_ulimits = ["nofile=$(ulimit -n):$(ulimit -Hn)", "memlock=$(ulimit -l):$(ulimit -Hl)", "nproc=$(ulimit -u):$(ulimit -Hu)"]
[network]
network_backend = "netavark"
[engine]
runtime = "crun"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
cat >/run/storage.conf <<CONF
[storage]
driver = "overlay"
graphroot = "/run/podman/root"
runroot = "/run/podman/runroot"
CONF
export CONTAINERS_CONF=/run/containers.conf CONTAINERS_STORAGE_CONF=/run/storage.conf

plumb-mkimage --format docker-archive /run/img.tar >/dev/null
plumb image import /run/img.tar >/dev/null 2>&1
podman load -i /run/img.tar >/dev/null 2>&1
image=plumb-demo/busybox:1

# project DIR N: a compose.yaml of N services.
project() {
	mkdir -p "$1"
	{
		echo "services:"
		for i in $(seq "$2"); do
			echo "  s$i:"
			echo "    image: localhost/$image"
			echo "    command: [sleep, \"600\"]"
			if [ "$i" = 1 ]; then echo "    ports: [\"8080:80\"]"; fi
		done
	} >"$1/compose.yaml"
}
project /run/p "$N"
# plumb names the image as it was imported; podman as localhost/...
sed "s#localhost/$image#$image#" /run/p/compose.yaml >/run/p/plumb.yaml
project /run/plan 50
sed -i "s#localhost/$image#$image#" /run/plan/compose.yaml

# time_it FILE CMD...: appends CMD's wall time in µs to FILE.
time_it() {
	local file=$1 t0 t1
	shift
	t0=${EPOCHREALTIME/[.,]/}
	"$@" >/run/out 2>&1 || { echo "failed: $*" >&2; cat /run/out >&2; exit 1; }
	t1=${EPOCHREALTIME/[.,]/}
	echo $((t1 - t0)) >>"$file"
}
median() { sort -n "$1" | awk '{a[NR] = $1} END {printf "%.0f", a[int((NR + 1) / 2)] / 1000}'; }

rm -f /run/t.*
cd /run/p
# Warm both up once: podman makes its network and pulls nothing.
plumb --log-level error compose -f plumb.yaml up -d >/dev/null && plumb --log-level error compose -f plumb.yaml down -t 0 >/dev/null
podman-compose up -d >/dev/null 2>&1 && podman-compose down -t 0 >/dev/null 2>&1
for i in $(seq "$RUNS"); do
	time_it /run/t.plumb-up plumb --log-level error compose -f plumb.yaml up -d
	time_it /run/t.plumb-down plumb --log-level error compose -f plumb.yaml down -t 0
	time_it /run/t.podman-up podman-compose up -d
	time_it /run/t.podman-down podman-compose down -t 0
done
cd /run/plan
for i in $(seq "$RUNS"); do
	time_it /run/t.plan plumb --log-level error compose plan
done
{
	printf 'what\tplumb ms\tpodman-compose ms\tplumb/podman-compose\n'
	for what in up down; do
		p=$(median "/run/t.plumb-$what") q=$(median "/run/t.podman-$what")
		printf '%s\t%s\t%s\t%s\n' "compose $what of $N services" "$p" "$q" "$(awk -v p="$p" -v q="$q" 'BEGIN {printf "%.2f", p / q}')"
	done
	printf '%s\t%s\t%s\t%s\n' "compose plan of 50 services" "$(median /run/t.plan)" "-" "-"
} | tee "$out" | column -t -s $'\t'
echo "medians of $RUNS runs each, $(nproc) CPUs, $(date -u +%Y-%m-%d); written to bench/compose.tsv"
