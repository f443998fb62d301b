#!/usr/bin/env bats
# test/kvctl_errors.bats -- kvctl's messages a person can act on (issue
# 16, part 4): a server name that does not resolve says so (exit 3),
# failover is quiet unless -v yet every server's error is named when all
# fail, kvd names a member whose address does not resolve, the @@ escape
# of put, --json delete, verify's clean-up (--keep) and its verdict
# when no write was acknowledged, hints drop's exit 3 while a member
# is down, and a server answering no valid HTTP response named with what
# was wrong with it, cluster join and leave naming an unreachable
# server once, load and mput naming its error, and a stdout that cannot
# take the output said so.
#
# Every name that must not resolve ends in .invalid (RFC 6761: never
# resolves); every server is on 127.0.0.1.  teardown kills every node.

load helpers

BATS_TEST_TIMEOUT=${BATS_TEST_TIMEOUT:-90}

setup() {
	setup_n1
}

# kvx ARGS...: kvctl with stdout and stderr apart (rc, out, err).
kvx() {
	run_split 30 "$KVCTL" "$@"
}

@test "a server name that does not resolve says so, and exits 3" {
	kvx get x --server http://nosuchhost.invalid:8080
	echo "$err"
	[ "$rc" -eq 3 ]
	[ -z "$out" ]
	[[ "$err" == *"kvctl: nosuchhost.invalid: name does not resolve ("*")"* ]]
	[[ "$err" != *"No route to host"* ]]
	[[ "$err" == *"kvctl: no server reachable"* ]]
	# With another server that fails otherwise, each is named by its error.
	local dead
	dead=$(closed_port)
	kvx put k v --server "http://nosuchhost.invalid:8080,http://127.0.0.1:$dead"
	echo "$err"
	[ "$rc" -eq 3 ]
	[[ "$err" == *"nosuchhost.invalid: name does not resolve"* ]]
	[[ "$err" == *"http://127.0.0.1:$dead: Connection refused"* ]]
	# verify, too, finds no server: exit 3.
	kvx verify -d 0.2 -c 1 --server http://nosuchhost.invalid:8080
	[ "$rc" -eq 3 ]
}

@test "cluster join and leave with no server reachable name each server's error once, not once for the member lookup before the change too" {
	local dead cmd
	dead=$(closed_port)
	for cmd in "join n4 127.0.0.1:$dead" "leave n4"; do
		kvx cluster $cmd --server "http://127.0.0.1:$dead"
		echo "$err"
		[ "$rc" -eq 3 ]
		[ -z "$out" ]
		[ "$(grep -c "Connection refused" <<<"$err")" -eq 1 ]
		[ "$(grep -c "kvctl: no server reachable" <<<"$err")" -eq 1 ]
	done
}

@test "load and mput with no server reachable name the server's error on each line they fail, not only 'no server reachable'" {
	local dead
	dead=$(closed_port)
	kvx load --server "http://127.0.0.1:$dead" <<<'{"key":"a","value":"b"}'
	echo "$err"
	[ "$rc" -eq 3 ]
	[[ "$err" == *"kvctl: load: line 1: no server reachable (the last: 127.0.0.1:$dead: Connection refused)"* ]]
	kvx mput a 1 b 2 --server "http://127.0.0.1:$dead"
	echo "$err"
	[ "$rc" -eq 3 ]
	[[ "$err" == *"kvctl: a: no server reachable (the last: 127.0.0.1:$dead: Connection refused)"* ]]
	[[ "$err" == *"kvctl: b: no server reachable (the last: 127.0.0.1:$dead: Connection refused)"* ]]
}

@test "stdout that cannot take the output (/dev/full): exit 4, said with the reason on stderr (not with -q), for get, ls, status, mget, bench and --version alike" {
	[ -w /dev/full ] || skip "no /dev/full"
	"$KVCTL" --server "$U" put k v
	local cmd
	# get, ls, mget and bench flush their own output: the reason is the
	# one their flush met.
	for cmd in "get k" "ls" "status" "mget k" "bench -n 10" "--version"; do
		run bash -c "'$KVCTL' --server '$U' $cmd 2>&1 >/dev/full"
		echo "$cmd: $status $output"
		[ "$status" -eq 4 ]
		[ "$output" = "kvctl: cannot write the output to stdout: $(
		    python3 -c 'import os, errno; print(os.strerror(errno.ENOSPC))')" ]
	done
	run bash -c "'$KVCTL' -q --server '$U' get k 2>&1 >/dev/full"
	[ "$status" -eq 4 ]
	[ -z "$output" ]
}

@test "failover is quiet: the dead first server is named only with -v; -v traces mput and load too" {
	local dead
	dead=$(closed_port)
	kvx put fk fv --server "http://127.0.0.1:$dead,$U"
	[ "$rc" -eq 0 ]
	[ -z "$out" ]
	[ -z "$err" ]
	kvx get fk --server "http://127.0.0.1:$dead,$U"
	[ "$rc" -eq 0 ]
	[ "$out" = fv ]
	[ -z "$err" ]
	# A name that does not resolve, first, is skipped as quietly.
	kvx get fk --server "http://nosuchhost.invalid:1,$U"
	[ "$rc" -eq 0 ]
	[ -z "$err" ]
	kvx get fk --server "http://127.0.0.1:$dead,$U" -v
	[ "$rc" -eq 0 ]
	[ "$out" = fv ]
	[[ "$err" == *"kvctl: http://127.0.0.1:$dead: Connection refused"* ]]
	[[ "$err" == *"< HTTP/1.1 200 OK"* ]]
	# -v traces the batches of mput and load too, each exchange whole.
	kvx mput m1 a m2 b -v --server "$U"
	[ "$rc" -eq 0 ]
	[[ "$err" == *"> POST /batch HTTP/1.1"*"< HTTP/1.1 200 OK"* ]]
	echo '{"key":"l1","value":"z"}' >"$TMP/l.jsonl"
	run_split 20 "$KVCTL" load -v --server "$U" <"$TMP/l.jsonl"
	[ "$rc" -eq 0 ]
	[[ "$err" == *"> POST /batch HTTP/1.1"*"< HTTP/1.1 200 OK"* ]]
	# -q stays silent even when every server fails.
	kvx get fk -q --server "http://127.0.0.1:$dead"
	[ "$rc" -eq 3 ]
	[ -z "$err" ]
	# A round of --retry in which none answered says why it is repeated.
	kvx get fk --retry 1 --server "http://127.0.0.1:$dead"
	[ "$rc" -eq 3 ]
	[ "$(printf '%s\n' "$err" | grep -c "127.0.0.1:$dead: Connection refused")" -eq 2 ]
	[[ "$err" == *"retrying in 100 ms"* ]]
}

@test "kvd names a member whose address does not resolve" {
	start_node q1 --peers "q2=nosuchhost.invalid:9999" --n 2 --w 1 --r 1
	wait_for 10 grep -q 'member address does not resolve' "$TMP/q1.log"
	grep 'member address does not resolve' "$TMP/q1.log" |
	    grep 'id=q2 address=nosuchhost.invalid:9999 err='
	# It still serves.
	[ "$(code "$(url q1)/health")" = 200 ]
}

@test "put: @@ stores a value that starts with @, and @ alone is an error" {
	kvx put at @@literal --server "$U"
	[ "$rc" -eq 0 ]
	kvx get at --server "$U"
	[ "$out" = "@literal" ]
	kvx put at @@ --server "$U"
	[ "$rc" -eq 0 ]
	kvx get at --server "$U"
	[ "$out" = "@" ]
	kvx put at @@@x --server "$U"
	kvx get at --server "$U"
	[ "$out" = "@@x" ]
	# @ with no file name: exit 2, a message that shows the escape, and
	# nothing sent.
	kvx put at @ --server "$U"
	[ "$rc" -eq 2 ]
	[ -z "$out" ]
	[[ "$err" == *"'@' needs a file name"*"'@@'"* ]]
	kvx get at --server "$U"
	[ "$out" = "@@x" ]
	# @FILE that cannot be read: exit 2, the message says the value was
	# taken for a file, and how to write a literal '@'.
	kvx put at @no-such-file --server "$U"
	[ "$rc" -eq 2 ]
	[ "$err" = "kvctl: the value @no-such-file reads the file no-such-file: No such file or directory (for a value that starts with '@', double it: '@@x' stores \"@x\")" ]
	# @FILE still reads the file, byte for byte; mput takes @@ too.
	printf 'from\na file' >"$TMP/f"
	kvx put at "@$TMP/f" --server "$U"
	[ "$rc" -eq 0 ]
	timeout 10 "$KVCTL" get at --server "$U" >"$TMP/back"
	cmp "$TMP/f" "$TMP/back"
	kvx mput m1 @@one m2 two --server "$U"
	[ "$rc" -eq 0 ]
	[ "$(c "$U/kv/m1" | jq -r .value)" = "@one" ]
}

@test "--json delete prints the result; without --json delete stays silent" {
	timeout 10 "$KVCTL" put dk v --server "$U"
	kvx --json delete dk --server "$U"
	[ "$rc" -eq 0 ]
	[ -z "$err" ]
	echo "$out" | jq -e '.key == "dk" and .deleted == true'
	[ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ]
	# Keyed like put's answer.
	kvx --json put dk v2 --server "$U"
	echo "$out" | jq -e '.key == "dk"'
	kvx delete dk --server "$U"
	[ "$rc" -eq 0 ]
	[ -z "$out" ] && [ -z "$err" ]
	# Nothing to delete: exit 1 and the server's JSON error.
	kvx --json delete dk --server "$U"
	[ "$rc" -eq 1 ]
	echo "$out" | jq -e '.error | type == "string"'
}

@test "put takes --ttl, --if-match, --create, --r and --w" {
	kvx put pk v1 --ttl 100 --w 1 --r 1 --server "$U" -v
	[ "$rc" -eq 0 ]
	[[ "$err" == *"PUT /kv/pk?r=1&w=1&ttl=100 "* ]]
	kvx put pk v2 --create --server "$U"
	[ "$rc" -eq 4 ]
	[ "$err" = "kvctl: put: 412 key 'pk' exists already (--create writes only a key that does not)" ]
	kvx get pk --etag --server "$U"
	local tag=$err
	kvx put pk v3 --if-match "$tag" --server "$U"
	[ "$rc" -eq 0 ]
	kvx put pk v4 --if-match "$tag" --server "$U"
	[ "$rc" -eq 4 ]
	kvx put pk2 v --create --server "$U"
	[ "$rc" -eq 0 ]
	for f in --ttl --if-match --create --r --w; do
		"$KVCTL" help put | grep -q -- "$f" ||
		    { echo "help put lacks $f"; false; }
	done
}

# keys PREFIX: how many keys start with PREFIX.
keys() {
	timeout 20 "$KVCTL" ls "$1" --server "$U" | wc -l
}

@test "verify deletes the keys it wrote, and only those; --keep leaves them" {
	timeout 10 "$KVCTL" put vc-mine keep-me --server "$U"
	kvx verify -d 1 -c 2 --prefix vc --server "$U"
	echo "$out"
	[ "$rc" -eq 0 ]
	[[ "$out" == *"OK: no acknowledged write lost"* ]]
	local acked
	acked=$(field acknowledged "$TMP/stdout")
	[ "$acked" -gt 0 ]
	[[ "$out" == *"cleanup         $acked keys deleted"* ]]
	[[ "$err" == *"verify: deleting the $acked keys it wrote"* ]]
	# Only the user's key that shares the prefix is left.
	[ "$(keys vc)" -eq 1 ]
	[ "$(timeout 10 "$KVCTL" get vc-mine --server "$U")" = keep-me ]
	# --json reports the clean-up; set mode cleans its sets too.
	kvx --json verify -d 1 -c 2 --mode set --prefix vs --server "$U"
	[ "$rc" -eq 0 ]
	echo "$out" | jq -e '.ok and .nothing_checked == false and
	    .cleanup.keys == 32 and .cleanup.deleted == 32 and
	    .cleanup.failed == 0 and .cleanup.error == null'
	[ "$(keys vs)" -eq 0 ]
	# --keep: every acknowledged key is still there.
	kvx verify -d 1 -c 2 --prefix vk --keep --server "$U"
	[ "$rc" -eq 0 ]
	[[ "$out" == *"cleanup         none (--keep)"* ]]
	[[ "$err" != *"deleting"* ]]
	[ "$(keys vk)" -eq "$(field acknowledged "$TMP/stdout")" ]
	kvx --json verify -d 0.5 -c 1 --prefix vj --keep --server "$U"
	echo "$out" | jq -e '.ok and .cleanup == null'
}

@test "verify: a clean-up that fails is reported and leaves the verdict alone" {
	# A --max-body that takes every PUT of verify but not a batch of its
	# deletes (long keys): the clean-up's POST /batch gets 413.
	start_node small --max-body 4096
	local p
	p=$(printf 'p%.0s' $(seq 1 300))
	kvx verify -d 1 -c 2 --prefix "$p" --server "$(url small)"
	echo "$out"
	echo "$err"
	[ "$rc" -eq 0 ]
	[[ "$out" == *"OK: no acknowledged write lost"* ]]
	# Every full batch of 1000 deletes is refused; a last one of a few
	# keys may fit under --max-body and be deleted.
	[[ "$out" == *"cleanup         "*" keys deleted, "*" not ("*"HTTP 413)"* ]]
	[[ "$err" == *"of its keys were not deleted"*"the verdict stands"* ]]
}

@test "verify with no acknowledged write checked nothing: FAILED, exit 1" {
	# Values above the node's --max-body: every PUT is refused (413).
	start_node tiny --max-body 64
	U=$(url tiny)
	kvx verify -d 0.5 -c 1 --size 200 --prefix none --server "$U"
	echo "$out"
	[ "$rc" -eq 1 ]
	[ "$(field acknowledged "$TMP/stdout")" -eq 0 ]
	[[ "$out" == *"FAILED: no write was acknowledged, so nothing was checked"* ]]
	[[ "$out" != *"OK"* ]]
	[[ "$err" == *"no write was acknowledged"* ]]
	kvx --json verify -d 0.5 -c 1 --size 200 --mode set --server "$U"
	[ "$rc" -eq 1 ]
	echo "$out" | jq -e '.ok == false and .nothing_checked == true and
	    .acknowledged == 0 and .lost == 0'
}

# node3_down: node1 sees node3 down.
node3_down() {
	[ "$(nodes node1 | jq -r '.members[] | select(.id == "node3") | .state')" = down ]
}

@test "hints drop with a member down: the others drop theirs, exit 3, as documented" {
	pick_ports 3
	local n
	for n in 1 2 3; do
		start_peer "$n" 3 "" --anti-entropy-interval 0
	done
	kill_node node3
	wait_for 10 node3_down
	# node3 may hold hints for node2: not complete, so exit 3 (not 0),
	# after node1 and node2 answered; node3 is named.
	kvx hints drop node2 --yes --server "$(url node1)"
	echo "rc=$rc out=$out err=$err"
	[ "$rc" -eq 3 ]
	[[ "$out" == *"node1: dropped "*"for node2"* ]]
	[[ "$out" == *"node2: holds no hints for itself"* ]]
	[[ "$err" == *"kvctl: node3 is down: hints it holds for node2 are kept"* ]]
	kvx --json hints drop node2 --yes --server "$(url node1)"
	[ "$rc" -eq 3 ]
	echo "$out" | jq -e '.owner == "node2" and
	    ([.nodes[].id] | sort) == ["node1", "node2"]'
	# node3 holds none for itself: dropping its own hints is complete.
	kvx hints drop node3 --yes --server "$(url node1)"
	[ "$rc" -eq 0 ]
	# What kvctl help, kvctl --help and README say.
	kvx help hints
	[[ "$out" == *"exit 3 when a member"*"down"* ]]
	kvx --help
	[[ "$out" == *"(hints drop: a member down or not answering)"* ]]
	grep -q '^| 3 | .*`hints drop`, also a member down' "$ROOT/README.md"
}

@test "hints drop OWNER: OWNER up holds none for itself, and says so once; OWNER not answering is no failure, exit 0" {
	pick_ports 3
	local n
	# Gossip every 2 s: node3 is not seen down for seconds after its end.
	for n in 1 2 3; do
		start_peer "$n" 3 "" --anti-entropy-interval 0 \
		    --gossip-interval-ms 2000
	done
	wait_for 20 ready node1 node2 node3
	# Up, node3 answers that it dropped nothing: said as what it is, not
	# "node3: dropped 0 hints (0 B) for node3".
	kvx hints drop node3 --yes --server "$(url node1)"
	echo "rc=$rc out=$out err=$err"
	[ "$rc" -eq 0 ]
	[ "$out" = "node1: dropped 0 hints (0 B) for node3
node2: dropped 0 hints (0 B) for node3
node3: holds no hints for itself" ]
	[ -z "$err" ]
	kill_node node3
	kvx hints drop node3 --yes --server "$(url node1)"
	echo "rc=$rc out=$out err=$err"
	# The case at hand: node3 refused the call, not skipped as down.
	[ "$(nodes node1 | jq -r '.members[] | select(.id == "node3") | .state')" != down ]
	[ "$rc" -eq 0 ]
	[[ "$out" == *"node1: dropped "*"for node3"* ]]
	[[ "$out" == *"node2: dropped "*"for node3"* ]]
	[[ "$err" != *"Connection refused"* ]]
	[[ "$err" == *"kvctl: node3 did not answer (it holds no hints for itself)"* ]]
	kvx -q hints drop node3 --yes --server "$(url node1)"
	[ "$rc" -eq 0 ]
	[ -z "$err" ]
	# Another member not answering still makes it exit 3.
	kvx hints drop node2 --yes --server "$(url node1)"
	echo "rc=$rc out=$out err=$err"
	[ "$rc" -eq 3 ]
	[[ "$err" == *"Connection refused"* || "$err" == *"node3 is down"* ]]
}

@test "a server that answers no valid HTTP response is named with what was wrong, not \"Protocol error\"" {
	local r g
	for r in \
	    'HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n{}|bad response: Content-Length not a number' \
	    'SSH-2.0-OpenSSH_9.2\r\n|bad response: not an HTTP/1.x status line' \
	    'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}|bad response: Content-Length given twice' \
	    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n|bad response: bad chunk size' \
	    'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort|connection closed before the response body ended' \
	    'HTTP/1.1 200 OK\r\nContent-|connection closed in the middle of a response head'; do
		garbage_server "${r%%|*}"
		g=$(url garbage)
		kvx get k --server "$g"
		echo "$err"
		[ "$rc" -eq 3 ]
		[ -z "$out" ]
		[[ "$err" == *"kvctl: $g: ${r#*|}"* ]]
		[[ "$err" != *"Protocol error"* ]]
		stop_bg
	done
	# Failover past such a server stays quiet, as past a dead one.
	garbage_server 'SSH-2.0-OpenSSH_9.2\r\n'
	[ "$(put n1 gk gv)" = 201 ]
	kvx get gk --server "$(url garbage),$U"
	[ "$rc" -eq 0 ]
	[ "$out" = gv ]
	[ -z "$err" ]
	# An admin route's caller names it the same way.
	kvx hints "127.0.0.1:$(port_of garbage)" --server "$(url garbage)"
	echo "$err"
	[[ "$err" == *"bad response: not an HTTP/1.x status line"* ]]
}

@test "failover from a hung first server (SIGSTOP: its connect succeeds) once its /health does not answer either, not after --timeout; a slow answer of a live server (a watch) is waited for" {
	start_node n2
	local U2 p
	U2=$(url n2)
	[ "$(put n2 hk from-n2)" = 201 ]
	[ "$(put n1 hk from-n1)" = 201 ]
	# A watch through n1 (n2 after it) waits past the check: n1's
	# /health answers, so its long poll stays there and sees n1's write.
	timeout 60 "$KVCTL" watch hk --timeout 60 --server "$U,$U2" \
	    >"$TMP/watch.out" 2>"$TMP/watch.err" 3>&- &
	BG+=($!)
	wait_for 20 grep -qx from-n1 "$TMP/watch.out"
	sleep 4		# the check runs after 1 s, again after 2 s more
	[ "$(put n1 hk n1-again)" = 200 ]
	wait_for 20 grep -qx n1-again "$TMP/watch.out"
	stop_bg
	# n1 stopped: the kernel still accepts connections to it.  With
	# --timeout 60 kvctl would wait a minute for n1; it asks n2 once
	# n1's /health does not answer (1 s + 2 s), well within 40 s.
	p=$(pid_of n1)
	kill -STOP "$p"
	kvx get hk -v --timeout 60 --server "$U,$U2"
	echo "rc=$rc out=$out err=$err"
	[ "$rc" -eq 0 ]
	[ "$out" = from-n2 ]
	[[ "$err" == *"$U: hung: no answer begun, and /health on a new connection did not answer either"* ]]
	kvx put hk2 v --timeout 60 --server "$U,$U2"
	[ "$rc" -eq 0 ] && [ -z "$err" ]
	[ "$(c "$U2/kv/hk2" | jq -r .value)" = v ]
	# load fails over the same way.
	printf '{"key":"l%d","value":"v"}\n' 1 2 3 4 5 6 7 8 >"$TMP/lines"
	run_split 40 "$KVCTL" load --parallel 2 --timeout 60 --server "$U,$U2" <"$TMP/lines"
	echo "rc=$rc out=$out err=$err"
	[ "$rc" -eq 0 ]
	[ "$out" = "lines 8, written 8, unchanged 0, expired 0, failed 0" ]
	# The last server of the list (or the only one) is waited for, to
	# --timeout.
	kvx get hk --timeout 2 --server "$U"
	[ "$rc" -eq 3 ]
	[[ "$err" == *"$U: timed out"* ]]
	kill -CONT "$p"
}

# silent_server: the stand-in "silent", on 127.0.0.1, accepts every
# connection and never answers: a hung server, as a stopped kvd is.
silent_server() {
	start_standin silent <<'PY'
import sys, standin
standin.serve_silence(sys.argv[1])
PY
}

# hosts_named HOSTPORT: how many requests the -v trace in $err sent there.
hosts_named() {
	grep -c "^> Host: $1\$" <<<"$err" || true
}

@test "a hung server is asked once in a command, not once per request: ls's pages and delete --prefix's requests go to the live one after it" {
	silent_server
	local H hp
	H=$(url silent)
	hp="127.0.0.1:$(port_of silent)"
	awk 'BEGIN { for (i = 0; i < 10001; i++)
	    printf "{\"key\":\"pg/%05d\",\"value\":\"v\"}\n", i }' >"$TMP/lines"
	run_split 120 "$KVCTL" load --server "$U" <"$TMP/lines"
	[ "$rc" -eq 0 ]
	# Three pages of 5000 keys: the hung server is asked for the first
	# only (about 3 s: no answer, nor to /health), n1 for all three.
	run_split 120 "$KVCTL" ls pg/ -v --timeout 60 --server "$H,$U"
	echo "rc=$rc err=$(grep -v '^[<>]' <<<"$err")"
	[ "$rc" -eq 0 ]
	[ "$(wc -l <<<"$out")" -eq 10001 ]
	[ "$(grep -c '^> GET /kv?prefix=' <<<"$err")" -eq 4 ]
	[ "$(hosts_named "$hp")" -eq 1 ]
	[ "$(grep -c "$H: hung: no answer begun" <<<"$err")" -eq 1 ]
	# delete --prefix: a count, a page and a batch of deletes, one ask
	# of the hung server among them.
	for k in d/1 d/2 d/3; do
		[ "$(put n1 "$k" v)" = 201 ]
	done
	run_split 120 "$KVCTL" delete --prefix d/ --yes -v --timeout 60 \
	    --server "$H,$U"
	echo "rc=$rc err=$(grep -v '^[<>]' <<<"$err")"
	[ "$rc" -eq 0 ]
	[ "$(hosts_named "$hp")" -eq 1 ]
	[ "$(code "$U/kv/d/2")" = 404 ]
}

# plain_server: the stand-in "plain", on 127.0.0.1, some other HTTP
# server: Python's file server on $TMP/www (a 404 page for a file not
# there, 501 to a PUT or POST).
plain_server() {
	mkdir -p "$TMP/www"
	start_standin plain "$TMP/www" <<'PY'
import sys, standin
standin.serve_plain(sys.argv[1], sys.argv[2])
PY
}

@test "a server that is some other HTTP server is said to be no kvd (exit 3), not read as kvd's 404 or 501; the next server is asked" {
	plain_server
	local P hp
	P=$(url plain)
	hp="127.0.0.1:$(port_of plain)"
	kvx get user/1 --server "$P"
	echo "rc=$rc err=$err"
	[ "$rc" -eq 3 ] && [ -z "$out" ]
	[[ "$err" == *"kvctl: $hp is not a kvd server (404 File not found, text/html)"* ]]
	[[ "$err" == *"kvctl: no server reachable"* ]]
	kvx put user/1 v --server "$P"
	echo "rc=$rc err=$err"
	[ "$rc" -eq 3 ]
	[[ "$err" == *"kvctl: $hp is not a kvd server (501 Unsupported method ('PUT'), text/html)"* ]]
	kvx ls --server "$P"
	echo "rc=$rc err=$err"
	[ "$rc" -eq 3 ] && [ -z "$out" ]
	[[ "$err" == *"$hp is not a kvd server (404 "* ]]
	kvx mput user/1 v --server "$P"
	echo "rc=$rc err=$err"
	[ "$rc" -eq 3 ]
	[[ "$err" == *"kvctl: $hp is not a kvd server (501 "* ]]
	# With a kvd after it, the kvd answers, quietly as after a dead one.
	kvx put user/1 v1 --server "$P,$U"
	[ "$rc" -eq 0 ] && [ -z "$err" ]
	kvx get user/1 --server "$P,$U"
	[ "$rc" -eq 0 ] && [ "$out" = v1 ] && [ -z "$err" ]
	kvx ls user/ --server "$P,$U"
	[ "$rc" -eq 0 ] && [ "$out" = user/1 ]
	# mput's batch goes on to the kvd too.
	kvx mput user/2 v2 user/3 v3 --server "$P,$U"
	echo "rc=$rc err=$err"
	[ "$rc" -eq 0 ]
	[ "$(c "$U/kv/user/3" | jq -r .value)" = v3 ]
	# kvd's own errors are still its own: a missing key is exit 1.
	kvx get nosuch --server "$P,$U"
	[ "$rc" -eq 1 ] && [[ "$err" == *"404"* ]]
}

@test "verify through some other HTTP server, a refused and a hung one: no write is lost for their answers; each is named; none kvd is exit 3" {
	plain_server
	silent_server
	local P hp H hh dead
	P=$(url plain)
	hp="127.0.0.1:$(port_of plain)"
	H=$(url silent)
	hh="127.0.0.1:$(port_of silent)"
	dead=$(closed_port)
	# The file server's 404 to a read-back is no lost write, nor its 501
	# an unknown outcome of one: n1 answers for it.
	run_split 120 "$KVCTL" verify -d 1 -c 2 --read-r 1 --server "$P,$U"
	echo "rc=$rc out=$out err=$err"
	[ "$rc" -eq 0 ]
	[ "$(field lost "$TMP/stdout")" -eq 0 ]
	[[ "$out" == *"OK: no acknowledged write lost"* ]]
	[[ "$err" == *"kvctl: $hp is not a kvd server (404 File not found, text/html)"* ]]
	# None is kvd: exit 3, as a server that does not answer.
	run_split 60 "$KVCTL" verify -d 0.5 -c 1 --server "$P"
	echo "rc=$rc out=$out err=$err"
	[ "$rc" -eq 3 ] && [ -z "$out" ]
	[[ "$err" == *"kvctl: $hp is not a kvd server (404 "* ]]
	[[ "$err" == *"kvctl verify: no server reachable"* ]]
	# A refused and a hung server before n1: named, and the run passes.
	run_split 120 "$KVCTL" verify -d 1 -c 2 --read-r 1 --timeout 5 \
	    --server "http://127.0.0.1:$dead,$H,$U"
	echo "rc=$rc out=$out err=$err"
	[ "$rc" -eq 0 ]
	[ "$(field lost "$TMP/stdout")" -eq 0 ]
	[[ "$err" == *"kvctl: 127.0.0.1:$dead: Connection refused"* ]]
	[[ "$err" == *"kvctl: $hh: timed out"* ]]
}

@test "bench through some other HTTP server or a refused one before n1: each is named, its connections move to n1; none kvd is exit 3, not misses" {
	plain_server
	local P hp dead
	P=$(url plain)
	hp="127.0.0.1:$(port_of plain)"
	dead=$(closed_port)
	# Two connections on each; one error for each of theirs, then n1.
	run_split 120 "$KVCTL" bench -c 4 -d 1 --json \
	    --server "$P,http://127.0.0.1:$dead,$U"
	echo "rc=$rc out=$out err=$err"
	[ "$rc" -eq 0 ]
	jq -e '.misses > 0 and .transport.protocol >= 1 and
	    .transport.protocol <= 2 and .transport.refused >= 1 and
	    .transport.refused <= 2' <<<"$out"
	[[ "$err" == *"kvctl: $hp is not a kvd server (404 File not found, text/html)"* ]]
	[[ "$err" == *"kvctl: 127.0.0.1:$dead: Connection refused"* ]]
	# The file server alone: its 404 pages are no misses; exit 3.
	run_split 60 "$KVCTL" bench -c 2 -n 20 --json --server "$P"
	echo "rc=$rc out=$out err=$err"
	[ "$rc" -eq 3 ]
	jq -e '.misses == 0 and .ok == 0 and .transport.protocol == 20' <<<"$out"
	[[ "$err" == *"kvctl: $hp is not a kvd server (404 "* ]]
	[[ "$err" == *"kvctl bench: no server reachable"* ]]
}

@test "a 200 that is not kvd's (a page where kvd answers a value or JSON) is said to be no kvd; kvd's raw bytes still print" {
	plain_server
	local P hp
	P=$(url plain)
	hp="127.0.0.1:$(port_of plain)"
	mkdir -p "$TMP/www/kv"
	echo '<html>a page</html>' >"$TMP/www/kv/page.html"
	echo 'up' >"$TMP/www/health"
	# An HTML page for a value that get asked the raw bytes of.
	kvx get page.html --server "$P"
	echo "rc=$rc out=$out err=$err"
	[ "$rc" -eq 3 ] && [ -z "$out" ]
	[[ "$err" == *"kvctl: $hp is not a kvd server (200 OK, text/html)"* ]]
	# Bytes where kvd answers JSON (health).
	kvx health --server "$P"
	echo "rc=$rc out=$out err=$err"
	[ "$rc" -eq 3 ] && [ -z "$out" ]
	[[ "$err" == *"kvctl: $hp is not a kvd server (200 OK, application/octet-stream)"* ]]
	# With n1 after it, n1 answers: its "not found", its health.
	kvx get page.html --server "$P,$U"
	[ "$rc" -eq 1 ] && [[ "$err" == *"404"* ]]
	kvx health --server "$P,$U"
	[ "$rc" -eq 0 ] && [ "$(jq -r .status <<<"$out")" = ok ]
	# A binary value still comes back byte for byte, as octet-stream.
	printf 'a\000b\377' >"$TMP/bin"
	kvx put bin "@$TMP/bin" --server "$U"
	[ "$rc" -eq 0 ]
	timeout 10 "$KVCTL" get bin --server "$P,$U" >"$TMP/bin.back"
	cmp "$TMP/bin" "$TMP/bin.back"
	rm -r "$TMP/www/kv" "$TMP/www/health"
}
