#!/bin/sh
# Wrapper for live fault injection: when its command line equals $FAIL_ON it
# fails as a real tool would; otherwise it runs the real tool from $REAL_PATH.
line="$(basename "$0") $*"
if [ -n "${FAIL_ON:-}" ] && [ "$line" = "$FAIL_ON" ]; then
	echo "injected failure" >&2
	exit 2
fi
name=$(basename "$0")
PATH=${REAL_PATH:?} exec "$name" "$@"
