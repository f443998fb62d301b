#!/usr/bin/env bats
# test/edges.bats -- the cluster's edges (issue 10): the places where a
# value, a member or a process meets a limit or a boundary.
#
#   1 MiB	a value of exactly --max-body (1048576 random bytes) travels
#		every node-to-node path: replicate, read repair, hints,
#		anti-entropy, join and leave transfer; a hint the owner
#		refuses for good is set aside and never blocks the others
#   join	with anti-entropy off, a node that joins (by the README's
#		join call or by gossip alone) receives the keys it now owns,
#		also from nodes on their first start below N, or a node
#		started alone; a member wiped and started again under its
#		id is no sender until it refilled itself (hollow), so a
#		join still sends every key to its new owners; reads do
#		not count its "not found"; its refill ends with the repair
#		that fetched its keys, and backs off while a member is
#		down; made to leave, it holds nobody up
#   leave	a node that left says so (/health, /ready, /cluster/nodes,
#		writes); cleanup drops the copies a node no longer owns,
#		once their new owners hold them
#   SIGTERM	with hints pending: exit 0, no sanitizer report, the hints
#		survive and are delivered; with writes still waiting after
#		the grace: exit 1, no sanitizer report, the acknowledged
#		writes survive; with none (grace 0, an idle client), or only
#		request bodies still coming: exit 0 and a snapshot; with
#		peers that hang: at once, whatever --peer-timeout-ms, its
#		own calls dropped; gossip calls nobody once it stops; a
#		write in flight still reaches its quorum in the grace
#   stripes	a write waiting for a hung replica does not hold up another
#		key that shares its coordinator lock stripe
#   start-up	a bad flag exits 2 and leaves no node directory; unknown
#		KVD_ variables and ignored --peers are warned about
#   away	a node stopped cleanly starts again at once, however long
#		it ran; one killed and down longer than --tombstone-grace
#		is refused; one stopped (SIGSTOP) longer than that exits 1
#		once it runs again, and its next start is refused
#
# A node's own copy is read with GET /kv/KEY?r=1&raw through that node:
# the coordinator reads its own copy first when it is an owner, and r=1
# asks nobody else and repairs nothing, so what it returns is what the
# node holds (but for a hollow node, whose "not found" makes it ask
# another owner: its own copies are read with /internal/fetch, held_by).
# Owners come from X-Kvd-Replicas, read the same way.
#
# Tests whose subject is one path check that path first; the write
# statuses (which the replicate path decides) are checked at the end, so
# a failure names the path under test.
#
# Nodes run on fixed loopback ports picked in setup (--peers needs them
# before start), with short peer timeouts and gossip; every wait is a
# bounded poll (no duration is asserted), every client call has a
# deadline, and teardown kills every process the test started.

load helpers
bats_require_minimum_version 1.5.0

BATS_TEST_TIMEOUT=${BATS_TEST_TIMEOUT:-150}

MIB=1048576

setup() {
	setup_tmp
	pick_ports 4
	mkdir -p "$TMP/val"
	KVH_VALS="$TMP/val"
	KVH_NODES="node1=http://$(member_addr 1),node2=http://$(member_addr 2)"
	KVH_NODES="$KVH_NODES,node3=http://$(member_addr 3),node4=http://$(member_addr 4)"
	export KVH_VALS KVH_NODES
	write_kvh
}

# ---- helpers -------------------------------------------------------------

# write_kvh: the Python helper (stdlib only) for bulk reads and writes.
# The value of key K is the bytes of $KVH_VALS/K when that file exists
# (sent as application/octet-stream), else "v-K" (sent as JSON).  Nodes
# are named by id; $KVH_NODES maps ids to URLs.
#   kvh put NODE QUERY KEY...         PUT each key through NODE (QUERY
#                                     like "w=3", or ""); prints
#                                     "KEY STATUS ACKS" per key
#   kvh lacking NODE QUERY KEY...     GET /kv/KEY?QUERY&raw through NODE;
#                                     prints each key whose answer is not
#                                     200 with the exact bytes; exit 1 if any
#   kvh owners VIA KEY...             prints "KEY ID,ID,..." from
#                                     X-Kvd-Replicas (HEAD ?r=1 via VIA)
#   kvh owners_lacking VIA ONLY KEY...
#                                     for each key, every owner VIA lists
#                                     (or only ONLY, unless ONLY is "all")
#                                     must hold the exact bytes (GET
#                                     ?r=1&raw through that owner); prints
#                                     "KEY OWNER WHAT" per miss; exit 1 on
#                                     a miss (or a key VIA names no owner
#                                     for), 2 when ONLY is listed for no
#                                     key yet
write_kvh() {
	cat >"$TMP/kvh.py" <<'EOF'
import http.client, json, os, sys, threading, urllib.parse
from concurrent.futures import ThreadPoolExecutor

NODES = dict(e.split("=", 1) for e in os.environ["KVH_NODES"].split(",") if e)
VALS = os.environ["KVH_VALS"]
local = threading.local()

def expected(key):
    p = os.path.join(VALS, key)
    if os.path.exists(p):
        with open(p, "rb") as f:
            return f.read(), True
    return ("v-" + key).encode(), False

def request(node, method, path, body=None, headers=None):
    """(status, headers, body); status None on a transport error."""
    conns = local.__dict__.setdefault("conns", {})
    for attempt in (0, 1):
        c = conns.get(node)
        try:
            if c is None:
                u = urllib.parse.urlsplit(NODES[node])
                c = conns[node] = http.client.HTTPConnection(
                    u.hostname, u.port, timeout=30)
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            hdrs = {k.lower(): v for k, v in r.getheaders()}
            if hdrs.get("connection", "").lower() == "close":
                c.close()
                conns.pop(node, None)
            return r.status, hdrs, data
        except (OSError, http.client.HTTPException) as e:
            if c is not None:
                c.close()
            conns.pop(node, None)
            # A stale keep-alive connection: retry reads once, never writes.
            if method not in ("GET", "HEAD") or attempt:
                return None, {}, str(e).encode()
    return None, {}, b""

def kpath(key, query):
    return "/kv/" + urllib.parse.quote(key, safe="") + ("?" + query if query else "")

def pmap(fn, items, workers=4):
    with ThreadPoolExecutor(max_workers=workers) as ex:
        return list(ex.map(fn, items))

def put(node, query, keys):
    # 1 MiB values one at a time: a burst of them on two cores could
    # outlast a replica call's deadline.
    workers = 1 if any(expected(k)[1] for k in keys) else 4
    def one(key):
        val, raw = expected(key)
        if raw:
            st, h, _ = request(node, "PUT", kpath(key, query), val,
                               {"Content-Type": "application/octet-stream"})
        else:
            st, h, _ = request(node, "PUT", kpath(key, query),
                               json.dumps({"value": val.decode()}),
                               {"Content-Type": "application/json"})
        return "%s %s %s" % (key, st, h.get("x-kvd-acks", "-"))
    for line in pmap(one, keys, workers):
        print(line)
    return 0

def miss(node, key, query):
    """None when node answers 200 with key's exact bytes, else why."""
    want, _ = expected(key)
    q = (query + "&" if query else "") + "raw"
    st, _, data = request(node, "GET", kpath(key, q))
    if st == 200 and data == want:
        return None
    if st == 200:
        return "wrong bytes (%d of %d)" % (len(data), len(want))
    return "status %s" % st

def lacking(node, query, keys):
    bad = [(k, w) for k, w in zip(keys, pmap(lambda k: miss(node, k, query), keys)) if w]
    for k, w in bad:
        print("%s %s" % (k, w))
    return 1 if bad else 0

def owners_of(via, key):
    st, h, _ = request(via, "HEAD", kpath(key, "r=1"))
    return [o for o in h.get("x-kvd-replicas", "").split(",") if o]

def owners(via, keys):
    for k, o in zip(keys, pmap(lambda k: owners_of(via, k), keys)):
        print("%s %s" % (k, ",".join(o)))
    return 0

def owners_lacking(via, only, keys):
    lists = pmap(lambda k: owners_of(via, k), keys)
    if only != "all" and not any(only in o for o in lists):
        print("%s is an owner of no key yet (as %s sees it)" % (only, via))
        return 2
    pairs = [(k, o) for k, os_ in zip(keys, lists) for o in os_
             if only == "all" or o == only]
    def one(p):
        if p[1] not in NODES:
            return "unknown node"
        return miss(p[1], p[0], "r=1")
    bad = [((k, via), "no X-Kvd-Replicas") for k, o in zip(keys, lists) if not o]
    bad += [(p, w) for p, w in zip(pairs, pmap(one, pairs)) if w]
    for (k, o), w in bad:
        print("%s %s %s" % (k, o, w))
    print("%d of %d copies missing" % (len(bad), len(pairs)))
    return 1 if bad else 0

cmd, args = sys.argv[1], sys.argv[2:]
if cmd == "put":
    sys.exit(put(args[0], args[1], args[2:]))
elif cmd == "lacking":
    sys.exit(lacking(args[0], args[1], args[2:]))
elif cmd == "owners":
    sys.exit(owners(args[0], args[1:]))
elif cmd == "owners_lacking":
    sys.exit(owners_lacking(args[0], args[1], args[2:]))
sys.exit(64)
EOF
}

kvh() {
	timeout 120 python3 "$TMP/kvh.py" "$@" 3>&-
}

# kv ARGS...: kvctl, bounded.
kv() {
	timeout 60 "$KVCTL" "$@" 3>&-
}

# big NAME...: a value of exactly --max-body random bytes for each key NAME.
big() {
	local k
	for k in "$@"; do
		head -c "$MIB" /dev/urandom >"$TMP/val/$k"
	done
}

# put_big NBIG NSMALL: NBIG 1 MiB values big-0.. and NSMALL small ones
# s-0.. written through node1 (answers in $TMP/puts), the big ones
# first; ALL names them all, in that order.
put_big() {
	local i bigs=""
	for ((i = 0; i < $1; i++)); do
		bigs="$bigs big-$i"
	done
	big $bigs
	ALL="$bigs $(keys s "$2")"
	kvh put node1 "" $ALL >"$TMP/puts"
}

# keys PREFIX COUNT: PREFIX-0 .. PREFIX-(COUNT-1), one per line.
keys() {
	local i
	for ((i = 0; i < $2; i++)); do
		echo "$1-$i"
	done
}

# start_member N [flags...]: nodeN of node1..node3, N=3 W=2 R=2,
# anti-entropy off unless a later flag says otherwise.
start_member() {
	local n=$1
	shift
	start_peer "$n" 3 "" --anti-entropy-interval 0 "$@"
}

# start_cluster [flags...]: node1..node3, each with the flags.
start_cluster() {
	local n
	for n in 1 2 3; do
		start_member "$n" "$@"
	done
	wait_for 15 ready node1 node2 node3
	wait_for 15 linked node1 node2 node3
}

# start_four [flags...]: node1..node4, all knowing each other, N=3.
start_four() {
	local n
	for n in 1 2 3 4; do
		start_peer "$n" 3 "$(peers_of "$n" 4)" --anti-entropy-interval 0 "$@"
	done
	wait_for 15 ready node1 node2 node3 node4
	wait_for 15 linked node1 node2 node3 node4
}

# start_seeded N [flags...]: nodeN seeded with node1 only (the README's
# way), N=3, anti-entropy off unless a later flag says otherwise.
start_seeded() {
	local n=$1
	shift
	start_peer "$n" 3 "node1=$(member_addr 1)" --anti-entropy-interval 0 "$@"
}

# puts_ok FILE: every line of a `kvh put` report is a 200 or 201.
puts_ok() {
	local bad
	bad=$(awk '$2 != 200 && $2 != 201' "$1")
	[ -z "$bad" ] || {
		echo "writes not acknowledged (key status acks):"
		echo "$bad"
		return 1
	}
}

# put_acked NODE KEY...: every KEY written through NODE (answers in
# $TMP/puts), and each write acknowledged.
put_acked() {
	local n=$1
	shift
	kvh put "$n" "" "$@" >"$TMP/puts"
	puts_ok "$TMP/puts"
}

# holds NODE KEY...: NODE's own copy of every KEY is the exact value
# (misses in $TMP/lacking).
holds() {
	local n=$1
	shift
	kvh lacking "$n" r=1 "$@" >"$TMP/lacking"
}

# show_lacking: what the last holds / owners_hold found missing.
show_lacking() {
	echo "missing:"
	head -20 "$TMP/lacking"
}

# owners_hold VIA ONLY KEY...: see kvh owners_lacking (misses in $TMP/lacking).
owners_hold() {
	kvh owners_lacking "$@" >"$TMP/lacking"
}

# newcomer N PREFIX COUNT: COUNT keys PREFIX-0.. written through node1
# (every write acknowledged), then nodeN started seeded, and listed by
# node1 (its first gossip round has announced it).
newcomer() {
	put_acked node1 $(keys "$2" "$3")
	start_seeded "$1"
	wait_for 15 lists node1 "node$1"
}

# joined N: the README's join of nodeN, through node1, exits 0.
joined() {
	run kv cluster join "node$1" "$(member_addr "$1")" --server "$(url node1)"
	echo "join: $status $output"
	[ "$status" -eq 0 ]
}

# receives N PREFIX COUNT: within 20 s nodeN's own copy of every key
# PREFIX-0.. is the exact value; else says how many it misses, and which.
receives() {
	wait_for 20 holds "node$1" $(keys "$2" "$3") || {
		echo "node$1 misses $(wc -l <"$TMP/lacking") of $3 keys"
		show_lacking
		return 1
	}
}

# hints_of NODE FIELD: NODE's .hints.FIELD in /cluster/nodes.
hints_of() {
	nodes "$1" | jq -r ".hints.$2"
}

pending_is() {
	[ "$(hints_of "$1" pending)" = "$2" ]
}

# back COUNT N...: nodeN of node1..nodeCOUNT started again (anti-entropy
# off, as start_four), and ready.
back() {
	local count=$1 n ids=""
	shift
	for n in "$@"; do
		start_peer "$n" 3 "$(peers_of "$n" "$count")" --anti-entropy-interval 0
		ids="$ids node$n"
	done
	wait_for 15 ready $ids
}

# delivered NODE...: each NODE's hints are all delivered within 30 s.
delivered() {
	local n
	for n in "$@"; do
		wait_for 30 pending_is "$n" 0 || { nodes "$n" | jq -c .hints; return 1; }
	done
}

# lists NODE ID: NODE's /cluster/nodes has ID among its members;
# unlisted NODE ID: it answers, and does not.
lists() {
	nodes "$1" | jq -e --arg id "$2" 'any(.members[]; .id == $id)' >/dev/null
}

unlisted() {
	nodes "$1" | jq -e --arg id "$2" 'any(.members[]; .id == $id) | not' >/dev/null
}

# ---- 1. a 1 MiB value travels every path ---------------------------------

# A replica call carrying 1 MiB (and its fsync) gets 3 s rather than the
# helpers' 500 ms: these tests are about what arrives, not how fast.
BIG="--peer-timeout-ms 3000"

@test "1 MiB value, replicate: ?w=3 answers 201 with X-Kvd-Acks: 3 and every node's own copy is byte-exact" {
	start_cluster $BIG
	big blob
	run kvh put node1 w=3 blob
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "blob 201 3" ]
	local n
	for n in node1 node2 node3; do
		holds "$n" blob || { echo "$n:"; show_lacking; false; }
	done
}

@test "1 MiB value, read repair: a wiped replica gets the exact bytes after a ?r=3 read" {
	start_cluster $BIG
	big blob
	kvh put node1 w=3 blob >"$TMP/puts"
	kill_node node3
	rm -rf "${DATA:?}/node3"
	start_member 3 $BIG
	# node1 may hold node3 as down for a backoff: read until all three
	# answer; the repair then goes out in the background.
	read_r3() {
		[ "$(curl -s --max-time 30 -o "$TMP/got" -w '%{http_code}' \
		    "$(url node1)/kv/blob?r=3&raw")" = 200 ] &&
		    cmp -s "$TMP/got" "$TMP/val/blob"
	}
	wait_for 20 read_r3 || { ls -l "$TMP/got"; false; }
	wait_for 20 holds node3 blob || { echo "node3:"; show_lacking; false; }
	puts_ok "$TMP/puts"
}

@test "1 MiB values, hints: three 1 MiB values and ten small ones held for a dead node are all delivered" {
	start_cluster $BIG
	kill_node node3
	# The small values after the big ones: a big hint must not block them.
	put_big 3 10
	[ "$(hints_of node1 pending)" -gt 0 ]
	start_member 3 $BIG
	wait_for 30 pending_is node1 0 || { nodes node1 | jq -c .hints; false; }
	holds node3 big-0 big-1 big-2 $(keys s 10) || { echo "node3:"; show_lacking; false; }
	puts_ok "$TMP/puts"
}

@test "1 MiB values, hints: a hint the owner refuses for good (413) is set aside in refused.jsonl and does not block the rest" {
	start_cluster $BIG
	kill_node node3
	put_big 3 10
	# node3 comes back refusing any body over 100000 bytes, for ever.
	start_member 3 $BIG --max-body 100000
	wait_for 30 pending_is node1 0 || { nodes node1 | jq -c .hints; false; }
	holds node3 $(keys s 10) || { echo "node3:"; show_lacking; false; }
	local aside
	aside=$(hints_of node1 set_aside)
	echo "set_aside: $aside"
	[ "$aside" -ge 3 ]
	local f="$DATA/node1/refused.jsonl" k
	[ -s "$f" ]
	while IFS= read -r line; do
		printf '%s\n' "$line" | jq -e . >/dev/null ||
		    { echo "not JSON: ${line:0:200}"; false; }
	done <"$f"
	for k in big-0 big-1 big-2; do
		jq -r '.key // empty' "$f" | grep -qx "$k" ||
		    { echo "$k not in $f"; cut -c 1-200 "$f"; false; }
	done
	grep -q "set aside" "$TMP/node1.log"
	puts_ok "$TMP/puts"
}

# A node that starts an exchange gets what it lacks in the answer; what
# the other side lacks it pushes (POST /internal/batch), and that body
# meets the receiver's --max-body.  The wiped node3 comes back answering
# exchanges but starting none (interval 0), so the value can reach it
# only by a push from node1 or node2.
@test "1 MiB value, anti-entropy: a wiped replica gets the exact bytes pushed to it with no client read" {
	start_cluster $BIG --anti-entropy-interval 1
	big blob
	kvh put node1 w=3 blob >"$TMP/puts"
	kill_node node3 TERM
	rm -rf "${DATA:?}/node3"
	start_member 3 $BIG --anti-entropy-interval 0
	wait_for 40 holds node3 blob || {
		echo "node3:"; show_lacking
		nodes node1 | jq -c .anti_entropy
		false
	}
	puts_ok "$TMP/puts"
}

@test "1 MiB values, join transfer: a joining node receives every big and small key it now owns" {
	start_cluster $BIG
	put_big 5 100
	start_seeded 4 $BIG
	joined 4
	wait_for 30 owners_hold node1 node4 $ALL || { show_lacking; false; }
	puts_ok "$TMP/puts"
}

@test "1 MiB values, leave transfer: the remaining owners hold every big and small key after a leave" {
	start_four $BIG
	put_big 5 100
	run kv cluster leave node2 --server "$(url node1)"
	echo "leave: $status $output"
	[ "$status" -eq 0 ]
	# node2's pass for the view without it has run and sent keys.
	left_sent() {
		nodes node2 | jq -e '.transfer.running == false and
		    .transfer.keys_sent > 0 and .transfer.to_version == .version' \
		    >/dev/null
	}
	wait_for 30 left_sent || { nodes node2 | jq -c .; false; }
	wait_for 30 owners_hold node1 all $ALL || { show_lacking; false; }
	[ -z "$(kvh owners node1 $ALL | grep -w node2)" ]
	puts_ok "$TMP/puts"
}

# ---- 2. a join moves data with anti-entropy off --------------------------

# By the time an operator types the join, node4's first gossip round
# (every 200 ms here) has already announced it to node1: the tests wait
# for that, so they do not depend on who wins that race.

@test "the README's join with anti-entropy off: within 20 s node4 answers 200 for all 266 keys" {
	start_cluster
	newcomer 4 j 266
	joined 4
	receives 4 j 266
}

# settled NODE...: each NODE's transfer is done: its data placed for the
# current members, no delegate waited on, no stray waiting.
settled() {
	local n
	for n in "$@"; do
		nodes "$n" | jq -e '.transfer.running == false' >/dev/null ||
		    return 1
	done
}

@test "a join: the new node sends none of the keys its placement brought it back to their other owners (strays_sent_total 0; anti-entropy off)" {
	start_cluster
	newcomer 4 s 266
	joined 4
	receives 4 s 266
	wait_for 30 settled node1 node2 node3 node4
	nodes node4 | jq -c .transfer
	[ "$(nodes node4 | jq .transfer.strays_sent_total)" = 0 ]
}

@test "a node admitted by gossip alone (no join call, anti-entropy off): within 20 s node4 answers 200 for all 266 keys" {
	start_cluster
	newcomer 4 g 266
	receives 4 g 266
}

# A cluster's first start: no node has placed.json and every store is
# empty.  Below N, a join adds the new node as an owner of every key
# while every old owner stays one, so only a pass over the old member
# list sends it anything.

@test "a join into a cluster started fresh below N (2 nodes, N=3; anti-entropy off): node3 gets all 120 keys from the old owners" {
	local n
	for n in 1 2; do
		start_peer "$n" 3 "$(peers_of "$n" 2)" --anti-entropy-interval 0
	done
	wait_for 15 ready node1 node2
	wait_for 15 linked node1 node2
	newcomer 3 f 120
	joined 3
	receives 3 f 120
}

# A member wiped and started again under its id (kill -9, node
# directory removed) has an empty store: until it is refilled it is no
# sender, or a join leaves it the keys it comes first for, which it does
# not hold (before: node4 missed about 30 of 120 keys, and node3 about
# 90 of its own, until anti-entropy).
#
# wiped_then_join [FAILPOINTS]: node1..node3 (N=3, anti-entropy off)
# hold 120 keys w-*; node3 is wiped and started again (with
# KVD_FAILPOINTS=FAILPOINTS, if given) and hears the others; then node4 joins, and every node has
# placed its data for the four members.
wiped_then_join() {
	start_cluster
	put_acked node1 $(keys w 120)
	wait_for 20 holds node2 $(keys w 120)
	kill_node node3
	rm -rf "$DATA/node3"
	if [ -n "${1:-}" ]; then
		KVD_FAILPOINTS=$1 start_member 3
	else
		start_member 3
	fi
	wait_for 15 linked node1 node2 node3
	# node1 and node2 have heard node3 say what it places from now.
	news_of node3 node1 node2
	start_seeded 4
	wait_for 15 lists node1 node4
	joined 4
	wait_for 30 placed_for_four node1 node2 node3 node4 ||
	    { nodes node3 | jq -c .transfer; false; }
}

# news_of ID NODE...: within 15 s each NODE has heard a heartbeat that
# ID sent after this call began (ID's generation, a heartbeat above the
# one ID shows for itself now): its placement hashes ride with it.
news_of() {
	local id=$1 gen hb
	shift
	read -r gen hb < <(nodes "$id" | jq -r '.members[] |
	    select(.self == true) | "\(.generation) \(.heartbeat)"')
	wait_for 15 heard_after "$id" "$gen" "$hb" "$@"
}
heard_after() {	# heard_after ID GEN HB NODE...
	local id=$1 gen=$2 hb=$3 n
	shift 3
	for n in "$@"; do
		nodes "$n" | jq -e --arg id "$id" --argjson gen "$gen" \
		    --argjson hb "$hb" 'any(.members[]; .id == $id and
		    .generation == $gen and .heartbeat > $hb)' >/dev/null ||
		    return 1
	done
}

# placed_for_four NODE...: each NODE lists node4 and its transfer is
# done (its data placed for the four members, no sender waited on).
placed_for_four() {
	local n
	for n in "$@"; do
		nodes "$n" | jq -e 'any(.members[]; .id == "node4") and
		    .transfer.running == false' >/dev/null || return 1
	done
}

# not_hollow NODE: NODE's transfer does not say hollow (refilled).
not_hollow() {
	nodes "$1" | jq -e '.transfer.hollow != true' >/dev/null
}

@test "a member wiped and started again under its id, then a join (anti-entropy off): every owner holds all 120 keys once the join and the refill are done" {
	wiped_then_join
	wait_for 30 not_hollow node3 || { nodes node3 | jq -c .transfer; false; }
	owners_hold node1 all $(keys w 120) || {
		echo "$(wc -l <"$TMP/lacking") copies missing"
		show_lacking
		false
	}
}

@test "a wiped member whose refill fails is no sender: a join right after still sends node4 every key it owns, and a restart keeps it hollow (anti-entropy off)" {
	wiped_then_join transfer-refill-fail@1+
	owners_hold node1 node4 $(keys w 120) || {
		echo "node4 misses $(wc -l <"$TMP/lacking") keys"
		show_lacking
		false
	}
	# node3 is still hollow: what node4 got came from node1 and node2.
	nodes node3 | jq -e '.transfer.hollow == true'
	run kv status --server "$(url node1)"
	echo "$output"
	[[ "$output" == *"node3 was wiped and is not yet refilled"* ]]
	# And after a restart (its placed.json saved, its store empty, no
	# earlier run's news yet): the mark in its directory says so.
	kill_node node3 TERM
	KVD_FAILPOINTS=transfer-refill-fail@1+ start_member 3
	nodes node3 | jq -e '.transfer.hollow == true'
}

# state_of NODE ID: ID's state in NODE's /cluster/nodes.
state_of() {
	nodes "$1" | jq -r --arg id "$2" '.members[] | select(.id == $id) | .state'
}

# is_hollow NODE: NODE's transfer says hollow.
is_hollow() {
	nodes "$1" | jq -e '.transfer.hollow == true' >/dev/null
}

# held_by NODE KEY...: how many of the KEYs NODE's store holds, through
# /internal/fetch (no other node asked, nothing repaired): a read through
# a hollow node asks the other owners too (README: wiped members).
held_by() {
	local n=$1 k urls=()
	shift
	for k in "$@"; do
		urls+=("$(url "$n")/internal/fetch/$k")
	done
	curl -s --max-time 30 "${urls[@]}" | grep -c '"key"' || true
}

# sees_hollow NODE ID: NODE takes member ID for hollow (its reads do).
sees_hollow() {
	nodes "$1" | jq -e --arg id "$2" \
	    'any(.members[]; .id == $id and .hollow == true)' >/dev/null
}

# A wiped member's "not found" is no evidence: reads at R=2 do not count
# it (before: node2 answered 404 for all 60 keys, from its own copy and
# node3's, both empty).
@test "reads at R=2 through every node find each acknowledged key while a wiped holder is hollow (node3 was down for the writes, node2 wiped with its hints; refill and anti-entropy off)" {
	start_cluster
	kill_node node3
	wait_for 15 eval '[ "$(state_of node2 node3)" = down ]'
	# Through node2: node1 and node2 hold each key, and the hints for
	# node3 are node2's, which the wipe takes with it.
	put_acked node2 $(keys h 60) $(keys g 30)
	wait_for 20 holds node1 $(keys h 60) $(keys g 30)
	kill_node node2
	rm -rf "$DATA/node2"
	KVD_FAILPOINTS=transfer-refill-fail@1+ start_member 2
	start_member 3
	wait_for 15 ready node1 node2 node3
	wait_for 15 linked node1 node2 node3
	wait_for 15 is_hollow node2
	news_of node2 node1 node3
	# The one copy left is node1's: node2 and node3 hold none.
	[ "$(held_by node2 $(keys h 60) $(keys g 30))" -eq 0 ]
	[ "$(held_by node3 $(keys h 60) $(keys g 30))" -eq 0 ]
	# node2 asks node3 after itself, node3 node1 (read repair then
	# fills node3), node1 itself and node2.
	local n missed=0 m
	for n in node2 node3 node1; do
		kvh lacking "$n" r=2 $(keys h 60) >"$TMP/r2-$n" || true
		m=$(wc -l <"$TMP/r2-$n")
		echo "$n: $m of 60 acknowledged keys not read at R=2"
		head -3 "$TMP/r2-$n"
		missed=$((missed + m))
	done
	[ "$missed" -eq 0 ]
	# node3 knows from gossip: with node1 down, node2's "none" and its
	# own make no quorum, so a key only node1 holds reads 503, not 404.
	wait_for 15 sees_hollow node3 node2
	kill_node node1
	kvh lacking node3 r=2 $(keys g 30) >"$TMP/r2-g" || true
	echo "node1 down, through node3, of 30 keys:" \
	    "$(grep -c 'status 404' "$TMP/r2-g") 404s," \
	    "$(grep -c 'status 503' "$TMP/r2-g") 503s"
	[ "$(grep -c 'status 404' "$TMP/r2-g")" -eq 0 ]
	[ "$(grep -c 'status 503' "$TMP/r2-g")" -eq 30 ]
	is_hollow node2
}

# cas_new NODE KEY: a conditional create of KEY through NODE
# (If-None-Match: *); prints the status code.
cas_new() {
	code -X PUT -H 'If-None-Match: *' -d '{"value":"again"}' \
	    "$(url "$1")/kv/$2"
}

# The same for conditional writes (cas.c, WIPED OWNERS): a wiped owner's
# promise counts toward no majority (before: node2's empty promise and
# node3's made one, and If-None-Match: * created 30 keys of 30 that
# existed).
@test "a conditional create through a member that missed the writes is 503 while the other holder is hollow, 412 once the one full copy is back; never a create (refill and anti-entropy off)" {
	start_cluster
	kill_node node3
	wait_for 15 eval '[ "$(state_of node2 node3)" = down ]'
	put_acked node2 $(keys c 30)
	wait_for 20 holds node1 $(keys c 30)
	kill_node node2
	rm -rf "$DATA/node2"
	KVD_FAILPOINTS=transfer-refill-fail@1+ start_member 2
	start_member 3
	wait_for 15 ready node2 node3
	wait_for 15 is_hollow node2
	wait_for 15 sees_hollow node3 node2
	kill_node node1
	local k st created=0 unavailable=0
	for k in $(keys c 30); do
		st=$(cas_new node3 "$k")
		[ "$st" = 201 ] && created=$((created + 1))
		[ "$st" = 503 ] && unavailable=$((unavailable + 1))
	done
	echo "node1 down, through node3: $created created, $unavailable 503s"
	[ "$created" -eq 0 ]
	[ "$unavailable" -eq 30 ]
	run c -X PUT -H 'If-None-Match: *' -d '{"value":"again"}' \
	    "$(url node3)/kv/$(keys c 1)"
	echo "$output"
	jq -e '.error | test("wiped")' <<<"$output"
	start_member 1
	wait_for 15 linked node1 node2 node3
	for k in $(keys c 30); do
		st=$(cas_new node3 "$k")
		[ "$st" = 412 ] || { echo "$k: $st"; false; }
	done
	holds node1 $(keys c 30)
}

# repairs_of NODE: the round of NODE's last anti-entropy repair (the
# repairs asked for since it started: /admin/repair).
repairs_of() {
	c "$(url "$1")/admin/repair" | jq -e .round
}

# repairs_at_least NODE COUNT
repairs_at_least() {
	[ "$(repairs_of "$1")" -ge "$2" ]
}

# A hollow node asked for a repair every RETRY_MS (2 s) plus the down
# member's call timeout for as long as that member stayed down, each
# repair walking its whole store once per member (before: 9-10 in 24 s).
@test "a hollow node whose refill fails on a member down backs off (at most 4 repairs in 24 s), and refills once that member is back (anti-entropy off)" {
	start_cluster
	put_acked node1 $(keys w 30)
	wait_for 20 holds node2 $(keys w 30)
	kill_node node3
	kill_node node2
	rm -rf "$DATA/node2"
	start_member 2
	wait_for 15 is_hollow node2
	# Its first repairs fetch node1's keys and fail on node3; the
	# backoff is past its first doublings by the fourth.
	wait_for 60 repairs_at_least node2 4
	local r0 r1
	r0=$(repairs_of node2)
	sleep 24
	r1=$(repairs_of node2)
	echo "repairs $r0 -> $r1 in 24 s"
	[ $((r1 - r0)) -le 4 ]
	is_hollow node2
	start_member 3
	wait_for 90 not_hollow node2
	holds node2 $(keys w 30)
}

# A repair that went through with nothing left over (no exchange at its
# rounds' cap) holds what every member held: it ends hollow though it
# fetched keys (before: one more repair always followed, and the one
# that ended hollow had fetched nothing).
@test "a wiped member's refill ends with the repair that fetched its keys: one repair, 120 keys received, nothing left over (anti-entropy off)" {
	start_cluster
	put_acked node1 $(keys w 120)
	wait_for 20 holds node3 $(keys w 120)
	kill_node node3
	rm -rf "$DATA/node3"
	start_member 3
	refilled() {
		grep -q 'transfer: refilled by anti-entropy' "$TMP/node3.log"
	}
	wait_for 30 refilled || { nodes node3 | jq -c .transfer; false; }
	not_hollow node3
	grep 'refilled by anti-entropy' "$TMP/node3.log"
	# The refill asks for no repair after the one that ended it.
	run c "$(url node3)/admin/repair"
	echo "last repair: $output"
	[ "$(jq -r .state <<<"$output")" = done ]
	[ "$(jq -r .keys_received <<<"$output")" -eq 120 ]
	[ "$(jq -r .left_over <<<"$output")" = false ]
	[ "$(jq -r .round <<<"$output")" -eq 1 ]
	holds node3 $(keys w 120)
}

# others_placed NODE...: each NODE no longer lists node4, and its data
# is placed for the members left, with no sender waited on.
others_placed() {
	local n
	for n in "$@"; do
		nodes "$n" | jq -e '(any(.members[]; .id == "node4") | not) and
		    .transfer.running == false and .transfer.waiting_on == 0' \
		    >/dev/null || return 1
	done
}

# A hollow node holds none of the keys it owned: at its leave the others
# must send them, and nobody may wait for it to.
@test "a hollow node made to leave: the leave completes, nobody waits on it, and node1..node3 hold all 120 keys (refill failing, anti-entropy off)" {
	start_four
	put_acked node1 $(keys l 120)
	wait_for 20 owners_hold node1 all $(keys l 120) || { show_lacking; false; }
	kill_node node4
	rm -rf "$DATA/node4"
	KVD_FAILPOINTS=transfer-refill-fail@1+ start_peer 4 3 "$(peers_of 4 4)" \
	    --anti-entropy-interval 0
	wait_for 15 ready node4
	wait_for 15 linked node1 node2 node3 node4
	wait_for 15 is_hollow node4
	news_of node4 node1 node2 node3
	echo "node4 holds $(held_by node4 $(keys l 120)) of the 120 keys"
	leave_and_wait node4
	jq -e '.transfer.hollow == true' "$TMP/left.json" >/dev/null
	wait_for 30 others_placed node1 node2 node3 ||
	    { nodes node1 | jq -c .transfer; false; }
	kill_node node4
	local n
	for n in node1 node2 node3; do
		holds "$n" $(keys l 120) || {
			echo "$n misses $(wc -l <"$TMP/lacking") of 120 keys"
			show_lacking
			false
		}
	done
}

# start_node1_alone: node1 with no --peers (N=3, anti-entropy off, short
# peer timeout and gossip interval).
start_node1_alone() {
	local p
	p=$(port 1)
	start_node node1 --addr "127.0.0.1:$p" --advertise "127.0.0.1:$p" \
	    --n 3 --w 2 --r 2 --peer-timeout-ms 500 --gossip-interval-ms 200 \
	    --anti-entropy-interval 0
}

@test "a join to a node started alone (no --peers, N=3; anti-entropy off): node2 gets all 120 keys written to it" {
	start_node1_alone
	wait_for 15 ready node1
	newcomer 2 a 120
	joined 2
	receives 2 a 120
}

@test "a node started alone settles before it serves: a member gossip admits before its first poll still gets every key written to it (anti-entropy off)" {
	start_node1_alone
	# No wait: node2 is admitted within node1's first poll (500 ms),
	# where node1 still took itself for a node learning its cluster and
	# its pass sent node2 nothing.
	put_acked node1 $(keys a 20)
	start_seeded 2
	wait_for 15 lists node1 node2
	receives 2 a 20
}

# failures_of NODE: NODE's .transfer.failures in /cluster/nodes.
failures_of() {
	nodes "$1" | jq -e .transfer.failures
}

@test "a fresh node whose pass fails retries it after RETRY_MS (2 s), not at every 50 ms look" {
	# placed.json.tmp a directory: node1's saves of placed.json fail, so
	# it stays fresh (its settle fails) and, once node2 is admitted, its
	# pass fails at the save, again and again.
	mkdir -p "$DATA/node1/placed.json.tmp"
	start_node1_alone
	wait_for 15 ready node1
	start_seeded 2
	wait_for 15 lists node1 node2
	retrying() {
		nodes node1 | jq -e '.transfer.retrying and .transfer.failures > 0'
	}
	wait_for 30 retrying || { nodes node1 | jq .transfer; false; }
	local f0 t0 f1 t1
	f0=$(failures_of node1)
	t0=$(now_ms)
	sleep 6
	f1=$(failures_of node1)
	t1=$(now_ms)
	# Each retry sleeps RETRY_MS (2000 ms) at least: at most one more
	# than the whole intervals of the time measured.
	echo "failures $f0 -> $f1 in $((t1 - t0)) ms"
	[ $((f1 - f0)) -le $(((t1 - t0) / 2000 + 1)) ]
}

# ---- 3. leaving, and cleanup ---------------------------------------------

@test "a node that left says so: /health left, /ready 503, member:false, writes 503 code left; the others drop it" {
	start_cluster
	run kv cluster leave node2 --server "$(url node1)"
	echo "leave: $status $output"
	[ "$status" -eq 0 ]
	says_left() {
		c "$(url node2)/health" | jq -e '.status == "left"' >/dev/null
	}
	wait_for 15 says_left || { c -i "$(url node2)/health"; false; }
	run curl -s --max-time 60 -w '\n%{http_code}' "$(url node2)/health"
	echo "health: $output"
	[ "${output##*$'\n'}" = 200 ]
	[ "$(printf '%s\n' "${output%$'\n'*}" | jq -r .status)" = left ]
	run curl -s --max-time 60 -w '\n%{http_code}' "$(url node2)/ready"
	echo "ready: $output"
	[ "${output##*$'\n'}" = 503 ]
	[ "$(printf '%s\n' "${output%$'\n'*}" | jq -r .ready)" = false ]
	run nodes node2
	echo "nodes: $output"
	[ "$(printf '%s\n' "$output" | jq -r .member)" = false ]
	run curl -s --max-time 60 -w '\n%{http_code}' -X PUT -d '{"value":"v"}' \
	    "$(url node2)/kv/x"
	echo "put: $output"
	[ "${output##*$'\n'}" = 503 ]
	[ "$(printf '%s\n' "${output%$'\n'*}" | jq -r .code)" = left ]
	local n
	for n in node1 node3; do
		wait_for 15 unlisted "$n" node2 || { nodes "$n" | jq -c .members; false; }
	done
}

# left_done NODE: polls NODE's /cluster/nodes every 10 ms until it says
# member:false and transfer.running:false, the README's "stop it now",
# and prints that answer (1 after 30 s).  Started before the leave, so
# that it sees the first such answer.
left_done() {
	python3 - "$(url "$1")/cluster/nodes" <<'PY'
import json, sys, time, urllib.request
deadline = time.time() + 30
while time.time() < deadline:
    try:
        with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
            body = r.read()
        j = json.loads(body)
        if j["member"] is False and j["transfer"]["running"] is False:
            print(body.decode().strip())
            sys.exit(0)
    except (OSError, ValueError):
        pass
    time.sleep(0.01)
sys.exit(1)
PY
}

# leave_and_wait NODE: left_done NODE started, then NODE's leave through
# node1; NODE's answer is in $TMP/left.json.
leave_and_wait() {
	left_done "$1" >"$TMP/left.json" &
	local poller=$!
	sleep 0.5
	run kv cluster leave "$1" --server "$(url node1)"
	echo "leave: $status $output"
	[ "$status" -eq 0 ]
	wait "$poller" || {
		echo "$1 never said done"
		nodes "$1" | jq -c '.transfer, .hints'
		grep -E 'handed|transfer' "$TMP/$1.log" | tail -5
		return 1
	}
	echo "$1 when it said done: $(cat "$TMP/left.json")"
}

@test "leave with N=1: a node stopped as soon as it says running:false has handed off every key (its pass had begun and ended)" {
	local n
	for n in 1 2 3 4; do
		start_node "node$n" --addr "$(member_addr "$n")" \
		    --advertise "$(member_addr "$n")" --peers "$(peers_of "$n" 4)" \
		    --n 1 --w 1 --r 1 --peer-timeout-ms 500 \
		    --gossip-interval-ms 200 --anti-entropy-interval 0
	done
	wait_for 15 ready node1 node2 node3 node4
	wait_for 15 linked node1 node2 node3 node4
	local ks
	ks=$(keys n1 400)
	put_acked node1 $ks
	leave_and_wait node4
	kill_node node4
	jq -e '.transfer.to_version == .version' "$TMP/left.json" >/dev/null
	holds node1 $ks || {
		echo "$(wc -l <"$TMP/lacking") of 400 keys gone with node4"
		show_lacking
		false
	}
}

@test "leave with hints for down owners: a node that left hands them to a member before it says running:false; the owners get them" {
	start_four
	kill_node node2
	kill_node node3
	local ks
	ks=$(keys h 60)
	put_acked node4 $ks
	local held
	held=$(hints_of node4 pending)
	echo "hints on node4: $held"
	[ "$held" -gt 0 ]
	leave_and_wait node4
	[ "$(jq -r .hints.pending "$TMP/left.json")" = 0 ]
	kill_node node4
	grep -q 'handed over to a member' "$TMP/node4.log"
	back 4 2 3
	delivered node1
	wait_for 30 owners_hold node1 all $ks || { show_lacking; false; }
}

@test "leave with hints for an owner that left too and a replica down: handed over; the remaining owners get every key" {
	start_four
	kill_node node2
	kill_node node3
	local ks
	ks=$(keys o 60)
	put_acked node4 $ks
	run kv cluster leave node2 --server "$(url node1)"
	echo "leave node2: $status $output"
	[ "$status" -eq 0 ]
	wait_for 15 unlisted node4 node2
	leave_and_wait node4
	[ "$(jq -r .hints.pending "$TMP/left.json")" = 0 ]
	kill_node node4
	back 4 3
	delivered node1
	wait_for 30 owners_hold node1 all $ks || { show_lacking; false; }
}

@test "leave after an earlier leave (no first pass), a new owner down: the node sends every key itself, hands what it cannot deliver over, and is done" {
	local n
	pick_ports 5
	KVH_NODES="node1=http://$(member_addr 1),node2=http://$(member_addr 2)"
	KVH_NODES="$KVH_NODES,node3=http://$(member_addr 3),node4=http://$(member_addr 4)"
	export KVH_NODES
	for n in 1 2 3 4 5; do
		start_peer "$n" 3 "$(peers_of "$n" 5)" --anti-entropy-interval 0
	done
	wait_for 15 ready node1 node2 node3 node4 node5
	wait_for 15 linked node1 node2 node3 node4 node5
	leave_and_wait node5
	kill_node node5
	local ks
	ks=$(keys p 100)
	put_acked node1 $ks
	kill_node node3
	leave_and_wait node4
	jq -e '.transfer.waiting_on == 0' "$TMP/left.json" >/dev/null
	kill_node node4
	back 5 3
	wait_for 30 owners_hold node1 all $ks || { show_lacking; false; }
}

@test "cleanup: POST /cluster/cleanup answers 202 with JSON; /cluster/nodes shows cleanup.running and cleanup.dropped" {
	start_cluster
	put_acked node1 $(keys c 10)
	run curl -s --max-time 10 -w '\n%{http_code}' -X POST "$(url node1)/cluster/cleanup"
	echo "cleanup: $output"
	[ "${output##*$'\n'}" = 202 ]
	printf '%s\n' "${output%$'\n'*}" | jq -e . >/dev/null
	run nodes node1
	echo "nodes: $output"
	[ "$(printf '%s\n' "$output" | jq -r '.cleanup.running | type')" = boolean ]
	[ "$(printf '%s\n' "$output" | jq -r '.cleanup.dropped | type')" = number ]
	cleanup_idle() {
		nodes node1 | jq -e '.cleanup.running == false' >/dev/null
	}
	wait_for 15 cleanup_idle
	# Every node owns every key of a 3-node N=3 cluster: nothing to drop.
	[ "$(nodes node1 | jq -r .cleanup.dropped)" -eq 0 ]
	holds node1 $(keys c 10) || { show_lacking; false; }
}

# gauge NODE NAME: the value of NODE's /metrics gauge NAME (e.g. kvd_keys).
gauge() {
	curl -s --max-time 60 "$(url "$1")/metrics" |
	    awk -v name="$2" '$1 == name { print $2; exit }'
}

# copies WHEN: the sum of kvd_keys over node1..node4, each node's shown
# as "WHEN: NODE kvd_keys N".
copies() {
	local n k sum=0
	for n in node1 node2 node3 node4; do
		k=$(gauge "$n" kvd_keys)
		echo "$1: $n kvd_keys $k" >&2
		sum=$((sum + ${k%.*}))
	done
	echo "$sum"
}

@test "cleanup after a join: kvctl cluster cleanup leaves exactly N copies (900 for 300 keys) and every key readable" {
	start_cluster
	local all
	all=$(keys cl 300)
	put_acked node1 $all
	start_seeded 4
	joined 4
	transfer_done() {
		local n
		for n in node1 node2 node3; do
			nodes "$n" | jq -e '.transfer.running == false' >/dev/null ||
			    return 1
		done
		owners_hold node1 node4 $all
	}
	wait_for 30 transfer_done || { show_lacking; false; }
	[ "$(copies "before cleanup")" -gt 900 ]
	run kv cluster cleanup --server "$(url node1)"
	echo "cleanup: $status $output"
	[ "$status" -eq 0 ]
	[ "$(copies "after cleanup")" -eq 900 ]
	kvh lacking node1 r=3 $all >"$TMP/lacking" || { show_lacking; false; }
	local dropped=0 d n
	for n in node1 node2 node3 node4; do
		d=$(nodes "$n" | jq -r .cleanup.dropped)
		dropped=$((dropped + d))
	done
	echo "dropped: $dropped"
	[ "$dropped" -gt 0 ]
}

# ---- 4. SIGTERM with hints pending ---------------------------------------

sanitizer_report() {
	grep -E 'AddressSanitizer|LeakSanitizer|ThreadSanitizer|runtime error' "$1"
}

# connections_at_least ID N: ID has N client connections open or more.
connections_at_least() {
	local n
	n=$(gauge "$1" kvd_connections)
	[ -n "$n" ] && [ "${n%.*}" -ge "$2" ]
}

# term_and_wait ID [SECONDS]: SIGTERM to ID, which must end within
# SECONDS (60, a hang guard) with no sanitizer report in its log; its
# exit status in $rc.
term_and_wait() {
	local pid limit=${2:-60}
	pid=$(pid_of "$1")
	kill -TERM "$pid"
	gone() {
		! kill -0 "$pid" 2>/dev/null
	}
	wait_for "$limit" gone ||
	    { echo "$1 still running $limit s after SIGTERM"; return 1; }
	rc=0
	wait "$pid" || rc=$?
	echo "$1 exited with status $rc"
	! sanitizer_report "$TMP/$1.log"
}

@test "two owners down, writes through a fourth node: a hint is kept for every owner that missed a write, also when its stand-in failed too; both get every key back" {
	start_four
	kill_node node2
	kill_node node3
	local ks
	ks=$(keys t2 60)
	put_acked node4 $ks
	back 4 2 3
	delivered node1 node4
	wait_for 30 owners_hold node1 all $ks || { show_lacking; false; }
}

@test "SIGTERM with hints pending: exit 0, no sanitizer report, the 20 hints survive and are delivered" {
	start_cluster
	kill_node node3
	local ks
	ks=$(keys t 20)
	put_acked node1 $ks
	[ "$(hints_of node1 pending)" -eq 20 ]
	local rc
	term_and_wait node1
	[ "$rc" -eq 0 ]
	grep -q 'msg="stopped"' "$TMP/node1.log"
	start_member 1
	[ "$(hints_of node1 pending)" -eq 20 ]
	start_member 3
	wait_for 30 pending_is node1 0 || { nodes node1 | jq -c .hints; false; }
	holds node3 $ks || { show_lacking; false; }
}

@test "SIGTERM while gossip probes two hung peers: the node ends within about one peer timeout" {
	# 3 s calls: a gossip round that probes both suspects makes up to
	# eight of them, and closing used to wait for the whole round.
	start_member 1 --peer-timeout-ms 3000 --log-level debug
	start_member 2
	start_member 3
	wait_for 15 ready node1 node2 node3
	kill -STOP "$(pid_of node2)" "$(pid_of node3)"
	failed() {
		[ "$(grep -c 'cluster: gossip failed' "$TMP/node1.log")" -ge 2 ]
	}
	wait_for 30 failed	# its probes are under way
	local rc
	term_and_wait node1 8
	kill -CONT "$(pid_of node2)" "$(pid_of node3)"
	[ "$rc" -eq 0 ]
}

# hint_in_flight PORT...: a connection to one of the (hung) PORTs holds
# 64 KiB or more unread: a hint batch, the one call that big here.
hint_in_flight() {
	local p
	for p in "$@"; do
		ss -tnH state established "( sport = :$p )" |
		    awk '$1 >= 65536 { found = 1 } END { exit !found }' &&
		    return 0
	done
	return 1
}

@test "SIGTERM while hint delivery waits on hung owners: the node ends within about one peer timeout, the hints kept" {
	# 3 s calls: the stop may wait for the hint batch in flight and a
	# gossip call, not for more (four hung owners, 400 KiB of hints each).
	pick_ports 5
	local n i rc t0
	start_peer 1 5 "$(peers_of 1 5)" --anti-entropy-interval 0 \
	    --peer-timeout-ms 3000 --shutdown-grace 1
	for n in 2 3 4 5; do
		start_peer "$n" 5 "$(peers_of "$n" 5)" --anti-entropy-interval 0
	done
	wait_for 15 ready node1 node2 node3 node4 node5
	kill -STOP "$(pid_of node2)" "$(pid_of node3)" "$(pid_of node4)" \
	    "$(pid_of node5)"
	python3 -c 'import json; print(json.dumps({"value": "x" * 100000}))' \
	    >"$TMP/big.json"
	for i in 1 2 3 4; do
		[ "$(code -X PUT --data-binary @"$TMP/big.json" \
		    "$(url node1)/kv/h-$i?w=1")" = 201 ]
	done
	wait_for 30 pending_is node1 16 || { nodes node1 | jq -c .hints; false; }
	wait_for 30 hint_in_flight "$(port 2)" "$(port 3)" "$(port 4)" "$(port 5)"
	t0=$(now_ms)
	term_and_wait node1 8
	echo "node1 stopped in $(secs "$t0") s"
	kill -CONT "$(pid_of node2)" "$(pid_of node3)" "$(pid_of node4)" \
	    "$(pid_of node5)"
	[ "$rc" -eq 0 ]
	start_peer 1 5 "$(peers_of 1 5)" --anti-entropy-interval 0
	[ "$(hints_of node1 pending)" -gt 0 ]
}

# call_waits_on ID PORT...: a call ID made waits on one of the stopped
# PORTs: a connection from ID to it holds request bytes the stopped
# process has not read.
call_waits_on() {
	local pid p l
	pid=$(pid_of "$1")
	shift
	for p in "$@"; do
		for l in $(ss -tnpH state established "( dport = :$p )" |
		    awk -v me="pid=$pid," 'index($0, me) {
			n = split($3, a, ":"); print a[n] }'); do
			ss -tnH state established "( sport = :$p and dport = :$l )" |
			    awk '$1 > 0 { found = 1 } END { exit !found }' &&
			    return 0
		done
	done
	return 1
}

@test "SIGTERM with two peers stopped and --peer-timeout-ms 300000: the node drops its own calls to them and exits 0 well before one peer timeout" {
	# Gossip's call to a stopped peer waited its whole peer timeout
	# before the stop went on (and anti-entropy's, hints' and transfers'
	# each as long, in turn).  That is 300 s here, five times
	# term_and_wait's 60 s hang guard, so no bound on the time is needed
	# to tell the old wait (--cas-window is 12 peer timeouts, as kvd
	# requires).
	start_member 1 --peer-timeout-ms 300000 --cas-window 3600 \
	    --anti-entropy-interval 1 --log-level debug
	start_member 2
	start_member 3
	wait_for 15 ready node1 node2 node3
	kill -STOP "$(pid_of node2)" "$(pid_of node3)"
	wait_for 30 call_waits_on node1 "$(port 2)" "$(port 3)"
	local rc t0
	t0=$(now_ms)
	term_and_wait node1
	echo "node1 stopped in $(secs "$t0") s"
	kill -CONT "$(pid_of node2)" "$(pid_of node3)"
	[ "$rc" -eq 0 ]
	grep 'background calls stopped' "$TMP/node1.log"
}

# gossip_answered ID: how many gossip calls (POST /internal/members) ID's
# request log shows it answered.
gossip_answered() {
	grep -c 'path=/internal/members' "$TMP/$1.log" || true
}

@test "SIGTERM: gossip calls no peer while the node stops, though a request holds it in its grace" {
	start_peer 1 2 "node2=$(member_addr 2)" --anti-entropy-interval 0 \
	    --shutdown-grace 6
	start_peer 2 2 "node1=$(member_addr 1)" --anti-entropy-interval 0 \
	    --request-log
	wait_for 15 ready node1 node2
	gossiped() {
		[ "$(gossip_answered node2)" -gt 0 ]
	}
	wait_for 15 gossiped
	# A PUT whose body never comes whole: node1 reads it until the
	# grace ends, 6 s, in which gossip (every 200 ms) called node2
	# about 30 times.
	local held pid before after rc=0
	exec {held}<>"/dev/tcp/127.0.0.1/$(port 1)"
	printf 'PUT /kv/held HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"value":' >&"$held"
	sleep 0.3	# the body's start reaches node1
	pid=$(pid_of node1)
	kill -TERM "$pid"
	wait_for 10 grep -q 'shutting down' "$TMP/node1.log"
	sleep 1		# a call node1 made before the stop is answered
	before=$(gossip_answered node2)
	gone() {
		! kill -0 "$pid" 2>/dev/null
	}
	wait_for 30 gone
	wait "$pid" || rc=$?
	exec {held}>&-
	after=$(gossip_answered node2)
	echo "node2 answered node1's gossip $before times before the stop, $after in all"
	[ "$rc" -eq 0 ]
	[ "$after" -eq "$before" ]
}

# post_across_term PATH BODY OUT: POSTs BODY to node1's PATH with the
# request head (and a few bytes) sent before node1's SIGTERM and the rest
# of the body after it, so node1 serves it in its stop grace (idle
# connections are closed then); node1's whole answer goes to OUT.
post_across_term() {
	local path=$1 body=$2 out=$3 conn
	exec {conn}<>"/dev/tcp/127.0.0.1/$(port 1)"
	printf 'POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s' \
	    "$path" "${#body}" "${body:0:5}" >&"$conn"
	sleep 0.3	# the head reaches node1
	kill -TERM "$(pid_of node1)"
	wait_for 10 grep -q 'shutting down' "$TMP/node1.log"
	printf '%s' "${body:5}" >&"$conn"
	timeout 15 cat <&"$conn" >"$out" || true
	exec {conn}>&-
	cat "$out"
}

@test "SIGTERM: a node in its grace asked to probe a member answers 503 shutting_down, not a list without news" {
	start_peer 1 2 "node2=$(member_addr 2)" --anti-entropy-interval 0 \
	    --shutdown-grace 20
	start_peer 2 2 "node1=$(member_addr 1)" --anti-entropy-interval 0
	wait_for 15 ready node1 node2
	local ask='{"members":[],"from":"node2","probe":"node2"}'
	[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST -d "$ask" \
	    "$(url node1)/internal/members")" = 200 ]
	# A gossip message asking for a probe that arrives as the node
	# stops, so node1 serves it in its grace.
	post_across_term /internal/members "$ask" "$TMP/probe-answer"
	head -1 "$TMP/probe-answer" | grep -q '^HTTP/1.1 503 '
	[ "$(tail -1 "$TMP/probe-answer" | jq -r .code)" = shutting_down ]
}

@test "SIGTERM: a join or leave served in the grace is refused 503 shutting_down and changes no member list" {
	start_peer 1 2 "node2=$(member_addr 2)" --anti-entropy-interval 0 \
	    --shutdown-grace 20
	start_peer 2 2 "node1=$(member_addr 1)" --anti-entropy-interval 0
	wait_for 15 ready node1 node2
	local pid
	pid=$(pid_of node1)
	post_across_term /cluster/leave '{"id":"node2"}' "$TMP/leave-answer"
	head -1 "$TMP/leave-answer" | grep -q '^HTTP/1.1 503 '
	[ "$(tail -1 "$TMP/leave-answer" | jq -r .code)" = shutting_down ]
	[[ "$(tail -1 "$TMP/leave-answer" | jq -r .error)" == *"another member"* ]]
	wait_for 30 exited "$pid"
	start_peer 1 2 "node2=$(member_addr 2)" --anti-entropy-interval 0
	wait_for 15 ready node1
	[ "$(nodes node1 | jq -r '[.members[].id] | join(",")')" = node1,node2 ]
	[ "$(nodes node2 | jq -r '[.members[].id] | join(",")')" = node1,node2 ]
}

@test "SIGTERM: a write in flight keeps its replica call through the grace and reaches its quorum once the replica answers" {
	start_member 1 --peer-timeout-ms 30000 --shutdown-grace 20
	start_member 2
	start_member 3
	wait_for 15 ready node1 node2 node3
	wait_for 15 linked node1 node2 node3
	kill -STOP "$(pid_of node2)"
	curl -s --max-time 40 -o /dev/null -w '%{http_code}\n' -X PUT \
	    -d '{"value":"in-grace"}' "$(url node1)/kv/in-grace?w=3" \
	    >"$TMP/in-grace" 3>&- &
	local cpid=$! pid rc=0
	BG+=("$cpid")
	wait_for 10 call_waits_on node1 "$(port 2)"
	sleep 0.3	# the write's call is among those waiting
	pid=$(pid_of node1)
	kill -TERM "$pid"
	wait_for 10 grep -q 'shutting down' "$TMP/node1.log"
	kill -CONT "$(pid_of node2)"
	wait "$cpid" || true
	echo "the write's answer: $(cat "$TMP/in-grace")"
	gone() {
		! kill -0 "$pid" 2>/dev/null
	}
	wait_for 30 gone
	wait "$pid" || rc=$?
	[ "$rc" -eq 0 ]
	[ "$(cat "$TMP/in-grace")" = 201 ]
	[ "$(c "$(url node2)/kv/in-grace?r=1&raw")" = in-grace ]
}

@test "SIGTERM with writes still waiting after --shutdown-grace 0: exit 1 with a warning, no sanitizer report, acknowledged writes survive" {
	# Threads left running are the point: not a leak for ThreadSanitizer.
	TSAN_OPTIONS="${TSAN_OPTIONS:-} report_thread_leaks=0" \
	    start_member 1 --shutdown-grace 0 --peer-timeout-ms 10000
	start_member 2
	start_member 3
	wait_for 15 ready node1 node2 node3
	local ks i rc
	ks=$(keys g 10)
	put_acked node1 $ks
	kill -STOP "$(pid_of node2)" "$(pid_of node3)"
	# Writes that wait for a quorum node1 cannot reach: cut off by the
	# exit, unanswered (curl's code 000).
	local cpids=() open
	open=$(gauge node1 kvd_connections)
	open=${open%.*}
	for i in 1 2 3 4 5; do
		curl -s --max-time 20 -o /dev/null -w '%{http_code}\n' -X PUT \
		    -d '{"value":"late"}' "$(url node1)/kv/late-$i" \
		    >"$TMP/late-$i" 3>&- &
		cpids+=("$!")
		BG+=("$!")
	done
	wait_for 10 connections_at_least node1 $((open + 5))
	sleep 0.3	# their requests follow their connects
	term_and_wait node1
	wait "${cpids[@]}" || true
	kill -CONT "$(pid_of node2)" "$(pid_of node3)"
	echo "late writes' answers: $(cat "$TMP"/late-*)"
	grep 'requests still running after the shutdown grace' "$TMP/node1.log"
	[ "$rc" -eq 1 ]
	[ "$(cat "$TMP"/late-* | sort -u)" = 000 ]
	[ ! -e "$DATA/node1/snapshot.json" ]
	start_member 1
	holds node1 $ks || { show_lacking; false; }
}

@test "SIGTERM: a write answered just after --shutdown-grace still gets its answer, and the node exits 0 with a final snapshot" {
	start_member 1 --shutdown-grace 1 --peer-timeout-ms 1500
	start_member 2
	start_member 3
	wait_for 15 ready node1 node2 node3
	local open rc cpid
	open=$(gauge node1 kvd_connections)
	open=${open%.*}
	kill -STOP "$(pid_of node2)" "$(pid_of node3)"
	# Its replicas' calls time out 1.5 s after it arrives; the grace
	# ends about 1.3 s after.
	curl -s --max-time 20 -o /dev/null -w '%{http_code}\n' -X PUT \
	    -d '{"value":"v"}' "$(url node1)/kv/just-late" >"$TMP/just-late" 3>&- &
	cpid=$!
	BG+=("$cpid")
	wait_for 10 connections_at_least node1 $((open + 1))
	sleep 0.3	# its request follows its connect
	term_and_wait node1
	wait "$cpid" || true
	kill -CONT "$(pid_of node2)" "$(pid_of node3)"
	echo "the write's answer: $(cat "$TMP/just-late")"
	[ "$rc" -eq 0 ]
	[ "$(cat "$TMP/just-late")" != 000 ]
	! grep 'requests still running after the shutdown grace' "$TMP/node1.log"
	[ -e "$DATA/node1/snapshot.json" ]
}

@test "SIGTERM with --shutdown-grace 0 and no request running: exit 0 and a final snapshot with an idle keep-alive client connected" {
	start_member 1 --shutdown-grace 0
	start_member 2
	start_member 3
	wait_for 15 ready node1 node2 node3
	local ks rc
	ks=$(keys z 10)
	put_acked node1 $ks
	# An idle keep-alive client: a parked connection at the stop.
	python3 -c '
import http.client, sys, time
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=20)
c.request("GET", "/health"); c.getresponse().read()
open(sys.argv[2], "w").close()
time.sleep(15)' "$(port_of node1)" "$TMP/idle-client" 3>&- &
	BG+=("$!")
	wait_for 10 test -e "$TMP/idle-client"
	# No gossip request from node2 or node3 may be running at the stop.
	kill -STOP "$(pid_of node2)" "$(pid_of node3)"
	term_and_wait node1
	kill -CONT "$(pid_of node2)" "$(pid_of node3)"
	[ "$rc" -eq 0 ]
	run grep 'requests still running' "$TMP/node1.log"
	[ "$status" -eq 1 ]
	grep -q 'msg="stopped"' "$TMP/node1.log"
	[ -s "$DATA/node1/snapshot.json" ]
}

@test "SIGTERM with request bodies still coming at the grace's end: both reads end, exit 0 and a final snapshot" {
	start_member 1 --shutdown-grace 1
	start_member 2
	start_member 3
	wait_for 15 ready node1 node2 node3
	# A write, for the final snapshot to hold (a store that did not
	# change since the last snapshot gets none).
	[ "$(put node1 before-stop v)" = 201 ]
	# One PUT whose head announces 100 bytes, of which 9 come; one
	# announcing 2 MiB (over --max-body), answered 413 at once and
	# drained: node1 would read either for up to 30 s (--body-timeout).
	python3 -c '
import os, socket, sys, time
port = int(sys.argv[1])
def put(length, first):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"PUT /kv/slow HTTP/1.1\r\nHost: x\r\n"
              b"Content-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n%s" % (length, first))
    s.settimeout(20)
    return s
def read_all(s):
    """What s still says, and whether it ended: closed or timed out."""
    got = b""
    try:
        while True:
            b = s.recv(4096)
            if not b:
                return got, "closed"
            got += b
    except socket.timeout:
        return got, "open after 20 s"
    except OSError:
        return got, "closed"
slow = put(100, b"{\"value\":")
big = put(2 << 20, b"x" * 1000)
status = big.recv(12)
open(sys.argv[2], "w").close()
got, how = read_all(big)	# node1 shuts its side after the 413 ...
print("big: %s, %s" % (status.decode(errors="replace"), how))
got, how = read_all(slow)
print("slow: %s, %s" % ("answered" if got else "unanswered", how))
for i in range(200):		# ... and drains while this side stays open
    if os.path.exists(sys.argv[3]):
        break
    time.sleep(0.1)' "$(port_of node1)" "$TMP/slow-clients" \
	    "$TMP/slow-done" >"$TMP/slow-out" 3>&- &
	local cpid=$! rc
	BG+=("$cpid")
	wait_for 10 test -e "$TMP/slow-clients"
	sleep 0.3	# the slow body reaches node1
	kill -STOP "$(pid_of node2)" "$(pid_of node3)"
	term_and_wait node1
	touch "$TMP/slow-done"
	kill -CONT "$(pid_of node2)" "$(pid_of node3)"
	wait "$cpid" || true
	cat "$TMP/slow-out"
	[ "$rc" -eq 0 ]
	run grep 'requests still running' "$TMP/node1.log"
	[ "$status" -eq 1 ]
	grep -q '"before-stop"' "$DATA/node1/snapshot.json"
	grep -qx 'slow: unanswered, closed' "$TMP/slow-out"
	grep -qx 'big: HTTP/1.1 413, closed' "$TMP/slow-out"
}

@test "SIGTERM while answering clients that read slowly or not at all: an answer is cut at the grace's end and nothing follows it; exit 0 and a final snapshot" {
	start_cluster --shutdown-grace 1
	head -c 800000 /dev/urandom >"$TMP/blob"
	run curl -s --max-time 10 -o /dev/null -w '%{http_code}' -T "$TMP/blob" \
	    -H 'Content-Type: application/octet-stream' "$(url node1)/kv/blob"
	[ "$output" = 201 ]
	# Two clients each send 40 pipelined raw GETs of the 800 kB value (32
	# MB of answers): one never reads, so node1's writes block once the
	# socket's buffers are full and would wait out the write timeout (30
	# s); one reads 16 KiB every 50 ms, from just after the grace as fast
	# as it can, and then checks that it got whole answers and at most
	# the start of one: nothing of a later answer after one that was cut.
	python3 -c '
import os, socket, sys, time
port, blob, asked, termed, out = sys.argv[1:6]
want = open(blob, "rb").read()
def ask():
    s = socket.create_connection(("127.0.0.1", int(port)))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s.sendall(b"GET /kv/blob?raw&r=1 HTTP/1.1\r\nHost: x\r\n\r\n" * 40)
    return s
still, slow = ask(), ask()
open(asked, "w").close()
got = b""
slow.settimeout(20)
fast_at = None
while True:
    if fast_at is None and os.path.exists(termed):
        fast_at = time.monotonic() + 1.15	# just after the grace
    fast = fast_at is not None and time.monotonic() >= fast_at
    if not fast:
        time.sleep(0.05)
    try:
        b = slow.recv(65536 if fast else 16384)
    except OSError:
        break
    if not b:
        break
    got += b
whole = 0
while got:
    head, sep, rest = got.partition(b"\r\n\r\n")
    if not sep:
        ok = b"HTTP/1.1 200 OK".startswith(head[:15])
        break
    fields = dict(l.split(b": ", 1) for l in head.split(b"\r\n")[1:])
    n = int(fields[b"Content-Length"])
    ok = head.startswith(b"HTTP/1.1 200 ") and rest[:n] == want[:len(rest[:n])]
    if not ok or len(rest) <= n:
        break
    whole += 1
    got = rest[n:]
with open(out, "w") as f:
    print("whole answers %d, then %s" % (whole, "a cut one" if ok else
        "bytes that are not the rest of it"), file=f)
' "$(port_of node1)" "$TMP/blob" "$TMP/asked" "$TMP/termed" "$TMP/got" \
	    3>&- &
	BG+=("$!")
	wait_for 10 test -e "$TMP/asked"
	sleep 1		# node1 fills both sockets
	touch "$TMP/termed"
	term_and_wait node1 10
	wait_for 30 test -s "$TMP/got"
	cat "$TMP/got"
	[ "$rc" -eq 0 ]
	run grep 'requests still running' "$TMP/node1.log"
	[ "$status" -eq 1 ]
	[ -s "$DATA/node1/snapshot.json" ]
	grep -q 'then a cut one' "$TMP/got"
}

# ---- 5. a hung replica and the coordinator's lock stripes ----------------

# same_stripe_keys COUNT: COUNT keys whose 32-bit FNV-1a (offset basis
# 2166136261, prime 16777619) modulo 1024 is the same: they share one of
# the coordinator's 1024 key lock stripes.
same_stripe_keys() {
	python3 -c '
import sys
def fnv1a32(s):
    h = 2166136261
    for b in s.encode():
        h = ((h ^ b) * 16777619) & 0xffffffff
    return h
want, by = int(sys.argv[1]), {}
i = 0
while True:
    k = "stripe-%d" % i
    i += 1
    g = by.setdefault(fnv1a32(k) % 1024, [])
    g.append(k)
    if len(g) == want:
        print("\n".join(g))
        break
' "$1"
}

@test "a write waiting for a hung replica does not hold up another key on the same coordinator lock stripe" {
	local n
	for n in 1 2 3; do
		start_member "$n" --peer-timeout-ms 3000
	done
	wait_for 15 ready node1 node2 node3
	# Two keys on one stripe.  node1 asks node2 (the member after it)
	# for every key's digest: A's read waits for node2 once it hangs.
	local a b
	set -- $(same_stripe_keys 2)
	a=$1 b=$2
	echo "A=$a B=$b"
	run kvh put node1 "" "$a" "$b"
	echo "$output"
	[ "$(printf '%s\n' "$output" | awk '$2 == 201' | wc -l)" -eq 2 ]

	kill -STOP "$(pid_of node2)"
	# ?r=2: A reads a quorum before it writes (a plain PUT through an
	# owner builds on its own copy and would not wait for node2).
	curl -s --max-time 20 -o /dev/null -w '%{http_code}' -X PUT \
	    -d '{"value":"a2"}' "$(url node1)/kv/$a?r=2" >"$TMP/a.status" 3>&- &
	local apid=$! bst alive=no ast
	BG+=("$apid")
	sleep 0.3
	bst=$(curl -s --max-time 20 -o /dev/null -w '%{http_code}' -X PUT \
	    -d '{"value":"b2"}' "$(url node1)/kv/$b")
	kill -0 "$apid" 2>/dev/null && alive=yes
	kill -CONT "$(pid_of node2)"
	wait "$apid" || true
	ast=$(cat "$TMP/a.status")
	echo "B answered $bst while A's PUT was still running: $alive; A answered $ast"
	[[ "$bst" == 2?? ]]
	[ "$alive" = yes ]
	[[ "$ast" == 2?? ]]
}

# ---- 6. start-up errors --------------------------------------------------

@test "start-up: --addr without a port exits 2 naming --addr and leaves no node directory" {
	run timeout 10 "$KVD" --id n1 --data-dir "$TMP/d" --addr localhost 3>&-
	echo "status $status: $output"
	[ "$status" -eq 2 ]
	[[ "$output" == *--addr* ]]
	[ ! -e "$TMP/d/n1" ]
}

@test "start-up: a malformed --peers exits 2 naming --peers and leaves no node directory" {
	run timeout 10 "$KVD" --id n1 --data-dir "$TMP/d" --addr 127.0.0.1:0 \
	    --peers node2 3>&-
	echo "status $status: $output"
	[ "$status" -eq 2 ]
	[[ "$output" == *--peers* ]]
	[ ! -e "$TMP/d/n1" ]
	# A member's port is one peers can call: 1-65535, written one way.
	local p
	for p in 0 00000 08080 65536; do
		refused_start "bad address '127.0.0.1:$p' (want HOST:PORT, PORT 1-65535 without leading zeros)" \
		    "$TMP/d/n1" --peers "node2=127.0.0.1:$p"
	done
	for p in 0 080 65536; do
		refused_start "bad --advertise 'localhost:$p' (want HOST:PORT, PORT 1-65535 without leading zeros)" \
		    "$TMP/d" --advertise "localhost:$p"
	done
}

# refused_start MSG PATH FLAGS...: kvd n1 with FLAGS is a usage error
# (exit 2) naming MSG, and PATH was not created.
refused_start() {
	local msg=$1 path=$2
	shift 2
	run timeout 10 "$KVD" --id n1 --data-dir "$TMP/d" --addr 127.0.0.1:0 \
	    "$@" 3>&-
	echo "$*: status $status: $output"
	[ "$status" -eq 2 ]
	[[ "$output" == *"$msg"* ]]
	[ ! -e "$path" ]
}

@test "start-up: a port already in use fails the start and leaves no node directory" {
	start_node n0
	run timeout 10 "$KVD" --id n1 --data-dir "$TMP/d" \
	    --addr "127.0.0.1:$PORT_n0" 3>&-
	echo "status $status: $output"
	[ "$status" -ne 0 ]
	[ "$status" -ne 124 ]	# not still running at the deadline
	[ ! -e "$TMP/d/n1" ]
}

@test "start-up: a --port-file that cannot be written fails the start (1) and leaves no node directory" {
	run timeout 10 "$KVD" --id n1 --data-dir "$TMP/d" --addr 127.0.0.1:0 \
	    --port-file "$TMP/no/such/dir/port" 3>&-
	echo "status $status: $output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"port file"*"$TMP/no/such/dir/port"* ]]
	[ ! -e "$TMP/d/n1" ]
	# A directory in its place: the rename fails, and the tmp file
	# written for it is removed.
	mkdir "$TMP/portdir"
	run timeout 10 "$KVD" --id n1 --data-dir "$TMP/d" --addr 127.0.0.1:0 \
	    --port-file "$TMP/portdir" 3>&-
	echo "status $status: $output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"cannot write the port file $TMP/portdir (rename)"* ]]
	[ ! -e "$TMP/portdir.tmp" ]
	[ ! -e "$TMP/d/n1" ]
}

@test "start-up: a directory where snapshot.json goes fails the start (1) saying so, not as a corrupt snapshot" {
	start_node n1
	kill_node n1 TERM
	rm -f "$DATA/n1/snapshot.json"
	mkdir "$DATA/n1/snapshot.json"
	run timeout 10 "$KVD" --id n1 --addr 127.0.0.1:0 --data-dir "$DATA" 3>&-
	echo "status $status: $output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"$DATA/n1/snapshot.json: Is a directory, not a snapshot (kvd writes it as a regular file): move it away"* ]]
	[[ "$output" != *corrupt* ]]
	rmdir "$DATA/n1/snapshot.json"
	start_node n1
}

@test "start-up: an unknown KVD_ variable is warned about, by name, and the node starts" {
	KVD_BOGUS=1 start_node n1
	[ "$(code "$(url n1)/health")" = 200 ]
	run grep KVD_BOGUS "$TMP/n1.log"
	echo "$output"
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" | grep -qi warn
}

@test "start-up: --peers that differ from members.json are warned about (node2, both addresses, --apply-peers) and applied only with --apply-peers" {
	local old="127.0.0.1:$(port 2)" new="127.0.0.1:$(port 3)" from line
	start_peer 1 3 "node2=$old"
	[ "$(nodes node1 | jq -r '.members[] | select(.id == "node2") | .address')" = "$old" ]
	kill_node node1 TERM
	from=$(($(wc -l <"$TMP/node1.log") + 1))
	start_peer 1 3 "node2=$new"
	line=$(tail -n "+$from" "$TMP/node1.log" | grep -e '--apply-peers' | head -1)
	echo "warning: $line"
	[ -n "$line" ]
	[[ "$line" == *node2* ]]
	[[ "$line" == *"$old"* ]]
	[[ "$line" == *"$new"* ]]
	[ "$(nodes node1 | jq -r '.members[] | select(.id == "node2") | .address')" = "$old" ]
	kill_node node1 TERM
	start_peer 1 3 "node2=$new" --apply-peers
	run nodes node1
	echo "$output"
	[ "$(printf '%s\n' "$output" | jq -r '.members[] | select(.id == "node2") | .address')" = "$new" ]
}

@test "start-up: members.json's members that --peers lacks (joined since the first start) are named in one warning and stay members" {
	start_peer 1 3 "node2=$(member_addr 2)"
	curl -s -o /dev/null -X POST -d "{\"id\":\"node3\",\"address\":\"$(member_addr 3)\"}" \
	    "$(url node1)/cluster/join"
	[ "$(nodes node1 | jq -r '[.members[].id] | join(",")')" = node1,node2,node3 ]
	kill_node node1 TERM
	local from line
	from=$(($(wc -l <"$TMP/node1.log") + 1))
	start_peer 1 3 "node2=$(member_addr 2)"
	wait_for 10 grep -q 'unlisted=' "$TMP/node1.log"
	run grep -c 'unlisted=' <(tail -n "+$from" "$TMP/node1.log")
	[ "$output" = 1 ]
	line=$(tail -n "+$from" "$TMP/node1.log" | grep 'unlisted=')
	echo "warning: $line"
	[[ "$line" == *level=warn* ]]
	[[ "$line" == *unlisted=node3* ]]
	[[ "$line" != *node2* ]]
	[ "$(nodes node1 | jq -r '[.members[].id] | join(",")')" = node1,node2,node3 ]
}

# ---- 7. away longer than --tombstone-grace ------------------------------
#
# A grace of 5 s (the flag takes 1 and up): the alive stamp is written at
# start, every minute and at a clean stop, and a node that finds, once it
# runs again, that it was stopped longer than the grace exits 1 without
# writing it, so its next start is refused as after a restart.

# exited PID: the process is gone (bash reaped it; a zombie answers kill -0).
exited() {
	! kill -0 "$1" 2>/dev/null
}

@test "away: a node stopped cleanly after running longer than the grace starts again at once; one killed -9 and left down longer is refused" {
	start_node n1 --tombstone-grace 5
	[ "$(put n1 k v)" = 201 ]
	sleep 8		# the stamp written at start is older than the grace
	kill_node n1 TERM
	start_node n1 --tombstone-grace 5
	[ "$(code "$(url n1)/ready")" = 200 ]
	[ "$(code "$(url n1)/kv/k")" = 200 ]
	kill_node n1
	sleep 8
	run timeout 10 "$KVD" --id n1 --addr 127.0.0.1:0 --data-dir "$DATA" \
	    --tombstone-grace 5 3>&-
	echo "status $status: $output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"longer than --tombstone-grace 5 s"* ]]
}

@test "away: a node stopped (SIGSTOP) longer than the grace exits 1 once it runs again, saying so, and its next start is refused; a short stop does nothing" {
	local n pid rc=0 line t0
	for n in 1 2; do
		start_peer "$n" 3 "" --tombstone-grace 5
	done
	start_peer 3 3 "" --tombstone-grace 5
	wait_for 15 ready node1 node2 node3
	[ "$(put node1 k v)" = 201 ]
	pid=$(pid_of node3)
	kill -STOP "$pid"
	sleep 1
	kill -CONT "$pid"
	sleep 2
	kill -0 "$pid"
	[ "$(code "$(url node3)/kv/k")" = 200 ]
	[ "$(grep -c 'level=error' "$TMP/node3.log")" -eq 0 ]

	kill -STOP "$pid"
	sleep 8		# grace + 3 s
	t0=$(now_ms)
	kill -CONT "$pid"
	wait_for 60 exited "$pid" || { cat "$TMP/node3.log"; false; }
	wait "$pid" || rc=$?
	line=$(grep 'level=error' "$TMP/node3.log" | tail -1)
	echo "exit $rc $(secs "$t0") s after SIGCONT: $line"
	[ "$rc" -eq 1 ]
	[[ "$line" == *"longer than --tombstone-grace 5 s"* ]]
	[[ "$line" == *"start it with --allow-stale; otherwise wipe"* ]]
	[ "$(grep -c 'msg="stopped"' "$TMP/node3.log")" -eq 0 ]
	# The next start is refused, as after a restart.
	: >"$TMP/node3.log"
	run start_peer 3 3 "" --tombstone-grace 5
	echo "start: $status"
	cat "$TMP/node3.log"
	[ "$status" -eq 1 ]
	grep -q "this node's alive stamp .* s old: the node was stopped.* longer than --tombstone-grace 5 s" \
	    "$TMP/node3.log"
}

@test "away: a node directory with data and no alive stamp (from a kvd before the stamp existed) starts, however long it was down, and is stamped" {
	start_node n1 --tombstone-grace 5
	[ "$(put n1 k v)" = 201 ]
	kill_node n1 TERM
	rm "$DATA/n1/alive"
	sleep 7		# longer than the grace: a stamp would refuse it
	start_node n1 --tombstone-grace 5
	[ "$(code "$(url n1)/kv/k")" = 200 ]
	[ -s "$DATA/n1/alive" ]
}

@test "away: an alive stamp that is there but cannot be read (a directory in its place; no permission, when not root) or holds no time (empty, garbled) stops the start, exit 1, naming the file and the error, --allow-stale or not" {
	local stamp="$DATA/n1/alive"
	start_node n1 --tombstone-grace 5
	kill_node n1 TERM
	[ -f "$stamp" ]
	rm "$stamp"
	mkdir "$stamp"
	run timeout 10 "$KVD" --id n1 --addr 127.0.0.1:0 --data-dir "$DATA" \
	    --tombstone-grace 5 3>&-
	echo "status $status: $output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"cannot read the alive stamp $stamp: Is a directory"* ]]
	run timeout 10 "$KVD" --id n1 --addr 127.0.0.1:0 --data-dir "$DATA" \
	    --tombstone-grace 5 --allow-stale 3>&-
	echo "status $status: $output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"cannot read the alive stamp $stamp: Is a directory"* ]]
	rmdir "$stamp"
	# stamp_alive replaces the file whole: an empty or garbled one is no
	# crash's, and was taken for no stamp at all.
	printf '' >"$stamp"
	run timeout 10 "$KVD" --id n1 --addr 127.0.0.1:0 --data-dir "$DATA" \
	    --tombstone-grace 5 --allow-stale 3>&-
	echo "status $status: $output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"cannot use the alive stamp $stamp: it is empty; "* ]]
	printf '17x\n' >"$stamp"
	run timeout 10 "$KVD" --id n1 --addr 127.0.0.1:0 --data-dir "$DATA" \
	    --tombstone-grace 5 3>&-
	echo "status $status: $output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"cannot use the alive stamp $stamp: it holds no time; "* ]]
	rm "$stamp"
	if [ "$(id -u)" -ne 0 ]; then
		# root reads a mode 000 file anyway
		echo 1 >"$stamp"
		chmod 000 "$stamp"
		run timeout 10 "$KVD" --id n1 --addr 127.0.0.1:0 \
		    --data-dir "$DATA" --tombstone-grace 5 3>&-
		echo "status $status: $output"
		chmod 600 "$stamp"
		[ "$status" -eq 1 ]
		[[ "$output" == *"cannot read the alive stamp $stamp: Permission denied"* ]]
		rm "$stamp"
	fi
	# No stamp at all is a node that never stamped: it starts.
	start_node n1 --tombstone-grace 5
	wait_for 10 ready n1
}

# ---- hand-over counts and ages; the alive stamp's cadence ----------------

# first_ats NODE: the time each hint NODE holds was taken (first), from
# the "at" its line in the hint logs starts with, one a line.
first_ats() {
	cat "$DATA/$1"/hints/*/wal-*.log 2>/dev/null |
	    grep -o '"rec":{"at":[0-9]*' | cut -d: -f3
}

@test "leave with hints for down owners: the member they are handed to keeps their first times (their ages), and the node that left counts them handed_over, not delivered" {
	start_four
	# Keys node4 does not own: writes through it leave it hints for the
	# owners down, and no copy of its own to transfer when it leaves.
	local ks held oldest4 t_left
	ks=$(kvh owners node1 $(keys ha 120) | awk '$2 !~ /node4/ { print $1 }' |
	    head -30)
	echo "keys: $(echo $ks | wc -w)"
	[ "$(echo $ks | wc -w)" -ge 10 ]
	kill_node node2
	kill_node node3
	put_acked node4 $ks
	held=$(hints_of node4 pending)
	oldest4=$(hints_of node4 oldest_ms)
	echo "hints on node4: $held, oldest $oldest4; on node1: $(hints_of node1 pending)"
	[ "$held" -gt 0 ]
	[ "$(hints_of node1 pending)" = 0 ]
	t_left=$(now_ms)
	leave_and_wait node4
	jq -c .hints "$TMP/left.json"
	[ "$(jq -r .hints.pending "$TMP/left.json")" = 0 ]
	[ "$(jq -r .hints.handed_over "$TMP/left.json")" = "$held" ]
	[ "$(jq -r .hints.delivered "$TMP/left.json")" = 0 ]
	kill_node node4
	# node1 holds node4's hints now, each with the time it was taken on
	# node4, before the leave.
	nodes node1 | jq -c .hints
	[ "$(hints_of node1 pending)" = "$held" ]
	[ "$(hints_of node1 oldest_ms)" = "$oldest4" ]
	[ "$(first_ats node1 | awk -v t="$t_left" '$1 > t' | wc -l)" = 0 ]
	back 4 2 3
	delivered node1
	[ "$(hints_of node1 delivered)" = "$held" ]
	[ "$(hints_of node1 handed_over)" = 0 ]
	wait_for 30 owners_hold node1 all $ks || { show_lacking; false; }
}

@test "away: a node killed -9 after running longer than a short grace (8 s) starts again at once (its alive stamp is a quarter of the grace old at most)" {
	start_node n1 --tombstone-grace 8
	[ "$(put n1 k v)" = 201 ]
	sleep 11	# the stamp written at start is older than the grace
	kill_node n1
	start_node n1 --tombstone-grace 8 || { cat "$TMP/n1.log"; false; }
	wait_for 10 ready n1
	[ "$(code "$(url n1)/kv/k")" = 200 ]
	! grep -q 'longer than --tombstone-grace' "$TMP/n1.log"
}
