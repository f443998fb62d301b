#!/usr/bin/env bats
# test/auth.bats -- peer authentication with --cluster-secret-file: two
# nodes sharing a secret replicate; nodes with different secrets cannot;
# every /internal/ route refuses a request that is unsigned, wrongly
# signed, stale or replayed (401 with a JSON reason); the public routes
# need no signature; a secret file readable by group or others, or too
# short, stops kvd at start-up with status 2; kvd warns when it listens
# beyond loopback without a secret; and a member whose secret is not
# the others' (another one, none, or one where they have none) says so:
# its /ready, its links in /cluster/nodes and its log, once per member;
# kvctl status and cluster nodes -o table name each failing link.
#
# Requests are signed here by a few lines of Python (hmac + hashlib)
# that follow the string-to-sign pinned at the top of lib/auth.c, so the
# test also checks that the format is what the essay says.  Both nodes
# must know each other's ports before they start (--peers), so setup
# picks free loopback ports up front, as cluster.bats does.

load helpers

BATS_TEST_TIMEOUT=${BATS_TEST_TIMEOUT:-60}

setup() {
	setup_tmp
	pick_ports 2
	SECRET="$TMP/secret"
	printf '%s\n' 'bats-cluster-secret-0123456789abcdef' >"$SECRET"
	chmod 600 "$SECRET"
}

# start_member N SECRETFILE [flags...]: nodeN of a two-node cluster (n=2),
# on its fixed port, with the other node as its peer.
start_member() {
	local n=$1 secret=$2
	shift 2
	start_peer "$n" 2 "$(peers_of "$n" 2)" \
	    ${secret:+--cluster-secret-file "$secret"} "$@"
}

# sign_headers METHOD TARGET BODY [DATE_OFFSET [SECRETFILE]]: prints the
# three signature header lines for that request, dated now + DATE_OFFSET
# seconds, with a fresh random nonce.
sign_headers() {
	timeout 10 python3 - "${5:-$SECRET}" "$1" "$2" "$3" "${4:-0}" <<'EOF'
import hashlib, hmac, os, sys, time
key = open(sys.argv[1], "rb").read()
if key.endswith(b"\n"):
    key = key[:-1]
method, target, body, off = sys.argv[2], sys.argv[3], sys.argv[4].encode(), int(sys.argv[5])
date = str(int(time.time()) + off)
nonce = os.urandom(8).hex()
msg = "\n".join(["KVD1", method, target, date, nonce,
                 hashlib.sha256(body).hexdigest()]).encode()
print("X-Kvd-Date: " + date)
print("X-Kvd-Nonce: " + nonce)
print("X-Kvd-Signature: " + hmac.new(key, msg, hashlib.sha256).hexdigest())
EOF
}

# hargs LINES...: turns header lines into curl -H arguments in HARGS.
hargs() {
	HARGS=()
	local l
	for l in "$@"; do
		HARGS+=(-H "$l")
	done
}

# req ARGS...: curl printing the body, a newline, then the status code.
req() {
	curl -s --max-time 60 -w '\n%{http_code}' "$@"
}

# start_trio S1 S2 S3: node1..node3 of a three-node cluster (n=3), nodeN
# with the secret file SN, or none when SN is "".
start_trio() {
	local n
	pick_ports 3
	for n in 1 2 3; do
		start_peer "$n" 3 "$(peers_of "$n" 3)" \
		    ${!n:+--cluster-secret-file "${!n}"}
	done
}

# other_secret: $TMP/other, a secret that is not $SECRET.
other_secret() {
	printf '%s\n' 'some-other-secret-0123456789abcdef' >"$TMP/other"
	chmod 600 "$TMP/other"
}

# ready_says NODE TEXT: NODE's /ready is 503 with a reason holding TEXT.
ready_says() {
	local out
	out=$(curl -s --max-time 2 -w '\n%{http_code}' "$(url "$1")/ready")
	[ "$(status_of "$out")" = 503 ] &&
	    [[ "$(body_of "$out" | jq -r .reason)" == *"$2"* ]]
}

# refused_by NODE JSON: NODE's /ready lists JSON (compact) as refused_by.
refused_by() {
	curl -s --max-time 2 "$(url "$1")/ready" |
	    jq -e --arg want "$2" '(.refused_by | tojson) == $want' >/dev/null
}

# links_fail NODE ERROR MEMBER...: in NODE's /cluster/nodes, each MEMBER's
# link is not up, its calls fail, and link_error is ERROR.
links_fail() {
	local node=$1 error=$2 m
	shift 2
	for m in "$@"; do
		nodes "$node" | jq -e --arg m "$m" --arg e "$error" \
		    '.members[] | select(.id == $m) |
		    .link != "up" and .fails > 0 and .link_error == $e' \
		    >/dev/null || return 1
	done
}

# logged NODE TEXT [FIELD]: NODE's log has a line holding TEXT (and FIELD).
logged() {
	grep -F -- "$2" "$TMP/$1.log" | grep -qF -- "${3:-}"
}

status_of() {
	echo "${1##*$'\n'}"
}

body_of() {
	echo "${1%$'\n'*}"
}

@test "two nodes with the same secret replicate, and peer calls are signed" {
	start_member 1 "$SECRET"
	start_member 2 "$SECRET"
	# node1 may have called node2 before it listened: a w=2 write waits
	# for news of it, else it is a fast 503.
	wait_for 20 linked node1 node2
	run req -X PUT -d '{"value":"v1"}' "$(url node1)/kv/k?w=2"
	[ "$(status_of "$output")" = 201 ]
	run req "$(url node2)/kv/k?r=2"
	[ "$(status_of "$output")" = 200 ]
	[ "$(body_of "$output" | jq -r .value)" = v1 ]
	# node2 holds its own copy: a signed fetch on node2 finds it.
	mapfile -t H < <(sign_headers GET /internal/fetch/k "")
	hargs "${H[@]}"
	run req "${HARGS[@]}" "$(url node2)/internal/fetch/k"
	[ "$(status_of "$output")" = 200 ]
	[ "$(body_of "$output" | jq -r .v.value)" = v1 ]
}

@test "an unsigned request to an internal route gets 401 JSON" {
	start_member 1 "$SECRET"
	run req "$(url node1)/internal/fetch/k"
	[ "$(status_of "$output")" = 401 ]
	[ "$(body_of "$output" | jq -r .error)" = "unauthorized: missing signature" ]
	run req -X POST -d '{"key":"k","v":{"clock":{},"ts":1,"actor":"x","tombstone":false,"value":"evil"}}' \
	    "$(url node1)/internal/replicate"
	[ "$(status_of "$output")" = 401 ]
	run req -X POST -d '[]' "$(url node1)/internal/members"
	[ "$(status_of "$output")" = 401 ]
	run curl -s --max-time 60 -D - -o /dev/null "$(url node1)/internal/fetch/k"
	[[ "$output" == *"application/json"* ]]
	# The unsigned replicate wrote nothing.
	run req "$(url node1)/kv/k?r=1"
	[ "$(status_of "$output")" = 404 ]
}

@test "membership changes need the signature too: unsigned join, leave and cleanup get 401; kvctl signs them with the secret" {
	start_member 1 "$SECRET"
	start_member 2 "$SECRET"
	local before
	before=$(nodes node1 | jq -c '[.members[] | .id + "=" + .address]')
	run req -X POST -d '{"id":"evil","address":"127.0.0.1:9"}' \
	    "$(url node1)/cluster/join"
	[ "$(status_of "$output")" = 401 ]
	run req -X POST -d '{"id":"node2"}' "$(url node1)/cluster/leave"
	[ "$(status_of "$output")" = 401 ]
	run req -X POST "$(url node1)/cluster/cleanup"
	[ "$(status_of "$output")" = 401 ]
	[ "$(nodes node1 | jq -c '[.members[] | .id + "=" + .address]')" = "$before" ]
	# kvctl without the secret: the 401, exit 4; with it, done.
	run timeout 15 "$KVCTL" cluster join node9 127.0.0.1:9 --server "$(url node1)"
	echo "$output"
	[ "$status" -eq 4 ]
	[[ "$output" == *"401 unauthorized: missing signature"* ]]
	run timeout 15 "$KVCTL" cluster join node9 127.0.0.1:9 \
	    --cluster-secret-file "$SECRET" --server "$(url node1)"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(nodes node1 | jq -r '.members[] | select(.id == "node9") | .address')" = 127.0.0.1:9 ]
	run timeout 15 env KVCTL_CLUSTER_SECRET_FILE="$SECRET" "$KVCTL" cluster \
	    leave node9 --server "$(url node1)"
	[ "$status" -eq 0 ]
	[ -z "$(nodes node1 | jq -r '.members[] | select(.id == "node9") | .id')" ]
	run timeout 30 "$KVCTL" cluster cleanup --cluster-secret-file "$SECRET" \
	    --server "$(url node1)"
	echo "$output"
	[ "$status" -eq 0 ]
	# A secret kvctl cannot read stops it before any call.
	run timeout 15 "$KVCTL" cluster leave node2 --cluster-secret-file \
	    "$TMP/none" --server "$(url node1)"
	[ "$status" -eq 2 ]
	[[ "$output" == *"--cluster-secret-file"*"$TMP/none"* ]]
	[ "$(nodes node1 | jq -c '[.members[] | .id + "=" + .address]')" = "$before" ]
}

@test "a wrong signature, or another secret, gets 401" {
	start_member 1 "$SECRET"
	mapfile -t H < <(sign_headers GET /internal/fetch/k "")
	hargs "${H[0]}" "${H[1]}" \
	    "X-Kvd-Signature: 0000000000000000000000000000000000000000000000000000000000000000"
	run req "${HARGS[@]}" "$(url node1)/internal/fetch/k"
	[ "$(status_of "$output")" = 401 ]
	[ "$(body_of "$output" | jq -r .error)" = "unauthorized: bad signature" ]
	# Signed for another path.
	mapfile -t H < <(sign_headers GET /internal/fetch/other "")
	hargs "${H[@]}"
	run req "${HARGS[@]}" "$(url node1)/internal/fetch/k"
	[ "$(status_of "$output")" = 401 ]
	printf '%s\n' 'some-other-secret-0123456789abcdef' >"$TMP/other"
	mapfile -t H < <(sign_headers GET /internal/fetch/k "" 0 "$TMP/other")
	hargs "${H[@]}"
	run req "${HARGS[@]}" "$(url node1)/internal/fetch/k"
	[ "$(status_of "$output")" = 401 ]
	[ "$(body_of "$output" | jq -r .error)" = "unauthorized: bad signature" ]
}

@test "a valid signed request is accepted once; its replay gets 401" {
	start_member 1 "$SECRET"
	run req -X PUT -d '{"value":"x"}' "$(url node1)/kv/k?w=1&r=1"
	[ "$(status_of "$output")" = 201 ]
	mapfile -t H < <(sign_headers GET /internal/fetch/k "")
	hargs "${H[@]}"
	run req "${HARGS[@]}" "$(url node1)/internal/fetch/k"
	[ "$(status_of "$output")" = 200 ]
	run req "${HARGS[@]}" "$(url node1)/internal/fetch/k"
	[ "$(status_of "$output")" = 401 ]
	[ "$(body_of "$output" | jq -r .error)" = "unauthorized: replayed" ]
	# A signed POST with a body, percent-encoded target and a query.
	body='[]'
	mapfile -t H < <(sign_headers POST '/internal/members?x=%2F' "$body")
	hargs "${H[@]}"
	run req "${HARGS[@]}" -X POST -d "$body" "$(url node1)/internal/members?x=%2F"
	[ "$(status_of "$output")" != 401 ]
	# The same headers with another body.
	run req "${HARGS[@]}" -X POST -d '[ ]' "$(url node1)/internal/members?x=%2F"
	[ "$(status_of "$output")" = 401 ]
}

@test "a stale date, past or future, gets 401" {
	start_member 1 "$SECRET"
	mapfile -t H < <(sign_headers GET /internal/fetch/k "" -1000)
	hargs "${H[@]}"
	run req "${HARGS[@]}" "$(url node1)/internal/fetch/k"
	[ "$(status_of "$output")" = 401 ]
	# The reason names the difference and which side is ahead.
	[[ "$(body_of "$output" | jq -r .error)" == "unauthorized: stale: clocks differ by 100"[01]" s (this node is ahead); nodes must agree within 300 s" ]]
	mapfile -t H < <(sign_headers GET /internal/fetch/k "" 1000)
	hargs "${H[@]}"
	run req "${HARGS[@]}" "$(url node1)/internal/fetch/k"
	[ "$(status_of "$output")" = 401 ]
	[[ "$(body_of "$output" | jq -r .error)" == *"(the caller is ahead)"* ]]
	# A little skew is fine (404: signed, fresh, no such key).
	mapfile -t H < <(sign_headers GET /internal/fetch/k "" -60)
	hargs "${H[@]}"
	run req "${HARGS[@]}" "$(url node1)/internal/fetch/k"
	[ "$(status_of "$output")" = 404 ]
}

@test "the public routes need no signature" {
	start_member 1 "$SECRET"
	start_member 2 "$SECRET"
	wait_for 20 linked node1 node2	# as in the first test
	run req "$(url node1)/health"
	[ "$(status_of "$output")" = 200 ]
	run req -X PUT -d '{"value":"pub"}' "$(url node1)/kv/p"
	[ "$(status_of "$output")" = 201 ]
	run req "$(url node2)/kv/p"
	[ "$(status_of "$output")" = 200 ]
	run req "$(url node1)/cluster/nodes"
	[ "$(status_of "$output")" = 200 ]
	run timeout 15 "$KVCTL" get p --server "$(url node2)"
	[ "$status" -eq 0 ]
	[ "$output" = pub ]
}

@test "nodes with different secrets cannot replicate to each other" {
	printf '%s\n' 'some-other-secret-0123456789abcdef' >"$TMP/other"
	chmod 600 "$TMP/other"
	start_member 1 "$SECRET"
	start_member 2 "$TMP/other"
	run req -X PUT -d '{"value":"v"}' "$(url node1)/kv/k?w=2"
	[ "$(status_of "$output")" = 503 ]
	run req -X PUT -d '{"value":"v"}' "$(url node1)/kv/k2?w=1&r=1"
	[ "$(status_of "$output")" = 201 ]
	mapfile -t H < <(sign_headers GET /internal/fetch/k2 "" 0 "$TMP/other")
	hargs "${H[@]}"
	run req "${HARGS[@]}" "$(url node2)/internal/fetch/k2"
	[ "$(status_of "$output")" = 404 ]
}

@test "without a secret the internal routes stay open" {
	start_member 1 ""
	run req "$(url node1)/internal/fetch/k"
	[ "$(status_of "$output")" = 404 ]
}

@test "a secret file readable by others, or too short, stops kvd with status 2" {
	cp "$SECRET" "$TMP/open"
	chmod 644 "$TMP/open"
	run timeout 10 "$KVD" --id bad --addr 127.0.0.1:0 --data-dir "$DATA" \
	    --cluster-secret-file "$TMP/open"
	[ "$status" -eq 2 ]
	[[ "$output" == *"0600"* ]]
	[[ "$output" == *"$TMP/open"* ]]
	printf 'short\n' >"$TMP/short"
	chmod 600 "$TMP/short"
	run timeout 10 "$KVD" --id bad --addr 127.0.0.1:0 --data-dir "$DATA" \
	    --cluster-secret-file "$TMP/short"
	[ "$status" -eq 2 ]
	[[ "$output" == *"too short"* ]]
	run timeout 10 "$KVD" --id bad --addr 127.0.0.1:0 --data-dir "$DATA" \
	    --cluster-secret-file "$TMP/missing"
	[ "$status" -eq 2 ]
	# KVD_CLUSTER_SECRET_FILE works like the flag.
	KVD_CLUSTER_SECRET_FILE="$TMP/open" run timeout 10 "$KVD" --id bad \
	    --addr 127.0.0.1:0 --data-dir "$DATA"
	[ "$status" -eq 2 ]
}

@test "kvd warns when it listens beyond loopback without a secret" {
	local warning="listening beyond loopback without --cluster-secret-file"
	start_node wide --addr 0.0.0.0:0
	start_node narrow
	start_node wide_secret --addr 0.0.0.0:0 --cluster-secret-file "$SECRET"
	# start_node returns once the port file exists; the warning is logged
	# before the node is ready, so a short bounded wait is plenty.
	local i
	for i in $(seq 1 50); do
		grep -q "$warning" "$TMP/wide.log" && break
		sleep 0.1
	done
	grep -q "$warning" "$TMP/wide.log"
	! grep -q "$warning" "$TMP/narrow.log"
	! grep -q "$warning" "$TMP/wide_secret.log"
}

@test "a node with another secret is not ready and says why: /ready, its links, its log once per member" {
	other_secret
	start_trio "$SECRET" "$SECRET" "$TMP/other"
	local says="peers refuse this node's cluster secret (401 bad signature): is --cluster-secret-file the cluster's?"
	wait_for 30 ready_says node3 "$says"
	# Once it has called both, /ready names both (each refusal is
	# counted when its call comes back: node2's may come first).
	wait_for 30 refused_by node3 '["node1","node2"]'
	# Its links to both are failures with the reason, not "up".
	wait_for 30 links_fail node3 "401 unauthorized: bad signature" node1 node2
	nodes node3 | jq -c '.members[]'
	# Its log says so once per member, however many calls were refused.
	local line="refuses this node's signature (401 bad signature): is --cluster-secret-file the cluster's?"
	wait_for 30 logged node3 "$line" peer=node1
	wait_for 30 logged node3 "$line" peer=node2
	grep -F "$line" "$TMP/node3.log"
	[ "$(grep -cF "$line" "$TMP/node3.log")" -eq 2 ]
	# The two that share a secret are ready; each says node3 refuses it.
	wait_for 30 ready node1 node2
	wait_for 30 links_fail node1 "401 unauthorized: bad signature" node3
	logged node1 "$line" peer=node3
	# A write through node3 fails its quorum, as /ready warned.
	[ "$(put node3 k v '?w=2')" = 503 ]
	# node1 restarted with node3's secret accepts it: ready again, and
	# node3's log says node1 accepts its calls again.
	kill_node node1
	start_peer 1 3 "$(peers_of 1 3)" --cluster-secret-file "$TMP/other"
	wait_for 30 ready node3
	wait_for 30 logged node3 "a member accepts this node's calls again" \
	    peer=node1
}

# status_says NODE LINE...: kvctl status through NODE has each LINE under
# its warnings, whole; the text is left in $TMP/status.
status_says() {
	local node=$1 l
	shift
	"$KVCTL" --server "$(url "$node")" status >"$TMP/status" 2>&1 || return 1
	for l in "$@"; do
		grep -qxF -- "  - $l" "$TMP/status" || return 1
	done
}

# trio_links_told E: kvctl status through node1 says node1's and node2's
# calls to node3 fail with E, and names no link between node1 and node2.
trio_links_told() {
	status_says node1 "node1's calls to node3 fail: $1" \
	    "node2's calls to node3 fail: $1" &&
	    ! grep -E "node[12]'s calls to node[12] " "$TMP/status"
}

# json_links_told E: kvctl status -o json through node1 lists node1's and
# node2's links to node3 as failing with E, in that order, and no other
# link between node1 and node2; node3's entry has E as its link_error,
# the others none; the warnings say it.  The JSON is left in $TMP/json.
json_links_told() {
	"$KVCTL" --server "$(url node1)" status -o json >"$TMP/json" || return 1
	jq -e --arg e "$1" '(.failing_links |
	    index({"from":"node1","to":"node3","error":$e}) as $a |
	    index({"from":"node2","to":"node3","error":$e}) as $b |
	    $a != null and $b != null and $a < $b) and
	    ([.failing_links[] | select(.to != "node3" and .from != "node3")]
	    == []) and
	    ([.nodes[] | {id, link_error}] ==
	    [{"id":"node1","link_error":null},{"id":"node2","link_error":null},
	     {"id":"node3","link_error":$e}]) and
	    (.warnings | index("node1'"'"'s calls to node3 fail: " + $e) != null)' \
	    "$TMP/json" >/dev/null
}

# table_links_told E: kvctl cluster nodes -o table through node1 lists,
# under its "Failing links" legend, node1's and node2's links to node3
# failing with E, and none between node1 and node2.  Left in $TMP/table.
table_links_told() {
	"$KVCTL" --server "$(url node1)" cluster nodes -o table >"$TMP/table" ||
	    return 1
	sed -n '/^Failing links/,$p' "$TMP/table" >"$TMP/links"
	[ "$(head -1 "$TMP/links")" = "Failing links, as each member that answered tells:" ] &&
	    grep -qxF "  - node1's calls to node3 fail: $1" "$TMP/links" &&
	    grep -qxF "  - node2's calls to node3 fail: $1" "$TMP/links" &&
	    ! grep -E "node[12]'s calls to node[12] " "$TMP/links"
}

# no_link_lines NODE: kvctl status through NODE names no failing link.
no_link_lines() {
	"$KVCTL" --server "$(url "$1")" status >"$TMP/status" 2>&1 &&
	    ! grep -q "'s calls to " "$TMP/status"
}

@test "kvctl status and cluster nodes -o table name each failing link and why (a member with another secret); a killed member gets its down line only" {
	other_secret
	start_trio "$SECRET" "$SECRET" "$TMP/other"
	local e="401 unauthorized: bad signature"
	# node1 and node2 link fine: no line for either, once a call has
	# worked (one made before the other had started failed).  (node3's
	# own calls are listed too while node1 still asks it: until gossip
	# has it down.)
	wait_for 30 trio_links_told "$e" || { cat "$TMP/status"; false; }
	cat "$TMP/status"
	# node3 answers, with a refusal: its down line says so, not "not
	# started" (unknown to node1 yet, or down), once node1's view, which
	# kvctl reads first, has the link's error.  An ASan run read it
	# empty once; an answer node3 gives unchecked (GET /health) no
	# longer clears it (peer.c), but no such call was seen here, so the
	# waits stay.
	wait_for 30 status_says node1 "node3 down: node1 has never heard from it, and it answers node1's calls $e" ||
	    { cat "$TMP/status"; false; }
	wait_for 30 json_links_told "$e" || { cat "$TMP/json"; false; }
	jq -c '.failing_links, .nodes' "$TMP/json"
	wait_for 30 table_links_told "$e" || { cat "$TMP/table"; false; }
	cat "$TMP/table"
	# Seen from node3: its calls to both fail.
	wait_for 30 status_says node3 "node3's calls to node1 fail: $e" \
	    "node3's calls to node2 fail: $e" || { cat "$TMP/status"; false; }
	# A member killed gives no answer, not a refusal: its down line says
	# why, and the links to it are not listed.
	kill_node node3
	wait_for 30 no_link_lines node1 || { cat "$TMP/status"; false; }
	grep -Eq '^  - node3 down' "$TMP/status"
}

@test "a node without a secret among members with one is not ready and says it has none; they name it" {
	start_trio "$SECRET" "$SECRET" ""
	wait_for 30 ready_says node3 "peers require a cluster secret and this node has none (401 missing signature)"
	wait_for 30 links_fail node3 "401 unauthorized: missing signature" \
	    node1 node2
	logged node3 "refuses this node's calls, which are unsigned: it has a cluster secret and this node none" peer=node1
	wait_for 30 logged node1 "a member runs without a cluster secret" \
	    id=node3
	wait_for 30 ready node1 node2
}

@test "a node with a secret among members without one names each of them; they say it refuses their calls" {
	start_trio "" "" "$SECRET"
	local line="a member runs without a cluster secret: this node refuses every call it makes (401 missing signature)"
	wait_for 30 logged node3 "$line" id=node1
	wait_for 30 logged node3 "$line" id=node2
	[ "$(grep -cF "$line" "$TMP/node3.log")" -eq 2 ]
	wait_for 30 links_fail node1 "401 unauthorized: missing signature" node3
	wait_for 30 logged node1 "refuses this node's calls, which are unsigned" \
	    peer=node3
	# node3's own calls go through, and node1 and node2 accept each other.
	wait_for 30 ready node1 node2 node3
}
