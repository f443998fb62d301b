#!/usr/bin/env bats
# test/cluster.bats -- kvd as a three-node (and briefly four-node) cluster
# on loopback: replication to every replica, quorum reads and writes with
# a node down, read repair of a stale replica, membership changes through
# join and leave, a join or a gossiping node whose --vnodes or --n
# differ, a write coordinated through a member list that has not heard
# of a join (five nodes, one armed never to learn a member: the
# failpoint gossip-members-ignore), the stats of a pass that starts
# while the last one waits on its senders, a transfer, an anti-entropy
# sync and a hint refused with a long answer (last_error keeps it),
# conditional writes, the quorum response headers, the
# README quick start verbatim, and kvctl's server fail-over.
#
# Every node of a cluster must know the others' ports before it starts
# (--peers), so port 0 will not do: setup picks four free loopback ports
# up front and each node is started on its own with --addr and
# --advertise.  Short peer timeouts and gossip intervals keep the file
# fast; every wait is a bounded poll, every client call has a deadline,
# and teardown kills every process the test started.

load helpers
bats_require_minimum_version 1.5.0

# A whole-test deadline as a last resort (bats >= 1.7); each step below
# is bounded on its own as well.
BATS_TEST_TIMEOUT=${BATS_TEST_TIMEOUT:-60}

setup() {
	setup_tmp
	pick_ports 4
}

# start_member N [PEERS]: starts nodeN on its port; PEERS defaults to the
# other two of node1..node3.
start_member() {
	start_peer "$1" 3 "${2:-}"
}

start_cluster() {
	start_member 1
	start_member 2
	start_member 3
}

# header NAME ARGS...: the value of response header NAME (curl ARGS).
header() {
	local name=$1
	shift
	curl -s --max-time 60 -D - -o /dev/null "$@" | tr -d '\r' |
	    awk -v n="$(echo "$name" | tr 'A-Z' 'a-z')" '
		{ k = tolower(substr($0, 1, index($0, ":") - 1)) }
		k == n { sub(/^[^:]*:[ \t]*/, ""); print; exit }'
}

# kv ARGS...: kvctl, bounded.
kv() {
	timeout 15 "$KVCTL" "$@"
}

# fetch_v NODE KEY: the "v" object NODE holds for KEY (compact, sorted),
# or "404".
fetch_v() {
	local body st
	body=$(curl -s --max-time 60 -w '\n%{http_code}' "$(url "$1")/internal/fetch/$2")
	st=${body##*$'\n'}
	if [ "$st" = 200 ]; then
		printf '%s\n' "${body%$'\n'*}" | jq -cS .v
	else
		echo "$st"
	fi
}

# members NODE: how many members NODE's /cluster/nodes lists.
members() {
	nodes "$1" | jq '.members | length' 2>/dev/null
}

# all_members COUNT NODE...: every NODE lists exactly COUNT members.
all_members() {
	local want=$1 n
	shift
	for n in "$@"; do
		[ "$(members "$n")" = "$want" ] || return 1
	done
}

# same_v KEY NODE...: every NODE holds the same, existing, version of KEY.
same_v() {
	local key=$1 first="" v n
	shift
	for n in "$@"; do
		v=$(fetch_v "$n" "$key")
		[ "$v" != 404 ] && [ -n "$v" ] && [ "$v" != null ] || return 1
		[ -z "$first" ] && first=$v
		[ "$v" = "$first" ] || return 1
	done
}

# ---- replication --------------------------------------------------------

@test "a write through one node is readable through every node (kvctl)" {
	start_cluster
	run kv put greeting hello-cluster --server "$(url node1)"
	[ "$status" -eq 0 ]
	local n
	for n in node1 node2 node3; do
		run kv get greeting --server "$(url "$n")"
		echo "$n: status=$status output=$output"
		[ "$status" -eq 0 ]
		[ "$output" = hello-cluster ]
	done
}

@test "every replica holds the write: /internal/fetch shows the same version on all three" {
	start_cluster
	[ "$(put node2 rep value-1)" = 201 ]
	[ "$(put node2 rep value-2)" = 200 ]
	# W=2 answers before the third ack may land: give it a moment.
	wait_for 5 same_v rep node1 node2 node3 || {
		for n in node1 node2 node3; do echo "$n: $(fetch_v "$n" rep)"; done
		false
	}
	run fetch_v node3 rep
	[ "$(echo "$output" | jq -r .value)" = value-2 ]
	[ "$(echo "$output" | jq -r .tombstone)" = false ]
}

@test "30 writes pipelined on one connection to a coordinator: answered in order, each once, all replicated" {
	start_cluster
	# Each write is answered by whichever thread brings its second
	# acknowledgement (server.c, DEFERRED ANSWERS), in any order; the
	# connection must still answer in request order.
	run timeout 30 python3 - "$(port_of node1)" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
req = b""
for i in range(30):
    body = b'{"value":"v%d"}' % i
    req += b"PUT /kv/pipe%d HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % (i, len(body)) + body
    req += b"GET /kv/pipe%d HTTP/1.1\r\nHost: t\r\n\r\n" % i
s.sendall(req)
f = s.makefile("rb")
for i in range(60):
    status = f.readline().split()[1].decode()
    n = 0
    while True:
        h = f.readline()
        if h in (b"\r\n", b""):
            break
        if h.lower().startswith(b"content-length:"):
            n = int(h.split(b":")[1])
    body = f.read(n).decode()
    print(status, body.strip())
PY
	echo "$output"
	[ "$status" -eq 0 ]
	local i expect
	for i in $(seq 0 29); do
		expect="201 {\"key\":\"pipe$i\","
		[[ "${lines[$((2 * i))]}" == "$expect"* ]]
		[ "${lines[$((2 * i + 1))]}" = "200 {\"key\":\"pipe$i\",\"value\":\"v$i\"}" ]
	done
	[ "${#lines[@]}" -eq 60 ]
	run kv get pipe29 --server "$(url node3)"
	[ "$output" = v29 ]
}

@test "one node down: W=2/R=2 still work through the survivors, ?w=3 is a fast 503 with acks and required" {
	start_cluster
	[ "$(put node1 before up)" = 201 ]
	kill_node node3
	[ "$(put node1 during one-down)" = 201 ]
	[ "$(put node2 before still-up)" = 200 ]
	run kv get during --server "$(url node2)"
	[ "$status" -eq 0 ]
	[ "$output" = one-down ]
	run kv get before --server "$(url node1)"
	[ "$status" -eq 0 ]
	[ "$output" = still-up ]
	[ "$(c "$(url node1)/kv/during?r=2" | jq -r .value)" = one-down ]

	local t0 t1
	t0=$(now_ms)
	run curl -s --max-time 10 -w '\n%{http_code}' -X PUT \
	    -d '{"value":"all-three"}' "$(url node1)/kv/strict?w=3"
	t1=$(now_ms)
	echo "w=3 answered in $((t1 - t0)) ms: $output"
	[ "$status" -eq 0 ]
	[ "${output##*$'\n'}" = 503 ]
	local body=${output%$'\n'*}
	[ "$(echo "$body" | jq -r '.error | type')" = string ]
	[ "$(echo "$body" | jq -r '.acks | type')" = number ]
	[ "$(echo "$body" | jq -r .acks)" -eq 2 ]
	[ "$(echo "$body" | jq -r .required)" -eq 3 ]
	# no bound on its time: curl's --max-time 10 (20 peer timeouts) fails a coordinator that waits on node3 without a deadline
}

@test "read repair: a restarted replica that missed a write gets it after a quorum read" {
	start_cluster
	[ "$(put node1 warm x)" = 201 ]
	kill_node node3
	[ "$(put node1 k repaired-value)" = 201 ]
	# The hint kept for node3 would bring it k within a second of its
	# return (sooner than a slow machine gets to the check below): drop it
	# (exit 3: node3 itself is asked too and does not answer).
	run timeout 20 "$KVCTL" hints drop node3 --yes --server "$(url node1)"
	echo "$output"
	[ "$(c "$(url node1)/admin/hints" | jq .pending)" = 0 ]
	start_member 3
	[ "$(fetch_v node3 k)" = 404 ]
	local want
	want=$(fetch_v node1 k)
	[ "$want" != 404 ]
	# node1 may still hold node3 as down (backoff): read with r=3 until
	# all three answer, then the repair lands in the background.
	repaired() {
		curl -s --max-time 2 -o /dev/null "$(url node1)/kv/k?r=3"
		[ "$(fetch_v node3 k)" = "$want" ]
	}
	wait_for 10 repaired || {
		echo "node1: $want"
		echo "node3: $(fetch_v node3 k)"
		c -i "$(url node1)/kv/k?r=3"
		false
	}
	[ "$(c "$(url node3)/kv/k?r=3" | jq -r .value)" = repaired-value ]
}

# ---- membership ---------------------------------------------------------

# node3_listed_at ADDRESS: node1..node3 all list node3 at ADDRESS, up.
node3_listed_at() {
	local n
	for n in node1 node2 node3; do
		[ "$(nodes "$n" | jq -r '.members[] | select(.id == "node3") |
		    .address + " " + .state')" = "$1 up" ] || return 1
	done
}

# helper-87: "member down (gossip) id=m3" was logged and nothing when m3
# came back, and /cluster/nodes kept m3's hint_last_error "Host is down"
# after its hints were delivered.
@test "a member back from down: 'member up (gossip)' is logged once, and its hint error is cleared once its hints are delivered" {
	local before downs
	start_cluster
	wait_for 20 linked node1 node2 node3
	# A start on a loaded machine may see node3 down, then up, before
	# node3 ran (README: a member never heard of is probed like a late
	# one): count only the lines after the kill.
	before=$(grep -c 'msg="member up (gossip)" id=node3' "$TMP/node1.log" || true)
	downs=$(grep -c 'msg="member down (gossip)" id=node3' "$TMP/node1.log" || true)
	kill_node node3 KILL
	wait_for 20 sh -c "[ \$(grep -c 'msg=\"member down (gossip)\" id=node3' '$TMP/node1.log') -gt $downs ]"
	for i in $(seq 1 5); do
		[ "$(put node1 "back$i" "v$i")" = 201 ]
	done
	wait_for 20 sh -c "curl -s --max-time 2 '$(url node1)/cluster/nodes' |
	    jq -e '.members[] | select(.id == \"node3\") | .hint_last_error != null'"
	nodes node1 | jq -c '.members[] | select(.id == "node3")'
	start_member 3
	wait_for 30 grep -q 'msg="hints delivered" owner=node3' "$TMP/node1.log"
	wait_for 20 sh -c "[ \$(grep -c 'msg=\"member up (gossip)\" id=node3' '$TMP/node1.log') -gt $before ]"
	cat "$TMP/node1.log"
	run grep -c 'msg="member up (gossip)" id=node3' "$TMP/node1.log"
	[ "$output" = $((before + 1)) ]
	nodes node1 | jq -c '.members[] | select(.id == "node3")'
	nodes node1 | jq -e '.members[] | select(.id == "node3") |
	    .hint_last_error == null and .hint_failures == 0 and .hints == 0'
}

# helper-87: a coordinator whose disk is full logged "cannot keep a hint
# ... err=No space left on device" for each write, yet counted the hints
# and delivered them later: they were kept, in memory only.  The log says
# so now (hints.h, hints_log_not_durable), once per 10 s.
@test "a coordinator whose disk is full keeps hints in memory only, says so once, and delivers them when the owner returns" {
	local i
	start_member 1
	start_member 2
	KVD_FAILPOINTS=wal-write-enospc@1+ start_member 3
	wait_for 20 linked node1 node2 node3
	kill_node node2 KILL
	wait_for 20 sh -c "curl -s --max-time 2 '$(url node3)/cluster/nodes' |
	    jq -e '.members[] | select(.id == \"node2\") | .state == \"down\"'"
	for i in $(seq 1 5); do
		put node3 "mem$i" "v$i" >/dev/null
	done
	wait_for 20 grep -q 'hint kept in memory only' "$TMP/node3.log"
	grep 'hint' "$TMP/node3.log"
	run grep -c 'hint kept in memory only until the disk has room' \
	    "$TMP/node3.log"
	[ "$output" = 1 ]
	grep 'hint kept in memory only' "$TMP/node3.log" |
	    grep -q ' owner=node2 err="No space left on device"'
	! grep -q 'cannot keep a hint' "$TMP/node3.log"
	[ "$(nodes node3 | jq '.members[] | select(.id == "node2") | .hints')" -ge 1 ]
	start_member 2
	wait_for 30 grep -q 'msg="hints delivered" owner=node2 count=5 ' "$TMP/node3.log"
	[ "$(fetch_v node2 mem5)" != 404 ]
}

@test "a node restarted on another port moves its member entry there: the others follow, its hint arrives, r=3 works" {
	local p
	start_cluster
	kill_node node3
	[ "$(put node1 moved v)" = 201 ]	# a hint for node3
	p=$(port 4)
	# Same host, another port, no --advertise and no --peers: it moved.
	start_node node3 --addr "127.0.0.1:$p" --n 3 --w 2 --r 2 \
	    --peer-timeout-ms 500 --gossip-interval-ms 200
	wait_for 20 node3_listed_at "127.0.0.1:$p"
	grep -q 'this node moved' "$TMP/node3.log"
	hint_arrived() {
		[ "$(fetch_v node3 moved)" != 404 ]
	}
	wait_for 20 hint_arrived
	[ "$(code "$(url node1)/kv/moved?r=3")" = 200 ]
	[ "$(put node2 after v2 '?w=3')" = 201 ]
	# Another host without --advertise is likelier a forgotten flag: a
	# warning, and the entry stays.
	kill_node node3
	start_node node3 --addr "localhost:$p" --n 3 --w 2 --r 2 \
	    --peer-timeout-ms 500 --gossip-interval-ms 200
	grep -q 'differs from the advertised one (another host' "$TMP/node3.log"
	[ "$(nodes node3 | jq -r '.members[] | select(.id == "node3") | .address')" = "127.0.0.1:$p" ]
	# The same port under another name of this machine, by --advertise:
	# it moves, without first asking its own socket, which nobody
	# serves yet, whether a twin runs there (that waited out the peer
	# timeout: 120 s here, past start_node's 60 s hang guard).
	kill_node node3
	start_node node3 --addr "localhost:$p" --advertise "localhost:$p" \
	    --n 3 --w 2 --r 2 --peer-timeout-ms 120000 --cas-window 1440 \
	    --gossip-interval-ms 200
	wait_for 20 node3_listed_at "localhost:$p"
}

@test "a second process started with a member's id: refused while the first answers; else named in an error on both sides, and once it stops the member takes its address back" {
	start_cluster
	# The copy: a copy of node3's directory (so it would move node3's
	# entry to its own address, which then wins everywhere), another port.
	mkdir -p "$TMP/twin"
	cp -r "$DATA/node3" "$TMP/twin/"
	rm -f "$TMP/twin/node3/LOCK"
	local twin=("$KVD" --id node3 --addr "127.0.0.1:$(port 4)"
	    --data-dir "$TMP/twin" --peers "node1=$(member_addr 1)"
	    --n 3 --w 2 --r 2 --peer-timeout-ms 500 --gossip-interval-ms 200)
	# node3 answers at the listed address: the copy does not start, and
	# nothing moved.
	run timeout 20 "${twin[@]}" 3>&-
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"another kvd runs as node3 at $(member_addr 3) (its /health names it)"* ]]
	[ "$(nodes node1 | jq -r '.members[] | select(.id == "node3") | .address')" = "$(member_addr 3)" ]
	# While node3 is stopped nobody answers: the copy starts, and both
	# learn of the other once node3 runs again.
	kill -STOP "$(pid_of node3)"
	"${twin[@]}" >>"$TMP/twin.log" 2>&1 3>&- &
	echo $! >"$TMP/twin.pid"
	wait_for 20 grep -q 'this node moved' "$TMP/twin.log"
	kill -CONT "$(pid_of node3)"
	twin_named() {
		grep -q 'another process runs with this node.s id' "$TMP/node3.log" &&
		    grep -q 'another process runs with this node.s id' "$TMP/twin.log"
	}
	wait_for 20 twin_named
	grep 'another process runs' "$TMP/node3.log" | head -1
	# A plain restart is no twin.
	! grep -q 'another process runs' "$TMP/node1.log" "$TMP/node2.log" || false
	# Once the copy is gone, node3 takes its entry back wherever the
	# copy's address won: writes at w=3 work again.
	kill -9 "$(cat "$TMP/twin.pid")"
	wait_for 30 node3_listed_at "$(member_addr 3)"
	[ "$(put node1 after-twin v '?w=3')" = 201 ]
}

# helper-103: a pass that cannot reach a new owner retries every 2 s and
# logged "transfer incomplete, will retry" each time, on every old owner,
# for as long as the owner stayed down (326 lines a node in 20 minutes).
@test "a joined member that is down: 'transfer incomplete, will retry' is logged once per 10 s, not once per 2 s retry; 'transfer done' once it starts" {
	local i t0 lines
	start_cluster
	wait_for 20 linked node1 node2 node3
	for i in $(seq 1 10); do
		[ "$(put node1 "inc$i" "v$i")" = 201 ]
	done
	[ "$(code -X POST -d "{\"id\":\"node4\",\"address\":\"127.0.0.1:$(port 4)\"}" "$(url node1)/cluster/join")" = 200 ]
	wait_for 20 grep -q 'msg="transfer incomplete, will retry"' "$TMP/node1.log"
	t0=$SECONDS
	sleep 7	# three retries or more
	lines=$(grep -c 'msg="transfer incomplete, will retry"' "$TMP/node1.log")
	echo "$lines lines in $((SECONDS - t0)) s or more"
	[ "$lines" -le $((1 + (SECONDS - t0) / 10 + 1)) ]
	start_member 4 "node1=127.0.0.1:$(port 1)"
	wait_for 30 grep -q 'msg="transfer done"' "$TMP/node1.log"
}

@test "join and leave of a fourth node reach every node; 409, 404 and 400 on bad requests; kvctl cluster" {
	start_cluster
	local a4="127.0.0.1:$(port 4)"
	start_member 4 "node1=127.0.0.1:$(port 1)"
	run c -X POST -d "{\"id\":\"node4\",\"address\":\"$a4\"}" "$(url node2)/cluster/join"
	echo "join: $output"
	[ "$status" -eq 0 ]
	[ "$(code -X POST -d "{\"id\":\"node4\",\"address\":\"$a4\"}" "$(url node2)/cluster/join")" = 200 ]
	wait_for 10 all_members 4 node1 node2 node3 node4 || {
		for n in node1 node2 node3 node4; do echo "$n: $(members "$n")"; done
		false
	}
	[ "$(c "$(url node3)/cluster/nodes" | jq -r '[.members[].id] | sort | join(",")')" = node1,node2,node3,node4 ]
	[ "$(c "$(url node1)/cluster/nodes" | jq -r '.members[] | select(.id == "node4") | .address')" = "$a4" ]

	# Bad requests.
	run code -X POST -d "{\"id\":\"node4\",\"address\":\"127.0.0.1:1\"}" "$(url node1)/cluster/join"
	[ "$output" = 409 ]
	run code -X POST -d '{"id":"no-such-node"}' "$(url node1)/cluster/leave"
	[ "$output" = 404 ]
	run code -X POST -d '{"id":"node5","address":' "$(url node1)/cluster/join"
	[ "$output" = 400 ]
	run code -X POST -d '{"id":"node5"}' "$(url node1)/cluster/join"
	[ "$output" = 400 ]
	run code -X POST -d 'not json' "$(url node1)/cluster/leave"
	[ "$output" = 400 ]
	# A body that is not JSON says where and why, as a PUT's does.
	[ "$(c -X POST -d '{id:"node5"}' "$(url node1)/cluster/leave" | jq -r .error)" = 'bad body: not valid JSON at byte 1 (want {"id":"..."})' ]
	[ "$(c -X POST -d '{"id":"node5","address":"127.0.0.1:1",}' "$(url node1)/cluster/join" | jq -r .error)" = 'bad body: not valid JSON at byte 38 (want {"id":"...","address":"host:port"})' ]
	# Strict bodies: nothing but id (and a join's address), each once, id
	# not empty.  None of these may change the membership.
	for body in '{"id":"node5","address":"127.0.0.1:1","dry_run":true}' \
	    '{"id":"node5","address":"127.0.0.1:1","id":"node6"}' \
	    '{"id":"","address":"127.0.0.1:1"}' \
	    '{"id":"node5","address":"127.0.0.1:0"}' \
	    '{"id":"node5","address":"127.0.0.1:00000"}' \
	    '{"id":"node5","address":"127.0.0.1:08080"}' \
	    '{"id":"node5","address":"127.0.0.1:http"}' \
	    '{"id":"node5","address":"127.0.0.1:65536"}' \
	    '{"id":"bad id","address":"127.0.0.1:1"}'; do
		run code -X POST -d "$body" "$(url node1)/cluster/join"
		echo "join $body -> $output"
		[ "$output" = 400 ]
	done
	run code -X POST -d "{\"id\":\"node5\",\"address\":\"$a4\"}" "$(url node1)/cluster/join"
	[ "$output" = 409 ]
	# The rule a port broke is said (helper-103 read 08080 as valid).
	[ "$(c -X POST -d '{"id":"node5","address":"127.0.0.1:08080"}' "$(url node1)/cluster/join" | jq -r .error)" = "bad address (want HOST:PORT, PORT 1-65535 without leading zeros)" ]
	# A join refused for its id or address asks nothing of the address a
	# client named (helper-103: node1 called 127.0.0.1:1 first and logged
	# "admitted unchecked" for joins it then refused).
	grep 'admitted unchecked' "$TMP/node1.log" || true
	! grep -q 'admitted unchecked' "$TMP/node1.log" || false
	for body in '{"id":"node4","confirm":false}' '{"id":"node4","id":"node4"}' \
	    '{"id":""}'; do
		run code -X POST -d "$body" "$(url node1)/cluster/leave"
		echo "leave $body -> $output"
		[ "$output" = 400 ]
	done
	[ "$(c "$(url node1)/cluster/nodes" | jq -r '[.members[].id] | sort | join(",")')" = node1,node2,node3,node4 ]

	run c -X POST -d '{"id":"node4"}' "$(url node1)/cluster/leave"
	[ "$status" -eq 0 ]
	wait_for 10 all_members 3 node1 node2 node3 || {
		for n in node1 node2 node3; do echo "$n: $(members "$n")"; done
		false
	}
	[ "$(c "$(url node2)/cluster/nodes" | jq -r '[.members[].id] | sort | join(",")')" = node1,node2,node3 ]

	# The same through kvctl.
	run kv cluster join node4 "$a4" --server "$(url node3)"
	echo "kvctl join: $status $output"
	[ "$status" -eq 0 ]
	wait_for 10 all_members 4 node1 node2 node3 node4
	run kv cluster nodes --server "$(url node2)"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r '[.members[].id] | sort | join(",")')" = node1,node2,node3,node4 ]
	run kv cluster join node4 127.0.0.1:1 --server "$(url node3)"
	[ "$status" -eq 4 ]
	run kv cluster leave node4 --server "$(url node1)"
	[ "$status" -eq 0 ]
	wait_for 10 all_members 3 node1 node2 node3
	run kv cluster leave no-such-node --server "$(url node1)"
	[ "$status" -eq 1 ]
	# Once node4 is gone, a restart of node1 finds it down: news to
	# nobody, so not a warning.
	kill_node node4
	kill_node node1
	local from=$(($(wc -l <"$TMP/node1.log") + 1))
	start_peer 1 3 "" --log-level debug
	left_down() {
		tail -n "+$from" "$TMP/node1.log" |
		    grep -q 'msg="member down (gossip)" id=node4'
	}
	wait_for 20 left_down
	tail -n "+$from" "$TMP/node1.log" | grep 'member down'
	! tail -n "+$from" "$TMP/node1.log" | grep 'level=warn' |
	    grep -q 'member down (gossip)' || false
}

# ---- ring parameters: --vnodes and --n must be the same on every node ------

# start_alone ID PORTNO [flags...]: a node on port PORTNO with no --peers,
# a cluster of one that gossip does not bring in: only a join would.
start_alone() {
	local id=$1 p=$2
	shift 2
	start_node "$id" --addr "127.0.0.1:$p" --advertise "127.0.0.1:$p" \
	    --peer-timeout-ms 500 --gossip-interval-ms 200 "$@"
}

# ids NODE: NODE's member ids, sorted, comma-separated.
ids() {
	nodes "$1" | jq -r '[.members[].id] | sort | join(",")'
}

# refused_join VIA WANT: a join of node4 (at $a4) through VIA answers 409
# ring_mismatch with WANT in its error, and node1..3 keep three members.
refused_join() {
	local body n
	body=$(curl -s --max-time 60 -w '\n%{http_code}' -X POST \
	    -d "{\"id\":\"node4\",\"address\":\"$a4\"}" "$(url "$1")/cluster/join")
	echo "join through $1: $body"
	[ "${body##*$'\n'}" = 409 ] || return 1
	body=${body%$'\n'*}
	[ "$(echo "$body" | jq -r .code)" = ring_mismatch ] || return 1
	echo "$body" | jq -r .error | grep -F "$2" || return 1
	for n in node1 node2 node3; do
		[ "$(ids "$n")" = node1,node2,node3 ] || return 1
	done
}

@test "a member joined but never started, declared down: heartbeat_age_ms is null (never heard), not an age counted from the join" {
	start_cluster
	wait_for 20 linked node1 node2 node3
	run c -X POST -d "{\"id\":\"node4\",\"address\":\"$(member_addr 4)\"}" \
	    "$(url node1)/cluster/join"
	[ "$status" -eq 0 ]
	# Down by gossip's verdict (it names who declared it), not only by
	# node1's own calls failing.
	node4_down() {
		nodes node1 | jq -e '.members[] | select(.id == "node4") |
		    .state == "down" and .reported_by != null' >/dev/null
	}
	wait_for 30 node4_down
	nodes node1 | jq '.members[] | select(.id == "node4")'
	nodes node1 | jq -e '.members[] | select(.id == "node4") |
	    .heartbeat == 0 and .generation == 0 and .heartbeat_age_ms == null'
	# One that was heard and then went down keeps its age.
	kill_node node3
	node3_down() {
		nodes node1 | jq -e '.members[] | select(.id == "node3") |
		    .state == "down"' >/dev/null
	}
	wait_for 30 node3_down
	nodes node1 | jq -e '.members[] | select(.id == "node3") |
	    .heartbeat > 0 and (.heartbeat_age_ms | type == "number")'
}

# A new-user pass: with a member joined that never runs, kvctl cluster
# cleanup printed "1/4 done; running on node1, node2, node3" every 5 s
# for ever: each node's cleanup waits for its data to be placed, and the
# placement to node4 fails until node4 runs.
@test "cluster cleanup with a joined member that never runs: each node says its cleanup waits for a placement that fails; kvctl says so for each and exits 3 instead of polling for ever" {
	local i n
	start_cluster
	wait_for 20 linked node1 node2 node3
	# Enough keys that every node is the sender of some of node4's.
	for i in $(seq 1 60); do
		[ "$(put node1 "c$i" "v$i")" = 201 ]
	done
	run c -X POST -d "{\"id\":\"node4\",\"address\":\"$(member_addr 4)\"}" \
	    "$(url node1)/cluster/join"
	[ "$status" -eq 0 ]
	all_retrying() {
		for n in node1 node2 node3; do
			nodes "$n" | jq -e '.members | length == 4' >/dev/null &&
			    nodes "$n" | jq -e .transfer.retrying >/dev/null ||
			    return 1
		done
	}
	wait_for 30 all_retrying
	run --separate-stderr timeout 30 "$KVCTL" --server "$(url node1)" \
	    cluster cleanup
	echo "status: $status"
	echo "stdout: $output"
	echo "stderr: $stderr"
	[ "$status" -eq 3 ]
	[[ $stderr == *"kvctl: node4 ($(member_addr 4)): Connection refused"* ]]
	for n in node1 node2 node3; do
		echo "$stderr" | grep -q "^kvctl: $n: its cleanup waits until its data is placed for the current members, and that fails (retrying; last error to node4: .*); it begins once that is done (kvctl status shows the transfer)$"
	done
	[ -z "$output" ]
	for n in node1 node2 node3; do
		nodes "$n" | jq -e '.cleanup.running and
		    .cleanup.waiting_for_placement and .transfer.retrying' >/dev/null
	done
	# Asked again: the same answer (each node's cleanup is still asked for).
	run --separate-stderr timeout 30 "$KVCTL" --server "$(url node2)" \
	    cluster cleanup
	[ "$status" -eq 3 ]
	[ "$(echo "$stderr" | grep -c ': its cleanup waits until its data is placed')" -eq 3 ]
}

@test "a join of a node with another --vnodes or --n is refused: 409 ring_mismatch naming both values, membership unchanged" {
	start_cluster
	local a4="127.0.0.1:$(port 4)"
	start_alone node4 "$(port 4)" --vnodes 100
	refused_join node1 'node4 has --vnodes 100, this cluster 150'
	sleep 1		# a few gossip rounds: nothing brings node4 in
	refused_join node2 'node4 has --vnodes 100, this cluster 150'
	[ "$(ids node4)" = node4 ]
	run kv cluster join node4 "$a4" --server "$(url node2)"
	echo "kvctl join: $status $output"
	[ "$status" -eq 4 ]
	[[ "$output" == *"409"*"--vnodes 100"* ]]

	# The same vnodes, another --n.
	kill_node node4
	rm -rf "$DATA/node4"
	start_alone node4 "$(port 4)" --n 2
	refused_join node3 'node4 has --n 2, this cluster 3'

	# The same parameters: admitted.
	kill_node node4
	rm -rf "$DATA/node4"
	start_alone node4 "$(port 4)" --n 3
	[ "$(code -X POST -d "{\"id\":\"node4\",\"address\":\"$a4\"}" "$(url node1)/cluster/join")" = 200 ]
	wait_for 10 all_members 4 node1 node2 node3 node4
}

@test "kvctl cluster join says what happened: who joined, through which member, the members now, how to follow the transfers; --json is the member list" {
	start_cluster
	local i a4="127.0.0.1:$(port 4)"
	for ((i = 0; i < 20; i++)); do
		[ "$(put node1 "join-$i" "v$i")" = 201 ]
	done
	# Not running yet: admitted, and kvctl says it will receive nothing
	# until it runs.
	run --separate-stderr kv cluster join node4 "$a4" --server "$(url node2)"
	echo "$output"
	[ "$status" -eq 0 ] && [ -z "$stderr" ]
	[ "$(echo "$output" | head -1)" = "node4 joined the cluster at $a4, through node2 at 127.0.0.1:$(port 2)" ]
	echo "$output" | grep -qx 'members now: 4 (node1, node2, node3, node4)'
	echo "$output" | grep -q "^node4 does not answer at $a4 yet"
	echo "$output" | grep -q 'sent to it in the background'
	echo "$output" | grep -q "kvctl cluster nodes' (TRANSFER)"
	echo "$output" | grep -q "kvctl cluster cleanup"
	# Running now; a second join changes nothing and says so.
	start_alone node4 "$(port 4)" --n 3
	run --separate-stderr kv cluster join node4 "$a4" --server "$(url node3)"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | head -1)" = "node4 is a member at $a4 already, through node3 at 127.0.0.1:$(port 3) (gossip or an earlier join admitted it): nothing to do" ]
	[ -z "$stderr" ]
	! echo "$output" | grep -q 'does not answer' || false
	! echo "$output" | grep -q 'sent to it in the background' || false
	# --json: the server's answer, the member list, and nothing else.
	run --separate-stderr kv cluster join node4 "$a4" --server "$(url node1)" --json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r '[.members[].id] | join(",")')" = node1,node2,node3,node4 ]
	run --separate-stderr kv cluster join node4 "$a4" --server "$(url node1)" -o json
	[ "$(echo "$output" | jq -r .self)" = node1 ]
	# A refused join prints nothing on stdout.
	run --separate-stderr kv cluster join node4 127.0.0.1:1 --server "$(url node1)"
	[ "$status" -eq 4 ] && [ -z "$output" ]
	[[ $stderr == *"409 node4 is already a member at $a4"* ]]
}

# owners NODE KEY: the owners NODE's view names for KEY (X-Kvd-Replicas of
# a GET through it, sorted, one a line).
owners() {
	header X-Kvd-Replicas "$(url "$1")/kv/$2" | tr , '\n' | sort
}

# placed_after_join NODE: NODE's log has a pass done for the join (the
# nodes start together and settle without one).
placed_after_join() {
	local n
	for n in "$@"; do
		grep -q 'msg="transfer done"' "$TMP/$n.log" || return 1
	done
}

# start_one_behind FAILPOINTS: node1..node4 (N=3, anti-entropy off, so
# that only a transfer moves a key), node1..node3 with KVD_FAILPOINTS set
# to FAILPOINTS; node4 keeps the four members it started with: it never
# hears of a join, as a coordinator that has not heard of one yet.
start_one_behind() {
	local n
	for n in 1 2 3; do
		KVD_FAILPOINTS=$1 start_peer "$n" 3 "$(peers_of "$n" 4)" \
		    --anti-entropy-interval 0
	done
	KVD_FAILPOINTS=gossip-members-ignore@1+ \
	    start_peer 4 3 "$(peers_of 4 4)" --anti-entropy-interval 0
	wait_for 30 linked node1 node2 node3 node4
}

# join_node5: node5 joins through node1; returns once node1..node3 list
# five members and placed for them, node4 still four.
join_node5() {
	local n
	start_peer 5 3 "node1=$(member_addr 1)" --anti-entropy-interval 0
	run kv cluster join node5 "$(member_addr 5)" --server "$(url node1)"
	echo "join: $status $output"
	[ "$status" -eq 0 ]
	wait_for 30 all_members 5 node1 node2 node3 node5
	[ "$(members node4)" = 4 ]
	wait_for 60 placed_after_join node1 node2 node3 || {
		for n in node1 node2 node3; do grep transfer "$TMP/$n.log"; done
		false
	}
}

# stray_key: after join_node5, prints "KEY NEW": a key node4 places on
# node1..node3 and the five-member view on node5 and two of them (NEW,
# comma-separated): the third is an old owner that placed already and
# will not send it in any pass.
stray_key() {
	local k old new
	for k in $(seq 1 400); do
		old=$(owners node4 "stale-$k" | paste -sd,)
		[ "$old" = node1,node2,node3 ] || continue
		new=$(owners node1 "stale-$k" | paste -sd,)
		if [[ ",$new," = *,node5,* ]]; then
			echo "stale-$k $new"
			return 0
		fi
	done
	return 1
}

@test "a write coordinated through a view that has not heard of a join reaches the new owners: the old owner that placed forwards it (no cleanup, anti-entropy off)" {
	pick_ports 5
	start_one_behind ""
	join_node5

	local key new
	read -r key new <<<"$(stray_key)"
	echo "key=$key new=$new"
	[ -n "$key" ]
	[ "$(put node4 "$key" through-an-old-view '?w=3')" = 201 ]

	# Every current owner holds it, with no read to repair it (fetch;
	# the owners were asked before the write, as a GET now would repair).
	local -a owner
	IFS=, read -r -a owner <<<"$new"
	wait_for 30 same_v "$key" "${owner[@]}" || {
		for n in node1 node2 node3 node4 node5; do
			echo "$n: $(fetch_v "$n" "$key")"
		done
		for n in node1 node2 node3; do grep -i stray "$TMP/$n.log"; done
		false
	}
	[ "$(fetch_v node5 "$key" | jq -r .value)" = through-an-old-view ]
	grep -q 'msg="transfer: strays forwarded to their owners"' \
	    "$TMP/node1.log" "$TMP/node2.log" "$TMP/node3.log"
	[ "$(code "$(url node1)/kv/$key?r=3")" = 200 ]
}

# start_two_behind: node1..node3 (N=3, anti-entropy off), node2 and node3
# never hearing of a join (gossip-members-ignore); node4 and node5 join
# through node1, which has placed for the five once this returns.
start_two_behind() {
	local n
	start_peer 1 3 "" --anti-entropy-interval 0
	for n in 2 3; do
		KVD_FAILPOINTS=gossip-members-ignore@1+ \
		    start_peer "$n" 3 "" --anti-entropy-interval 0
	done
	wait_for 30 linked node1 node2 node3
	for n in 4 5; do
		start_peer "$n" 3 "node1=$(member_addr 1)" \
		    --anti-entropy-interval 0
		run kv cluster join "node$n" "$(member_addr "$n")" \
		    --server "$(url node1)"
		echo "join node$n: $status $output"
		[ "$status" -eq 0 ]
	done
	wait_for 30 all_members 5 node1 node4 node5
	[ "$(members node2)" = 3 ] && [ "$(members node3)" = 3 ]
	wait_for 60 placed_for 5 node1
}

# placed_for COUNT NODE: NODE's transfer has placed for COUNT members.
placed_for() {
	nodes "$2" | jq -e --argjson c "$1" '(.members | length) == $c and
	    .transfer.running == false' >/dev/null
}

# write_sixty PREFIX: PREFIX-1..PREFIX-60 written through node1 at W=3,
# each PREFIX-N's value vN.
write_sixty() {
	local k
	for k in $(seq 1 60); do
		[ "$(put node1 "$1-$k" "v$k" '?w=3')" = 201 ]
	done
}

# old_three FAILPOINTS PREFIX: node1..node3 with KVD_FAILPOINTS set to
# FAILPOINTS (anti-entropy off), linked, and write_sixty PREFIX.
old_three() {
	local n
	for n in 1 2 3; do
		KVD_FAILPOINTS=$1 start_peer "$n" 3 "" --anti-entropy-interval 0
	done
	wait_for 30 linked node1 node2 node3
	write_sixty "$2"
}

# join_api N: nodeN joins through node1's /cluster/join (200).
join_api() {
	[ "$(code -X POST -d "{\"id\":\"node$1\",\"address\":\"$(member_addr "$1")\"}" \
	    "$(url node1)/cluster/join")" = 200 ]
}

# read_sixty PREFIX NODE...: one batch of write_sixty's 60 reads (R=2)
# through each NODE finds every value.
read_sixty() {
	local k n ops="" prefix=$1
	shift
	for k in $(seq 1 60); do
		ops="$ops${ops:+,}{\"op\":\"get\",\"key\":\"$prefix-$k\"}"
	done
	for n in "$@"; do
		run c -X POST -d "{\"ops\":[$ops]}" "$(url "$n")/batch"
		[ "$status" -eq 0 ]
		echo "$n: $(echo "$output" | jq -c '[.results[] | select(.status != 200) | .key]')"
		[ "$(echo "$output" | jq --arg p "$prefix-" '[.results[] | select(.status == 200 and .value == ("v" + (.key | ltrimstr($p))))] | length')" = 60 ]
	done
}

# behind_key PREFIX: after start_two_behind, a key PREFIX-N whose owners
# moved from node1..node3 to node1, node4, node5: node1 is the only owner
# a write through the old view reaches.
behind_key() {
	local k
	for k in $(seq 1 400); do
		if [ "$(owners node1 "$1-$k" | paste -sd,)" = \
		    node1,node4,node5 ]; then
			echo "$1-$k"
			return 0
		fi
	done
	return 1
}

# reached_new_owners KEY: node1, node4 and node5 come to hold KEY's
# version written through the old view (fetch: no read repairs it).
reached_new_owners() {
	local n
	wait_for 30 same_v "$1" node1 node4 node5 || {
		for n in node1 node4 node5; do
			echo "$n: $(fetch_v "$n" "$1")"
		done
		grep -i stray "$TMP/node1.log"
		return 1
	}
	[ "$(fetch_v node4 "$1" | jq -r .value)" = through-an-old-view ]
}

@test "two joins at once: a read through the new owners while the old ones place finds every acknowledged write (anti-entropy off)" {
	pick_ports 5
	# Every placement pass of node1..node3 waits 2 s before it sends, so
	# the reads below come while node4 and node5 own keys they do not
	# hold yet.
	local n
	old_three transfer-pass-delay@1+ moving
	for n in 4 5; do
		start_alone "node$n" "$(port "$n")" --anti-entropy-interval 0
		join_api "$n"
	done
	# The new nodes hold nothing to place: their own passes end at once,
	# while the old ones' still wait.  Their reads must not take that
	# for the data having moved (as they did when no LAGGING window
	# opened for a view of a node alone: 20 of 60 read 404 through node4
	# after its pass).
	wait_for 30 placed_for 5 node4
	wait_for 30 placed_for 5 node5
	# One batch of 60 reads at R=2 through each new node: before, the
	# keys whose owners are node4, node5 and one old node read 404
	# through them (about 20 of the 60), until the passes sent them.
	read_sixty moving node4 node5
}

# five_members NODE...: each NODE lists node1..node5 as its members.
five_members() {
	local n
	for n in "$@"; do
		[ "$(ids "$n")" = node1,node2,node3,node4,node5 ] || return 1
	done
}

# Found by contrib/chaos.sh --churn (a read-back during two joins at
# once: 4 to 13 acknowledged keys 404 through a core node).  A member
# that gossip admits (started with --peers, no /cluster/join) brings its
# own entry at ver 0, so the view's version, the sum of the entries'
# vers, stays what it was; transfer_moving took an equal version for
# the view placed for and said nothing moved until the transfer
# thread's next poll (up to 500 ms), so an R=2 read through a node that
# owns none of a key's copies asked node4 and node5 alone.  Here
# node1..node3 never look (transfer-look-skip): nothing is placed, and
# only the owners' comparison can tell that data moves.
@test "two members admitted by gossip at once (the view's version unchanged): a read before the transfer thread's next poll finds every acknowledged write (anti-entropy off)" {
	pick_ports 5
	local n
	old_three transfer-look-skip@1+ gossiped
	for n in 4 5; do
		start_peer "$n" 3 "$(peers_of "$n" 3)" --anti-entropy-interval 0
	done
	wait_for 30 five_members node1 node2 node3
	for n in 1 2 3; do
		[ "$(nodes "node$n" | jq .version)" = 0 ]
	done
	# Before, about a third of the keys (those whose owners are node4,
	# node5 and another) read 404 through the node that is none of them.
	read_sixty gossiped node1 node2 node3
}

# Found while trying contrib/chaos.sh --join-via api's way of joining
# (the join through the API before the node runs) by hand, with readers
# waiting on the new node's socket as it started: 22 and 23 of 24
# acknowledged keys read 404 through it.  node4 and node5 are members before they run; started
# with --peers naming every member, node4 has the cluster's owners from
# its first instant, and transfer_moving said nothing moved until its
# transfer thread's first look found the old owners lagging (and a
# member never heard from did not count).  transfer-look-hold keeps
# node4 from ever looking; node1..node3 never place (transfer-look-skip).
@test "two nodes joined through the API before they run: reads through one that has not looked yet find every acknowledged write (anti-entropy off)" {
	pick_ports 5
	local n
	old_three transfer-look-skip@1+ apifirst
	for n in 4 5; do
		join_api "$n"
	done
	start_peer 5 3 "$(peers_of 5 5)" --anti-entropy-interval 0
	KVD_FAILPOINTS=transfer-look-hold@1+ start_peer 4 3 "$(peers_of 4 5)" \
	    --anti-entropy-interval 0
	wait_for 30 five_members node4 node5
	wait_for 30 linked node4
	# Before, the keys whose owners are node4, node5 and one old node
	# (about a third) read 404 through node4: node5's digest, as empty
	# as its own, agreed.
	read_sixty apifirst node4
	grep -q 'point=transfer-look-hold' "$TMP/node4.log"
}

# A read that takes the full way asks members beyond a key's owners; one
# of them that holds no copy is left so (before: each such read put a
# copy on it, a stray only a cleanup drops; a cluster's first reads take
# the full way).
@test "a read that takes the full way repairs owners, not the members asked beyond them that hold no copy (anti-entropy off)" {
	pick_ports 4
	local n k reps strays=0 copies=0
	for n in 2 3 4; do
		start_peer "$n" 3 "$(peers_of "$n" 4)" --anti-entropy-interval 0
	done
	# node1 never looks at the members: its reads take the full way.
	KVD_FAILPOINTS=transfer-look-hold@1+ start_peer 1 3 "$(peers_of 1 4)" \
	    --anti-entropy-interval 0
	wait_for 30 linked node1 node2 node3 node4
	for k in $(seq 1 20); do
		reps=$(header X-Kvd-Replicas -X PUT -d '{"value":"v"}' \
		    "$(url node2)/kv/full-$k")
		[ -n "$reps" ]
		[ "$(code "$(url node1)/kv/full-$k")" = 200 ]
		for n in node1 node2 node3 node4; do
			[ "$(code "$(url "$n")/internal/fetch/full-$k")" = 200 ] ||
			    continue
			case ",$reps," in
			*",$n,"*) copies=$((copies + 1)) ;;
			*) strays=$((strays + 1)); echo "full-$k on $n, not of $reps" ;;
			esac
		done
	done
	echo "owners' copies $copies, strays $strays"
	[ "$copies" -eq 60 ]
	[ "$strays" -eq 0 ]
	grep -q 'point=transfer-look-hold' "$TMP/node1.log"
}

@test "two leaves at once: a read through the members that stay while the keys are handed off finds every acknowledged write (anti-entropy off)" {
	pick_ports 5
	# Every placement pass waits 2 s before it sends, so the reads below
	# come while node1..node3 own keys only node4 and node5 held.
	local n
	for n in 1 2 3 4 5; do
		KVD_FAILPOINTS=transfer-pass-delay@1+ start_peer "$n" 3 \
		    "$(peers_of "$n" 5)" --anti-entropy-interval 0
	done
	wait_for 30 linked node1 node2 node3 node4 node5
	write_sixty leaving
	for n in 4 5; do
		[ "$(code -X POST -d "{\"id\":\"node$n\"}" "$(url node1)/cluster/leave")" = 200 ]
	done
	# Before, the keys whose owners were node4, node5 and one other read
	# 404 at R=2 through the two new ones until the handoff came.
	read_sixty leaving node1 node2 node3
}

@test "a write through a view that missed two joins reaches both new owners: the old owner that still owns the key forwards it while the others lag (no cleanup, anti-entropy off)" {
	pick_ports 5
	start_two_behind
	local key
	key=$(behind_key behind)
	echo "key=$key"
	[ -n "$key" ]
	[ "$(put node3 "$key" through-an-old-view '?w=3')" = 201 ]

	# node1 owns it and had placed before the write came: before, no
	# one sent it on and a read through node4 (node4 and node5, R=2)
	# answered 404 until a cleanup.
	reached_new_owners "$key"
	grep -q 'msg="transfer: strays forwarded to their owners"' \
	    "$TMP/node1.log"
}

# state_in NODE ID STATE: NODE's /cluster/nodes shows member ID in STATE.
state_in() {
	nodes "$1" | jq -e --arg id "$2" --arg st "$3" \
	    'any(.members[]; .id == $id and .state == $st)' >/dev/null
}

@test "a write through a view that missed two joins, from members that were declared down meanwhile and came back: the old owner that still owns the key forwards it (no cleanup, anti-entropy off)" {
	pick_ports 5
	start_two_behind
	local key
	key=$(behind_key back)
	echo "key=$key"
	[ -n "$key" ]

	# node2 and node3, still on the three-member view, stop answering
	# until node1 declares them down: no member up lags behind node1's
	# placement then.  They come back on that view.
	kill -STOP "$(pid_of node2)" "$(pid_of node3)"
	wait_for 60 state_in node1 node2 down
	wait_for 60 state_in node1 node3 down
	sleep 1	# a lower bound: two of node1's transfer polls (500 ms)
	kill -CONT "$(pid_of node2)" "$(pid_of node3)"
	wait_for 60 linked node1 node2 node3
	[ "$(members node3)" = 3 ]
	[ "$(put node3 "$key" through-an-old-view '?w=3')" = 201 ]

	# node1 owns the key, its pass long done: a window closed at the
	# down verdicts left node4 and node5 without it (R=2 through them
	# answered 404) until a cleanup.
	reached_new_owners "$key"
}

@test "kvctl status lists a node's strays waiting to be forwarded under transfers, until they went out; strays_sent_total counts the copies owners took, not those of failed retries" {
	pick_ports 5
	start_one_behind ""
	join_node5
	local key new holder n
	read -r key new <<<"$(stray_key)"
	for n in node1 node2 node3; do
		[[ ",$new," = *,$n,* ]] || holder=$n
	done
	echo "key=$key new=$new holder=$holder"
	[ -n "$key" ] && [ -n "$holder" ]
	# node5 down: the holder's forwarding fails and is retried, the
	# stray waiting meanwhile.
	kill_node node5
	[ "$(put node4 "$key" through-an-old-view '?w=3')" = 201 ]
	strays_waiting() {
		[ "$(nodes "$holder" | jq '.transfer.strays')" = 1 ]
	}
	wait_for 30 strays_waiting
	run kv status --server "$(url node1)"
	echo "$output"
	[[ "$output" == *"transfers"$'\n'"  - $holder forwarding: 1 stray key waiting to go to its owners"$'\n'* ]]
	run kv status --server "$(url node1)" -o json
	[ "$(echo "$output" | jq -c --arg h "$holder" '.transfers[] | select(.id == $h) | [.strays, .strays_overflow]')" = '[1,false]' ]
	# Two forwardings failed: none of their copies counts as sent.
	wait_for 30 eval '[ "$(grep -c "strays not forwarded" "$TMP/$holder.log")" -ge 2 ]'
	[ "$(nodes "$holder" | jq .transfer.strays_sent_total)" = 0 ]

	# node5 back: the stray goes out, and status no longer lists it.
	start_peer 5 3 "node1=$(member_addr 1)" --anti-entropy-interval 0
	wait_for 30 eval '[ "$(nodes "$holder" | jq .transfer.strays)" = 0 ]'
	# Its three owners took one copy each.
	wait_for 30 eval '[ "$(nodes "$holder" | jq .transfer.strays_sent_total)" = 3 ]'
	wait_for 30 eval '[ "$(fetch_v node5 "$key" | jq -r .value)" = through-an-old-view ]'
	run kv status --server "$(url node1)"
	echo "$output"
	[[ "$output" != *stray* ]]
}

@test "a pass that starts while the last one waits on its senders: the stats say waiting_on 0 until it ends, not the last pass's senders" {
	pick_ports 5
	# Every pass after the first (the join's) waits 2 s once its stats
	# say it started.
	start_one_behind transfer-pass-delay@2+
	local k
	for k in $(seq 1 60); do
		[ "$(put node1 "pass-$k" v)" = 201 ]
	done
	join_node5
	# node4 never places for the join: the keys the join's passes left
	# to it keep an old owner waiting on it.
	waiting() {	# waiting NODE: NODE's transfer waits on a sender
		[ "$(nodes "$1" | jq '.transfer.waiting_on')" -gt 0 ]
	}
	local w="" n
	for n in node1 node2 node3; do
		if wait_for 10 waiting "$n"; then
			w=$n
			break
		fi
	done
	echo "waiting: $w"
	[ -n "$w" ]

	# The leave's pass on w, read all along (finished_ms 0: under way).
	(
		while :; do
			nodes "$w" | jq -c .transfer
			sleep 0.05
		done
	) >"$TMP/transfer.jsonl" 2>/dev/null &
	local poller=$!
	BG+=("$poller")
	[ "$(code -X POST -d '{"id":"node5"}' "$(url node1)/cluster/leave")" = 200 ]
	passes() {	# passes NODE COUNT: NODE logged COUNT passes done
		[ "$(grep -c 'msg="transfer done"' "$TMP/$1.log")" -ge "$2" ]
	}
	wait_for 60 passes "$w" 2
	kill "$poller"
	wait "$poller" || true
	local under_way
	under_way=$(jq -c 'select(.finished_ms == 0)' "$TMP/transfer.jsonl")
	echo "under way: $under_way"
	[ -n "$under_way" ]
	[ "$(jq -s 'map(select(.finished_ms == 0) | .waiting_on) | max' "$TMP/transfer.jsonl")" = 0 ]
}

@test "a node with another --vnodes admitted by gossip alone (--peers): the others show ring_mismatch, log it once, kvd_ring_mismatches 1" {
	start_cluster
	start_peer 4 3 "node1=127.0.0.1:$(port 1)" --vnodes 100
	wait_for 10 all_members 4 node1 node2 node3 node4 || {
		for n in node1 node2 node3 node4; do echo "$n: $(members "$n")"; done
		false
	}
	mismatch_of() {	# mismatch_of NODE ID: NODE's ring_mismatch for ID
		nodes "$1" | jq -r --arg id "$2" '.members[] | select(.id == $id) | .ring_mismatch'
	}
	seen_everywhere() {
		local n
		for n in node1 node2 node3; do
			[ "$(mismatch_of "$n" node4)" = "vnodes 100 (here 150)" ] || return 1
		done
	}
	wait_for 10 seen_everywhere || {
		for n in node1 node2 node3; do nodes "$n" | jq -c '.members[] | {id, ring_mismatch}'; done
		false
	}
	[ "$(mismatch_of node1 node2)" = null ]
	[ "$(mismatch_of node4 node1)" = "vnodes 150 (here 100)" ]
	[ "$(nodes node1 | jq -c .ring)" = '{"vnodes":150,"n":3}' ]
	[ "$(nodes node4 | jq -c .ring)" = '{"vnodes":100,"n":3}' ]
	sleep 1		# five more gossip rounds: still one line per member
	for n in node1 node2 node3; do
		grep 'level=error' "$TMP/$n.log" | grep 'ring' | grep 'id=node4' | grep 'vnodes=100' | grep 'here_vnodes=150'
		[ "$(grep 'level=error' "$TMP/$n.log" | grep -c 'id=node4')" -eq 1 ]
		c "$(url "$n")/metrics" | grep -x 'kvd_ring_mismatches 1'
	done
	c "$(url node4)/metrics" | grep -x 'kvd_ring_mismatches 3'
	# A join call now says so, and that node4 is in already.
	run c -X POST -d "{\"id\":\"node4\",\"address\":\"127.0.0.1:$(port 4)\"}" "$(url node2)/cluster/join"
	echo "join: $output"
	[ "$(echo "$output" | jq -r .code)" = ring_mismatch ]
	[[ "$(echo "$output" | jq -r .error)" == *"node4 has --vnodes 100, this cluster 150"*"member already"* ]]
	[ "$(ids node2)" = node1,node2,node3,node4 ]
}

# ---- conditional writes and headers --------------------------------------

@test "If-Match with an old ETag is 412, with the current one 200; If-None-Match: * on a live key is 412" {
	start_cluster
	local u old cur
	u=$(url node1)
	[ "$(put node1 cond v1)" = 201 ]
	old=$(header ETag "$u/kv/cond")
	[ -n "$old" ]
	[ "$(put node2 cond v2)" = 200 ]
	cur=$(header ETag "$u/kv/cond")
	[ -n "$cur" ]
	[ "$cur" != "$old" ]
	run code -X PUT -H "If-Match: $old" -d '{"value":"lost"}' "$u/kv/cond"
	[ "$output" = 412 ]
	[ "$(c "$u/kv/cond" | jq -r .value)" = v2 ]
	run code -X PUT -H "If-Match: $cur" -d '{"value":"v3"}' "$u/kv/cond"
	[ "$output" = 200 ]
	[ "$(c "$(url node3)/kv/cond" | jq -r .value)" = v3 ]
	run code -X PUT -H 'If-None-Match: *' -d '{"value":"again"}' "$u/kv/cond"
	[ "$output" = 412 ]
	run code -X PUT -H 'If-None-Match: *' -d '{"value":"fresh"}' "$u/kv/cond-new"
	[ "$output" = 201 ]
}

@test "write responses report the replicas: X-Kvd-Replicas has 3 distinct ids, X-Kvd-Acks >= 2" {
	start_cluster
	local hdrs reps acks req
	hdrs=$(curl -s --max-time 60 -D - -o /dev/null -X PUT -d '{"value":"h"}' \
	    "$(url node2)/kv/hdr" | tr -d '\r')
	echo "$hdrs"
	echo "$hdrs" | head -1 | grep -q ' 201'
	reps=$(echo "$hdrs" | awk -F': ' 'tolower($1) == "x-kvd-replicas" {print $2}')
	acks=$(echo "$hdrs" | awk -F': ' 'tolower($1) == "x-kvd-acks" {print $2}')
	req=$(echo "$hdrs" | awk -F': ' 'tolower($1) == "x-kvd-required" {print $2}')
	[ "$(echo "$reps" | tr ',' '\n' | sort -u | grep -cxE 'node[123]')" -eq 3 ]
	[ "$(echo "$reps" | tr ',' '\n' | wc -l)" -eq 3 ]
	[ "$acks" -ge 2 ]
	[ "$req" -eq 2 ]
	echo "$hdrs" | grep -qi '^x-kvd-acked: '
}

@test "a coordinator asks its digests of the member after it (ids in order, wrapping), whatever the key: node1 of node2, node2 of node3, node3 of node1" {
	start_cluster
	local i n want reps
	for i in $(seq 1 20); do
		[ "$(put node1 "m$i" "v$i")" = 201 ]
	done
	for n in 1 2 3; do
		want="node$n,node$((n % 3 + 1)),"
		for i in $(seq 1 20); do
			reps=$(header X-Kvd-Replicas "$(url "node$n")/kv/m$i")
			echo "GET m$i via node$n: X-Kvd-Replicas $reps"
			[[ "$reps," == "$want"* ]]
		done
	done
}

# ---- the README's three-node cluster -----------------------------------

# qs_health PORT: the quick-start node on PORT answers /health.
qs_health() {
	curl -s --max-time 1 -o /dev/null "http://localhost:$1/health"
}

# readme_cluster: the ./kvd and ./kvctl lines of the README's "A three-node
# cluster" block, with its ports 8080-8082 replaced by this file's picked
# ports and /tmp/kv by a directory of this test's own; the trailing "& N1=$!" goes, since the
# test starts each node itself and keeps its pid for teardown.
readme_cluster() {
	awk '/^### A three-node cluster/ { f = 1 } f && /^```sh/ { b = 1; next }
	    b && /^```/ { exit } b' "$ROOT/README.md" |
	    sed -e "s/:8080/:$(port 1)/g" -e "s/:8081/:$(port 2)/g" \
	    -e "s/:8082/:$(port 3)/g" \
	    -e "s|/tmp/kv|$TMP/kv|g" -e 's/ *&\( *N[0-9]=\$!\)\{0,1\}$//'
}

@test "the README's three-node cluster commands work as written" {
	local line n=0 p
	cd "$ROOT"
	readme_cluster >"$TMP/qs.sh"
	[ "$(grep -c '^./kvd ' "$TMP/qs.sh")" -eq 3 ]
	while IFS= read -r line; do
		case "$line" in
		./kvd\ *)
			n=$((n + 1))
			eval "exec $line" >"$TMP/qs$n.log" 2>&1 3>&- &
			echo $! >"$TMP/qs$n.pid"
			;;
		esac
	done <"$TMP/qs.sh"
	for p in 1 2 3; do
		wait_for 10 qs_health "$(port $p)" || { cat "$TMP"/qs*.log; false; }
	done
	while IFS= read -r line; do
		case "$line" in
		./kvctl\ *)
			run timeout 15 bash -c "$line"
			echo "$line: $status $output"
			[ "$status" -eq 0 ]
			case "$line" in
			*" get hello "*) [ "$output" = world ] ;;
			*" cluster nodes "*)
				[ "$(echo "$output" | jq -r '[.members[].id] | sort | join(",")')" = node1,node2,node3 ] ;;
			esac
			;;
		esac
	done <"$TMP/qs.sh"
}

# ---- kvctl --------------------------------------------------------------

@test "kvctl --server: a dead first server is skipped for the next one" {
	start_cluster
	local dead="http://127.0.0.1:$(port 4)"	# chosen free, nothing listens
	run --separate-stderr kv put failover yes --server "$dead,$(url node1)"
	echo "put: $status [$output] [$stderr]"
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]	# a failover that succeeds is quiet...
	run --separate-stderr kv -v get failover --server "$dead,$(url node1)"
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"$dead"* ]]	# ...and named with -v
	run --separate-stderr kv get failover --server "$dead,$(url node2)"
	[ "$status" -eq 0 ]
	[ "$output" = yes ]
	kill_node node1
	run --separate-stderr kv get failover --server "$(url node1),$dead,$(url node3)"
	echo "get: $status [$output] [$stderr]"
	[ "$status" -eq 0 ]
	[ "$output" = yes ]
	run --separate-stderr kv get failover --server "$dead,$(url node1)"
	[ "$status" -eq 3 ]
	[[ "$stderr" == *"no server reachable"* ]]
}

# ---- atomic conditional writes ------------------------------------------

@test "20 concurrent If-None-Match: * PUTs of one new key through one node: exactly one 201, the rest 412" {
	start_cluster
	local u i pids=()
	u=$(url node1)
	for i in $(seq 1 20); do
		curl -s --max-time 10 -o /dev/null -w '%{http_code}\n' -X PUT \
		    -H 'If-None-Match: *' -d "{\"value\":\"w$i\"}" "$u/kv/race" \
		    >"$TMP/race.$i" &
		pids+=($!)
	done
	wait "${pids[@]}"	# the curls only: the nodes are children too
	cat "$TMP"/race.* | sort | uniq -c
	[ "$(cat "$TMP"/race.* | grep -cx 201)" -eq 1 ]
	[ "$(cat "$TMP"/race.* | grep -cx 412)" -eq 19 ]
	# The winner's value is what every node reads.
	local winner
	winner=$(c "$u/kv/race" | jq -r .value)
	[[ "$winner" == w* ]]
	[ "$(c "$(url node3)/kv/race" | jq -r .value)" = "$winner" ]
}

# ---- a node that has left ----------------------------------------------

# left4: node1..node4, then node4 left (through node1) and knows it; its
# handoff is done.  Sets L4 (node4's URL) and M1 (node1's).
left4() {
	start_cluster
	start_member 4 "node1=127.0.0.1:$(port 1)"
	wait_for 10 all_members 4 node1 node2 node3 node4
	L4=$(url node4) M1=$(url node1)
	local i
	for ((i = 0; i < 10; i++)); do
		[ "$(put node1 "left-$i" "v$i")" = 201 ]
	done
	run --separate-stderr kv cluster leave node4 --server "$M1"
	echo "leave: $status [$output] [$stderr]"
	[ "$status" -eq 0 ] && [ -z "$stderr" ]
	LEAVE_OUT=$output
	wait_for 10 eval '[ "$(c "$L4/health" | jq -r .status)" = left ]'
	wait_for 20 eval '[ "$(nodes node4 | jq .transfer.running)" = false ]'
}

@test "kvctl cluster leave says who left, through which member, the members now, and how to know its keys have moved before stopping it; --json the member list" {
	left4
	echo "$LEAVE_OUT"
	[ "$(echo "$LEAVE_OUT" | head -1)" = "node4 left the cluster (it was at 127.0.0.1:$(port 4)), through node1 at 127.0.0.1:$(port 1)" ]
	echo "$LEAVE_OUT" | grep -qx 'members now: 3 (node1, node2, node3)'
	echo "$LEAVE_OUT" | grep -q 'background'
	echo "$LEAVE_OUT" | grep -qF '"running":false'
	echo "$LEAVE_OUT" | grep -qF "http://127.0.0.1:$(port 4)/cluster/nodes"
	echo "$LEAVE_OUT" | grep -q "kvctl status"
	# --json: the server's answer and nothing else; a refusal, no stdout.
	run --separate-stderr kv cluster leave node3 --server "$M1" --json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r '[.members[].id] | join(",")')" = node1,node2 ]
	run --separate-stderr kv cluster leave nosuch --server "$M1"
	[ "$status" -eq 1 ] && [ -z "$output" ]
}

@test "a node that left answers 503 left: kvctl asks the next --server (get --retry, watch); status warns; health exits 5" {
	left4
	[ "$(code "$L4/kv/left-1")" = 503 ]
	# The members list it under "removed", with its address and state,
	# so that kvctl status can ask it how its handoff goes.
	nodes node1 | jq -e --arg a "127.0.0.1:$(port 4)" '.removed | any(.id == "node4" and .address == $a and (.state | type) == "string")'
	# get: the next server answers at once, even with --retry.
	run --separate-stderr kv --server "$L4,$M1" get left-1 --retry 2
	echo "get: $status [$output] [$stderr]"
	[ "$status" -eq 0 ] && [ "$output" = v1 ] && [ -z "$stderr" ]
	run --separate-stderr kv -v --server "$L4,$M1" get left-1
	[ "$status" -eq 0 ]
	[[ $stderr == *"$L4: 503 this node has left the cluster"* ]]
	# Alone in the list, its 503 is the answer, as before.
	run --separate-stderr kv --server "$L4" get left-1
	[ "$status" -eq 5 ]
	# watch: the value from node1, no "retrying" loop on node4.
	run --separate-stderr timeout 3 "$KVCTL" --server "$L4,$M1" watch left-2
	echo "watch: $status [$output] [$stderr]"
	[ "$(echo "$output" | head -1)" = v2 ]
	[[ $stderr != *retrying* ]]
	# status through it: says it is no member.
	run --separate-stderr kv --server "$L4" status
	echo "status: $status [$output] [$stderr]"
	[ "$status" -eq 0 ]
	[[ $output == *"this node (node4) has left the cluster"*"ask a member: --server http://127.0.0.1:"* ]]
	[[ $stderr == *"this node (node4) has left the cluster; ask a member"* ]]
	run --separate-stderr kv --server "$L4" status -o json
	echo "$output" | jq -e '.warnings | any(test("has left the cluster"))'
	# health: it answers, but serves no key: exit 5, said on stderr.
	run --separate-stderr kv --server "$L4" health
	echo "health: $status [$output] [$stderr]"
	[ "$status" -eq 5 ]
	[ "$(echo "$output" | jq -r .status)" = left ]
	[[ $stderr == *"has left the cluster"* ]]
}

# rounds NODE: how many gossip rounds NODE has made since it started (its
# own heartbeat).
rounds() {
	nodes "$1" | jq -r '.members[] | select(.self == true) | .heartbeat'
}

@test "a member that left and stopped is probed by no node after the cluster restarts: no declared down, no down state, listed as removed only" {
	left4
	kill_node node4
	local n
	local -a from
	for n in 1 2 3; do
		kill_node "node$n"
	done
	for n in 1 2 3; do
		from[n]=$(($(wc -l <"$TMP/node$n.log") + 1))
		start_member "$n"
	done
	wait_for 20 linked node1 node2 node3
	# Twenty rounds each: a watched member never heard from is suspect
	# after three, and each round probes two suspects.
	for n in 1 2 3; do
		wait_for 40 eval '[ "$(rounds node'"$n"')" -ge 20 ]'
	done
	for n in 1 2 3; do
		tail -n "+${from[n]}" "$TMP/node$n.log" | grep 'id=node4' || true
		! tail -n "+${from[n]}" "$TMP/node$n.log" |
		    grep -q 'declared down after probes.*id=node4' || false
		! tail -n "+${from[n]}" "$TMP/node$n.log" |
		    grep -q 'member down (gossip).*id=node4' || false
		nodes "node$n" | jq -e '[.members[].id] | index("node4") == null'
		nodes "node$n" | jq -e '.removed | map(select(.id == "node4")) |
		    length == 1 and .[0].state != "down"'
	done
}

@test "a leave repeated (a script retrying): kvctl exits 0 saying node4 has already left, nothing changed; the server's 404 says already_left; an id never a member stays 404 not_found, exit 1" {
	left4
	# Through node2, which learnt of the leave from node1.
	wait_for 10 eval '[ "$(nodes node2 | jq "[.removed[].id] | index(\"node4\")")" != null ]'
	run --separate-stderr kv cluster leave node4 --server "$(url node2)"
	echo "again: $status [$output] [$stderr]"
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[ "$(echo "$output" | head -1)" = "node4 has already left the cluster: nothing changed (a leave repeated?)" ]
	echo "$output" | grep -q "kvctl status"
	run --separate-stderr kv cluster leave node4 --server "$M1" --json
	echo "json: $status [$output] [$stderr]"
	[ "$status" -eq 0 ]
	echo "$output" | jq -e '.code == "already_left"'
	local body
	body=$(curl -s --max-time 60 -w '\n%{http_code}' -X POST -d '{"id":"node4"}' "$M1/cluster/leave")
	echo "$body"
	[ "${body##*$'\n'}" = 404 ]
	body=${body%$'\n'*}
	[ "$(echo "$body" | jq -r .code)" = already_left ]
	[ "$(echo "$body" | jq -r .error)" = "node4 has already left the cluster (nothing changed; /cluster/join admits it again)" ]
	[ "$(nodes node1 | jq -r '[.members[].id] | join(",")')" = node1,node2,node3 ]
	# Never a member: the 404 it was, exit 1, named on stderr.
	body=$(curl -s --max-time 60 -w '\n%{http_code}' -X POST -d '{"id":"nosuch"}' "$M1/cluster/leave")
	[ "${body##*$'\n'}" = 404 ]
	[ "$(echo "${body%$'\n'*}" | jq -r .code)" = not_found ]
	run --separate-stderr kv cluster leave nosuch --server "$M1"
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	[ "$stderr" = "kvctl: cluster leave: 404 nosuch is not a member" ]
}

# start_refuser: the stand-in "refuser", every POST answered 503 with
# "EE" and 100 euro signs (2 + 3 x 100 bytes), so that byte 256 of an
# error quoting it falls inside a character.
start_refuser() {
	start_standin refuser <<'PY'
import sys, standin
BODY = ("EE" + "\u20ac" * 100).encode()
class H(standin.Handler):
    def do_POST(self):
        self.body()
        self.send(503, BODY)
    def do_GET(self):
        self.answer(404, {"error": "not found"})
standin.serve(H, sys.argv[1])
PY
}

# euros N: N euro signs, 3 bytes each in UTF-8.
euros() {
	local i
	for ((i = 0; i < $1; i++)); do printf '\342\202\254'; done
}

# join_refuser: node1 admits the stand-in as node2 (unchecked: it answers
# no /cluster/nodes).
join_refuser() {
	[ "$(code -X POST -d "{\"id\":\"node2\",\"address\":\"127.0.0.1:$(cat "$TMP/refuser.port")\"}" \
	    "$(url node1)/cluster/join")" = 200 ]
}

# A receiver that refuses a transfer's batches with a long answer: the
# transfer's last_error keeps it whole up to 256 bytes, cut between two
# UTF-8 characters, as /cluster/nodes and kvctl cluster nodes --json
# show it (it was cut at 80 bytes).  node2 is a stand-in: joined through
# node1 unchecked (it answers no /cluster/nodes), every POST answered 503
# with 2 + 3 x 100 bytes, so that byte 256 falls inside a character.
@test "a transfer refused with a long answer keeps it in last_error up to 256 bytes, cut between UTF-8 characters" {
	start_refuser
	local want i
	want="to node2: HTTP 503: EE$(euros 84)"
	start_alone node1 "$(port 1)"
	for i in 1 2 3; do
		[ "$(put node1 "lx$i" v)" = 201 ]
	done
	wait_for 10 test -s "$DATA/node1/placed.json"	# settled: a join moves keys
	join_refuser
	wait_for 20 bash -c "curl -s '$(url node1)/cluster/nodes' | jq -e '.transfer.last_error | length > 0' >/dev/null"
	run --separate-stderr kv --server "$(url node1)" cluster nodes --json
	echo "$output" | jq -r .transfer.last_error
	[ "$(echo "$output" | jq -r .transfer.last_error)" = "$want" ]
	# kvctl status names it whole too.
	run --separate-stderr kv --server "$(url node1)" status
	echo "$output"
	[[ $output == *"; last error $want"* ]]
}

# A peer that refuses anti-entropy's sync with a long answer: the
# exchange's last_error keeps it whole up to 256 bytes, cut between two
# UTF-8 characters, in /cluster/nodes and kvctl status (it was cut at 120
# bytes, inside a character: a \ufffd).  node2 is the stand-in of the
# test above, every POST answered 503; a repair asks it at once.
@test "an anti-entropy sync refused with a long answer keeps it in last_error up to 256 bytes, cut between UTF-8 characters" {
	start_refuser
	local want
	want="sync refused: 503 EE$(euros 84)"
	start_alone node1 "$(port 1)"
	join_refuser
	[ "$(code -X POST "$(url node1)/admin/repair")" = 202 ]
	wait_for 20 bash -c "curl -s '$(url node1)/admin/repair' | jq -e '.state == \"failed\"' >/dev/null"
	c "$(url node1)/cluster/nodes" | jq -r .anti_entropy.last_error
	[ "$(c "$(url node1)/cluster/nodes" | jq -r .anti_entropy.last_error)" = "$want" ]
	run --separate-stderr kv --server "$(url node1)" status
	echo "$output"
	[[ $output == *"with node2: failed: $want"$'\n'* ]]
}

# A member that refuses its hints with a long answer: the owner's
# hint_last_error keeps push's error whole, the answer up to 256 bytes
# cut between two UTF-8 characters (it was cut to 159 bytes).  node2 is
# the stand-in of the tests above, every POST answered 503: a write
# through node1 leaves a hint for it.
@test "a hint refused with a long answer keeps it in hint_last_error up to 256 bytes, cut between UTF-8 characters" {
	start_refuser
	local want
	want="HTTP 503: EE$(euros 84)"
	start_alone node1 "$(port 1)"
	join_refuser
	[ "$(put node1 hk v "?w=1")" = 201 ]
	wait_for 20 bash -c "curl -s '$(url node1)/cluster/nodes' | jq -e '.members[] | select(.id == \"node2\") | .hint_last_error != null' >/dev/null"
	c "$(url node1)/cluster/nodes" | jq -r '.members[] | select(.id == "node2") | .hint_last_error'
	[ "$(c "$(url node1)/cluster/nodes" | jq -r '.members[] | select(.id == "node2") | .hint_last_error')" = "$want" ]
}
