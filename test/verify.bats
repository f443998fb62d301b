#!/usr/bin/env bats
# test/verify.bats -- `kvctl verify`, the lost-write checker, and
# contrib/chaos.sh: a clean run on one node (text and JSON, keys and set
# mode), usage and unreachable exit codes, a three-node cluster that
# keeps every acknowledged write while a node is killed -9 and restarted
# mid-run, such a node given with one other server getting writes again
# once verify retries it, a node whose data is wiped between the write and the read
# phase (verify must exit 1 and name lost keys), one that goes back to a
# copy of its data taken mid-run (set mode must report stale keys, each
# with the reason of the read that judged it),
# --write-r reaching the server (its request log shows ?r= on every PUT
# of the run, none without it, and an r above N is refused), connects
# bounded by --connect-timeout (a port that never accepts), a stand-in
# whose every value is corrupt (shown cut between UTF-8 characters), and
# short chaos runs (one with -x and --skew, one with --churn, one whose
# joins go through the API before the node starts, and their argument
# checks).
#
# Nodes that must come back on the same port get a fixed free port (the
# others use port 0).  Every client call is bounded by timeout(1), and
# teardown kills every process the test started.
#
# VERIFY_KVCTL overrides the kvctl binary (to try a build elsewhere).

load helpers
bats_require_minimum_version 1.5.0

BATS_TEST_TIMEOUT=${BATS_TEST_TIMEOUT:-90}
KVCTL=${VERIFY_KVCTL:-$KVCTL}

setup() {
	setup_tmp
}

# verify ARGS...: kvctl verify, bounded.
verify() {
	timeout 120 "$KVCTL" "$@" 3>&-
}

# wait_for_line FILE TEXT SECONDS: polls until FILE contains TEXT.
wait_for_line() {
	local i
	for i in $(seq 1 $(($3 * 10))); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# finish_verify: waits for the background verify $VPID (report in
# $TMP/out); sets rc to its status and output to the report, and shows it.
finish_verify() {
	rc=0
	wait "$VPID" || rc=$?
	output=$(cat "$TMP/out")
	echo "$output"
}

@test "verify: a single node keeps every acknowledged write" {
	start_node n1
	run verify --server "$(url n1)" verify -d 2 -c 4
	[ "$status" -eq 0 ]
	verify_clean
	[ "$(field present)" -eq "$(field acknowledged)" ]
	[[ "$output" == *"OK: no acknowledged write lost"* ]]
}

@test "verify: --json is one JSON object with the counts" {
	start_node n1
	run --separate-stderr verify --server "$(url n1)" --json verify -d 1 -c 2 \
	    --size 100
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" | jq -e '.ok == true and .acknowledged > 0 and
	    .lost == 0 and .stale == 0 and .unreadable == 0 and
	    .present == .acknowledged and .mode == "keys" and
	    .lost_keys == [] and (.writes_per_s | type) == "number"'
	[ "$(printf '%s\n' "$output" | wc -l)" -eq 1 ]
}

@test "verify: set mode on a single node finds nothing stale" {
	start_node n1
	run --separate-stderr verify --server "$(url n1)" --json verify -d 1 -c 3 \
	    --mode set --read-r all --prefix "setmode" --keep
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" | jq -e '.ok and .mode == "set" and
	    .keys_read == 48 and .stale == 0 and .lost == 0 and
	    .acknowledged > 48'
	# The last value of each key is there (--keep), readable by anyone.
	run timeout 10 "$KVCTL" --server "$(url n1)" get setmode-s0-0
	[ "$status" -eq 0 ]
	[[ "$output" == w0-* ]]
}

@test "verify: usage errors exit 2, no server exits 3" {
	run verify verify --bogus
	[ "$status" -eq 2 ]
	run verify verify -c 0
	[ "$status" -eq 2 ]
	run verify verify --mode maybe
	[ "$status" -eq 2 ]
	run verify verify --read-r none
	[ "$status" -eq 2 ]
	run verify verify --write-r 0
	[ "$status" -eq 2 ]
	[[ "$output" == *"bad --write-r '0'"* ]]
	run verify verify --write-r quorum
	[ "$status" -eq 2 ]
	run verify verify --write-r
	[ "$status" -eq 2 ]
	run verify verify -d
	[ "$status" -eq 2 ]
	[[ "$output" == *"kvctl verify: -d needs a value"* ]]
	run verify verify --save "$TMP/rec" --check "$TMP/rec"
	[ "$status" -eq 2 ]
	[[ "$output" == *"not with --save"* ]]
	run verify verify --check
	[ "$status" -eq 2 ]
	run verify verify --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"--pause-before-read"* ]]
	[[ "$output" == *"--check FILE"* ]]
	[[ "$output" == *"--write-r N|all"* ]]
	local p
	p=$(free_ports 1)
	run verify --server "http://127.0.0.1:$p" --timeout 2 verify -d 1
	[ "$status" -eq 3 ]
}

# A port whose connect never completes (standin.py's serve_unaccepted):
# verify's connects wait --connect-timeout (or KVCTL_CONNECT_TIMEOUT), as
# every other command's do, not a deadline of its own (it was 1 s).  A
# lower bound only; verify()'s timeout is the hang guard.
@test "verify: a connect that never completes waits --connect-timeout or KVCTL_CONNECT_TIMEOUT, then no server reachable (exit 3)" {
	start_standin blackhole <<'PY'
import sys, standin
standin.serve_unaccepted(sys.argv[1])
PY
	local bh="http://127.0.0.1:$(cat "$TMP/blackhole.port")" how t0 ms
	for how in "|--connect-timeout 3" "KVCTL_CONNECT_TIMEOUT=3|"; do
		t0=$(now_ms)
		run --separate-stderr env ${how%|*} timeout 120 "$KVCTL" \
		    --server "$bh" ${how#*|} verify -d 0.2 -c 1
		ms=$(($(now_ms) - t0))
		echo "$how: rc=$status $ms ms [$stderr]"
		[ "$status" -eq 3 ]
		[[ "$stderr" == *"timed out"* ]]
		[[ "$stderr" == *"kvctl verify: no server reachable"* ]]
		[ "$ms" -ge 2500 ]
	done
}

@test "verify: a 3-node cluster loses nothing when a node is killed -9 and restarted" {
	local i
	pick_ports 3
	for i in 1 2 3; do
		start_peer "$i" 3 ""
	done
	local servers="$(url node1),$(url node2),$(url node3)"
	verify --server "$servers" --timeout 5 verify -d 4 -c 4 \
	    >"$TMP/out" 2>"$TMP/err" &
	VPID=$!
	BG+=("$VPID")
	sleep 1
	kill_node node2 KILL
	sleep 1
	start_peer 2 3 ""
	finish_verify
	cat "$TMP/err"
	[ "$rc" -eq 0 ]
	verify_clean
	[[ "$output" == *"read-back r=3"* ]]
}

@test "verify: a node killed -9 and restarted mid-run gets writes again (retried after a pause), not only the other server" {
	local i before
	pick_ports 3
	for i in 1 2 3; do
		start_peer "$i" 3 "" --request-log
	done
	# Two servers: node1's writes go on (W=2 with node3) while node2 is
	# down; node2 gets none but the writers' own (peers write through
	# /internal/, and the read-back GETs).
	verify --server "$(url node1),$(url node2)" --timeout 5 verify \
	    -d 20 -c 2 --prefix back >"$TMP/out" 2>"$TMP/err" &
	VPID=$!
	BG+=("$VPID")
	wait_for 30 grep -qE 'method=PUT path="?/kv/back-' "$TMP/node2.log"
	kill_node node2 KILL
	# The writers alternate servers, so they find node2 refusing within
	# moments; a second more for a loaded machine.
	sleep 1
	before=$(wc -l <"$TMP/node2.log")
	start_peer 2 3 "" --request-log
	# Same port, same data: verify asks it again once its pause (1 s,
	# doubling, at most 8 s) has run out, within the 20 s of writes.
	# Before, it never did while node1 answered.
	wait_for 30 sh -c "tail -n +$((before + 1)) '$TMP/node2.log' |
	    grep -qE 'method=PUT path=\"?/kv/back-'"
	finish_verify
	cat "$TMP/err"
	[ "$rc" -eq 0 ]
	verify_clean
}

# puts PREFIX: the PUTs of keys PREFIX-* in the three nodes' request logs.
puts() {
	cat "$TMP"/node[123].log | grep -E "method=PUT path=\"?/kv/$1-" || true
}

@test "verify: --write-r sends ?r= with every write, and the server acts on it" {
	local i
	pick_ports 3
	for i in 1 2 3; do
		start_peer "$i" 3 "" --request-log
	done
	local servers="$(url node1),$(url node2),$(url node3)"
	# Without the option no PUT carries ?r= (so the check below can fail).
	run verify --server "$servers" --timeout 5 verify -d 1 -c 2 \
	    --mode set --prefix blind
	[ "$status" -eq 0 ]
	[ "$(puts blind | wc -l)" -gt 0 ]
	[ "$(puts blind | grep -c '?r=')" -eq 0 ]
	# With it every PUT does, in both modes, and the runs are clean.
	run verify --server "$servers" --timeout 5 verify -d 1 -c 2 \
	    --mode set --write-r 2 --prefix setr2
	[ "$status" -eq 0 ]
	verify_clean
	[ "$(field stale)" -eq 0 ]
	[[ "$output" == *"writes at r=2, read-back r=3"* ]]
	[ "$(puts setr2 | wc -l)" -ge "$(field acknowledged)" ]
	[ "$(puts setr2 | grep -vc '?r=2"')" -eq 0 ]
	run --separate-stderr verify --server "$servers" --timeout 5 --json \
	    verify -d 1 -c 2 --write-r all --prefix keysall
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" | jq -e '.ok and .write_r == "all" and
	    .acknowledged > 0 and .present == .acknowledged'
	[ "$(puts keysall | grep -vc '?r=all"')" -eq 0 ]
	# An r above the cluster's N is capped to it, as the read-back's is
	# (the server would refuse every write: 400).
	run --separate-stderr verify --server "$servers" --timeout 5 \
	    verify -d 1 -c 1 --write-r 4 --prefix r4
	echo "$stderr"
	[ "$status" -eq 0 ]
	[[ "$output" == *"writes at r=3, read-back r=3"* ]]
	[[ "$stderr" == *"writes at r=3)"* ]]
	[ "$(field acknowledged)" -gt 0 ]
	[ "$(puts r4 | grep -vc '?r=3"')" -eq 0 ]
}

@test "verify: a node that loses its data between the phases is caught" {
	local p
	p=$(free_ports 1)
	start_node n1 --addr "127.0.0.1:$p"
	verify --server "$(url n1)" --timeout 3 verify -d 1 -c 2 --read-r 1 \
	    --pause-before-read 4 >"$TMP/out" 2>"$TMP/err" &
	VPID=$!
	BG+=("$VPID")
	wait_for_line "$TMP/err" "pausing" 15
	kill_node n1 KILL
	rm -rf "${DATA:?}/n1"
	start_node n1 --addr "127.0.0.1:$p"
	finish_verify
	[ "$rc" -eq 1 ]
	[ "$(field acknowledged)" -gt 0 ]
	[ "$(field lost)" -eq "$(field acknowledged)" ]
	[ "$(field present)" -eq 0 ]
	[ "$(printf '%s\n' "$output" | grep -c '^lost key: ')" -eq 10 ]
	[[ "$output" == *"FAILED"* ]]
}

# --save records the write phase, --check reads it back through every
# server: two nodes that are no cluster, so what was written through n1
# is missing (lost) or older (stale, set mode) through n2, and a check
# through n1 alone passes.  A record cut short or of another kind is
# refused (exit 1), not taken as nothing lost.
@test "verify: --check reads a --save record back through every server, strictly" {
	start_node n1
	start_node n2
	run --separate-stderr verify --server "$(url n1)" verify -d 1 -c 2 \
	    --prefix saved --save "$TMP/rec"
	[ "$status" -eq 0 ]
	[[ "$output" == *"SAVED: "* ]]
	[ "$(field acknowledged)" -gt 0 ]
	[ "$(head -n 1 "$TMP/rec")" = "kvd-verify-record 1" ]
	[ "$(tail -n 1 "$TMP/rec")" = "end" ]
	[ "$(grep -c '^a ' "$TMP/rec")" -eq "$(field acknowledged)" ]
	# No read-back, no clean-up: the keys are there.
	timeout 10 "$KVCTL" --server "$(url n1)" get saved-0-0
	run --separate-stderr verify --server "$(url n1)" verify --check \
	    "$TMP/rec" --keep
	[ "$status" -eq 0 ]
	verify_clean
	[ "$(field present)" -eq "$(field acknowledged)" ]
	[[ "$output" == *"through each server"* ]]
	# Through n1 and n2: every key is lost, as n2 answers, named.
	run --separate-stderr verify --server "$(url n1),$(url n2)" verify \
	    --check "$TMP/rec" --read-r 1
	echo "$output"
	[ "$status" -eq 1 ]
	[ "$(field lost)" -eq "$(field acknowledged)" ]
	[ "$(field present)" -eq 0 ]
	[[ "$output" == *"lost key: saved-0-0 (through 127.0.0.1:$(port_of n2): 404)"* ]]
	[[ "$output" != *"through 127.0.0.1:$(port_of n1)"* ]]
	# Set mode: n2 holds a copy of n1's keys dumped mid-run: older values.
	verify --server "$(url n1)" verify -d 3 -c 2 --mode set \
	    --prefix setsaved --save "$TMP/rec2" >"$TMP/out" 2>"$TMP/err" &
	VPID=$!
	BG+=("$VPID")
	wait_for_line "$TMP/err" "writing for" 15
	sleep 1
	timeout 10 "$KVCTL" --server "$(url n1)" dump setsaved >"$TMP/dump"
	finish_verify
	[ "$rc" -eq 0 ]
	[ "$(wc -l <"$TMP/dump")" -gt 0 ]
	timeout 10 "$KVCTL" --server "$(url n2)" load <"$TMP/dump"
	run --separate-stderr verify --server "$(url n1),$(url n2)" verify \
	    --check "$TMP/rec2" --read-r 1 --keep
	echo "$output"
	[ "$status" -eq 1 ]
	[ "$(field stale)" -gt 0 ]
	[[ "$output" == *"stale key: setsaved-s"*" (through 127.0.0.1:$(port_of n2): read w"*", last acknowledged w"* ]]
	run --separate-stderr verify --server "$(url n1)" verify --check \
	    "$TMP/rec2" --read-r 1
	[ "$status" -eq 0 ]
	[ "$(field stale)" -eq 0 ]
	# A record cut short, or no record at all, is refused.
	grep -v '^end$' "$TMP/rec" >"$TMP/cut"
	run --separate-stderr verify --server "$(url n1)" verify --check "$TMP/cut"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"cut short (no end line)"* ]]
	sed 's/^a 0 /a 9 /' "$TMP/rec" >"$TMP/bad"
	run --separate-stderr verify --server "$(url n1)" verify --check "$TMP/bad"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"not a record line here: a 9 "* ]]
	run --separate-stderr verify --server "$(url n1)" verify --check "$TMP/dump"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"not a kvctl verify record"* ]]
}

# A server that answers every read with a long UTF-8 value: each key is
# corrupt, its value shown up to 40 bytes cut between two characters (it
# was cut inside one).
@test "verify: a corrupt value is shown cut between UTF-8 characters" {
	start_standin garbled <<'PY'
import sys, standin
VALUE = ("EE" + "\u20ac" * 30).encode()
class H(standin.Handler):
    protocol_version = "HTTP/1.1"
    def do_PUT(self):
        self.body()
        self.answer(201, {"key": "k"})
    def do_GET(self):
        self.send(200, VALUE)
    def do_DELETE(self):
        self.answer(204, {})
standin.serve(H, sys.argv[1])
PY
	local shown i
	shown="EE$(for ((i = 0; i < 12; i++)); do printf '\342\202\254'; done)..."
	run --separate-stderr verify --server "http://127.0.0.1:$(cat "$TMP/garbled.port")" \
	    verify -d 1 -c 1
	echo "$output"
	[ "$status" -eq 1 ]
	[ "$(field acknowledged)" -gt 0 ]
	[ "$(field corrupt)" -eq "$(field acknowledged)" ]
	[[ "$output" == *"(unexpected value '$shown')"* ]]
}

@test "verify: set mode catches a node that goes back to older data" {
	local p closed
	p=$(free_ports 1)
	closed=$(closed_port)
	start_node n1 --addr "127.0.0.1:$p" --snapshot-interval 0
	# A closed port first: reads fail there before they reach n1, and a
	# stale key's reason must be the read that judged it, nothing else.
	verify --server "http://127.0.0.1:$closed,$(url n1)" --timeout 3 \
	    verify -d 2 -c 2 --mode set \
	    --pause-before-read 4 >"$TMP/out" 2>"$TMP/err" &
	VPID=$!
	BG+=("$VPID")
	# A copy taken mid-run holds older values of every key of the set.
	sleep 1
	cp -R "$DATA/n1" "$TMP/old"
	wait_for_line "$TMP/err" "pausing" 15
	kill_node n1 KILL
	rm -rf "${DATA:?}/n1"
	mv "$TMP/old" "$DATA/n1"
	rm -f "$DATA/n1/LOCK"
	start_node n1 --addr "127.0.0.1:$p"
	finish_verify
	[ "$rc" -eq 1 ]
	[ "$(field stale)" -gt 0 ]
	[ "$(field lost)" -eq 0 ]
	[[ "$output" == *"stale key: "*"last acknowledged w"* ]]
	[ "$(printf '%s\n' "$output" | grep '^stale key: ' | grep -Evc \
	    '^stale key: [^ ]+ \(read w[0-9]+-[0-9]+, last acknowledged w[0-9]+-[0-9]+\)$')" -eq 0 ]
}

@test "chaos.sh: two short rounds lose nothing" {
	command -v python3 >/dev/null
	run env KVD="$KVD" KVCTL="$KVCTL" TMPDIR="$TMP" \
	    timeout 120 "$ROOT/contrib/chaos.sh" -r 2 -d 3 3>&-
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"round 1 (keys): acknowledged"* ]]
	[[ "$output" == *"round 2 (set): acknowledged"* ]]
	[[ "$(printf '%s\n' "$output" | tail -n 1)" == *"lost 0, stale 0, unreadable 0, corrupt 0: OK" ]]
	# Every node it started is gone, and so is its directory.
	[ -z "$(ls -d "$TMP"/kvd-chaos.* 2>/dev/null)" ]
}

@test "chaos.sh: --churn and --actions are checked before any node starts" {
	local a
	for a in "--actions join" "--actions leave" "--churn --actions kill,,stop" \
	    "--churn --actions kill," "--churn --actions bogus" "--churn 3" \
	    "--actions" "--join-via api" "--churn --join-via bogus" \
	    "--churn --join-via" "--churn --join-via API"; do
		# shellcheck disable=SC2086 # split on purpose
		run env KVD="$KVD" KVCTL="$KVCTL" TMPDIR="$TMP" \
		    timeout 20 "$ROOT/contrib/chaos.sh" $a 3>&-
		echo "$a: $output"
		[ "$status" -eq 2 ]
		[[ "$output" == *"usage: "*"[--churn] [--actions kill,stop,term,join,leave]"* ]]
		[[ "$output" == *"[--join-via gossip|api|mix]"* ]]
		[[ "$output" != *"cluster of "* ]]
	done
	run env KVD="$KVD" KVCTL="$KVCTL" TMPDIR="$TMP" \
	    timeout 20 "$ROOT/contrib/chaos.sh" --actions stop,join 3>&-
	[[ "$output" == *"chaos: --actions join needs --churn"* ]]
	run env KVD="$KVD" KVCTL="$KVCTL" TMPDIR="$TMP" \
	    timeout 20 "$ROOT/contrib/chaos.sh" --churn --actions kill,bogus 3>&-
	[[ "$output" == *"chaos: --actions: unknown action 'bogus'"* ]]
	run env KVD="$KVD" KVCTL="$KVCTL" TMPDIR="$TMP" \
	    timeout 20 "$ROOT/contrib/chaos.sh" --churn --actions kill,,stop 3>&-
	[[ "$output" == *"chaos: --actions: an empty item in 'kill,,stop'"* ]]
	run env KVD="$KVD" KVCTL="$KVCTL" TMPDIR="$TMP" \
	    timeout 20 "$ROOT/contrib/chaos.sh" --join-via gossip 3>&-
	[[ "$output" == *"chaos: --join-via needs --churn"* ]]
	run env KVD="$KVD" KVCTL="$KVCTL" TMPDIR="$TMP" \
	    timeout 20 "$ROOT/contrib/chaos.sh" --churn --join-via apix 3>&-
	[[ "$output" == *"chaos: --join-via must be gossip, api or mix, not 'apix'"* ]]
	[ -z "$(ls -d "$TMP"/kvd-chaos.* 2>/dev/null)" ]
}

# Joins only can be drawn at -n 3 (a leave needs a fourth member), so
# round 1 joins node4 (and perhaps node5 at once); its check reads
# through every member there is then.  Round 2 draws a join or a leave at least once
# (one is always allowed between 3 and 5 members), which reads round 1's
# keys back while data moves.
@test "chaos.sh: --churn joins fresh nodes and checks through every member, also while data moves" {
	command -v python3 >/dev/null
	run env KVD="$KVD" KVCTL="$KVCTL" TMPDIR="$TMP" \
	    timeout 80 "$ROOT/contrib/chaos.sh" -r 2 -d 3 --churn \
	    --actions join,leave --join-via gossip 3>&-
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"round 1: kvctl verify -d 3 -c 8 --mode keys --save through node1..node3"* ]]
	[[ "$output" == *"round 1: started node4 "*"by gossip first): kvctl cluster join node4 through node"* ]]
	[[ "$output" == *"round 1: kvctl: node4 "*" through node"* ]]
	[[ "$output" == *"round 1: node4 (gossip)"*" joined: "*" members"* ]]
	# (node4 may have left again before the check)
	[[ "$output" == *"round 1: kvctl verify --check --read-r 2 through each of the "*" members: node1 node2 node3"* ]]
	[[ "$output" == *"round 2: during the "*"round 1's "*" keys read through each of node1 node2 node3"*": lost 0, stale 0, unreadable 0, corrupt 0: OK"* ]]
	[[ "$output" == *"round 2 (set): acknowledged "*"(of which during joins and leaves: lost 0, "* ]]
	[[ "$output" != *"kill -9"* && "$output" != *"SIGSTOP"* ]]
	# A leave, when one was drawn, waited for the handoff before SIGTERM.
	if [[ "$output" == *"cluster leave"* ]]; then
		[[ "$output" == *"handed its keys off; SIGTERM"* ]]
	fi
	[[ "$(printf '%s\n' "$output" | tail -n 1)" == *"lost 0, stale 0, unreadable 0, corrupt 0: OK" ]]
	# Every node it started is gone, and so is its directory.
	[ -z "$(ls -d "$TMP"/kvd-chaos.* 2>/dev/null)" ]
	! pgrep -f "$TMP/kvd-chaos" >/dev/null
}

# --join-via api: round 1 joins node4 (and perhaps node5) through the API
# before it runs, so the API's entry is first: kvctl says it joined (not
# "a member ... already"), that it does not answer yet, and the member
# that took the join admitted it unchecked.  Then it starts, and the
# check reads every acknowledged key through it.
@test "chaos.sh: --join-via api joins a node through the API before it starts" {
	command -v python3 >/dev/null
	run env KVD="$KVD" KVCTL="$KVCTL" TMPDIR="$TMP" \
	    timeout 60 "$ROOT/contrib/chaos.sh" -r 1 -d 3 --churn \
	    --actions join --join-via api --keep 3>&-
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"round 1: kvctl cluster join node4 through node"*" before node4 runs (through the API first)"* ]]
	[[ "$output" == *"round 1: kvctl: node4 joined the cluster at "* ]]
	[[ "$output" != *"already"* && "$output" != *"(gossip)"* ]]
	[[ "$output" == *"round 1: started node4 (pid "*"), joined through the API before"* ]]
	[[ "$output" == *"round 1: node4 (api)"*" joined: "*" members"* ]]
	[[ "$output" == *"round 1: kvctl verify --check --read-r 2 through each of the "*" members: node1 node2 node3 node4"* ]]
	[[ "$(printf '%s\n' "$output" | tail -n 2 | head -n 1)" == *"lost 0, stale 0, unreadable 0, corrupt 0: OK" ]]
	local d
	d=$(ls -d "$TMP"/kvd-chaos.*)
	grep -q "does not answer at 127.0.0.1:[0-9]* yet" "$d/join4.out"
	grep -q "join: cannot ask the joining node.*id=node4" "$d"/node[123].log
	rm -rf "$d"
	! pgrep -f "$TMP/kvd-chaos" >/dev/null
}

# ready_ms NODE_LOG: the time of day, in ms, of the log's first "kvd
# ready" line, as the node's (perhaps skewed) clock dated it.
ready_ms() {
	grep -m1 'msg="kvd ready"' "$1" | cut -c12-23 |
	    awk -F: '{ printf "%d\n", ($1 * 3600 + $2 * 60 + $3) * 1000 }'
}

@test "chaos.sh: -x reaches every verify run and --skew moves the nodes' clocks" {
	command -v python3 >/dev/null
	command -v "${CC:-cc}" >/dev/null || skip "no C compiler for the clock shim"
	local t0 took
	t0=$(now_ms)
	run env KVD="$KVD" KVCTL="$KVCTL" TMPDIR="$TMP" \
	    timeout 120 "$ROOT/contrib/chaos.sh" -r 1 -d 3 -m set \
	    -x '--write-r 2' --skew 1500 --keep 3>&-
	took=$(($(now_ms) - t0))
	echo "$output"
	[[ "$output" == *"wall clocks skewed: node1 -1500 ms, node2 0 ms, node3 1500 ms"* ]]
	[[ "$output" == *"round 1: kvctl verify -d 3 -c 8 --mode set --write-r 2"* ]]
	[[ "$output" == *"round 1 (set): acknowledged"* ]]
	[[ "$(printf '%s\n' "$output" | tail -n 2 | head -n 1)" == *"lost 0, "*"unreadable 0, corrupt 0: "* ]]
	local d
	d=$(ls -d "$TMP"/kvd-chaos.*)
	# verify itself says that it wrote at r=2.
	grep -q 'writes at r=2' "$d/round1.err"
	grep -q 'writes at r=2, read-back r=3' "$d/round1.out"
	# The nodes started together, yet their logs date it 1.5 s apart:
	# 1 s or more, and no more than the skew plus the whole run's time
	# (a bound only slowness makes larger: the starts are inside the run).
	local t1 t2 t3
	t1=$(ready_ms "$d/node1.log")
	t2=$(ready_ms "$d/node2.log")
	t3=$(ready_ms "$d/node3.log")
	echo "kvd ready at $t1, $t2, $t3 ms by the nodes' clocks; the run took $took ms"
	# (modulo a day, should the run straddle midnight)
	[ $(((t2 - t1 + 86400000) % 86400000)) -ge 1000 ]
	[ $(((t2 - t1 + 86400000) % 86400000)) -le $((1500 + took)) ]
	[ $(((t3 - t2 + 86400000) % 86400000)) -ge 1000 ]
	[ $(((t3 - t2 + 86400000) % 86400000)) -le $((1500 + took)) ]
	rm -rf "$d"
}
