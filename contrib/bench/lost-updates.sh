#!/bin/sh
# lost-updates.sh -- provoke the lost update that a blind write allows
# (README: "A blind write can lose to an earlier one if clocks disagree")
# and count how often it happens; contrib/bench/lost-updates.md has the
# results.
#
#   contrib/bench/lost-updates.sh [-t TRIES] [-k KEYS] [--skew MS]
#                                 [--write-r N]
#
#   -t TRIES     repetitions of the scenario below (default 5)
#   -k KEYS      keys per try (default 20)
#   --skew MS    node1's wall clock runs MS ms slow, node3's MS ms fast,
#                node2's is right (default 1500; 0: no skew, no shim)
#   --write-r N  the second PUT of each key carries ?r=N (default: none,
#                a blind write through node1, an owner)
#
# Each try: kill -9 node1; PUT each of KEYS new keys "old" through node3
# (acknowledged by node3 and node2, node3 keeps a hint for node1);
# restart node1 and, as soon as it answers /health, PUT each key "new"
# through node1; wait 4 s (hint delivery, anti-entropy every 2 s), then
# read each key at r=3 through node2.  A key whose two PUTs were both
# acknowledged and that reads "old" is a lost update: an acknowledged
# write overwritten by an older one.
#
# Environment: KVD (default ./kvd), KVCTL (default ./kvctl), CC (default
# cc) for the clock shim test/clockshim.c (Linux).  The nodes run as
# contrib/chaos.sh runs them (N=3 W=2 R=2, 500 ms peer timeout, 300 ms
# gossip, anti-entropy every 2 s) in a temporary directory on free
# loopback ports (python3 picks them); every process started is killed on
# exit.  The last line sums the tries; exit status 0, or 1 when the
# cluster did not start, 2 for a usage error.

set -u

KVD=${KVD:-./kvd}
KVCTL=${KVCTL:-./kvctl}
TRIES=5
KEYS=20
SKEW=1500
WRITE_R=
TMPD=
SHIM=

PROG=lost-updates
. "$(dirname "$0")/../common.sh"

usage() {
	echo "usage: $0 [-t TRIES(5)] [-k KEYS(20)] [--skew MS(1500)]" \
	    "[--write-r N]" >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case $1 in
	-t) [ $# -ge 2 ] || usage; TRIES=$2; shift 2 ;;
	-k) [ $# -ge 2 ] || usage; KEYS=$2; shift 2 ;;
	--skew) [ $# -ge 2 ] || usage; SKEW=$2; shift 2 ;;
	--write-r) [ $# -ge 2 ] || usage; WRITE_R=$2; shift 2 ;;
	-h | --help) usage ;;
	*) echo "lost-updates: unknown argument '$1'" >&2; usage ;;
	esac
done
if ! is_uint "$TRIES" || [ "$TRIES" -lt 1 ] || ! is_uint "$KEYS" ||
    [ "$KEYS" -lt 1 ] || ! is_uint "$SKEW" ||
    { [ -n "$WRITE_R" ] && ! is_uint "$WRITE_R"; }; then
	usage
fi
[ -x "$KVD" ] || die "no kvd binary at $KVD (set KVD)"
[ -x "$KVCTL" ] || die "no kvctl binary at $KVCTL (set KVCTL)"
command -v python3 >/dev/null 2>&1 || die "needs python3 to pick ports"

cleanup() {
	[ -n "$TMPD" ] || return
	for i in 1 2 3; do
		if [ -f "$TMPD/node$i.pid" ]; then
			kill -9 "$(cat "$TMPD/node$i.pid")" 2>/dev/null
			wait "$(cat "$TMPD/node$i.pid")" 2>/dev/null
		fi
	done
	rm -rf "$TMPD"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

TMPD=$(mktemp -d "${TMPDIR:-/tmp}/kvd-lostupd.XXXXXX") || die "mktemp failed"
if [ "$SKEW" -gt 0 ]; then
	SHIM=$TMPD/clockshim.so
	"${CC:-cc}" -shared -fPIC -o "$SHIM" "$(dirname "$0")/../../test/clockshim.c" \
	    -ldl || die "cannot build the clock shim"
fi
# Three free loopback ports, all bound at once so none repeats.
PORTS=$(python3 "$(dirname "$0")/../free-ports.py" 3) ||
    die "python3 could not pick ports"

url() {
	echo "http://127.0.0.1:$(port_of "$1")"
}

start() {
	i=$1
	peers=
	for j in 1 2 3; do
		[ "$j" -eq "$i" ] ||
		    peers="$peers${peers:+,}node$j=127.0.0.1:$(port_of "$j")"
	done
	(
		if [ -n "$SHIM" ]; then
			LD_PRELOAD=$SHIM CLOCKSHIM_OFFSET_MS=$(((i - 2) * SKEW))
			export LD_PRELOAD CLOCKSHIM_OFFSET_MS
		fi
		exec "$KVD" --id "node$i" --addr "127.0.0.1:$(port_of "$i")" \
		    --data-dir "$TMPD/data" --peers "$peers" --n 3 --w 2 --r 2 \
		    --peer-timeout-ms 500 --gossip-interval-ms 300 \
		    --anti-entropy-interval 2
	) >>"$TMPD/node$i.log" 2>&1 </dev/null &
	echo $! >"$TMPD/node$i.pid"
}

healthy() {
	n=0
	until "$KVCTL" --server "$(url "$1")" --timeout 1 health >/dev/null 2>&1; do
		n=$((n + 1))
		[ "$n" -lt 150 ] || return 1
		sleep 0.1
	done
}

for i in 1 2 3; do start "$i"; done
for i in 1 2 3; do healthy "$i" || die "node$i did not start"; done
sleep 1

T_PAIRS=0 T_LOST=0 T_NEW=0 T_OTHER=0
t=1
while [ "$t" -le "$TRIES" ]; do
	kill -9 "$(cat "$TMPD/node1.pid")"
	wait "$(cat "$TMPD/node1.pid")" 2>/dev/null
	k=1
	: >"$TMPD/acked"
	while [ "$k" -le "$KEYS" ]; do
		"$KVCTL" --server "$(url 3)" --timeout 5 -q put "t$t-k$k" old &&
		    echo "t$t-k$k" >>"$TMPD/acked"
		k=$((k + 1))
	done
	start 1
	healthy 1 || die "node1 did not restart"
	pairs=0
	: >"$TMPD/pairs"
	while read -r key; do
		# shellcheck disable=SC2086 # empty or two words
		"$KVCTL" --server "$(url 1)" --timeout 5 -q \
		    ${WRITE_R:+--r $WRITE_R} put "$key" new &&
		    echo "$key" >>"$TMPD/pairs"
	done <"$TMPD/acked"
	sleep 4
	lost=0 new=0 other=0
	while read -r key; do
		v=$("$KVCTL" --server "$(url 2)" --timeout 5 -q --r 3 get "$key")
		case $v in
		old) lost=$((lost + 1)) ;;
		new) new=$((new + 1)) ;;
		*) other=$((other + 1)) ;;
		esac
		pairs=$((pairs + 1))
	done <"$TMPD/pairs"
	echo "try $t: $pairs keys with both PUTs acknowledged: lost update" \
	    "$lost, new $new, other $other"
	T_PAIRS=$((T_PAIRS + pairs)) T_LOST=$((T_LOST + lost))
	T_NEW=$((T_NEW + new)) T_OTHER=$((T_OTHER + other))
	t=$((t + 1))
done
echo "lost-updates: skew $SKEW ms, write r=${WRITE_R:-none (blind)}:" \
    "$TRIES tries, $T_PAIRS keys with both PUTs acknowledged:" \
    "lost update $T_LOST, new $T_NEW, other $T_OTHER"
