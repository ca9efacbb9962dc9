#!/usr/bin/env bash
# make bench: per-container setup time, plumb against the document's commands
# run one by one in bash, against the CNI reference bridge + host-local
# plugins (v1.10.0) driven by cnitool and exec'd as plugin processes, against
# plumb exec'd as a CNI plugin with the same config, against Podman's network
# stack (Debian's netavark 1.4.0, setup and teardown), and against the
# kernel's floor for a teardown (`ip link del` of one veth), for N = 1, 50
# and 200 containers, median of RUNS runs; with plumb's nftables back end
# side by side when the binary has one (--firewall); plus --dry-run wall
# time. Runs in a throwaway network, mount and PID namespace (a tmpfs over
# /run and /var/lib: libcni's cache, host-local's addresses); the CNI tools
# are installed into a temporary GOBIN, never into the repository. Writes
# bench/results.tsv, bench/summary.txt, bench/bench.png.
#
# Then (PARTS scale) whether one call's cost grows with what is already
# there: with SCALE containers (default 1000) attached to a bridge, one more
# `plumb bridge attach` + `detach`, and one more CNI ADD + DEL by plumb as a
# plugin process with SCALE CNI attachments present, each against the same
# call with none; `plumb status` of SCALE+1 objects against 1; and
# attach-all of SCALE in one call per container against attach-all of 50.
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
# Then (PARTS single, issue 21) one call against its floor: one `plumb
# bridge attach` on an empty bridge against the same kernel work done by
# its two ip batches from bash (the host's `ip -batch FILE`, the
# container's `ip -n NS -batch FILE`: the same lines plumb runs), and one
# CNI ADD by plumb as a plugin process (its bridge there already) against
# its two batches alike; the four take turns in each of SINGLE_RUNS runs
# (default 21), their order reversed every other run, each call's undo
# untimed between them.
#
# PARTS picks what runs: RUNS=5 PARTS=images make bench (the summary then
# keeps the network figures of bench/results.tsv as they are); PARTS=scale
# replaces only the scaling rows of bench/results.tsv, PARTS=single the
# single-call rows (about 30 s alone), PARTS=net the others.
# About 12-14 minutes with the defaults (RUNS=3, SIZES="1 50 200", SCALE=1000).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
RUNS=${RUNS:-3}
SIZES=${SIZES:-"1 50 200"}
SCALE=${SCALE:-1000}
PARTS=${PARTS:-"net scale single images"}
SINGLE_RUNS=${SINGLE_RUNS:-21}
NETAVARK=${NETAVARK:-/usr/lib/podman/netavark}
part() { [[ " $PARTS " == *" $1 "* ]]; }
if part scale && [ "$SCALE" -le 50 ]; then
	echo "SCALE=$SCALE: the scaling part compares attach-all of SCALE with attach-all of 50; give SCALE above 50" >&2
	exit 2
fi

if [ -z "${CNI_BIN:-}" ]; then
	[ "$(id -u)" -eq 0 ] || { echo "make bench needs root (it works inside a throwaway namespace)" >&2; exit 1; }
	mkdir -p "$here/bench"
	if part net || part scale; then
		[ -x "$NETAVARK" ] || ! part net || { echo "$NETAVARK not found: apt-get install netavark (make bench's deps do)" >&2; exit 1; }
		gobin=$(mktemp -d)
		echo "installing the CNI bridge and host-local plugins and cnitool into $gobin" >&2
		GOBIN=$gobin go install github.com/containernetworking/plugins/plugins/main/bridge@v1.10.0
		GOBIN=$gobin go install github.com/containernetworking/plugins/plugins/ipam/host-local@v1.10.0
		# The cni module plumb itself requires (go.mod), so that the live
		# cnitool test finds it in the module cache.
		GOBIN=$gobin go install github.com/containernetworking/cni/cnitool@v1.3.1
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
# libcni (cnitool) keeps its cache in /var/lib/cni, which no flag moves:
# keep it, and anything else a peer writes there, in this namespace.
mount -t tmpfs tmpfs /var/lib
export PLUMB_STATE_DIR=/run/plumb PATH=$PATH:$CNI_BIN
# now is the time in ns, read from bash itself (no date process: a process
# start is about 1 ms here, too much on one call of 20 ms).
now() { echo "${EPOCHREALTIME/[.,]/}000"; }
# tick starts a measurement: the wall clock and the CPU time (user + system)
# of every process this shell has waited for so far, children's children
# included (bash's times builtin); neither starts a process. On a machine
# others load too, the CPU time says what the wall time cannot.
tick() {
	times >/run/times.0
	t0=${EPOCHREALTIME/[.,]/}
}
# tock TOOL N RUN [DIV] records the wall and CPU time since tick, per
# container of N, or divided by DIV (1: the time of the one call).
tock() {
	local t1=${EPOCHREALTIME/[.,]/}
	times >/run/times.1
	awk -v t="$1" -v n="$2" -v r="$3" -v d="${4:-$2}" -v w=$((t1 - t0)) '
		function sec(f, m) { m = f; sub(/m.*/, "", m); sub(/^[0-9]+m/, "", f); sub(/s$/, "", f); return m * 60 + f }
		FNR == 2 { cpu[FILENAME] = sec($1) + sec($2) }
		END { printf "%s\t%d\t%d\t%.3f\t%.3f\n", t, n, r, w / 1000 / d, (cpu["/run/times.1"] - cpu["/run/times.0"]) * 1000 / d }' \
		/run/times.0 /run/times.1 >>"$results"
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
part net || part scale || part single || exit 0

# results.tsv: the rows this run makes are replaced, the others kept (the
# net part's rows, the scaling rows, whose names begin with "scale: ", and
# the single-call rows, "single: "). Older files lack the CPU column; the
# report reads those rows' wall time.
results=$here/bench/results.tsv
{
	printf 'tool\tn\trun\tms_per_container\tcpu_ms_per_container\n'
	[ -s "$results" ] && awk -F'\t' -v parts=" $PARTS " '
		NR > 1 { g = "net"; if (/^scale: /) g = "scale"; else if (/^single: /) g = "single"
			if (index(parts, " " g " ") == 0) print }' "$results"
} >/run/results.kept || true
cp /run/results.kept "$results"

stand_in_host

mkdir -p /run/cni-conf
cat >/run/cni-conf/10-bench.conf <<'JSON'
{"cniVersion":"1.0.0","name":"benchnet","type":"bridge","bridge":"cni0","isGateway":true,"ipMasq":true,
 "ipam":{"type":"host-local","subnet":"10.90.0.0/16","dataDir":"/run/cni-ipam"}}
JSON
export NETCONFPATH=/run/cni-conf CNI_PATH=$CNI_BIN
# The same network for plumb as a plugin: "type":"plumb", and no ipam
# dataDir (plumb keeps no host-local files, and refuses the key: its
# addresses are in its journals, on /run).
sed 's/"type":"bridge"/"type":"plumb"/; s/,"dataDir":"[^"]*"//' /run/cni-conf/10-bench.conf >/run/plumb-cni.conf
mkdir -p /run/plumb-cni-bin
ln -sf "$(command -v plumb)" /run/plumb-cni-bin/plumb

# cni_each COMMAND PLUGIN CONF CNI_PATH ID FROM TO: one plugin process per
# container cFROM..cTO, as a runtime execs it: CNI's environment, the
# config on stdin, the container's namespace file /run/netns/cI, ifname
# eth0. DEL is sent without prevResult (the reference bridge reads the
# addresses to unmasquerade off the container's link; plumb has its
# journal). A failed call stops the bench: its time would mean nothing.
cni_each() {
	local cmd=$1 plugin=$2 conf=$3 path=$4 id=$5 i
	for ((i = $6; i <= $7; i++)); do
		CNI_COMMAND=$cmd CNI_CONTAINERID=$id$i CNI_NETNS=/run/netns/c$i CNI_IFNAME=eth0 CNI_PATH=$path \
			"$plugin" <"$conf" >/run/cni.out 2>/run/cni.err ||
			{ echo "CNI $cmd of c$i by $plugin failed: $(cat /run/cni.out /run/cni.err)" >&2; exit 1; }
	done
}

# Podman's network stack: netavark's own JSON for container I, one static
# address each (10.96.0.0/16, its bridge nv0), as podman hands it over.
netavark_json() {
	printf '{"container_id":"%064x","container_name":"c%d","networks":{"nv":{"static_ips":["10.96.%d.%d"],"interface_name":"eth0"}},' "$1" "$1" $(($1 / 250)) $(($1 % 250 + 2))
	printf '"network_info":{"nv":{"dns_enabled":false,"driver":"bridge","id":"%064x","internal":false,"ipv6_enabled":false,' 4242
	printf '"name":"nv","network_interface":"nv0","subnets":[{"gateway":"10.96.0.1","subnet":"10.96.0.0/16"}]}},"port_mappings":[]}\n'
}
netavark_each() { # setup|teardown N
	local i
	for ((i = 1; i <= $2; i++)); do
		"$NETAVARK" --config /run/netavark "$1" /run/netns/c$i </run/netavark/c$i.json >/run/cni.out 2>&1 ||
			{ echo "netavark $1 of c$i failed: $(cat /run/cni.out)" >&2; exit 1; }
	done
}
mkdir -p /run/netavark

# Whether this plumb has the nftables back end (issue 15's --firewall).
nft_rows=
# (Not `plumb --help | grep -q`: with pipefail, grep -q's early exit fails
# the pipeline by plumb's SIGPIPE, and the rows were left out.)
if [[ "$(plumb --help 2>/dev/null)" == *--firewall* ]]; then
	command -v nft >/dev/null || { echo "plumb has --firewall but nft is not installed: apt-get install nftables" >&2; exit 1; }
	nft_rows=1
fi

# clean_rules wipes what the peers leave in iptables once their containers
# are gone (netavark keeps its chains): every tool starts from the stand-in
# host's two rules.
clean_rules() {
	local t
	for t in filter nat; do iptables -t $t -F; iptables -t $t -X; done
	iptables -A FORWARD -i eth1 -j DROP
	iptables -t nat -A POSTROUTING -o eth1 -j RETURN
	sysctl -qw net.ipv4.ip_forward=0
}

reset_host() { # what the document's commands and plumb veth leave: links and rules
	ip -o link show | awk -F': ' '$2 ~ /^(vh|veth0a)/ { sub(/@.*/, "", $2); print "link del " $2 }' >/run/dellinks
	[ -s /run/dellinks ] && ip -force -batch /run/dellinks 2>/dev/null || true
	iptables -F FORWARD; iptables -A FORWARD -i eth1 -j DROP
	iptables -t nat -F POSTROUTING; iptables -t nat -A POSTROUTING -o eth1 -j RETURN
	sysctl -qw net.ipv4.ip_forward=0
	rm -rf /run/plumb
}

bench_net() {
	local n run i p pids
	[ -n "$nft_rows" ] || echo "the nftables back end is not in this plumb (plumb --help lists no --firewall): no nftables rows" >&2
	for n in $SIZES; do
		for run in $(seq 1 "$RUNS"); do
			# Containers, made before timing starts: named namespaces, each with
			# a process in it (the document targets a PID).
			pids=()
			for i in $(seq 1 "$n"); do
				ip netns add "c$i"
				nsenter --net=/run/netns/c$i sleep 3600 &
				pids+=($!)
				netavark_json "$i" >/run/netavark/c$i.json
			done
			sleep 0.2

			# The document's commands, one by one, in bash.
			tick
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
			tock "document (bash)" "$n" "$run"
			reset_host

			# plumb veth up, the same network, one call per container.
			tick
			for i in $(seq 1 "$n"); do
				plumb veth up --pid "${pids[i-1]}" --host-if vh$i --cont-if vc$i --subnet 10.201.$i.0/24 \
					--host-ip 10.201.$i.1 --cont-ip 10.201.$i.2 >/dev/null 2>&1
			done
			tock "plumb veth up" "$n" "$run"
			reset_host

			# The floor for veth up's plan as plumb runs it: the same
			# commands in the same four processes (the host's ip batch,
			# the container's, sysctl, one iptables-restore), from bash,
			# with no plumb, no journal, no checks.
			tick
			for i in $(seq 1 "$n"); do
				p=${pids[i-1]} h=vh$i c=vc$i
				printf 'link add %s type veth peer name %s\nlink set %s netns %s\naddr add 10.201.%s.1/24 dev %s\nlink set %s up\n' \
					$h $c $c $p $i $h $h >/run/veth-h.batch
				ip -batch /run/veth-h.batch
				printf 'addr add 10.201.%s.2/24 dev %s\nlink set %s up\nlink set lo up\nroute add default via 10.201.%s.1\n' \
					$i $c $c $i >/run/veth-c.batch
				nsenter -t $p -n ip -batch /run/veth-c.batch
				sysctl -qw net.ipv4.ip_forward=1
				printf '*filter\n-A FORWARD -i %s -o eth0 -j ACCEPT\n-A FORWARD -i eth0 -o %s -m state --state RELATED,ESTABLISHED -j ACCEPT\nCOMMIT\n*nat\n-A POSTROUTING -s 10.201.%s.0/24 -o eth0 -j MASQUERADE\nCOMMIT\n' \
					$h $h $i | iptables-restore --noflush
			done
			tock "veth up's batches, bash (floor)" "$n" "$run"
			reset_host

			# plumb bridge attach / detach, one call per container, then all
			# containers in one call: with the iptables back end (the
			# default), and with nftables when plumb has it.
			printf 'pid %s\n' "${pids[@]}" >/run/containers
			for fw in iptables ${nft_rows:+nftables}; do
				local sfx=
				[ "$fw" = iptables ] || sfx=" ($fw)"
				[ "$fw" = iptables ] && unset PLUMB_FIREWALL || export PLUMB_FIREWALL=$fw
				plumb bridge up br0 --subnet 10.88.0.0/16 >/dev/null 2>&1
				tick
				for p in "${pids[@]}"; do plumb bridge attach br0 --pid "$p" >/dev/null 2>&1; done
				tock "plumb bridge attach$sfx" "$n" "$run"
				tick
				for p in "${pids[@]}"; do plumb bridge detach br0 --pid "$p" >/dev/null 2>&1; done
				tock "plumb bridge detach$sfx" "$n" "$run"
				tick
				plumb bridge attach br0 --from /run/containers >/dev/null 2>&1
				tock "plumb bridge attach, all in one call$sfx" "$n" "$run"
				tick
				plumb bridge detach br0 --from /run/containers >/dev/null 2>&1
				tock "plumb bridge detach, all in one call$sfx" "$n" "$run"
				plumb bridge down br0 >/dev/null 2>&1
				unset PLUMB_FIREWALL
			done

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
			tick
			ip -batch /run/host.batch
			for i in $(seq 1 "$n"); do echo "${pids[i-1]} -n ip -batch /run/c$i.batch"; done | xargs -P 4 -L 1 nsenter -t
			tock "bare ip batches, bash (floor)" "$n" "$run"
			for i in $(seq 1 "$n"); do echo "link set vb$i group 99"; done >/run/del.batch
			printf 'link del group 99\nlink del br0\n' >>/run/del.batch
			ip -batch /run/del.batch

			# The CNI reference plugins through cnitool.
			tick
			for p in "${pids[@]}"; do cnitool add benchnet /proc/$p/ns/net >/dev/null; done
			tock "CNI ADD (cnitool)" "$n" "$run"
			tick
			for p in "${pids[@]}"; do cnitool del benchnet /proc/$p/ns/net >/dev/null; done
			tock "CNI DEL (cnitool)" "$n" "$run"
			ip link del cni0 2>/dev/null || true
			rm -rf /run/cni-ipam

			# The same config, the reference plugin and plumb each exec'd as
			# a runtime execs a plugin (no cnitool, no libcni, no cache): one
			# process per container and call. The first ADD of a run makes
			# the bridge, for both; the reference's is deleted after, plumb's
			# taken down (untimed).
			tick
			cni_each ADD "$CNI_BIN/bridge" /run/cni-conf/10-bench.conf "$CNI_BIN" ref 1 "$n"
			tock "CNI ADD, reference bridge + host-local (plugin process)" "$n" "$run"
			tick
			cni_each DEL "$CNI_BIN/bridge" /run/cni-conf/10-bench.conf "$CNI_BIN" ref 1 "$n"
			tock "CNI DEL, reference bridge + host-local (plugin process)" "$n" "$run"
			ip link del cni0 2>/dev/null || true
			rm -rf /run/cni-ipam
			tick
			cni_each ADD /run/plumb-cni-bin/plumb /run/plumb-cni.conf /run/plumb-cni-bin plumb 1 "$n"
			tock "CNI ADD, plumb (plugin process)" "$n" "$run"
			tick
			cni_each DEL /run/plumb-cni-bin/plumb /run/plumb-cni.conf /run/plumb-cni-bin plumb 1 "$n"
			tock "CNI DEL, plumb (plugin process)" "$n" "$run"
			plumb down cni0 >/dev/null 2>&1
			clean_rules

			# Podman's network stack: netavark setup and teardown, one
			# process per container (its first setup makes nv0, its last
			# teardown deletes it).
			tick
			netavark_each setup "$n"
			tock "netavark setup" "$n" "$run"
			tick
			netavark_each teardown "$n"
			tock "netavark teardown" "$n" "$run"
			clean_rules

			# The kernel's floor for a teardown: a veth pair with one end in
			# the container (made untimed), `ip link del` of the host end,
			# one process per container (the kernel waits out a grace
			# period for each).
			for i in $(seq 1 "$n"); do ip link add kf$i type veth peer name kf0 netns c$i; done
			tick
			for ((i = 1; i <= n; i++)); do ip link del kf$i; done
			tock "ip link del of one veth (kernel floor)" "$n" "$run"

			kill "${pids[@]}" 2>/dev/null || true
			wait 2>/dev/null || true
			for i in $(seq 1 "$n"); do ip netns del "c$i"; done
			rm -f /run/netavark/*.json
			echo "n=$n run=$run done (load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
		done
	done

	# --dry-run wall time, process start included (20 runs, one container each).
	for run in $(seq 1 20); do
		tick; plumb veth up --pid 4242 --uplink eth0 --dry-run >/dev/null; tock "dry-run veth up" 1 "$run"
		tick; plumb bridge up br9 --subnet 10.99.0.0/24 --dry-run >/dev/null; tock "dry-run bridge up" 1 "$run"
	done
}

# Whether one call's cost grows with what is already there: SCALE
# containers (named namespaces s1..sSCALE, no process needed) attached,
# and s0 the one more container each timed call is about.
bench_scale() {
	local run i s k
	echo "scale: $((SCALE + 1)) namespaces" >&2
	for ((i = 0; i <= SCALE; i++)); do ip netns add "s$i"; done
	for ((i = 1; i <= SCALE; i++)); do echo "netns s$i"; done >/run/scale.all
	head -n 50 /run/scale.all >/run/scale.50

	# The CLI: one attach and detach on br0 empty and with SCALE attached,
	# attach-all of 50 and of SCALE in one call (ms per container), status
	# of the bridge alone and with SCALE attachments; turn by turn in each
	# run, so that the machine's load weighs on both sides alike.
	plumb bridge up br0 --subnet 10.88.0.0/16 >/dev/null 2>&1
	for run in $(seq 1 "$RUNS"); do
		tick; plumb bridge attach br0 --netns s0 >/dev/null 2>&1; tock "scale: plumb bridge attach of one" 0 "$run" 1
		tick; plumb bridge detach br0 --netns s0 >/dev/null 2>&1; tock "scale: plumb bridge detach of one" 0 "$run" 1
		tick; plumb status >/dev/null; tock "scale: plumb status" 1 "$run" 1
		tick; plumb bridge attach br0 --from /run/scale.50 >/dev/null 2>&1
		tock "scale: plumb bridge attach, all in one call" 50 "$run"
		tick; plumb bridge detach br0 --from /run/scale.50 >/dev/null 2>&1
		tock "scale: plumb bridge detach, all in one call" 50 "$run"
		tick; plumb bridge attach br0 --from /run/scale.all >/dev/null 2>&1
		tock "scale: plumb bridge attach, all in one call" "$SCALE" "$run"
		k=$(plumb status | tail -n +2 | grep -c .)
		[ "$k" = $((SCALE + 1)) ] || { echo "plumb status lists $k objects, want $((SCALE + 1))" >&2; exit 1; }
		tick; plumb bridge attach br0 --netns s0 >/dev/null 2>&1; tock "scale: plumb bridge attach of one" "$SCALE" "$run" 1
		tick; plumb bridge detach br0 --netns s0 >/dev/null 2>&1; tock "scale: plumb bridge detach of one" "$SCALE" "$run" 1
		tick; plumb status >/dev/null; tock "scale: plumb status" $((SCALE + 1)) "$run" 1
		tick; plumb bridge detach br0 --from /run/scale.all >/dev/null 2>&1
		tock "scale: plumb bridge detach, all in one call" "$SCALE" "$run"
		echo "scale: CLI run=$run done" >&2
	done
	plumb bridge down br0 >/dev/null 2>&1
	clean_rules

	# CNI: ADD and DEL of s0 by plumb as a plugin process, with no other
	# attachment (the bridge made by an untimed first ADD) and with SCALE
	# CNI attachments present (made untimed, one plugin process each, as a
	# runtime makes them; then taken down with the bridge).
	cni_s() { # COMMAND FROM TO
		local i
		for ((i = $2; i <= $3; i++)); do
			CNI_COMMAND=$1 CNI_CONTAINERID=scale$i CNI_NETNS=/run/netns/s$i CNI_IFNAME=eth0 CNI_PATH=/run/plumb-cni-bin \
				/run/plumb-cni-bin/plumb </run/plumb-cni.conf >/run/cni.out 2>/run/cni.err ||
				{ echo "CNI $1 of s$i by plumb failed: $(cat /run/cni.out /run/cni.err)" >&2; exit 1; }
		done
	}
	cni_s ADD 0 0 && cni_s DEL 0 0
	for run in $(seq 1 "$RUNS"); do
		tick; cni_s ADD 0 0; tock "scale: CNI ADD of one, plumb (plugin process)" 0 "$run" 1
		tick; cni_s DEL 0 0; tock "scale: CNI DEL of one, plumb (plugin process)" 0 "$run" 1
	done
	s=$(now)
	cni_s ADD 1 "$SCALE"
	echo "scale: $SCALE CNI ADDs by plumb (plugin processes) took $(( ($(now) - s) / 1000000 )) ms" >&2
	for run in $(seq 1 "$RUNS"); do
		tick; cni_s ADD 0 0; tock "scale: CNI ADD of one, plumb (plugin process)" "$SCALE" "$run" 1
		tick; cni_s DEL 0 0; tock "scale: CNI DEL of one, plumb (plugin process)" "$SCALE" "$run" 1
	done
	plumb bridge down cni0 --force >/dev/null 2>&1
	clean_rules
	for ((i = 0; i <= SCALE; i++)); do echo "netns del s$i"; done >/run/netns.batch
	ip -batch /run/netns.batch
}

# One call against its floor (see the top): SINGLE_RUNS runs, in each the
# four calls in turn, every other run in reverse order; the undo of each
# (plumb's detach and DEL, or `ip link del` of the floor's veth) untimed.
# Named namespace f1 is the container; the floors' lines are those plumb's
# plans hold (bridge attach --dry-run and the logged CNI steps show them).
bench_single() {
	local run t order
	ip netns add f1
	plumb bridge up br0 --subnet 10.88.0.0/16 >/dev/null 2>&1
	# Bring up cni0 with a first ADD, untimed, and see each call once.
	single_cni ADD >/dev/null && single_cni DEL
	plumb bridge attach br0 --netns f1 >/dev/null && plumb bridge detach br0 --netns f1 >/dev/null
	printf 'link add vf1 type veth peer name pf1 netns f1\nlink set vf1 master br0\nlink set vf1 up\n' >/run/attach-h.batch
	printf 'link set pf1 name eth0\naddr add 10.88.0.2/16 dev eth0\nlink set eth0 up\nlink set lo up\nroute add default via 10.88.0.1\n' >/run/attach-c.batch
	printf 'link add vf1 type veth peer name pf1 netns f1\nlink set vf1 master cni0\nlink set vf1 up\n' >/run/add-h.batch
	printf 'link set pf1 name eth0\naddr add 10.90.0.2/16 dev eth0\nlink set eth0 up\nlink set lo up\n' >/run/add-c.batch
	for run in $(seq 1 "$SINGLE_RUNS"); do
		order=(attach attach-floor add add-floor)
		[ $((run % 2)) -eq 0 ] && order=(add-floor add attach-floor attach)
		for t in "${order[@]}"; do
			case $t in
			attach)
				tick; plumb bridge attach br0 --netns f1 >/dev/null 2>/run/single.err || single_failed attach
				tock "single: plumb bridge attach" 1 "$run"
				plumb bridge detach br0 --netns f1 >/dev/null 2>/run/single.err || single_failed detach ;;
			attach-floor)
				tick; { ip -batch /run/attach-h.batch && ip -n f1 -batch /run/attach-c.batch; } 2>/run/single.err || single_failed "attach's floor"
				tock "single: attach's two ip batches, bash (floor)" 1 "$run"
				ip link del vf1 ;;
			add)
				tick; single_cni ADD >/dev/null
				tock "single: CNI ADD, plumb (plugin process)" 1 "$run"
				single_cni DEL ;;
			add-floor)
				tick; { ip -batch /run/add-h.batch && ip -n f1 -batch /run/add-c.batch; } 2>/run/single.err || single_failed "ADD's floor"
				tock "single: CNI ADD's two ip batches, bash (floor)" 1 "$run"
				ip link del vf1 ;;
			esac
		done
		[ $((run % 5)) -ne 0 ] || echo "single: run=$run done (load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
	done
	plumb bridge down br0 >/dev/null 2>&1
	plumb bridge down cni0 --force >/dev/null 2>&1
	clean_rules
	ip netns del f1
}
# single_cni COMMAND: plumb as the plugin of container f1, as a runtime
# execs it. A failed call stops the bench (single_failed): its time would
# mean nothing.
single_cni() {
	CNI_COMMAND=$1 CNI_CONTAINERID=single1 CNI_NETNS=/run/netns/f1 CNI_IFNAME=eth0 CNI_PATH=/run/plumb-cni-bin \
		/run/plumb-cni-bin/plumb </run/plumb-cni.conf 2>/run/single.err || single_failed "CNI $1"
}
single_failed() { echo "single: $1 of f1 failed: $(cat /run/single.err)" >&2; exit 1; }

if part net; then bench_net; fi
if part scale; then bench_scale; fi
if part single; then bench_single; fi
