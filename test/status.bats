#!/usr/bin/env bats
# test/status.bats -- kvctl for operators: the cluster nodes table, kvctl
# status, kvctl hints (list and drop), kvctl repair, -o table|json, and
# the /admin/ routes behind them (signed when the cluster has a secret).
#
# The terminal case runs kvctl under script(1), which gives it a pty;
# its output has CRLF line ends, which tty_run strips.  Clusters run with
# --anti-entropy-interval 0, so that only hints and kvctl repair move
# data to a replica that missed writes, and /internal/fetch (which never
# repairs) shows what a node holds.

load helpers
bats_require_minimum_version 1.5.0

BATS_TEST_TIMEOUT=${BATS_TEST_TIMEOUT:-120}
KEYS=40

setup() {
	setup_tmp
	pick_ports 4
	command -v script >/dev/null 2>&1 || skip "script (util-linux) is not installed"
	command -v jq >/dev/null 2>&1 || skip "jq is not installed"
}

# member N [flags]: nodeN of a 4-node cluster, N=3, no anti-entropy.
member() {
	local n=$1
	shift
	start_peer "$n" 3 "$(peers_of "$n" 4)" --anti-entropy-interval 0 "$@"
}

cluster4() {
	local n
	for n in 1 2 3 4; do member "$n" "$@"; done
	wait_for 10 all_up
}

all_up() {
	[ "$(nodes node1 | jq '[.members[] | select(.state == "up")] | length')" = 4 ]
}

down_seen() {
	[ "$(nodes node1 | jq -r '.members[] | select(.id == "node3") | .state')" = down ]
}

# kv ARGS...: kvctl against node1.
kv() {
	"$KVCTL" --server "$(url node1)" "$@"
}

# tty_run CMD [ANSWER]: runs the shell command line CMD on a pty (with
# ANSWER and a newline as its input, if given); sets status (CMD's: script
# -e passes it on) and output, CRs removed.
tty_run() {
	status=0
	if [ $# -ge 2 ]; then
		printf '%s\n' "$2" | script -qec "$1" /dev/null >"$TMP/tty.out" || status=$?
	else
		script -qec "$1" /dev/null </dev/null >"$TMP/tty.out" || status=$?
	fi
	output=$(tr -d '\r' <"$TMP/tty.out")
}

# KV_LINE ARGS...: the kvctl command line against node1, for tty_run.
KV_LINE() {
	echo "'$KVCTL' --server '$(url node1)' $*"
}

write_keys() {
	local i st
	for ((i = 0; i < KEYS; i++)); do
		st=$(put node1 "$1-$i" "v$i")
		[ "$st" = 201 ] || [ "$st" = 200 ] || { echo "PUT $1-$i: $st"; return 1; }
	done
}

# copies KEY: on how many of the 4 nodes /internal/fetch finds KEY.
copies() {
	local n c=0
	for n in node1 node2 node3 node4; do
		if curl -s --max-time 60 "$(url "$n")/internal/fetch/$1" | grep -q '"key"'; then
			c=$((c + 1))
		fi
	done
	echo "$c"
}

hints_pending() {
	kv -o json hints 2>/dev/null | jq '[.nodes[].pending] | add // 0'
}

has_hints() {
	[ "$(hints_pending)" -gt 0 ]
}

# A cluster with node3 down and hints pending for it.
cluster_with_hints() {
	cluster4
	kill_node node3
	wait_for 10 down_seen
	write_keys "$1"
	wait_for 10 has_hints
}

@test "cluster nodes: a table on a terminal, one aligned row per member; JSON elsewhere" {
	cluster4
	write_keys t
	tty_run "$(KV_LINE cluster nodes)"
	[ "$status" -eq 0 ]
	echo "$output"
	local header
	header=$(echo "$output" | head -1)
	[[ $header == "ID "*"ADDRESS "*"STATE "*"LAST SEEN "*"KEYS "*"OWNS "*"HINTS "*TRANSFER ]]
	[ "$(echo "$output" | grep -c '^node[1-4]')" -eq 4 ]
	# Columns line up: each row's state starts under STATE, and its
	# right-aligned figures end under KEYS and OWNS.
	local st_col keys_end own_end row
	st_col=$(awk -v h="$header" 'BEGIN { print index(h, "STATE") }')
	keys_end=$(awk -v h="$header" 'BEGIN { print index(h, "KEYS") + 3 }')
	own_end=$(awk -v h="$header" 'BEGIN { print index(h, "OWNS") + 3 }')
	while read -r row; do
		[ "${row:$((st_col - 1)):2}" = up ]
		[[ ${row:$((keys_end - 1)):1} =~ [0-9] ]]
		[ "${row:$((keys_end)):1}" = " " ]
		[ "${row:$((own_end - 1)):1}" = "%" ]
	done < <(echo "$output" | grep '^node[1-4]')
	echo "$output" | grep -q '^node1\* '
	echo "$output" | grep '^node1' | grep -q ' now '
	echo "$output" | grep '^node2' | grep -Eq ' [0-9.]+s ago '
	# Key counts are each member's own: node1 reports what its store holds.
	local k1
	k1=$(nodes node1 | jq '.members[] | select(.self) | .keys')
	[ "$k1" -gt 0 ]
	echo "$output" | grep '^node1' | grep -q " $k1 "
	# Not a terminal: today's JSON, as --json and -o json print it.
	run "$KVCTL" --server "$(url node1)" cluster nodes
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq '.members | length')" -eq 4 ]
	[ "$(echo "$output" | jq '[.members[].owns] | add | . * 100 | round')" -eq 300 ]
	run "$KVCTL" --server "$(url node1)" cluster nodes -o json
	[ "$(echo "$output" | jq -r .self)" = node1 ]
	tty_run "$(KV_LINE cluster nodes --json)"
	[ "$(echo "$output" | jq '.members | length')" -eq 4 ]
	tty_run "$(KV_LINE -o json cluster nodes)"
	[ "$(echo "$output" | jq '.members | length')" -eq 4 ]
	# -o table forces the table off a terminal.
	run "$KVCTL" --server "$(url node1)" -o table cluster nodes
	[ "$status" -eq 0 ]
	[[ ${lines[0]} == ID* ]]
	# A bad -o is a usage error.
	run "$KVCTL" --server "$(url node1)" -o yaml cluster nodes
	[ "$status" -eq 2 ]
	[[ $output == *"bad -o 'yaml'"* ]]
}

@test "status: one node killed, hints pending: the down node, the hints and the warnings, as text and -o json" {
	cluster_with_hints s
	tty_run "$(KV_LINE status)"
	[ "$status" -eq 0 ]
	echo "$output"
	[[ $output == *"4 members: 3 up, 1 down   (seen by node1)"* ]]
	[[ $output == *"N=3 W=2 R=2"* ]]
	echo "$output" | grep -Eq '^hints +[0-9]+ pending \([0-9.]+ (B|KiB)\), oldest [0-9.]+s ago'
	echo "$output" | grep -Eq -- '- node3 down for [0-9.]+s'
	echo "$output" | grep -Eq -- '- [0-9]+ hints? pending for node3'
	echo "$output" | grep -qx -- '  - anti-entropy disabled on all 3 members that answered (--anti-entropy-interval 0)'
	run "$KVCTL" --server "$(url node1)" status -o json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r '.members.down_ids | join(",")')" = node3 ]
	[ "$(echo "$output" | jq '.members.up')" -eq 3 ]
	[ "$(echo "$output" | jq '.members.total')" -eq 4 ]
	[ "$(echo "$output" | jq '.n')" -eq 3 ]
	[ "$(echo "$output" | jq '.hints.pending')" -gt 0 ]
	[ "$(echo "$output" | jq '.hints.for.node3')" -eq "$(echo "$output" | jq '.hints.pending')" ]
	[ "$(echo "$output" | jq '.hints.oldest_age_ms')" -ge 0 ]
	[ "$(echo "$output" | jq '.keys.copies')" -gt 0 ]
	echo "$output" | jq -e '.warnings | any(startswith("node3 down for"))'
	echo "$output" | jq -e '.warnings | any(test("^[0-9]+ hints? pending for node3$"))'
	echo "$output" | jq -e '.warnings | any(. == "anti-entropy disabled on node1, node2, node4 (--anti-entropy-interval 0)")'
	# Not a terminal: the same text.
	run "$KVCTL" --server "$(url node1)" status
	[[ $output == *"1 down   (seen by node1)"* ]]
	echo "$output" | grep -Eq -- '^  - node3 down for [0-9.]+s$'
	# Fewer live members than N.
	kill_node node4
	wait_for 10 bash -c "[ \"\$(curl -s $(url node1)/cluster/nodes | jq -r '.members[] | select(.id == \"node4\") | .state')\" = down ]"
	run "$KVCTL" --server "$(url node1)" status -o json
	echo "$output" | jq -e '.warnings | any(startswith("fewer live members than N"))'
}

@test "status: the oldest hint's age and the last anti-entropy round's are each member's own, not kvctl's clock less the member's (a member 100 s behind)" {
	local cc=${CC:-cc}
	command -v "$cc" >/dev/null 2>&1 ||
	    skip "no C compiler ($cc): cannot build test/clockshim.c"
	"$cc" -shared -fPIC -o "$TMP/clockshim.so" "$BATS_TEST_DIRNAME/clockshim.c" -ldl
	[ $(($(date +%s) - $(LD_PRELOAD="$TMP/clockshim.so" CLOCKSHIM_OFFSET_MS=-100000 date +%s))) -ge 90 ] ||
	    skip "LD_PRELOAD of the clock shim does not move this system's clock"
	member 1
	LD_PRELOAD="$TMP/clockshim.so" CLOCKSHIM_OFFSET_MS=-100000 member 2
	member 3
	member 4
	wait_for 10 all_up
	# A round on node2, whose clock is 100 s behind; then hints, node2's
	# among them (node2 holds hints for node3 for the keys it coordinates
	# too: writes go through every node).
	run "$KVCTL" --server "$(url node1)" repair node2
	[ "$status" -eq 0 ]
	kill_node node3
	wait_for 10 down_seen
	local i st
	for ((i = 0; i < KEYS; i++)); do
		st=$(put "node$((i % 2 + 1))" "skew-$i" "v$i")
		[ "$st" = 201 ] || { echo "PUT skew-$i: $st"; false; }
	done
	node2_holds() {
		[ "$(c "$(url node2)/admin/hints" | jq .pending)" -gt 0 ]
	}
	wait_for 10 node2_holds
	# The ages are seconds; one read on another clock would be 100 s
	# more.  60 s leaves a loaded machine its time and tells them apart.
	run "$KVCTL" --server "$(url node1)" status -o json
	[ "$status" -eq 0 ]
	echo "$output" | jq -c '.hints, .anti_entropy'
	[ "$(echo "$output" | jq '.hints.oldest_age_ms')" -lt 60000 ]
	[ "$(echo "$output" | jq -r '.anti_entropy.last.node')" = node2 ]
	[ "$(echo "$output" | jq '.anti_entropy.last.age_ms')" -lt 60000 ]
	run "$KVCTL" --server "$(url node1)" status
	echo "$output"
	echo "$output" | grep -Eq '^hints +[0-9]+ pending \([0-9.]+ (B|KiB)\), oldest ([0-9]\.[0-9]|[1-5][0-9])s ago$'
	echo "$output" | grep -Eq '^anti-entropy +last round ([0-9]\.[0-9]|[1-5][0-9])s ago, node2 with '
	# The member says the ages itself, on its own clock.
	nodes node2 | jq -e '.hints.oldest_age_ms > 0 and .hints.oldest_age_ms < 60000'
	nodes node2 | jq -e '.anti_entropy.last_age_ms > 0 and .anti_entropy.last_age_ms < 60000'
}

@test "hints: list per holder and owner; drop asks on a terminal, needs --yes elsewhere, and is for good" {
	cluster_with_hints h
	local before
	before=$(hints_pending)
	# The table: holder, owner, state, count, bytes, age.
	tty_run "$(KV_LINE hints)"
	[ "$status" -eq 0 ]
	echo "$output"
	[[ $(echo "$output" | head -1) == "HOLDER"*"OWNER"*"STATE"*"HINTS"*"BYTES"*OLDEST ]]
	echo "$output" | grep -Eq '^node[124] +node3 +down +[0-9]+ +[0-9.]+ (B|KiB) +[0-9.]+s ago$'
	[ "$(echo "$output" | awk '$2 == "node3" { n += $4 } END { print n }')" -eq "$before" ]
	# One holder only.
	run "$KVCTL" --server "$(url node1)" -o json hints node1
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq '.nodes | length')" -eq 1 ]
	[ "$(echo "$output" | jq -r '.nodes[0].id')" = node1 ]
	echo "$output" | jq -e '.nodes[0].owners | all(.owner == "node3" and .bytes > 0 and .oldest_age_ms >= 0)'
	run "$KVCTL" --server "$(url node1)" hints nosuch
	[ "$status" -eq 1 ]

	# Not a terminal and no --yes: a usage error, nothing dropped.
	run --separate-stderr "$KVCTL" --server "$(url node1)" hints drop node3 </dev/null
	[ "$status" -eq 2 ]
	[[ $stderr == *--yes* ]]
	[ "$(hints_pending)" -eq "$before" ]
	# On a terminal, answering n drops nothing.
	tty_run "$(KV_LINE hints drop node3)" n
	echo "$output"
	[[ $output == *"Drop $before hints"*"held for node3?"*"[y/N]"* ]]
	[[ $output == *"aborted: nothing dropped"* ]]
	[ "$status" -eq 6 ]
	[ "$(hints_pending)" -eq "$before" ]
	# An unknown owner: said once, no member asked (not node3's hints
	# "kept" for it either), nothing dropped.
	run "$KVCTL" --server "$(url node1)" hints drop nosuch --yes
	echo "$output"
	[ "$status" -eq 1 ]
	[ "$output" = "kvctl: hints drop: no member 'nosuch' (kvctl cluster nodes lists them)" ]
	[ "$(hints_pending)" -eq "$before" ]
	# --yes drops them everywhere.
	run "$KVCTL" --server "$(url node1)" hints drop node3 --yes
	[ "$status" -eq 0 ]
	echo "$output"
	[ "$(echo "$output" | awk '/dropped/ { n += $3 } END { print n }')" -eq "$before" ]
	[ "$(hints_pending)" -eq 0 ]
	run --separate-stderr "$KVCTL" --server "$(url node1)" hints
	[ "$output" = "no hints pending" ]
	[[ $stderr =~ ^kvctl:\ not\ asked:\ node3\ down\ for\ [0-9.]+s$ ]]
	run "$KVCTL" --server "$(url node1)" -o json hints
	[ "$(echo "$output" | jq '[.nodes[].dropped] | add')" -eq "$before" ]

	# Durable: a holder killed and restarted does not bring them back.
	kill_node node1
	member 1
	[ "$(c "$(url node1)/admin/hints" | jq .pending)" -eq 0 ]
	# node3 comes back and never receives them: no hint delivered, and
	# the keys written while it was down are not on it.
	member 3
	wait_for 10 all_up
	sleep 3	# several hint delivery intervals
	local n delivered=0 i
	for n in node1 node2 node4; do
		delivered=$((delivered + $(nodes "$n" | jq .hints.delivered)))
	done
	[ "$delivered" -eq 0 ]
	for ((i = 0; i < KEYS; i++)); do
		[ "$(curl -s --max-time 60 "$(url node3)/internal/fetch/h-$i" | jq -r .code)" = not_found ]
	done
}

@test "repair: a replica that missed writes catches up; progress is shown; exit 0" {
	cluster_with_hints r
	# The hints are dropped, so only a repair can bring node3 the writes.
	"$KVCTL" --server "$(url node1)" hints drop node3 --yes
	member 3
	wait_for 10 all_up
	local i short=0
	for ((i = 0; i < KEYS; i++)); do
		[ "$(copies "r-$i")" -lt 3 ] && short=$((short + 1))
	done
	echo "keys with fewer than 3 copies before: $short"
	[ "$short" -gt 0 ]
	run --separate-stderr "$KVCTL" --server "$(url node1)" repair node3
	echo "$output"
	echo "$stderr"
	[ "$status" -eq 0 ]
	[[ $stderr == *"repair round 1 started on node3"* ]]
	[[ $stderr == *"peers done"* ]] || [[ $output == *"3 peers"* ]]
	[[ $output == "repair of node3 done in "*": 3 peers, "*" keys compared, "*" keys fetched, "* ]]
	[ "$(echo "$output" | sed -n 's/.*, \([0-9]*\) keys fetched.*/\1/p')" -ge "$short" ]
	for ((i = 0; i < KEYS; i++)); do
		[ "$(copies "r-$i")" -eq 3 ] || { echo "r-$i: $(copies "r-$i") copies"; false; }
	done
	# -o json: the final progress; a second round finds nothing to move.
	run "$KVCTL" --server "$(url node1)" -o json repair node3
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r .state)" = done ]
	[ "$(echo "$output" | jq .round)" -eq 2 ]
	[ "$(echo "$output" | jq .peers_done)" -eq 3 ]
	[ "$(echo "$output" | jq .keys_received)" -eq 0 ]
	[ "$(echo "$output" | jq .keys_compared)" -gt 0 ]
	# GET /admin/repair reads the last one.
	[ "$(c "$(url node3)/admin/repair" | jq -r .state)" = done ]
	# status reports the last round.
	run "$KVCTL" --server "$(url node1)" status
	[[ $output == *"anti-entropy  last round "*" ago, node3 with node"*": ok"* ]]
}

@test "repair: exit 5 when a member it shares keys with is down" {
	cluster4
	kill_node node3
	wait_for 10 down_seen
	run --separate-stderr "$KVCTL" --server "$(url node1)" repair
	[ "$status" -eq 5 ]
	[[ $output == "repair of node1 FAILED"*": node3: "* ]]
	[ "$(c "$(url node1)/admin/repair" | jq -r .state)" = failed ]
	[ "$(c "$(url node1)/admin/repair" | jq .peers_failed)" -eq 1 ]
}

@test "admin routes: 404 for an unknown owner, 400 for bad input, 405 for a wrong method" {
	cluster4
	[ "$(code -X DELETE "$(url node1)/admin/hints/nosuch")" = 404 ]
	[ "$(c -X DELETE "$(url node1)/admin/hints/nosuch" | jq -r .code)" = not_found ]
	[ "$(code -X DELETE "$(url node1)/admin/hints/node3")" = 200 ]
	[ "$(c -X DELETE "$(url node1)/admin/hints/node3" | jq .dropped)" -eq 0 ]
	[ "$(code -X DELETE "$(url node1)/admin/hints/a%20b")" = 400 ]
	[ "$(c -X DELETE "$(url node1)/admin/hints/a%20b" | jq -r .code)" = bad_request ]
	[ "$(code -X DELETE "$(url node1)/admin/hints/")" = 400 ]
	[ "$(code "$(url node1)/admin/hints?x=1")" = 400 ]
	c "$(url node1)/admin/hints?x=1" | jq -e '.error | test("x")'
	[ "$(code -X POST "$(url node1)/admin/hints")" = 405 ]
	[ "$(code -X DELETE "$(url node1)/admin/repair")" = 405 ]
	[ "$(code "$(url node1)/admin/repair")" = 200 ]
	[ "$(c "$(url node1)/admin/repair" | jq -r .state)" = none ]
	[ "$(code -X POST "$(url node1)/admin/repair")" = 202 ]
	run "$KVCTL" --server "$(url node1)" hints extra words
	[ "$status" -eq 2 ]
	run "$KVCTL" --server "$(url node1)" status --yes
	[ "$status" -eq 2 ]
}

@test "admin routes need a signature when the cluster has a secret; kvctl signs with --cluster-secret-file" {
	local secret="$TMP/secret"
	printf '%s\n' 'bats-status-secret-0123456789abcdef' >"$secret"
	chmod 600 "$secret"
	cluster4 --cluster-secret-file "$secret"
	[ "$(code "$(url node1)/admin/hints")" = 401 ]
	[ "$(code -X POST "$(url node1)/admin/repair")" = 401 ]
	[ "$(code "$(url node1)/admin/repair")" = 401 ]
	[ "$(code -X DELETE "$(url node1)/admin/hints/node3")" = 401 ]
	# Public routes are not signed: status and the table still work.
	[ "$(code "$(url node1)/cluster/nodes")" = 200 ]
	run "$KVCTL" --server "$(url node1)" status
	[ "$status" -eq 0 ]
	# kvctl without the secret is refused; with it, it is let in.
	run --separate-stderr "$KVCTL" --server "$(url node1)" hints node1
	[ "$status" -eq 4 ]
	[[ $stderr == *401*signature* ]]
	# A refusal says nothing of the hints held: never "no hints pending".
	[ "$output" = "no hints pending on the 0 of 1 members asked that answered" ]
	run --separate-stderr "$KVCTL" --server "$(url node1)" hints
	[ "$status" -eq 4 ]
	[ "$output" = "no hints pending on the 0 of 4 members asked that answered" ]
	run "$KVCTL" --server "$(url node1)" --cluster-secret-file "$secret" hints
	[ "$status" -eq 0 ]
	[ "$output" = "no hints pending" ]
	run --separate-stderr env KVCTL_CLUSTER_SECRET_FILE="$secret" "$KVCTL" --server "$(url node1)" repair
	[ "$status" -eq 0 ]
	[[ $output == "repair of node1 done"* ]]
	run "$KVCTL" --server "$(url node1)" --cluster-secret-file "$secret" hints drop node3 --yes
	[ "$status" -eq 0 ]
	# A wrong secret is refused too, and a readable one is a usage error.
	printf '%s\n' 'another-secret-0123456789abcdef' >"$TMP/wrong"
	chmod 600 "$TMP/wrong"
	run "$KVCTL" --server "$(url node1)" --cluster-secret-file "$TMP/wrong" hints node1
	[ "$status" -eq 4 ]
	chmod 644 "$TMP/wrong"
	run "$KVCTL" --server "$(url node1)" --cluster-secret-file "$TMP/wrong" hints node1
	[ "$status" -eq 2 ]
	# One that cannot be read: said once, named as given, before any call
	# (a table of no hints would be a wrong answer), for every command.
	local cmd
	for cmd in hints "hints node1" status repair; do
		run --separate-stderr "$KVCTL" --server "$(url node1)" \
		    --cluster-secret-file "$TMP/none" $cmd
		echo "[$cmd] $status out=$output err=$stderr"
		[ "$status" -eq 2 ]
		[ -z "$output" ]
		[ "$(printf '%s\n' "$stderr" | grep -c .)" = 1 ]
		[[ $stderr == "kvctl: --cluster-secret-file: "* ]]
	done
	run --separate-stderr env KVCTL_CLUSTER_SECRET_FILE="$TMP/none" \
	    "$KVCTL" --server "$(url node1)" -o json hints
	[ "$status" -eq 2 ]
	[ -z "$output" ]
	[[ $stderr == "kvctl: KVCTL_CLUSTER_SECRET_FILE: "* ]]
}

# trio FLAGS...: node2, node10 and node1 (started in that order) on the
# first three picked ports, N=3, no anti-entropy: ids whose text order
# (node1, node10, node2) is not the order people expect.
trio() {
	local a=127.0.0.1:$(port 1) b=127.0.0.1:$(port 2) c=127.0.0.1:$(port 3)
	local common=(--n 3 --w 2 --r 2 --peer-timeout-ms 500
	    --gossip-interval-ms 200 --anti-entropy-interval 0)
	start_node node2 --addr "$a" --advertise "$a" \
	    --peers "node10=$b,node1=$c" "${common[@]}"
	start_node node10 --addr "$b" --advertise "$b" \
	    --peers "node2=$a,node1=$c" "${common[@]}"
	start_node node1 --addr "$c" --advertise "$c" \
	    --peers "node2=$a,node10=$b" "${common[@]}"
	wait_for 10 bash -c "[ \"\$(curl -s $(url node1)/cluster/nodes | jq '[.members[] | select(.state == \"up\")] | length')\" = 3 ]"
}

@test "cluster nodes, status and hints list ids in natural order (node2 before node10); JSON keeps the server's order" {
	trio
	tty_run "$(KV_LINE cluster nodes)"
	[ "$status" -eq 0 ]
	echo "$output"
	[ "$(echo "$output" | awk '/^node/ { sub(/\*$/, "", $1); print $1 }' | paste -sd' ')" = "node1 node2 node10" ]
	# JSON is the server's, in its (text) order.
	run "$KVCTL" --server "$(url node1)" cluster nodes
	[ "$(echo "$output" | jq -r '[.members[].id] | join(" ")')" = "node1 node10 node2" ]
	# Two down, hints held by node1 for both.
	kill_node node10
	kill_node node2
	wait_for 10 bash -c "[ \"\$(curl -s $(url node1)/cluster/nodes | jq '[.members[] | select(.state == \"down\")] | length')\" = 2 ]"
	local i
	for i in 1 2 3; do
		[ "$(put node1 "nat-$i" "v$i" '?w=1')" = 201 ]
	done
	wait_for 10 bash -c "[ \"\$(curl -s $(url node1)/admin/hints | jq '.owners | length')\" = 2 ]"
	run "$KVCTL" --server "$(url node1)" status
	[ "$status" -eq 0 ]
	echo "$output"
	[[ $output == *"3 members: 1 up, 2 down   (seen by node1)"* ]]
	[ "$(echo "$output" | grep -Eo -- '^  - node[0-9]+ down' | paste -sd,)" = "  - node2 down,  - node10 down" ]
	[ "$(echo "$output" | grep -Eo -- 'hints pending for node[0-9]+$' | paste -sd,)" = "hints pending for node2,hints pending for node10" ]
	run "$KVCTL" --server "$(url node1)" status -o json
	[ "$(echo "$output" | jq -r '.members.down_ids | join(" ")')" = "node10 node2" ]
	tty_run "$(KV_LINE hints)"
	[ "$status" -eq 0 ]
	echo "$output"
	[ "$(echo "$output" | awk 'NR > 1 && /^node/ { print $1 "/" $2 }' | paste -sd' ')" = "node1/node2 node1/node10" ]
	run --separate-stderr "$KVCTL" --server "$(url node1)" hints
	[ "$(echo "$stderr" | sed 's/ for [0-9.]*s$//' | paste -sd'|')" = "kvctl: not asked: node2 down|kvctl: not asked: node10 down" ]
}

@test "cluster cleanup prints each member once all have finished, in natural order; --json lines in the server's" {
	trio
	run --separate-stderr timeout 60 "$KVCTL" --server "$(url node1)" cluster cleanup
	echo "$output"
	echo "$stderr"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | sed 's/:.*//' | paste -sd' ')" = "node1 node2 node10" ]
	echo "$output" | grep -qx 'node10: dropped [0-9]* keys'
	# stderr: the progress, each member's line as it finished.
	! echo "$stderr" | grep -v '^kvctl: cleanup' || false
	[ "$(echo "$stderr" | grep -c ' done)$')" -eq 3 ]
	echo "$stderr" | grep -Eqx 'kvctl: cleanup: node10: dropped [0-9]+ keys \([123]/3 done\)'
	run --separate-stderr timeout 60 "$KVCTL" --server "$(url node1)" cluster cleanup --json
	echo "$output"
	[ "$status" -eq 0 ] && [ -z "$stderr" ]
	[ "$(echo "$output" | jq -r .id | paste -sd' ')" = "node1 node10 node2" ]
	echo "$output" | jq -e '.cleanup.running == false' >/dev/null
}

# standin N: a stand-in for a cluster of N members, node1..nodeN, each at
# a python3 address of its own that answers every GET /cluster/nodes as
# that member: a transfer running (203 of 6543 keys sent), members in the
# server's (strcmp) order.  The ids in STANDIN_DOWN are down (as every
# member sees them), those in STANDIN_AE_OFF run with
# --anti-entropy-interval 0, those in STANDIN_RETRYING have their
# transfer retrying, those in STANDIN_RING differ in --vnodes (as every
# member sees them), those in STANDIN_SLOW run their cleanup for ever
# (1200 keys scanned, 30 dropped so far).  With STANDIN_FULL or STANDIN_FAILED set, GET
# /health names those members' storage disk_full or failed (ok for the
# others).  Those in STANDIN_BADADDR are listed at an address that is
# none: "x" and 60 é (121 bytes).  POST answers 202; after one, the members in STANDIN_SICK
# answer every GET 503.  Sets SU to node1's URL.
standin() {
	start_standin standin "$1" <<'PY'
import os, sys, threading, time, standin
portfile, n = sys.argv[1], int(sys.argv[2])
(down, aeoff, retrying, full, failed, ring, sick, slow, ahead, negage,
 hang, waiting, gone, unknown, absent, meet, never, strays, overflow,
 placing, badaddr) = (
    set(os.environ.get(v, "").split())
    for v in ("STANDIN_DOWN", "STANDIN_AE_OFF", "STANDIN_RETRYING",
              "STANDIN_FULL", "STANDIN_FAILED", "STANDIN_RING",
              "STANDIN_SICK", "STANDIN_SLOW", "STANDIN_AHEAD",
              "STANDIN_NEGAGE", "STANDIN_HANG", "STANDIN_WAITING",
              "STANDIN_GONE", "STANDIN_UNKNOWN", "STANDIN_ABSENT",
              "STANDIN_MEET", "STANDIN_NEVER", "STANDIN_STRAYS",
              "STANDIN_OVERFLOW", "STANDIN_PLACING", "STANDIN_BADADDR"))
# STANDIN_PLACING: members whose cleanup, once a POST asked for it, waits
# for their placement (running, waiting_for_placement) for ever.
# STANDIN_STRAYS: members with 3 strays waiting to be forwarded, their
# last pass finished (unless another variable says it retries or
# waits); STANDIN_OVERFLOW: members that noted more strays than they list.
# STANDIN_NEVER: members gossip has down that were never heard from
# (heartbeat and generation 0; their heartbeat age counts from the join).
# STANDIN_MEET: members whose /admin/hints answers (one hint, for node1)
# only once every one of them has been asked: a client that asks them one
# after another gives up on the first before it asks the next.
met, met_drop, met_cv = set(), set(), threading.Condition()
# hold(me, asked): STANDIN_HANG and STANDIN_MEET on one route's answer
# (asked: the members that route has been asked of, met for GET
# /admin/hints, met_drop for DELETE): a member that hangs answers after
# 30 s, one that meets once all of them were asked (20 s at most).
def hold(me, asked):
    if me in hang:
        time.sleep(30)
    if me in meet:
        with met_cv:
            asked.add(me)
            met_cv.notify_all()
            met_cv.wait_for(lambda: asked >= meet, timeout=20)
# STANDIN_UNKNOWN: members no heartbeat has come from yet (state
# "unknown", no heartbeat_age_ms); STANDIN_ABSENT: members not running
# (their port refuses: joined before they were started).
# STANDIN_WAITING: members whose pass is done, waiting on 2 other
# senders; STANDIN_GONE: ids of nodes that left (in every "removed"),
# each still handing its keys off, retrying: the receiver refuses.
ids = sorted("node%d" % i for i in range(1, n + 1))
servers, ports = {}, {}
# STANDIN_AHEAD: a kvd from before the ages, its clock 60 s ahead of
# kvctl's (wall times only); STANDIN_NEGAGE: a member whose own ages are
# negative (its clock stepped back).
def hints_of(me):
    now = int(time.time() * 1000)
    if me in ahead:
        return {"pending": 2, "bytes": 64, "oldest_ms": now + 60000}
    if me in negage:
        return {"pending": 2, "bytes": 64, "oldest_ms": now,
                "oldest_age_ms": -116}
    return {"pending": 0, "bytes": 0, "oldest_ms": 0}
def ae_of(me):
    now = int(time.time() * 1000)
    a = {"interval_ms": 0 if me in aeoff else 1000, "last_ms": 0}
    if me in ahead:
        a.update(last_ms=now + 60000, last_ok=True, last_peer="node1")
    if me in negage:
        a.update(last_ms=now, last_age_ms=-116, last_ok=True,
                 last_peer="node1")
    return a
def placed_later(h, me):
    return me in placing and getattr(h.server, "posted", False)
class H(standin.Handler):
    def do_POST(self):
        self.server.posted = True
        self.answer(202, {"started": True})
    def do_DELETE(self):
        # /admin/hints/OWNER: one hint dropped, held as hold says.
        me = self.server.member
        hold(me, met_drop)
        self.answer(200, {"id": me, "owner": self.path.split("/")[-1],
                          "dropped": 1, "bytes": 10})
    def do_GET(self):
        me = self.server.member
        if self.path == "/admin/hints":
            hold(me, met)
            if me in meet:
                return self.answer(200, {"id": me, "pending": 1,
                    "bytes": 10, "owners": [{"owner": "node1",
                    "state": "up", "pending": 1, "bytes": 10,
                    "oldest_ms": int(time.time() * 1000),
                    "oldest_age_ms": 100}]})
            return self.answer(200, {"id": me, "pending": 0, "bytes": 0,
                                     "owners": []})
        if me in sick and getattr(self.server, "posted", False):
            return self.answer(503, {"error": "stand-in is sick"})
        if self.path == "/health" and (full or failed):
            return self.answer(200, {"status": "ok", "id": me,
                "storage": "disk_full" if me in full else
                           "failed" if me in failed else "ok"})
        xfer = {"running": True, "retrying": me in retrying,
                "keys_sent": 203, "keys_scanned": 6543}
        if me in waiting:
            xfer.update(keys_sent=81, keys_scanned=6936, waiting_on=2)
        if me in strays | overflow:
            xfer.update(started_ms=1, finished_ms=2,
                        strays=3 if me in strays else 0,
                        strays_overflow=me in overflow)
        if me in gone:
            xfer.update(retrying=True, keys_sent=10, keys_scanned=500,
                        last_error="to node2: Connection refused")
        self.answer(200, {"self": me, "n": 3, "w": 2, "r": 2,
            "members": [dict({"id": i, "address": "x" + "\u00e9" * 60
                                 if i in badaddr else
                                 "127.0.0.1:%d" % ports[i],
                         "state": "down" if i in down | never else
                                  "unknown" if i in unknown else "up",
                         "self": i == me,
                         "owns": 3.0 / n, "keys": 6543, "hints": 0,
                         "ring_mismatch": "vnodes 100 (here 150)"
                             if i in ring else None},
                         **({} if i in unknown else
                            {"heartbeat": 0, "generation": 0,
                             "heartbeat_age_ms": 12085} if i in never else
                            {"heartbeat_age_ms": 100}))
                        for i in ids],
            "removed": [{"id": g, "address": "127.0.0.1:%d" % ports[g],
                         "state": "up"} for g in sorted(gone)],
            "member": me not in gone,
            "transfer": xfer,
            "hints": hints_of(me),
            "cleanup": {"running": me in slow or placed_later(self, me),
                        "waiting_for_placement": placed_later(self, me),
                        "scanned": 1200 if me in slow else 0,
                        "dropped": 30 if me in slow else 0},
            "anti_entropy": ae_of(me)})
for i in ids + sorted(gone):
    s = standin.listen(H)
    s.member = i
    servers[i], ports[i] = s, s.server_address[1]
for i in ids + sorted(gone):
    if i in absent:
        servers[i].server_close()
    else:
        threading.Thread(target=servers[i].serve_forever,
                         daemon=True).start()
standin.publish_port(portfile, ports["node1"])
threading.Event().wait()
PY
	SU=$(url standin)
}

# standin_status: kvctl status against the stand-in (stderr apart) exits
# 0; its output shown.
standin_status() {
	run --separate-stderr "$KVCTL" --server "$SU" status
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "status at 35 members: transfers one a line under the heading, in natural order, no line past 80 columns; -o json unchanged" {
	standin 35
	standin_status
	[ "$(echo "$output" | awk '{ if (length($0) > m) m = length($0) } END { print m }')" -le 80 ]
	echo "$output" | grep -qx transfers
	local want i
	want=$(for ((i = 1; i <= 35; i++)); do echo "  - node$i sending: 6543 keys scanned, 203 sent"; done)
	[ "$(echo "$output" | sed -n '/^transfers$/,/^[a-z]/p' | grep '^  ')" = "$want" ]
	[[ $output == *"warnings      none"* ]]
	# For scripts: the same entries, in the server's order.
	run "$KVCTL" --server "$SU" status -o json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq '.transfers | length')" -eq 35 ]
	[ "$(echo "$output" | jq -r '.transfers[0].id, .transfers[1].id, .transfers[2].id' | paste -sd' ')" = "node1 node10 node11" ]
	echo "$output" | jq -e '.transfers | all(.keys_sent == 203 and .keys_scanned == 6543 and .retrying == false)'
}

@test "status at 40 members: down and anti-entropy-off members one a line in natural order, a retrying transfer says so; -o json unchanged" {
	STANDIN_DOWN="node3 node12 node40" STANDIN_AE_OFF="node2 node10 node21" \
	    STANDIN_RETRYING="node5 node11" standin 40
	standin_status
	[ "$(echo "$output" | awk '{ if (length($0) > m) m = length($0) } END { print m }')" -le 80 ]
	[ "$(echo "$output" | head -1)" = "cluster       40 members: 37 up, 3 down   (seen by node1)" ]
	local w
	w=$(echo "$output" | sed -n '/^warnings$/,$p')
	[ "$(echo "$w" | grep -Eo '^  - node[0-9]+ down for' | paste -sd' ')" = "  - node3 down for   - node12 down for   - node40 down for" ]
	[ "$(echo "$w" | grep 'anti-entropy' | paste -sd'|')" = "  - anti-entropy disabled on node2 (--anti-entropy-interval 0)|  - anti-entropy disabled on node10 (--anti-entropy-interval 0)|  - anti-entropy disabled on node21 (--anti-entropy-interval 0)" ]
	local t
	t=$(echo "$output" | sed -n '/^transfers$/,/^[a-z]/p' | grep '^  ')
	[ "$(echo "$t" | wc -l)" -eq 37 ]
	[ "$(echo "$t" | grep retrying | paste -sd'|')" = "  - node5 retrying: 6543 keys scanned, 203 sent|  - node11 retrying: 6543 keys scanned, 203 sent" ]
	[ "$(echo "$t" | grep -c '^  - node[0-9]* sending: 6543 keys scanned, 203 sent$')" -eq 35 ]
	# Every member that answered with it off: one line.
	kill "${BG[-1]}"
	STANDIN_AE_OFF="$(echo node{1..5})" standin 5
	run "$KVCTL" --server "$SU" status
	echo "$output"
	[ "$(echo "$output" | grep 'anti-entropy disabled')" = "  - anti-entropy disabled on all 5 members (--anti-entropy-interval 0)" ]
	# JSON is as it was: the server's order, one warning naming them all.
	kill "${BG[-1]}"
	STANDIN_DOWN="node3 node12 node40" STANDIN_AE_OFF="node2 node10 node21" \
	    STANDIN_RETRYING="node5 node11" standin 40
	run "$KVCTL" --server "$SU" status -o json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r '.members.down_ids | join(" ")')" = "node12 node3 node40" ]
	echo "$output" | jq -e '.warnings | any(. == "anti-entropy disabled on node10, node2, node21 (--anti-entropy-interval 0)")'
	[ "$(echo "$output" | jq -r '[.transfers[] | select(.retrying) | .id] | join(" ")')" = "node11 node5" ]
}

@test "status: a warning line per member whose storage refuses writes and per member whose ring differs; a warning past 512 characters is whole" {
	STANDIN_FULL="node2 node10" STANDIN_FAILED="node7" \
	    STANDIN_RING="node3 node12" standin 12
	standin_status
	local w
	w=$(echo "$output" | sed -n '/^warnings$/,$p')
	[ "$(echo "$w" | grep -Eo '^  - node[0-9]+ (disk full|storage failed)' | paste -sd'|')" = "  - node2 disk full|  - node7 storage failed|  - node10 disk full" ]
	echo "$w" | grep -qx '  - node2 disk full, writes refused until space is freed (room for the refused records it keeps, at most 16 MiB, and new writes)'
	echo "$w" | grep -qx '  - node7 storage failed (a WAL write or fsync error), writes refused until kvd is restarted'
	[ "$(echo "$w" | grep -Eo '^  - node[0-9]+ ring parameters differ from node1.s: vnodes 100 \(here 150\)' | sed 's/ ring.*//' | paste -sd' ')" = "  - node3   - node12" ]
	run "$KVCTL" --server "$SU" status -o json
	[ "$status" -eq 0 ]
	echo "$output" | jq -e '.warnings | any(startswith("node7 storage failed"))'
	echo "$output" | jq -e '.warnings | any(startswith("node12 ring parameters differ from node1"))'
	# 80 members with anti-entropy off: JSON's one warning names them all.
	kill "${BG[-1]}"
	STANDIN_AE_OFF="$(echo node{1..79})" standin 80
	run "$KVCTL" --server "$SU" status -o json
	[ "$status" -eq 0 ]
	local ae
	ae=$(echo "$output" | jq -r '.warnings[] | select(startswith("anti-entropy disabled on"))')
	echo "$ae"
	[ "${#ae}" -gt 512 ]
	[[ $ae == *", node79, node8, node9 (--anti-entropy-interval 0)" ]]
	[ "$(echo "$ae" | grep -o 'node[0-9]*' | wc -l)" -eq 79 ]
}

@test "hints: each member not asked because it is down is named on a line of its own on stderr, in natural order" {
	STANDIN_DOWN="node3 node12 node40" standin 40
	run --separate-stderr "$KVCTL" --server "$SU" hints
	echo "out: $output"
	echo "err: $stderr"
	[ "$status" -eq 0 ]
	[ "$output" = "no hints pending" ]
	[ "$stderr" = "kvctl: not asked: node3 down for 0.1s
kvctl: not asked: node12 down for 0.1s
kvctl: not asked: node40 down for 0.1s" ]
	# -q: none; -o json: the JSON only.
	run --separate-stderr "$KVCTL" --server "$SU" hints -q
	[ -z "$stderr" ]
	run --separate-stderr "$KVCTL" --server "$SU" hints -o json
	[ -z "$stderr" ]
	[ "$(echo "$output" | jq '.nodes | length')" -eq 37 ]
}

@test "status -o json: each member's storage and ring_mismatch in nodes, so scripts need not read the warnings' text" {
	STANDIN_FULL="node2 node10" STANDIN_FAILED="node7" \
	    STANDIN_RING="node3 node12" STANDIN_DOWN="node5" standin 12
	run --separate-stderr "$KVCTL" --server "$SU" status -o json
	[ "$status" -eq 0 ]
	echo "$output" | jq -c '.nodes[]'
	# Every member, in the server's order.
	[ "$(echo "$output" | jq -r '[.nodes[].id] | join(" ")')" = "node1 node10 node11 node12 node2 node3 node4 node5 node6 node7 node8 node9" ]
	[ "$(echo "$output" | jq -r '[.nodes[] | select(.storage == "disk_full") | .id] | join(" ")')" = "node10 node2" ]
	[ "$(echo "$output" | jq -r '[.nodes[] | select(.storage == "failed") | .id] | join(" ")')" = node7 ]
	[ "$(echo "$output" | jq -r '[.nodes[] | select(.storage == "ok") | .id] | length')" -eq 8 ]
	[ "$(echo "$output" | jq -r '[.nodes[] | select(.ring_mismatch != null) | .id] | join(" ")')" = "node12 node3" ]
	[ "$(echo "$output" | jq -r '.nodes[] | select(.id == "node3") | .ring_mismatch')" = "vnodes 100 (here 150)" ]
	# A member down was not asked: its storage is unknown, null.
	echo "$output" | jq -e '.nodes[] | select(.id == "node5") | .state == "down" and .answered == false and .storage == null and .keys == null and .error == "down"'
	echo "$output" | jq -e '.nodes[] | select(.id == "node1") | .self and .answered and .storage == "ok" and .keys == 6543 and .error == null and .address != null'
	# The warnings are as they were.
	echo "$output" | jq -e '.warnings | any(startswith("node7 storage failed"))'
	echo "$output" | jq -e '.warnings | any(startswith("node12 ring parameters differ from node1"))'
}

@test "status: a member listed at an address that is none is named with it cut between two characters, never in half of one (kvctl's own message, text and -o json)" {
	# x and 60 é: the first 100 bytes end in the middle of the 50th.
	STANDIN_BADADDR=node2 standin 3
	local want
	want="bad address x$(printf 'é%.0s' {1..49})"
	run --separate-stderr "$KVCTL" --server "$SU" status -o json
	echo "$output" | jq -c '.nodes[] | select(.id == "node2")'
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r '.nodes[] | select(.id == "node2") | .error')" = "$want" ]
	echo "$output" | jq -e --arg w "node2 did not answer kvctl: $want" '.warnings | index($w) != null'
	run --separate-stderr "$KVCTL" --server "$SU" status
	echo "$output"
	[ "$status" -eq 0 ]
	echo "$output" | iconv -f UTF-8 -t UTF-8 >/dev/null
	echo "$output" | grep -qxF -- "  - node2 did not answer kvctl: $want"
}

@test "cluster cleanup: each member's line on stderr as it finishes and a line on those still running, so an interrupted cleanup keeps the results in; -q: none" {
	STANDIN_SLOW="node2" standin 3
	run --separate-stderr timeout -s INT 8 "$KVCTL" --server "$SU" cluster cleanup
	echo "out: $output"
	echo "err: $stderr"
	[ "$status" -eq 124 ]		# interrupted: node2 never finishes
	[ -z "$output" ]		# stdout's list in id order comes at the end
	[ "$(echo "$stderr" | head -1)" = "kvctl: cleanup running on 3 members; each one's result follows as it finishes" ]
	echo "$stderr" | grep -qx 'kvctl: cleanup: node1: dropped 0 keys (1/3 done)'
	echo "$stderr" | grep -qx 'kvctl: cleanup: node3: dropped 0 keys (2/3 done)'
	echo "$stderr" | grep -qx 'kvctl: cleanup: 2/3 done; running on node2: 1200 keys scanned, 30 dropped so far'
	# -q says nothing on stderr; the lines on stdout are as before.
	kill "${BG[-1]}"
	standin 3
	run --separate-stderr timeout 30 "$KVCTL" --server "$SU" -q cluster cleanup
	[ "$status" -eq 0 ] && [ -z "$stderr" ]
	[ "$(echo "$output" | paste -sd'|')" = "node1: dropped 0 keys|node2: dropped 0 keys|node3: dropped 0 keys" ]
}

@test "cluster cleanup: a member whose /cluster/nodes answers non-200 while polled is named on stderr, exit 3" {
	STANDIN_SICK="node2" standin 3
	run --separate-stderr timeout 30 "$KVCTL" --server "$SU" cluster cleanup
	echo "out: $output"
	echo "err: $stderr"
	[ "$status" -eq 3 ]
	[ "$(echo "$stderr" | grep -vc '^kvctl: cleanup')" -eq 1 ]
	[ "$(echo "$output" | paste -sd' ')" = "node1: dropped 0 keys node3: dropped 0 keys" ]
	[[ $stderr == *"node2: polling its cleanup (GET /cluster/nodes): 503 stand-in is sick"* ]]
}

@test "status counts in the singular: one key is '1 copy on 1 member (about 1 key ...)'" {
	start_node solo
	[ "$(put solo k v)" = 201 ]
	run "$KVCTL" --server "$(url solo)" status
	echo "$output"
	[ "$status" -eq 0 ]
	echo "$output" | grep -qx 'keys          1 copy on 1 member (about 1 key at N=1)'
}

@test "a node that cannot write says so: /health and /ready name its storage, /metrics kvd_wal_disk_full and kvd_wal_failed, kvctl health exits 5, kvctl status warns" {
	local n
	KVD_FAILPOINTS=wal-write-enospc@1+ start_node full
	KVD_FAILPOINTS=wal-fsync-eio@1+ start_node failed
	start_node fine
	[ "$(put full k v)" = 503 ]
	[ "$(put failed k v)" = 503 ]
	[ "$(put fine k v)" = 201 ]
	for n in full failed fine; do
		curl -s "$(url $n)/health" | jq -c . >"$TMP/$n.health"
		curl -s "$(url $n)/metrics" >"$TMP/$n.metrics"
		cat "$TMP/$n.health"
		grep '^kvd_wal_\(disk_full\|failed\) ' "$TMP/$n.metrics"
	done
	jq -e '.status == "ok" and .storage == "disk_full"' "$TMP/full.health"
	jq -e '.status == "ok" and .storage == "failed"' "$TMP/failed.health"
	jq -e '.status == "ok" and .storage == "ok"' "$TMP/fine.health"
	grep -qx 'kvd_wal_disk_full 1' "$TMP/full.metrics"
	grep -qx 'kvd_wal_failed 0' "$TMP/full.metrics"
	grep -qx 'kvd_wal_disk_full 0' "$TMP/failed.metrics"
	grep -qx 'kvd_wal_failed 1' "$TMP/failed.metrics"
	grep -qx 'kvd_wal_disk_full 0' "$TMP/fine.metrics"
	grep -qx 'kvd_wal_failed 0' "$TMP/fine.metrics"
	grep -q '^# TYPE kvd_wal_disk_full gauge' "$TMP/fine.metrics"
	# Reads go on: still ready, saying why writes are refused.
	[ "$(curl -s "$(url full)/ready" | jq -c .)" = '{"ready":true,"storage":"disk_full"}' ]
	[ "$(curl -s "$(url fine)/ready" | jq -c .)" = '{"ready":true}' ]
	grep -q 'msg="wal write failed: disk full; writes are refused (503) until there is room for the refused records it keeps (kept_bytes now; each refused write adds its own, up to 16 MiB) and for new ones" .* kept_bytes=[0-9]' "$TMP/full.log"
	run --separate-stderr "$KVCTL" --server "$(url full)" health
	[ "$status" -eq 5 ]
	echo "$output" | jq -e '.storage == "disk_full"'
	[[ $stderr == "kvctl: health: disk_full: disk full, writes refused until space is freed"* ]]
	run --separate-stderr "$KVCTL" --server "$(url failed)" health
	[ "$status" -eq 5 ]
	[[ $stderr == "kvctl: health: failed: storage failed"* ]]
	run --separate-stderr "$KVCTL" --server "$(url fine)" health
	[ "$status" -eq 0 ] && [ -z "$stderr" ]
	run "$KVCTL" --server "$(url full)" status
	[ "$status" -eq 0 ]
	echo "$output"
	echo "$output" | grep -q '^  - full disk full, writes refused until space is freed'
	run "$KVCTL" --server "$(url fine)" status
	[[ $output == *"warnings      none"* ]]
	# Compare-and-swap's own log counts too: its first sync fails (the
	# plain write's was the first of all), the store's log is fine.
	KVD_FAILPOINTS=wal-fsync-eio@2+ start_node casfail --n 1
	[ "$(put casfail k v)" = 201 ]
	[ "$(code -X PUT -H 'If-None-Match: *' -d '{"value":"v"}' \
	    "$(url casfail)/kv/k2")" = 503 ]
	grep -q 'wal fsync failed.*/paxos/' "$TMP/casfail.log"
	! grep -q 'wal fsync failed.*/wal/wal-' "$TMP/casfail.log" || false
	# /health names the log that failed.
	curl -s "$(url casfail)/health" | jq -e '.storage == "ok" and .cas_storage == "failed"'
	curl -s "$(url casfail)/metrics" | grep -qx 'kvd_wal_failed 1'
	run --separate-stderr "$KVCTL" --server "$(url casfail)" health
	[ "$status" -eq 5 ]
	[ "$stderr" = "kvctl: health: cas_storage failed: the compare-and-swap log failed (a write or fsync error), conditional writes refused until kvd is restarted (plain writes go on)" ]
	run "$KVCTL" --server "$(url casfail)" status
	echo "$output"
	echo "$output" | grep -qx '  - casfail the compare-and-swap log failed (a write or fsync error), conditional writes refused until kvd is restarted (plain writes go on)'
	run "$KVCTL" --server "$(url casfail)" status -o json
	echo "$output" | jq -e '.nodes[0] | .storage == "ok" and .cas_storage == "failed"'
}

@test "a node whose two logs both refuse (the store's WAL and the compare-and-swap log): kvctl health and status name each, a line for each, in every output form, and neither says plain writes go on" {
	local st="storage failed (a WAL write or fsync error), writes refused until kvd is restarted"
	local cas="the compare-and-swap log failed (a write or fsync error), conditional writes refused until kvd is restarted"
	# Every sync fails: a conditional write's (its log's), then a plain one's.
	KVD_FAILPOINTS=wal-fsync-eio@1+ start_node both --n 1
	[ "$(code -X PUT -H 'If-None-Match: *' -d '{"value":"v"}' \
	    "$(url both)/kv/c")" = 503 ]
	[ "$(put both k v)" = 503 ]
	curl -s "$(url both)/health" | jq -e '.storage == "failed" and .cas_storage == "failed"'
	local form
	for form in "" "-o table" "--json"; do
		run --separate-stderr "$KVCTL" --server "$(url both)" health $form
		echo "[$form] status $status: $output"
		echo "$stderr"
		[ "$status" -eq 5 ]
		[ "$stderr" = "kvctl: health: failed: $st
kvctl: health: cas_storage failed: $cas" ]
	done
	for form in "" "-o table"; do
		run "$KVCTL" --server "$(url both)" status $form
		echo "[$form] $output"
		[ "$status" -eq 0 ]
		[ "$(grep '^  - both ' <<<"$output")" = "  - both $st
  - both $cas" ]
	done
	run "$KVCTL" --server "$(url both)" status -o json
	echo "$output" | jq -c '.warnings'
	echo "$output" | jq -e --arg st "both $st" --arg cas "both $cas" \
	    '.warnings == [$st, $cas]'
	echo "$output" | jq -e '.nodes[0] | .storage == "failed" and .cas_storage == "failed"'
}

@test "status: no negative age (a member's clock ahead of kvctl's, a kvd from before the ages; a member's own age below 0): 0, never - or -116" {
	local how
	for how in STANDIN_AHEAD STANDIN_NEGAGE; do
		export "$how=node2"
		standin 3
		run "$KVCTL" --server "$SU" status
		echo "[$how] $output"
		[ "$status" -eq 0 ]
		[[ $output == *"anti-entropy  last round 0.0s ago, node2 with node1: ok"* ]]
		[[ $output == *"hints         2 pending (64 B), oldest 0.0s ago"* ]]
		run "$KVCTL" --server "$SU" status -o json
		echo "$output" | jq -e '.anti_entropy.last.age_ms == 0 and .hints.oldest_age_ms == 0'
		unset "$how"
		stop_bg
	done
}

@test "status: strays waiting to be forwarded are a transfer line of their own, or follow a pass that still runs; more than a node lists says it sends every key it does not own" {
	STANDIN_STRAYS="node2 node3" STANDIN_RETRYING=node3 \
	    STANDIN_OVERFLOW=node4 standin 4
	standin_status
	local t
	t=$(echo "$output" | sed -n '/^transfers$/,/^[a-z]/p' | grep '^  ')
	[ "$t" = "  - node1 sending: 6543 keys scanned, 203 sent
  - node2 forwarding: 3 stray keys waiting to go to their owners
  - node3 retrying: 6543 keys scanned, 203 sent; then 3 stray keys waiting to go to their owners
  - node4 forwarding: every key it does not own, more strays than it lists" ]
	run --separate-stderr "$KVCTL" --server "$SU" status -o json
	[ "$(echo "$output" | jq -c '[.transfers[] | [.id, .strays, .strays_overflow]]')" = \
	    '[["node1",0,false],["node2",3,false],["node3",3,false],["node4",0,true]]' ]
	run --separate-stderr "$KVCTL" --server "$SU" cluster nodes -o table
	echo "$output"
	echo "$output" | grep -q '^node2 .*forwarding: 3 stray keys waiting to go to their owners$'
}

@test "hints: a member that does not answer (stopped) is named on stderr within status's 3 s, not 'no hints pending' as if complete; exit 3" {
	STANDIN_HANG=node3 standin 4
	local t0
	t0=$(now_ms)
	# It is status's 3 s that must fire, not --timeout: that is 300 s
	# here, so a kvctl that waited on node3 for it would get node3's
	# answer (after 30 s: the stand-in's hang) and exit 0, or meet the
	# 60 s hang guard.  Its 3 s is a lower bound.
	run --separate-stderr timeout 60 "$KVCTL" --server "$SU" --timeout 300 hints
	echo "rc=$status $(secs "$t0") s [$output] [$stderr]"
	[ "$status" -eq 3 ]
	[ "$(( $(now_ms) - t0 ))" -ge 2500 ]
	[ "$output" = "no hints pending on the 3 of 4 members asked that answered" ]
	[[ $stderr == *"kvctl: hints: node3 (127.0.0.1:"*") did not answer: timed out; the hints it holds are unknown"* ]]
	# Every member answering: complete, exit 0.
	run --separate-stderr "$KVCTL" --server "$SU" hints node2
	[ "$status" -eq 0 ] && [ "$output" = "no hints pending" ]
}

@test "status: a transfer waiting on other senders says so; one running says keys scanned and sent, no ratio; a node that left and retries its handoff is listed, its error naming the receiver" {
	STANDIN_WAITING=node2 STANDIN_RETRYING=node3 STANDIN_GONE=node9 standin 4
	standin_status
	local t
	t=$(echo "$output" | sed -n '/^transfers$/,/^[a-z]/p' | grep '^  ')
	[ "$t" = "  - node1 sending: 6543 keys scanned, 203 sent
  - node2 waiting on 2 senders (its own pass done: 6936 keys scanned, 81 sent)
  - node3 retrying: 6543 keys scanned, 203 sent
  - node4 sending: 6543 keys scanned, 203 sent
  - node9 (left the cluster) retrying: 500 keys scanned, 10 sent; last error to node2: Connection refused" ]
	[[ $output == *"cluster       4 members: 4 up, 0 down"* ]]
	run --separate-stderr "$KVCTL" --server "$SU" status -o json
	echo "$output" | jq -e '.members.total == 4'
	echo "$output" | jq -e '.transfers[] | select(.id == "node2") | .waiting_on == 2 and .member == true'
	echo "$output" | jq -e '.transfers[] | select(.id == "node9") | .member == false and .retrying and .last_error == "to node2: Connection refused"'
	# cluster nodes' TRANSFER column says the same, without the error.
	run --separate-stderr "$KVCTL" --server "$SU" cluster nodes -o table
	echo "$output"
	echo "$output" | grep -q '^node2 .*waiting on 2 senders (its own pass done: 6936 keys scanned, 81 sent)$'
	echo "$output" | grep -q '^node1\* .*sending: 6543 keys scanned, 203 sent$'
}

# kvctl cluster cleanup with one member's placement failing (node3,
# retrying) and another's waiting only on other senders (node2, its own
# pass done): node2 is not waited for once node3 was said, since what it
# waits on will not come; both are named on stderr, node1's line is on
# stdout, exit 3.  timeout 60 is the hang guard.
@test "cluster cleanup: a member waiting on other senders after another's placement failed is named, not waited for; exit 3" {
	STANDIN_WAITING=node2 STANDIN_RETRYING=node3 \
	    STANDIN_PLACING="node2 node3" standin 3
	run --separate-stderr timeout 60 "$KVCTL" --server "$SU" cluster cleanup
	echo "rc=$status [$output] [$stderr]"
	[ "$status" -eq 3 ]
	[ "$output" = "node1: dropped 0 keys" ]
	echo "$stderr" | grep -qx 'kvctl: node3: its cleanup waits until its data is placed for the current members, and that fails (retrying); it begins once that is done (kvctl status shows the transfer)'
	echo "$stderr" | grep -qx 'kvctl: node2: its cleanup waits until its data is placed for the current members: its own pass is done, and it waits on 2 other senders; it begins once they are done (kvctl status shows the transfers)'
}

@test "status right after a join of a node not running: it counts down (summary, warning, -o json, cluster nodes), not up; one not heard from that answers kvctl counts up" {
	STANDIN_UNKNOWN="node3 node4" STANDIN_ABSENT=node4 standin 4
	standin_status
	[[ $output == *"cluster       4 members: 3 up, 1 down   (seen by node1)"* ]]
	echo "$output" | grep -qx '  - node4 down: node1 has had no heartbeat from it yet, and it does not answer kvctl: Connection refused'
	echo "$output" | grep -qx '  - node3 unknown'
	! echo "$output" | grep -q 'fewer live members than N' || false
	run --separate-stderr "$KVCTL" --server "$SU" status -o json
	echo "$output"
	echo "$output" | jq -e '.members == {"total":4,"up":3,"down":1,"down_ids":["node4"],"answered":3}'
	echo "$output" | jq -e '.nodes[] | select(.id == "node4") | .state == "down" and .answered == false and .error == "Connection refused"'
	echo "$output" | jq -e '.nodes[] | select(.id == "node3") | .state == "unknown" and .answered'
	echo "$output" | jq -e '.warnings | any(startswith("node4 down: node1 has had no heartbeat"))'
	run --separate-stderr "$KVCTL" --server "$SU" cluster nodes -o table
	echo "$output"
	echo "$output" | grep -q '^node4  *127\.0\.0\.1:[0-9]*  *down  *-  '
	echo "$output" | grep -q '^node3  *127\.0\.0\.1:[0-9]*  *unknown  '
}

# asked_meeting ARGS...: kvctl ARGS... against a stand-in of 4 members,
# node2..node4 of which answer only once all three were asked (so kvctl
# must ask them all at once): exit 0, nothing on stderr.
asked_meeting() {
	STANDIN_MEET="node2 node3 node4" standin 4
	run --separate-stderr timeout 60 "$KVCTL" --server "$SU" "$@"
	echo "rc=$status [$output] [$stderr]"
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
}

# asked_two_hung ARGS...: kvctl ARGS... against a stand-in of 4 members,
# node4 and node2 of which hang: exit 3; sets hung_said to its stderr
# with each (127.0.0.1:PORT) as (ADDR).
asked_two_hung() {
	STANDIN_HANG="node4 node2" standin 4
	run --separate-stderr timeout 60 "$KVCTL" --server "$SU" "$@"
	echo "rc=$status [$output] [$stderr]"
	[ "$status" -eq 3 ]
	hung_said=$(echo "$stderr" | sed 's/(127\.0\.0\.1:[0-9]*)/(ADDR)/')
}

@test "hints asks the members all at once: three that answer only once all three were asked each answer; several that do not are each named, in order, exit 3" {
	asked_meeting hints
	[ "$(echo "$output" | awk 'NR > 1 { print $1, $2, $4 }')" = "node2 node1 1
node3 node1 1
node4 node1 1" ]
	run --separate-stderr "$KVCTL" --server "$SU" hints -o json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r '[.nodes[].id] | join(",")')" = node1,node2,node3,node4 ]
	stop_bg
	asked_two_hung hints
	[ "$output" = "no hints pending on the 2 of 4 members asked that answered" ]
	[ "$hung_said" = "kvctl: hints: node2 (ADDR) did not answer: timed out; the hints it holds are unknown
kvctl: hints: node4 (ADDR) did not answer: timed out; the hints it holds are unknown" ]
}

@test "status after a join, before cleanup: the key estimate is 'at most about' (old owners keep their copies), and 'about' the true count once cleanup ran; -o json keys.cleanup_pending" {
	local n i
	for n in 1 2 3; do
		start_peer "$n" 3 "$(peers_of "$n" 3)" --anti-entropy-interval 0
	done
	wait_for 10 bash -c "[ \"\$(curl -s $(url node1)/cluster/nodes | jq '[.members[] | select(.state == \"up\")] | length')\" = 3 ]"
	for ((i = 0; i < 90; i++)); do
		[ "$(put node1 "est-$i" "v$i")" = 201 ]
	done
	run "$KVCTL" --server "$(url node1)" status
	echo "$output"
	echo "$output" | grep -qx 'keys          270 copies on 3 members (about 90 keys at N=3)'
	start_peer 4 3 "node1=$(member_addr 1)" --anti-entropy-interval 0
	run "$KVCTL" --server "$(url node1)" cluster join node4 "$(member_addr 4)"
	[ "$status" -eq 0 ]
	settled() {
		local n
		for n in node1 node2 node3 node4; do
			nodes "$n" | jq -e '.transfer.running == false and
			    .transfer.finished_ms > 0' >/dev/null || return 1
		done
	}
	wait_for 30 settled
	run "$KVCTL" --server "$(url node1)" status
	echo "$output"
	local copies
	copies=$(echo "$output" | sed -n 's/^keys  *\([0-9]*\) copies on 4 members .*/\1/p')
	[ "$copies" -gt 270 ]
	echo "$output" | grep -qx "keys          $copies copies on 4 members (at most about $(((copies + 1) / 3)) keys at N=3)"
	echo "$output" | grep -qx "              (old owners keep their copies until 'kvctl cluster cleanup')"
	run "$KVCTL" --server "$(url node1)" status -o json
	echo "$output" | jq -e '.keys.cleanup_pending == true'
	run --separate-stderr timeout 60 "$KVCTL" --server "$(url node1)" cluster cleanup
	[ "$status" -eq 0 ]
	run "$KVCTL" --server "$(url node1)" status
	echo "$output"
	echo "$output" | grep -qx 'keys          270 copies on 4 members (about 90 keys at N=3)'
	! echo "$output" | grep -q 'old owners' || false
	run "$KVCTL" --server "$(url node1)" status -o json
	echo "$output" | jq -e '.keys.cleanup_pending == false'
}

@test "status, hints: a member gossip has down that was never heard from (joined, never started) says so, not 'down for 12s' counted from the join; cluster nodes shows no LAST SEEN for it" {
	STANDIN_NEVER=node4 STANDIN_DOWN=node3 standin 4
	standin_status
	[[ $output == *"cluster       4 members: 2 up, 2 down   (seen by node1)"* ]]
	echo "$output" | grep -qx '  - node3 down for 0.1s'
	echo "$output" | grep -Eqx '  - node4 down: node1 has never heard from it \(not started, or unreachable at 127\.0\.0\.1:[0-9]+\)'
	run --separate-stderr "$KVCTL" --server "$SU" status -o json
	echo "$output" | jq -e '.warnings | any(startswith("node4 down: node1 has never heard from it"))'
	echo "$output" | jq -e '.nodes[] | select(.id == "node4") | .heartbeat_age_ms == null'
	run --separate-stderr "$KVCTL" --server "$SU" hints
	echo "[$output] [$stderr]"
	[ "$(echo "$stderr" | sed 's/127\.0\.0\.1:[0-9]*/ADDR/')" = "kvctl: not asked: node3 down for 0.1s
kvctl: not asked: node4 down: node1 has never heard from it (not started, or unreachable at ADDR)" ]
	run --separate-stderr "$KVCTL" --server "$SU" cluster nodes -o table
	echo "$output"
	echo "$output" | grep -q '^node4  *127\.0\.0\.1:[0-9]*  *down  *-  '
}

@test "hints drop asks the members all at once: three that answer only once all three were asked each drop theirs; two that hang are each named, in order, within one --timeout, exit 3" {
	asked_meeting --timeout 8 hints drop node1 --yes
	[ "$output" = "node1: dropped 1 hint (10 B) for node1
node2: dropped 1 hint (10 B) for node1
node3: dropped 1 hint (10 B) for node1
node4: dropped 1 hint (10 B) for node1" ]
	stop_bg
	asked_two_hung --timeout 3 hints drop node1 --yes
	[ "$output" = "node1: dropped 1 hint (10 B) for node1
node3: dropped 1 hint (10 B) for node1" ]
	[ "$hung_said" = "kvctl: hints drop: node2 (ADDR) did not answer: timed out; the hints it holds for node1 may be kept
kvctl: hints drop: node4 (ADDR) did not answer: timed out; the hints it holds for node1 may be kept" ]
}

@test "hints drop on a terminal: the question names each member its count left out (one down, one that does not answer), so the count is not taken for the total; with all counted it names none" {
	STANDIN_MEET=node2 STANDIN_DOWN=node3 STANDIN_HANG=node4 standin 4
	tty_run "'$KVCTL' --server '$SU' hints drop node1" n
	echo "$output"
	[ "$status" -eq 6 ]
	echo "$output" | grep -qF "Drop 1 hint (10 B) held for node1? They will never be delivered. Members not counted: node3 (down), node4 (did not answer: timed out). [y/N]"
	[[ $output == *"aborted: nothing dropped"* ]]
	stop_bg
	STANDIN_MEET="node2 node3 node4" standin 4
	tty_run "'$KVCTL' --server '$SU' hints drop node1" n
	echo "$output"
	[ "$status" -eq 6 ]
	echo "$output" | grep -qF "Drop 3 hints (30 B) held for node1? They will never be delivered. [y/N]"
}
