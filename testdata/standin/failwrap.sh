#!/bin/sh
# Wrapper for live fault injection, in front of the real tools. By its
# command line it can fail a step ($FAIL_ON), or SIGKILL plumb (its parent)
# just before a step ($KILL_ON), just after it ran ($KILL_AFTER), or at the
# first command after an injected failure, i.e. during the rollback
# ($KILL_AFTER_FAIL names a marker file). Otherwise it runs the real tool
# from $REAL_PATH.
line="$(basename "$0") $*"
name=$(basename "$0")
if [ -n "${KILL_AFTER_FAIL:-}" ] && [ -e "$KILL_AFTER_FAIL" ]; then
	kill -9 "$PPID"
	exit 137
fi
if [ -n "${KILL_ON:-}" ] && [ "$line" = "$KILL_ON" ]; then
	kill -9 "$PPID"
	exit 137
fi
if [ -n "${FAIL_ON:-}" ] && [ "$line" = "$FAIL_ON" ]; then
	echo "injected failure" >&2
	[ -n "${KILL_AFTER_FAIL:-}" ] && : >"$KILL_AFTER_FAIL"
	exit 2
fi
if [ -n "${KILL_AFTER:-}" ] && [ "$line" = "$KILL_AFTER" ]; then
	PATH=${REAL_PATH:?} "$name" "$@"
	rc=$?
	kill -9 "$PPID"
	exit $rc
fi
PATH=${REAL_PATH:?} exec "$name" "$@"
