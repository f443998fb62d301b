#!/usr/bin/env bats
# test/watch.bats -- GET /kv/KEY?wait=ETAG&timeout=S: a request parked
# until the key changes (through any node), 304 at the timeout from a
# read made then (a node stopped past it compares again); a node
# that does not own the key parks the watch on an owner (and ends the
# relay when it stops); many watchers; kvctl watch (which ends, exit 5,
# on a node that left).

load helpers
bats_require_minimum_version 1.5.0

setup() {
	setup_tmp
	pick_ports 4
}

# cluster4 [flags...]: node1..node4, N=2, each with the flags, until
# node1 lists all four.
cluster4() {
	local n
	for n in 1 2 3 4; do
		start_peer "$n" 2 "$(peers_of "$n" 4)" "$@"
	done
	wait_for 15 bash -c "curl -s '$(url node1)/cluster/nodes' | jq -e '.members | length == 4' >/dev/null"
}

# node4_key PREFIX yes|no: writes PREFIX1, PREFIX2, ... through node1
# until one is (yes) or is not (no) replicated on node4, and prints that
# key (nothing after 50); its replicas (the owners, comma-separated) are
# in $TMP/replicas.
node4_key() {
	local k reps on
	for k in $(seq 1 50); do
		reps=$(curl -s -D - -o /dev/null -X PUT -d '{"value":"a"}' "$(url node1)/kv/$1$k" |
		    tr -d '\r' | awk -F': ' 'tolower($1) == "x-kvd-replicas" { print $2 }')
		case ",$reps," in *,node4,*) on=yes ;; *) on=no ;; esac
		[ "$on" != "$2" ] || { echo "$reps" >"$TMP/replicas"; echo "$1$k"; return 0; }
	done
}

# etag NODE KEY: the ETag of KEY read through NODE, without quotes.
etag() {
	curl -s --max-time 60 -D - -o /dev/null "$(url "$1")/kv/$2" |
	    tr -d '\r' | awk -F': ' 'tolower($1) == "etag" { gsub(/"/, "", $2); print $2 }'
}

# relay_watch PREFIX TIMEOUT: a key not on node4 ($own) watched through
# node4 from its current ETag ($e) with TIMEOUT and r=1, in the
# background (body in $TMP/out, status in $TMP/code); $t0 its start in
# ns, $holder the owner the relay parked on.
relay_watch() {
	local n
	own=$(node4_key "$1" no)
	[ -n "$own" ] || return 1
	e=$(etag node1 "$own")
	t0=$(date +%s%N)
	curl -s --max-time 60 -o "$TMP/out" -w '%{http_code}' \
	    "$(url node4)/kv/$own?wait=$e&timeout=$2&r=1" >"$TMP/code" 3>&- &
	BG+=($!)
	wait_for 5 watchers_are 1 node1 node2 node3 || return 1
	for n in node1 node2 node3; do
		watchers_are 1 "$n" && holder=$n
	done
	echo "the relay parked on $holder"
}

cluster3() {
	local n
	for n in 1 2 3; do
		start_peer "$n" 3 ""
	done
	wait_for 15 ready node1 node2 node3
	# A node that tried the others before they were up holds them down
	# until news of them: a ?w=3 write meanwhile is a fast 503 (it was,
	# under ThreadSanitizer's slower start).
	wait_for 20 linked node1 node2 node3
}

@test "a write through one node wakes a watcher on another; the answer is the new version" {
	cluster3
	[ "$(put node1 w v1)" = 201 ]
	e=$(etag node2 w)
	[ -n "$e" ]
	curl -s --max-time 30 -w '\n%{http_code}' "$(url node2)/kv/w?wait=$e&timeout=25" \
	    >"$TMP/out" 3>&- &
	BG+=($!)
	t0=$(now_ms)
	sleep 0.5
	kill -0 "${BG[0]}"	# still parked
	# 201 when node3 missed v1 (a hint on its way): a blind write builds
	# on the coordinator's own copy.
	[[ "$(put node3 w v2)" == 20[01] ]]
	wait "${BG[0]}"
	echo "woke $(secs "$t0") s after the watch began (the write came at 0.5 s)"
	cat "$TMP/out"
	[ "$(tail -1 "$TMP/out")" = 200 ]
	[ "$(head -1 "$TMP/out" | jq -r .value)" = v2 ]
	# A delete wakes it too (404); a watch on an absent key waits with wait=.
	e=$(etag node2 w)
	curl -s --max-time 30 -o /dev/null -w '%{http_code}' "$(url node1)/kv/w?wait=$e&timeout=25" \
	    >"$TMP/del" 3>&- &
	BG+=($!)
	sleep 0.3
	[ "$(code -X DELETE "$(url node2)/kv/w")" = 204 ]
	wait "${BG[1]}"
	[ "$(cat "$TMP/del")" = 404 ]
	curl -s --max-time 30 -w '\n%{http_code}' "$(url node3)/kv/w?wait=&timeout=25" \
	    >"$TMP/new" 3>&- &
	BG+=($!)
	sleep 0.3
	[[ "$(put node1 w v3)" == 20[01] ]]	# 200: node1 missed the delete
	wait "${BG[2]}"
	[ "$(head -1 "$TMP/new" | jq -r .value)" = v3 ]
}

@test "wait= empty is \"absent\": 304 on an absent key, 200 at once on one that is there; the node stays up" {
	start_node n1
	[ "$(code "$(url n1)/kv/none?wait=&timeout=1")" = 304 ]
	[ "$(put n1 k v)" = 201 ]
	[ "$(code "$(url n1)/kv/k?wait=&timeout=5")" = 200 ]
	[ "$(code "$(url n1)/health")" = 200 ]
}

@test "no change before the timeout: 304 with the ETag; a version unlike wait answers at once" {
	start_node n1
	[ "$(put n1 k v)" = 201 ]
	e=$(etag n1 k)
	t0=$(now_ms)
	run curl -s --max-time 10 -D - -o /dev/null "$(url n1)/kv/k?wait=$e&timeout=1"
	echo "$output"
	[[ "$output" == *"HTTP/1.1 304"* ]]
	[[ "$output" == *"ETag: \"$e\""* ]]
	run curl -s --max-time 10 -w ' %{http_code}' "$(url n1)/kv/k?wait=%22old%22&timeout=30"
	[[ "$output" == *'"value":"v"'*" 200" ]]
	run curl -s --max-time 10 -w ' %{http_code}' "$(url n1)/kv/none?wait=stale&timeout=30"
	[[ "$output" == *" 404" ]]
	for q in "wait=$e&timeout=0" "wait=$e&timeout=301" "wait=$e&timeout=x" "timeout=5"; do
		[ "$(code "$(url n1)/kv/k?$q")" = 400 ]
	done
}

@test "a node that does not own the key parks the watch on an owner" {
	local own
	cluster4
	own=$(node4_key f no)
	[ -n "$own" ]
	e=$(etag node1 "$own")
	curl -s --max-time 30 -w '\n%{http_code}' "$(url node4)/kv/$own?wait=$e&timeout=25" \
	    >"$TMP/out" 3>&- &
	BG+=($!)
	sleep 0.5
	[ "$(put node2 "$own" b)" = 200 ]
	wait "${BG[0]}"
	cat "$TMP/out"
	[ "$(head -1 "$TMP/out" | jq -r .value)" = b ]
}

@test "a relayed watch answers as a direct one does: the value's bytes when the client asks for them (?raw, Accept), and the owner's headers (ETag, X-Kvd-Expires, who answered)" {
	local own h
	cluster4
	own=$(node4_key raw no)
	[ -n "$own" ]
	# wait=x is no version: the owner answers at once.
	for h in '?wait=x&timeout=5&raw' '?wait=x&timeout=5&raw=true'; do
		[ "$(curl -s --max-time 30 -o "$TMP/out" -w '%{content_type} %{http_code}' \
		    "$(url node4)/kv/$own$h")" = "application/octet-stream 200" ]
		[ "$(cat "$TMP/out")" = a ]
	done
	[ "$(curl -s --max-time 30 -o "$TMP/out" -w '%{content_type} %{http_code}' \
	    -H 'Accept: application/octet-stream' \
	    "$(url node4)/kv/$own?wait=x&timeout=5")" = "application/octet-stream 200" ]
	[ "$(cat "$TMP/out")" = a ]
	# Without either, JSON, as ever.
	[ "$(curl -s --max-time 30 -o "$TMP/out" -w '%{content_type} %{http_code}' \
	    "$(url node4)/kv/$own?wait=x&timeout=5")" = "application/json 200" ]
	[ "$(jq -r .value "$TMP/out")" = a ]
	curl -s -o /dev/null -X PUT -d '{"value":"b","ttl":600}' "$(url node1)/kv/$own"
	h=$(curl -s --max-time 30 -D - -o /dev/null "$(url node4)/kv/$own?wait=x&timeout=5" | tr -d '\r')
	echo "$h"
	[[ "$h" == "HTTP/1.1 200"* ]]
	echo "$h" | grep -q '^ETag: "'
	echo "$h" | grep -Eq '^X-Kvd-Expires: [0-9]+$'
	# the owners, in whatever order they answered
	[ "$(echo "$h" | awk -F': ' '$1 == "X-Kvd-Replicas" { print $2 }' | tr , '\n' | sort)" = \
	    "$(tr , '\n' <"$TMP/replicas" | sort)" ]
	echo "$h" | grep -Eq '^X-Kvd-Acked: node[1-3]'
	echo "$h" | grep -Eq '^X-Kvd-Acks: [12]$'
	echo "$h" | grep -q '^X-Kvd-Required: '
}

@test "a relayed watch whose owner dies moves to the next owner, sees the change there, and keeps its own timeout" {
	local own e holder other n t0 t1
	cluster4 --peer-timeout-ms 2000 --request-log
	# timeout=300, past the client's 40 s: a relay that answered only at
	# its deadline (from its own read) would leave curl with nothing
	relay_watch m 300
	kill -9 "$(pid_of "$holder")"
	sleep 1
	# The key's other owner (N=2), as its write named them.  Not "the
	# one that holds it": a read in the first moments of a cluster takes
	# the full way and repairs the members it asked, owners or not.
	other=$(tr , '\n' <"$TMP/replicas" | grep -vx "$holder")
	echo "the other owner is $other (replicas $(cat "$TMP/replicas"))"
	[ "$(code "$(url "$other")/internal/fetch/$own")" = 200 ]
	[ "$(put "$other" "$own" moved '?w=1')" = 200 ]
	wait "${BG[0]}"
	t1=$(date +%s%N)
	echo "answered $(cat "$TMP/code") after $(( (t1 - t0) / 1000000 )) ms: $(cat "$TMP/out")"
	[ "$(cat "$TMP/code")" = 200 ]
	[ "$(jq -r .value "$TMP/out")" = moved ]
	# the other owner had the relayed watch and answered it the change
	# (its request line is logged once the answer is sent, so it may
	# come a moment after the relay's answer reached curl)
	wait_for 10 grep -qE \
	    "msg=\"request\" method=GET path=\"?/kv/$own[?]wait=[^ ]* status=200 " \
	    "$TMP/$other.log"
}

@test "a relayed watch whose owner dies with no change answers 304 at its own timeout, not later" {
	local own e holder t0 ms n t asked=0
	cluster4 --peer-timeout-ms 2000 --request-log
	relay_watch o 7
	sleep 3
	kill -9 "$(pid_of "$holder")"
	wait "${BG[0]}"
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	echo "the relay parked on $holder; answered $(cat "$TMP/code") after $ms ms"
	[ "$(cat "$TMP/code")" = 304 ]
	[ "$ms" -ge 6500 ]
	# Not later: the owners the relay moved to were asked to wait, in
	# all, what was left of its 7 s, 4 s at most (the holder died 3 s or
	# more into it), not a turn (5 s) or the whole timeout again.  (On a
	# machine so slow that the holder died after the 7 s, none was.)
	# An owner logs a watch when it ends: wait for theirs to.
	for n in node1 node2 node3; do
		[ "$n" != "$holder" ] || continue
		wait_for 15 watchers_are 0 "$n"
		for t in $(grep -oE "path=\"?/kv/$own[?]wait=[^ ]*" "$TMP/$n.log" |
		    sed -n 's/.*[?&]timeout=\([0-9]*\).*/\1/p'); do
			echo "$n was asked timeout=$t"
			asked=$((asked + t))
		done
	done
	[ "$asked" -le 4 ]
}

@test "a relayed watch whose owner hangs (SIGSTOP) answers 304 a second after its own timeout plus one peer timeout, not a turn later" {
	local own e holder t0 ms mine me companion
	cluster4 --peer-timeout-ms 1000
	mine=$(node4_key m yes)
	[ -n "$mine" ]
	me=$(etag node4 "$mine")
	relay_watch h 4
	# The companion: a watch node4 keeps itself (it owns $mine), with a
	# 7 s timeout, started after the relayed one.
	curl -s --max-time 60 -o /dev/null -w '%{http_code}' \
	    "$(url node4)/kv/$mine?wait=$me&timeout=7" >"$TMP/companion" 3>&- &
	companion=$!
	BG+=($companion)
	kill -STOP "$(pid_of "$holder")"
	wait "${BG[0]}" || true
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	kill -CONT "$(pid_of "$holder")"
	echo "the relay parked on $holder; answered $(cat "$TMP/code") after $ms ms"
	[ "$(cat "$TMP/code")" = 304 ]
	# The relay's own deadline fired: the answer is due 1 s after the
	# 4 s timeout (WATCH_LATE_MS); a relay that waited out the hung
	# owner's turn and its slack (WATCH_SLACK_MS) answers at 9 s.  A
	# lower bound, and an order where a bound on the time was: the
	# relayed watch answered while the companion's 7 s still ran.
	[ "$ms" -ge 3500 ]
	kill -0 "$companion"
	wait "$companion" || true
	[ "$(cat "$TMP/companion")" = 304 ]
}

@test "a relay whose owners refuse it (503, --max-watchers full) watches from the relaying node, reading the key every 5 s, and sees a change" {
	local own n owners="" t0 ms
	cluster4 --max-watchers 1
	own=$(node4_key f no)
	[ -n "$own" ]
	e=$(etag node1 "$own")
	for n in node1 node2 node3; do
		[ "$(code "$(url "$n")/internal/fetch/$own")" = 200 ] && owners="$owners $n"
	done
	echo "owners:$owners"
	# Each owner's one place is taken by a watch on the key, asked directly.
	for n in $owners; do
		curl -s --max-time 40 -o /dev/null "$(url "$n")/kv/$own?wait=$e&timeout=30" 3>&- &
		BG+=($!)
	done
	wait_for 5 watchers_are 2 $owners
	# timeout=300, ten times curl's 30 s: a node4 that saw the change
	# only at the timeout, or read the key less often than every 30 s,
	# leaves curl with nothing (000)
	curl -s --max-time 30 -o "$TMP/out" -w '%{http_code}' \
	    "$(url node4)/kv/$own?wait=$e&timeout=300" >"$TMP/code" 3>&- &
	BG+=($!)
	# Both owners answered the relay 503: node4 parks the watch itself.
	wait_for 5 watchers_are 1 node4
	[ "$(put node1 "$own" changed)" = 200 ]
	t0=$(date +%s%N)
	wait "${BG[-1]}"
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	echo "node4 answered $(cat "$TMP/code") $ms ms after the write: $(cat "$TMP/out")"
	[ "$(cat "$TMP/code")" = 200 ]
	[ "$(jq -r .value "$TMP/out")" = changed ]
}

@test "SIGTERM on a node relaying a watch: the watch answers 503 shutting_down within a turn and the node exits 0, stopped in order" {
	local own pid rc=0
	cluster4 --shutdown-grace 8
	own=$(node4_key s no)
	[ -n "$own" ]
	e=$(etag node1 "$own")
	curl -s --max-time 60 -o /dev/null -w '%{http_code}' \
	    "$(url node4)/kv/$own?wait=$e&timeout=120" >"$TMP/code" 3>&- &
	BG+=($!)
	wait_for 5 watchers_are 1 node1 node2 node3	# parked on an owner
	pid=$(pid_of node4)
	kill -TERM "$pid"
	gone() {
		! kill -0 "$pid" 2>/dev/null
	}
	wait_for 20 gone
	wait "$pid" || rc=$?
	wait "${BG[0]}" || true
	echo "exit $rc, watch answered $(cat "$TMP/code")"
	[ "$rc" -eq 0 ]
	[ "$(cat "$TMP/code")" = 503 ]
	run grep 'requests still running' "$TMP/node4.log"
	[ "$status" -eq 1 ]
	grep -q 'level=info msg="stopped"' "$TMP/node4.log"
}

@test "200 watchers on 200 keys: each wakes for its own key only; --max-watchers bounds them" {
	start_node n1 --max-watchers 200
	local i
	for i in $(seq 1 200); do
		put n1 "m$i" v0 >/dev/null
	done
	run timeout 60 python3 -c '
import http.client, json, sys, threading, time
port = int(sys.argv[1])
def etag(k):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/kv/" + k); r = c.getresponse(); r.read()
    return r.getheader("ETag").strip("\"")
res = {}
def watch(k, e):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=40)
    c.request("GET", "/kv/%s?wait=%s&timeout=20" % (k, e))
    r = c.getresponse(); b = r.read()
    res[k] = (r.status, b)
keys = ["m%d" % i for i in range(1, 201)]
ts = [threading.Thread(target=watch, args=(k, etag(k))) for k in keys]
for t in ts: t.start()
time.sleep(2)
c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
c.request("GET", "/kv/extra?wait=&timeout=5"); r = c.getresponse(); b = r.read()
print("201st watcher:", r.status, json.loads(b).get("code"))
for k in keys[:100]:
    c.request("PUT", "/kv/" + k, json.dumps({"value": "v1"})); r = c.getresponse(); r.read()
for t in ts: t.join()
woke = sum(1 for k in keys[:100] if res[k][0] == 200 and json.loads(res[k][1])["value"] == "v1")
slept = sum(1 for k in keys[100:] if res[k][0] == 304)
print("woke", woke, "slept", slept)
' "$(port_of n1)"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"201st watcher: 503 too_many_watchers"* ]]
	[[ "$output" == *"woke 100 slept 100"* ]]
}

@test "kvctl watch prints the value, each new value and deleted" {
	cluster3
	[ "$(put node1 kw one)" = 201 ]
	"$KVCTL" watch kw --server "$(url node2)" >"$TMP/watch.out" 2>"$TMP/watch.err" 3>&- &	# stderr: outages, if any
	BG+=($!)
	wait_for 10 grep -q '^one$' "$TMP/watch.out"
	[[ "$(put node3 kw two)" == 20[01] ]]	# 201: node3 missed one
	wait_for 10 grep -q '^two$' "$TMP/watch.out"
	[ "$(code -X DELETE "$(url node1)/kv/kw")" = 204 ]
	wait_for 10 grep -q '^deleted$' "$TMP/watch.out"
	[ "$(put node1 kw three)" = 201 ]
	wait_for 10 grep -q '^three$' "$TMP/watch.out"
	cat "$TMP/watch.out"
	[ "$(cat "$TMP/watch.out")" = "$(printf 'one\ntwo\ndeleted\nthree')" ]
}

@test "kvctl watch --json: a value with a newline, the value deleted and a delete are told apart" {
	start_node n1
	printf 'a\nb' | "$KVCTL" put kj - --server "$(url n1)"
	"$KVCTL" watch kj --json --server "$(url n1)" >"$TMP/watch.out" 3>&- &
	BG+=($!)
	wait_for 10 grep -q . "$TMP/watch.out"
	"$KVCTL" put kj deleted --server "$(url n1)"
	wait_for 10 grep -q '"deleted"' "$TMP/watch.out"
	"$KVCTL" delete kj --server "$(url n1)"
	wait_for 10 grep -q 'true' "$TMP/watch.out"
	printf '\377' | "$KVCTL" put kj - --server "$(url n1)"
	wait_for 10 grep -q 'value_b64' "$TMP/watch.out"
	cat "$TMP/watch.out"
	[ "$(jq -c . "$TMP/watch.out")" = "$(printf '%s\n' \
	    '{"key":"kj","value":"a\nb"}' '{"key":"kj","value":"deleted"}' \
	    '{"key":"kj","deleted":true}' '{"key":"kj","value_b64":"/w=="}')" ]
}

# watchers_are COUNT NODE...: kvd_watchers summed over the NODEs is COUNT.
watchers_are() {
	local want=$1 n t=0 v
	shift
	for n in "$@"; do
		v=$(curl -s --max-time 5 "$(url "$n")/metrics" |
		    awk '$1 == "kvd_watchers" { print $2 }')
		t=$((t + ${v:-0}))
	done
	[ "$t" = "$want" ]
}

@test "a watch whose client hangs up is dropped within seconds, directly and when relayed to an owner" {
	start_node n1 --max-watchers 3
	[ "$(put n1 k v)" = 201 ]
	e=$(etag n1 k)
	for i in 1 2 3; do
		curl -s --max-time 1 -o /dev/null "$(url n1)/kv/k?wait=$e&timeout=300" 3>&- &
		BG+=($!)
	done
	wait_for 5 watchers_are 3 n1
	# Their clients gave up after 1 s: their places free up long before 300 s.
	wait_for 15 watchers_are 0 n1
	[ "$(code "$(url n1)/kv/k?wait=$e&timeout=1")" = 304 ]
	kill_node n1

	local own
	cluster4
	own=$(node4_key g no)
	[ -n "$own" ]
	e=$(etag node1 "$own")
	curl -s --max-time 1 -o /dev/null "$(url node4)/kv/$own?wait=$e&timeout=300" 3>&- &
	BG+=($!)
	wait_for 5 watchers_are 1 node1 node2 node3	# parked on an owner
	# The relay ends within a turn (5 s) of the hang-up, and the owner's
	# watch with it.
	wait_for 20 watchers_are 0 node1 node2 node3 node4
}

@test "wait= takes the ETag bare, quoted or weak (W/\"...\", as a proxy hands it out): a current weak tag parks until the timeout" {
	start_node n1
	[ "$(put n1 k v)" = 201 ]
	e=$(etag n1 k)
	local w
	for w in "$e" "%22$e%22" "W/%22$e%22" "W%2F%22$e%22"; do
		t0=$(now_ms)
		[ "$(code "$(url n1)/kv/k?wait=$w&timeout=1")" = 304 ]
		[ $(($(now_ms) - t0)) -ge 900 ]
	done
	[ "$(code "$(url n1)/kv/k?wait=W/%22old%22&timeout=30")" = 200 ]
}

@test "SIGTERM on a node with a parked watch: 503 shutting_down with Retry-After, not the 304 of a timeout" {
	start_node n1
	[ "$(put n1 k v)" = 201 ]
	e=$(etag n1 k)
	curl -s --max-time 20 -D "$TMP/head" -o "$TMP/body" \
	    "$(url n1)/kv/k?wait=$e&timeout=60" 3>&- &
	BG+=($!)
	wait_for 5 bash -c "curl -s '$(url n1)/metrics' | grep -q '^kvd_watchers 1'"
	kill -TERM "$(pid_of n1)"
	wait "${BG[0]}" || true
	cat "$TMP/head" "$TMP/body"
	grep -q '^HTTP/1.1 503' "$TMP/head"
	grep -qi '^Retry-After: 1' "$TMP/head"
	[ "$(jq -r .code "$TMP/body")" = shutting_down ]
}

# park_watches NODE TIMEOUT KEY...: a watch on each KEY through NODE from
# its current ETag, in the background (status and body in $TMP/KEY.code
# and $TMP/KEY.out), until NODE counts them all parked.
park_watches() {
	local node=$1 timeout=$2 k
	local -A e
	shift 2
	for k in "$@"; do
		e[$k]=$(etag "$node" "$k")
		[ -n "${e[$k]}" ] || return 1
	done
	for k in "$@"; do
		curl -s --max-time 60 -D "$TMP/$k.head" -o "$TMP/$k.out" -w '%{http_code}' \
		    "$(url "$node")/kv/$k?wait=${e[$k]}&timeout=$timeout" >"$TMP/$k.code" 3>&- &
		BG+=($!)
	done
	wait_for 15 watchers_are $# "$node"
}

# down_on NODE ID: NODE's gossip holds member ID down.
down_on() {
	nodes "$1" | jq -e --arg id "$2" \
	    '.members[] | select(.id == $id) | .state == "down"' >/dev/null
}

@test "an owner stopped (SIGSTOP) past its watches' timeout compares again when it runs: a change made meanwhile is answered, not 304" {
	local k keys="" t0 pid
	cluster3
	for k in s1 s2 s3 s4 s5 s6 s7 s8; do
		[ "$(put node1 "$k" v0 '?w=3')" = 201 ]
		keys="$keys $k"
	done
	park_watches node1 10 $keys
	t0=$(now_ms)
	kill -STOP "$(pid_of node1)"	# teardown sends SIGCONT after SIGKILL
	# node1 down on node2: the writes leave node1 a hint, delivered only
	# once it is back, so node1's store sees no change before their end.
	wait_for 20 down_on node2 node1
	for k in $keys; do
		[ "$(put node2 "$k" v1)" = 200 ]
	done
	# Resumed past the watches' deadline, which its clock kept counting.
	while [ $(($(now_ms) - t0)) -lt 11000 ]; do
		sleep 0.2
	done
	kill -CONT "$(pid_of node1)"
	for pid in "${BG[@]}"; do
		wait "$pid" || true
	done
	for k in $keys; do
		echo "$k: $(cat "$TMP/$k.code") $(cat "$TMP/$k.out" 2>/dev/null)" \
		    "$(grep -i '^x-kvd-acked' "$TMP/$k.head" | tr -d '\r')"
	done
	for k in $keys; do
		[ "$(cat "$TMP/$k.code")" = 200 ]
		[ "$(jq -r .value "$TMP/$k.out")" = v1 ]
	done
}

@test "a watch relayed by a node that leaves answers 503 left at the end of its turn, not the 304 of its timeout" {
	local own e
	cluster4
	own=$(node4_key r no)
	[ -n "$own" ]
	e=$(etag node1 "$own")
	curl -s --max-time 90 -o "$TMP/out" -w '%{http_code}' \
	    "$(url node4)/kv/$own?wait=$e&timeout=60" >"$TMP/code" 3>&- &
	BG+=($!)
	wait_for 10 watchers_are 1 node1 node2 node3	# parked on an owner
	[ "$(code -X POST -d '{"id":"node4"}' "$(url node1)/cluster/leave")" = 200 ]
	wait_for 15 eval '[ "$(c "$(url node4)/health" | jq -r .status)" = left ]'
	wait "${BG[0]}" || true
	echo "$(cat "$TMP/code") $(cat "$TMP/out")"
	[ "$(cat "$TMP/code")" = 503 ]
	[ "$(jq -r .code "$TMP/out")" = left ]
}

@test "a watch parked on a node that leaves answers 503 left, not the 304 of a timeout after the key changed through a member" {
	local k keys="" pid
	cluster3
	for k in l1 l2 l3 l4 l5 l6 l7 l8; do
		[ "$(put node1 "$k" v0 '?w=3')" = 201 ]
		keys="$keys $k"
	done
	park_watches node1 20 $keys
	[ "$(code -X POST -d '{"id":"node1"}' "$(url node2)/cluster/leave")" = 200 ]
	wait_for 15 eval '[ "$(c "$(url node1)/health" | jq -r .status)" = left ]'
	for k in $keys; do
		[ "$(put node2 "$k" v1)" = 200 ]
	done
	for pid in "${BG[@]}"; do
		wait "$pid" || true
	done
	for k in $keys; do
		echo "$k: $(cat "$TMP/$k.code") $(cat "$TMP/$k.out" 2>/dev/null)"
	done
	for k in $keys; do
		[ "$(cat "$TMP/$k.code")" = 503 ]
		[ "$(jq -r .code "$TMP/$k.out")" = left ]
	done
}

# A node that left serves no key again (503 left): kvctl watch through it
# ends, saying so and to ask a member, exit 5 as for any 5xx it gives up
# on, rather than retrying for ever (timeout 60 is the hang guard); with
# a member after it in --server the watch goes on there.
@test "kvctl watch through a node that leaves ends: it says the node left and to ask a member, exit 5" {
	cluster3
	[ "$(put node1 kl one '?w=3')" = 201 ]
	timeout 60 "$KVCTL" watch kl --server "$(url node1)" \
	    >"$TMP/watch.out" 2>"$TMP/watch.err" 3>&- &
	local pid=$! rc=0
	BG+=($pid)
	wait_for 10 grep -q '^one$' "$TMP/watch.out"
	[ "$(code -X POST -d '{"id":"node1"}' "$(url node2)/cluster/leave")" = 200 ]
	wait "$pid" || rc=$?
	echo "rc=$rc out=[$(cat "$TMP/watch.out")] err=[$(cat "$TMP/watch.err")]"
	[ "$rc" -eq 5 ]
	[ "$(cat "$TMP/watch.out")" = one ]
	grep -q '^kvctl: watch: 503 this node has left the cluster; send requests to a member' "$TMP/watch.err"
	! grep -q retrying "$TMP/watch.err" || false
	# With a member after it in --server, the watch goes on there.
	"$KVCTL" watch kl --server "$(url node1),$(url node2)" \
	    >"$TMP/watch2.out" 2>"$TMP/watch2.err" 3>&- &
	BG+=($!)
	wait_for 10 grep -q '^one$' "$TMP/watch2.out"
	[ "$(put node2 kl two)" = 200 ]
	wait_for 10 grep -q '^two$' "$TMP/watch2.out"
	kill -0 "${BG[-1]}"
}
