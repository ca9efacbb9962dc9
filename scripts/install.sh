#!/usr/bin/env bash
# Installs plumb's files under DESTDIR/PREFIX: the binary, the man pages
# (gzipped, as Debian ships them) and bash, zsh and fish completion.
# make install runs it with PREFIX=/usr/local; make deb stages the
# package's files with it (PREFIX=/usr) for nfpm.
# Usage: install.sh BINARY MANDIR (DESTDIR and PREFIX from the environment)
set -euo pipefail
bin=$1 mandir=$2
prefix=${PREFIX:-/usr/local}
root=${DESTDIR:-}$prefix
# zsh looks in vendor-completions for a distribution's files (Debian) and
# in site-functions for a local administrator's.
zsh=share/zsh/site-functions
[ "$prefix" = /usr ] && zsh=share/zsh/vendor-completions
install -d "$root/sbin" "$root/share/man/man8" "$root/share/bash-completion/completions" \
	"$root/$zsh" "$root/share/fish/vendor_completions.d"
install -m 0755 "$bin" "$root/sbin/plumb"
for page in "$mandir"/*.8; do
	gzip -9n <"$page" >"$root/share/man/man8/$(basename "$page").gz"
	chmod 0644 "$root/share/man/man8/$(basename "$page").gz"
done
# The scripts name the installed binary, not this build's.
"$bin" completion bash --path "$prefix/sbin/plumb" >"$root/share/bash-completion/completions/plumb"
"$bin" completion zsh --path "$prefix/sbin/plumb" >"$root/$zsh/_plumb"
"$bin" completion fish --path "$prefix/sbin/plumb" >"$root/share/fish/vendor_completions.d/plumb.fish"
chmod 0644 "$root/share/bash-completion/completions/plumb" "$root/$zsh/_plumb" "$root/share/fish/vendor_completions.d/plumb.fish"
