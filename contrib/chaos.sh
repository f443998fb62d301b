#!/bin/sh
# chaos.sh -- run `kvctl verify` against a local kvd cluster while nodes
# are killed, paused and restarted, and report whether any acknowledged
# write was lost.
#
#   contrib/chaos.sh [-n NODES] [-r ROUNDS] [-d SECONDS] [-m MODE]
#                    [-x 'VERIFY OPTIONS'] [--skew MS] [--keep]
#
#   -n NODES     cluster size, 3..20 (default 3)
#   -r ROUNDS    verify runs (default 5)
#   -d SECONDS   write phase of each verify run (default 6)
#   -m MODE      keys, set, or mixed: rounds alternate keys and set
#                (default mixed)
#   -x OPTIONS   more options for every verify run, split on blanks and
#                put after chaos's own, e.g. -x '--write-r 2' (a read
#                quorum before each write instead of a blind write)
#   --skew MS    skew the nodes' wall clocks: node I runs (I-2)*MS
#                milliseconds off (node1 -MS, node2 0, node3 +MS, ...)
#                under the LD_PRELOAD shim test/clockshim.c, built into
#                the temporary directory (Linux; needs a C compiler);
#                monotonic clocks are not moved (default 0: no shim)
#   --keep       keep the temporary directory (data, logs, round output)
#
# Environment: KVD (default ./kvd), KVCTL (default ./kvctl); nothing else
# is built.  With --skew, CC (default cc) and CLOCKSHIM_C (default
# test/clockshim.c beside this script's directory).  The cluster lives in
# its own temporary directory on free loopback ports; every node runs
# with --n 3 --w 2 --r 2, a 500 ms peer timeout and 300 ms gossip (and
# --anti-entropy-interval 2 when this kvd has that flag).
#
# Each round runs `kvctl verify -d SECONDS -c 8` in the background and,
# while its write phase lasts, disturbs one random node at a time: kill -9
# and restart after 1-2 s, SIGSTOP and SIGCONT after 1-2 s, or SIGTERM
# and restart.  A disturbed node is back and healthy before the next one
# is touched, so W=2 of N=3 replicas stay reachable.  Every action is
# printed with a timestamp, then the round's verify result; the last line
# sums the rounds.  Exit status: 0 when no round lost, staled or could
# not read an acknowledged write, 1 otherwise, 2 for a usage error.
# Every process this script started is killed on exit.

set -u
set -f	# no globbing: -x's options are split on blanks, nothing more

KVD=${KVD:-./kvd}
KVCTL=${KVCTL:-./kvctl}
NODES=3
ROUNDS=5
SECS=6
MODE=mixed
XOPTS=
SKEW=0
SHIM=
KEEP=0
TMPD=
VPID=

PROG=chaos
. "$(dirname "$0")/common.sh"

usage() {
	echo "usage: $0 [-n NODES(3)] [-r ROUNDS(5)] [-d SECONDS_PER_ROUND(6)]" \
	    "[-m keys|set|mixed] [-x 'VERIFY OPTIONS'] [--skew MS(0)]" \
	    "[--keep]" >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case $1 in
	-n) [ $# -ge 2 ] || usage; NODES=$2; shift 2 ;;
	-r) [ $# -ge 2 ] || usage; ROUNDS=$2; shift 2 ;;
	-d) [ $# -ge 2 ] || usage; SECS=$2; shift 2 ;;
	-m) [ $# -ge 2 ] || usage; MODE=$2; shift 2 ;;
	-x) [ $# -ge 2 ] || usage; XOPTS="$XOPTS${XOPTS:+ }$2"; shift 2 ;;
	--skew) [ $# -ge 2 ] || usage; SKEW=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	-h | --help) usage ;;
	*) echo "chaos: unknown argument '$1'" >&2; usage ;;
	esac
done
if ! is_uint "$NODES" || [ "$NODES" -lt 3 ] || [ "$NODES" -gt 20 ]; then
	echo "chaos: -n must be 3..20" >&2
	usage
fi
if ! is_uint "$ROUNDS" || [ "$ROUNDS" -lt 1 ]; then
	echo "chaos: -r must be a number of rounds >= 1" >&2
	usage
fi
if ! is_uint "$SECS" || [ "$SECS" -lt 1 ]; then
	echo "chaos: -d must be whole seconds >= 1" >&2
	usage
fi
case $MODE in
keys | set | mixed) ;;
*) echo "chaos: -m must be keys, set or mixed" >&2; usage ;;
esac
if ! is_uint "$SKEW" || [ "$SKEW" -gt 3600000 ]; then
	echo "chaos: --skew must be milliseconds, 0..3600000" >&2
	usage
fi
[ -x "$KVD" ] || die "no kvd binary at $KVD (set KVD)"
[ -x "$KVCTL" ] || die "no kvctl binary at $KVCTL (set KVCTL)"

now() {
	date '+%H:%M:%S'
}

say() {
	echo "[$(now)] $*"
}

# rand N: a number from 0 to N-1.
rand() {
	r=$(od -An -N2 -tu2 /dev/urandom 2>/dev/null | tr -d ' ')
	is_uint "$r" || r=$$
	echo $((r % $1))
}

# A pause of 1.0 to 2.0 seconds.
pause_1_2() {
	t=$(rand 11)
	if [ "$t" -eq 10 ]; then
		sleep 2
	else
		sleep "1.$t" 2>/dev/null || sleep 1
	fi
}

# running PID: alive and not a zombie.
running() {
	kill -0 "$1" 2>/dev/null || return 1
	s=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	case $s in
	Z*) return 1 ;;
	esac
	return 0
}

cleanup() {
	if [ -n "$VPID" ]; then
		kill -9 "$VPID" 2>/dev/null
		wait "$VPID" 2>/dev/null
	fi
	if [ -n "$TMPD" ]; then
		i=1
		while [ "$i" -le "$NODES" ]; do
			if [ -f "$TMPD/node$i.pid" ]; then
				p=$(cat "$TMPD/node$i.pid")
				kill -CONT "$p" 2>/dev/null
				kill -9 "$p" 2>/dev/null
				wait "$p" 2>/dev/null
			fi
			i=$((i + 1))
		done
		if [ "$KEEP" -eq 1 ]; then
			echo "chaos: kept $TMPD"
		else
			rm -rf "$TMPD"
		fi
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

TMPD=$(mktemp -d "${TMPDIR:-/tmp}/kvd-chaos.XXXXXX") || die "mktemp failed"
mkdir -p "$TMPD/data"

# The clock shim, and proof that it moves a dynamically linked program's
# clock (date) here; without that, --skew would measure nothing.
if [ "$SKEW" -gt 0 ]; then
	src=${CLOCKSHIM_C:-$(dirname "$0")/../test/clockshim.c}
	[ -f "$src" ] || die "--skew: no clock shim source at $src (set CLOCKSHIM_C)"
	SHIM=$TMPD/clockshim.so
	"${CC:-cc}" -shared -fPIC -o "$SHIM" "$src" -ldl ||
	    die "--skew: cannot build $src with ${CC:-cc}"
	t0=$(date +%s)
	t1=$(LD_PRELOAD="$SHIM" CLOCKSHIM_OFFSET_MS=100000 date +%s)
	if [ $((t1 - t0)) -lt 90 ] || [ $((t1 - t0)) -gt 110 ]; then
		die "--skew: LD_PRELOAD of $SHIM does not move this system's clock"
	fi
fi

# Free loopback ports, all bound at once so none repeats; without
# python3, a random base (a clash makes a node fail to start, loudly).
PORTS=
if command -v python3 >/dev/null 2>&1; then
	PORTS=$(python3 "$(dirname "$0")/free-ports.py" "$NODES" 2>/dev/null)
fi
if [ -z "$PORTS" ]; then
	base=$((20000 + $(rand 30000)))
	i=0
	while [ "$i" -lt "$NODES" ]; do
		PORTS="$PORTS $((base + i))"
		i=$((i + 1))
	done
fi

EXTRA=
if "$KVD" --help 2>&1 | grep -q -- '--anti-entropy-interval'; then
	EXTRA="--anti-entropy-interval 2"
fi

# skew_of I: nodeI's clock offset in milliseconds under --skew.
skew_of() {
	echo $((($1 - 2) * SKEW))
}

start_node() {
	i=$1
	peers=
	j=1
	while [ "$j" -le "$NODES" ]; do
		[ "$j" -ne "$i" ] &&
		    peers="$peers${peers:+,}node$j=127.0.0.1:$(port_of "$j")"
		j=$((j + 1))
	done
	# The subshell execs kvd, so $! is kvd's pid.
	(
		if [ -n "$SHIM" ]; then
			LD_PRELOAD=$SHIM CLOCKSHIM_OFFSET_MS=$(skew_of "$i")
			export LD_PRELOAD CLOCKSHIM_OFFSET_MS
		fi
		# shellcheck disable=SC2086 # EXTRA is empty or two words
		exec "$KVD" --id "node$i" --addr "127.0.0.1:$(port_of "$i")" \
		    --data-dir "$TMPD/data" --peers "$peers" --n 3 --w 2 \
		    --r 2 --peer-timeout-ms 500 --gossip-interval-ms 300 \
		    --shutdown-grace 2 $EXTRA
	) >>"$TMPD/node$i.log" 2>&1 </dev/null &
	echo $! >"$TMPD/node$i.pid"
}

# wait_healthy I: up to 15 s for nodeI's /health.
wait_healthy() {
	p=$(cat "$TMPD/node$1.pid")
	tries=0
	until "$KVCTL" --server "http://127.0.0.1:$(port_of "$1")" --timeout 1 \
	    health >/dev/null 2>&1; do
		if ! running "$p"; then
			echo "chaos: node$1 exited; last lines of its log:" >&2
			tail -n 5 "$TMPD/node$1.log" >&2
			return 1
		fi
		tries=$((tries + 1))
		[ "$tries" -lt 75 ] || { echo "chaos: node$1 not healthy" >&2; return 1; }
		sleep 0.2 2>/dev/null || sleep 1
	done
	return 0
}

# wait_gone PID SECONDS: waits for the process to exit, kill -9 after.
wait_gone() {
	tries=0
	while running "$1" && [ "$tries" -lt $(($2 * 10)) ]; do
		sleep 0.1 2>/dev/null || sleep 1
		tries=$((tries + 1))
	done
	if running "$1"; then
		say "pid $1 still running after $2 s; kill -9"
		kill -9 "$1" 2>/dev/null
	fi
	wait "$1" 2>/dev/null
}

SERVERS=
i=1
while [ "$i" -le "$NODES" ]; do
	start_node "$i"
	SERVERS="$SERVERS${SERVERS:+,}http://127.0.0.1:$(port_of "$i")"
	i=$((i + 1))
done
i=1
while [ "$i" -le "$NODES" ]; do
	wait_healthy "$i" || die "the cluster did not start (logs in $TMPD)"
	i=$((i + 1))
done
say "cluster of $NODES nodes up in $TMPD (${EXTRA:-no anti-entropy flag})"
if [ -n "$SHIM" ]; then
	offs=
	i=1
	while [ "$i" -le "$NODES" ]; do
		offs="$offs${offs:+, }node$i $(skew_of "$i") ms"
		i=$((i + 1))
	done
	say "wall clocks skewed: $offs"
fi

# A restarted node answers /health before every other node's failure
# detector has noticed it is back; give them a moment before the next
# disturbance, so that two replicas really are reachable.
settle() {
	sleep 1
}

# disturb: one action on one random node; returns once it is back.
disturb() {
	i=$(($(rand "$NODES") + 1))
	p=$(cat "$TMPD/node$i.pid")
	case $(rand 3) in
	0)
		say "round $round: kill -9 node$i (pid $p)"
		kill -9 "$p" 2>/dev/null
		wait_gone "$p" 5
		pause_1_2
		start_node "$i"
		wait_healthy "$i" || return 1
		say "round $round: restarted node$i (pid $(cat "$TMPD/node$i.pid"))"
		settle
		;;
	1)
		say "round $round: SIGSTOP node$i (pid $p)"
		kill -STOP "$p" 2>/dev/null
		pause_1_2
		kill -CONT "$p" 2>/dev/null
		say "round $round: SIGCONT node$i"
		;;
	2)
		say "round $round: SIGTERM node$i (pid $p)"
		kill -TERM "$p" 2>/dev/null
		wait_gone "$p" 15
		start_node "$i"
		wait_healthy "$i" || return 1
		say "round $round: restarted node$i (pid $(cat "$TMPD/node$i.pid"))"
		settle
		;;
	esac
	return 0
}

# field FILE NAME: the number after NAME at the start of a line.
field() {
	awk -v k="$2" '$1 == k { print $2; exit }' "$1"
}

TOT_ACK=0 TOT_UNACK=0 TOT_LOST=0 TOT_STALE=0 TOT_UNREAD=0 TOT_CORRUPT=0
FAILED=0 BROKEN=0 ACTIONS=0
round=1
while [ "$round" -le "$ROUNDS" ]; do
	case $MODE in
	mixed) if [ $((round % 2)) -eq 1 ]; then m='keys'; else m='set'; fi ;;
	*) m=$MODE ;;
	esac
	out="$TMPD/round$round.out"
	err="$TMPD/round$round.err"
	say "round $round: kvctl verify -d $SECS -c 8 --mode $m${XOPTS:+ $XOPTS}"
	# shellcheck disable=SC2086 # XOPTS is split on blanks on purpose
	"$KVCTL" --server "$SERVERS" --timeout 5 verify -d "$SECS" -c 8 \
	    --mode "$m" --prefix "chaos-$$-$round" $XOPTS >"$out" 2>"$err" \
	    </dev/null &
	VPID=$!
	sleep "0.$(rand 10)" 2>/dev/null || sleep 1
	# Disturb while the write phase lasts, leaving it a second's margin.
	started=$(date +%s)
	while running "$VPID" && ! grep -q 'write phase done' "$err" &&
	    [ $(($(date +%s) - started)) -lt $((SECS - 1)) ]; do
		if ! disturb; then
			FAILED=1 BROKEN=1
			break
		fi
		ACTIONS=$((ACTIONS + 1))
		sleep "0.$(rand 10)" 2>/dev/null || sleep 1
	done
	wait "$VPID"
	rc=$?
	VPID=
	ack=$(field "$out" acknowledged)
	unack=$(field "$out" unacknowledged)
	lost=$(field "$out" lost)
	stale=$(field "$out" stale)
	unread=$(field "$out" unreadable)
	corrupt=$(field "$out" corrupt)
	rate=$(field "$out" writes/s)
	if [ "$rc" -gt 1 ] || [ -z "$ack" ] || [ -z "$lost" ]; then
		say "round $round: verify failed (exit $rc):"
		sed 's/^/    /' "$err" >&2
		FAILED=1 BROKEN=1
	else
		verdict=OK
		[ "$rc" -eq 0 ] || { verdict=FAILED; FAILED=1; }
		say "round $round ($m): acknowledged $ack, unacknowledged $unack," \
		    "lost $lost, stale $stale, unreadable $unread," \
		    "corrupt $corrupt, $rate writes/s: $verdict"
		[ "$rc" -eq 0 ] || grep -E '^(lost|stale|corrupt|unreadable) key:' \
		    "$out" | sed 's/^/    /'
		TOT_ACK=$((TOT_ACK + ack)) TOT_UNACK=$((TOT_UNACK + unack))
		TOT_LOST=$((TOT_LOST + lost)) TOT_STALE=$((TOT_STALE + stale))
		TOT_UNREAD=$((TOT_UNREAD + unread))
		TOT_CORRUPT=$((TOT_CORRUPT + corrupt))
	fi
	[ "$BROKEN" -eq 0 ] || break
	round=$((round + 1))
done

if [ "$FAILED" -eq 0 ]; then verdict=OK; else verdict=FAILED; fi
echo "chaos: $ROUNDS rounds, $ACTIONS disturbances: acknowledged $TOT_ACK," \
    "unacknowledged $TOT_UNACK, lost $TOT_LOST, stale $TOT_STALE," \
    "unreadable $TOT_UNREAD, corrupt $TOT_CORRUPT: $verdict"
[ "$FAILED" -eq 0 ]
