#!/usr/bin/env bats
# test/antientropy.bats -- anti-entropy between three kvd processes on
# loopback: a replica that missed writes while it was down, and a replica
# that lost its whole data directory, converge with no client read (only
# GET /internal/fetch, which never repairs, is used to look); with
# anti-entropy off the wiped replica stays empty, so the repair is
# anti-entropy's doing.  A wiped node also asks for a repair itself
# (transfer.c: HOLLOW, edges.bats tests it); here the failpoint
# transfer-refill-fail keeps it from asking, so what refills it is the
# periodic exchange.
#
# Every node must know the others' ports before it starts (--peers), so
# setup picks three free loopback ports up front.  --anti-entropy-interval
# 1 and short peer timeouts keep the file fast; every wait is a bounded
# poll, every client call has a deadline, and teardown kills every process
# the test started.

load helpers
bats_require_minimum_version 1.5.0

BATS_TEST_TIMEOUT=${BATS_TEST_TIMEOUT:-90}

KEYS=200

setup() {
	setup_tmp
	pick_ports 3
}

# start_member N [AE_SECONDS]: nodeN on its port; anti-entropy every
# AE_SECONDS (default 1).
start_member() {
	start_peer "$1" 3 "" --anti-entropy-interval "${2:-1}"
}

# write_keys NODE W: PUTs key ae-0 .. ae-(KEYS-1) through NODE with ?w=W,
# eight at a time in one curl; a key that did not get 200/201 (a quorum
# missed while the cluster warms up) is retried alone a few times.  Fails
# unless every key is finally written.
write_keys() {
	local i try st base args=() failed
	base=$(url "$1")
	for ((i = 0; i < KEYS; i++)); do
		args+=(-o /dev/null "$base/kv/ae-$i?w=$2")
	done
	failed=$(curl -s -Z --parallel-max 8 --max-time 20 -X PUT \
	    -d '{"value":"anti-entropy"}' -w '%{http_code} %{url}\n' \
	    "${args[@]}" | awk '$1 != 200 && $1 != 201 { print $2 }')
	for i in $failed; do
		for try in 1 2 3 4 5; do
			st=$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' \
			    -X PUT -d '{"value":"anti-entropy"}' "$i")
			[ "$st" = 201 ] || [ "$st" = 200 ] && break
			sleep 0.2
		done
		if [ "$st" != 201 ] && [ "$st" != 200 ]; then
			echo "PUT $i: $st"
			return 1
		fi
	done
}

# dump NODE: NODE's record of every key, one line each, through
# /internal/fetch (which never repairs); a missing key shows as an error.
dump() {
	local i base urls=()
	base=$(url "$1")
	for ((i = 0; i < KEYS; i++)); do
		urls+=("$base/internal/fetch/ae-$i")
	done
	curl -s --max-time 10 "${urls[@]}"
}

# missing NODE: how many of the keys NODE does not hold (all of them when
# NODE does not answer).
missing() {
	echo $((KEYS - $(dump "$1" | grep -c '"key"')))
}

# converged: node3 holds exactly node1's version of every key.
converged() {
	local a b
	a=$(dump node1)
	b=$(dump node3)
	[ "$(printf '%s\n' "$a" | grep -c '"key"')" -eq "$KEYS" ] &&
	    [ "$a" = "$b" ]
}

# wait_converged SECONDS: polls converged; prints the elapsed time as a
# TAP comment.
wait_converged() {
	local t0 deadline=$((SECONDS + $1))
	t0=$(now_ms)
	until converged; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "node3 still misses $(missing node3) of $KEYS keys after $1 s"
			return 1
		fi
		sleep 0.2
	done
	echo "# converged in $(secs "$t0") s" >&3
}

@test "a replica that was down while 200 keys were written converges without client reads" {
	start_member 1
	start_member 2
	start_member 3
	kill_node node3 TERM
	write_keys node1 2
	[ "$(missing node1)" -eq 0 ]
	start_member 3
	wait_converged 20
}

@test "a replica that lost its data directory is refilled by anti-entropy alone" {
	start_member 1
	start_member 2
	start_member 3
	# w=3: every replica holds every key, so no hint is pending.
	write_keys node1 3
	[ "$(missing node3)" -eq 0 ]
	kill_node node3
	rm -rf "$DATA/node3"
	KVD_FAILPOINTS=transfer-refill-fail@1+ start_member 3
	wait_converged 20
	grep -h 'anti-entropy repaired' "$TMP"/node*.log
}

@test "with --anti-entropy-interval 0 the wiped replica stays empty (control)" {
	start_member 1 0
	start_member 2 0
	start_member 3 0
	write_keys node1 3
	[ "$(missing node3)" -eq 0 ]
	kill_node node3
	rm -rf "$DATA/node3"
	KVD_FAILPOINTS=transfer-refill-fail@1+ start_member 3 0
	sleep 3
	# node3 answers, and holds none of the keys.
	[ "$(curl -s --max-time 60 "$(url node3)/internal/fetch/ae-0" | jq -r .code)" = \
	    not_found ]
	[ "$(missing node3)" -eq "$KEYS" ]
	! grep -q 'anti-entropy repaired' "$TMP"/node*.log
}
