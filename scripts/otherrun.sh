#!/usr/bin/env bash
# otherrun.sh PKG...: runs the given test packages again as on the other kind
# of machine: where the host has /run/netns, on one without it, and where it
# has none, on one with it. A fresh /run (tmpfs) in a mount namespace of its
# own stands in for that machine, so the host's /run is never touched. Unit
# tests once depended on /run/netns being there (FuzzShell made it, then
# expected it); this keeps both cases tested by every make test.
set -euo pipefail
export LC_ALL=C
unset LANGUAGE
GO=${GO:-go}
if [ "$(id -u)" -ne 0 ] || ! command -v unshare >/dev/null 2>&1; then
	echo "otherrun: skipped (needs root and unshare for a private /run)" >&2
	exit 0
fi
if [ -e /run/netns ]; then
	want=absent
	prep=:
else
	want=present
	prep='mkdir /run/netns'
fi
echo "otherrun: the unit tests again with /run/netns $want (a private /run)" >&2
# shellcheck disable=SC2016
exec unshare --mount sh -c 'mount --make-rprivate / && mount -t tmpfs -o mode=0755 none /run && '"$prep"' && exec "$@"' \
	otherrun "$GO" test -count=1 "$@"
