#!/usr/bin/env bats
# test/ttl.bats -- keys that expire (PUT ?ttl=S or "ttl":S): the expiry
# travels inside the version, so every node, a restart, a hint and a
# batch agree on it; past it a key reads 404 everywhere, a watcher wakes,
# and the version is collected like a tombstone after the grace.
#
# Nothing here asserts a duration: each test reads the expiry the server
# fixed (X-Kvd-Expires) and waits until the clock has passed it.

load helpers
bats_require_minimum_version 1.5.0

setup() {
	setup_tmp
	pick_ports 3
}

cluster3() {
	local n
	for n in 1 2 3; do
		start_peer "$n" 3 "" "$@"
	done
	wait_for 15 ready node1 node2 node3
	wait_for 15 linked node1 node2 node3
}

# expires NODE KEY [QUERY]: the X-Kvd-Expires of KEY read through NODE.
expires() {
	curl -s --max-time 60 -D - -o /dev/null "$(url "$1")/kv/$2${3:-}" |
	    tr -d '\r' | awk -F': ' 'tolower($1) == "x-kvd-expires" { print $2 }'
}

# past MS: sleeps until the wall clock is 100 ms past MS.
past() {
	while [ "$(now_ms)" -le $(($1 + 100)) ]; do
		sleep 0.1
	done
}

@test "a TTL set through one node expires on every node: before, each replica shows the same expiry; after, each reads 404" {
	cluster3
	t0=$(now_ms)
	[ "$(put node1 s temp '?ttl=5&w=3')" = 201 ]
	# The body form, on another key.
	[ "$(code -X PUT -d '{"value":"temp","ttl":5}' "$(url node2)/kv/b?w=3")" = 201 ]
	e=$(expires node1 s '?r=1')
	echo "expiry $e, written at $t0"
	[ "$e" -ge $((t0 + 5000)) ] && [ "$e" -le $(($(now_ms) + 5000)) ]
	for n in node1 node2 node3; do
		# Each node's own stored copy carries the same expiry.
		[ "$(c "$(url "$n")/internal/fetch/s" | jq .v.expires)" = "$e" ]
		[ "$(expires "$n" s '?r=1')" = "$e" ]
		[ "$(c "$(url "$n")/kv/s?r=1" | jq -r .expires_ms)" = "$e" ]
		[ -n "$(expires "$n" b '?r=1')" ]
	done
	past "$(expires node1 b)"
	past "$e"
	for n in node1 node2 node3; do
		[ "$(code "$(url "$n")/kv/s?r=1")" = 404 ]
		[ "$(code "$(url "$n")/kv/s?r=3")" = 404 ]
		[ "$(code "$(url "$n")/kv/b?r=1")" = 404 ]
	done
	# A batch reads it as absent too.
	run c -X POST -d '{"ops":[{"op":"get","key":"s"}]}' "$(url node3)/batch"
	echo "$output"
	[ "$(echo "$output" | jq '.results[0].status')" = 404 ]
}

@test "a PUT without a TTL clears it; an expired key counts as absent for If-None-Match, If-Match and DELETE" {
	start_node n1
	[ "$(put n1 k v1 '?ttl=100')" = 201 ]
	[ -n "$(expires n1 k)" ]
	[ "$(put n1 k v2)" = 200 ]
	[ -z "$(expires n1 k)" ]
	run c "$(url n1)/kv/k"
	[ "$(echo "$output" | jq -r '.value + " " + (.expires_ms | tostring)')" = "v2 null" ]

	[ "$(put n1 gone v '?ttl=1')" = 201 ]
	past "$(expires n1 gone)"
	[ "$(code "$(url n1)/kv/gone")" = 404 ]
	[ "$(code -X DELETE "$(url n1)/kv/gone")" = 404 ]
	[ "$(code -X PUT -H 'If-Match: *' -d '{"value":"x"}' "$(url n1)/kv/gone")" = 412 ]
	# Creating it again is a create (201), If-None-Match: * included.
	[ "$(code -X PUT -H 'If-None-Match: *' -d '{"value":"new"}' "$(url n1)/kv/gone")" = 201 ]
	[ "$(c "$(url n1)/kv/gone" | jq -r .value)" = new ]
}

@test "the expiry survives a kill -9 (WAL) and a clean stop (snapshot); a key that expired while the node was down reads 404; expired values are collected after the grace" {
	start_node n1 --tombstone-grace 1
	[ "$(put n1 long v '?ttl=600')" = 201 ]
	[ "$(put n1 short v '?ttl=1')" = 201 ]
	[ "$(put n1 plain v)" = 201 ]
	e=$(expires n1 long)
	es=$(expires n1 short)
	kill_node n1	# SIGKILL: the WAL alone
	past "$es"
	start_node n1 --tombstone-grace 1 --allow-stale
	[ "$(expires n1 long)" = "$e" ]
	[ "$(code "$(url n1)/kv/short")" = 404 ]
	[ "$(code "$(url n1)/kv/plain")" = 200 ]
	kill_node n1 TERM	# a clean stop writes a snapshot
	# Replayed from the WAL, short's receipt time stood in as its
	# segment's mtime + 2 s (store.c): collectable 1 s (the grace) after.
	past $((es + 3000))
	start_node n1 --tombstone-grace 1 --allow-stale
	[ "$(expires n1 long)" = "$e" ]
	# Collection runs at start: short expired more than the grace ago.
	wait_for 10 grep -q 'expired values collected' "$TMP/n1.log"
	grep 'expired values collected' "$TMP/n1.log"
	run c "$(url n1)/metrics"
	echo "$output" | grep '^kvd_keys'
	[ "$(echo "$output" | awk '$1 == "kvd_keys" { print $2 }')" = 2 ]
	# Once collected and snapshotted, it is gone from the files.
	kill_node n1 TERM
	! grep -rq '"short"' "$DATA/n1"/snapshot* 2>/dev/null
	grep -rq '"long"' "$DATA/n1"
}

@test "a key whose owner was down when it expired reads 404 when the owner returns; a hint carries the expiry" {
	cluster3 --anti-entropy-interval 1
	kill_node node3
	[ "$(put node1 k v '?ttl=2')" = 201 ]	# node3's copy goes to a hint
	e=$(expires node1 k)
	past "$e"
	start_peer 3 3 "" --anti-entropy-interval 1
	# node3 gets the version (hint or anti-entropy), expiry and all.
	wait_for 20 bash -c "curl -s --max-time 2 '$(url node3)/internal/fetch/k' | grep -q '\"expires\":$e'"
	for n in node1 node2 node3; do
		[ "$(code "$(url "$n")/kv/k?r=1")" = 404 ]
		# All three answer once node1 and node2 see node3 back up.
		wait_for 10 bash -c "[ \"\$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' '$(url "$n")/kv/k?r=3')\" != 503 ]"
		c "$(url "$n")/kv/k?r=3"
		[ "$(code "$(url "$n")/kv/k?r=3")" = 404 ]
	done
}

@test "a watcher on a key with a TTL wakes when it expires (404), well before its timeout" {
	start_node n1
	[ "$(put n1 w v '?ttl=2')" = 201 ]
	e=$(expires n1 w)
	etag=$(curl -s --max-time 60 -D - -o /dev/null "$(url n1)/kv/w" | tr -d '\r' |
	    awk -F': ' 'tolower($1) == "etag" { gsub(/"/, "", $2); print $2 }')
	# Its timeout, 300 s, is past curl's 60 s hang guard: a watcher
	# that missed the expiry and waited for it gets no answer (000).
	run curl -s --max-time 60 -o /dev/null -w '%{http_code}' \
	    "$(url n1)/kv/w?wait=$etag&timeout=300"
	echo "answered $output at $(now_ms), expiry $e"
	[ "$output" = 404 ]
	[ "$(now_ms)" -ge "$e" ]
}

@test "bad TTLs are refused with a 400 that names them" {
	start_node n1
	local q
	for q in 'ttl=0' 'ttl=-1' 'ttl=abc' 'ttl=1.5' 'ttl=315360001' 'ttl=' 'ttl=1&ttl=2'; do
		run c -X PUT -d '{"value":"v"}' "$(url n1)/kv/k?$q"
		echo "?$q: $output"
		[[ "$output" == *'"code":"bad_param"'* ]]
		[[ "$output" == *ttl* ]]
	done
	[ "$(code -X PUT -d '{"value":"v"}' "$(url n1)/kv/k?ttl=315360000")" = 201 ]
	for b in '{"value":"v","ttl":"3"}' '{"value":"v","ttl":0}' '{"value":"v","ttl":2.5}' \
	    '{"value":"v","ttl":-4}' '{"value":"v","ttl":null}'; do
		run c -X PUT -d "$b" "$(url n1)/kv/k"
		echo "$b: $output"
		[[ "$output" == *'"code":"bad_body"'* ]]
		[[ "$output" == *ttl* ]]
	done
	run c -X PUT -d '{"value":"v","ttl":3}' "$(url n1)/kv/k?ttl=3"
	[[ "$output" == *'ttl given twice'* ]]
	# Only a PUT takes one.
	run c -X DELETE "$(url n1)/kv/k?ttl=3"
	[[ "$output" == *'"code":"unknown_param"'* ]]
	run c "$(url n1)/kv/k?ttl=3"
	[[ "$output" == *'"code":"unknown_param"'* ]]
	run c -X POST -d '{"ops":[{"op":"get","key":"k","ttl":3}]}' "$(url n1)/batch"
	echo "$output"
	[[ "$output" == *'only a put takes a ttl'* ]]
	# kvctl checks before sending.
	run "$KVCTL" --server "$(url n1)" put k v --ttl 0
	[ "$status" = 2 ]
	[[ "$output" == *"bad --ttl"* ]]
	run "$KVCTL" --server "$(url n1)" get k --ttl 5
	[ "$status" = 2 ]
	[[ "$output" == *"--ttl goes with put, mput and incr"* ]]
}

@test "kvctl put --ttl and mput --ttl; a batch put with a ttl shows expires_ms" {
	start_node n1
	run "$KVCTL" --server "$(url n1)" put k v --ttl 1
	[ "$status" = 0 ]
	e=$(expires n1 k)
	[ -n "$e" ]
	run "$KVCTL" --server "$(url n1)" --json mput a 1 b 2 --ttl 1
	echo "$output"
	[ "$status" = 0 ]
	[ "$(echo "$output" | jq '[.results[].expires_ms > 0] | all')" = true ]
	run c -X POST -d '{"ops":[{"op":"put","key":"c","value":"3","ttl":1},{"op":"put","key":"d","value":"4"}]}' \
	    "$(url n1)/batch"
	echo "$output"
	[ "$(echo "$output" | jq '.results[0].expires_ms > 0')" = true ]
	[ "$(echo "$output" | jq '.results[1].expires_ms')" = null ]
	past "$(expires n1 c)"
	past "$e"
	run_split 10 "$KVCTL" --server "$(url n1)" mget k a b c d
	echo "$out / $err"
	[ "$rc" = 1 ]
	[ "$out" = $'\n\n\n\n4' ]	# an empty line for each key expired
	[ "$err" = "kvctl: k: 404 not found"$'\n'"kvctl: a: 404 not found"$'\n'"kvctl: b: 404 not found"$'\n'"kvctl: c: 404 not found" ]
}
