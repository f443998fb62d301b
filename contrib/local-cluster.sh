#!/bin/sh
# local-cluster.sh -- run a small kvd cluster on this machine, for trying
# things out.
#
#   contrib/local-cluster.sh start [N]   start nodes node1..nodeN (default 3)
#   contrib/local-cluster.sh stop        SIGTERM every node, KILL after 10 s
#   contrib/local-cluster.sh status      per node: process alive, /health
#   contrib/local-cluster.sh wipe        stop, then delete $DIR
#
# Environment:
#   KVD_BIN     the kvd binary (default ./kvd)
#   KVCTL_BIN   used for health checks when curl is missing
#               (default: kvctl next to KVD_BIN)
#   BASE_PORT   node I listens on 127.0.0.1:BASE_PORT+I-1 (default 8080)
#   DIR         state directory (default /tmp/kvd-local)
# KVD_BIN and KVCTL_BIN are this script's: kvd and kvctl do not get them
# (they warn about KVD_ and KVCTL_ variables they do not read).
#
# Every node shares --data-dir $DIR/data (each keeps DIR/data/ID), lists
# the others in --peers and runs with --n 3 --w 2 --r 2.  Node I writes
# its log to $DIR/nodeI.log, its pid to $DIR/nodeI.pid and its URL to
# $DIR/nodeI.url.

set -u

KVD_BIN=${KVD_BIN:-./kvd}
KVCTL_BIN=${KVCTL_BIN:-$(dirname "$KVD_BIN")/kvctl}
BASE_PORT=${BASE_PORT:-8080}
DIR=${DIR:-/tmp/kvd-local}

PROG=local-cluster
. "$(dirname "$0")/common.sh"

usage() {
	echo "usage: $0 start [N] | stop | status | wipe" >&2
	exit 2
}

# A short pause; plain sleep 1 where fractions are not understood.
nap() {
	sleep 0.2 2>/dev/null || sleep 1
}

alive() {
	[ -n "$1" ] && kill -0 "$1" 2>/dev/null
}

# Prints the pid recorded in pid file $1 (nothing when absent).
pid_of() {
	[ -f "$1" ] && cat "$1" 2>/dev/null
}

# Succeeds when the node at URL $1 answers /health.
healthy() {
	if command -v curl >/dev/null 2>&1; then
		curl -fsS -m 2 -o /dev/null "$1/health" 2>/dev/null
	else
		env -u KVD_BIN -u KVCTL_BIN "$KVCTL_BIN" --server "$1" \
		    --timeout 2 health >/dev/null 2>&1
	fi
}

# The numbers of the nodes that have a pid file, in order.
node_nums() {
	last=0
	for f in "$DIR"/node*.pid; do
		[ -e "$f" ] || continue
		k=${f##*/node}
		k=${k%.pid}
		is_uint "$k" && [ "$k" -gt "$last" ] && last=$k
	done
	k=1
	while [ "$k" -le "$last" ]; do
		[ -e "$DIR/node$k.pid" ] && echo "$k"
		k=$((k + 1))
	done
}

cmd_start() {
	n=${1:-3}
	if ! is_uint "$n" || [ "$n" -lt 1 ] || [ "$n" -gt 99 ]; then
		die "N must be a number from 1 to 99, not '$n'"
	fi
	if ! is_uint "$BASE_PORT" || [ "$BASE_PORT" -lt 1 ] ||
	    [ $((BASE_PORT + n - 1)) -gt 65535 ]; then
		die "bad BASE_PORT '$BASE_PORT'"
	fi
	[ -x "$KVD_BIN" ] || die "no kvd binary at $KVD_BIN (set KVD_BIN)"
	if ! command -v curl >/dev/null 2>&1 && [ ! -x "$KVCTL_BIN" ]; then
		die "need curl or kvctl (set KVCTL_BIN) for health checks"
	fi
	mkdir -p "$DIR/data" || die "cannot create $DIR/data"

	i=1
	while [ "$i" -le "$n" ]; do
		pid=$(pid_of "$DIR/node$i.pid")
		if alive "$pid"; then
			echo "node$i already running (pid $pid)"
			i=$((i + 1))
			continue
		fi
		peers=
		j=1
		while [ "$j" -le "$n" ]; do
			if [ "$j" -ne "$i" ]; then
				peers="$peers${peers:+,}node$j=127.0.0.1:$((BASE_PORT + j - 1))"
			fi
			j=$((j + 1))
		done
		port=$((BASE_PORT + i - 1))
		set -- --id "node$i" --addr "127.0.0.1:$port" \
		    --data-dir "$DIR/data" --n 3 --w 2 --r 2
		[ -n "$peers" ] && set -- "$@" --peers "$peers"
		nohup env -u KVD_BIN -u KVCTL_BIN "$KVD_BIN" "$@" \
		    >>"$DIR/node$i.log" 2>&1 </dev/null &
		echo $! >"$DIR/node$i.pid"
		echo "http://127.0.0.1:$port" >"$DIR/node$i.url"
		i=$((i + 1))
	done

	failed=0
	i=1
	while [ "$i" -le "$n" ]; do
		url=$(cat "$DIR/node$i.url")
		pid=$(pid_of "$DIR/node$i.pid")
		tries=0
		until healthy "$url"; do
			if ! alive "$pid"; then
				echo "node$i exited; last lines of $DIR/node$i.log:" >&2
				tail -n 5 "$DIR/node$i.log" >&2
				rm -f "$DIR/node$i.pid"
				failed=1
				break
			fi
			tries=$((tries + 1))
			if [ "$tries" -ge 50 ]; then
				echo "node$i does not answer $url/health" >&2
				failed=1
				break
			fi
			nap
		done
		i=$((i + 1))
	done
	[ "$failed" -eq 0 ] || die "some nodes did not start (see $DIR/*.log)"

	echo "$n node(s) up (logs and pids in $DIR):"
	i=1
	while [ "$i" -le "$n" ]; do
		echo "  node$i  $(cat "$DIR/node$i.url")"
		i=$((i + 1))
	done
}

cmd_stop() {
	nums=$(node_nums)
	[ -n "$nums" ] || { echo "no nodes running"; return 0; }
	for i in $nums; do
		pid=$(pid_of "$DIR/node$i.pid")
		alive "$pid" && kill -TERM "$pid" 2>/dev/null
	done
	for i in $nums; do
		f="$DIR/node$i.pid"
		pid=$(pid_of "$f")
		node=node$i
		tries=0
		while alive "$pid" && [ "$tries" -lt 50 ]; do
			nap
			tries=$((tries + 1))
		done
		if alive "$pid"; then
			echo "$node (pid $pid) ignored SIGTERM; killing it" >&2
			kill -KILL "$pid" 2>/dev/null
		fi
		rm -f "$f"
		echo "$node stopped"
	done
}

cmd_status() {
	nums=$(node_nums)
	[ -n "$nums" ] || { echo "no nodes running"; return 1; }
	rc=0
	for i in $nums; do
		pid=$(pid_of "$DIR/node$i.pid")
		node=node$i
		url=$(cat "$DIR/$node.url" 2>/dev/null)
		if alive "$pid"; then
			proc="pid $pid running"
		else
			proc="pid $pid not running"
			rc=1
		fi
		if [ -n "$url" ] && healthy "$url"; then
			health="healthy"
		else
			health="not answering"
			rc=1
		fi
		echo "$node  ${url:-?}  $proc  $health"
	done
	return "$rc"
}

cmd_wipe() {
	cmd_stop
	case $DIR in
	'' | /) die "refusing to delete '$DIR'" ;;
	esac
	rm -rf "$DIR"
	echo "removed $DIR"
}

[ $# -ge 1 ] || usage
cmd=$1
shift
case $cmd in
start)
	[ $# -le 1 ] || usage
	cmd_start "$@"
	;;
stop)
	[ $# -eq 0 ] || usage
	cmd_stop
	;;
status)
	[ $# -eq 0 ] || usage
	cmd_status
	;;
wipe)
	[ $# -eq 0 ] || usage
	cmd_wipe
	;;
*)
	usage
	;;
esac
