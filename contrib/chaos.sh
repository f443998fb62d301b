#!/bin/sh
# chaos.sh -- run `kvctl verify` against a local kvd cluster while nodes
# are killed, paused and restarted, and report whether any acknowledged
# write was lost.
#
#   contrib/chaos.sh [-n NODES] [-r ROUNDS] [-d SECONDS] [-m MODE]
#                    [-x 'VERIFY OPTIONS'] [--skew MS] [--churn]
#                    [--actions LIST] [--join-via WAY] [--keep]
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
#   --churn      membership changes too: joins of fresh nodes and leaves
#                (below)
#   --actions LIST  the disturbances to choose from, comma-separated:
#                kill, stop, term, and with --churn join and leave
#                (default: all of them), e.g. --churn --actions join,leave
#   --join-via WAY  with --churn, how a fresh node joins: gossip, api or
#                mix (default mix: each join draws one of the two)
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
#
# With --churn two more disturbances join the draw, done as README's
# Operations section tells an operator to.  join: a fresh node (the next
# unused id, node<N+1>, node<N+2>, ..., an empty data directory) starts
# with --peers naming the current members, and once healthy `kvctl
# cluster join` admits it through a random member; half the times the
# cluster has -n members, two fresh nodes join at once (both started,
# then joined one right after the other).  That is a join by gossip
# first: the node's --peers announce it, so gossip has usually admitted
# it (its own entry, ver 0) before the join call, which then says
# "already ... nothing to do".  A join through the API first (--join-via
# api, or drawn by mix) runs `kvctl cluster join` through a random
# member BEFORE the node starts (the member admits it unchecked and
# pushes its entry, a version above every other, to every member), then
# starts it with --peers as README says and waits until it is healthy;
# two at once are both joined, then both started.  Each join's line
# says which way it went, and the join call's own first line follows
# ("joined the cluster" or "a member ... already").  leave: once every
# member answers, sees every member up and has placed its data (its
# /cluster/nodes "transfer" not running; up to 60 s, else the leave is
# skipped and said so), `kvctl cluster leave` through node1..node3, a
# wait until the leaving node shows "member":false and its transfer done,
# then SIGTERM.  The cluster keeps between -n and -n + 2 members; node1,
# node2 and node3 never leave (the core), and any member may be killed,
# paused or restarted.  Each round is then two verify runs: the write
# phase through the core alone (`verify --save`), disturbed as above,
# and, once it and the last disturbance are over, `verify --check` at
# --read-r 2 through every member there is then, each key read through
# each member in turn: a key lost or stale through any one of them
# counts.  Those keys stay, and from the second round on, each join and
# each leave starts a `verify --check` of the last round's keys through
# every member but the one leaving (the one joining included) as soon as
# the change is made, while data moves, waited for before the next
# disturbance: what it finds counts in the round too ("of which during
# joins and leaves"; a key can count once per check).  Joined nodes'
# ports come from one list picked at the start, enough for 4 joins a
# round; once they are used up, no more joins.

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
CHURN=0
KINDS=
CORE=3		# with --churn: node1..node3 never leave
JOINVIA=mix	# with --churn: gossip, api or mix
JOINVIA_SET=0
MEMBERS=	# the current members' numbers, "1 2 3 ..."
MAXN=0		# the highest node number started so far
TMPD=
VPID=
DPID=		# with --churn: the read-back during a join or leave
LASTREC=	# with --churn: the last round's record, its keys kept

PROG=chaos
. "$(dirname "$0")/common.sh"

usage() {
	echo "usage: $0 [-n NODES(3)] [-r ROUNDS(5)] [-d SECONDS_PER_ROUND(6)]" \
	    "[-m keys|set|mixed] [-x 'VERIFY OPTIONS'] [--skew MS(0)]" \
	    "[--churn] [--actions kill,stop,term,join,leave]" \
	    "[--join-via gossip|api|mix] [--keep]" >&2
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
	--churn) CHURN=1; shift ;;
	--actions) [ $# -ge 2 ] || usage; KINDS=$2; shift 2 ;;
	--join-via)
		[ $# -ge 2 ] || usage
		JOINVIA=$2 JOINVIA_SET=1
		shift 2
		;;
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
if [ -z "$KINDS" ]; then
	KINDS=kill,stop,term
	[ "$CHURN" -eq 0 ] || KINDS=kill,stop,term,join,leave
fi
# One word each, comma-separated: "kill,,stop" or "kill," is refused.
case ,$KINDS, in
*,,*) echo "chaos: --actions: an empty item in '$KINDS'" >&2; usage ;;
esac
for a in $(echo "$KINDS" | tr ',' ' '); do
	case $a in
	kill | stop | term) ;;
	join | leave)
		if [ "$CHURN" -eq 0 ]; then
			echo "chaos: --actions $a needs --churn" >&2
			usage
		fi
		;;
	*)
		echo "chaos: --actions: unknown action '$a' (kill, stop," \
		    "term, join, leave)" >&2
		usage
		;;
	esac
done
case $JOINVIA in
gossip | api | mix) ;;
*)
	echo "chaos: --join-via must be gossip, api or mix, not '$JOINVIA'" >&2
	usage
	;;
esac
if [ "$JOINVIA_SET" -eq 1 ] && [ "$CHURN" -eq 0 ]; then
	echo "chaos: --join-via needs --churn" >&2
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
	for vp in $VPID $DPID; do
		kill -9 "$vp" 2>/dev/null
		wait "$vp" 2>/dev/null
	done
	if [ -n "$TMPD" ]; then
		i=1
		while [ "$i" -le "$MAXN" ]; do
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
# nodeI gets the I-th; with --churn, joined nodes the ones after -n's.
NPORTS=$NODES
if [ "$CHURN" -eq 1 ]; then
	NPORTS=$((NODES + 4 * ROUNDS))
	[ "$NPORTS" -le $((NODES + 200)) ] || NPORTS=$((NODES + 200))
fi
PORTS=
if command -v python3 >/dev/null 2>&1; then
	PORTS=$(python3 "$(dirname "$0")/free-ports.py" "$NPORTS" 2>/dev/null)
fi
if [ -z "$PORTS" ]; then
	base=$((20000 + $(rand 30000)))
	i=0
	while [ "$i" -lt "$NPORTS" ]; do
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

# url_of I: nodeI's URL.
url_of() {
	echo "http://127.0.0.1:$(port_of "$1")"
}

# start_node I: starts nodeI, with --peers naming every current member
# but itself (a node that was a member before takes its members.json).
start_node() {
	i=$1
	[ "$i" -le "$MAXN" ] || MAXN=$i
	peers=
	for j in $MEMBERS; do
		[ "$j" -ne "$i" ] &&
		    peers="$peers${peers:+,}node$j=127.0.0.1:$(port_of "$j")"
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

# verify writes (and without --churn reads) through SERVERS: with
# --churn the core, which never leaves; else every node.
SERVERS=
i=1
while [ "$i" -le "$NODES" ]; do
	MEMBERS="$MEMBERS${MEMBERS:+ }$i"
	i=$((i + 1))
done
for i in $MEMBERS; do
	start_node "$i"
	[ "$CHURN" -eq 0 ] || [ "$i" -le "$CORE" ] &&
	    SERVERS="$SERVERS${SERVERS:+,}$(url_of "$i")"
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

# count LIST: how many blank-separated words LIST holds.
count() {
	# shellcheck disable=SC2086 # split on purpose
	set -- $1
	echo $#
}

# pick LIST: one of LIST's blank-separated words, at random.
pick() {
	# shellcheck disable=SC2086 # split on purpose
	set -- $1
	shift "$(rand $#)"
	echo "$1"
}

# nodes_json I: nodeI's /cluster/nodes (one line of JSON), or nothing.
nodes_json() {
	"$KVCTL" --server "$(url_of "$1")" --timeout 2 --json cluster nodes \
	    2>/dev/null </dev/null
}

# settled: every member answers, lists as many members as there are, sees
# each of them up, and has placed its data for them (its own transfer not
# running): what README's Operations asks before a node is removed.
settled() {
	want=$(count "$MEMBERS")
	for si in $MEMBERS; do
		sj=$(nodes_json "$si") || return 1
		case $sj in
		*'"transfer":{"running":false'*) ;;
		*) return 1 ;;
		esac
		mem=${sj#*\"members\":\[}
		mem=${mem%%\],\"removed\"*}
		case $mem in
		*'"state":"down"'* | *'"state":"suspect"'* | \
		    *'"state":"unknown"'*) return 1 ;;
		esac
		[ "$(printf '%s\n' "$mem" | grep -o '{"id":"' | wc -l |
		    tr -d ' ')" -eq "$want" ] || return 1
	done
	return 0
}

# wait_for SECONDS CMD...: polls CMD every 0.2 s until it succeeds.
wait_for() {
	limit=$(($1 * 5))
	shift
	tries=0
	until "$@"; do
		tries=$((tries + 1))
		[ "$tries" -lt "$limit" ] || return 1
		sleep 0.2 2>/dev/null || sleep 1
	done
	return 0
}

# handed_off I: nodeI, which left, says so and its handoff is done.
handed_off() {
	j=$(nodes_json "$1") || return 1
	case $j in
	*'"member":false'*'"transfer":{"running":false'*) return 0 ;;
	esac
	return 1
}

# members_list: sets URLS to the current members' URLs, comma-separated,
# and NAMES to their ids.
members_list() {
	URLS=
	NAMES=
	for mi in $MEMBERS; do
		URLS="$URLS${URLS:+,}$(url_of "$mi")"
		NAMES="$NAMES${NAMES:+ }node$mi"
	done
}

# during_start WHAT: from the second round on, starts reading the last
# round's keys (kept) back through every member there is now (the one
# that joins included, the one that leaves not: none of them goes away
# before during_end), each key through each, while WHAT (a join or a
# leave) moves data; during_end waits for it and counts what it found in
# the round.
during_start() {
	[ -n "$LASTREC" ] || return 0
	DN=$((DN + 1))
	dout="$TMPD/round$round.during$DN.out"
	dwhat=$1
	members_list
	dnames=$NAMES
	# shellcheck disable=SC2086 # XOPTS is split on blanks on purpose
	"$KVCTL" --server "$URLS" --timeout 5 verify --check "$LASTREC" \
	    --keep --read-r 2 $XOPTS >"$dout" 2>"$dout.err" </dev/null &
	DPID=$!
}

during_end() {
	[ -n "$DPID" ] || return 0
	wait "$DPID"
	drc=$?
	DPID=
	dl=$(field "$dout" lost)
	ds=$(field "$dout" stale)
	du=$(field "$dout" unreadable)
	dc=$(field "$dout" corrupt)
	if [ "$drc" -gt 1 ] || [ -z "$dl" ]; then
		say "round $round: the read-back during the $dwhat failed" \
		    "(exit $drc):"
		sed 's/^/    /' "$dout.err" >&2
		FAILED=1
		return 0
	fi
	v=OK
	[ "$drc" -eq 0 ] || { v=FAILED; FAILED=1; }
	say "round $round: during the $dwhat, round $((round - 1))'s" \
	    "$(field "$dout" keys_read) keys read through each of $dnames:" \
	    "lost $dl, stale $ds, unreadable $du, corrupt $dc: $v"
	[ "$drc" -eq 0 ] || grep -E '^(lost|stale|corrupt|unreadable) key:' \
	    "$dout" | sed 's/^/    /'
	R_LOST=$((R_LOST + dl)) R_STALE=$((R_STALE + ds))
	R_UNREAD=$((R_UNREAD + du)) R_CORRUPT=$((R_CORRUPT + dc))
}

# join_call I VIA: kvctl cluster join nodeI through nodeVIA, its first
# line logged ("joined the cluster", or "a member ... already" when
# gossip was first).  1 on failure.
join_call() {
	if ! "$KVCTL" --server "$(url_of "$2")" --timeout 5 cluster \
	    join "node$1" "127.0.0.1:$(port_of "$1")" \
	    >"$TMPD/join$1.out" 2>&1 </dev/null; then
		echo "chaos: the join of node$1 failed:" >&2
		sed 's/^/    /' "$TMPD/join$1.out" >&2
		return 1
	fi
	say "round $round: kvctl: $(head -n 1 "$TMPD/join$1.out")"
}

# join_node K: K fresh nodes (1 or 2), nodeMAXN+1 and on, each joined
# the way --join-via says (mix: drawn for each).  Through the API first:
# kvctl cluster join through a random member, then, after 0-0.9 s, the
# start with --peers naming the members.  By gossip first: the start,
# then, once every new node is healthy, the join, one right after the
# other.  1 on failure.
join_node() {
	first=$((MAXN + 1))
	last=$((MAXN + $1))
	api=
	gossip=
	i=$first
	while [ "$i" -le "$last" ]; do
		way=$JOINVIA
		if [ "$way" = mix ]; then
			way=gossip
			[ "$(rand 2)" -eq 0 ] || way=api
		fi
		if [ "$way" = api ]; then
			api="$api $i"
		else
			gossip="$gossip $i"
		fi
		i=$((i + 1))
	done
	joined=
	old=$MEMBERS	# running: a join is sent through one of them
	for i in $api; do
		via=$(pick "$old")
		say "round $round: kvctl cluster join node$i through node$via" \
		    "before node$i runs (through the API first)"
		join_call "$i" "$via" || return 1
		MEMBERS="$MEMBERS $i"
		joined="$joined${joined:+ and }node$i (api)"
	done
	[ -z "$api" ] || sleep "0.$(rand 10)" 2>/dev/null || sleep 1
	i=$first
	while [ "$i" -le "$last" ]; do
		start_node "$i"
		wait_healthy "$i" || return 1
		case " $api " in
		*" $i "*) say "round $round: started node$i (pid" \
		    "$(cat "$TMPD/node$i.pid")), joined through the API before" ;;
		esac
		i=$((i + 1))
	done
	for i in $gossip; do
		via=$(pick "$MEMBERS")
		say "round $round: started node$i (pid $(cat "$TMPD/node$i.pid")," \
		    "by gossip first): kvctl cluster join node$i through node$via"
		join_call "$i" "$via" || return 1
		MEMBERS="$MEMBERS $i"
		joined="$joined${joined:+ and }node$i (gossip)"
	done
	during_start "join of $joined"
	say "round $round: $joined joined: $(count "$MEMBERS") members"
	settle
	during_end
	return 0
}

# leave_node I: once the cluster is settled (60 s at most, else the leave
# is skipped), nodeI leaves through a core node; once its handoff is done
# it is stopped (SIGTERM).  1 on failure.
leave_node() {
	i=$1
	if ! wait_for 60 settled; then
		say "round $round: leave of node$i skipped: a member is down," \
		    "unseen or still placing its data after 60 s"
		return 0
	fi
	via=$(($(rand "$CORE") + 1))
	say "round $round: kvctl cluster leave node$i through node$via"
	if ! "$KVCTL" --server "$(url_of "$via")" --timeout 5 cluster leave \
	    "node$i" >"$TMPD/leave$i.out" 2>&1 </dev/null; then
		echo "chaos: the leave of node$i failed:" >&2
		sed 's/^/    /' "$TMPD/leave$i.out" >&2
		return 1
	fi
	rest=
	for j in $MEMBERS; do
		[ "$j" -eq "$i" ] || rest="$rest${rest:+ }$j"
	done
	MEMBERS=$rest
	during_start "leave of node$i"
	if ! wait_for 120 handed_off "$i"; then
		echo "chaos: node$i did not finish its handoff in 120 s" >&2
		during_end
		return 1
	fi
	p=$(cat "$TMPD/node$i.pid")
	say "round $round: node$i handed its keys off; SIGTERM (pid $p):" \
	    "$(count "$MEMBERS") members"
	kill -TERM "$p" 2>/dev/null
	wait_gone "$p" 15
	rm -f "$TMPD/node$i.pid"	# gone for good: cleanup must not kill it
	settle
	during_end
	return 0
}

# disturb: one action, drawn from --actions (join only while the cluster
# has fewer than -n + 2 members and a port is left, leave only while it
# has more than -n and a member outside the core), on one random member;
# returns once it is back.
disturb() {
	kinds=
	for k in $(echo "$KINDS" | tr ',' ' '); do
		case $k in
		join)
			[ "$(count "$MEMBERS")" -lt $((NODES + 2)) ] || continue
			[ "$MAXN" -lt "$NPORTS" ] || continue
			;;
		leave)
			[ "$(count "$MEMBERS")" -gt "$NODES" ] || continue
			;;
		esac
		kinds="$kinds $k"
	done
	if [ -z "$kinds" ]; then
		sleep 1		# nothing to do now (only join or leave asked)
		return 0
	fi
	k=$(pick "$kinds")
	if [ "$k" = leave ]; then
		others=
		for j in $MEMBERS; do
			[ "$j" -le "$CORE" ] || others="$others $j"
		done
		leave_node "$(pick "$others")"
		return
	fi
	if [ "$k" = join ]; then
		# Two at once, half the time there is room and a port for two.
		if [ "$(count "$MEMBERS")" -eq "$NODES" ] &&
		    [ "$MAXN" -lt $((NPORTS - 1)) ] && [ "$(rand 2)" -eq 1 ]; then
			join_node 2
		else
			join_node 1
		fi
		return
	fi
	i=$(pick "$MEMBERS")
	p=$(cat "$TMPD/node$i.pid")
	case $k in
	kill)
		say "round $round: kill -9 node$i (pid $p)"
		kill -9 "$p" 2>/dev/null
		wait_gone "$p" 5
		pause_1_2
		start_node "$i"
		wait_healthy "$i" || return 1
		say "round $round: restarted node$i (pid $(cat "$TMPD/node$i.pid"))"
		settle
		;;
	stop)
		say "round $round: SIGSTOP node$i (pid $p)"
		kill -STOP "$p" 2>/dev/null
		pause_1_2
		kill -CONT "$p" 2>/dev/null
		say "round $round: SIGCONT node$i"
		;;
	term)
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
	rec="$TMPD/round$round.rec"
	R_LOST=0 R_STALE=0 R_UNREAD=0 R_CORRUPT=0 DN=0
	save=
	if [ "$CHURN" -eq 1 ]; then
		save="--save $rec"
		say "round $round: kvctl verify -d $SECS -c 8 --mode $m" \
		    "--save${XOPTS:+ $XOPTS} through node1..node$CORE"
	else
		say "round $round: kvctl verify -d $SECS -c 8 --mode $m${XOPTS:+ $XOPTS}"
	fi
	# shellcheck disable=SC2086 # XOPTS is split on blanks on purpose
	"$KVCTL" --server "$SERVERS" --timeout 5 verify -d "$SECS" -c 8 \
	    --mode "$m" --prefix "chaos-$$-$round" $save $XOPTS >"$out" \
	    2>"$err" </dev/null &
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
	# With --churn, the check: every acknowledged key through every
	# member there is now, each in turn.
	if [ "$CHURN" -eq 1 ] && [ "$rc" -le 1 ] && [ -s "$rec" ]; then
		members_list
		say "round $round: kvctl verify --check --read-r 2${XOPTS:+ $XOPTS}" \
		    "through each of the $(count "$MEMBERS") members: $NAMES"
		out="$TMPD/round$round.check.out"
		err="$TMPD/round$round.check.err"
		# The keys stay, for the next round's read-backs during its
		# joins and leaves.
		# shellcheck disable=SC2086 # XOPTS is split on blanks on purpose
		"$KVCTL" --server "$URLS" --timeout 5 verify --check "$rec" \
		    --read-r 2 --keep $XOPTS >"$out" 2>"$err" </dev/null &
		VPID=$!
		wait "$VPID"
		rc=$?
		VPID=
		[ "$rc" -gt 1 ] || LASTREC=$rec
	fi
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
		# What the read-backs during joins and leaves found counts too.
		during=
		if [ "$DN" -gt 0 ]; then
			[ $((R_LOST + R_STALE + R_UNREAD + R_CORRUPT)) -eq 0 ] ||
			    verdict=FAILED
			during=" (of which during joins and leaves: lost $R_LOST,"
			during="$during stale $R_STALE, unreadable $R_UNREAD,"
			during="$during corrupt $R_CORRUPT)"
			lost=$((lost + R_LOST)) stale=$((stale + R_STALE))
			unread=$((unread + R_UNREAD))
			corrupt=$((corrupt + R_CORRUPT))
		fi
		say "round $round ($m): acknowledged $ack, unacknowledged $unack," \
		    "lost $lost, stale $stale, unreadable $unread," \
		    "corrupt $corrupt$during, $rate writes/s: $verdict"
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
