#!/usr/bin/env bats
# test/cas_partition.bats -- compare-and-swap under real network
# partitions: a 3-node and a 5-node cluster (every node an owner), each
# node in its own network namespace on a bridge in a hub namespace, the
# clients in another (test/netns.bash builds it).  Taking a
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
load netns
load history
bats_require_minimum_version 1.5.0

BATS_TEST_TIMEOUT=${BATS_TEST_TIMEOUT:-150}

NET=10.213.58
KPORT=7000

setup() {
	netns_setup kvdcas
}

teardown() {
	netns_teardown
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
	local minority=$2 majority=$3 v
	net_or_skip "$COUNT"
	start_members "$COUNT"
	RECORD_NS="$NS-cli" record --servers "$(servers "$COUNT")" \
	    --clients 8 --duration 90 --max-ops 6000 --timeout 2 --key ctr
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
	finish 1
	[ "$(jq -r .acked "$TMP/h.sum")" -gt 10 ]
}

@test "3 nodes: 8 clients incrementing through every node while a minority (node3) and then a majority (node1, node2) is cut off: linearizable, nothing lost" {
	run_scenario 3 "3" "1 2"
}

@test "5 nodes: 8 clients incrementing through every node while a minority (node4, node5) and then a majority (node1-3) is cut off: linearizable, nothing lost" {
	run_scenario 5 "4 5" "1 2 3"
}
