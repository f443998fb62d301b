#!/usr/bin/env bats
# test/failures.bats -- a three-node cluster (briefly four) through the
# failures a Dynamo-style store must survive: a node killed -9 under write
# load and restarted (nothing acknowledged is lost, and the three replicas
# converge with no client read), a node frozen with SIGSTOP (every request
# through the live nodes answers within its deadline and succeeds), hints
# kept for a dead node that survive a crash of the node holding them and
# are delivered when the owner returns (anti-entropy off, so only hints can
# deliver), a fourth node joining and another leaving under load, a delete
# that a down node missed (it stays deleted: the returning node ends with
# the tombstone), a node whose directory was wiped (it is refilled),
# writes a hung (SIGSTOP) node missed (hinted like a dead node's), reads
# whose digest a hung node failed (the third owner's digest answers them),
# and a four-node cluster where stand-ins keep a dead owner's writes as hints
# (sloppy quorum) and hand them over when it returns.
#
# Replicas are compared through GET /internal/fetch/KEY, which shows a
# replica's stored version and never repairs, so "converged" means the
# background machinery (hints, anti-entropy, transfer) did it, not a read.
#
# Every node must know the others' ports before it starts (--peers), so
# setup picks four free loopback ports and each node is started with
# --addr and --advertise.  --peer-timeout-ms 500, --gossip-interval-ms
# 200 and --anti-entropy-interval 1 keep the file fast.  Every client call
# has a deadline (curl --max-time, timeout(1), socket timeouts in the
# Python helper), every wait is a bounded poll, and teardown kills every
# process the test started (SIGCONT first for a stopped node).
#
# Timings are printed as TAP comments: "# converged in N s", "# hints
# delivered in N s", and so on.

load helpers
bats_require_minimum_version 1.5.0

BATS_TEST_TIMEOUT=${BATS_TEST_TIMEOUT:-90}

setup() {
	setup_tmp
	pick_ports 4
	write_py
}

# teardown_tmp kills the background clients (BG) and every node, a
# stopped one too (SIGKILL ends it; stop_all sends SIGCONT after).
# start_member N [AE_SECONDS [PEERS [FLAG...]]]: nodeN on its fixed port, anti-entropy
# every AE_SECONDS (default 1), PEERS default the other two of node1..3,
# and the FLAGs.
start_member() {
	local n=$1 ae=${2:-1} peers=${3:-}
	[ $# -le 3 ] && set -- || shift 3
	start_peer "$n" 3 "$peers" --anti-entropy-interval "$ae" "$@"
}

# start_cluster [AE_SECONDS [FLAG...]]: node1..node3, each as start_member
# starts it and with the FLAGs, and waits until all three are ready.
start_cluster() {
	local ae=${1:-1} n
	[ $# -eq 0 ] || shift
	for n in 1 2 3; do
		start_member "$n" "$ae" "" "$@"
	done
	wait_for 20 all_ready node1 node2 node3
}

# up NODE: NODE answers /health.
up() {
	curl -s --max-time 1 -o /dev/null -f "$(url "$1")/health"
}

all_up() {
	local n
	for n in "$@"; do
		up "$n" || return 1
	done
}

# all_ready NODE...: each NODE answers /ready with 200 (it has heard
# from every member).
all_ready() {
	local n
	for n in "$@"; do
		curl -s --max-time 1 -o /dev/null -f "$(url "$n")/ready" || return 1
	done
}

# kvt ARGS...: the Python helper, bounded.
kvt() {
	timeout 60 python3 "$TMP/kvt.py" "$@" 3>&-
}

# write_py: the Python helper (stdlib only) used for load and comparisons.
#   kvt writer OUT SECS THREADS PREFIX URL...
#       PUTs PREFIX-T-SEQ round-robin over the URLs for SECS seconds with
#       THREADS threads (2 s per request); every acknowledged key (200/201)
#       is appended to OUT as it is acknowledged.  A server that fails at
#       the transport level is skipped by that thread for 300 ms.
#   kvt converge KEYS BOUND URL...
#       polls GET /internal/fetch/KEY on every URL for every key in the file
#       KEYS until each key's stored version ("v") is the same, and present,
#       on all of them; prints the seconds it took, or (exit 1) the keys
#       still differing after BOUND seconds.
#   kvt holds KEYS URL
#       prints how many of the keys URL holds a live (non-tombstone) version
#       of, through /internal/fetch.
write_py() {
	cat >"$TMP/kvt.py" <<'EOF'
import http.client, json, sys, threading, time, urllib.parse

def conn(url):
    u = urllib.parse.urlsplit(url)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=2)

class Client:
    def __init__(self, url):
        self.url = url
        self.c = None
    def req(self, method, path, body=None):
        for attempt in (0, 1):
            try:
                if self.c is None:
                    self.c = conn(self.url)
                self.c.request(method, path, body=body,
                               headers={"Content-Type": "application/json"})
                r = self.c.getresponse()
                data = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.c.close()
                    self.c = None
                return r.status, data
            except (OSError, http.client.HTTPException):
                if self.c is not None:
                    self.c.close()
                self.c = None
                # A stale keep-alive connection: one fresh try, but never
                # for a write (its outcome is unknown).
                if method != "GET" or attempt:
                    return None, b""
        return None, b""

def writer(out, secs, nthreads, prefix, urls):
    lock = threading.Lock()
    f = open(out, "a")
    counts = {"ack": 0, "unknown": 0}
    end = time.time() + secs
    def run(t):
        cl = [Client(u) for u in urls]
        skip = [0.0] * len(urls)
        seq = 0
        i = t
        while time.time() < end:
            i = (i + 1) % len(urls)
            if skip[i] > time.time():
                if all(s > time.time() for s in skip):
                    time.sleep(0.05)
                continue
            key = "%s-%d-%d" % (prefix, t, seq)
            seq += 1
            st, _ = cl[i].req("PUT", "/kv/" + key,
                              json.dumps({"value": "v-" + key}))
            with lock:
                if st in (200, 201):
                    counts["ack"] += 1
                    f.write(key + "\n")
                    f.flush()
                else:
                    counts["unknown"] += 1
            if st is None:
                skip[i] = time.time() + 0.3
    ts = [threading.Thread(target=run, args=(t,)) for t in range(nthreads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    f.close()
    print("acknowledged %d unknown %d" % (counts["ack"], counts["unknown"]))

def fetch_all(url, keys):
    cl = Client(url)
    res = {}
    for k in keys:
        st, data = cl.req("GET", "/internal/fetch/" + urllib.parse.quote(k))
        if st == 200:
            try:
                res[k] = json.dumps(json.loads(data)["v"], sort_keys=True)
            except (ValueError, KeyError):
                res[k] = "bad:" + data.decode("utf-8", "replace")
        else:
            res[k] = "status:%s" % st
    return res

def snapshot(urls, keys):
    out = [None] * len(urls)
    def run(i):
        out[i] = fetch_all(urls[i], keys)
    ts = [threading.Thread(target=run, args=(i,)) for i in range(len(urls))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out

def differing(urls, keys):
    snap = snapshot(urls, keys)
    bad = []
    for k in keys:
        vs = [s[k] for s in snap]
        if vs[0].startswith("status:") or any(v != vs[0] for v in vs):
            bad.append((k, vs))
    return bad

def converge(keysfile, bound, urls):
    keys = [l.strip() for l in open(keysfile) if l.strip()]
    t0 = time.time()
    while True:
        bad = differing(urls, keys)
        if not bad:
            print("%.1f" % (time.time() - t0))
            return 0
        if time.time() - t0 > bound:
            print("%d of %d keys still differ after %d s" %
                  (len(bad), len(keys), bound))
            for k, vs in bad[:5]:
                print(k)
                for u, v in zip(urls, vs):
                    print("  %s %s" % (u, v))
            return 1
        time.sleep(0.3)

def holds(keysfile, url):
    keys = [l.strip() for l in open(keysfile) if l.strip()]
    res = fetch_all(url, keys)
    n = 0
    for v in res.values():
        if v.startswith("{") and not json.loads(v).get("tombstone"):
            n += 1
    print(n)

cmd = sys.argv[1]
if cmd == "writer":
    writer(sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), sys.argv[5],
           sys.argv[6:])
elif cmd == "converge":
    sys.exit(converge(sys.argv[2], float(sys.argv[3]), sys.argv[4:]))
elif cmd == "holds":
    holds(sys.argv[2], sys.argv[3])
else:
    sys.exit(2)
EOF
}

# keys_file NAME COUNT PREFIX: writes PREFIX-0 .. PREFIX-(COUNT-1) to $TMP/NAME.
keys_file() {
	local i
	: >"$TMP/$1"
	for ((i = 0; i < $2; i++)); do
		echo "$3-$i" >>"$TMP/$1"
	done
}

# put_keys NODE COUNT PREFIX [QUERY]: PUTs PREFIX-i through NODE in one curl;
# fails unless every one is 200 or 201.
put_keys() {
	local i base args=() bad
	base=$(url "$1")
	for ((i = 0; i < $2; i++)); do
		args+=(-o /dev/null "$base/kv/$3-$i${4:-}")
	done
	bad=$(curl -s --no-progress-meter -Z --parallel-max 8 --max-time 20 -X PUT \
	    -d '{"value":"payload"}' -w '%{http_code} %{url}\n' "${args[@]}" |
	    awk '$1 != 200 && $1 != 201')
	if [ -n "$bad" ]; then
		echo "writes not acknowledged:"
		echo "$bad"
		return 1
	fi
}

# holds NODE KEYSFILE: how many keys of KEYSFILE NODE holds (live).
holds() {
	kvt holds "$TMP/$2" "$(url "$1")"
}

# node_hints NODE OWNER: hints NODE reports pending for OWNER.
node_hints() {
	nodes "$1" | jq -r --arg o "$2" '.members[] | select(.id == $o) | .hints'
}

# ---- (a) kill -9 under load ----------------------------------------------

@test "kill -9 of one node under write load: nothing acknowledged lost, replicas converge with no client read" {
	start_cluster
	local servers="$(url node1),$(url node2),$(url node3)"
	timeout 60 "$KVCTL" --server "$servers" --timeout 5 verify -d 4 -c 4 \
	    >"$TMP/verify.out" 2>"$TMP/verify.err" 3>&- &
	local vpid=$!
	BG+=("$vpid")
	timeout 60 python3 "$TMP/kvt.py" writer "$TMP/acked" 4 2 kill9 \
	    "$(url node1)" "$(url node2)" "$(url node3)" >"$TMP/writer.out" \
	    2>&1 3>&- &
	local wpid=$!
	BG+=("$wpid")
	sleep 1.5
	kill_node node3 KILL
	sleep 1
	start_member 3
	local rc=0
	wait "$wpid" || rc=$?
	cat "$TMP/writer.out"
	[ "$rc" -eq 0 ]
	[ "$(wc -l <"$TMP/acked")" -gt 0 ]
	# Convergence of the Python writer's keys: no client ever reads them.
	local t
	run kvt converge "$TMP/acked" 30 "$(url node1)" "$(url node2)" "$(url node3)"
	echo "$output"
	[ "$status" -eq 0 ]
	echo "# converged in $output s ($(wc -l <"$TMP/acked") keys)" >&3
	# Loss: kvctl verify over its own keys.
	rc=0
	wait "$vpid" || rc=$?
	cat "$TMP/verify.out" "$TMP/verify.err"
	[ "$rc" -eq 0 ]
	verify_clean "$TMP/verify.out"
}

# ---- (b) SIGSTOP --------------------------------------------------------

# stopped_keys FILE: the keys the SIGSTOP tests write, stopped-NODE-I for
# node1 and node2 and I in 1..8, to $TMP/FILE.
stopped_keys() {
	local i
	: >"$TMP/$1"
	for i in $(seq 1 8); do
		echo "stopped-node1-$i" >>"$TMP/$1"
		echo "stopped-node2-$i" >>"$TMP/$1"
	done
}

# resume_and_converge FAILED SECONDS: node3 runs again; no request of the
# pause failed (FAILED is their count), and within SECONDS node3 holds
# every stopped-* key the pause's writes made, as node1 and node2 do.
resume_and_converge() {
	echo "failed=$1"
	kill -CONT "$(pid_of node3)"
	[ "$1" -eq 0 ]
	stopped_keys stopped
	run kvt converge "$TMP/stopped" "$2" "$(url node1)" "$(url node2)" "$(url node3)"
	echo "$output"
	[ "$status" -eq 0 ]
	echo "# node3 caught up in $output s after SIGCONT" >&3
}

# put_within_10s NODE KEY: PUTs KEY with itself as the value through
# NODE; prints the status, 000 when none came within curl's 10 s.
put_within_10s() {
	curl -s --max-time 10 -o /dev/null -w '%{http_code}' -X PUT \
	    -d "{\"value\":\"$2\"}" "$(url "$1")/kv/$2" || true
}

@test "one node paused with SIGSTOP: PUTs through the live nodes are acknowledged at W=2 without waiting for it" {
	# A peer timeout of 30 s: a coordinator that waited for the paused
	# owner's answer (or its timeout) could not answer within curl's
	# --max-time 10, and the PUT fails rather than being slow.  The
	# paused node is not known down for the whole test (its calls and
	# gossip probes all take 30 s to fail), so every PUT asks it: the
	# W=2 acknowledgements of node1 and node2 answer it.
	start_cluster 1 --peer-timeout-ms 30000
	kill -STOP "$(pid_of node3)"
	local n i k out failed=0
	for i in $(seq 1 8); do
		for n in node1 node2; do
			k="stopped-$n-$i"
			out=$(put_within_10s "$n" "$k")
			echo "PUT $k via $n: $out"
			case $out in 200 | 201) ;; *) failed=$((failed + 1)) ;; esac
			# This node's own copy holds it (r=1 reads it alone).
			out=$(curl -s --max-time 10 "$(url "$n")/kv/$k?r=1" |
			    jq -r .value)
			[ "$out" = "$k" ] ||
			    { echo "GET $k?r=1 via $n: $out"; failed=$((failed + 1)); }
		done
	done
	resume_and_converge "$failed" 40
}

@test "one node paused with SIGSTOP: PUT and GET through the live nodes succeed at W=2/R=2" {
	# The usual 500 ms peer timeout: a read that asked the paused node
	# waits one timeout for it, then asks the next owner.  curl's
	# --max-time 10 is 20 such timeouts: a request that waited for the
	# paused node without a deadline fails, a slow machine does not.
	# Whether a write waits for it is the test above's question, the
	# read's retries are the digest test's below: this one asks that
	# every request succeeds.
	start_cluster
	put_keys node1 5 pre
	kill -STOP "$(pid_of node3)"
	local n i k out st failed=0
	for i in $(seq 1 8); do
		for n in node1 node2; do
			k="stopped-$n-$i"
			st=$(put_within_10s "$n" "$k")
			echo "PUT $k via $n: $st"
			case $st in 200 | 201) ;; *) failed=$((failed + 1)) ;; esac
			st=$(curl -s --max-time 10 -o "$TMP/body" -w '%{http_code}' \
			    "$(url "$n")/kv/$k") || true
			echo "GET $k via $n: $st $(cat "$TMP/body")"
			[ "$st" = 200 ] && [ "$(jq -r .value "$TMP/body")" = "$k" ] ||
			    failed=$((failed + 1))
			# A key written before the pause, through the other node.
			st=$(curl -s --max-time 10 -o "$TMP/body" -w '%{http_code}' \
			    "$(url "$n")/kv/pre-$((i % 5))") || true
			[ "$st" = 200 ] || { echo "GET pre-$((i % 5)) via $n: $st"; failed=$((failed + 1)); }
		done
	done
	resume_and_converge "$failed" 20
}

# digests_failed NODE: how many /internal/digests requests NODE's log (at
# --log-level debug) says got no answer or an error: each is one request
# of the stream, however many digests it carried.
digests_failed() {
	grep -F 'msg="stream: request failed"' "$TMP/$1.log" |
	    grep -cF 'route=/internal/digests' || true
}

@test "GETs whose digest reads asked a hung (SIGSTOP) replica ask the next owner's digest, not the record; digests queued behind the first one's request fail with it, without a request of their own" {
	local n i keys=() st k failed pid
	# A long peer timeout: the first GET's request to node2 is in
	# flight while the five others queue behind it.
	for n in 1 2 3; do
		start_peer "$n" 3 "" --peer-timeout-ms 4000 \
		    $([ "$n" = 1 ] && echo --log-level debug)
	done
	wait_for 20 all_ready node1 node2 node3
	# Keys whose digest read through node1 asks node2 first: every key
	# (node2 is the member after node1), as X-Kvd-Replicas shows.
	for i in $(seq 1 200); do
		[ "$(put node1 "d$i" "v$i")" = 201 ]
		if c -D - -o /dev/null "$(url node1)/kv/d$i" | tr -d '\r' |
		    grep -qi '^x-kvd-replicas: node1,node2,'; then
			keys+=("d$i")
			[ "${#keys[@]}" -eq 7 ] && break
		fi
	done
	[ "${#keys[@]}" -eq 7 ]
	kill -STOP "$(pid_of node2)"
	k=${keys[0]}
	st=$(curl -s --max-time 20 -o "$TMP/body" -w '%{http_code}' \
	    "$(url node1)/kv/$k")
	echo "GET $k via node1 with node2 stopped: $st $(cat "$TMP/body")"
	[ "$st" = 200 ] && [ "$(jq -r .value "$TMP/body")" = "v${k#d}" ]
	# node2's digest failed: node3 was asked for its digest, and no
	# full read (which would fetch the record) was made.  (The next
	# test shows node3 was never asked for the record.)
	[ "$(metric node1 kvd_read_digest_retries_total)" -ge 1 ]
	[ "$(metric node1 kvd_read_full_total)" = 0 ]
	# Six, once node1 may have given node2 up: one first, whose request
	# to node2 is in flight when the five others queue behind it.  They
	# fail with it: one failed request in all.  Each sent of its own
	# (or all five in one) would be a second.  The second's pause only
	# lets the first's request leave: a slower machine that sent all six
	# in one request would still count one.
	kill -CONT "$(pid_of node2)"
	wait_for 20 all_ready node1 node2 node3
	failed=$(digests_failed node1)
	kill -STOP "$(pid_of node2)"
	curl -s --max-time 30 -o "$TMP/first" -w '%{http_code}\n' \
	    "$(url node1)/kv/${keys[1]}" >"$TMP/codes1" 2>/dev/null 3>&- &
	pid=$!
	sleep 1
	curl -s --max-time 30 -Z --parallel-immediate --parallel-max 5 \
	    -w '%{http_code}\n' \
	    $(for k in "${keys[@]:2}"; do echo "-o /dev/null $(url node1)/kv/$k"; done) \
	    >"$TMP/codes" 2>/dev/null
	wait "$pid"
	kill -CONT "$(pid_of node2)"
	# Two files: the first curl writes at its own offset, and its line
	# could overwrite one the others appended to a shared file.
	cat "$TMP/codes1" >>"$TMP/codes"
	cat "$TMP/codes"
	[ "$(grep -c '^200$' "$TMP/codes")" -eq 6 ]
	[ "$(jq -r .value "$TMP/first")" = "v${keys[1]#d}" ]
	echo "failed digests requests: $failed before, $(digests_failed node1) after"
	[ "$(digests_failed node1)" -eq $((failed + 1)) ]
	[ "$(metric node1 kvd_read_full_total)" = 0 ]
}

# metric NODE NAME: the value of the unlabelled metric NAME on NODE.
metric() {
	curl -s --max-time 60 "$(url "$1")/metrics" |
	    awk -v n="$2" '$1 == n { print $2; exit }'
}

@test "a GET whose digest ask a hung (SIGSTOP) owner failed asks the third owner for its digest, not for the record: no full read" {
	local i k="" before st
	start_peer 1 3 ""
	start_peer 2 3 ""
	start_peer 3 3 "" --request-log
	wait_for 20 all_ready node1 node2 node3
	# A key whose digest read through node1 asks node2 first (any key:
	# node2 is the member after node1).
	for i in $(seq 1 200); do
		[ "$(put node1 "r$i" "v$i")" = 201 ]
		if c -D - -o /dev/null "$(url node1)/kv/r$i" | tr -d '\r' |
		    grep -qi '^x-kvd-replicas: node1,node2,'; then
			k="r$i"
			break
		fi
	done
	[ -n "$k" ]
	before=$(grep -c 'path=/internal/fetch/' "$TMP/node3.log" || true)
	kill -STOP "$(pid_of node2)"
	st=$(curl -s --max-time 10 -o "$TMP/body" -w '%{http_code}' \
	    "$(url node1)/kv/$k")
	kill -CONT "$(pid_of node2)"
	echo "GET $k via node1 with node2 stopped: $st $(cat "$TMP/body")"
	[ "$st" = 200 ] && [ "$(jq -r .value "$TMP/body")" = "v${k#r}" ]
	# node3 gave its digest; the record, which a full read fetches, it
	# was never asked for.
	grep -q 'method=POST path=/internal/digests status=200' "$TMP/node3.log"
	[ "$(grep -c 'path=/internal/fetch/' "$TMP/node3.log" || true)" = "$before" ]
	[ "$(metric node1 kvd_read_digest_retries_total)" -ge 1 ]
	[ "$(metric node1 kvd_read_full_total)" = 0 ]
}

@test "digest reads that need a full read beyond the 64 that run at once wait, at most 64 of them; the rest, and those that waited a peer timeout, are answered 503 busy" {
	local st busy
	KVD_FAILPOINTS=full-read-delay@1+ start_peer 1 3 ""
	start_peer 2 3 ""
	start_peer 3 3 ""
	wait_for 20 all_ready node1 node2 node3
	# 200 keys that node1 holds a version of and the others do not: each
	# digest read through node1 differs, so each needs the full read,
	# which the failpoint holds for 2 s before it starts.
	python3 -c '
import json
for i in range(1, 201):
    print(json.dumps({"key": "m%d" % i, "v": {"clock": {"x.1": 1},
        "ts": 1, "actor": "x.1", "tombstone": False, "value": "v%d" % i}}))
' >"$TMP/batch"
	st=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' \
	    --data-binary @"$TMP/batch" "$(url node1)/internal/batch")
	[ "$st" = 200 ]
	mkdir "$TMP/out"
	curl -s --max-time 30 -Z --parallel-immediate --parallel-max 200 \
	    -o "$TMP/out/#1" -w '%{http_code}\n' "$(url node1)/kv/m[1-200]" \
	    >"$TMP/codes" 2>/dev/null || true
	sort "$TMP/codes" | uniq -c
	[ "$(wc -l <"$TMP/codes")" -eq 200 ]
	# Every read was answered: the first 64 by their full reads (and
	# repaired), the rest 503 busy, at once or after their wait.
	[ "$(grep -c '^200$' "$TMP/codes")" -ge 64 ]
	busy=$(grep -l '"code":"busy"' "$TMP"/out/* | wc -l)
	echo "busy: $busy"
	[ "$busy" -ge 1 ]
	[ "$(grep -c -v -e '^200$' -e '^503$' "$TMP/codes")" = 0 ]
	[ "$(metric node1 kvd_read_full_total)" -eq 200 ]
	[ "$(metric node1 kvd_read_full_busy_total)" -eq "$busy" ]
	grep -q 'point=full-read-delay hit=64 action=delay' "$TMP/node1.log"
}

@test "a write whose client gave up while its node was stopped is not applied once the node runs again: the write acknowledged meanwhile stays" {
	local n rc
	for n in 1 2 3; do
		start_peer "$n" 3 ""
	done
	wait_for 20 all_ready node1 node2 node3
	[ "$(put node2 z v1)" = 201 ]
	kill -STOP "$(pid_of node1)"
	# Six clients give up after a second and close, each on its own
	# connection; their requests wait in node1's sockets.
	rc=0
	curl -s --max-time 1 -Z --parallel-immediate -X PUT \
	    -d '{"value":"abandoned"}' -o /dev/null "$(url node1)/kv/z" \
	    -o /dev/null "$(url node1)/kv/z" -o /dev/null "$(url node1)/kv/z" \
	    -o /dev/null "$(url node1)/kv/z" -o /dev/null "$(url node1)/kv/z" \
	    -o /dev/null "$(url node1)/kv/z" || rc=$?
	[ "$rc" -eq 28 ]
	[ "$(put node2 z v3)" = 200 ]
	kill -CONT "$(pid_of node1)"
	wait_for 10 c -f "$(url node1)/health" -o /dev/null
	sleep 1
	[ "$(c "$(url node2)/kv/z?r=3" | jq -r .value)" = v3 ]
	# One line for the six, not one a request (log_event_limited).
	grep 'request not served: its client left' "$TMP/node1.log"
	[ "$(grep -c 'request not served: its client left' \
	    "$TMP/node1.log")" -eq 1 ]
}

@test "a node whose disk is full still coordinates writes: the other owners make W" {
	local i
	start_peer 1 3 ""
	start_peer 2 3 ""
	KVD_FAILPOINTS=wal-write-enospc@1+ start_peer 3 3 ""
	wait_for 20 all_ready node1 node2 node3
	# The first write finds the disk full: its outcome is unknown.
	[ "$(put node3 full0 v)" = 503 ]
	for i in 1 2 3; do
		c -D "$TMP/h$i" -o /dev/null -X PUT -d '{"value":"v'$i'"}' \
		    "$(url node3)/kv/full$i"
		grep -q '^HTTP/1.1 201' "$TMP/h$i"
		tr -d '\r' <"$TMP/h$i" | grep -qx 'X-Kvd-Acked: node[12],node[12]'
		[ "$(c "$(url node1)/kv/full$i?r=2" | jq -r .value)" = "v$i" ]
	done
	curl -s "$(url node3)/health" | jq -e '.storage == "disk_full"'
}

# ---- (c) hinted handoff -------------------------------------------------

@test "hints for a dead node survive a kill -9 of their holder and are delivered when the owner returns (anti-entropy off)" {
	start_cluster 0
	kill_node node3 KILL
	put_keys node1 50 hinted
	keys_file hinted 50 hinted
	[ "$(holds node1 hinted)" -eq 50 ]
	local h
	h=$(node_hints node1 node3)
	echo "hints on node1 for node3: $h"
	[ -n "$h" ] && [ "$h" -gt 0 ]
	[ "$(nodes node1 | jq .hints.pending)" -ge "$h" ]

	# The holder crashes; its hints are durable.
	kill_node node1 KILL
	start_member 1 0
	local h2
	h2=$(node_hints node1 node3)
	echo "hints on node1 for node3 after kill -9 and restart: $h2"
	[ -n "$h2" ] && [ "$h2" -gt 0 ]
	[ "$h2" -eq "$h" ]

	# The owner returns: only hints can bring it the 50 keys.
	local t0
	t0=$(now_ms)
	start_member 3 0
	all_delivered() {
		[ "$(holds node3 hinted)" -eq 50 ] &&
		    [ "$(node_hints node1 node3)" = 0 ]
	}
	wait_for 30 all_delivered || {
		echo "node3 holds $(holds node3 hinted) of 50"
		nodes node1 | jq .
		false
	}
	echo "# hints delivered in $(secs "$t0") s (after node3's restart; $h hints)" >&3
	[ "$(nodes node1 | jq .hints.pending)" -eq 0 ]
	[ "$(nodes node1 | jq .hints.delivered)" -ge "$h" ]
	run kvt converge "$TMP/hinted" 5 "$(url node1)" "$(url node3)"
	echo "$output"
	[ "$status" -eq 0 ]
}

# ---- (d) join and leave under load -------------------------------------

@test "a fourth node joins and another leaves under load: nothing lost, three members, transfer finished" {
	start_cluster
	timeout 90 "$KVCTL" --server "$(url node1),$(url node3)" --timeout 5 \
	    verify -d 8 -c 8 >"$TMP/verify.out" 2>"$TMP/verify.err" 3>&- &
	local vpid=$!
	BG+=("$vpid")
	sleep 2
	local a4="127.0.0.1:$(port 4)"
	start_member 4 1 "node1=127.0.0.1:$(port 1)"
	run c -X POST -d "{\"id\":\"node4\",\"address\":\"$a4\"}" "$(url node1)/cluster/join"
	echo "join: $output"
	[ "$status" -eq 0 ]
	sleep 4
	run c -X POST -d '{"id":"node2"}' "$(url node1)/cluster/leave"
	echo "leave: $output"
	[ "$status" -eq 0 ]
	local rc=0
	wait "$vpid" || rc=$?
	cat "$TMP/verify.out" "$TMP/verify.err"
	[ "$rc" -eq 0 ]
	verify_clean "$TMP/verify.out"

	[ "$(nodes node1 | jq -r '[.members[].id] | sort | join(",")')" = node1,node3,node4 ]
	transfer_done() {
		nodes node1 | jq -e '.transfer.running == false and
		    .transfer.finished_ms > 0 and .transfer.to_version == .version' \
		    >/dev/null
	}
	wait_for 20 transfer_done || { nodes node1 | jq .; false; }
	nodes node1 | jq -c .transfer
	for n in node3 node4; do
		[ "$(nodes "$n" | jq -r '[.members[].id] | sort | join(",")')" = node1,node3,node4 ]
	done
}

# ---- (e) a delete missed by a down node ---------------------------------

@test "a key deleted while a node was down stays deleted when it returns: 404 everywhere, a tombstone on the returning node" {
	start_cluster
	[ "$(put node1 doomed alive '?w=3')" = 201 ]
	[ "$(c "$(url node3)/internal/fetch/doomed" | jq -r .v.value)" = alive ]
	kill_node node3 KILL
	[ "$(code -X DELETE "$(url node1)/kv/doomed")" = 204 ]
	start_member 3
	wait_for 10 all_up node3
	# More than three anti-entropy rounds, no client read in between.
	sleep 4
	run c "$(url node3)/internal/fetch/doomed"
	echo "node3 before any read: $output"
	[ "$(echo "$output" | jq -r .v.tombstone)" = true ]
	[ "$(echo "$output" | jq -r '.v.value // empty')" != alive ]
	local n
	for n in node1 node2 node3; do
		run code "$(url "$n")/kv/doomed?r=3"
		echo "GET via $n r=3: $output"
		[ "$output" = 404 ]
	done
	for n in node1 node2 node3; do
		run c "$(url "$n")/internal/fetch/doomed"
		echo "$n: $output"
		[ "$(echo "$output" | jq -r .v.tombstone)" = true ]
	done
}

# ---- (f) a wiped node ---------------------------------------------------

@test "a node whose directory was wiped rejoins with the same flags and is refilled with all 100 keys" {
	start_cluster
	put_keys node1 100 wiped '?w=3'
	keys_file wiped 100 wiped
	[ "$(holds node3 wiped)" -eq 100 ]
	kill_node node3 KILL
	rm -rf "${DATA:?}/node3"
	local t0
	t0=$(now_ms)
	start_member 3
	refilled() {
		[ "$(holds node3 wiped)" -eq 100 ]
	}
	wait_for 30 refilled || {
		echo "node3 holds $(holds node3 wiped) of 100"
		nodes node1 | jq .
		false
	}
	echo "# wiped node refilled in $(secs "$t0") s" >&3
	run kvt converge "$TMP/wiped" 10 "$(url node1)" "$(url node2)" "$(url node3)"
	echo "$output"
	[ "$status" -eq 0 ]
}

# ---- (g) a hung node's writes are hinted too ----------------------------

# The spec: "a down or hung replica costs a bounded time ... Its writes go
# to the next node as hints and are delivered when it returns."  A write
# whose call to a hung replica times out after W was already reached must
# leave a hint as well, or the replica never gets it without anti-entropy
# or a read.  Here node3 is frozen, 20 keys are written one at a time
# through node1, node3 dies while frozen (what it had queued dies with
# it), and comes back with anti-entropy off everywhere.
@test "writes a hung (SIGSTOP) node missed are hinted and delivered after it is killed and restarted (anti-entropy off)" {
	start_cluster 0
	kill -STOP "$(pid_of node3)"
	local i st
	for i in $(seq 0 19); do
		st=$(put node1 "hung-$i" x)
		[ "$st" = 201 ] || { echo "PUT hung-$i: $st"; false; }
	done
	keys_file hung 20 hung
	sleep 1	# every call to node3 has timed out by now
	echo "# hints on node1 for node3: $(node_hints node1 node3)" >&3
	kill_node node3 KILL
	local t0
	t0=$(now_ms)
	start_member 3 0
	delivered() {
		[ "$(holds node3 hung)" -eq 20 ]
	}
	wait_for 15 delivered || {
		echo "node3 holds $(holds node3 hung) of 20 after 15 s; missing:"
		for i in $(seq 0 19); do
			[ "$(code "$(url node3)/internal/fetch/hung-$i")" = 200 ] ||
			    echo "  hung-$i"
		done
		nodes node1 | jq -c '.members[], .hints'
		false
	}
	echo "# hung node's hints delivered in $(secs "$t0") s" >&3
}

# ---- (h) sloppy quorum with a stand-in ----------------------------------

# copies PREFIX COUNT NODE...: for each key PREFIX-0..COUNT-1, one line
# with how many of the NODEs store it (/internal/fetch, one curl per node).
copies() {
	local prefix=$1 count=$2 n i urls
	shift 2
	for n in "$@"; do
		urls=()
		for ((i = 0; i < count; i++)); do
			urls+=(-o /dev/null "$(url "$n")/internal/fetch/$prefix-$i")
		done
		curl -s --max-time 10 -w '%{http_code}\n' "${urls[@]}" >"$TMP/copies.$n"
	done
	(cd "$TMP" && paste $(printf 'copies.%s ' "$@")) |
	    awk '{ c = 0; for (i = 1; i <= NF; i++) if ($i == 200) c++; print c }'
}

# pending NODE...: hints pending on all the NODEs together.
pending() {
	local n sum=0 p
	for n in "$@"; do
		p=$(nodes "$n" | jq .hints.pending)
		sum=$((sum + ${p:-999999}))
	done
	echo "$sum"
}

@test "four nodes, one dead: stand-ins keep its writes as hints and hand them over when it returns (anti-entropy off)" {
	local n
	for n in 1 2 3 4; do
		start_member "$n" 0 "$(peers_of "$n" 4)"
	done
	kill_node node4 KILL
	put_keys node1 60 sloppy
	local h
	h=$(pending node1 node2 node3)
	echo "# hints held for node4 by node1..3: $h" >&3
	[ "$h" -gt 0 ]
	local t0
	t0=$(now_ms)
	start_member 4 0 "$(peers_of 4 4)"
	three_copies() {
		[ "$(pending node1 node2 node3)" -eq 0 ] &&
		    [ "$(copies sloppy 60 node1 node2 node3 node4 | grep -cvx 3)" -eq 0 ]
	}
	wait_for 20 three_copies || {
		copies sloppy 60 node1 node2 node3 node4 | awk '$1 != 3 {
			print "sloppy-" NR - 1 ": " $1 " copies" }'
		for n in node1 node2 node3; do nodes "$n" | jq -c .hints; done
		false
	}
	echo "# stand-in hints delivered in $(secs "$t0") s" >&3
}
