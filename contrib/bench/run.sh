#!/bin/sh
# contrib/bench/run.sh -- `make bench`: kvd's throughput, latency, restart
# time and memory, next to nginx and Redis measured in the same run.
#
#   sh contrib/bench/run.sh            (or: make bench)
#
# POSIX sh.  Starts everything on loopback ports it picks itself, in a temporary
# directory under ${TMPDIR:-/tmp}, and kills everything it started on exit.
# Loads (each BENCH_RUNS times, median reported; -c 50, 100-byte values,
# 10000 keys):
#   kvd single node: GET (prefilled), durable PUT, 90/10 GET/PUT mix
#   kvd 3-node cluster (N=3 W=2 R=2, load spread over the 3 nodes): GET, PUT
#   when wrk is installed: wrk -t2 -c50 GET and PUT against kvd, and GET of
#     a 16-byte static file from nginx (2 workers) when nginx is installed
#   when redis-server is installed: redis-benchmark -c 50 GET and SET
#     against Redis with appendonly yes, appendfsync always
#   the raw rate of fdatasync after each 100-byte append
# Restart and memory (BENCH_SKIP_RESTART=1 skips): 1M keys (16-byte keys,
# 100-byte values) written straight in kvd's snapshot and WAL formats;
# time from start to serving from the snapshot and from the WAL alone, and
# resident memory per key; with redis-server, the same data's AOF load time
# and used_memory_rss per key.
#
# Prints one Markdown report to stdout and writes it to
# ${BENCH_OUT:-bench-results.md}.  Numbers never fail the run: the exit
# status is non-zero only when kvd (or the helper) cannot be started.
#
# Environment: BENCH_RUNS (3), BENCH_SECONDS per run (5), BENCH_OUT,
# BENCH_SKIP_RESTART, BENCH_RESTART_KEYS (1000000), BENCH_WITHOUT (e.g.
# "wrk nginx redis": skip those even when installed), KVD and KVCTL (the
# binaries, default ./kvd and ./kvctl), CC (for the helper, default cc).

set -u
cd "$(dirname "$0")/../.." || exit 2
ROOT=$(pwd)
KVD=${KVD:-$ROOT/kvd}
KVCTL=${KVCTL:-$ROOT/kvctl}
RUNS=${BENCH_RUNS:-3}
SECS=${BENCH_SECONDS:-5}
OUT=${BENCH_OUT:-bench-results.md}
RKEYS=${BENCH_RESTART_KEYS:-1000000}
CC=${CC:-cc}
CONNS=50
KEYS=10000
VSIZE=100

T=$(mktemp -d "${TMPDIR:-/tmp}/kvd-bench.XXXXXX") || exit 2
PIDS=""
NOTES=""

cleanup() {
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

freeport() {
	"$TOOL" free-port
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

# ---- set-up ----

[ -x "$KVD" ] || die "$KVD not found: run make first"
[ -x "$KVCTL" ] || die "$KVCTL not found: run make first"
"$KVCTL" bench --help >/dev/null 2>&1 || die "$KVCTL has no bench command"
TOOL=$T/benchtool
$CC -std=c11 -O2 -D_POSIX_C_SOURCE=200809L -Ilib -o "$TOOL" \
    contrib/bench/benchtool.c lib/crc32c.c || die "cannot build contrib/bench/benchtool.c"

NCPU=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo "?")
LOAD0=$(uptime 2>/dev/null | sed 's/.*load average[s]*: *//')
START_MS=$("$TOOL" now-ms)
say "results go to $OUT; $RUNS runs of ${SECS}s per load; temp dir $T"

# start_kvd ID PORT DATADIR [flags...]: starts kvd and waits until /health
# answers.  Sets LAST_PID and READY_MS (start to serving).  1 on failure.
start_kvd() {
	id=$1 port=$2 dir=$3
	shift 3
	t0=$("$TOOL" now-ms)
	"$KVD" --id "$id" --addr "127.0.0.1:$port" --data-dir "$dir" \
	    --log-level warn "$@" >>"$T/kvd-$id.log" 2>&1 &
	LAST_PID=$!
	track "$LAST_PID"
	if ! READY_MS=$("$TOOL" wait http "$port" "$t0" 300 "$LAST_PID"); then
		say "kvd $id did not start; its log:"
		tail -20 "$T/kvd-$id.log" >&2
		return 1
	fi
}

# jfield NAME: a number field of the kvctl bench JSON on stdin.
jfield() {
	sed -n "s/.*\"$1\":\([0-9.eE+-]*\).*/\1/p"
}

# kb_load KEY LABEL SERVERS ARGS...: RUNS runs of kvctl bench -d SECS;
# stores the medians in KEY_rps, KEY_p50, KEY_p99, KEY_cpu, KEY_err.
kb_load() {
	key=$1 label=$2 servers=$3
	shift 3
	: >"$T/runs"
	for i in $(seq 1 "$RUNS"); do
		out=$("$KVCTL" bench --json --server "$servers" -c $CONNS \
		    --keys $KEYS --size $VSIZE -d "$SECS" "$@" 2>>"$T/kvctl.err")
		printf '%s\n' "$out" >>"$T/$key.json"
		printf '%s %s %s %s %s\n' "$(printf '%s\n' "$out" | jfield rps)" \
		    "$(printf '%s\n' "$out" | jfield p50)" "$(printf '%s\n' "$out" | jfield p99)" \
		    "$(printf '%s\n' "$out" | jfield client_cpu_pct)" \
		    "$(printf '%s\n' "$out" | jfield errors)" >>"$T/runs"
		say "$label run $i/$RUNS: $(awk 'END { printf "%s req/s, p50 %s ms, p99 %s ms, errors %s", $1, $2, $3, $5 }' "$T/runs")"
	done
	setv "${key}_rps" "$(awk '{ print $1 }' "$T/runs" | median)"
	setv "${key}_p50" "$(awk '{ print $2 }' "$T/runs" | median)"
	setv "${key}_p99" "$(awk '{ print $3 }' "$T/runs" | median)"
	setv "${key}_cpu" "$(awk '{ print $4 }' "$T/runs" | median)"
	setv "${key}_err" "$(awk '{ s += $5 } END { print s + 0 }' "$T/runs")"
	if [ "$(getv "${key}_err")" != 0 ]; then
		note "$label: $(getv "${key}_err") errors over $RUNS runs (see kvctl bench --json: $(tail -1 "$T/$key.json" | sed -n 's/.*\("transport":{[^}]*}\).*\("http_status":{[^}]*}\).*/\1 \2/p'))"
	fi
}

# to_ms: wrk's latency ("512.00us", "1.20ms", "1.01s") in milliseconds.
to_ms() {
	awk '{ v = $1
	    if (v ~ /us$/) { sub(/us$/, "", v); v = v / 1000 }
	    else if (v ~ /ms$/) { sub(/ms$/, "", v); v = v + 0 }
	    else if (v ~ /s$/) { sub(/s$/, "", v); v = v * 1000 }
	    printf "%.3f\n", v }'
}

# wrk_load KEY LABEL URL [wrk args]: RUNS runs of wrk -t2 -c50.
wrk_load() {
	key=$1 label=$2 url=$3
	shift 3
	: >"$T/runs"
	for i in $(seq 1 "$RUNS"); do
		out=$("$WRK" -t2 -c$CONNS -d"${SECS}s" --latency "$@" "$url" 2>&1)
		printf '%s\n' "$out" >>"$T/$key.wrk"
		printf '%s %s %s\n' \
		    "$(printf '%s\n' "$out" | awk '/^Requests\/sec:/ { print $2 }')" \
		    "$(printf '%s\n' "$out" | awk '$1 == "50%" { print $2 }' | to_ms)" \
		    "$(printf '%s\n' "$out" | awk '$1 == "99%" { print $2 }' | to_ms)" >>"$T/runs"
		bad=$(printf '%s\n' "$out" | grep -E 'Non-2xx|Socket errors' | tr '\n' ' ')
		[ -n "$bad" ] && note "$label run $i: wrk reported $bad"
		say "$label run $i/$RUNS: $(awk 'END { printf "%s req/s, p50 %s ms, p99 %s ms", $1, $2, $3 }' "$T/runs")"
	done
	setv "${key}_rps" "$(awk '{ print $1 }' "$T/runs" | median)"
	setv "${key}_p50" "$(awk '{ print $2 }' "$T/runs" | median)"
	setv "${key}_p99" "$(awk '{ print $3 }' "$T/runs" | median)"
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

# rb_load KEY LABEL TEST: RUNS runs of redis-benchmark -c 50 -t TEST.
rb_load() {
	key=$1 label=$2 test=$3
	n=$(rb_n "$test")
	: >"$T/runs"
	for i in $(seq 1 "$RUNS"); do
		out=$("$RB" -h 127.0.0.1 -p "$RPORT" -c $CONNS -n "$n" -r $KEYS \
		    -d $VSIZE -t "$test" --csv 2>&1 | tr -d '"')
		printf '%s\n' "$out" >>"$T/$key.csv"
		# redis 7: test,rps,avg,min,p50,p95,p99,max (older: test,rps)
		printf '%s\n' "$out" | awk -F, 'toupper($1) ~ /^(GET|SET)$/ {
		    print $2, ($5 == "" ? "" : $5), ($7 == "" ? "" : $7) }' >>"$T/runs"
		say "$label run $i/$RUNS: $(awk 'END { printf "%s req/s, p50 %s ms, p99 %s ms", $1, $2, $3 }' "$T/runs")"
	done
	setv "${key}_rps" "$(awk '{ print $1 }' "$T/runs" | median)"
	setv "${key}_p50" "$(awk '{ print $2 }' "$T/runs" | median)"
	setv "${key}_p99" "$(awk '{ print $3 }' "$T/runs" | median)"
}

# BENCH_WITHOUT="wrk nginx redis" runs as if those were not installed.
has() {
	case " ${BENCH_WITHOUT:-} " in
	*" $1 "*) return 1 ;;
	esac
	find_bin "$2"
}
WRK=$(has wrk wrk) || WRK=""
NGINX=$(has nginx nginx) || NGINX=""
REDIS=$(has redis redis-server) || REDIS=""
RB=$(has redis redis-benchmark) || RB=""
RCLI=$(has redis redis-cli) || RCLI=""

# ---- kvd, one node ----

P1=$(freeport)
start_kvd s1 "$P1" "$T/single" --snapshot-interval 0 || die "kvd failed to start"
S1PID=$LAST_PID
U1=http://127.0.0.1:$P1
say "kvd single node on $U1: prefilling $KEYS keys"
"$KVCTL" bench --server "$U1" -c $CONNS --keys $KEYS --size $VSIZE --prefill \
    -n 1 >/dev/null 2>>"$T/kvctl.err"
kb_load single_get "kvd GET" "$U1" -t get
kb_load single_put "kvd durable PUT" "$U1" -t put
kb_load single_mix "kvd 90/10 mix" "$U1" -t mix --ratio 90:10

if [ -n "$WRK" ]; then
	"$KVCTL" --server "$U1" put wrk16 0123456789abcdef 2>>"$T/kvctl.err"
	wrk_load wrk_kvd_get "wrk kvd GET" "$U1/kv/wrk16"
	wrk_load wrk_kvd_put "wrk kvd PUT" "$U1" -s contrib/bench/put.lua
else
	note "wrk not installed: no wrk rows (apt-get install wrk)"
fi
stop "$S1PID" TERM

# ---- kvd, three nodes ----

C1=$(freeport) C2=$(freeport) C3=$(freeport)
while [ "$C1" = "$C2" ] || [ "$C2" = "$C3" ] || [ "$C1" = "$C3" ]; do
	C2=$(freeport) C3=$(freeport)
done
CL="--n 3 --w 2 --r 2 --snapshot-interval 0"
start_kvd c1 "$C1" "$T/cluster" --peers "c2=127.0.0.1:$C2,c3=127.0.0.1:$C3" $CL || die "kvd cluster node c1 failed to start"
CP1=$LAST_PID
start_kvd c2 "$C2" "$T/cluster" --peers "c1=127.0.0.1:$C1,c3=127.0.0.1:$C3" $CL || die "kvd cluster node c2 failed to start"
CP2=$LAST_PID
start_kvd c3 "$C3" "$T/cluster" --peers "c1=127.0.0.1:$C1,c2=127.0.0.1:$C2" $CL || die "kvd cluster node c3 failed to start"
CP3=$LAST_PID
CU="http://127.0.0.1:$C1,http://127.0.0.1:$C2,http://127.0.0.1:$C3"
say "kvd cluster on $CU: prefilling $KEYS keys"
"$KVCTL" bench --server "$CU" -c $CONNS --keys $KEYS --size $VSIZE --prefill \
    -n 1 >/dev/null 2>>"$T/kvctl.err"
kb_load cluster_get "kvd cluster GET" "$CU" -t get
kb_load cluster_put "kvd cluster PUT" "$CU" -t put
stop "$CP1" TERM
stop "$CP2" TERM
stop "$CP3" TERM

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
	t0=$("$TOOL" now-ms)
	if "$NGINX" -h 2>&1 | grep -q -- ' -e '; then
		# -e: no attempt to open the default error log before the conf's
		"$NGINX" -p "$ND" -c "$ND/nginx.conf" -e "$ND/error.log" \
		    >"$ND/out.log" 2>&1 &
	else
		"$NGINX" -p "$ND" -c "$ND/nginx.conf" >"$ND/out.log" 2>&1 &
	fi
	NPID=$!
	track "$NPID"
	if "$TOOL" wait http "$NP" "$t0" 20 "$NPID" >/dev/null; then
		wrk_load nginx "nginx 16-byte file" "http://127.0.0.1:$NP/f16"
	else
		note "nginx did not start: $(tail -2 "$ND/out.log" "$ND/error.log" 2>/dev/null | tr '\n' ' ')"
	fi
	stop "$NPID" TERM
elif [ -z "$NGINX" ]; then
	note "nginx not installed: no nginx row (apt-get install nginx-light)"
fi

# ---- redis ----

# start_redis DIR PORT FSYNC: sets LAST_PID and READY_MS.
start_redis() {
	mkdir -p "$1"
	t0=$("$TOOL" now-ms)
	"$REDIS" --port "$2" --bind 127.0.0.1 --dir "$1" --appendonly yes \
	    --appendfsync "$3" --save "" --aof-use-rdb-preamble no \
	    --logfile "$1/redis.log" --daemonize no >/dev/null 2>&1 &
	LAST_PID=$!
	track "$LAST_PID"
	READY_MS=$("$TOOL" wait redis "$2" "$t0" 300 "$LAST_PID")
}

if [ -n "$REDIS" ] && [ -n "$RB" ]; then
	RPORT=$(freeport)
	if start_redis "$T/redis" "$RPORT" always; then
		RPID=$LAST_PID
		rb_load redis_set "redis SET (fsync always)" set
		rb_load redis_get "redis GET" get
		stop "$RPID"
	else
		note "redis-server did not start: $(tail -2 "$T/redis/redis.log" 2>/dev/null | tr '\n' ' ')"
	fi
else
	note "redis-server/redis-benchmark not installed: no Redis rows (apt-get install redis-server)"
fi

# ---- raw fsync ----

: >"$T/runs"
for i in $(seq 1 "$RUNS"); do
	"$TOOL" fsync "$T/fsync.dat" 3 $VSIZE >>"$T/runs"
done
fsync_rps=$(median <"$T/runs")
say "raw fdatasync after each 100-byte append: $fsync_rps/s"

# ---- restart and memory ----

R_SNAP="" R_WAL="" R_RSS="" R_RSS0="" R_AOF="" R_RRSS="" R_RRSS0=""
R_SNAPMB="" R_WALMB="" R_AOFMB="" R_AOFLOG=""
mb() {
	du -k "$@" 2>/dev/null | awk '{ s += $1 } END { printf "%.0f", s / 1024 }'
}
if [ "${BENCH_SKIP_RESTART:-0}" != 1 ]; then
	RD=$T/restart
	RP=$(freeport)
	start_kvd r1 "$RP" "$RD" --snapshot-interval 0 || die "kvd failed to start"
	R_RSS0=$(rss_kb "$LAST_PID")
	stop "$LAST_PID" TERM
	ND=$RD/r1
	ACTOR="r1.$(cat "$ND/incarnation")"
	say "restart: writing $RKEYS keys as a snapshot"
	rm -f "$ND"/wal/* "$ND/snapshot.json"
	"$TOOL" gen snapshot "$ND/snapshot.json" "$RKEYS" $VSIZE "$ACTOR" ||
	    die "cannot write the data set"
	R_SNAPMB=$(mb "$ND/snapshot.json")
	: >"$T/runs"
	for i in $(seq 1 "$RUNS"); do
		start_kvd r1 "$RP" "$RD" --snapshot-interval 0 || die "kvd failed to start from the snapshot"
		echo "$READY_MS $(rss_kb "$LAST_PID")" >>"$T/runs"
		got=$("$KVCTL" --server "http://127.0.0.1:$RP" get "key:$(printf '%012d' $((RKEYS - 1)))" 2>/dev/null | wc -c | tr -d ' ')
		[ "$got" = "$VSIZE" ] || note "restart from snapshot: the last key did not read back ($got bytes)"
		stop "$LAST_PID"
		say "restart from snapshot run $i/$RUNS: $READY_MS ms"
	done
	R_SNAP=$(awk '{ print $1 }' "$T/runs" | median)
	R_RSS=$(awk '{ print $2 }' "$T/runs" | median)
	say "restart: writing $RKEYS keys as a WAL"
	rm -f "$ND"/wal/* "$ND/snapshot.json"
	"$TOOL" gen wal "$ND/wal/wal-0000000000000001.log" "$RKEYS" $VSIZE \
	    "$ACTOR" || die "cannot write the data set"
	R_WALMB=$(mb "$ND/wal")
	: >"$T/runs"
	for i in $(seq 1 "$RUNS"); do
		start_kvd r1 "$RP" "$RD" --snapshot-interval 0 || die "kvd failed to start from the WAL"
		echo "$READY_MS" >>"$T/runs"
		stop "$LAST_PID"
		say "restart from WAL run $i/$RUNS: $READY_MS ms"
	done
	R_WAL=$(median <"$T/runs")
	rm -rf "$RD"

	if [ -n "$REDIS" ] && [ -n "$RCLI" ]; then
		RDIR=$T/redis-restart
		RPORT=$(freeport)
		"$TOOL" gen resp "$T/data.resp" "$RKEYS" $VSIZE
		if start_redis "$RDIR" "$RPORT" always; then
			RPID=$LAST_PID
			R_RRSS0=$("$RCLI" -p "$RPORT" info memory | tr -d '\r' |
			    sed -n 's/^used_memory_rss://p')
			say "restart: loading $RKEYS keys into redis"
			"$RCLI" -p "$RPORT" --pipe <"$T/data.resp" >/dev/null 2>&1
			n=$("$RCLI" -p "$RPORT" dbsize | tr -d '\r')
			[ "$n" = "$RKEYS" ] || note "redis holds $n keys, not $RKEYS"
			stop "$RPID"
			rm -f "$T/data.resp"
			R_AOFMB=$(mb "$RDIR"/appendonlydir "$RDIR"/*.aof)
			: >"$T/runs"
			for i in $(seq 1 "$RUNS"); do
				if start_redis "$RDIR" "$RPORT" always; then
					rss=$("$RCLI" -p "$RPORT" info memory | tr -d '\r' |
					    sed -n 's/^used_memory_rss://p')
					echo "$READY_MS $rss" >>"$T/runs"
					say "redis AOF load run $i/$RUNS: $READY_MS ms"
				fi
				stop "$LAST_PID"
			done
			R_AOF=$(awk '{ print $1 }' "$T/runs" | median)
			R_RRSS=$(awk '{ print $2 }' "$T/runs" | median)
			R_AOFLOG=$(grep -o 'DB loaded from append only file: [0-9.]* seconds' \
			    "$RDIR/redis.log" | tail -1 | sed -e 's/.*: //' -e 's/ seconds//')
		else
			note "redis-server did not start for the restart test"
		fi
	fi
else
	note "BENCH_SKIP_RESTART=1: restart and memory skipped"
fi

# ---- the report ----

fmt() {
	[ -n "${1:-}" ] && printf '%s' "$1" || printf '–'
}

# num3 V: V with 3 decimals, or a dash.
num3() {
	[ -n "${1:-}" ] && awk -v v="$1" 'BEGIN { printf "%.3f", v }' || printf '–'
}

# row LABEL TOOL KEY RATIO
row() {
	rps=$(getv "$3_rps")
	if [ -z "$rps" ]; then
		return
	fi
	printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$1" "$2" \
	    "$(awk -v v="$rps" 'BEGIN { printf "%.0f", v }')" \
	    "$(num3 "$(getv "$3_p50")")" "$(num3 "$(getv "$3_p99")")" \
	    "$(c=$(getv "$3_cpu"); [ -n "$c" ] && printf '%s%%' "$c" || printf '–')" \
	    "${4:-}"
}

# rjoin TEXT...: the non-empty arguments joined with "; ".
rjoin() {
	s=""
	for a in "$@"; do
		[ -n "$a" ] || continue
		s="${s:+$s; }$a"
	done
	printf '%s' "$s"
}

# rtext NAME A B: "NAME = A/B" when both are known.
rtext() {
	r=$(ratio "$2" "$3")
	[ -n "$r" ] && printf '%s %s' "$1" "$r"
}

ELAPSED=$(( ($("$TOOL" now-ms) - START_MS) / 1000 ))
LOAD1=$(uptime 2>/dev/null | sed 's/.*load average[s]*: *//')
busy=$(printf '%s\n%s\n' "$LOAD0" "$LOAD1" | awk -v c="$NCPU" -F'[, ]+' '
    c ~ /^[0-9]+$/ && $1 + 0 > c + 0 { b = 1 } END { print b + 0 }')
[ "$busy" = 1 ] && note "the machine was busy (load average above $NCPU cores at start or end): other processes competed for the CPU, so absolute figures and ratios are noisy"
{
	echo "# kvd benchmark"
	echo
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -sm), $NCPU cores, load average at start $LOAD0."
	echo "Each figure is the median of $RUNS runs of ${SECS} s; $CONNS connections,"
	echo "$VSIZE-byte values, $KEYS keys, loopback; generator and servers share the machine."
	echo "Whole run: ${ELAPSED} s; load average at end $LOAD1."
	echo
	echo "| load | tool | req/s | p50 ms | p99 ms | generator CPU | ratio |"
	echo "|---|---|---:|---:|---:|---:|---|"
	row "kvd GET, 1 node" "kvctl bench" single_get \
	    "$(rtext "kvd/redis GET" "$(getv single_get_rps)" "$(getv redis_get_rps)")"
	row "kvd durable PUT, 1 node" "kvctl bench" single_put \
	    "$(rjoin "$(rtext "kvd/redis SET" "$(getv single_put_rps)" "$(getv redis_set_rps)")" "$(rtext "PUT/raw fsync" "$(getv single_put_rps)" "$fsync_rps")")"
	row "kvd 90/10 GET/PUT, 1 node" "kvctl bench" single_mix ""
	row "kvd GET, 3 nodes N3 W2 R2" "kvctl bench" cluster_get \
	    "$(rtext "cluster/single" "$(getv cluster_get_rps)" "$(getv single_get_rps)")"
	row "kvd PUT, 3 nodes N3 W2 R2" "kvctl bench" cluster_put \
	    "$(rtext "cluster/single" "$(getv cluster_put_rps)" "$(getv single_put_rps)")"
	row "kvd GET 16-byte value, 1 node" "wrk -t2 -c50" wrk_kvd_get \
	    "$(rtext "kvd/nginx" "$(getv wrk_kvd_get_rps)" "$(getv nginx_rps)")"
	row "kvd durable PUT, 1 node" "wrk -t2 -c50 put.lua" wrk_kvd_put \
	    "$(rtext "wrk/kvctl bench" "$(getv wrk_kvd_put_rps)" "$(getv single_put_rps)")"
	row "nginx 16-byte static file, 2 workers" "wrk -t2 -c50" nginx "baseline"
	row "redis GET" "redis-benchmark -c50" redis_get "baseline"
	row "redis SET, appendfsync always" "redis-benchmark -c50" redis_set "baseline"
	printf '| raw fdatasync per 100-byte append | benchtool | %s | – | – | – | baseline |\n' \
	    "$(fmt "$fsync_rps")"
	echo
	if [ "${BENCH_SKIP_RESTART:-0}" != 1 ]; then
		echo "Restart and memory: $RKEYS keys, 16-byte keys, $VSIZE-byte values."
		echo
		echo "| measure | kvd | redis | kvd/redis |"
		echo "|---|---:|---:|---:|"
		secs() { [ -n "${1:-}" ] && awk -v v="$1" 'BEGIN { printf "%.2f s", v / 1000 }' || printf '–'; }
		perkey() { [ -n "${1:-}" ] && awk -v v="$1" -v b="${2:-0}" -v m="$3" -v k="$RKEYS" 'BEGIN { printf "%.0f B", (v - b) * m / k }' || printf '–'; }
		echo "| start to serving, from snapshot ($R_SNAPMB MB) | $(secs "$R_SNAP") | – | |"
		echo "| start to serving, from WAL alone ($R_WALMB MB) / AOF ($(fmt "$R_AOFMB") MB) | $(secs "$R_WAL") | $(secs "$R_AOF") | $(ratio "$R_WAL" "$R_AOF") |"
		[ -n "$R_AOFLOG" ] && echo "| redis log: DB loaded from append only file | | ${R_AOFLOG} s | |"
		kv=$(perkey "$R_RSS" 0 1024) rv=$(perkey "$R_RRSS" 0 1)
		echo "| resident memory per key (whole process) | $kv | $rv | $(ratio "${kv% B}" "${rv% B}") |"
		kv=$(perkey "$R_RSS" "$R_RSS0" 1024) rv=$(perkey "$R_RRSS" "$R_RRSS0" 1)
		echo "| resident memory per key (above the empty process) | $kv | $rv | $(ratio "${kv% B}" "${rv% B}") |"
		echo
	fi
	echo "Generator CPU is kvctl bench's own user+sys time over wall time x cores."
	echo "Ratios compare figures from this run only; kvd/redis compares kvctl bench"
	echo "(HTTP, one thread per connection) with redis-benchmark (RESP, event loop)."
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
