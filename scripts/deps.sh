#!/usr/bin/env bash
# Installs the system tools plumb and its tests run, when they are missing.
# As root on Debian it uses apt-get; otherwise it says precisely what is missing.
set -euo pipefail

# tool:package pairs
need=(ip:iproute2 bridge:iproute2 iptables:iptables iptables-save:iptables
	nsenter:util-linux unshare:util-linux sysctl:procps mount:mount
	busybox:busybox-static timeout:coreutils bash:bash crun:crun)
# (crun: the OCI runtime plumb run hands its containers to; runc serves too.)
# `deps.sh test`: what only the live tests (root) run, too: podman for
# TestLivePodman (podman as plumb's CNI client), runc for TestLiveExec's
# second runtime, nft for the nftables back end's, containerd (1.6, with
# its CRI plugin) and the reference loopback plugin it runs beside plumb
# for TestLiveContainerdMesh (which also needs crictl: `go install
# sigs.k8s.io/cri-tools/cmd/crictl@v1.37.0`, as .ci/run does), man and
# col for TestLiveDeb, which reads the installed package's man page, zsh
# and fish for completion_shells.txtar (the scripts in each shell). Without
# root the live tests skip, so these are not asked for.
if [ "${1:-}" = test ] && [ "$(id -u)" -eq 0 ]; then
	need+=(podman:podman runc:runc nft:nftables containerd:containerd
		/usr/lib/cni/loopback:containernetworking-plugins ping:iputils-ping
		man:man-db col:bsdextrautils dpkg-deb:dpkg zsh:zsh fish:fish)
fi
# `deps.sh bench`: the peers make bench measures plumb against that a
# package brings: Podman's network stack (netavark, not on PATH) and nft,
# for plumb's nftables back end; podman and crun for make bench-run,
# podman-compose for make bench-compose.
if [ "${1:-}" = bench ] && [ "$(id -u)" -eq 0 ]; then
	need+=(/usr/lib/podman/netavark:netavark nft:nftables podman:podman crun:crun podman-compose:podman-compose)
fi

missing=()
for pair in "${need[@]}"; do
	tool=${pair%%:*} pkg=${pair#*:}
	command -v "$tool" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin command -v "$tool" >/dev/null 2>&1 || missing+=("$pkg")
done
if ! command -v go >/dev/null 2>&1 && [ ! -x /usr/local/go/bin/go ]; then
	echo "go: not found — install Go 1.26 (https://go.dev/doc/install) or Debian's golang package" >&2
	exit 1
fi
# crictl, which no Debian package of bookworm carries, from the Go module
# proxy once (about a minute): TestLiveContainerdMesh drives containerd
# with it as kubelet would.
if [ "${1:-}" = test ] && [ "$(id -u)" -eq 0 ]; then
	gocmd=$(command -v go || echo /usr/local/go/bin/go)
	gobin=$("$gocmd" env GOBIN 2>/dev/null || true)
	[ -n "$gobin" ] || gobin=$("$gocmd" env GOPATH 2>/dev/null)/bin
	if ! command -v crictl >/dev/null 2>&1 && [ ! -x "$gobin/crictl" ]; then
		echo "installing: crictl (go install sigs.k8s.io/cri-tools/cmd/crictl@v1.37.0)" >&2
		"$gocmd" install sigs.k8s.io/cri-tools/cmd/crictl@v1.37.0
	fi
fi
# staticcheck v0.8.2, which make test runs beside go vet, from the module
# proxy once (about a minute), as root or not. Offline, make test says it
# skips it (and fails under CI=1, as .ci/run sets).
if [ "${1:-}" = test ]; then
	gocmd=$(command -v go || echo /usr/local/go/bin/go)
	gobin=$("$gocmd" env GOBIN 2>/dev/null || true)
	[ -n "$gobin" ] || gobin=$("$gocmd" env GOPATH 2>/dev/null)/bin
	sc=$(command -v staticcheck || echo "$gobin/staticcheck")
	if ! "$sc" -version 2>/dev/null | grep -q '(0\.8\.2)'; then
		echo "installing: staticcheck (go install honnef.co/go/tools/cmd/staticcheck@v0.8.2)" >&2
		"$gocmd" install honnef.co/go/tools/cmd/staticcheck@v0.8.2 ||
			echo "could not install staticcheck (offline?): make test will skip it" >&2
	fi
fi
[ ${#missing[@]} -eq 0 ] && exit 0

pkgs=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
	echo "missing packages: $pkgs— install them (as root: apt-get install -y $pkgs)" >&2
	exit 1
fi
echo "installing: $pkgs" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq $pkgs >/dev/null
# The tests start their own containerd in a throwaway namespace; a host
# service that the package enabled (and, under systemd, started) is not
# theirs to leave running.
case " $pkgs " in *" containerd "*)
	if command -v systemctl >/dev/null 2>&1; then systemctl disable --now containerd >/dev/null 2>&1 || true; fi ;;
esac
