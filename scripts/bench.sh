#!/usr/bin/env bash
# make bench: per-container setup time, plumb against the document's commands
# run one by one in bash and against the CNI reference bridge + host-local
# plugins driven by cnitool, for N = 1, 50 and 200 containers, median of
# RUNS runs; plus --dry-run wall time. Runs in a throwaway network and mount
# namespace; the CNI tools are installed into a temporary GOBIN, never into
# the repository. Writes bench/results.tsv, bench/summary.txt, bench/bench.png.
#
# Then unpacking image layers (issue 13), on the tmpfs that holds plumb's
# state directory in the throwaway namespace: one layer of about 50 MB by
# `plumb layer unpack` (the whole command: reading the docker save archive,
# the digest check) against GNU `tar -xf` of the same layer uncompressed;
# and an image of nine layers (busybox and eight of 10-24 MB) by `plumb image
# import` (layers side by side) against the same layers by `tar -xf` one
# after another. The archives hold their layers uncompressed, as `docker
# save` writes them; the same with gzip layers (as plumb-mkimage writes
# them) against `tar -xzf` are shown too. Writes bench/images.tsv and
# bench/images.png; the summary has both parts.
#
# PARTS picks what runs: RUNS=5 PARTS=images make bench (the summary then
# keeps the network figures of bench/results.tsv as they are).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
RUNS=${RUNS:-3}
SIZES=${SIZES:-"1 50 200"}
PARTS=${PARTS:-"net images"}
part() { [[ " $PARTS " == *" $1 "* ]]; }

if [ -z "${CNI_BIN:-}" ]; then
	[ "$(id -u)" -eq 0 ] || { echo "make bench needs root (it works inside a throwaway namespace)" >&2; exit 1; }
	mkdir -p "$here/bench"
	if part net; then
		gobin=$(mktemp -d)
		echo "installing the CNI bridge and host-local plugins and cnitool into $gobin" >&2
		GOBIN=$gobin go install github.com/containernetworking/plugins/plugins/main/bridge@v1.10.0
		GOBIN=$gobin go install github.com/containernetworking/plugins/plugins/ipam/host-local@v1.10.0
		GOBIN=$gobin go install github.com/containernetworking/cni/cnitool@latest
		CNI_BIN=$gobin "$0" "$@" # in throwaway namespaces, below
		rm -rf "$gobin"
	else
		CNI_BIN=none "$0" "$@"
	fi
	# The report is its own module (bench/go.mod), so its plotting library
	# stays out of plumb's dependencies: run it from there.
	(cd "$here/bench" && go run ./report "$here/bench/results.tsv" "$here/bench/bench.png" \
		"$here/bench/images.tsv" "$here/bench/images.png") | tee "$here/bench/summary.txt"
	exit
fi

throwaway_namespaces "$@"
export PLUMB_STATE_DIR=/run/plumb PATH=$PATH:$CNI_BIN
now() { date +%s%N; }
record() { # tool n run start end
	awk -v t="$1" -v n="$2" -v r="$3" -v s="$4" -v e="$5" 'BEGIN { printf "%s\t%d\t%d\t%.3f\n", t, n, r, (e - s) / 1e6 / n }' >>"$results"
}

# plain_archive IN OUT writes OUT, the docker save archive IN with each
# layer uncompressed, as `docker save` itself writes them (plumb-mkimage's
# are gzip): the same image, the same diff_ids. It leaves the layers'
# uncompressed tars, base first, as OUT.d/1.tar, 2.tar, ... for GNU tar, and
# checks each hashes to its diff_id: the very streams plumb unpacks.
plain_archive() {
	local dir=$2.d config blob k=0 diff
	mkdir -p "$dir/archive"
	tar -xf "$1" -C "$dir/archive"
	config=$(grep -o '"Config":"[^"]*"' "$dir/archive/manifest.json" | cut -d'"' -f4)
	for blob in $(grep -o '[0-9a-f]\{64\}\.tar\.gz' "$dir/archive/manifest.json"); do
		k=$((k + 1))
		gunzip "$dir/archive/$blob"
		diff=$(grep -o '"diff_ids":\[[^]]*\]' "$dir/archive/$config" | grep -o 'sha256:[0-9a-f]\{64\}' | sed -n "${k}p")
		[ "sha256:$(sha256sum <"$dir/archive/${blob%.gz}" | cut -d' ' -f1)" = "$diff" ] || { echo "layer $k of $1 does not hash to its diff_id $diff" >&2; return 1; }
		cp "$dir/archive/${blob%.gz}" "$dir/$k.tar"
	done
	sed -i 's/\.tar\.gz"/.tar"/g' "$dir/archive/manifest.json"
	(cd "$dir/archive" && tar -cf "$2" --sort=name -- *)
	rm -rf "$dir/archive"
}

# diff_id ARCHIVE K is the diff_id of the K-th layer (base first).
diff_id() {
	local config
	config=$(tar -xOf "$1" manifest.json | grep -o '"Config":"[^"]*"' | cut -d'"' -f4)
	tar -xOf "$1" "$config" | grep -o '"diff_ids":\[[^]]*\]' | grep -o 'sha256:[0-9a-f]\{64\}' | sed -n "$2p"
}

# Unpacking layers: everything on /run, the tmpfs of this namespace that
# holds the state directory. Each run unpacks into new directories, deleted
# (untimed) after; the tools take turns, their order reversed every other run.
bench_images() {
	local d=/run/bimg run diff k n order t
	results=$here/bench/images.tsv
	printf 'tool\tlayers\trun\tms\tcpu_ms\n' >"$results"
	# timed TOOL LAYERS RUN CMD... runs CMD under bash's time and records its
	# wall time and the CPU time (user + system) of it and its children: on
	# a machine others load too, the CPU time says what the wall time cannot.
	timed() {
		local t=$1 n=$2 r=$3 TIMEFORMAT='%3R %3U %3S' out
		shift 3
		out=$({ time "$@" >/dev/null 2>&1; } 2>&1)
		awk -v t="$t" -v n="$n" -v r="$r" -v o="$out" 'BEGIN { split(o, f, " "); printf "%s\t%d\t%d\t%.1f\t%.1f\n", t, n, r, f[1] * 1000, (f[2] + f[3]) * 1000 }' >>"$results"
	}
	mkdir -p $d/x
	echo "building the images (plumb-mkimage) on $(findmnt -no FSTYPE --target $d) at $d" >&2

	# (a) One layer of about 50 MB: the bulk layer above busybox.
	plumb-mkimage --layers 1 --bulk 50 --format docker-archive $d/one-gz.tar >$d/one.txt
	plain_archive $d/one-gz.tar $d/one.tar
	diff=$(diff_id $d/one.tar 2)
	tar -xOf $d/one-gz.tar "$(tar -xOf $d/one-gz.tar manifest.json | grep -o '[0-9a-f]\{64\}\.tar\.gz' | sed -n 2p)" >$d/layer50.tar.gz
	grep 'bulk:' $d/one.txt >&2
	echo "the layer: $(stat -c %s $d/one.tar.d/2.tar) bytes uncompressed, $(stat -c %s $d/layer50.tar.gz) as gzip; $diff" >&2
	for run in $(seq 1 "$RUNS"); do
		order=("plumb layer unpack" "GNU tar -xf" "plumb layer unpack, gzip" "GNU tar -xzf")
		[ $((run % 2)) -eq 0 ] && order=("GNU tar -xzf" "plumb layer unpack, gzip" "GNU tar -xf" "plumb layer unpack")
		for t in "${order[@]}"; do
			mkdir $d/x/tar
			case $t in
			"plumb layer unpack") timed "$t" 1 "$run" plumb layer unpack --import $d/one.tar --diff-id "$diff" $d/x/plumb ;;
			"plumb layer unpack, gzip") timed "$t" 1 "$run" plumb layer unpack --import $d/one-gz.tar --diff-id "$diff" $d/x/plumb ;;
			"GNU tar -xf") timed "$t" 1 "$run" tar -xf $d/one.tar.d/2.tar -C $d/x/tar ;;
			"GNU tar -xzf") timed "$t" 1 "$run" tar -xzf $d/layer50.tar.gz -C $d/x/tar ;;
			esac
			[ -d $d/x/plumb ] || [ -n "$(ls -A $d/x/tar)" ] || { echo "$t unpacked nothing" >&2; exit 1; }
			rm -rf $d/x/plumb $d/x/tar
		done
	done

	# (b) A whole image: busybox and eight layers of 10 to 24 MB.
	plumb-mkimage --layers 1 --bulk 10,12,14,16,18,20,22,24 --format docker-archive $d/image-gz.tar >$d/image.txt
	plain_archive $d/image-gz.tar $d/image.tar
	n=$(ls $d/image.tar.d/*.tar | wc -l)
	echo "the image: $n layers, $(cat $d/image.tar.d/*.tar | wc -c) bytes uncompressed; $(stat -c %s $d/image-gz.tar) bytes as plumb-mkimage's docker-archive (gzip)" >&2
	for run in $(seq 1 "$RUNS"); do
		order=("plumb image import" "GNU tar -xf, one after another" "plumb image import, gzip" "GNU tar -xf, 2 side by side")
		[ $((run % 2)) -eq 0 ] && order=("GNU tar -xf, 2 side by side" "plumb image import, gzip" "GNU tar -xf, one after another" "plumb image import")
		for t in "${order[@]}"; do
			for k in $(seq 1 "$n"); do mkdir $d/x/$k; done
			case $t in
			"plumb image import") PLUMB_STATE_DIR=$d/x/state timed "$t" "$n" "$run" plumb image import $d/image.tar ;;
			"plumb image import, gzip") PLUMB_STATE_DIR=$d/x/state timed "$t" "$n" "$run" plumb image import $d/image-gz.tar ;;
			"GNU tar -xf, one after another")
				timed "$t" "$n" "$run" sh -c "for k in \$(seq 1 $n); do tar -xf $d/image.tar.d/\$k.tar -C $d/x/\$k || exit; done" ;;
			"GNU tar -xf, 2 side by side")
				timed "$t" "$n" "$run" sh -c "seq 1 $n | xargs -P 2 -I{} tar -xf $d/image.tar.d/{}.tar -C $d/x/{}" ;;
			esac
			[ "$(ls -A $d/x/$n $d/x/state/image/layers 2>/dev/null | wc -l)" -gt 2 ] || { echo "$t unpacked nothing" >&2; exit 1; }
			rm -rf "${d:?}"/x/*
		done
		echo "images run=$run done (load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
	done
	rm -rf $d
}
if part images; then
	bench_images
fi
part net || exit 0

results=$here/bench/results.tsv
printf 'tool\tn\trun\tms_per_container\n' >"$results"

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
