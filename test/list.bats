#!/usr/bin/env bats
# test/list.bats -- listing (GET /kv?prefix=&after=&limit=), kvctl ls,
# dump, load and delete --prefix, on real clusters on loopback: a node
# down (3 nodes and 5), a node hung (SIGSTOP) under pages with values
# (asked once a page, however many rounds it takes), a replica that
# missed a delete, paging while writers add keys, bad parameters, the
# dump of a 3-node cluster loaded into a fresh 5-node one (binary values,
# keys with '/', spaces and non-ASCII), a dump taken while a writer
# rewrites keys, load's counts, idempotence and failures, and a listing
# right after a restart.
#
# Nodes know each other's ports before they start (--peers): setup picks
# eight free loopback ports, nodes 1-3 for cluster A and 4-8 for the
# 5-node cluster B.  Every process a test starts is killed in teardown.

load helpers
bats_require_minimum_version 1.5.0

BATS_TEST_TIMEOUT=${BATS_TEST_TIMEOUT:-120}

setup() {
	setup_tmp
	pick_ports 8
}

# peers_in N FIRST LAST: --peers for nodeN, the others of nodeFIRST..LAST.
peers_in() {
	local i out=""
	for ((i = $2; i <= $3; i++)); do
		[ "$i" = "$1" ] && continue
		out="$out${out:+,}node$i=$(member_addr "$i")"
	done
	echo "$out"
}

# cluster_a [flags]: nodes 1-3, N=3.  cluster_b: nodes 4-8, N=3.
cluster_a() {
	local i
	for i in 1 2 3; do
		start_peer "$i" 3 "$(peers_in "$i" 1 3)" "$@"
	done
	wait_for 10 ready node1 node2 node3
}

cluster_b() {
	local i
	for i in 4 5 6 7 8; do
		start_peer "$i" 3 "$(peers_in "$i" 4 8)" "$@"
	done
	wait_for 10 ready node4 node5 node6 node7 node8
}

kv() {
	timeout 60 "$KVCTL" "$@"
}

# fill NODE PREFIX COUNT: PUTs PREFIX0000 .. through NODE's /batch.
fill() {
	local from=0 n
	while [ "$from" -lt "$3" ]; do
		n=$(($3 - from < 500 ? $3 - from : 500))
		jq -nc --arg p "$2" --argjson a "$from" --argjson n "$n" \
		    '{ops: [range($a; $a + $n) | {op: "put",
		      key: ($p + ("0000" + tostring)[-4:]), value: ("v" + tostring)}]}' |
		    c -X POST -H 'Content-Type: application/json' --data-binary @- \
		    "$(url "$1")/batch" | jq -e '[.results[].status] | all(. < 300)' \
		    >/dev/null || return 1
		from=$((from + n))
	done
}

# all_keys URL [QUERY] [LIMIT]: every key of the listing through URL,
# one per line, following next (python: pages, keys, then "complete" and
# the pages' count on the last line).
all_keys() {
	python3 - "$1" "${2:-}" "${3:-1000}" <<'EOF'
import json, sys, urllib.parse, urllib.request
base, query, limit = sys.argv[1], sys.argv[2], sys.argv[3]
after, complete, pages = None, True, 0
while True:
    q = "limit=" + limit + (("&" + query) if query else "")
    if after is not None:
        q += "&after=" + urllib.parse.quote(after, safe="")
    with urllib.request.urlopen(base + "/kv?" + q, timeout=10) as r:
        page = json.load(r)
    pages += 1
    complete = complete and page["complete"]
    for k in page.get("keys", []):
        print(k)
    for it in page.get("items", []):
        print(it["key"])
    after = page["next"]
    if after is None:
        break
print("complete=%s pages=%d" % (complete, pages))
EOF
}

# expect_keys PREFIX COUNT: PREFIX0000 .. in byte order.
expect_keys() {
	local i
	for ((i = 0; i < $2; i++)); do
		printf '%s%04d\n' "$1" "$i"
	done
}

@test "one node down (N=3): listing through either survivor still lists every key, complete" {
	cluster_a
	fill node1 k/ 300
	put node1 other v
	kill_node node2
	expect_keys k/ 300 >"$TMP/want"
	for n in node1 node3; do
		all_keys "$(url "$n")" "prefix=k%2F" 70 >"$TMP/got"
		[ "$(tail -1 "$TMP/got")" = "complete=True pages=5" ]
		head -n -1 "$TMP/got" | diff "$TMP/want" -
	done
	# kvctl ls follows the pages and prints the same keys.
	run_split 30 "$KVCTL" --server "$(url node3)" ls k/
	[ "$rc" = 0 ]
	[ "$out" = "$(cat "$TMP/want")" ]
	# The dead member was asked once and a spare stood in (or it was
	# skipped as known down): node1 and node3 answered.
	c -D "$TMP/h" -o /dev/null "$(url node1)/kv?limit=1"
	grep -qi '^X-Kvd-Answered: node1,node3' "$TMP/h"
	# ?r=3 needs all three replicas of every range: not complete.
	[ "$(c "$(url node1)/kv?prefix=k%2F&r=3&limit=5" | jq .complete)" = false ]
	run_split 30 "$KVCTL" --server "$(url node1)" --r 3 ls k/
	[ "$rc" = 5 ]
	[[ $err == *"not complete"* ]]
}

# A member that judged ownership under another view makes a page not
# complete.  A member gossip admits brings its entry at ver 0, so the
# views before and after carry one version: compared by version, node2's
# answer, without the ranges node4 took from it, passed for node1's
# view's, and a page at r=2 said complete with one replica of those.
@test "a member admitted by gossip that the coordinator has not heard of: its view has the same version, yet a page at r=2 is not complete" {
	local i
	KVD_FAILPOINTS=gossip-members-ignore@1+ \
	    start_peer 1 3 "$(peers_in 1 1 3)"
	for i in 2 3; do
		start_peer "$i" 3 "$(peers_in "$i" 1 3)"
	done
	wait_for 10 ready node1 node2 node3
	fill node1 k/ 300
	start_peer 4 3 "node2=$(member_addr 2)"
	wait_for 30 eval '[ "$(nodes node2 | jq ".members | length")" = 4 ] &&
	    [ "$(nodes node3 | jq ".members | length")" = 4 ]'
	[ "$(nodes node1 | jq '.members | length')" = 3 ]
	[ "$(nodes node1 | jq .version)" = "$(nodes node2 | jq .version)" ]
	run c "$(url node1)/kv?prefix=k%2F&r=2&limit=1000"
	jq -c '{n: (.keys | length), complete}' <<<"$output"
	[ "$(jq .complete <<<"$output")" = false ]
	# At r=1 too (node1's own view is the one behind): every key it
	# holds is listed, and the page does not claim more.
	run c "$(url node1)/kv?prefix=k%2F&limit=1000"
	[ "$(jq '.keys | length' <<<"$output")" = 300 ]
	[ "$(jq .complete <<<"$output")" = false ]
	# Through node2, whose view node3 shares, the page is complete.
	wait_for 30 eval '[ "$(c "$(url node2)/kv?prefix=k%2F&r=2&limit=1000" |
	    jq -c "[(.keys | length), .complete]")" = "[300,true]" ]'
}

@test "a hung node (SIGSTOP) costs a page with values one peer timeout, not 10 s: curl and kvctl dump answer, complete false at r=3" {
	# The default --peer-timeout-ms, as the user who found it ran: a
	# values answer was given that plus 8 s, kvctl's whole --timeout.
	cluster_a --peer-timeout-ms 2000
	fill node1 k/ 300
	expect_keys k/ 300 >"$TMP/want"
	kill -STOP "$(pid_of node3)"
	# r=3 asks every member, node3 among them, whatever its health; both
	# start before node1 or node2 has failed a call to it.
	curl -sS --max-time 30 -D "$TMP/h" -o "$TMP/page" -w '%{time_total}' \
	    "$(url node1)/kv?prefix=k%2F&limit=5&values=1&r=3" >"$TMP/took" &
	local cpid=$!
	BG+=("$cpid")
	# kvctl's default --timeout (10 s) bounds each page.
	run_split 60 "$KVCTL" --server "$(url node2)" --r all dump k/
	echo "dump --r all: rc=$rc err=$err"
	wait "$cpid"
	echo "curl took $(cat "$TMP/took") s"; cat "$TMP/h"
	[ "$rc" = 5 ]
	[[ $err == *"not complete"* ]]
	[ "$(echo "$out" | jq -r .key)" = "$(cat "$TMP/want")" ]
	jq -e '.complete == false and ([.items[].key] ==
	    ["k/0000", "k/0001", "k/0002", "k/0003", "k/0004"])' "$TMP/page"
	grep -qi '^X-Kvd-Asked: .*node3' "$TMP/h"
	grep -qi '^X-Kvd-Answered: node1,node2' "$TMP/h"
	# At the default r a spare stands in: every key, complete.
	run_split 60 "$KVCTL" --server "$(url node1)" dump k/
	[ "$rc" = 0 ]
	[ "$(echo "$out" | jq -r .key)" = "$(cat "$TMP/want")" ]
	kill -CONT "$(pid_of node3)"
}

@test "a page of many rounds (a run of deleted keys) asks a hung member once, not in every round" {
	cluster_a --peer-timeout-ms 2000 --log-level debug
	fill node1 k/ 100
	# k/0000..k/0059 deleted: at limit=5 each round brings 5 tombstones,
	# so the page takes 13 rounds to reach k/0060.
	jq -nc '{ops: [range(0; 60) | {op: "delete",
	    key: ("k/" + ("0000" + tostring)[-4:])}]}' |
	    c -X POST -H 'Content-Type: application/json' --data-binary @- \
	    "$(url node1)/batch" | jq -e '[.results[].status] | all(. < 300)'
	kill -STOP "$(pid_of node3)"
	curl -sS --max-time 60 -D "$TMP/h" -o "$TMP/page" -w '%{time_total}' \
	    "$(url node1)/kv?prefix=k%2F&limit=5&values=1&r=3" >"$TMP/took"
	echo "took $(cat "$TMP/took") s"; cat "$TMP/h" "$TMP/page"
	kill -CONT "$(pid_of node3)"
	jq -e '.complete == false and ([.items[].key] ==
	    ["k/0060", "k/0061", "k/0062", "k/0063", "k/0064"])' "$TMP/page"
	grep -qi '^X-Kvd-Answered: node1,node2' "$TMP/h"
	# node1 called node3 for the page's first round only: one peer
	# timeout, not one a round until node3's link was down.
	grep 'listing call failed' "$TMP/node1.log" || true
	[ "$(grep -c 'listing call failed.*peer=node3' "$TMP/node1.log")" = 1 ]
}

@test "5 nodes, N=3, one down: every key once, through any node; a node answers only keys it owns" {
	cluster_b
	fill node4 f/ 400
	expect_keys f/ 400 >"$TMP/want"
	# A member's own part is only what it owns: about 3/5 of the keys.
	owned=$(c "$(url node5)/internal/list?prefix=f%2F&limit=1000" | grep -c '^{')
	[ "$owned" -gt 150 ] && [ "$owned" -lt 350 ]
	kill_node node6
	for n in node4 node5 node7 node8; do
		all_keys "$(url "$n")" "prefix=f%2F" 90 >"$TMP/got"
		tail -1 "$TMP/got" | grep -q '^complete=True'
		head -n -1 "$TMP/got" | diff "$TMP/want" -
	done
	# M - N + max(r, N - W + 1) = 5 - 3 + 2 = 4 members are asked.
	c -D "$TMP/h" -o /dev/null "$(url node4)/kv?limit=1"
	asked=$(tr -d '\r' <"$TMP/h" | awk -F': ' 'tolower($1) == "x-kvd-answered" { print $2 }')
	[ "$(echo "$asked" | tr ',' '\n' | sort -u | wc -l)" = 4 ]
}

@test "a deleted key is never listed, even when one replica missed the delete" {
	cluster_a --anti-entropy-interval 0
	for k in a gone z; do
		[ "$(put node1 "$k" "v-$k")" = 201 ]
	done
	# The delete reaches node1 and node2 only (W=2), as a tombstone that
	# descends from the value; node3 keeps the stale value.
	c "$(url node1)/internal/fetch/gone" | jq -c '
	    .v.tombstone = true | del(.v.value) | .v.ts += 1 |
	    .v.clock[.v.actor] += 1' >"$TMP/tomb"
	for n in node1 node2; do
		c -X POST --data-binary @"$TMP/tomb" "$(url "$n")/internal/replicate" |
		    jq -e .applied
	done
	c "$(url node3)/internal/fetch/gone" | jq -e '.v.tombstone == false'
	# node3's own part still has the value...
	c "$(url node3)/internal/list" | grep -q '"key":"gone".*"tombstone":false'
	# ...but no listing shows the key, through any node, at any r.
	for n in node1 node2 node3; do
		for q in "" "r=1" "r=2" "r=3" "values=1"; do
			body=$(c "$(url "$n")/kv?$q")
			echo "$n $q: $body"
			[ "$(echo "$body" | jq -c '[.keys // [.items[].key]][0]')" = '["a","z"]' ]
		done
	done
	run_split 20 "$KVCTL" --server "$(url node3)" ls
	[ "$out" = $'a\nz' ]
	run_split 20 "$KVCTL" --server "$(url node3)" dump
	[ "$(echo "$out" | jq -r .key | tr '\n' ' ')" = "a z " ]
}

@test "an expired key is never listed; dump carries expires_ms and load the seconds left" {
	cluster_a
	[ "$(put node1 keep v-keep)" = 201 ]
	[ "$(c -o /dev/null -w '%{http_code}' -X PUT --data-binary '{"value":"brief"}' \
	    "$(url node1)/kv/brief?ttl=2")" = 201 ]
	[ "$(c -o /dev/null -w '%{http_code}' -X PUT --data-binary '{"value":"long"}' \
	    "$(url node1)/kv/long?ttl=600")" = 201 ]
	c "$(url node2)/kv?values=1" >"$TMP/page"
	[ "$(jq -c '[.items[].key]' "$TMP/page")" = '["brief","keep","long"]' ]
	jq -e '.items[] | select(.key == "long") | .expires_ms > 0' "$TMP/page"
	jq -e '.items[] | select(.key == "keep") | has("expires_ms") | not' "$TMP/page"
	run_split 20 "$KVCTL" --server "$(url node2)" dump
	[ "$rc" -eq 0 ]
	echo "$out" >"$TMP/dump"
	[ "$(jq -c 'select(.key == "long") | .expires_ms > 0' "$TMP/dump")" = true ]
	[ "$(jq -c 'select(.key == "keep") | has("expires_ms")' "$TMP/dump")" = false ]
	# brief's TTL runs out: gone from every listing, at every r.
	sleep 2.2
	for n in node1 node2 node3; do
		for q in "" "r=3" "values=1"; do
			[ "$(c "$(url "$n")/kv?$q" | jq -c '.keys // [.items[].key]')" = '["keep","long"]' ]
		done
	done
	# Load the earlier dump into a fresh cluster: brief is skipped as
	# expired, long keeps a TTL (its end no earlier than in the source),
	# keep gets none.
	cluster_b
	run_split 60 "$KVCTL" --server "$(url node4)" load <"$TMP/dump"
	echo "$out"
	[ "$rc" -eq 0 ]
	[ "$out" = "lines 3, written 2, unchanged 0, expired 1, failed 0" ]
	[ "$(code "$(url node5)/kv/brief")" = 404 ]
	src=$(jq 'select(.key == "long") | .expires_ms' "$TMP/dump")
	got=$(c "$(url node5)/kv/long" | jq .expires_ms)
	[ "$got" -ge "$src" ] && [ "$got" -le $((src + 2000)) ]
	[ "$(c "$(url node5)/kv/keep" | jq 'has("expires_ms")')" = false ]
	# A second load finds every line as the first left it.
	run_split 60 "$KVCTL" --server "$(url node6)" load <"$TMP/dump"
	[ "$out" = "lines 3, written 0, unchanged 2, expired 1, failed 0" ]
}

@test "paging with after visits every key exactly once while writers add keys" {
	cluster_a
	fill node1 p/ 600
	# Writers add new keys between the existing ones, through every node.
	for n in node1 node2 node3; do
		(
			i=0
			while [ $i -lt 2000 ]; do
				curl -s -o /dev/null --max-time 5 -X PUT \
				    -d '{"value":"new"}' "$(url "$n")/kv/p%2F$(printf %04d $((i % 600)))-$n-$i"
				i=$((i + 1))
			done
		) 3>&- &
		BG+=($!)
	done
	sleep 0.3
	all_keys "$(url node2)" "prefix=p%2F" 37 >"$TMP/got"
	stop_bg
	tail -1 "$TMP/got" | grep -q '^complete=True'
	head -n -1 "$TMP/got" >"$TMP/keys"
	# Strictly increasing byte order: no key twice, none out of place.
	LC_ALL=C sort -u "$TMP/keys" | diff "$TMP/keys" -
	# Every key that existed throughout, exactly once.
	expect_keys p/ 600 >"$TMP/want"
	grep -vx '.*-node.*' "$TMP/keys" | diff "$TMP/want" -
	# And writers really did add keys meanwhile, some of which were seen.
	[ "$(grep -c -- '-node' "$TMP/keys")" -gt 0 ]
}

@test "bad parameters get a 400 that names them; /kv takes GET and HEAD only" {
	start_node n1
	U=$(url n1)
	long=$(printf 'x%.0s' $(seq 1 1025))
	while read -r query want; do
		body=$(c -w '\n%{http_code}' "$U/kv?$query")
		echo "$query -> $body"
		[ "${body##*$'\n'}" = 400 ]
		[ "$(echo "${body%$'\n'*}" | jq -r .code)" = "$want" ]
	done <<EOF
limit=0 bad_param
limit=10001 bad_param
limit=abc bad_param
limit= bad_param
limit=-1 bad_param
values=2 bad_param
values=yes bad_param
r=0 bad_param
r=9 bad_param
r=abc bad_param
after=%zz bad_param
prefix=%2 bad_param
prefix=$long bad_param
after=$long bad_param
limit=5&limit=6 bad_param
prefix=a&prefix=b bad_param
foo=1 unknown_param
raw=1 unknown_param
wait=x unknown_param
EOF
	for q in limit=1 limit=10000 values values=1 values=true values=0 \
	    values=false r=1 r=one r=all prefix= after= "prefix=a&after=b"; do
		[ "$(code "$U/kv?$q")" = 200 ]
	done
	[ "$(c "$U/kv?foo=1" | jq -r .error)" = "unknown parameter 'foo' (this route takes only: prefix after limit values r)" ]
	[ "$(code -X POST "$U/kv")" = 405 ]
	c -D - -o /dev/null -X DELETE "$U/kv" | grep -qi '^Allow: GET, HEAD'
	[ "$(code -I "$U/kv")" = 200 ]
	# /kv/ is still the key route: an empty key, and no listing parameters.
	[ "$(c "$U/kv/" | jq -r .code)" = bad_key ]
	run c "$U/kv/?prefix=a"
	[ "$(echo "$output" | jq -r .code)" = bad_key ]
	[[ "$(echo "$output" | jq -r .error)" == *'/kv?prefix=P'* ]]
	[ "$(c "$U/kv/k?prefix=a" | jq -r .code)" = unknown_param ]
	# The internal route is as strict.
	[ "$(code "$U/internal/list?limit=0")" = 400 ]
	[ "$(code "$U/internal/list?r=1")" = 400 ]
	# kvctl: flags that belong to another command are usage errors.
	run_split 10 "$KVCTL" --server "$U" ls --limit 0
	[ "$rc" = 2 ]
	run_split 10 "$KVCTL" --server "$U" get k --limit 5
	[ "$rc" = 2 ]
	run_split 10 "$KVCTL" --server "$U" ls --prefix a
	[ "$rc" = 2 ]
	run_split 10 "$KVCTL" --server "$U" delete --prefix a k
	[ "$rc" = 2 ]
	run_split 10 "$KVCTL" --server "$U" ls a b
	[ "$rc" = 2 ]
}

@test "dump a 3-node cluster, load it into a fresh 5-node cluster: byte-identical values, causality kept, load twice changes nothing" {
	cluster_a
	A=$(url node1)
	head -c 3000 /dev/urandom >"$TMP/bin"
	head -c 300000 /dev/urandom >"$TMP/big"
	printf 'line one\nline "two"\t\\ end' >"$TMP/text"
	: >"$TMP/empty"
	kv --server "$A" put bin @"$TMP/bin"
	kv --server "$A" put big @"$TMP/big"
	kv --server "$A" put "dir/sub/text" @"$TMP/text"
	kv --server "$A" put "with space" @"$TMP/empty"
	kv --server "$A" put "ünïcødé/日本語 key" "値"
	kv --server "$A" put -- -dash x
	kv --server "$A" put deleted "x"
	kv --server "$A" delete deleted
	fill node2 many/ 700
	run_split 60 "$KVCTL" --server "$A" dump
	[ "$rc" = 0 ]
	echo "$out" >"$TMP/dump"
	[ "$(wc -l <"$TMP/dump")" = 706 ]
	! grep -q '"deleted"' "$TMP/dump"
	grep '"key":"bin"' "$TMP/dump" | jq -e '.value_b64 and .context'

	cluster_b
	B=$(url node6)
	run_split 120 "$KVCTL" --server "$B,$(url node7)" load <"$TMP/dump"
	echo "$out $err"
	[ "$rc" = 0 ]
	[ "$out" = "lines 706, written 706, unchanged 0, expired 0, failed 0" ]
	# Every value byte for byte.
	for k in bin big dir/sub/text "with space"; do
		kv --server "$(url node8)" get "$k" >"$TMP/got"
		case $k in
		bin) cmp "$TMP/bin" "$TMP/got" ;;
		big) cmp "$TMP/big" "$TMP/got" ;;
		dir/sub/text) cmp "$TMP/text" "$TMP/got" ;;
		*) cmp "$TMP/empty" "$TMP/got" ;;
		esac
	done
	[ "$(kv --server "$B" get "ünïcødé/日本語 key")" = "値" ]
	# The whole data set: dumps of A and B agree but for the contexts.
	run_split 60 "$KVCTL" --server "$(url node5)" dump
	[ "$rc" = 0 ]
	diff <(jq -c 'del(.context)' "$TMP/dump") <(echo "$out" | jq -c 'del(.context)')
	# The loaded version descends from the dumped one: its clock holds
	# cluster A's actor with at least the dumped counter.
	actor=$(c "$A/internal/fetch/bin" | jq -r '.v.clock | keys[0]')
	counter=$(c "$A/internal/fetch/bin" | jq -r ".v.clock[\"$actor\"]")
	for n in node4 node5 node6 node7 node8; do
		c "$(url "$n")/internal/fetch/bin" >"$TMP/v" || continue
		[ "$(jq -r ".v.clock[\"$actor\"] // 0" "$TMP/v")" -ge "$counter" ] || continue
		found=1
	done
	[ "${found:-}" = 1 ]
	# Loading again writes nothing.
	run_split 120 "$KVCTL" --server "$B" load <"$TMP/dump"
	[ "$rc" = 0 ]
	[ "$out" = "lines 706, written 0, unchanged 706, expired 0, failed 0" ]
	# A changed value is written back; a bad line and a bad key fail,
	# are counted and named, and make the exit status non-zero.
	kv --server "$B" put many/0001 changed
	{
		grep '"many/0001"' "$TMP/dump"
		echo 'not json'
		echo '{"key":"","value":"x"}'
		echo '{"key":"k","value":"x","extra":1}'
	} >"$TMP/part"
	run_split 60 "$KVCTL" --server "$B" load <"$TMP/part"
	echo "$out $err"
	[ "$rc" = 4 ]
	[ "$out" = "lines 4, written 1, unchanged 0, expired 0, failed 3" ]
	[[ $err == *"line 2: not valid JSON at byte 0 (want"* ]]
	[[ $err == *"line 3: empty key"* ]]
	[[ $err == *'line 4: unknown field "extra"'* ]]
	[ "$(kv --server "$B" get many/0001)" = v1 ]
	run_split 60 "$KVCTL" --server "$B" --json load <"$TMP/part"
	[ "$(echo "$out" | jq -c .)" = '{"lines":4,"written":0,"unchanged":1,"expired":0,"failed":3}' ]
}

@test "load and delete --all: a batch the server refuses whole (400) fails only its bad line or key" {
	cluster_a
	U=$(url node1)
	{
		echo '{"key":"a1","value":"1"}'
		echo '{"key":"a2","value":"2","context":"not-an-etag"}'
		echo '{"key":"a3","value":"3"}'
		echo '{"key_b64":"/w==","value":"bin"}'	# not UTF-8: no public route takes it
		printf '\n \t \r\n'	# blank lines are skipped, not failed
	} >"$TMP/mixed"
	run_split 60 "$KVCTL" --server "$U" load <"$TMP/mixed"
	echo "$out $err"
	[ "$rc" = 4 ]
	[ "$out" = "lines 4, written 2, unchanged 0, expired 0, failed 2" ]
	[[ $err == *'line 2: 400 bad "context"'* ]]
	[[ $err == *"line 4: 400 bad key"* ]]
	[[ $err != *"line 1"* && $err != *"line 3"* ]]
	[ "$(kv --server "$U" get a3)" = 3 ]
	# The check batch is split too: the good lines are found unchanged.
	run_split 60 "$KVCTL" --server "$U" load <"$TMP/mixed"
	echo "$out $err"
	[ "$out" = "lines 4, written 0, unchanged 2, expired 0, failed 2" ]
	# A key only node-to-node paths can make (not UTF-8): delete --all
	# deletes it with the others (a 400 bad key, and it stayed, before).
	c -X POST -d '{"key_b64":"/w==","v":{"clock":{"x.1":1},"ts":1,"actor":"x.1","tombstone":false,"value":"bin"}}' \
	    "$U/internal/replicate" | jq -e .applied
	run_split 60 "$KVCTL" --server "$U" dump
	echo "$out $err"
	[ "$rc" = 0 ]
	[ "$(printf '%s\n' "$out" | jq -r 'select(.key_b64 == "/w==") | .value')" = bin ]
	run_split 60 "$KVCTL" --server "$U" delete --all --yes
	echo "$out $err"
	[ "$rc" = 0 ]
	[ "$err" = "kvctl: deleted 3 keys" ]
	[ -z "$(kv --server "$U" ls)" ]
}

# batch_requests URL: the POST /batch requests URL's node has answered,
# whatever their status (kvd_requests_total).
batch_requests() {
	curl -s --max-time 60 "$1/metrics" | awk '
		/^kvd_requests_total\{route="\/batch",method="POST",/ { n += $2 }
		END { print n + 0 }'
}

@test "load and delete --all: a 400 naming the bad op fails that line or key, and the rest goes in one request, not in halves" {
	local before after
	start_node n1
	U=$(url n1)
	python3 -c '
import json
for i in range(100):
    line = {"key": "r/%03d" % i, "value": "v%d" % i}
    if i == 50:
        line["context"] = "not-an-etag"
    print(json.dumps(line))' >"$TMP/dump"
	before=$(batch_requests "$U")
	run_split 60 "$KVCTL" --server "$U" load <"$TMP/dump"
	after=$(batch_requests "$U")
	echo "rc=$rc out=$out err=$err /batch requests: $before -> $after"
	[ "$rc" = 4 ]
	[ "$out" = "lines 100, written 99, unchanged 0, expired 0, failed 1" ]
	[ "$err" = 'kvctl: load: line 51: 400 bad "context": not an ETag this store issued' ]
	[ "$(kv --server "$U" get r/049)" = v49 ] && [ "$(kv --server "$U" get r/051)" = v51 ]
	# The check, the batch refused, the other 99: halves took 14.
	[ $((after - before)) -le 3 ]
	# A key no public route writes (not UTF-8) amid the others: delete
	# --all deletes it with the 99, in one request.
	c -X POST -d '{"key_b64":"ci8wNf8=","v":{"clock":{"x.1":1},"ts":1,"actor":"x.1","tombstone":false,"value":"bin"}}' \
	    "$U/internal/replicate" | jq -e .applied
	before=$(batch_requests "$U")
	run_split 60 "$KVCTL" --server "$U" delete --all --yes
	after=$(batch_requests "$U")
	echo "rc=$rc out=$out err=$err /batch requests: $before -> $after"
	[ "$rc" = 0 ]
	[ "$err" = "kvctl: deleted 100 keys" ]
	[ -z "$(kv --server "$U" ls)" ]
	[ $((after - before)) -le 1 ]
}

# rewritten: the writer below has rewritten hot/0299 at least once.
rewritten() {
	c "$(url node1)/kv/hot%2F0299" | jq -e '.value | startswith("g")' >/dev/null
}

@test "load: a batch the server refuses as too large (413) goes one PUT per line; every line written" {
	cluster_a --max-body 4096
	python3 -c '
import json
for i in range(40):
    print(json.dumps({"key": "big/%02d" % i, "value": "x" * 300 + str(i)}))' >"$TMP/dump"
	run_split 60 "$KVCTL" --server "$(url node1)" load <"$TMP/dump"
	echo "$out $err"
	[ "$rc" -eq 0 ]
	[ "$out" = "lines 40, written 40, unchanged 0, expired 0, failed 0" ]
	[ "$(c "$(url node2)/kv/big/39" | jq -r .value)" = "$(printf 'x%.0s' $(seq 300))39" ]
}

@test "a dump taken while a writer rewrites keys has each key once, each value whole" {
	cluster_a
	fill node1 hot/ 300
	(
		g=0
		while [ $g -lt 200 ]; do
			for i in 0001 0100 0200 0299; do
				v=$(printf "g$g-%.0s" $(seq 1 300))
				curl -s -o /dev/null --max-time 5 -X PUT -d "{\"value\":\"$v\"}" \
				    "$(url node2)/kv/hot%2F$i"
			done
			g=$((g + 1))
		done
	) 3>&- &
	BG+=($!)
	wait_for 20 rewritten
	for round in 1 2 3; do
		run_split 60 "$KVCTL" --server "$(url node3)" dump hot/
		[ "$rc" = 0 ]
		echo "$out" >"$TMP/dump"
		[ "$(wc -l <"$TMP/dump")" = 300 ]
		[ "$(jq -r .key "$TMP/dump" | sort -u | wc -l)" = 300 ]
		# A rewritten value is one generation all through, never a mix.
		[ "$(jq -r '.value' "$TMP/dump" | grep -c '^g')" -ge 1 ]
		jq -r '.value' "$TMP/dump" | grep '^g' | awk -F- '
		    { for (i = 1; i <= NF; i++) if ($i != "" && $i != $1) bad = 1 }
		    END { exit bad }'
		[ "$(jq -r '.value' "$TMP/dump" | grep '^g' | awk '{ print length($0) }' |
		    sort -u | wc -l)" -le 4 ]
	done
}

@test "kvctl ls, --limit, --json; delete --prefix asks on a terminal, needs --yes elsewhere" {
	start_node n1
	U=$(url n1)
	fill n1 a/ 30
	put n1 b v
	run_split 10 "$KVCTL" --server "$U" ls a/ --limit 3
	[ "$rc" = 0 ]
	[ "$out" = $'a/0000\na/0001\na/0002' ]
	run_split 10 "$KVCTL" --server "$U" ls --json --limit 2
	[ "$out" = '{"keys":["a/0000","a/0001"],"complete":true}' ]
	[ "$(kv --server "$U" ls | wc -l)" = 31 ]
	[ "$(kv --server "$U" ls --json | jq '.keys | length')" = 31 ]
	# Not a terminal, no --yes: refused, nothing deleted.
	run_split 10 "$KVCTL" --server "$U" delete --prefix a/ </dev/null
	[ "$rc" = 2 ]
	[[ $err == *"--yes"* ]]
	[ "$(kv --server "$U" ls a/ | wc -l)" = 30 ]
	# On a terminal it says how many and asks: no keeps them, y deletes.
	for answer in n y; do
		answer_on_tty "$answer" "$KVCTL" --server "$U" delete --prefix a/ \
		    >"$TMP/pty"
		cat "$TMP/pty"
		grep -q "Delete 30 keys that start with 'a/'? \[y/N\]" "$TMP/pty"
		if [ "$answer" = n ]; then
			# Declined: said so, with an exit status of its own.
			grep -q 'kvctl: aborted: nothing deleted' "$TMP/pty"
			grep -q 'exit=6' "$TMP/pty"
			[ "$(kv --server "$U" ls a/ | wc -l)" = 30 ]
		else
			grep -q 'exit=0' "$TMP/pty"
			grep -q 'deleted 30 keys' "$TMP/pty"
		fi
	done
	[ "$(kv --server "$U" ls)" = b ]
	fill n1 c/ 1500
	run_split 30 "$KVCTL" --server "$U" --json delete --prefix c/ --yes
	[ "$rc" = 0 ]
	[ "$out" = '{"deleted":1500,"failed":0,"complete":true}' ]
	[ "$(kv --server "$U" ls)" = b ]
	[ "$(code "$U/kv/c%2F0007")" = 404 ]
}

@test "right after a restart a listing waits for the key index: every key, one written meanwhile too; /ready once it is built" {
	start_node n1
	kv --server "$(url n1)" bench --keys 100000 --size 8 --prefill -n 1 \
	    -t get >/dev/null
	kill_node n1
	start_node n1
	# No wait for /ready: the index may still be being built, and what
	# needs it waits for it.
	[ "$(put n1 zz-written-at-start v)" = 201 ]
	kv --server "$(url n1)" ls >"$TMP/ls"
	[ "$(wc -l <"$TMP/ls")" -eq 100001 ]
	[ "$(head -1 "$TMP/ls")" = key:000000000000 ]
	[ "$(tail -1 "$TMP/ls")" = zz-written-at-start ]
	LC_ALL=C sort -c "$TMP/ls"
	wait_for 10 ready n1
}

@test "load of big values: the check asks again for what an answer had no room for (8 MiB), so a second load writes nothing; a dump of them has every value whole" {
	cluster_a
	local out rc
	# 20 lines of 600 KB values: 12 MB, more than one batch answer holds.
	python3 -c '
import json, sys
for i in range(20):
    print(json.dumps({"key": "big%02d" % i, "value": chr(97 + i % 26) * 600000}))' >"$TMP/big.jsonl"
	run_split 120 "$KVCTL" --server "$(url node1)" load <"$TMP/big.jsonl"
	echo "$out"
	[ "$rc" -eq 0 ]
	[ "$out" = "lines 20, written 20, unchanged 0, expired 0, failed 0" ]
	run_split 120 "$KVCTL" --server "$(url node2)" load <"$TMP/big.jsonl"
	echo "$out"
	[ "$rc" -eq 0 ]
	[ "$out" = "lines 20, written 0, unchanged 20, expired 0, failed 0" ]
	# Pages of 8 MiB of values from the other members: the dump has them
	# all, each whole.
	run_split 120 "$KVCTL" --server "$(url node3)" dump big
	[ "$rc" -eq 0 ]
	[ "$(echo "$out" | jq -c '[.key, (.value | length)]' | sort -u |
	    awk -F, '$2 == "600000]"' | wc -l)" -eq 20 ]
}

@test "load: a line that expires further off than kvd's longest TTL (ten years) fails, naming the limit, and the others load; one a few seconds past it loads at the limit" {
	start_node n1
	local u now far
	u=$(url n1)
	[ "$(c -o /dev/null -w '%{http_code}' -X PUT --data-binary '{"value":"v"}' \
	    "$u/kv/src?ttl=600")" = 201 ]
	run_split 20 "$KVCTL" --server "$u" dump
	[ "$rc" -eq 0 ]
	# An edited dump: far 11 years off, edge 20 s past the limit (a key
	# put with the longest TTL, loaded by a kvctl whose clock is behind),
	# near as dumped.
	now=$(now_ms)
	far=$((now + 11 * 365 * 86400 * 1000))
	echo "$out" | jq -c --argjson far "$far" \
	    --argjson edge $((now + (315360000 + 20) * 1000)) '
	    del(.context) | (.key = "far" | .expires_ms = $far),
	    (.key = "edge" | .expires_ms = $edge), (.key = "near")' >"$TMP/dump"
	cat "$TMP/dump"
	run_split 20 "$KVCTL" --server "$u" load <"$TMP/dump"
	echo "rc=$rc [$out] [$err]"
	[ "$rc" -eq 4 ]
	[ "$out" = "lines 3, written 2, unchanged 0, expired 0, failed 1" ]
	[ "$err" = "kvctl: load: line 1: expires_ms $far is 11.0 years away (on kvctl's clock), past the longest TTL kvd takes, 315360000 s (ten years): not written; lower expires_ms, or remove it to load the key without a TTL" ]
	[ "$(code "$u/kv/far")" = 404 ]
	local got
	got=$(c "$u/kv/edge" | jq .expires_ms)
	[ "$got" -ge $((now + 315360000 * 1000)) ]
	[ "$got" -le $((now + (315360000 + 20) * 1000)) ]
	[ "$(c "$u/kv/near" | jq .value)" = '"v"' ]
}

@test "load names what is wrong with a malformed line: not an object, an empty key, no value, an unknown field (a long name cut between UTF-8 characters), bad base64, a member of the wrong type" {
	start_node n1
	local u
	u=$(url n1)
	cat >"$TMP/bad" <<'JSONL'
{"key":"ok1","value":"v"}
[1,2]
{"key":"","value":"v"}
{"key":"k4"}
{"key":"k5","value":"v","foo":1}
{"key":"k6","value_b64":"!!notbase64"}
{"key_b64":"%%","value":"v"}
{"key":"k8","value":7}
{"key":"k9","value":"v","context":3}
{"key":"k10","value":"v","expires_ms":-5}
{"value":"v"}
{"key":"k12","value":"v","EE€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€":1}
JSONL
	run_split 20 "$KVCTL" --server "$u" load <"$TMP/bad"
	echo "rc=$rc [$out]"
	echo "$err"
	[ "$rc" -eq 4 ]
	[ "$out" = "lines 12, written 1, unchanged 0, expired 0, failed 11" ]
	[ "$err" = 'kvctl: load: line 2: not a JSON object (want {"key":...,"value":...,"context":...}, as dump writes)
kvctl: load: line 3: empty key
kvctl: load: line 4: no "value" or "value_b64"
kvctl: load: line 5: unknown field "foo" (a dump line has key or key_b64, value or value_b64, context, expires_ms)
kvctl: load: line 6: value_b64 is not base64
kvctl: load: line 7: key_b64 is not base64
kvctl: load: line 8: "value" is not a string
kvctl: load: line 9: "context" is not a string
kvctl: load: line 10: "expires_ms" is not a positive integer (Unix ms)
kvctl: load: line 11: no "key" or "key_b64"
kvctl: load: line 12: unknown field "EE€€€€€€€€€€€€€€€€€€€€" (a dump line has key or key_b64, value or value_b64, context, expires_ms)' ]
	[ "$(c "$u/kv/ok1" | jq -r .value)" = v ]
}

@test "load says why a line is not JSON: a raw tab, a lone surrogate, a byte that is not UTF-8, a line cut short" {
	start_node n1
	local u
	u=$(url n1)
	{
		echo '{"key":"ok1","value":"v"}'
		printf '{"key":"t","value":"a\tb"}\n'
		python3 -c 'import json; print(json.dumps({"key": "s", "value": b"\xff".decode("utf-8", "surrogateescape")}))'
		printf '{"key":"u","value":"\377"}\n'
		echo '{"key":"c","value":"x"'
	} >"$TMP/bad"
	run_split 20 "$KVCTL" --server "$u" load <"$TMP/bad"
	echo "rc=$rc [$out]"
	echo "$err"
	[ "$rc" -eq 4 ]
	[ "$out" = "lines 5, written 1, unchanged 0, expired 0, failed 4" ]
	[ "$err" = 'kvctl: load: line 2: not valid JSON: byte 21 is a raw control character, 0x09 (a tab: \t): inside a string JSON takes it only escaped (\n, \t, \u00XX)
kvctl: load: line 3: not valid JSON: \uDCFF at byte 23 is a lone UTF-16 surrogate, half of a pair, which is no text (a value that is not text goes as value_b64, as dump writes it)
kvctl: load: line 4: not valid JSON: byte 20 is not UTF-8 (JSON carries text: a value that is not text goes as value_b64, as dump writes it)
kvctl: load: line 5: not valid JSON: the line ends before the JSON does, at byte 22 (want {"key":...,"value":...,"context":...}, as dump writes)' ]
	[ "$(c "$u/kv/ok1" | jq -r .value)" = v ]
}

@test "load sends a TTL as the seconds left when its request goes: a line behind a slow PUT of a big value is not moved later by that wait, and one that ran out meanwhile is counted expired, not written" {
	# A stand-in server: every key is absent, a PUT (a big value, sent
	# alone) takes 3 s, a batch of puts is recorded (key and ttl).
	start_standin slowput "$TMP/puts" <<'PY'
import json, sys, time, standin
class H(standin.Handler):
    protocol_version = "HTTP/1.1"
    def do_PUT(self):
        self.body()
        time.sleep(3)
        self.answer(201, {"key": "big"})
    def do_POST(self):
        ops = json.loads(self.body())["ops"]
        if ops and ops[0]["op"] == "put":
            with open(sys.argv[2], "a") as f:
                for o in ops:
                    f.write("%s %s\n" % (o.get("key_b64"), o.get("ttl")))
            return self.answer(200, {"results": [{"status": 201}
                                                 for o in ops]})
        self.answer(200, {"results": [{"status": 404, "error": "not found"}
                                      for o in ops]})
standin.serve(H, sys.argv[1])
PY
	local now
	now=$(now_ms)
	{
		printf '{"key":"big","value":"%s"}\n' "$(head -c 200000 /dev/zero | tr '\0' x)"
		jq -nc --argjson e $((now + 100000)) '{key: "t", value: "v", expires_ms: $e}'
		jq -nc --argjson e $((now + 1500)) '{key: "brief", value: "v", expires_ms: $e}'
	} >"$TMP/dump"
	run_split 60 "$KVCTL" --server "$(url slowput)" \
	    load --parallel 1 <"$TMP/dump"
	echo "rc=$rc [$out] [$err]"
	cat "$TMP/puts"
	[ "$rc" -eq 0 ]
	[ "$out" = "lines 3, written 2, unchanged 0, expired 1, failed 0" ]
	# t went after the 3 s PUT: 97 s left then (100 when its line was read).
	[ "$(wc -l <"$TMP/puts")" -eq 1 ]
	local ttl
	ttl=$(awk '$1 == "dA==" { print $2 }' "$TMP/puts")
	[ "$ttl" -ge 1 ] && [ "$ttl" -le 98 ]
}
