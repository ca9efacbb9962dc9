#!/usr/bin/env bash
# make bench: per-container setup time, plumb against the document's commands
# run one by one in bash and against the CNI reference bridge + host-local
# plugins driven by cnitool, for N = 1, 50 and 200 containers, median of
# RUNS runs; plus --dry-run wall time. Runs in a throwaway network and mount
# namespace; the CNI tools are installed into a temporary GOBIN, never into
# the repository. Writes bench/results.tsv, bench/summary.txt, bench/bench.png.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
RUNS=${RUNS:-3}
SIZES=${SIZES:-"1 50 200"}

if [ -z "${CNI_BIN:-}" ]; then
	[ "$(id -u)" -eq 0 ] || { echo "make bench needs root (it works inside a throwaway namespace)" >&2; exit 1; }
	gobin=$(mktemp -d)
	echo "installing the CNI bridge and host-local plugins and cnitool into $gobin" >&2
	GOBIN=$gobin go install github.com/containernetworking/plugins/plugins/main/bridge@v1.10.0
	GOBIN=$gobin go install github.com/containernetworking/plugins/plugins/ipam/host-local@v1.10.0
	GOBIN=$gobin go install github.com/containernetworking/cni/cnitool@latest
	mkdir -p "$here/bench"
	CNI_BIN=$gobin "$0" "$@" # in throwaway namespaces, below
	rm -rf "$gobin"
	# The report is its own module (bench/go.mod), so its plotting library
	# stays out of plumb's dependencies: run it from there.
	(cd "$here/bench" && go run ./report "$here/bench/results.tsv" "$here/bench/bench.png") | tee "$here/bench/summary.txt"
	exit
fi

throwaway_namespaces "$@"
export PLUMB_STATE_DIR=/run/plumb PATH=$PATH:$CNI_BIN
results=$here/bench/results.tsv
printf 'tool\tn\trun\tms_per_container\n' >"$results"
now() { date +%s%N; }
record() { # tool n run start end
	awk -v t="$1" -v n="$2" -v r="$3" -v s="$4" -v e="$5" 'BEGIN { printf "%s\t%d\t%d\t%.3f\n", t, n, r, (e - s) / 1e6 / n }' >>"$results"
}

stand_in_host

mkdir -p /run/cni-conf
cat >/run/cni-conf/10-bench.conf <<'JSON'
{"cniVersion":"1.0.0","name":"benchnet","type":"bridge","bridge":"cni0","isGateway":true,"ipMasq":true,
 "ipam":{"type":"host-local","subnet":"10.90.0.0/16","dataDir":"/run/cni-ipam"}}
JSON
export NETCONFPATH=/run/cni-conf CNI_PATH=$CNI_BIN

reset_host() { # what the document's commands and plumb veth leave: links and rules
	ip -o link show | awk -F': ' '$2 ~ /^(vh|veth0a)/ { sub(/@.*/, "", $2); print "link del " $2 }' >/run/dellinks
	[ -s /run/dellinks ] && ip -force -batch /run/dellinks 2>/dev/null || true
	iptables -F FORWARD; iptables -A FORWARD -i eth1 -j DROP
	iptables -t nat -F POSTROUTING; iptables -t nat -A POSTROUTING -o eth1 -j RETURN
	sysctl -qw net.ipv4.ip_forward=0
	rm -rf /run/plumb
}

for n in $SIZES; do
	for run in $(seq 1 "$RUNS"); do
		# Containers, made before timing starts: named namespaces, each with
		# a process in it (the document targets a PID).
		pids=()
		for i in $(seq 1 "$n"); do
			ip netns add "c$i"
			nsenter --net=/run/netns/c$i sleep 3600 &
			pids+=($!)
		done
		sleep 0.2

		# The document's commands, one by one, in bash.
		s=$(now)
		for i in $(seq 1 "$n"); do
			p=${pids[i-1]} h=vh$i c=vc$i
			ip link add $h type veth peer name $c
			ip link set $c netns $p
			ip addr add 10.201.$i.1/24 dev $h
			ip link set $h up
			nsenter -t $p -n ip addr add 10.201.$i.2/24 dev $c
			nsenter -t $p -n ip link set $c up
			nsenter -t $p -n ip link set lo up
			nsenter -t $p -n ip route add default via 10.201.$i.1
			sysctl -w net.ipv4.ip_forward=1 >/dev/null
			HOST_NET_IF=$(ip route | grep default | awk '{print $5}')
			iptables -A FORWARD -i $h -o $HOST_NET_IF -j ACCEPT
			iptables -A FORWARD -i $HOST_NET_IF -o $h -m state --state RELATED,ESTABLISHED -j ACCEPT
			iptables -t nat -A POSTROUTING -s 10.201.$i.0/24 -o $HOST_NET_IF -j MASQUERADE
		done
		record "document (bash)" "$n" "$run" "$s" "$(now)"
		reset_host

		# plumb veth up, the same network, one call per container.
		s=$(now)
		for i in $(seq 1 "$n"); do
			plumb veth up --pid "${pids[i-1]}" --host-if vh$i --cont-if vc$i --subnet 10.201.$i.0/24 \
				--host-ip 10.201.$i.1 --cont-ip 10.201.$i.2 >/dev/null 2>&1
		done
		record "plumb veth up" "$n" "$run" "$s" "$(now)"
		reset_host

		# plumb bridge attach / detach, one call per container.
		plumb bridge up br0 --subnet 10.88.0.0/16 >/dev/null 2>&1
		s=$(now)
		for p in "${pids[@]}"; do plumb bridge attach br0 --pid "$p" >/dev/null 2>&1; done
		record "plumb bridge attach" "$n" "$run" "$s" "$(now)"
		s=$(now)
		for p in "${pids[@]}"; do plumb bridge detach br0 --pid "$p" >/dev/null 2>&1; done
		record "plumb bridge detach" "$n" "$run" "$s" "$(now)"
		# The same, all containers in one call.
		printf 'pid %s\n' "${pids[@]}" >/run/containers
		s=$(now)
		plumb bridge attach br0 --from /run/containers >/dev/null 2>&1
		record "plumb bridge attach, all in one call" "$n" "$run" "$s" "$(now)"
		s=$(now)
		plumb bridge detach br0 --from /run/containers >/dev/null 2>&1
		record "plumb bridge detach, all in one call" "$n" "$run" "$s" "$(now)"
		plumb bridge down br0 >/dev/null 2>&1

		# The floor for one process per container: the lines plumb's batches
		# hold, run from bash with no journal, no checks, no plumb (the host's
		# in one ip -batch, each container's by nsenter, 4 at a time).
		ip link add br0 type bridge && ip addr add 10.88.0.1/16 dev br0 && ip link set br0 up
		: >/run/host.batch
		for i in $(seq 1 "$n"); do
			printf 'link add vb%d type veth peer name pb%d netns %d\nlink set vb%d master br0\nlink set vb%d up\n' \
				"$i" "$i" "${pids[i-1]}" "$i" "$i" >>/run/host.batch
			printf 'link set pb%d name eth0\naddr add 10.88.%d.%d/16 dev eth0\nlink set eth0 up\nlink set lo up\nroute add default via 10.88.0.1\n' \
				"$i" $((i / 250)) $((i % 250 + 2)) >"/run/c$i.batch"
		done
		s=$(now)
		ip -batch /run/host.batch
		for i in $(seq 1 "$n"); do echo "${pids[i-1]} -n ip -batch /run/c$i.batch"; done | xargs -P 4 -L 1 nsenter -t
		record "bare ip batches, bash (floor)" "$n" "$run" "$s" "$(now)"
		for i in $(seq 1 "$n"); do echo "link set vb$i group 99"; done >/run/del.batch
		printf 'link del group 99\nlink del br0\n' >>/run/del.batch
		ip -batch /run/del.batch

		# The CNI reference plugins through cnitool.
		s=$(now)
		for p in "${pids[@]}"; do cnitool add benchnet /proc/$p/ns/net >/dev/null; done
		record "CNI ADD (cnitool)" "$n" "$run" "$s" "$(now)"
		s=$(now)
		for p in "${pids[@]}"; do cnitool del benchnet /proc/$p/ns/net >/dev/null; done
		record "CNI DEL (cnitool)" "$n" "$run" "$s" "$(now)"
		ip link del cni0 2>/dev/null || true
		rm -rf /run/cni-ipam

		kill "${pids[@]}" 2>/dev/null || true
		wait 2>/dev/null || true
		for i in $(seq 1 "$n"); do ip netns del "c$i"; done
		echo "n=$n run=$run done" >&2
	done
done

# --dry-run wall time, process start included (20 runs, one container each).
for run in $(seq 1 20); do
	s=$(now); plumb veth up --pid 4242 --uplink eth0 --dry-run >/dev/null; record "dry-run veth up" 1 "$run" "$s" "$(now)"
	s=$(now); plumb bridge up br9 --subnet 10.99.0.0/24 --dry-run >/dev/null; record "dry-run bridge up" 1 "$run" "$s" "$(now)"
done
