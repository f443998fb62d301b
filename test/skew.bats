#!/usr/bin/env bats
# test/skew.bats -- nodes whose wall clocks disagree (issue 10).
#
# Each node runs under test/clockshim.c, an LD_PRELOAD shim that adds
# $CLOCKSHIM_OFFSET_MS to CLOCK_REALTIME (clock_gettime, gettimeofday,
# time) and leaves CLOCK_MONOTONIC alone: a node's dates move, its
# deadlines and sleeps do not.  setup builds the shim with the system's
# C compiler and checks that it moves the clock of a dynamically linked
# program (date); without either, every test is skipped with the reason.
#
#   tombstones	a node whose clock runs 3 s fast must not collect a
#		delete's tombstone before --tombstone-grace has passed, or a
#		replica that missed the delete brings the value back
#   auth	a request refused as stale says that the clocks differ and
#		by how many seconds
#   cas		conditional writes work through every node while the clocks
#		lie within 300 s of each other (a ballot is the
#		coordinator's clock); through a node 400 s ahead they answer
#		503 saying the clocks differ, and go on through the others
#
# Nodes run on fixed loopback ports picked in setup; every wait is a
# bounded poll (no duration is asserted), every client call has a
# deadline, and teardown kills every process the test started (SIGCONT
# first for a stopped one).

load helpers
bats_require_minimum_version 1.5.0

BATS_TEST_TIMEOUT=${BATS_TEST_TIMEOUT:-60}

setup() {
	setup_tmp
	pick_ports 3
	local cc=${CC:-cc} now moved
	command -v "$cc" >/dev/null 2>&1 ||
	    skip "no C compiler ($cc): cannot build test/clockshim.c"
	SHIM="$TMP/clockshim.so"
	"$cc" -shared -fPIC -o "$SHIM" "$BATS_TEST_DIRNAME/clockshim.c" -ldl
	now=$(date +%s)
	moved=$(LD_PRELOAD="$SHIM" CLOCKSHIM_OFFSET_MS=100000 date +%s)
	[ $((moved - now)) -ge 90 ] && [ $((moved - now)) -le 110 ] ||
	    skip "LD_PRELOAD of the clock shim does not move this system's clock"
}

# start_skewed N OFFSET_MS [flags...]: nodeN of node1..node3 (N=3 W=2 R=2)
# with its wall clock OFFSET_MS milliseconds off.
start_skewed() {
	local n=$1 off=$2
	shift 2
	LD_PRELOAD="$SHIM" CLOCKSHIM_OFFSET_MS="$off" start_peer "$n" 3 "" "$@"
}

# settled NODE KEY: NODE gives KEY a definite answer (200 or 404), not a
# 503 while it still asks the stopped node3; the status is in $TMP/st.
settled() {
	curl -s --max-time 10 -o "$TMP/body" -w '%{http_code}' \
	    "$(url "$1")/kv/$2" >"$TMP/st"
	case $(cat "$TMP/st") in 200 | 404) return 0 ;; esac
	return 1
}

@test "a node whose clock runs 3 s fast keeps a tombstone for the whole grace: a replica that missed the delete does not bring the value back" {
	local grace="--tombstone-grace 10 --anti-entropy-interval 0"
	# node1 last: the time since its start counts toward how long it was
	# away, and it must come back inside the grace.
	start_skewed 3 -3000 $grace
	start_skewed 2 3000 $grace
	start_skewed 1 0 $grace
	wait_for 15 ready node3	# it has heard from node1 and node2
	# node3 coordinates the write and the delete, so its clock (3 s slow)
	# dates both: the tombstone's date is 3 s before the delete.
	[ "$(put node3 k old '?w=3')" = 201 ]
	kill_node node1
	# node2 acknowledges the delete, node3 keeps a hint for node1 ...
	[ "$(code -X DELETE "$(url node3)/kv/k")" = 204 ]
	local t_del
	t_del=$(now_ms)
	# ... that it never delivers.
	kill -STOP "$(pid_of node3)"
	# 5.6 s after the delete, node2's clock (3 s fast) reads 11.6 s past
	# the tombstone's date, though only 5.6 s have passed: more than the
	# grace.  kvd collects tombstones at start.
	while [ $(($(now_ms) - t_del)) -lt 5600 ]; do
		sleep 0.1
	done
	kill_node node2
	start_skewed 2 3000 $grace
	# node1 returns after some 7 s away, inside the 10 s grace.
	start_skewed 1 0 $grace
	echo "# node1 back $(secs "$t_del") s after the delete" >&3
	grep -h "collected" "$TMP/node2.log" || true
	local n
	for n in node1 node2; do
		wait_for 20 settled "$n" k || { echo "$n: $(cat "$TMP/st")"; false; }
		echo "GET k via $n: $(cat "$TMP/st") $(cat "$TMP/body")"
		[ "$(cat "$TMP/st")" = 404 ]
	done
	kill -CONT "$(pid_of node3)"
}

# stale_line: node1's log line refusing a request as stale (not the one
# saying that node2 refuses node1's calls too), without its leading
# timestamp and its peer= field (their digits are not the skew).
stale_line() {
	grep 'unauthorized.*why="stale' "$TMP/node1.log" | tail -1 |
	    cut -d' ' -f2- |
	    sed 's/peer=[^ ]*//g'
}

@test "a request refused as stale (401) says the clocks differ, and by how many seconds" {
	printf '%s\n' 'skew-cluster-secret-0123456789abcdef' >"$TMP/secret"
	chmod 600 "$TMP/secret"
	local n
	for n in 1 2; do
		LD_PRELOAD="$SHIM" CLOCKSHIM_OFFSET_MS=$(((n - 1) * 400000)) \
		    start_peer "$n" 2 "$(peers_of "$n" 2)" \
		    --cluster-secret-file "$TMP/secret" --anti-entropy-interval 0
	done
	# node2's clock is 400 s ahead: whatever it signs, node1 refuses.
	run curl -s --max-time 10 -w '\n%{http_code}' -X PUT \
	    -d '{"value":"v"}' "$(url node2)/kv/skewed?w=2"
	echo "PUT via node2: $output"
	[ "${output##*$'\n'}" = 503 ]
	wait_for 15 eval 'grep -q "unauthorized.*why=\"stale" "$TMP/node1.log"'
	run stale_line
	echo "node1: $output"
	[[ "$output" == *unauthorized* ]]
	[[ "$output" == *clock* ]]
	printf '%s\n' "$output" | grep -Eq '(^|[^0-9.])(39[0-9]|40[0-9]|410)([^0-9]|$)'
}

# cas_write NODE KEY VALUE: an If-Match: * write of KEY through NODE;
# prints the body, then the status on a line of its own.
cas_write() {
	curl -s --max-time 10 -w '\n%{http_code}' -X PUT -H 'If-Match: *' \
	    -d "{\"value\":\"$3\"}" "$(url "$1")/kv/$2"
}

@test "conditional writes go through every node while the clocks lie within 300 s of each other (200 s fast, 50 s slow)" {
	local n out
	start_skewed 1 0
	start_skewed 2 200000
	start_skewed 3 -50000
	wait_for 15 ready node1 node2 node3
	[ "$(code -X PUT -H 'If-None-Match: *' -d '{"value":"0"}' \
	    "$(url node2)/kv/c")" = 201 ]
	for n in node1 node2 node3 node2 node3 node1; do
		out=$(cas_write "$n" c "via-$n")
		echo "via $n: $out"
		[ "${out##*$'\n'}" = 200 ]
		[ "$(c "$(url node1)/kv/c?serial" | jq -r .value)" = "via-$n" ]
	done
	for n in 1 2 3; do
		"$KVCTL" --server "$(url "node$n")" incr n >/dev/null
	done
	[ "$("$KVCTL" --server "$(url node3)" get n)" = 3 ]
}

@test "through a node whose clock runs 400 s ahead, conditional writes answer 503 saying the clocks differ; through the others they go on" {
	local out
	start_skewed 1 0
	start_skewed 2 400000
	start_skewed 3 0
	wait_for 15 ready node1 node2 node3
	[ "$(code -X PUT -H 'If-None-Match: *' -d '{"value":"a"}' \
	    "$(url node1)/kv/k")" = 201 ]
	out=$(cas_write node2 k b)
	echo "via node2: $out"
	[ "${out##*$'\n'}" = 503 ]
	echo "${out%$'\n'*}" | jq -r .error | grep -q 'clocks'
	echo "${out%$'\n'*}" | jq -r .error | grep -q '300 s'
	grep -q 'ahead of this node.s clock' "$TMP/node1.log"
	grep -q 'refused this node.s ballot as ahead of its clock' \
	    "$TMP/node2.log"
	out=$(cas_write node1 k c)
	echo "via node1: $out"
	[ "${out##*$'\n'}" = 200 ]
	[ "$(c "$(url node3)/kv/k?serial" | jq -r .value)" = c ]
}
