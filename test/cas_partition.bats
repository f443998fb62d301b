#!/usr/bin/env bats
# test/cas_partition.bats -- compare-and-swap under real network
# partitions: a 3-node and a 5-node cluster (every node an owner), each
# node in its own network namespace on a bridge in a hub namespace, the
# clients in another (the way test/partition.bats builds it).  Taking a
# node's veth down on the hub cuts it off from everyone; packets are
# dropped, so calls to it time out.
#
# While 8 clients (test/cas_history.py, from the client namespace)
# increment one counter through every node, a minority is cut off and
# healed, then a majority; the recorded history must be linearizable
# (test/linearizable.py) and no acknowledged increment lost.  While the
# majority is away nothing can be decided: the clients get 503s (or time
# out), which the checker counts as "unknown".
#
# Needs root, iproute2 and working `ip netns`; skipped with the reason
# otherwise.  The addresses (10.213.58.0/24) exist only inside the
# namespaces this file creates, and teardown deletes them.

load helpers
bats_require_minimum_version 1.5.0

BATS_TEST_TIMEOUT=${BATS_TEST_TIMEOUT:-150}
PY=${PYTHON:-python3}

NET=10.213.58
KPORT=7000

setup() {
	setup_tmp
	NS="kvdcas-$$-$BATS_TEST_NUMBER"
	: >"$TMP/netns"
	local why
	if ! why=$(netns_usable); then
		skip "network namespaces not usable here: $why"
	fi
}

teardown() {
	local f
	for f in "$TMP"/*.pid; do
		[ -e "$f" ] && kill -CONT "$(cat "$f")" 2>/dev/null
	done
	if [ -n "${HPID:-}" ]; then
		kill -9 -- "-$HPID" 2>/dev/null || kill -9 "$HPID" 2>/dev/null
	fi
	stop_all
	for f in "$TMP"/*.pid; do
		[ -e "$f" ] && wait_exit "$(cat "$f")"
	done
	del_net
	teardown_tmp
}

netns_usable() {
	[ "$(id -u)" = 0 ] || { echo "not root"; return 1; }
	command -v ip >/dev/null || { echo "iproute2 (ip) not installed"; return 1; }
	local probe="kvdcas-probe-$$"
	ip netns add "$probe" 2>&1 || return 1
	ip netns del "$probe" 2>&1 || return 1
}

mkns() {
	ip netns add "$1" && echo "$1" >>"$TMP/netns"
}

# make_net COUNT: the hub with bridge br0; nodes n1..nCOUNT and the
# client namespace cli, each with eth0 at $NET.X (X = node, 100 client)
# on a veth whose other end (h1.., hc) is a port of br0.
make_net() {
	local i name addr
	mkns "$NS-hub" || return 1
	ip -n "$NS-hub" link add br0 type bridge || return 1
	ip -n "$NS-hub" link set br0 up || return 1
	for i in $(seq 1 "$1") c; do
		name="$NS-n$i" addr="$NET.$i"
		[ "$i" = c ] && name="$NS-cli" addr="$NET.100"
		mkns "$name" || return 1
		ip -n "$NS-hub" link add "h$i" type veth peer name eth0 \
		    netns "$name" || return 1
		ip -n "$NS-hub" link set "h$i" master br0 || return 1
		ip -n "$NS-hub" link set "h$i" up || return 1
		ip -n "$name" addr add "$addr/24" dev eth0 || return 1
		ip -n "$name" link set eth0 up || return 1
		ip -n "$name" link set lo up || return 1
	done
}

del_net() {
	local n
	[ -e "$TMP/netns" ] || return 0
	while read -r n; do
		[ -n "$n" ] && ip netns del "$n" 2>/dev/null
	done <"$TMP/netns"
	: >"$TMP/netns"
}

cli() {
	timeout 100 ip netns exec "$NS-cli" "$@"
}

member_addr() {
	echo "$NET.$1:$KPORT"
}

# start_member N COUNT: kvd nodeN in its namespace, N = COUNT replicas.
start_member() {
	local n=$1
	ip netns exec "$NS-n$n" "$KVD" --id "node$n" --addr "$NET.$n:$KPORT" \
	    --advertise "$NET.$n:$KPORT" --data-dir "$DATA" \
	    --peers "$(peers_of "$n" "$2")" --n "$2" --w 2 --r 2 \
	    --peer-timeout-ms 500 --gossip-interval-ms 200 --log-level warn \
	    >>"$TMP/node$n.log" 2>&1 3>&- &
	echo $! >"$TMP/node$n.pid"
}

up() {
	cli curl -s --max-time 1 -o /dev/null -f "http://$(member_addr "$1")/health"
}

servers() {
	local i out=""
	for ((i = 1; i <= $1; i++)); do
		out="$out${out:+,}http://$(member_addr "$i")"
	done
	echo "$out"
}

cut() {
	local n
	for n in "$@"; do
		ip -n "$NS-hub" link set "h$n" down
	done
}

heal() {
	local n
	for n in "$@"; do
		ip -n "$NS-hub" link set "h$n" up
	done
}

# counter: the counter as a serial read through the first node that
# answers (empty when none does).
counter() {
	cli "$KVCTL" --server "$(servers "$COUNT")" --timeout 2 \
	    --connect-timeout 0.5 get ctr --serial 2>/dev/null
}

# grows_to N: the counter reached N.
grows_to() {
	local v
	v=$(counter) || return 1
	[ "${v:-0}" -ge "$1" ]
}

# run_scenario COUNT MINORITY MAJORITY: the cluster, the recorder, the
# minority cut and heal, the majority cut and heal, the checks.
run_scenario() {
	COUNT=$1
	local minority=$2 majority=$3 n v why
	if ! why=$(make_net "$COUNT" 2>&1); then
		del_net
		skip "cannot build the test network: $why"
	fi
	for n in $(seq 1 "$COUNT"); do
		start_member "$n" "$COUNT"
	done
	for n in $(seq 1 "$COUNT"); do
		wait_for 10 up "$n" || { cat "$TMP"/node*.log; return 1; }
	done
	rm -f "$TMP/stop"
	timeout 150 ip netns exec "$NS-cli" "$PY" "$ROOT/test/cas_history.py" \
	    --servers "$(servers "$COUNT")" --clients 8 --duration 90 \
	    --max-ops 6000 --timeout 2 --key ctr --stop-file "$TMP/stop" \
	    --out "$TMP/h.jsonl" >"$TMP/h.sum" 2>"$TMP/h.err" 3>&- &
	HPID=$!
	wait_for 20 grows_to 5
	v=$(counter)
	echo "# before the cuts: $v" >&3
	cut $minority
	sleep 3
	wait_for 20 grows_to $((v + 5))
	v=$(counter)
	echo "# minority ($minority) cut off: the majority went on to $v" >&3
	heal $minority
	sleep 1
	cut $majority
	sleep 3
	heal $majority
	wait_for 30 grows_to $((v + 10))
	echo "# majority ($majority) cut off and healed: $(counter)" >&3
	sleep 1
	touch "$TMP/stop"
	local rc=0
	wait "$HPID" || rc=$?
	HPID=
	cat "$TMP/h.sum" "$TMP/h.err"
	[ "$rc" -eq 0 ]
	run "$PY" "$ROOT/test/linearizable.py" "$TMP/h.jsonl"
	echo "checker: $output"
	echo "# $(cat "$TMP/h.sum"); checker: $output" >&3
	[ "$status" -eq 0 ]
	[ "$(jq -r .lost "$TMP/h.sum")" -eq 0 ]
	[ "$(jq -r '.final <= .acked + .unknown' "$TMP/h.sum")" = true ]
	[ "$(jq -r .acked "$TMP/h.sum")" -gt 10 ]
}

@test "3 nodes: 8 clients incrementing through every node while a minority (node3) and then a majority (node1, node2) is cut off: linearizable, nothing lost" {
	run_scenario 3 "3" "1 2"
}

@test "5 nodes: 8 clients incrementing through every node while a minority (node4, node5) and then a majority (node1-3) is cut off: linearizable, nothing lost" {
	run_scenario 5 "4 5" "1 2 3"
}
