#!/usr/bin/env bats
# test/scale.bats -- membership with 8 nodes started as a Cassandra
# cluster is, every node naming only node1 in --peers (issue 17): every
# view converges to "up" by gossiped heartbeats; a node killed with no
# client traffic at all is marked down in every other view; and a join
# sends each key once, from one replica, so the keys the nodes sent equal
# the keys the new node received.
#
# Bounds are generous (a loaded 2-core box): these tests check that the
# thing happens, contrib/scale.sh measures how fast.  Gossip runs every
# 200 ms with 500 ms peer timeouts; every wait is a bounded poll and
# teardown kills every process the file started.

load helpers
bats_require_minimum_version 1.5.0

BATS_TEST_TIMEOUT=${BATS_TEST_TIMEOUT:-120}
NODES=8

setup() {
	setup_tmp
	pick_ports $((NODES + 1))
}

# start_seeded N [flags...]: nodeN on its picked port; every node but
# node1 names only node1 in --peers.
start_seeded() {
	local n=$1 p
	shift
	p=$(port "$n")
	if [ "$n" -eq 1 ]; then
		start_node node1 --addr "127.0.0.1:$p" --advertise "127.0.0.1:$p" \
		    --peer-timeout-ms 500 --gossip-interval-ms 200 "$@"
	else
		start_node "node$n" --addr "127.0.0.1:$p" \
		    --advertise "127.0.0.1:$p" --peers "node1=$(member_addr 1)" \
		    --peer-timeout-ms 500 --gossip-interval-ms 200 "$@"
	fi
}

start_cluster() {
	local i
	for ((i = 1; i <= NODES; i++)); do
		start_seeded "$i" "$@"
	done
}

# every_view FILTER NODE...: each NODE's /cluster/nodes passes the jq
# FILTER (the callers below put their numbers and names in it).
every_view() {
	local filter=$1 n
	shift
	for n in "$@"; do
		nodes "$n" | jq -e "$filter" >/dev/null 2>&1 || return 1
	done
}

# all_see COUNT STATE NODE...: each NODE lists COUNT members and shows
# every other one in STATE.
all_see() {
	local count=$1 state=$2
	shift 2
	every_view "(.members | length) == $count and
	    ([.members[] | select(.self != true) | .state == \"$state\"] | all)" "$@"
}

# nodes_to NODE FILE: NODE's /cluster/nodes into FILE, when it is JSON.
nodes_to() {
	nodes "$1" >"$2" && jq -e .members "$2" >/dev/null 2>&1
}

# shown_down ID NODE...: every NODE shows member ID "down".
shown_down() {
	local id=$1
	shift
	every_view "[.members[] | select(.id == \"$id\") | .state] == [\"down\"]" "$@"
}

# placed COUNT NODE...: each NODE lists COUNT members and runs no transfer.
placed() {
	local count=$1
	shift
	every_view "(.members | length) == $count and (.transfer.running | not)" "$@"
}

# placed_twice COUNT NODE...: placed, and still so a second later.
placed_twice() {
	placed "$@" && sleep 1 && placed "$@"
}

# prefilled_cluster: the NODES nodes up in every view, 600 keys written
# through all of them, and every transfer done.
prefilled_cluster() {
	start_cluster --anti-entropy-interval 0
	# shellcheck disable=SC2046
	wait_for 60 all_see "$NODES" up $(ids "$NODES")
	run_split 60 "$KVCTL" bench --server "$(servers "$NODES")" --prefill \
	    --keys 600 -n 1 -c 4 --size 20
	[ "$rc" -eq 0 ]
	# shellcheck disable=SC2046
	wait_for 60 placed_twice "$NODES" $(ids "$NODES")
}

# sent_total NODE...: the keys the NODEs' transfers sent since start.
sent_total() {
	local n t=0 s
	for n in "$@"; do
		s=$(nodes "$n" | jq '.transfer.keys_sent_total')
		t=$((t + s))
	done
	echo "$t"
}

# held_keys NODE COUNT: how many of kvctl bench's first COUNT keys NODE
# holds itself (/internal/fetch: its own copy, no quorum).
held_keys() {
	local u i args=()
	u=$(url "$1")
	for ((i = 0; i < $2; i++)); do
		args+=(-o /dev/null "$u/internal/fetch/key:$(printf %012d "$i")")
	done
	curl -s --max-time 60 -w '%{http_code}\n' "${args[@]}" | grep -c '^200$'
}

ids() {
	local i
	for ((i = 1; i <= $1; i++)); do
		echo "node$i"
	done
}

@test "8 nodes, each naming only node1: every view lists 8 members and says up, with heartbeats and who reported them" {
	start_cluster
	# shellcheck disable=SC2046
	wait_for 60 all_see "$NODES" up $(ids "$NODES")
	wait_for 10 nodes_to node4 "$TMP/n4"
	# Each member: a heartbeat that moves, its age here, who brought it.
	jq -e '[.members[] | select(.self != true) |
	    (.heartbeat > 0) and (.generation > 0) and
	    (.heartbeat_age_ms | type == "number") and
	    (.reported_by | type == "string") and
	    (.link | type == "string")] | all' "$TMP/n4"
	jq -e '[.members[] | select(.self == true) | .heartbeat > 0] == [true]' \
	    "$TMP/n4"
	# /ready says so too.
	[ "$(code "$(url node8)/ready")" = 200 ]
}

@test "a node killed with no client traffic is marked down in every other view" {
	start_cluster
	# shellcheck disable=SC2046
	wait_for 60 all_see "$NODES" up $(ids "$NODES")
	kill_node node5
	# shellcheck disable=SC2046
	wait_for 60 shown_down node5 $(ids "$NODES" | grep -vx node5)
	# The others stay up (one member down marks nobody else).
	nodes node2 | jq -e '[.members[] | select(.self != true and
	    .id != "node5") | .state == "up"] | all'
	# It comes back up once it returns.
	start_seeded 5
	# shellcheck disable=SC2046
	wait_for 60 all_see "$NODES" up $(ids "$NODES")
}

@test "a join sends each key once: the keys all nodes sent equal the keys the new node received" {
	local before after held
	prefilled_cluster
	# shellcheck disable=SC2046
	before=$(sent_total $(ids "$NODES"))

	start_seeded 9 --anti-entropy-interval 0
	run_split 15 "$KVCTL" --server "$(url node1)" cluster join node9 \
	    "$(member_addr 9)"
	[ "$rc" -eq 0 ]
	# shellcheck disable=SC2046
	wait_for 60 placed_twice 9 $(ids 9)
	# shellcheck disable=SC2046
	after=$(sent_total $(ids 9))
	held=$(held_keys node9 600)
	echo "# sent $((after - before)) held $held" >&3
	# node9 owns about 3/9 of 600 keys: it holds each of them, and got
	# each exactly once.
	[ "$held" -gt 100 ]
	[ "$held" -eq "$(owned_by node9 9 600)" ]
	[ $((after - before)) -eq "$held" ]
	# The old nodes left most keys to one sender each.
	nodes node2 | jq -e '.transfer.keys_delegated > 0 and
	    .transfer.waiting_on == 0'
}

# owned_by ID COUNT KEYS: how many of key:000000000000.. (KEYS of them,
# kvctl bench's names) have ID among their 3 owners on the ring of
# node1..nodeCOUNT (lib/ring.c: FNV-1a 32 then fmix32, 150 points "ID#j"
# per member, ties by id).
owned_by() {
	python3 - "$@" <<'PY'
import bisect, sys
me, count, keys = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def h(s):
    x = 0x811c9dc5
    for b in s.encode():
        x = ((x ^ b) * 0x01000193) & 0xffffffff
    x ^= x >> 16; x = (x * 0x85ebca6b) & 0xffffffff
    x ^= x >> 13; x = (x * 0xc2b2ae35) & 0xffffffff
    return x ^ (x >> 16)
ids = sorted("node%d" % i for i in range(1, count + 1))
pts = sorted((h("%s#%d" % (m, j)), r, m) for r, m in enumerate(ids)
             for j in range(150))
hs = [p[0] for p in pts]
n = 0
for k in range(keys):
    i = bisect.bisect_left(hs, h("key:%012d" % k)) % len(pts)
    pref = []
    while len(pref) < 3:
        if pts[i][2] not in pref:
            pref.append(pts[i][2])
        i = (i + 1) % len(pts)
    n += me in pref
print(n)
PY
}

@test "a sender stopped during a join: the others send what it owed, and the new node holds every key it owns" {
	local i held want fb
	prefilled_cluster

	# node3 stops answering just as node9 arrives: the others may have
	# left keys to it before gossip calls it down.
	kill -STOP "$(pid_of node3)"
	start_seeded 9 --anti-entropy-interval 0
	run_split 15 "$KVCTL" --server "$(url node1)" cluster join node9 \
	    "$(member_addr 9)"
	[ "$rc" -eq 0 ]
	# shellcheck disable=SC2046
	wait_for 60 shown_down node3 $(ids 9 | grep -vx node3)
	# shellcheck disable=SC2046
	wait_for 60 placed_twice 9 $(ids 9 | grep -vx node3)
	held=$(held_keys node9 600)
	want=$(owned_by node9 9 600)
	fb=0
	for i in 1 2 4 5 6 7 8; do
		fb=$((fb + $(nodes "node$i" | jq .transfer.fallbacks)))
	done
	echo "# held $held want $want fallback passes $fb" >&3
	[ "$want" -gt 100 ]
	[ "$held" -eq "$want" ]
}
