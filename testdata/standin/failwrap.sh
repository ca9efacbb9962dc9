#!/bin/bash
# Wrapper for live fault injection, in front of the real tools. By a step's
# command line it can fail the step ($FAIL_ON), or SIGKILL plumb (its
# parent) just before the step ($KILL_ON), just after it ran ($KILL_AFTER),
# or at the first command after an injected failure, i.e. during the
# rollback ($KILL_AFTER_FAIL names a marker file). It can also run the step
# for real and then report a failure ($HALFWAY_ON: a command that did part
# or all of its work and failed), or run it and then send plumb
# $SIGNAL (INT or TERM) and wait to be killed ($SIGNAL_ON: a signal that
# comes while the step runs); with SIGNAL_WAIT=0 it returns the step's own
# status instead of waiting (an undo, which plumb lets finish when a signal
# comes). Otherwise it runs the
# real tool from $REAL_PATH. Batches (ip -batch -, bridge -batch -, iptables-restore,
# ip6tables-restore) are opened up: each line is matched as the step it
# stands for, and the lines before it really run, as they would in the
# batch. $PLUMB_RUN_IN says which container a batch that plumb started
# inside one belongs to.
# In front of plumb's own steps (`plumb layer unpack`: $PLUMB_SELF is a link
# to this script named plumb), the real plumb is $REAL_PLUMB when set.
name=$(basename "$0")
line="$name $*"
# A layer that a pull or import staged before taking the lock is moved
# into place by the same step with --staged DIR, a directory of that run's
# own: the step is named as its plan (--dry-run) shows it, without it.
if [ "$name" = plumb ] && [[ "$line" == *" --staged "* ]]; then
	line=$(printf '%s' "$line" | sed -E 's/ --staged [^ ]+//')
fi
real() {
	if [ "$1" = plumb ] && [ -n "${REAL_PLUMB:-}" ]; then
		shift
		"$REAL_PLUMB" "$@"
		return
	fi
	PATH=${REAL_PATH:?} "$@"
}
# plumb: the parent, or the parent's parent when the parent is the shim
# plumb runs a detached container's runtime under (plumb-shim).
plumb=$PPID
if [ "$(cat /proc/$PPID/comm 2>/dev/null)" = plumb-shim ]; then
	plumb=$(cut -d' ' -f4 /proc/$PPID/stat)
fi
die() { kill -9 "$plumb"; exit 137; }
injected() {
	echo "injected failure" >&2
	[ -n "${KILL_AFTER_FAIL:-}" ] && : >"$KILL_AFTER_FAIL"
	[ -n "${FAULT_ONCE:-}" ] && : >"$FAULT_ONCE"
}
[ -n "${KILL_AFTER_FAIL:-}" ] && [ -e "$KILL_AFTER_FAIL" ] && die
# $FAULT_ONCE names a marker file: once a fault was injected, the same
# command line runs for real (a rollback that runs a step's command again,
# as compose's remaking of a replaced container does, meets no fault).
if [ -n "${FAULT_ONCE:-}" ] && [ -e "$FAULT_ONCE" ]; then
	unset FAIL_ON HALFWAY_ON SIGNAL_ON
fi

# nft -f -: one transaction, all or nothing, of one or more steps. Each
# step's input starts with a line "create ..." (a table) or "add ..." (an
# element); the step stands as "nft -f - LINE", as the fault matrices name
# it. Like iptables-restore it cannot fail half-way: a failure applies none
# of it (nft's own "Error:" on stderr).
if [ "$line" = "nft -f -" ]; then
	input=$(mktemp)
	cat >"$input"
	n=0
	while IFS= read -r l; do
		n=$((n + 1))
		case "$l" in
		"create "* | "add "*) ;;
		*) continue ;;
		esac
		step="nft -f - $l"
		if [ "$step" = "${FAIL_ON:-}" ] || [ "$step" = "${HALFWAY_ON:-}" ]; then
			injected
			echo "/dev/stdin:$n:1-1: Error: injected failure" >&2
			exit 1
		fi
		if [ "$step" = "${SIGNAL_ON:-}" ]; then
			real nft -f - <"$input"
			rc=$?
			[ -n "${FAULT_ONCE:-}" ] && : >"$FAULT_ONCE"
			kill -"${SIGNAL:-TERM}" "$plumb"
			[ "${SIGNAL_WAIT:-}" = 0 ] && exit $rc
			exec sleep 30 # until plumb kills it
		fi
		[ "$step" = "${KILL_ON:-}" ] && die
		if [ "$step" = "${KILL_AFTER:-}" ]; then
			real nft -f - <"$input"
			die
		fi
	done <"$input"
	real nft -f - <"$input"
	exit
fi

# A batch: $prefix LINE is each step's command; run is how the real batch runs.
# bridge -batch - reads and fails as ip -batch - does ("Command failed -:N",
# exit 1, the lines before it applied).
prefix=""
case "$line" in
*" ip -batch -" | "ip -batch -" | "ip -n "*" -batch -" | *" bridge -batch -" | "bridge -batch -")
	prefix=${line% -batch -}
	[ "${prefix#ip -n }" != "$prefix" ] && prefix="ip -n $(echo "$prefix" | cut -d' ' -f3)"
	;;
"iptables-restore --noflush" | "ip6tables-restore --noflush")
	prefix=${line% --noflush} ;;
esac
# xtables: the command an (ip6)tables-restore line stands for.
xtables=""
case "$prefix" in
iptables-restore | ip6tables-restore) xtables=${prefix%-restore} ;;
esac
# A container's batch that plumb started inside the container itself says
# where it runs: its lines stand for the steps as the plan writes them.
if [ "$line" = "ip -batch -" ]; then
	case "${PLUMB_RUN_IN:-}" in
	"pid "*) prefix="nsenter -t ${PLUMB_RUN_IN#pid } -n ip" ;;
	"netns "*) prefix="ip -n ${PLUMB_RUN_IN#netns }" ;;
	"path "*) prefix="nsenter --net=${PLUMB_RUN_IN#path } ip" ;;
	esac
fi
if [ "$line" = "bridge -batch -" ]; then
	case "${PLUMB_RUN_IN:-}" in
	"pid "*) prefix="nsenter -t ${PLUMB_RUN_IN#pid } -n bridge" ;;
	"netns "*) prefix="ip netns exec ${PLUMB_RUN_IN#netns } bridge" ;;
	"path "*) prefix="nsenter --net=${PLUMB_RUN_IN#path } bridge" ;;
	esac
fi
if [ -n "$prefix" ]; then
	input=$(mktemp)
	cat >"$input"
	table=""
	n=0
	while IFS= read -r l; do
		n=$((n + 1))
		case "$l" in
		"*"*) table=${l#\*}; continue ;;
		COMMIT) continue ;;
		:*) l="-N $(echo "${l#:}" | cut -d' ' -f1)" ;;
		esac
		step="$prefix $l"
		if [ -n "$xtables" ]; then
			step="$xtables $l"
			[ "$table" != filter ] && step="$xtables -t $table $l"
		fi
		if [ "$step" = "${FAIL_ON:-}" ]; then
			if [ -n "$xtables" ]; then
				injected
				echo "Error occurred at line: $n" >&2
				exit 2 # atomic: nothing of the table applied
			fi
			head -n $((n - 1)) "$input" >"$input.part"
			real $line <"$input.part" || exit 1
			injected
			echo "Command failed -:$n" >&2
			exit 1
		fi
		if [ "$step" = "${HALFWAY_ON:-}" ]; then
			if [ -n "$xtables" ]; then
				# iptables-restore commits its table whole or not at
				# all: it cannot fail half-way.
				injected
				echo "Error occurred at line: $n" >&2
				exit 2
			fi
			head -n $n "$input" >"$input.part"
			real $line <"$input.part"
			injected
			echo "Command failed -:$n" >&2
			exit 1
		fi
		if [ "$step" = "${SIGNAL_ON:-}" ]; then
			if [ -n "$xtables" ]; then
				real $line <"$input"
			else
				head -n $n "$input" >"$input.part"
				real $line <"$input.part"
			fi
			rc=$?
			[ -n "${FAULT_ONCE:-}" ] && : >"$FAULT_ONCE"
			kill -"${SIGNAL:-TERM}" "$plumb"
			[ "${SIGNAL_WAIT:-}" = 0 ] && exit $rc
			exec sleep 30 # until plumb kills it
		fi
		if [ "$step" = "${KILL_ON:-}" ]; then
			if [ -z "$xtables" ]; then
				head -n $((n - 1)) "$input" >"$input.part"
				real $line <"$input.part"
			fi
			die
		fi
		if [ "$step" = "${KILL_AFTER:-}" ]; then
			if [ -n "$xtables" ]; then
				real $line <"$input"
			else
				head -n $n "$input" >"$input.part"
				real $line <"$input.part"
			fi
			die
		fi
	done <"$input"
	real $line <"$input"
	exit
fi

if [ -n "${KILL_ON:-}" ] && [ "$line" = "$KILL_ON" ]; then die; fi
if [ -n "${FAIL_ON:-}" ] && [ "$line" = "$FAIL_ON" ]; then
	injected
	exit 2
fi
if [ -n "${HALFWAY_ON:-}" ] && [ "$line" = "$HALFWAY_ON" ]; then
	real "$name" "$@"
	injected
	exit 1
fi
if [ -n "${SIGNAL_ON:-}" ] && [ "$line" = "$SIGNAL_ON" ]; then
	real "$name" "$@"
	rc=$?
	[ -n "${FAULT_ONCE:-}" ] && : >"$FAULT_ONCE"
	kill -"${SIGNAL:-TERM}" "$plumb"
	[ "${SIGNAL_WAIT:-}" = 0 ] && exit $rc
	exec sleep 30 # until plumb kills it
fi
if [ -n "${KILL_AFTER:-}" ] && [ "$line" = "$KILL_AFTER" ]; then
	real "$name" "$@"
	rc=$?
	die
	exit $rc
fi
[ "$name" = plumb ] && [ -n "${REAL_PLUMB:-}" ] && exec "$REAL_PLUMB" "$@"
PATH=${REAL_PATH:?} exec "$name" "$@"
