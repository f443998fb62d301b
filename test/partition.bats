#!/usr/bin/env bats
# test/partition.bats -- a real network partition: three kvd nodes, each in
# its own network namespace, joined by veth pairs to a bridge that lives in
# a fourth namespace (the hub); the test's clients run in a fifth.  Taking
# node3's veth down on the hub cuts node3 off from everyone (packets are
# dropped, not refused, so calls to it time out); setting it up again heals
# the partition.
#
# While node3 is cut off, writes through node1 and node2 succeed at W=2
# within their deadline and a concurrent `kvctl verify` loses nothing;
# after the heal node3 converges to the same versions with no client read
# (compared through GET /internal/fetch, which never repairs).  Requests
# through the cut-off node itself are refused (503) within their deadline,
# not hung.
#
# Needs root, iproute2 and working `ip netns`; every test is skipped with
# the reason otherwise.  The addresses (10.213.57.0/24) exist only inside
# the namespaces this file creates: the bridge has no uplink and the root
# namespace gets no address or route, so no packet leaves the machine.
# Teardown kills every process and deletes every namespace (which takes
# the veths and the bridge with it), also when a test fails.

load helpers
load netns
bats_require_minimum_version 1.5.0

BATS_TEST_TIMEOUT=${BATS_TEST_TIMEOUT:-60}

NET=10.213.57
KPORT=7000

setup() {
	netns_setup kvdtest
	net_or_skip 3
}

teardown() {
	netns_teardown
}

# u N: node N's base URL.
u() {
	echo "http://$NET.$1:$KPORT"
}

start_cluster() {
	start_members 3 --anti-entropy-interval 1
}

# dump N PREFIX COUNT: nodeN's stored version of PREFIX-0..COUNT-1 through
# /internal/fetch (never repairs), one answer per line.
dump() {
	local i urls=()
	for ((i = 0; i < $3; i++)); do
		urls+=("$(u "$1")/internal/fetch/$2-$i")
	done
	timeout 10 ip netns exec "$NS-cli" curl -s --connect-timeout 1 \
	    --max-time 2 -w '\n' "${urls[@]}"
}

# converged PREFIX COUNT: all three nodes hold the same version of every key.
converged() {
	local a b c
	a=$(dump 1 "$1" "$2")
	b=$(dump 2 "$1" "$2")
	c=$(dump 3 "$1" "$2")
	[ "$(printf '%s\n' "$a" | grep -c '"key"')" -eq "$2" ] &&
	    [ "$a" = "$b" ] && [ "$a" = "$c" ]
}

# missing N PREFIX COUNT: how many of the keys nodeN lacks.
missing() {
	echo $(($3 - $(dump "$1" "$2" "$3" | grep -c '"key"')))
}

# Deadlines: a call to the cut-off node fails within the nodes' peer
# timeout (500 ms, start_member), and a request that meets one such call
# is answered within a timeout or two.  Each client request below has
# curl's --max-time 10, 20 peer timeouts: a request that waits for node3
# without a deadline fails there (status 000), and a loaded machine does
# not.  How long a request took is printed, never compared.

# timed_put N KEY: PUT through nodeN from the client namespace; prints
# "STATUS SECONDS".
timed_put() {
	cli curl -s --max-time 10 -o /dev/null -w '%{http_code} %{time_total}' \
	    -X PUT -d "{\"value\":\"$2\"}" "$(u "$1")/kv/$2"
}

timed_get() {
	cli curl -s --max-time 10 -o /dev/null -w '%{http_code} %{time_total}' \
	    "$(u "$1")/kv/$2"
}

@test "node3 cut off by the network: W=2 writes through node1/node2 succeed within curl's deadline, nothing lost, node3 converges after the heal" {
	start_cluster
	timeout 60 ip netns exec "$NS-cli" "$KVCTL" --server "$(u 1),$(u 2)" \
	    --timeout 5 verify -d 6 -c 4 >"$TMP/verify.out" 2>"$TMP/verify.err" \
	    3>&- &
	VPID=$!
	BG+=("$VPID")
	sleep 1
	cut 3
	# node3 is unreachable from the client namespace now.
	! cli curl -s --max-time 1 -o /dev/null "$(u 3)/health"
	local i n out st t failed=0
	for i in $(seq 0 29); do
		n=$((i % 2 + 1))
		out=$(timed_put "$n" "part-$i")
		st=${out% *} t=${out#* }
		echo "PUT part-$i via node$n: $st in $t s"
		case $st in 200 | 201) ;; *) failed=$((failed + 1)) ;; esac
	done
	for i in 0 7 15 29; do
		out=$(timed_get 2 "part-$i")
		st=${out% *} t=${out#* }
		echo "GET part-$i via node2: $st in $t s"
		[ "$st" = 200 ] || failed=$((failed + 1))
	done
	echo "failed=$failed"
	[ "$failed" -eq 0 ]
	local t0
	t0=$(now_ms)
	heal 3
	wait_for 30 converged part 30 || {
		echo "node3 misses $(missing 3 part 30) of 30 after 30 s"
		false
	}
	echo "# converged in $(secs "$t0") s after the heal" >&3
	local rc=0
	wait "$VPID" || rc=$?
	cat "$TMP/verify.out" "$TMP/verify.err"
	[ "$rc" -eq 0 ]
	verify_clean "$TMP/verify.out"
}

@test "the cut-off node answers its own clients 503 within curl's deadline, and serves again after the heal" {
	start_cluster
	local out st t
	[ "$(cli curl -s --max-time 5 -o /dev/null -w '%{http_code}' -X PUT \
	    -d '{"value":"before"}' "$(u 1)/kv/island?w=3")" = 201 ]
	# node3's clients are on its side of the cut: run them in its namespace.
	cut 3
	node3_put() {
		timeout 20 ip netns exec "$NS-n3" curl -s --max-time 10 -o /dev/null \
		    -w '%{http_code} %{time_total}' -X PUT -d '{"value":"island"}' \
		    "$(u 3)/kv/island-$1"
	}
	local i
	for i in 1 2 3; do
		out=$(node3_put "$i")
		st=${out% *} t=${out#* }
		echo "PUT via cut-off node3: $st in $t s"
		[ "$st" = 503 ]
	done
	out=$(timeout 20 ip netns exec "$NS-n3" curl -s --max-time 10 -o /dev/null \
	    -w '%{http_code} %{time_total}' "$(u 3)/kv/island")
	st=${out% *} t=${out#* }
	echo "GET r=2 via cut-off node3: $st in $t s"
	[ "$st" = 503 ]
	# ?r=1 is its own copy: still readable.
	out=$(timeout 20 ip netns exec "$NS-n3" curl -s --max-time 10 \
	    "$(u 3)/kv/island?r=1")
	echo "GET r=1 via cut-off node3: $out"
	[ "$(echo "$out" | jq -r .value)" = before ]
	heal 3
	put_ok() {
		[ "$(cli curl -s --max-time 3 -o /dev/null -w '%{http_code}' -X PUT \
		    -d '{"value":"healed"}' "$(u 3)/kv/island")" = 200 ]
	}
	wait_for 20 put_ok
	[ "$(cli curl -s --max-time 5 "$(u 1)/kv/island" | jq -r .value)" = healed ]
}
