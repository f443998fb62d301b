#!/bin/sh
# contrib/bench/run.sh -- `make bench`: kvd's throughput, latency, restart
# time and memory, next to etcd, Redis and nginx measured in the same run.
#
#   sh contrib/bench/run.sh              (or: make bench)
#   BENCH_QUICK=1 sh contrib/bench/run.sh   (or: make bench-quick)
#
# POSIX sh.  Starts everything on 127.0.0.1 ports it picks itself, in a
# temporary directory under ${TMPDIR:-/tmp}, and kills everything it started
# on exit.  Each throughput figure is the median of BENCH_RUNS runs of
# BENCH_SECONDS; every load has 50 connections, 16-byte values and 10,000
# keys key:000000000000 .. (16 bytes), and names its client in its row.
# The machine's speed may drift over minutes, so kvd 1 node, kvd 3 nodes
# and Redis are started (and prefilled) together and measured in
# BENCH_RUNS rounds, each one run of each of their loads in this order:
# kvctl bench 1 node GET, PUT; wrk 1 node GET, PUT; the same four on 3
# nodes; redis-benchmark SET, GET.  The other loads run one after another,
# each its BENCH_RUNS runs in a row.  The loads:
#
#   kvctl bench -c 50 (HTTP/1.1, 2 event-loop threads, random keys,
#     prefilled): kvd 1 node GET and durable PUT; kvd 3 nodes
#     (N=3 W=2 R=2) GET and PUT, the connections spread round-robin over
#     the 3 nodes.
#   wrk with contrib/bench/keys.lua (an event loop; rotating keys): the same
#     four kvd loads, 1 node with -t2 -c50; 3 nodes with -t3 -c51, one
#     thread of 17 connections pinned to each node.  etcd 3 members (Raft)
#     through its JSON gateway the same way (-t3 -c51, one thread per
#     member): put, linearizable range, serializable range.  nginx (when
#     installed): a 16-byte static file, -t2 -c50.
#   Compare-and-swap (issue 15), wrk with contrib/bench/cas.lua and
#     -t48 -c48: one connection per wrk thread, each thread pinned to a
#     node or member in turn and looping on its own key (no contention:
#     the protocol's cost, not its retries): kvd 3 nodes PUT If-Match
#     with the ETag of its last write (a Paxos round among the owners),
#     the same connections doing plain PUTs (keys.lua), and
#     etcd 3 members' txn compare-and-swap (compare mod_revision, put; a
#     failed compare reads the key back in the same txn).
#   redis-benchmark -c 50 -r 10000 -d 16: Redis SET and GET, appendonly
#     yes, appendfsync always.
#   benchtool: the raw rate of fdatasync after each 100-byte append.
# The ratios issue 12's goals are judged by are computed from this run: a
# ratio of two loads of the rounds is the median of the per-round ratios
# (round i's A / round i's B), the others (etcd, p99, restart) the ratio
# of two medians.
#
# Restart and memory (BENCH_SKIP_RESTART=1 skips): BENCH_RESTART_KEYS keys
# (16-byte keys, 100-byte values) loaded through each server's own API
# (kvctl bench --prefill, which PUTs each key once; redis-cli --pipe of SET
# commands), then kill -9, and the time from start to the first correct GET,
# median of BENCH_RESTART_RUNS: kvd from its WAL alone (--snapshot-interval
# 0 and kill -9, so no snapshot exists), kvd from a snapshot (written by a
# SIGTERM), Redis from its AOF.  Resident bytes per key: kvd's RSS minus an
# empty kvd's, Redis's used_memory_rss minus an empty Redis's.
#
# etcd is Debian's etcd-server (/usr/bin/etcd 3.4).  wrk, Redis, etcd and
# nginx are installed when missing if the script is root and has apt-get
# (note: etcd-server and nginx also enable a service on systemd hosts);
# otherwise their absence is noted and their rows skipped.  Its range rows need
# curl (the 10,000 keys are written first, by 128-put transactions).
#
# Listing (issue 13; BENCH_SKIP_LIST=1 skips): BENCH_LIST_KEYS keys
# (key:000000000000 .., 100-byte values) PUT once each into a 3-node
# cluster (N=3 W=2 R=2) by kvctl bench --prefill, then, each the median of
# BENCH_RUNS: the time to the first page of 1,000 keys (curl's time_total
# for GET /kv?limit=1000, from the start and from the middle), a full
# `kvctl ls | wc -l`, a full `kvctl dump`; one `kvctl load` of that dump
# into a fresh 3-node cluster, and a second load of it (nothing left to
# write); and kvctl bench -t put (50 connections over the 3 nodes, updates
# of 10,000 keys) alone and while `kvctl ls` runs over all the keys again
# and again through one node, in turns (alone, during, alone, ...).
#
# Prints one Markdown report to stdout and writes it to
# ${BENCH_OUT:-bench-results.md}.  Numbers never fail the run: the exit
# status is non-zero only when kvd (or the helper) cannot be started.
#
# Environment: BENCH_QUICK=1 (1 run of 2 s per row, 100,000 restart keys:
# checks that the script works), BENCH_RUNS (5, so 5 rounds), BENCH_SECONDS
# per run (5), BENCH_OUT, BENCH_SKIP_RESTART, BENCH_RESTART_KEYS (1000000),
# BENCH_RESTART_RUNS (3), BENCH_SKIP_LIST, BENCH_LIST_KEYS (1000000;
# 100000 with BENCH_QUICK), BENCH_WITHOUT (e.g. "wrk nginx redis etcd": skip
# those even when installed), KVD and KVCTL (the binaries, default ./kvd
# and ./kvctl), CC (for the helper, default cc).
#
# Batch, watch and wake-up figures (issue 14) are contrib/bench/features.py
# (make bench-features), apart from this suite.

set -u
cd "$(dirname "$0")/../.." || exit 2
ROOT=$(pwd)
KVD=${KVD:-$ROOT/kvd}
KVCTL=${KVCTL:-$ROOT/kvctl}
if [ "${BENCH_QUICK:-0}" = 1 ]; then
	RUNS=${BENCH_RUNS:-1}
	SECS=${BENCH_SECONDS:-2}
	RKEYS=${BENCH_RESTART_KEYS:-100000}
	LKEYS=${BENCH_LIST_KEYS:-100000}
else
	RUNS=${BENCH_RUNS:-5}
	SECS=${BENCH_SECONDS:-5}
	RKEYS=${BENCH_RESTART_KEYS:-1000000}
	LKEYS=${BENCH_LIST_KEYS:-1000000}
fi
RRUNS=${BENCH_RESTART_RUNS:-3}
OUT=${BENCH_OUT:-bench-results.md}
CC=${CC:-cc}
CONNS=50
KEYS=10000
VSIZE=16	# the value of every throughput row
RVSIZE=100	# the value of the restart and memory data set
LUA=$ROOT/contrib/bench/keys.lua

T=$(mktemp -d "${TMPDIR:-/tmp}/kvd-bench.XXXXXX") || exit 2
PIDS=""
NOTES=""
NPID=""
ROUND=""	# the round under way, during the rounds

# nginx's master is stopped with TERM so that it takes its workers along;
# everything else is a single process and gets KILL.
cleanup() {
	if [ -n "$NPID" ]; then
		kill -s TERM "$NPID" 2>/dev/null
		wait "$NPID" 2>/dev/null
	fi
	for p in $PIDS; do
		kill -9 "$p" 2>/dev/null
	done
	for p in $PIDS; do
		wait "$p" 2>/dev/null
	done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() {
	echo "bench: $*" >&2
}

note() {
	NOTES="$NOTES- $*
"
}

die() {
	say "$*"
	exit 1
}

# setv NAME VALUE: sets a result variable (sh has no associative arrays).
setv() {
	eval "$1=\$2"
}

# getv NAME: prints a result variable, empty when unset.
getv() {
	eval "printf '%s' \"\${$1:-}\""
}

# median: the median of the numbers on stdin (lower middle for an even count).
median() {
	grep -E '^[0-9.eE+-]+$' | sort -g | awk '{ a[NR] = $1 }
	    END { if (NR) print a[int((NR + 1) / 2)] }'
}

# runs_median N [FILE]: the median of column N of FILE, default $T/runs
# (one line a run).
runs_median() {
	awk -v c="$1" '{ print $c }' "${2:-$T/runs}" | median
}

# ratio A B [DIGITS]: A/B, or empty when either is missing or B is 0.
ratio() {
	awk -v a="${1:-}" -v b="${2:-}" -v d="${3:-2}" 'BEGIN {
	    n = "^[0-9]+([.][0-9]*)?([eE][-+]?[0-9]+)?$"
	    if (a !~ n || b !~ n || b + 0 == 0) exit
	    printf "%.*f", d, a / b }'
}

# track PID / untrack PID: the processes cleanup kills.
track() {
	PIDS="$PIDS $1"
}

untrack() {
	PIDS=$(echo " $PIDS " | sed "s/ $1 / /g")
}

# stop PID [SIGNAL]: signals a process we started and waits for it.
stop() {
	kill -s "${2:-KILL}" "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	untrack "$1"
}

rss_kb() {
	ps -o rss= -p "$1" 2>/dev/null | tr -d ' '
}

# redis_rss PORT: the used_memory_rss the Redis on PORT reports.
redis_rss() {
	"$RCLI" -p "$1" info memory | tr -d '\r' | sed -n 's/^used_memory_rss://p'
}

now_ms() {
	"$TOOL" now-ms
}

freeport() {
	"$TOOL" free-port
}

# freeports N: N distinct free ports on one line.
freeports() {
	got=""
	while [ "$(echo $got | wc -w)" -lt "$1" ]; do
		p=$(freeport)
		case " $got " in
		*" $p "*) ;;
		*) got="$got $p" ;;
		esac
	done
	echo $got
}

find_bin() {
	command -v "$1" 2>/dev/null && return 0
	for d in /usr/sbin /usr/local/sbin /usr/local/bin /opt/homebrew/bin \
	    /usr/local/nginx/sbin; do
		if [ -x "$d/$1" ]; then
			echo "$d/$1"
			return 0
		fi
	done
	return 1
}

# mb FILE...: their size on disk in MB.
mb() {
	du -k "$@" 2>/dev/null | awk '{ s += $1 } END { printf "%.0f", s / 1024 }'
}

# ---- set-up ----

[ -x "$KVD" ] || die "$KVD not found: run make first"
[ -x "$KVCTL" ] || die "$KVCTL not found: run make first"
"$KVCTL" bench --help >/dev/null 2>&1 || die "$KVCTL has no bench command"
TOOL=$T/benchtool
$CC -std=c11 -O2 -D_POSIX_C_SOURCE=200809L -Ilib -o "$TOOL" \
    contrib/bench/benchtool.c lib/crc32c.c || die "cannot build contrib/bench/benchtool.c"

NCPU=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo "?")
LOAD0=$(uptime 2>/dev/null | sed 's/.*load average[s]*: *//')
START_MS=$(now_ms)
say "results go to $OUT; $RUNS runs of ${SECS}s per load; temp dir $T"

# BENCH_WITHOUT="wrk nginx redis etcd" runs as if those were not installed.
without() {
	case " ${BENCH_WITHOUT:-} " in
	*" $1 "*) return 0 ;;
	esac
	return 1
}
has() {
	without "$1" && return 1
	find_bin "$2"
}
# absent NAME PACKAGE WHAT: notes that NAME's rows are missing, and why.
absent() {
	if without "$1"; then
		note "$1 skipped (BENCH_WITHOUT): $3"
	else
		note "$1 not installed: $3 (apt-get install $2)"
	fi
}
# What the rows need and is missing is installed when the script is root and
# has apt-get (Debian's packages: wrk, redis-server with redis-benchmark and
# redis-cli, etcd-server, nginx-light; BENCH_WITHOUT's names are left out),
# in one `apt-get install`, tried again after an `apt-get update` if it
# fails, and then one package at a time.
MISSING=""
want() {	# want NAME BINARY PACKAGE
	without "$1" || find_bin "$2" >/dev/null || MISSING="$MISSING $3"
}
want wrk wrk wrk
want redis redis-server redis-server
want etcd etcd etcd-server
want nginx nginx nginx-light
if [ -n "$MISSING" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	say "installing:$MISSING (apt-get install -y)"
	apt_install() {
		DEBIAN_FRONTEND=noninteractive apt-get install -y $MISSING >"$T/apt.log" 2>&1
	}
	apt_install || { apt-get update >>"$T/apt.log" 2>&1 && apt_install; } ||
	    for pkg in $MISSING; do	# one unknown name fails the lot
		DEBIAN_FRONTEND=noninteractive apt-get install -y "$pkg" \
		    >"$T/apt.log" 2>&1 ||
		    say "apt-get install $pkg failed: $(tail -1 "$T/apt.log")"
	    done
fi
WRK=$(has wrk wrk) || WRK=""
NGINX=$(has nginx nginx) || NGINX=""
REDIS=$(has redis redis-server) || REDIS=""
RB=$(has redis redis-benchmark) || RB=""
RCLI=$(has redis redis-cli) || RCLI=""
CURL=$(has curl curl) || CURL=""
ETCD=$(has etcd etcd) || ETCD=""

# start_kvd ID PORT DATADIR [flags...]: starts kvd and waits until /health
# answers.  Sets LAST_PID, T0 (now-ms before the start) and READY_MS (start
# to /health).  1 on failure.
start_kvd() {
	id=$1 port=$2 dir=$3
	shift 3
	T0=$(now_ms)
	"$KVD" --id "$id" --addr "127.0.0.1:$port" --data-dir "$dir" \
	    --log-level warn "$@" >>"$T/kvd-$id.log" 2>&1 &
	LAST_PID=$!
	track "$LAST_PID"
	if ! READY_MS=$("$TOOL" wait http "$port" "$T0" 300 "$LAST_PID"); then
		say "kvd $id did not start; its log:"
		tail -20 "$T/kvd-$id.log" >&2
		return 1
	fi
}

# start_redis DIR PORT: Redis with appendonly yes, appendfsync always and
# no automatic AOF rewrite (its AOF stays the log of the writes, as kvd's
# WAL without snapshots).  Sets LAST_PID, T0 and READY_MS (start to PONG).
start_redis() {
	mkdir -p "$1"
	T0=$(now_ms)
	"$REDIS" --port "$2" --bind 127.0.0.1 --dir "$1" --appendonly yes \
	    --appendfsync always --save "" --aof-use-rdb-preamble no \
	    --auto-aof-rewrite-percentage 0 \
	    --logfile "$1/redis.log" --daemonize no >/dev/null 2>&1 &
	LAST_PID=$!
	track "$LAST_PID"
	READY_MS=$("$TOOL" wait redis "$2" "$T0" 300 "$LAST_PID")
}

# jfield NAME: a number field of the kvctl bench JSON on stdin.
jfield() {
	sed -n "s/.*\"$1\":\([0-9.eE+-]*\).*/\1/p"
}

# save KEY: the medians of $T/KEY.runs (one line a run: rps p50 p99 cpu
# errors, "-" where a client gives no figure) and the sum of its errors as
# KEY_rps, KEY_p50, KEY_p99, KEY_cpu and KEY_err; notes the errors, with
# what the client last said of them.
save() {
	f=$T/$1.runs
	setv "$1_rps" "$(runs_median 1 "$f")"
	setv "$1_p50" "$(runs_median 2 "$f")"
	setv "$1_p99" "$(runs_median 3 "$f")"
	setv "$1_cpu" "$(runs_median 4 "$f")"
	setv "$1_err" "$(awk '{ s += $5 } END { print s + 0 }' "$f")"
	[ "$(getv "$1_err")" = 0 ] && return 0
	if [ -e "$T/$1.json" ]; then
		why="kvctl bench --json: $(tail -1 "$T/$1.json" | sed -n 's/.*\("transport":{[^}]*}\).*\("http_status":{[^}]*}\).*/\1 \2/p')"
	else
		why="wrk: $(grep -E 'Non-2xx|Socket errors' "$T/$1.wrk" | tail -2 | tr -s ' \n' ' ')"
	fi
	note "$(getv "$1_label"): $(getv "$1_err") errors over $RUNS runs ($why)"
}

# said KEY LABEL: the progress line of KEY's latest run, named by its round
# during the rounds (ROUND set), else by its number.  Sets n to that number
# and KEY_label to LABEL (for save's notes).
said() {
	n=$(awk 'END { print NR }' "$T/$1.runs")
	setv "$1_label" "$2"
	if [ -n "$ROUND" ]; then
		at="round $ROUND/$RUNS, $2"
	else
		at="$2 run $n/$RUNS"
	fi
	say "$at: $(awk 'END { printf "%s req/s, p50 %s ms, p99 %s ms", $1, $2, $3
	    if ($5 != "-") printf ", errors %s", $5 }' "$T/$1.runs")"
}

# kb_run KEY LABEL SERVERS ARGS...: one run of kvctl bench -c 50 -d SECS,
# a line added to $T/KEY.runs.
kb_run() {
	key=$1 label=$2 servers=$3
	shift 3
	out=$("$KVCTL" bench --json --server "$servers" -c $CONNS \
	    --keys $KEYS --size $VSIZE -d "$SECS" "$@" 2>>"$T/kvctl.err")
	printf '%s\n' "$out" >>"$T/$key.json"
	rps=$(printf '%s\n' "$out" | jfield rps)
	p50=$(printf '%s\n' "$out" | jfield p50)
	p99=$(printf '%s\n' "$out" | jfield p99)
	cpu=$(printf '%s\n' "$out" | jfield client_cpu_pct)
	err=$(printf '%s\n' "$out" | jfield errors)
	echo "${rps:--} ${p50:--} ${p99:--} ${cpu:--} ${err:-0}" >>"$T/$key.runs"
	said "$key" "$label"
	[ -n "$rps" ] || note "$label run $n: kvctl bench printed no result ($(tail -1 "$T/kvctl.err"))"
}

# kb_prefill LABEL SERVERS: PUTs each of the KEYS keys once (VSIZE bytes).
kb_prefill() {
	say "$1: prefilling $KEYS keys"
	out=$("$KVCTL" bench --json --server "$2" -c $CONNS --keys $KEYS \
	    --size $VSIZE --prefill -n 1 2>>"$T/kvctl.err")
	e=$(printf '%s\n' "$out" | jfield prefill_errors)
	[ "${e:-x}" = 0 ] || note "$1: the prefill failed for ${e:-all} keys"
}

# to_ms: wrk's latency ("512.00us", "1.20ms", "1.01s") in milliseconds.
to_ms() {
	awk '{ v = $1
	    if (v ~ /us$/) { sub(/us$/, "", v); v = v / 1000 }
	    else if (v ~ /ms$/) { sub(/ms$/, "", v); v = v + 0 }
	    else if (v ~ /s$/) { sub(/s$/, "", v); v = v * 1000 }
	    printf "%.3f\n", v }'
}

# wrk_run KEY LABEL THREADS CONNS PORTS URL [OP]: one run of
# wrk -tTHREADS -cCONNS, with keys.lua doing OP (see there) over the KEYS
# keys, or GETs of URL without OP, a line added to $T/KEY.runs.  PORTS
# ("" or P1,P2,P3) pins wrk thread i to port i mod 3.  Errors are non-2xx
# answers plus socket errors.
wrk_run() {
	key=$1 label=$2 th=$3 co=$4 ports=$5 url=$6 op=${7:-}
	if [ -n "$op" ]; then
		out=$(BENCH_WRK_PORTS=$ports "$WRK" -t"$th" -c"$co" \
		    -d"${SECS}s" --latency -s "$LUA" "$url" -- "$op" $KEYS \
		    $VSIZE 2>&1)
	else
		out=$("$WRK" -t"$th" -c"$co" -d"${SECS}s" --latency "$url" 2>&1)
	fi
	printf '%s\n' "$out" >>"$T/$key.wrk"
	rps=$(printf '%s\n' "$out" | awk '/^Requests\/sec:/ { print $2 }')
	p50=$(printf '%s\n' "$out" | awk '$1 == "50%" { print $2 }' | to_ms)
	p99=$(printf '%s\n' "$out" | awk '$1 == "99%" { print $2 }' | to_ms)
	err=$(printf '%s\n' "$out" | awk '/Non-2xx/ { e += $NF }
	    /Socket errors/ { gsub(/,/, ""); e += $4 + $6 + $8 + $10 }
	    END { print e + 0 }')
	echo "${rps:--} ${p50:--} ${p99:--} - $err" >>"$T/$key.runs"
	said "$key" "$label"
	[ -n "$rps" ] ||
	    note "$label run $n: wrk failed: $(printf '%s\n' "$out" | tail -2 | tr '\n' ' ')"
}

# wrk_load KEY LABEL ...: RUNS runs of wrk_run in a row, then save.
wrk_load() {
	for i in $(seq 1 "$RUNS"); do
		wrk_run "$@"
	done
	save "$1"
}

# rb_n TEST: a request count that keeps one redis-benchmark run near SECS
# seconds, from a short calibration run.
rb_n() {
	rps=$("$RB" -h 127.0.0.1 -p "$RPORT" -c $CONNS -n 2000 -r $KEYS \
	    -d $VSIZE -t "$1" --csv 2>/dev/null | tr -d '"' |
	    awk -F, '$2 ~ /^[0-9.]+$/ { print int($2) }' | tail -1)
	[ -n "$rps" ] && [ "$rps" -gt 0 ] 2>/dev/null || rps=20000
	echo $((rps * SECS > 1000 ? rps * SECS : 1000))
}

# rb_run KEY LABEL TEST N: one run of redis-benchmark -c 50 -t TEST -n N,
# a line added to $T/KEY.runs (no errors column: it counts none).
rb_run() {
	key=$1
	out=$("$RB" -h 127.0.0.1 -p "$RPORT" -c $CONNS -n "$4" -r $KEYS \
	    -d $VSIZE -t "$3" --csv 2>&1 | tr -d '"')
	printf '%s\n' "$out" >>"$T/$key.csv"
	# redis 7: test,rps,avg,min,p50,p95,p99,max (older: test,rps)
	line=$(printf '%s\n' "$out" | awk -F, 'toupper($1) ~ /^(GET|SET)$/ {
	    print $2, ($5 == "" ? "-" : $5), ($7 == "" ? "-" : $7), "-", "-"; exit }')
	echo "${line:-- - - - -}" >>"$T/$key.runs"
	said "$key" "$2"
}

# wrk_cas KEY LABEL PORTS URL OP: wrk_load with contrib/bench/cas.lua,
# -t48 -c48.
wrk_cas() {
	saved_lua=$LUA
	LUA=$ROOT/contrib/bench/cas.lua
	wrk_load "$1" "$2" 48 48 "$3" "$4" "$5"
	LUA=$saved_lua
	c=$(grep -h '^cas conflicts:' "$T/$1.wrk" | awk '{ s += $3 } END { print s + 0 }')
	[ "$c" = 0 ] || note "$2: $c compare-and-swaps found their key changed (each resynced and was counted as done)"
}

# ---- kvd 1 node, kvd 3 nodes and Redis, in rounds ----

P1=$(freeport)
start_kvd s1 "$P1" "$T/single" --snapshot-interval 0 || die "kvd failed to start"
S1PID=$LAST_PID
U1=http://127.0.0.1:$P1
kb_prefill "kvd 1 node" "$U1"

# shellcheck disable=SC2046 # the ports, one word each
set -- $(freeports 3)
C1=$1 C2=$2 C3=$3
CL="--n 3 --w 2 --r 2 --snapshot-interval 0"
start_kvd c1 "$C1" "$T/cluster" --peers "c2=127.0.0.1:$C2,c3=127.0.0.1:$C3" $CL || die "kvd cluster node c1 failed to start"
CP1=$LAST_PID
start_kvd c2 "$C2" "$T/cluster" --peers "c1=127.0.0.1:$C1,c3=127.0.0.1:$C3" $CL || die "kvd cluster node c2 failed to start"
CP2=$LAST_PID
start_kvd c3 "$C3" "$T/cluster" --peers "c1=127.0.0.1:$C1,c2=127.0.0.1:$C2" $CL || die "kvd cluster node c3 failed to start"
CP3=$LAST_PID
CU="http://127.0.0.1:$C1,http://127.0.0.1:$C2,http://127.0.0.1:$C3"
kb_prefill "kvd 3 nodes" "$CU"

REDIS_VER="" RPID=""
if [ -n "$REDIS" ] && [ -n "$RB" ]; then
	REDIS_VER=$("$REDIS" --version | sed -n 's/.* v=\([^ ]*\).*/\1/p')
	RPORT=$(freeport)
	if start_redis "$T/redis" "$RPORT"; then
		RPID=$LAST_PID
		RB_SET=$(rb_n set) RB_GET=$(rb_n get)
	else
		note "redis-server did not start: $(tail -2 "$T/redis/redis.log" 2>/dev/null | tr '\n' ' ')"
	fi
else
	absent redis redis-server "no Redis rows"
fi
[ -n "$WRK" ] || absent wrk wrk "no wrk, etcd or nginx rows"

# The machine's speed drifts over minutes, so the loads whose ratios are
# issue 12's goals run in rounds, one run of each a round, and each ratio
# is taken round by round (rgoal); a row is still the median of its runs.
say "rounds 1 to $RUNS: kvd 1 node, kvd 3 nodes${RPID:+ and Redis}"
for ROUND in $(seq 1 "$RUNS"); do
	kb_run kb1_get "kvctl bench kvd 1 node GET" "$U1" -t get
	kb_run kb1_put "kvctl bench kvd 1 node PUT" "$U1" -t put
	if [ -n "$WRK" ]; then
		wrk_run wrk1_get "wrk kvd 1 node GET" 2 $CONNS "" "$U1" kvd-get
		wrk_run wrk1_put "wrk kvd 1 node PUT" 2 $CONNS "" "$U1" kvd-put
	fi
	kb_run kb3_get "kvctl bench kvd 3 nodes GET" "$CU" -t get
	kb_run kb3_put "kvctl bench kvd 3 nodes PUT" "$CU" -t put
	if [ -n "$WRK" ]; then
		wrk_run wrk3_get "wrk kvd 3 nodes GET" 3 51 "$C1,$C2,$C3" \
		    "http://127.0.0.1:$C1" kvd-get
		wrk_run wrk3_put "wrk kvd 3 nodes PUT" 3 51 "$C1,$C2,$C3" \
		    "http://127.0.0.1:$C1" kvd-put
	fi
	if [ -n "$RPID" ]; then
		rb_run redis_set "redis-benchmark redis SET (fsync always)" set "$RB_SET"
		rb_run redis_get "redis-benchmark redis GET" get "$RB_GET"
	fi
done
ROUND=""
for k in kb1_get kb1_put wrk1_get wrk1_put kb3_get kb3_put wrk3_get wrk3_put \
    redis_set redis_get; do
	[ -e "$T/$k.runs" ] && save "$k"
done
stop "$S1PID" TERM
[ -z "$RPID" ] || stop "$RPID"

# ---- kvd, three nodes: -t48 -c48 and compare-and-swap ----

if [ -n "$WRK" ]; then
	wrk_load wrk3_put48 "wrk kvd 3 nodes PUT, -t48 -c48" 48 48 \
	    "$C1,$C2,$C3" "http://127.0.0.1:$C1" kvd-put
	wrk_cas wrk3_cas "wrk kvd 3 nodes CAS (If-Match), -t48 -c48" \
	    "$C1,$C2,$C3" "http://127.0.0.1:$C1" kvd-cas
fi
stop "$CP1" TERM
stop "$CP2" TERM
stop "$CP3" TERM

# ---- etcd, three members ----

# b64: base64 of each line of stdin (printable ASCII), one per line.
b64() {
	awk 'BEGIN {
	    B = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	    for (i = 32; i < 127; i++) ord[sprintf("%c", i)] = i }
	{   s = $0; o = ""
	    for (i = 1; i <= length(s); i += 3) {
		r = length(s) - i + 1
		n = ord[substr(s, i, 1)] * 65536
		if (r > 1) n += ord[substr(s, i + 1, 1)] * 256
		if (r > 2) n += ord[substr(s, i + 2, 1)]
		o = o substr(B, int(n / 262144) % 64 + 1, 1) \
		    substr(B, int(n / 4096) % 64 + 1, 1) \
		    (r > 1 ? substr(B, int(n / 64) % 64 + 1, 1) : "=") \
		    (r > 2 ? substr(B, n % 64 + 1, 1) : "=")
	    }
	    print o }'
}

# etcd_prefill PORT: writes the KEYS keys (VSIZE-byte values, as keys.lua's)
# by transactions of 128 puts (etcd's default --max-txn-ops), one curl
# process; 0 when etcd then counts KEYS keys in the range.
etcd_prefill() {
	v=$(awk -v n=$VSIZE 'BEGIN { for (i = 0; i < n; i++) printf "%c", 97 + i % 26; print "" }' | b64)
	mkdir -p "$T/txn"
	seq 0 $((KEYS - 1)) | awk '{ printf "key:%012d\n", $1 }' | b64 |
	    awk -v v="$v" -v d="$T/txn" -v u="http://127.0.0.1:$1/v3/kv/txn" '
	    (NR - 1) % 128 == 0 {
		if (f != "") { printf "]}", v >f; close(f) }
		f = d "/" NR ".json"
		printf "{\"success\":[" >f
		printf "%surl = \"%s\"\ndata-binary = \"@%s\"\noutput = \"/dev/null\"\nwrite-out = \"%%{http_code}\\n\"\nsilent\n", \
		    (NR > 1 ? "next\n" : ""), u, f >(d "/curl.conf")
		sep = ""
	    }
	    { printf "%s{\"request_put\":{\"key\":\"%s\",\"value\":\"%s\"}}", sep, $0, v >f; sep = "," }
	    END { if (f != "") printf "]}" >f }'
	bad=$("$CURL" -K "$T/txn/curl.conf" 2>>"$T/curl.err" | grep -vc '^200$')
	[ "$bad" = 0 ] || note "etcd prefill: $bad transactions failed"
	lo=$(echo "key:000000000000" | b64)
	hi=$(printf 'key:%012d\n' $KEYS | b64)
	n=$("$CURL" -s -X POST "http://127.0.0.1:$1/v3/kv/range" \
	    -d "{\"key\":\"$lo\",\"range_end\":\"$hi\",\"count_only\":true}" |
	    sed -n 's/.*"count":"\([0-9]*\)".*/\1/p')
	[ "${n:-0}" = $KEYS ]
}

ETCD_VER=""
if [ -n "$ETCD" ] && [ -n "$WRK" ]; then
	ETCD_VER=$("$ETCD" --version 2>/dev/null | sed -n 's/^etcd Version: //p')
	# etcd 3.4 refuses to run on arm64 unless told.
	case $(uname -m) in
	aarch64 | arm64) ETCD_UNSUPPORTED_ARCH=arm64; export ETCD_UNSUPPORTED_ARCH ;;
	esac
	# shellcheck disable=SC2046 # the ports, one word each
	set -- $(freeports 6)
	E1=$1 E2=$2 E3=$3 EP1=$4 EP2=$5 EP3=$6
	IC="e1=http://127.0.0.1:$EP1,e2=http://127.0.0.1:$EP2,e3=http://127.0.0.1:$EP3"
	EPIDS="" eok=1
	for m in 1:$E1:$EP1 2:$E2:$EP2 3:$E3:$EP3; do
		n=${m%%:*} cp=${m#*:} pp=${m##*:}
		cp=${cp%:*}
		"$ETCD" --name "e$n" --data-dir "$T/etcd/e$n" \
		    --listen-client-urls "http://127.0.0.1:$cp" \
		    --advertise-client-urls "http://127.0.0.1:$cp" \
		    --listen-peer-urls "http://127.0.0.1:$pp" \
		    --initial-advertise-peer-urls "http://127.0.0.1:$pp" \
		    --initial-cluster "$IC" --initial-cluster-state new \
		    --initial-cluster-token kvd-bench \
		    --logger zap --log-outputs stderr --log-level warn \
		    >"$T/etcd-e$n.log" 2>&1 &
		track $!
		EPIDS="$EPIDS $!"
	done
	t0=$(now_ms)
	for m in $E1 $E2 $E3; do
		# /health answers 200 once the member has a leader.
		"$TOOL" wait http "$m" "$t0" 60 0 >/dev/null || eok=0
	done
	if [ $eok = 1 ]; then
		wrk_load etcd_put "wrk etcd 3 members put" 3 51 "$E1,$E2,$E3" \
		    "http://127.0.0.1:$E1" etcd-put
		wrk_cas etcd_cas "wrk etcd 3 members txn CAS, -t48 -c48" \
		    "$E1,$E2,$E3" "http://127.0.0.1:$E1" etcd-cas
		if [ -z "$CURL" ]; then
			absent curl curl "no etcd range rows (their keys are written with curl)"
		elif etcd_prefill "$E1"; then
			wrk_load etcd_lget "wrk etcd 3 members range, linearizable" \
			    3 51 "$E1,$E2,$E3" "http://127.0.0.1:$E1" etcd-range
			wrk_load etcd_sget "wrk etcd 3 members range, serializable" \
			    3 51 "$E1,$E2,$E3" "http://127.0.0.1:$E1" \
			    etcd-range-serializable
		else
			note "etcd prefill did not write the $KEYS keys: no range rows"
		fi
	else
		note "etcd did not start: $(tail -2 "$T/etcd-e1.log" | tr '\n' ' ')"
	fi
	for p in $EPIDS; do
		stop "$p"
	done
elif [ -z "$ETCD" ]; then
	absent etcd etcd-server "no etcd rows"
fi

# ---- nginx ----

if [ -n "$NGINX" ] && [ -n "$WRK" ]; then
	NP=$(freeport)
	ND=$T/nginx
	mkdir -p "$ND/www"
	printf '0123456789abcdef' >"$ND/www/f16"
	printf 'ok\n' >"$ND/www/health"
	# As root nginx's workers run as nobody: let them read the files.
	chmod a+rx "$T" "$ND" "$ND/www"
	chmod a+r "$ND/www/f16" "$ND/www/health"
	sed -e "s#@DIR@#$ND#g" -e "s#@PORT@#$NP#g" contrib/bench/nginx.conf.in \
	    >"$ND/nginx.conf"
	t0=$(now_ms)
	if "$NGINX" -h 2>&1 | grep -q -- ' -e '; then
		# -e: no attempt to open the default error log before the conf's
		"$NGINX" -p "$ND" -c "$ND/nginx.conf" -e "$ND/error.log" \
		    >"$ND/out.log" 2>&1 &
	else
		"$NGINX" -p "$ND" -c "$ND/nginx.conf" >"$ND/out.log" 2>&1 &
	fi
	NPID=$!
	if "$TOOL" wait http "$NP" "$t0" 20 "$NPID" >/dev/null; then
		wrk_load nginx "wrk nginx 16-byte file" 2 $CONNS "" \
		    "http://127.0.0.1:$NP/f16"
	else
		note "nginx did not start: $(tail -2 "$ND/out.log" "$ND/error.log" 2>/dev/null | tr '\n' ' ')"
	fi
	kill -s TERM "$NPID" 2>/dev/null
	wait "$NPID" 2>/dev/null
	NPID=""
elif [ -z "$NGINX" ]; then
	absent nginx nginx-light "no nginx row"
fi

# ---- raw fsync ----

: >"$T/runs"
for i in $(seq 1 "$RUNS"); do
	"$TOOL" fsync "$T/fsync.dat" 3 100 >>"$T/runs"
done
fsync_rps=$(median <"$T/runs")
say "raw fdatasync after each 100-byte append: $fsync_rps/s"

# ---- restart and memory, from data loaded through each API ----

# first_get MS_DEADLINE WANT CMD...: runs CMD until it prints WANT; prints
# the milliseconds since T0 when it does.  1 at the deadline.
first_get() {
	dl=$1 want=$2
	shift 2
	while :; do
		got=$("$@" 2>/dev/null)
		t=$(now_ms)
		if [ "$got" = "$want" ]; then
			echo $((t - T0))
			return 0
		fi
		[ $((t - T0)) -lt "$dl" ] || return 1
	done
}

# rkey I: the name of restart key I.
rkey() {
	printf 'key:%012d' "$1"
}

R_WAL="" R_SNAP="" R_AOF="" R_AOFLOG=""
R_WALMB="" R_SNAPMB="" R_AOFMB=""
K_RSS0="" K_RSSL="" K_RSSR="" R_RSS0="" R_RSSL="" R_RSSR=""
K_LOAD="" R_LOAD=""
if [ "${BENCH_SKIP_RESTART:-0}" != 1 ]; then
	RD=$T/restart
	RP=$(freeport)
	RU=http://127.0.0.1:$RP
	LASTK=$(rkey $((RKEYS - 1)))
	MIDK=$(rkey $((RKEYS / 2)))
	start_kvd r1 "$RP" "$RD" --snapshot-interval 0 || die "kvd failed to start"
	RPID=$LAST_PID
	K_RSS0=$(rss_kb "$RPID")
	say "restart: loading $RKEYS keys into kvd with kvctl bench --prefill"
	t0=$(now_ms)
	out=$("$KVCTL" bench --json --server "$RU" -c $CONNS --keys "$RKEYS" \
	    --size $RVSIZE --prefill -n 1 -t get 2>>"$T/kvctl.err")
	K_LOAD=$(($(now_ms) - t0))
	e=$(printf '%s\n' "$out" | jfield prefill_errors)
	[ "${e:-x}" = 0 ] || note "restart: kvctl bench --prefill failed for ${e:-all} keys"
	K_RSSL=$(rss_kb "$RPID")
	KWANT=$("$KVCTL" --server "$RU" get "$LASTK" 2>/dev/null)
	[ ${#KWANT} = $RVSIZE ] || note "restart: kvd's last key reads back ${#KWANT} bytes, not $RVSIZE"
	stop "$RPID"
	ND=$RD/r1
	R_WALMB=$(mb "$ND/wal")
	[ -e "$ND/snapshot.json" ] && note "restart: kvd wrote a snapshot although --snapshot-interval was 0; the WAL-alone figure is not one"

	: >"$T/runs"
	for i in $(seq 1 "$RRUNS"); do
		start_kvd r1 "$RP" "$RD" --snapshot-interval 0 || die "kvd failed to start from its WAL"
		if ms=$(first_get 300000 "$KWANT" "$KVCTL" --server "$RU" get "$LASTK"); then
			# Resident size once /ready: the key index is built and
			# the keys it was built from are freed.
			rdy=$("$TOOL" wait ready "$RP" "$T0" 60 "$LAST_PID")
			echo "$ms $(rss_kb "$LAST_PID")" >>"$T/runs"
			say "restart from the WAL run $i/$RRUNS: $ms ms (/health after $READY_MS ms, /ready after ${rdy:-?} ms)"
		else
			note "restart from the WAL: the last key never read back"
		fi
		stop "$LAST_PID"
	done
	R_WAL=$(runs_median 1)
	K_RSSR=$(runs_median 2)
	[ -e "$ND/snapshot.json" ] && note "restart: a snapshot appeared during the WAL-alone restarts"

	say "restart: SIGTERM, so that kvd writes a snapshot"
	start_kvd r1 "$RP" "$RD" --snapshot-interval 0 || die "kvd failed to start from its WAL"
	stop "$LAST_PID" TERM
	R_SNAPMB=$(mb "$ND/snapshot.json")
	[ -e "$ND/snapshot.json" ] || note "restart: no snapshot after SIGTERM"
	: >"$T/runs"
	for i in $(seq 1 "$RRUNS"); do
		start_kvd r1 "$RP" "$RD" --snapshot-interval 0 || die "kvd failed to start from its snapshot"
		if ms=$(first_get 300000 "$KWANT" "$KVCTL" --server "$RU" get "$LASTK"); then
			echo "$ms" >>"$T/runs"
			say "restart from the snapshot run $i/$RRUNS: $ms ms (/health after $READY_MS ms)"
		else
			note "restart from the snapshot: the last key never read back"
		fi
		got=$("$KVCTL" --server "$RU" get "$MIDK" 2>/dev/null)
		[ ${#got} = $RVSIZE ] || note "restart from the snapshot: $MIDK reads back ${#got} bytes"
		stop "$LAST_PID"
	done
	R_SNAP=$(median <"$T/runs")
	rm -rf "$RD"

	if [ -n "$REDIS" ] && [ -n "$RCLI" ]; then
		RDIR=$T/redis-restart
		RPORT=$(freeport)
		# The same keys and value bytes as kvctl bench's, as SET commands.
		awk -v n="$RKEYS" -v s=$RVSIZE 'BEGIN {
		    for (i = 0; i < s; i++) v = v sprintf("%c", 97 + i % 26)
		    for (i = 0; i < n; i++)
			printf "*3\r\n$3\r\nSET\r\n$16\r\nkey:%012d\r\n$%d\r\n%s\r\n", i, s, v
		}' >"$T/data.resp"
		if start_redis "$RDIR" "$RPORT"; then
			RPID=$LAST_PID
			R_RSS0=$(redis_rss "$RPORT")
			say "restart: loading $RKEYS keys into redis with redis-cli --pipe"
			t0=$(now_ms)
			"$RCLI" -p "$RPORT" --pipe <"$T/data.resp" >"$T/pipe.out" 2>&1
			R_LOAD=$(($(now_ms) - t0))
			n=$("$RCLI" -p "$RPORT" dbsize | tr -d '\r')
			[ "$n" = "$RKEYS" ] || note "redis holds $n keys, not $RKEYS ($(tail -1 "$T/pipe.out"))"
			R_RSSL=$(redis_rss "$RPORT")
			RWANT=$("$RCLI" -p "$RPORT" get "$LASTK" | tr -d '\r')
			stop "$RPID"
			rm -f "$T/data.resp"
			R_AOFMB=$(mb "$RDIR"/appendonlydir "$RDIR"/*.aof)
			: >"$T/runs"
			for i in $(seq 1 "$RRUNS"); do
				if start_redis "$RDIR" "$RPORT" &&
				    ms=$(first_get 300000 "$RWANT" "$RCLI" -p "$RPORT" get "$LASTK"); then
					echo "$ms $(redis_rss "$RPORT")" >>"$T/runs"
					say "redis restart from the AOF run $i/$RRUNS: $ms ms"
				else
					note "redis did not restart from its AOF"
				fi
				stop "$LAST_PID"
			done
			R_AOF=$(runs_median 1)
			R_RSSR=$(runs_median 2)
			R_AOFLOG=$(grep -o 'DB loaded from append only file: [0-9.]* seconds' \
			    "$RDIR/redis.log" | tail -1 | sed -e 's/.*: //' -e 's/ seconds//')
		else
			note "redis-server did not start for the restart test"
		fi
	fi
else
	note "BENCH_SKIP_RESTART=1: restart and memory skipped"
fi

# ---- listing, dump and load (issue 13) ----

# start_cluster3 DIR: a 3-node cluster (N=3 W=2 R=2) in DIR; sets L1 L2 L3
# (ports), LPIDS and LU (the three URLs).
start_cluster3() {
	# shellcheck disable=SC2046 # the ports, one word each
	set -- "$1" $(freeports 3)
	L1=$2 L2=$3 L3=$4 LPIDS=""
	for n in 1 2 3; do
		p=$(eval echo "\$L$n")
		peers=""
		for m in 1 2 3; do
			[ "$m" = "$n" ] && continue
			peers="$peers${peers:+,}l$m=127.0.0.1:$(eval echo "\$L$m")"
		done
		start_kvd "l$n" "$p" "$1" --peers "$peers" --n 3 --w 2 --r 2 \
		    --snapshot-interval 0 || return 1
		LPIDS="$LPIDS $LAST_PID"
	done
	LU="http://127.0.0.1:$L1,http://127.0.0.1:$L2,http://127.0.0.1:$L3"
}

stop_cluster3() {
	for p in $LPIDS; do
		stop "$p" TERM
	done
}

# ls_put: one kvctl bench -t put run over the listing cluster: "RPS P99".
ls_put() {
	out=$("$KVCTL" bench --json --server "$LU" -c $CONNS --keys $KEYS \
	    --size $VSIZE -d "$SECS" -t put 2>>"$T/kvctl.err")
	echo "$(printf '%s\n' "$out" | jfield rps) $(printf '%s\n' "$out" | jfield p99)"
}

# first_page URL: curl's time_total of GET URL, in milliseconds.
first_page() {
	"$CURL" -s -o /dev/null -w '%{time_total}\n' --max-time 60 "$1" |
	    awk '{ printf "%.1f\n", $1 * 1000 }'
}

# timed OUT CMD...: runs CMD with stdout to OUT; prints its milliseconds.
timed() {
	o=$1
	shift
	t0=$(now_ms)
	"$@" >"$o" 2>>"$T/list.err"
	echo $(($(now_ms) - t0))
}

LS_FIRST="" LS_MID="" LS_FULL="" LS_N="" LS_DUMP="" LS_DUMPN="" LS_DUMPMB=""
LS_LOAD="" LS_LOADOUT="" LS_RELOAD="" LS_RELOADOUT="" LS_PUT0="" LS_PUT1=""
LS_PUT0_P99="" LS_PUT1_P99="" LS_LISTS=""
if [ "${BENCH_SKIP_LIST:-0}" != 1 ] && [ -n "$CURL" ]; then
	if start_cluster3 "$T/list"; then
		LK1=http://127.0.0.1:$L1
		say "listing: loading $LKEYS keys into 3 nodes with kvctl bench --prefill"
		out=$("$KVCTL" bench --json --server "$LU" -c $CONNS --keys "$LKEYS" \
		    --size $RVSIZE --prefill -n 1 -t get 2>>"$T/kvctl.err")
		e=$(printf '%s\n' "$out" | jfield prefill_errors)
		[ "${e:-x}" = 0 ] || note "listing: kvctl bench --prefill failed for ${e:-all} keys"
		: >"$T/runs"
		for i in $(seq 1 "$RUNS"); do
			a=$(first_page "$LK1/kv?limit=1000")
			b=$(first_page "$LK1/kv?limit=1000&after=$(rkey $((LKEYS / 2)))")
			c=$(timed "$T/ls.out" "$KVCTL" --server "$LK1" ls)
			n=$(wc -l <"$T/ls.out" | tr -d ' ')
			echo "$a $b $c $n" >>"$T/runs"
			say "listing run $i/$RUNS: first page $a ms, from the middle $b ms, kvctl ls $c ms ($n keys)"
		done
		LS_FIRST=$(runs_median 1)
		LS_MID=$(runs_median 2)
		LS_FULL=$(runs_median 3)
		LS_N=$(runs_median 4)
		[ "$LS_N" = "$LKEYS" ] || note "listing: kvctl ls printed $LS_N keys, not $LKEYS"
		: >"$T/runs"
		for i in $(seq 1 "$RUNS"); do
			d=$(timed "$T/dump.jsonl" "$KVCTL" --server "$LK1" dump)
			echo "$d" >>"$T/runs"
			say "listing: kvctl dump run $i/$RUNS: $d ms"
		done
		LS_DUMP=$(median <"$T/runs")
		LS_DUMPN=$(wc -l <"$T/dump.jsonl" | tr -d ' ')
		LS_DUMPMB=$(mb "$T/dump.jsonl")
		# PUTs alone and with full listings running through node 1, in
		# turns (alone, during, alone, ...), so that a machine whose load
		# drifts weighs on both alike.
		: >"$T/lsput"
		LS_LISTS=0
		for i in $(seq 1 "$RUNS"); do
			a=$(ls_put)
			rm -f "$T/ls.stop"
			(
				k=0
				while [ ! -e "$T/ls.stop" ]; do
					"$KVCTL" --server "$LK1" ls >/dev/null 2>&1
					k=$((k + 1))
					echo "$k" >"$T/ls.count"
				done
			) &
			LSPID=$!
			track "$LSPID"
			sleep 1
			b=$(ls_put)
			: >"$T/ls.stop"
			wait "$LSPID" 2>/dev/null
			untrack "$LSPID"
			LS_LISTS=$((LS_LISTS + $(cat "$T/ls.count" 2>/dev/null || echo 0)))
			echo "$a $b" >>"$T/lsput"
			say "listing: PUT run $i/$RUNS: alone $a, during kvctl ls $b (req/s, p99 ms)"
		done
		LS_PUT0=$(runs_median 1 "$T/lsput")
		LS_PUT0_P99=$(runs_median 2 "$T/lsput")
		LS_PUT1=$(runs_median 3 "$T/lsput")
		LS_PUT1_P99=$(runs_median 4 "$T/lsput")
		stop_cluster3
		if start_cluster3 "$T/list2"; then
			say "listing: kvctl load of $LS_DUMPN lines into a fresh 3-node cluster"
			LS_LOAD=$(timed "$T/load.out" "$KVCTL" --server "$LU" load <"$T/dump.jsonl")
			LS_LOADOUT=$(cat "$T/load.out")
			say "listing: load: $LS_LOAD ms: $LS_LOADOUT"
			LS_RELOAD=$(timed "$T/load.out" "$KVCTL" --server "$LU" load <"$T/dump.jsonl")
			LS_RELOADOUT=$(cat "$T/load.out")
			say "listing: load again: $LS_RELOAD ms: $LS_RELOADOUT"
			stop_cluster3
		else
			note "listing: the second cluster did not start; no load figure"
		fi
	else
		note "listing: the 3-node cluster did not start"
	fi
elif [ "${BENCH_SKIP_LIST:-0}" = 1 ]; then
	note "BENCH_SKIP_LIST=1: listing skipped"
else
	note "listing skipped: it needs curl"
fi

# ---- the report ----

dash() {
	[ -n "${1:-}" ] && printf '%s' "$1" || printf '–'
}

# unit U V: "V U", or a dash without V.
unit() {
	[ -n "${2:-}" ] && printf '%s %s' "$2" "$1" || printf '–'
}

thead() {
	echo "| load | client | req/s | p50 ms | p99 ms | errors | generator CPU |"
	echo "|---|---|---:|---:|---:|---:|---:|"
}

# num D V: V with D decimals, or a dash.
num() {
	case ${2:-} in
	'' | -) printf '–' ;;
	*) awk -v v="$2" -v d="$1" 'BEGIN { printf "%.*f", d, v }' ;;
	esac
}

# row LOAD CLIENT KEY: one throughput row, nothing when KEY was not measured.
row() {
	rps=$(getv "$3_rps")
	[ -n "$rps" ] || return 0
	cpu=$(getv "$3_cpu")
	case $cpu in
	'' | -) cpu="–" ;;
	*) cpu="$cpu%" ;;
	esac
	printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$1" "$2" "$(num 0 "$rps")" \
	    "$(num 2 "$(getv "$3_p50")")" "$(num 2 "$(getv "$3_p99")")" \
	    "$(dash "$(getv "$3_err")")" "$cpu"
}

# goal WHAT CLIENT A B OP TARGET [ROUNDS]: one ratio row, A/B against
# "OP TARGET"; with ROUNDS (ratios, one a line) it is their median instead,
# and the row lists them.
goal() {
	if [ -n "${7:-}" ]; then
		r=$(printf '%s\n' "$7" | median)
		rs=$(printf '%s\n' "$7" | paste -s -d ' ' -)
	else
		r=$(ratio "$3" "$4") rs="–"
	fi
	[ -n "$r" ] || return 0
	met=$(awk -v r="$r" -v o="$5" -v t="$6" 'BEGIN {
	    m = (o == ">=" && r + 0 >= t + 0) || (o == "<=" && r + 0 <= t + 0)
	    print (m ? "yes" : "no") }')
	printf '| %s | %s | %s× | %s | %s %s× | %s |\n' "$1" "$2" "$r" "$rs" \
	    "$(echo "$5" | sed -e 's/>=/≥/' -e 's/<=/≤/')" "$6" "$met"
}

# rgoal WHAT CLIENT KEYA KEYB OP TARGET: goal for two loads of the rounds:
# round i's KEYA/KEYB for each round ("-" where a run gave no figure).
rgoal() {
	[ -s "$T/$3.runs" ] && [ -s "$T/$4.runs" ] || return 0
	goal "$1" "$2" "" "" "$5" "$6" "$(paste -d ' ' "$T/$3.runs" "$T/$4.runs" |
	    while read -r a _ _ _ _ b _; do
		r=$(ratio "$a" "$b")
		echo "${r:--}"
	    done)"
}

secs() {
	[ -n "${1:-}" ] && awk -v v="$1" 'BEGIN { printf "%.2f s", v / 1000 }' || printf '–'
}

# perkey RSS BASE UNIT: (RSS - BASE) * UNIT / RKEYS bytes.
perkey() {
	[ -n "${1:-}" ] && [ -n "${2:-}" ] &&
	    awk -v v="$1" -v b="$2" -v m="$3" -v k="$RKEYS" 'BEGIN { printf "%.0f", (v - b) * m / k }'
}

# persec MS: RKEYS keys in MS milliseconds, as keys/s.
persec() {
	[ -n "${1:-}" ] && awk -v v="$1" -v k="$RKEYS" 'BEGIN {
	    printf "%.2f s (%.0f keys/s)", v / 1000, (v > 0 ? k * 1000 / v : 0) }' || printf '–'
}

ELAPSED=$(( ($(now_ms) - START_MS) / 1000 ))
LOAD1=$(uptime 2>/dev/null | sed 's/.*load average[s]*: *//')
busy=$(printf '%s\n%s\n' "$LOAD0" "$LOAD1" | awk -v c="$NCPU" -F'[, ]+' '
    c ~ /^[0-9]+$/ && $1 + 0 > c + 0 { b = 1 } END { print b + 0 }')
[ "$busy" = 1 ] && note "the machine was busy (load average above $NCPU cores at start or end): other processes competed for the CPU, so absolute figures and ratios are noisy"
[ "${BENCH_QUICK:-0}" = 1 ] && note "BENCH_QUICK=1: one short run per row and $RKEYS restart keys; a check that the script works, not a measurement"
W3="wrk -t3 -c51, a thread per node"
KB3="kvctl bench -c 50, 3 servers"
RBC="redis-benchmark -c 50 -r $KEYS -d $VSIZE"
WROWS=$(row "kvd 1 node, GET" "wrk -t2 -c50" wrk1_get
	row "kvd 1 node, durable PUT" "wrk -t2 -c50" wrk1_put
	row "kvd 3 nodes, GET" "$W3" wrk3_get
	row "kvd 3 nodes, PUT" "$W3" wrk3_put
	row "etcd 3 members, put" "$W3" etcd_put
	row "etcd 3 members, range, linearizable" "$W3" etcd_lget
	row "etcd 3 members, range, serializable" "$W3" etcd_sget
	row "nginx 16-byte static file, 2 workers" "wrk -t2 -c50" nginx)
GROWS=$(goal "kvd 3-node PUT / etcd 3-member put" "wrk, both" \
	    "$(getv wrk3_put_rps)" "$(getv etcd_put_rps)" ">=" 2
	rgoal "kvd 3-node PUT / kvd 1-node PUT" "wrk" wrk3_put wrk1_put ">=" 0.5
	rgoal "kvd 3-node PUT / kvd 1-node PUT" "kvctl bench" kb3_put kb1_put ">=" 0.5
	rgoal "kvd 3-node GET / kvd 1-node GET" "wrk" wrk3_get wrk1_get ">=" 0.6
	rgoal "kvd 3-node GET / kvd 1-node GET" "kvctl bench" kb3_get kb1_get ">=" 0.6
	rgoal "kvd 1-node PUT / Redis SET" "wrk / redis-benchmark" \
	    wrk1_put redis_set ">=" 1.0
	rgoal "kvd 1-node PUT / Redis SET" "kvctl bench / redis-benchmark" \
	    kb1_put redis_set ">=" 1.0
	goal "p99: kvd 3-node PUT / etcd put" "wrk, both" \
	    "$(getv wrk3_put_p99)" "$(getv etcd_put_p99)" "<=" 1.0
	goal "restart: kvd WAL alone / Redis AOF" "kvctl bench / redis-cli --pipe" \
	    "$R_WAL" "$R_AOF" "<=" 0.7)
{
	echo "# kvd benchmark"
	echo
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -sm), $NCPU cores, load average at start $LOAD0;"
	echo "$("$KVD" --version 2>/dev/null | head -1)${ETCD_VER:+, etcd $ETCD_VER}${REDIS_VER:+, Redis $REDIS_VER}."
	if [ "$RUNS" = 1 ]; then
		echo "Each figure is from one run of ${SECS} s; 50 connections,"
	else
		echo "Each figure is the median of $RUNS runs of ${SECS} s; 50 connections,"
	fi
	echo "$VSIZE-byte values, $KEYS keys (key:000000000000 ..), loopback; the"
	echo "generators and every server share the machine. Every write is durable"
	echo "before it is answered (kvd, etcd, Redis with appendfsync always)."
	echo "kvd on 1 node, kvd on 3 nodes and Redis stay up together and are measured"
	echo "in interleaved rounds, one run of each of their loads a round, in turn, so"
	echo "that their ratios compare runs taken close together; the other rows are"
	echo "measured one after another."
	echo "Whole run: ${ELAPSED} s; load average at end $LOAD1."
	echo
	echo "## Throughput and latency"
	echo
	echo "### kvctl bench"
	echo
	echo "HTTP/1.1 keep-alive, 2 event-loop threads (poll), random keys"
	echo "(prefilled, so GETs hit), JSON bodies. 3 nodes: N=3 W=2 R=2 on this"
	echo "machine, the 50 connections round-robin over the 3 nodes (17/17/16)."
	echo
	thead
	row "kvd 1 node, GET" "kvctl bench -c 50" kb1_get
	row "kvd 1 node, durable PUT" "kvctl bench -c 50" kb1_put
	row "kvd 3 nodes, GET" "$KB3" kb3_get
	row "kvd 3 nodes, PUT" "$KB3" kb3_put
	echo
	if [ -n "$WROWS" ]; then
		echo "### wrk"
		echo
		echo "wrk with contrib/bench/keys.lua: an event loop, keys in rotation"
		echo "(each thread from its own starting point). wrk takes one host per"
		echo "process, so for 3 nodes keys.lua pins each of 3 threads to one node"
		echo "or member (-t3 -c51: 17 connections each), and wrk merges their"
		echo "latencies. etcd: its JSON gateway (POST /v3/kv/put, /v3/kv/range,"
		echo "base64 keys and values); a linearizable range goes through the"
		echo "leader, a serializable one is answered by the member alone."
		echo
		thead
		printf '%s\n' "$WROWS"
		echo
	fi
	CROWS=$(row "kvd 3 nodes, plain PUT" "wrk -t48 -c48, a node per thread" wrk3_put48
		row "kvd 3 nodes, CAS: PUT If-Match (Paxos among the owners)" "wrk -t48 -c48, a node per thread" wrk3_cas
		row "etcd 3 members, txn CAS (compare mod_revision, put)" "wrk -t48 -c48, a member per thread" etcd_cas)
	if [ -n "$CROWS" ]; then
		echo "### Compare-and-swap"
		echo
		echo "wrk with contrib/bench/cas.lua: 48 threads of one"
		echo "connection each, pinned to the nodes (members) in turn, each looping"
		echo "on its own key with the version its last answer gave (kvd's ETag,"
		echo "etcd's mod_revision), so nothing contends: the figures are the"
		echo "protocols' cost. A kvd CAS is a prepare, an accept and a commit"
		echo "round among the 3 owners (two fsyncs of the acceptors' log and one"
		echo "of the store's on each); a plain PUT is one write round."
		echo
		thead
		printf '%s\n' "$CROWS"
		echo
		r=$(ratio "$(getv wrk3_cas_rps)" "$(getv wrk3_put48_rps)")
		[ -n "$r" ] && echo "CAS / plain PUT throughput: ${r}×; p99 $(num 2 "$(getv wrk3_cas_p99)") ms against $(num 2 "$(getv wrk3_put48_p99)") ms."
		r=$(ratio "$(getv wrk3_cas_rps)" "$(getv etcd_cas_rps)")
		[ -n "$r" ] && echo "kvd CAS / etcd txn CAS throughput: ${r}×; p99 $(num 2 "$(getv wrk3_cas_p99)") ms against $(num 2 "$(getv etcd_cas_p99)") ms."
		echo
	fi
	echo "### Others"
	echo
	thead
	row "Redis SET, appendfsync always" "$RBC" redis_set
	row "Redis GET" "$RBC" redis_get
	printf '| raw fdatasync after each 100-byte append | benchtool | %s | – | – | – | – |\n' \
	    "$(num 0 "$fsync_rps")"
	echo
	if [ -n "$GROWS" ]; then
		echo "## Issue 12's goals, from this run"
		echo
		echo "A ratio of two loads measured in the rounds (kvd 3 nodes / 1 node,"
		echo "kvd 1 node / Redis) is the median of its per-round ratios (round i's"
		echo "A / round i's B), listed under rounds in round order; the others"
		echo "(etcd, p99, restart) are the ratio of the two rows' medians."
		echo
		echo "| ratio | client | value | rounds | goal | met |"
		echo "|---|---|---:|---|---:|---|"
		printf '%s\n' "$GROWS"
		echo
	fi
	if [ "${BENCH_SKIP_RESTART:-0}" != 1 ]; then
		echo "## Restart and memory"
		echo
		echo "$RKEYS keys (16-byte keys, $RVSIZE-byte values) written once each through"
		echo "the server's own API: kvd by \`kvctl bench -c 50 --prefill\` (durable"
		echo "PUTs), Redis (appendonly yes, appendfsync always, no automatic AOF"
		echo "rewrite) by \`redis-cli --pipe\` of SET commands. Then kill -9, and the"
		echo "time from starting the server to the first correct GET of the last"
		echo "key, median of $RRUNS. kvd runs with --snapshot-interval 0, so its first"
		echo "restarts read the WAL alone; a SIGTERM then writes a snapshot, and the"
		echo "next restarts read that. Bytes per key: resident size minus an empty"
		echo "server's (kvd: RSS once /ready answers 200; Redis: used_memory_rss),"
		echo "over the keys."
		echo
		echo "| measure | kvd | Redis | kvd/Redis |"
		echo "|---|---:|---:|---:|"
		echo "| load through the API | $(persec "$K_LOAD") | $(persec "$R_LOAD") | $(ratio "$K_LOAD" "$R_LOAD") |"
		echo "| restart to first correct GET, from the log alone (WAL / AOF) | $(secs "$R_WAL") | $(secs "$R_AOF") | $(ratio "$R_WAL" "$R_AOF") |"
		echo "| restart to first correct GET, from a snapshot | $(secs "$R_SNAP") | – | |"
		echo "| log on disk (WAL / AOF) | $(unit MB "$R_WALMB") | $(unit MB "$R_AOFMB") | $(ratio "$R_WALMB" "$R_AOFMB") |"
		echo "| snapshot on disk | $(unit MB "$R_SNAPMB") | – | |"
		kl=$(perkey "$K_RSSL" "$K_RSS0" 1024) rl=$(perkey "$R_RSSL" "$R_RSS0" 1)
		echo "| resident bytes per key, after the load | $(unit B "$kl") | $(unit B "$rl") | $(ratio "$kl" "$rl") |"
		kr=$(perkey "$K_RSSR" "$K_RSS0" 1024) rr=$(perkey "$R_RSSR" "$R_RSS0" 1)
		echo "| resident bytes per key, after a restart from the log | $(unit B "$kr") | $(unit B "$rr") | $(ratio "$kr" "$rr") |"
		if [ -n "$R_AOFLOG" ]; then
			echo "| Redis's log: DB loaded from append only file | | ${R_AOFLOG} s | |"
		fi
		echo
	fi
	if [ -n "$LS_FULL" ]; then
		echo "## Listing, dump and load (issue 13)"
		echo
		echo "$LKEYS keys (key:000000000000 .., $RVSIZE-byte values) in 3 nodes (N=3"
		echo "W=2 R=2) on this machine, PUT once each by \`kvctl bench --prefill\`."
		echo "Each figure the median of $RUNS; a listing is coordinated by node 1,"
		echo "which merges its own part with one other member's (listing.c)."
		echo
		echo "| measure | value | goal |"
		echo "|---|---:|---:|"
		echo "| first page of 1,000 keys (\`GET /kv?limit=1000\`, curl) | $(unit ms "$LS_FIRST") | ≤ 20 ms |"
		echo "| a page of 1,000 keys from the middle (\`&after=\`) | $(unit ms "$LS_MID") | |"
		echo "| \`kvctl ls\` of every key ($LS_N lines) | $(secs "$LS_FULL") | ≤ 10 s |"
		echo "| \`kvctl dump\` of every key ($LS_DUMPN lines, $LS_DUMPMB MB) | $(secs "$LS_DUMP") | |"
		echo "| \`kvctl load\` of that dump into a fresh 3-node cluster (one run) | $(secs "$LS_LOAD") | |"
		echo "| \`kvctl load\` of it again: nothing to write (one run) | $(secs "$LS_RELOAD") | |"
		echo "| PUT, kvctl bench -c 50 -t put over 3 nodes, alone | $(num 0 "$LS_PUT0") req/s, p99 $(num 2 "$LS_PUT0_P99") ms | |"
		echo "| the same while \`kvctl ls\` lists every key again and again | $(num 0 "$LS_PUT1") req/s, p99 $(num 2 "$LS_PUT1_P99") ms | |"
		echo "| PUT throughput during listings / alone | $(ratio "$LS_PUT1" "$LS_PUT0")× | ≥ 0.80× |"
		echo
		echo "load: $LS_LOADOUT; again: $LS_RELOADOUT. ${LS_LISTS:-0} full listings"
		echo "ran during the PUT runs (alone and during in turns, medians). The"
		echo "generators, the listing client and the"
		echo "nodes share the machine's $NCPU cores, so a listing takes CPU from the"
		echo "PUTs as well as whatever it costs the nodes."
		echo
	fi
	echo "Generator CPU is kvctl bench's own user+sys time over wall time x cores."
	echo "Ratios compare figures from this run only. kvd/Redis compares kvctl bench"
	echo "or wrk (HTTP) with redis-benchmark (RESP, pipelining off); no single"
	echo "client speaks both."
	if [ -n "$NOTES" ]; then
		echo
		echo "Notes:"
		echo
		printf '%s' "$NOTES"
	fi
} >"$T/report.md"
cp "$T/report.md" "$OUT" 2>/dev/null || say "cannot write $OUT"
cat "$T/report.md"
exit 0
