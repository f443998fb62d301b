#!/usr/bin/env bats
# test/cas.bats -- compare-and-swap that holds across coordinators:
# conditional writes and serial reads run Paxos among a key's owners
# (lib/cas.c, lib/paxos.c).  Real kvd clusters on loopback:
#
#  - kvctl put --create / --if-match, delete --if-match, get --etag /
#    --serial, incr, and exit 4 for a failed condition;
#  - races through different coordinators: one winner (the fault issue 15
#    was filed for: two If-Match writes with one ETag through two nodes
#    both succeeded);
#  - ?serial's parameter rules, and the internal routes' signatures;
#  - a ballot posted far ahead of the clock is refused and holds nothing;
#  - a 412's message names the condition that failed;
#  - no majority of the owners: 503 that says so, while plain writes go on;
#  - histories recorded by test/cas_history.py from 8 clients incrementing
#    one counter through every node of a 3-node and a 5-node cluster while
#    nodes are killed -9, restarted, stopped (SIGSTOP) and continued,
#    checked by test/linearizable.py, with no acknowledged increment lost;
#    a mixed history of reads, writes and compare-and-swaps too;
#  - a kill -9 of every node loses nothing; a short --cas-window lets the
#    acceptors forget a key's state (state.json) and the key keeps working.
#
# test/linearizable.py's own cases run first, so a checker that cannot
# fail never passes a history.  Partitions are in test/cas_partition.bats.

load helpers
load history
bats_require_minimum_version 1.5.0

BATS_TEST_TIMEOUT=${BATS_TEST_TIMEOUT:-120}

setup() {
	setup_tmp
}

# cluster COUNT NREP [flags...]: nodes node1..nodeCOUNT, each owning keys
# with NREP replicas.
cluster() {
	local count=$1 nrep=$2 i
	shift 2
	pick_ports "$count"
	for ((i = 1; i <= count; i++)); do
		start_peer "$i" "$nrep" "$(peers_of "$i" "$count")" \
		    --log-level warn "$@"
	done
}

# restart N [flags...]: nodeN again on its port (after kill_node).
restart() {
	local n=$1
	shift
	start_peer "$n" "$NREP" "$(peers_of "$n" "$COUNT")" --log-level warn "$@"
}

# counting COUNT KEY: COUNT nodes that each hold every key (N=COUNT) and
# 8 clients incrementing KEY through all of them (record, up to 40 s);
# returns once KEY reached 5.
counting() {
	COUNT=$1 NREP=$1
	cluster "$1" "$1"
	record --servers "$(servers "$1")" --clients 8 --duration 40 \
	    --max-ops 5000 --timeout 4 --key "$2"
	wait_for 20 counter_at_least "$2" 5
}

# counter_at_least KEY N: the recorder's clients have counted KEY up to N
# (it keeps its history in memory until the end, so this is what shows
# progress).
counter_at_least() {
	local v
	v=$("$KVCTL" --server "$(servers "$COUNT")" --timeout 2 get "$1" \
	    2>/dev/null) || return 1
	[ "${v:-0}" -ge "$2" ]
}

@test "linearizable.py: its own cases (it can fail)" {
	run "$PY" "$ROOT/test/linearizable.py" --self-test
	echo "$output"
	[ "$status" -eq 0 ]
	echo "$output" | grep -q 'not linearizable'
	echo "$output" | grep -qx '16 passed, 0 failed'
}

@test "kvctl: put --create, get --etag, put and delete --if-match, get --serial, incr; exit 4 when a condition fails" {
	COUNT=3 NREP=3
	cluster 3 3
	local k="$KVCTL --server $(servers 3)" e e2
	$k put c one --create
	run $k put c two --create
	[ "$status" -eq 4 ]
	[[ $output == *412* ]]
	e=$($k get c --etag 2>&1 >/dev/null)
	[ -n "$e" ]
	[ "$($k get c --etag --json 2>/dev/null | jq -r .etag)" = "$e" ]
	[ "$($k get c --etag --json | jq -r .value)" = one ]
	# The ETag works through any node, quoted or not.
	"$KVCTL" --server "http://$(member_addr 2)" put c two --if-match "$e"
	run "$KVCTL" --server "http://$(member_addr 3)" put c lost --if-match "\"$e\""
	[ "$status" -eq 4 ]
	run $k delete c --if-match "$e"
	[ "$status" -eq 4 ]
	[ "$($k get c --serial)" = two ]
	e2=$($k get c --etag 2>&1 >/dev/null)
	# A weak ETag (as a compressing proxy gives it) matches too.
	$k put c three --if-match "W/\"$e2\""
	[ "$($k get c --serial)" = three ]
	e2=$($k get c --etag 2>&1 >/dev/null)
	$k delete c --if-match "$e2"
	run $k get c --serial
	[ "$status" -eq 1 ]
	[ "$($k incr n)" = 1 ]
	[ "$($k incr n 41)" = 42 ]
	[ "$($k incr n -2)" = 40 ]
	[ "$($k --json incr n | jq -c '[.key, .value, (.etag | length > 0)]')" = '["n","41",true]' ]
	$k put text hello
	run $k incr text
	[ "$status" -eq 4 ]
	[[ $output == *"not an integer"* ]]
	run $k incr
	[ "$status" -eq 2 ]
	run $k incr n x
	[ "$status" -eq 2 ]
	run $k get c --create
	[ "$status" -eq 2 ]
	run $k put c v --etag
	[ "$status" -eq 2 ]
	run $k put c v --create --if-match "$e"
	[ "$status" -eq 2 ]
	run $k get c --serial --r 2
	[ "$status" -eq 2 ]
	# Four kvctl incr loops through different nodes add up.
	local i pids=()
	for i in 1 2 3 4; do
		( for j in $(seq 1 10); do
			"$KVCTL" --server "http://$(member_addr $((i % 3 + 1)))" \
			    incr par >/dev/null || exit 1
		done ) &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i"; done
	[ "$($k get par --serial)" = 40 ]
}

# expires ID KEY: ID's X-Kvd-Expires for KEY (Unix ms), empty without one.
expires() {
	c -o /dev/null -D - "$(url "$1")/kv/$2" |
	    tr -d '\r' | sed -n 's/^X-Kvd-Expires: //Ip'
}

@test "kvctl incr keeps the key's TTL (rounded up to whole seconds); --ttl S sets one; an expired key counts as absent" {
	start_node n1 --log-level warn
	local k="$KVCTL --server $(url n1)" e0 e1 t0
	$k put rl 0 --ttl 60
	e0=$(expires n1 rl)
	[ -n "$e0" ]
	[ "$($k incr rl)" = 1 ]
	e1=$(expires n1 rl)
	echo "before $e0 after $e1"
	[ -n "$e1" ]
	# Never shorter; longer by less than a second (plus the call's time).
	[ "$e1" -ge "$e0" ]
	[ "$e1" -le $((e0 + 2000)) ]
	[ "$($k incr rl 4)" = 5 ]
	[ "$(expires n1 rl)" -ge "$e0" ]
	# Without a TTL there is none after either.
	$k put plain 5
	[ "$($k incr plain)" = 6 ]
	[ -z "$(expires n1 plain)" ]
	# --ttl S sets one (as Redis INCR then EXPIRE), over the one it had.
	t0=$(now_ms)
	[ "$($k incr plain --ttl 30)" = 7 ]
	e1=$(expires n1 plain)
	[ "$e1" -ge $((t0 + 30000)) ]
	[ "$e1" -le $(($(now_ms) + 30000)) ]
	[ "$($k incr rl --ttl 30)" = 6 ]
	[ "$(expires n1 rl)" -lt "$e0" ]
	run $k incr rl --ttl 0
	[ "$status" -eq 2 ]
	# Expired: counts as absent, and the new value has no TTL.
	$k put short 7 --ttl 1
	sleep 1.2
	[ "$($k incr short)" = 1 ]
	[ -z "$(expires n1 short)" ]
}

@test "races through different coordinators: one If-None-Match winner of 20; one of two If-Match writes with one ETag, 10 times" {
	COUNT=3 NREP=3
	cluster 3 3
	local i n wins=0 lost=0 e pids=()
	for i in $(seq 1 20); do
		code -X PUT -H 'If-None-Match: *' -d "{\"value\":\"w$i\"}" \
		    "http://$(member_addr $((i % 3 + 1)))/kv/race" >"$TMP/race.$i" &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i"; done
	for i in $(seq 1 20); do
		case $(cat "$TMP/race.$i") in
		201) wins=$((wins + 1)) ;;
		412) ;;
		*) echo "race.$i: $(cat "$TMP/race.$i")"; false ;;
		esac
	done
	echo "If-None-Match winners: $wins"
	[ "$wins" -eq 1 ]
	# The issue's fault: two If-Match PUTs with one ETag through two nodes.
	for n in $(seq 1 10); do
		put node1 pair "v$n" >/dev/null
		e=$(curl -s -D - -o /dev/null "http://$(member_addr 1)/kv/pair?serial=1" |
		    tr -d '\r' | awk 'tolower($1) == "etag:" { print $2 }')
		code -X PUT -H "If-Match: $e" -d '{"value":"a"}' \
		    "http://$(member_addr 2)/kv/pair" >"$TMP/a" &
		pids=($!)
		code -X PUT -H "If-Match: $e" -d '{"value":"b"}' \
		    "http://$(member_addr 3)/kv/pair" >"$TMP/b" &
		pids+=($!)
		for i in "${pids[@]}"; do wait "$i"; done
		case "$(cat "$TMP/a") $(cat "$TMP/b")" in
		"200 412" | "412 200") ;;
		*) echo "try $n: $(cat "$TMP/a") $(cat "$TMP/b")"; lost=$((lost + 1)) ;;
		esac
	done
	echo "tries where both (or neither) succeeded: $lost of 10"
	[ "$lost" -eq 0 ]
}

@test "GET ?serial: values 1, true or bare; not with r or wait; HEAD too; plain GET unchanged" {
	start_node node1 --log-level warn
	local u
	u=$(url node1)
	put node1 s v >/dev/null
	[ "$(c "$u/kv/s?serial=1" | jq -r .value)" = v ]
	[ "$(c "$u/kv/s?serial=true&raw" )" = v ]
	[ "$(c "$u/kv/s?serial")" = '{"key":"s","value":"v"}' ]
	[ "$(code -I "$u/kv/s?serial")" = 200 ]
	[ "$(code "$u/kv/nope?serial=1")" = 404 ]
	[ "$(code "$u/kv/s?serial=0")" = 400 ]
	[ "$(c "$u/kv/s?serial=yes" | jq -r .code)" = bad_param ]
	[ "$(code "$u/kv/s?serial=1&r=1")" = 400 ]
	[ "$(code "$u/kv/s?serial=1&wait=x")" = 400 ]
	[ "$(code "$u/kv/s?serial=1&serial=1")" = 400 ]
	[ "$(code -X PUT -d '{"value":"x"}' "$u/kv/s?serial=1")" = 400 ]
	[ "$(code -X PUT -H 'If-Match: *' -d '{"value":"x"}' "$u/kv/s?r=1")" = 400 ]
	[ "$(code -X PUT -H 'If-Match: *' -d '{"value":"x"}' "$u/kv/s?w=1")" = 200 ]
	[ "$(c "$u/kv/s" | jq -r .value)" = x ]
}

@test "with a cluster secret the paxos routes refuse unsigned requests (401)" {
	COUNT=3 NREP=3
	printf 'cas-test-secret-0123456789abcdef\n' >"$TMP/secret"
	chmod 600 "$TMP/secret"
	cluster 3 3 --cluster-secret-file "$TMP/secret"
	local r
	for r in prepare accept commit; do
		[ "$(code -X POST -d '{"key":"k","b":"1:x"}' \
		    "http://$(member_addr 1)/internal/paxos/$r")" = 401 ]
	done
	# Signed by the nodes themselves, conditional writes work.
	[ "$(code -X PUT -H 'If-None-Match: *' -d '{"value":"v"}' \
	    "http://$(member_addr 2)/kv/signed")" = 201 ]
	[ "$(c "http://$(member_addr 3)/kv/signed?serial" | jq -r .value)" = v ]
}

@test "a prepare, accept or commit at a ballot far ahead of the clock (near the largest ts; 400 s) is refused, saying so; conditional writes of the key go on" {
	COUNT=3 NREP=3
	cluster 3 3
	local n u b r out far
	[ "$(code -X PUT -H 'If-None-Match: *' -d '{"value":"a"}' \
	    "http://$(member_addr 1)/kv/ahead")" = 201 ]
	# Without a cluster secret anyone can post these.  A promise at
	# such a ballot would hold the key for good: no ballot beats it.
	far=$((($(date +%s) + 400) * 1000000))
	for n in 1 2 3; do
		u="http://$(member_addr "$n")/internal/paxos"
		for b in 18446744073709551000 "$far"; do
			for r in prepare accept commit; do
				out=$(curl -s --max-time 10 -X POST -d \
				    "{\"key\":\"ahead\",\"b\":\"$b:evil\",\"noop\":true}" \
				    "$u/$r")
				echo "node$n $r at $b: $out"
				[ "$(echo "$out" | jq -r .ok)" = false ]
				echo "$out" | jq -r .error |
				    grep -q "ahead of this node's clock"
				[ "$(echo "$out" | jq -r .ahead_s)" -ge 300 ]
			done
		done
		# Each of the 6 is counted for the operator.
		curl -s --max-time 10 "http://$(member_addr "$n")/metrics" |
		    grep -qx 'kvd_paxos_ballots_refused_total{why="ahead"} 6'
	done
	for n in 1 2 3; do
		out=$(curl -s --max-time 10 -w '\n%{http_code}' -X PUT \
		    -H 'If-Match: *' -d "{\"value\":\"via$n\"}" \
		    "http://$(member_addr "$n")/kv/ahead")
		echo "If-Match via node$n: $out"
		[ "${out##*$'\n'}" = 200 ]
	done
	[ "$(c "http://$(member_addr 2)/kv/ahead?serial" | jq -r .value)" = via3 ]
}

@test "without a majority of the owners: 503 that says so, at once; plain writes go on; back to normal after" {
	COUNT=3 NREP=3
	# A 10 s peer timeout makes a request's deadline 30 s (3 of them):
	# a coordinator that went on trying until then, rather than ending
	# after two attempts the owners failed, gives curl no answer in its
	# 10 s.  The dead owners refuse connections: no call waits for it.
	cluster 3 3 --peer-timeout-ms 10000
	local u="http://$(member_addr 1)" out t0
	[ "$(code -X PUT -H 'If-None-Match: *' -d '{"value":"a"}' "$u/kv/m")" = 201 ]
	kill_node node2
	kill_node node3
	t0=$(now_ms)
	out=$(curl -s --max-time 10 -w '\n%{http_code}' -X PUT -H 'If-Match: *' \
	    -d '{"value":"b"}' "$u/kv/m")
	echo "$out ($(secs "$t0") s)"
	[ "${out##*$'\n'}" = 503 ]
	echo "${out%$'\n'*}" | jq -r .error | grep -q 'majority of the real owners'
	echo "${out%$'\n'*}" | jq -r .error | grep -q 'no stand-ins'
	[ "$(code "$u/kv/m?serial=1")" = 503 ]
	run "$KVCTL" --server "$u" put m c --if-match '*'
	[ "$status" -eq 5 ]
	# A plain write is still taken (the coordinator keeps hints).
	[ "$(code -X PUT -d '{"value":"plain"}' "$u/kv/p?w=1")" = 201 ]
	restart 2 --peer-timeout-ms 10000
	wait_for 10 bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' \
	    -X PUT -H 'If-Match: *' -d '{\"value\":\"c\"}' $u/kv/m)\" = 200 ]"
	[ "$(c "http://$(member_addr 2)/kv/m?serial" | jq -r .value)" = c ]
}

@test "3 nodes, 8 clients incrementing through every node, kill -9 and restart, SIGSTOP and SIGCONT: linearizable, nothing lost" {
	counting 3 ctr3
	kill_node node2
	sleep 1.5
	restart 2
	wait_for 20 counter_at_least ctr3 25
	kill -STOP "$(pid_of node3)"
	sleep 1.5
	kill -CONT "$(pid_of node3)"
	finish 1
}

@test "5 nodes (N=5), 8 clients through every node, a kill -9 and a SIGSTOP at once: linearizable, nothing lost" {
	counting 5 ctr5
	kill_node node1
	kill -STOP "$(pid_of node4)"
	sleep 2
	kill -CONT "$(pid_of node4)"
	restart 1
	finish 1
}

@test "a mixed history of serial reads, writes and compare-and-swaps through 3 nodes is linearizable" {
	COUNT=3 NREP=3
	cluster 3 3
	record --servers "$(servers 3)" --workload mixed --clients 8 \
	    --duration 20 --max-ops 400 --timeout 4 --key mixed
	finish 5
	[ "$(grep -c '"f":"write"' "$TMP/h.jsonl")" -gt 10 ]
	[ "$(grep -c '"res":"fail"' "$TMP/h.jsonl")" -gt 0 ]
}

@test "after a kill -9 of every node the counter goes on; with a short --cas-window the acceptors forget the key's state and the key works on" {
	COUNT=3 NREP=3
	cluster 3 3 --cas-window 6
	local k="$KVCTL --server $(servers 3)" i
	for i in 1 2 3; do $k incr w >/dev/null; done
	[ -s "$DATA/node1/paxos/wal-0000000000000001.log" ]
	grep -q '"a":"' "$DATA/node1/paxos/wal-0000000000000001.log"
	for i in 1 2 3; do kill_node "node$i"; done
	for i in 1 2 3; do restart "$i" --cas-window 6; done
	[ "$($k incr w)" = 4 ]
	# Within an upkeep (1.5 s) past the 6 s window, every acceptor forgets
	# the key: compaction writes a state file without it.
	forgotten() {
		local n
		for n in 1 2 3; do
			grep -q '"keys":0' "$DATA/node$n/paxos/state.json" 2>/dev/null ||
			    return 1
		done
	}
	wait_for 30 forgotten
	head -1 "$DATA/node1/paxos/state.json"
	[ "$(head -1 "$DATA/node1/paxos/state.json" | jq -r .floor)" -gt 0 ]
	# Fresh ballots are above the floor: the key works on.
	[ "$($k incr w)" = 5 ]
	[ "$($k get w --serial)" = 5 ]
}

@test "If-Match takes a list (any member names the current version), through every coordinator; If-Match given twice is read as one list" {
	COUNT=3 NREP=2
	cluster 3 2
	wait_for 20 ready node1 node2 node3
	local u e n
	u=$(url node1)
	[ "$(put node1 l v0)" = 201 ]
	for n in 1 2 3; do
		e=$(curl -sS -D - -o /dev/null "$u/kv/l" | tr -d '\r' |
		    sed -n 's/^[Ee][Tt][Aa][Gg]: //p')
		[ "$(code -X PUT -H "If-Match: \"zzz\", $e" -d "{\"value\":\"v$n\"}" \
		    "$(url node$n)/kv/l")" = 200 ]
		# The same list again: its tags are gone, 412.
		[ "$(code -X PUT -H "If-Match: \"zzz\", $e" -d '{"value":"x"}' \
		    "$(url node$n)/kv/l")" = 412 ]
	done
	[ "$(c "$u/kv/l?serial" | jq -r .value)" = v3 ]
	e=$(curl -sS -D - -o /dev/null "$u/kv/l" | tr -d '\r' |
	    sed -n 's/^[Ee][Tt][Aa][Gg]: //p')
	[ "$(code -X PUT -H "If-Match: W/\"zzz\" ,W/$e" -d '{"value":"w"}' \
	    "$(url node2)/kv/l")" = 200 ]
	e=$(curl -sS -D - -o /dev/null "$u/kv/l" | tr -d '\r' |
	    sed -n 's/^[Ee][Tt][Aa][Gg]: //p')
	# Two If-Match lines are one list (RFC 9110 5.3), not the first alone.
	[ "$(code -X PUT -H 'If-Match: "zzz"' -H "If-Match: $e" \
	    -d '{"value":"two"}' "$(url node3)/kv/l")" = 200 ]
	[ "$(c "$u/kv/l?serial" | jq -r .value)" = two ]
	[ "$(code -X PUT -H 'If-Match: "zzz"' -H "If-Match: $e" \
	    -d '{"value":"x"}' "$(url node1)/kv/l")" = 412 ]
}

@test "a 412 says which condition failed: If-None-Match on a key that exists, If-Match on one that does not, an If-Match ETag of another version; through every coordinator" {
	COUNT=3 NREP=3
	cluster 3 3
	wait_for 20 ready node1 node2 node3
	local n u body
	[ "$(put node1 m v0)" = 201 ]
	for n in 1 2 3; do
		u=$(url node$n)
		body=$(c -X PUT -H 'If-None-Match: *' -d '{"value":"x"}' \
		    "$u/kv/m")
		[ "$(jq -r .code <<<"$body")" = precondition_failed ]
		[ "$(jq -r .error <<<"$body")" = "precondition failed: If-None-Match: * creates only, and the key exists" ]
		body=$(c -X PUT -H 'If-Match: *' -d '{"value":"x"}' \
		    "$u/kv/absent$n")
		[ "$(jq -r .error <<<"$body")" = "precondition failed: If-Match needs the key to exist, and it does not" ]
		body=$(c -X DELETE -H 'If-Match: "zzz"' "$u/kv/absent$n")
		[ "$(jq -r .error <<<"$body")" = "precondition failed: If-Match needs the key to exist, and it does not" ]
		body=$(c -X PUT -H 'If-Match: "zzz"' -d '{"value":"x"}' \
		    "$u/kv/m")
		[ "$(jq -r .error <<<"$body")" = "precondition failed: the key's current version is not the one If-Match names (it changed since that read)" ]
		[ "$(jq -r .acks <<<"$body")" -ge 2 ]
	done
	# kvctl shows the server's reason.
	run "$KVCTL" --server "$(url node2)" put m y --if-match zzz
	[ "$status" -eq 4 ]
	[[ $output == *"is not the one If-Match names"* ]]
}
