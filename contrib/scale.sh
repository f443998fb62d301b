#!/bin/sh
# contrib/scale.sh -- how membership and liveness behave as a cluster
# grows (issue 17).  `contrib/scale.sh N` starts N kvd nodes on loopback,
# each with --peers naming only node1 (as Cassandra seeds work), and
# measures, in this order:
#
#   agree    seconds from the last start until every node lists N members
#   up       seconds from the last start until every node shows every
#            other member "up" in /cluster/nodes
#   idle     after KEYS keys are loaded (kvctl bench --prefill, N=3 W=2
#            R=2) and SETTLE seconds of quiet: CPU of the whole cluster
#            and of one node on average over IDLE seconds (% of a core,
#            from /proc/PID/stat), and threads per node (the median of
#            /proc/PID/status)
#   join     node N+1 starts seed-style and is joined (kvctl cluster
#            join); once every node lists it and no transfer runs: the
#            keys all nodes sent (transfer keys_sent_total, or keys_sent
#            where a build has no total) and the keys node N+1 holds
#            (its kvd_keys), and their ratio
#   down     one node (not node1) is killed with SIGKILL, no client
#            traffic: seconds until every other node shows it "down"
#
# and prints one row of the table README's "Large clusters" shows.  A
# wait that runs out prints "not in S s (k of M)": how many of the views
# (node pairs) had got there.
#
# Environment: KVD_BIN, KVCTL_BIN (default ./kvd, ./kvctl; not passed on
# to kvd and kvctl, which warn about KVD_ and KVCTL_ variables they do
# not read), KEYS (20000), SETTLE (35: the coordinator's idle workers exit
# after 30 s), IDLE (20), UP_WAIT (90), DOWN_WAIT (60), JOIN_WAIT (120),
# SCALE_DIR (a temporary directory, removed at the end unless
# SCALE_KEEP=1), SCALE_FLAGS (extra kvd flags for every node), SCALE_OUT
# (a file the row is appended to).
# Needs curl and jq; Linux (/proc).  Every process it starts is killed
# on exit.  Only loopback addresses are used.

set -u

N=${1:-}
case $N in
'' | *[!0-9]*) echo "usage: $0 N   (N >= 2 nodes)" >&2; exit 2 ;;
esac
[ "$N" -ge 2 ] || { echo "usage: $0 N   (N >= 2 nodes)" >&2; exit 2; }

KVD_BIN=${KVD_BIN:-./kvd}
KVCTL_BIN=${KVCTL_BIN:-./kvctl}
KEYS=${KEYS:-20000}
SETTLE=${SETTLE:-35}
IDLE=${IDLE:-20}
UP_WAIT=${UP_WAIT:-90}
DOWN_WAIT=${DOWN_WAIT:-60}
JOIN_WAIT=${JOIN_WAIT:-120}
SCALE_FLAGS=${SCALE_FLAGS:-}
for t in curl jq; do
	command -v $t >/dev/null 2>&1 || { echo "scale.sh: needs $t" >&2; exit 2; }
done
[ -x "$KVD_BIN" ] && [ -x "$KVCTL_BIN" ] ||
    { echo "scale.sh: no $KVD_BIN or $KVCTL_BIN (run make)" >&2; exit 2; }

DIR=${SCALE_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/kvd-scale.XXXXXX")}
mkdir -p "$DIR/data"

cleanup() {
	for f in "$DIR"/*.pid; do
		[ -e "$f" ] || continue
		kill -9 "$(cat "$f")" 2>/dev/null
	done
	wait 2>/dev/null
	[ "${SCALE_KEEP:-0}" = 1 ] || rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

# secs_since T0: seconds since T0 (ms), one decimal.
secs_since() {
	ms=$(($(now_ms) - $1))
	printf '%d.%d' $((ms / 1000)) $((ms % 1000 / 100))
}

# start I [PEERS]: starts nodeI on a free loopback port.
start() {
	env -u KVD_BIN -u KVCTL_BIN "$KVD_BIN" --id "node$1" \
	    --addr 127.0.0.1:0 --data-dir "$DIR/data" \
	    --port-file "$DIR/node$1.port" ${2:+--peers "$2"} $SCALE_FLAGS \
	    >>"$DIR/node$1.log" 2>&1 &
	echo $! >"$DIR/node$1.pid"
}

# wait_port I: waits (10 s) for nodeI's port file.
wait_port() {
	i=0
	while [ ! -s "$DIR/node$1.port" ]; do
		i=$((i + 1))
		if [ $i -gt 200 ]; then
			echo "scale.sh: node$1 did not start:" >&2
			tail -5 "$DIR/node$1.log" >&2
			exit 1
		fi
		sleep 0.05
	done
}

url() {
	echo "http://127.0.0.1:$(cat "$DIR/node$1.port")"
}

# kvctl ARGS...: KVCTL_BIN without this script's own variables.
kvctl() {
	env -u KVD_BIN -u KVCTL_BIN "$KVCTL_BIN" "$@"
}

pid() {
	cat "$DIR/node$1.pid"
}

# nodes_of I...: every listed node's /cluster/nodes, one JSON array.
nodes_of() {
	urls=""
	for i in "$@"; do
		urls="$urls $(url "$i")/cluster/nodes"
	done
	# shellcheck disable=SC2086
	curl -s --max-time 3 -w '\n' $urls 2>/dev/null | jq -cs '.' 2>/dev/null ||
	    echo '[]'
}

seq_n() {
	i=$1
	while [ "$i" -le "$2" ]; do
		echo "$i"
		i=$((i + 1))
	done
}

# poll LIMIT T0 JQ NODES...: until JQ over nodes_of(NODES) prints
# "ok"; JQ prints "k/m" otherwise.  Prints the seconds since T0, or
# "not in LIMIT s (k of m)".
poll() {
	limit=$1 t0=$2 expr=$3
	shift 3
	last="?"
	while :; do
		r=$(nodes_of "$@" | jq -r "$expr" 2>/dev/null)
		case $r in
		ok) secs_since "$t0"; return 0 ;;
		'') ;;
		*) last=$r ;;
		esac
		if [ $(($(now_ms) - t0)) -ge $((limit * 1000)) ]; then
			echo "not in $limit s ($(echo "$last" | sed 's|/| of |'))"
			return 1
		fi
		sleep 0.3
	done
}

# cpu_ticks PID...: utime + stime of every PID, in clock ticks.
cpu_ticks() {
	t=0
	for p in "$@"; do
		v=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$p/stat" \
		    2>/dev/null)
		t=$((t + ${v:-0}))
	done
	echo "$t"
}

# alive WHAT: every node started so far still runs; otherwise says which
# exited (a crash, or something else on the box killed it) and stops.
alive() {
	for f in "$DIR"/node*.pid; do
		kill -0 "$(cat "$f")" 2>/dev/null && continue
		echo "scale.sh: $(basename "$f" .pid) exited ($1); its log ends:" >&2
		tail -5 "${f%.pid}.log" >&2
		exit 1
	done
}

threads_median() {
	for p in "$@"; do
		awk '/^Threads:/ { print $2 }' "/proc/$p/status" 2>/dev/null
	done | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

ALL=$(seq_n 1 "$N")

# ---- start, agree, up ---------------------------------------------------

start 1
wait_port 1
SEED="node1=127.0.0.1:$(cat "$DIR/node1.port")"
for i in $(seq_n 2 "$N"); do
	start "$i" "$SEED"
done
for i in $ALL; do
	wait_port "$i"
done
T_LAST=$(now_ms)

# shellcheck disable=SC2086
AGREE=$(poll "$UP_WAIT" "$T_LAST" "
	[.[] | select(.members | length == $N)] | length as \$k |
	if \$k == $N and length == $N then \"ok\" else \"\(\$k)/$N\" end
" $ALL)

# shellcheck disable=SC2086
UP=$(poll "$UP_WAIT" "$T_LAST" "
	[.[] | .members[] | select(.self != true) | select(.state == \"up\")] |
	length as \$k | if \$k == $N * ($N - 1) then \"ok\"
	else \"\(\$k)/$((N * (N - 1)))\" end
" $ALL)

# ---- load, idle ----------------------------------------------------------

servers=""
for i in $ALL; do
	servers="$servers${servers:+,}$(url "$i")"
done
kvctl bench --server "$servers" --prefill --keys "$KEYS" -n 1 \
    -c 16 --size 100 >"$DIR/load.txt" 2>&1 ||
    echo "scale.sh: load: $(tail -1 "$DIR/load.txt")" >&2

alive "after the load"
sleep "$SETTLE"
alive "while idle"
PIDS=""
for i in $ALL; do
	PIDS="$PIDS $(pid "$i")"
done
# shellcheck disable=SC2086
c0=$(cpu_ticks $PIDS)
sleep "$IDLE"
# shellcheck disable=SC2086
c1=$(cpu_ticks $PIDS)
# shellcheck disable=SC2086
THREADS=$(threads_median $PIDS)
alive "while idle"
HZ=$(getconf CLK_TCK)
CPU_ALL=$(awk -v d=$((c1 - c0)) -v hz="$HZ" -v s="$IDLE" \
    'BEGIN { printf "%.1f", d * 100 / hz / s }')
CPU_ONE=$(awk -v d=$((c1 - c0)) -v hz="$HZ" -v s="$IDLE" -v n="$N" \
    'BEGIN { printf "%.2f", d * 100 / hz / s / n }')

# ---- join ------------------------------------------------------------------

J=$((N + 1))
start "$J" "$SEED"
wait_port "$J"
kvctl --server "$(url 1)" cluster join "node$J" \
    "127.0.0.1:$(cat "$DIR/node$J.port")" >/dev/null 2>&1
T_JOIN=$(now_ms)
# Placed everywhere: every node lists N+1 members and runs no transfer,
# twice in a row a second apart.
calm=0
while [ $calm -lt 2 ]; do
	# shellcheck disable=SC2046
	r=$(nodes_of $(seq_n 1 "$J") | jq -r "
	    [.[] | select((.members | length) == $J and
	        (.transfer.running | not))] | length")
	if [ "$r" = "$J" ]; then calm=$((calm + 1)); else calm=0; fi
	if [ $(($(now_ms) - T_JOIN)) -ge $((JOIN_WAIT * 1000)) ]; then
		echo "scale.sh: join not placed in $JOIN_WAIT s" >&2
		break
	fi
	sleep 1
done
# shellcheck disable=SC2046
SENT=$(nodes_of $(seq_n 1 "$J") | jq '[.[] | .transfer |
    (.keys_sent_total // .keys_sent)] | add')
HELD=$(curl -s --max-time 5 "$(url "$J")/metrics" |
    awk '$1 == "kvd_keys" { print $2 }')
RATIO=$(awk -v s="${SENT:-0}" -v h="${HELD:-0}" \
    'BEGIN { if (h > 0) printf "%.2f", s / h; else print "-" }')

# ---- kill --------------------------------------------------------------------

alive "after the join"
K=$((N / 2 + 1))
kill -9 "$(pid "$K")"
T_KILL=$(now_ms)
OTHERS=$(seq_n 1 "$J" | grep -vx "$K")
# shellcheck disable=SC2086
DOWN=$(poll "$DOWN_WAIT" "$T_KILL" "
	[.[] | .members[] | select(.id == \"node$K\") |
	    select(.state == \"down\")] | length as \$k |
	if \$k == $N then \"ok\" else \"\(\$k)/$N\" end
" $OTHERS)

ROW=$(printf '| %d | %s | %s | %s | %s%% | %s%% | %s | %s / %s = %s |' \
    "$N" "$AGREE" "$UP" "$DOWN" "$CPU_ALL" "$CPU_ONE" "$THREADS" \
    "${SENT:-?}" "${HELD:-?}" "$RATIO")
echo "$ROW"
[ -n "${SCALE_OUT:-}" ] && echo "$ROW" >>"$SCALE_OUT"
exit 0
