#!/bin/sh
# instructions.sh -- instructions kvd executes per request, counted by
# valgrind's callgrind: the same for the same binary and load whatever
# else the machine is doing, so two builds compare on a busy machine
# where req/s do not (contrib/bench/write-path-results.md, stop 24).
#
#   contrib/bench/instructions.sh [-n NODES] [-t put|get] [-a A] [-b B]
#
#   -n NODES  1, or 3 (N=3 W=2 R=2, anti-entropy off; the counts of the
#             three nodes are summed) (default 1)
#   -t TEST   put or get (default put)
#   -a A, -b B  the two request counts (default 5000 and 25000)
#
# Each count is one fresh run: kvd under `valgrind --tool=callgrind`, a
# prefill of all 10,000 keys, `kvctl bench -t TEST -n COUNT -c 50 --size
# 16` (3 nodes: -c 51 over the three), then SIGTERM.  The figure is (Ir
# at B - Ir at A) / (B - A): the instructions of one request, with
# start-up, prefill and shutdown cancelled out (the prefill makes the
# shutdown's snapshot the same 10,000 keys in both runs).  Kernel time is
# not counted, only kvd's and its libraries' user-space instructions.
#
# Environment: KVD (default ./kvd), KVCTL (default ./kvctl).  Runs in a
# temporary directory on free loopback ports (python3 picks them); every
# process started is killed on exit.
set -eu

KVD=${KVD:-./kvd}
KVCTL=${KVCTL:-./kvctl}
NODES=1 TEST=put A=5000 B=25000
while [ $# -gt 0 ]; do
	case $1 in
	-n) NODES=$2; shift 2 ;;
	-t) TEST=$2; shift 2 ;;
	-a) A=$2; shift 2 ;;
	-b) B=$2; shift 2 ;;
	*) echo "usage: $0 [-n 1|3] [-t put|get] [-a A] [-b B]" >&2; exit 2 ;;
	esac
done
case $NODES/$TEST in
1/put | 1/get | 3/put | 3/get) ;;
*) echo "$0: -n is 1 or 3, -t put or get" >&2; exit 2 ;;
esac
[ "$A" -lt "$B" ] 2>/dev/null || { echo "$0: -a must be below -b" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "$0: needs valgrind" >&2; exit 2; }

T=$(mktemp -d "${TMPDIR:-/tmp}/kvd-instructions.XXXXXX")
PIDS=""
cleanup() {
	for p in $PIDS; do kill -9 "$p" 2>/dev/null || true; done
	rm -rf "$T"
}
trap cleanup EXIT INT TERM

freeport() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# count REQUESTS: the summed Ir of one fresh run.
count() {
	n=$1
	d=$T/run.$n
	mkdir -p "$d"
	PIDS="" SERVERS="" peers=""
	ids="a"
	[ "$NODES" = 3 ] && ids="a b c"
	for id in $ids; do
		eval "port_$id=$(freeport)"
		eval "peers=\${peers:+\$peers,}$id=127.0.0.1:\$port_$id"
	done
	for id in $ids; do
		eval "port=\$port_$id"
		if [ "$NODES" = 3 ]; then
			set -- --peers "$peers" --n 3 --w 2 --r 2 \
			    --anti-entropy-interval 0
		else
			set --
		fi
		valgrind --tool=callgrind --callgrind-out-file="$d/cg.$id" \
		    "$KVD" --id "$id" --addr "127.0.0.1:$port" --data-dir "$d" \
		    --snapshot-interval 0 --log-level warn "$@" \
		    >>"$d/log" 2>&1 &
		PIDS="$PIDS $!"
		SERVERS="${SERVERS:+$SERVERS,}http://127.0.0.1:$port"
	done
	for s in $(echo "$SERVERS" | tr , ' '); do
		i=0
		until curl -sf "$s/ready" >/dev/null 2>&1; do
			i=$((i + 1))
			[ $i -lt 600 ] || { echo "$0: kvd did not start" >&2; cat "$d/log" >&2; exit 1; }
			sleep 0.1
		done
	done
	c=50
	[ "$NODES" = 3 ] && c=51
	"$KVCTL" bench -t put --prefill -n "$c" -c "$c" --keys 10000 \
	    --size 16 --server "$SERVERS" >/dev/null
	"$KVCTL" bench -t "$TEST" -n "$n" -c "$c" --size 16 \
	    --server "$SERVERS" >/dev/null
	for p in $PIDS; do kill "$p"; done
	for p in $PIDS; do wait "$p" || true; done
	PIDS=""
	total=0
	for f in "$d"/cg.*; do
		total=$((total + $(awk '/^(summary|totals):/ { print $2; exit }' "$f")))
	done
	echo "$total"
}

ia=$(count "$A")
ib=$(count "$B")
echo "$NODES node(s), $TEST: $ia Ir at $A requests, $ib at $B:" \
    "$(( (ib - ia) / (B - A) )) instructions a request"
