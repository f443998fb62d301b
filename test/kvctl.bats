#!/usr/bin/env bats
# test/kvctl.bats -- the kvctl command line: every exit status (0 ok,
# 1 not found, 2 usage, 3 unreachable or timed out, 4 client error,
# 5 server error), where messages go, --help and --version.

load helpers

setup() {
	setup_n1
}

# kvx ARGS...: runs kvctl with stdout and stderr kept apart; sets
# rc, out (stdout) and err (stderr).
kvx() {
	run_split 20 "$KVCTL" "$@"
}

# stub MODE: a one-connection-at-a-time fake server in the background
# (its pid file makes teardown kill it).  MODE silent accepts and never
# answers; MODE 500 answers every request with a 500.  Sets STUB_PORT.
stub() {
	rm -f "$TMP/stub.port"
	python3 -c '
import socket, sys, time
mode, pf = sys.argv[1], sys.argv[2]
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", 0)); l.listen(8)
open(pf + ".tmp", "w").write(str(l.getsockname()[1]))
import os; os.rename(pf + ".tmp", pf)
held = []
end = time.time() + 30
while time.time() < end:
    c, _ = l.accept()
    if mode == "silent":
        held.append(c); continue
    c.settimeout(5)
    d = b""
    while b"\r\n\r\n" not in d:
        b = c.recv(65536)
        if not b: break
        d += b
    body = b"{\"error\":\"internal\"}\n"
    c.sendall(b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
    c.close()
' "$1" "$TMP/stub.port" 3>&- &
	echo $! >"$TMP/stub.pid"
	local i
	for i in $(seq 1 100); do
		[ -s "$TMP/stub.port" ] && break
		sleep 0.05
	done
	STUB_PORT=$(cat "$TMP/stub.port")
}

@test "exit 0: put, get, delete, health" {
	kvx put k v --server "$U"
	[ "$rc" -eq 0 ]
	[ -z "$out" ] && [ -z "$err" ]
	kvx get k --server "$U"
	[ "$rc" -eq 0 ]
	[ "$out" = v ] && [ -z "$err" ]
	kvx health --server "$U"
	[ "$rc" -eq 0 ]
	echo "$out" | jq -e '.status == "ok"'
	# -o table: a table of the same answer, not its JSON.
	kvx health -o table --server "$U"
	echo "$out"
	[ "$rc" -eq 0 ] && [ -z "$err" ]
	[ "$(wc -l <<<"$out")" -eq 2 ]
	[[ "$(head -1 <<<"$out")" == "ID"*"STATUS"*"STORAGE"*"CAS STORAGE"*"UPTIME" ]]
	[[ "$(tail -1 <<<"$out")" =~ ^n1\ +ok\ +ok\ +ok\ +[0-9.]+[smhd]$ ]]
	kvx delete k --server "$U"
	[ "$rc" -eq 0 ]
	[ -z "$out" ] && [ -z "$err" ]
}

@test "exit 1: get and delete of a missing key, message on stderr only" {
	kvx get nokey --server "$U"
	[ "$rc" -eq 1 ]
	[ -z "$out" ]
	[[ "$err" == *404* ]]
	kvx delete nokey --server "$U"
	[ "$rc" -eq 1 ]
	[ -z "$out" ]
	[ -n "$err" ]
	timeout 10 "$KVCTL" put gone v --server "$U"
	timeout 10 "$KVCTL" delete gone --server "$U"
	kvx get gone --server "$U"
	[ "$rc" -eq 1 ]
}

@test "exit 2: usage errors, with a message on stderr and nothing on stdout" {
	cases=(
		""
		"frobnicate"
		"--no-such-flag get k"
		"get"
		"get a b"
		"put k"
		"put k v extra"
		"delete"
		"health extra"
		"--timeout get k"
		"--timeout 0 get k"
		"--timeout abc get k"
		"--timeout -1 get k"
		"get k --server"
		"cluster"
		"cluster frob"
	)
	for c in "${cases[@]}"; do
		# shellcheck disable=SC2086
		kvx $c
		[ "$rc" -eq 2 ] || { echo "[$c] exit $rc"; false; }
		[ -z "$out" ] || { echo "[$c] stdout: $out"; false; }
		[[ "$err" == kvctl:* ]] || { echo "[$c] stderr: $err"; false; }
	done
	# an empty key, a malformed server URL, an unreadable @FILE
	kvx get "" --server "$U"
	[ "$rc" -eq 2 ] && [ -n "$err" ]
	kvx put "" v --server "$U"
	[ "$rc" -eq 2 ] && [ -n "$err" ]
	kvx get k --server "https://127.0.0.1:1"
	[ "$rc" -eq 2 ] && [ -n "$err" ]
	kvx get k --server "http://127.0.0.1:1/path"
	[ "$rc" -eq 2 ] && [ -n "$err" ]
	kvx put k @"$TMP/does-not-exist" --server "$U"
	[ "$rc" -eq 2 ]
	[[ "$err" == *does-not-exist* ]]
	# none of these reached the server
	kvx get k --server "$U"
	[ "$rc" -eq 1 ]
}

@test "exit 2: an option that needs a value refuses another kvctl option in its place, naming both; NAME=VALUE carries any value" {
	kvx put k v --if-match --server "$U"
	echo "$err"
	[ "$rc" -eq 2 ] && [ -z "$out" ]
	[[ "$err" == *"kvctl: --if-match needs a value, but the option '--server' follows it (--if-match=--server gives that as the value)"* ]]
	[[ "$err" != *"unexpected argument"* ]]
	# -o too, and an option written NAME=VALUE; at the end, as before.
	kvx health -o --server="$U"
	[ "$rc" -eq 2 ]
	[[ "$err" == *"kvctl: -o needs a value, but the option '--server=$U' follows it"* ]]
	kvx put k v --server "$U" --if-match
	[ "$rc" -eq 2 ]
	[[ "$err" == *"kvctl: --if-match needs a value"$'\n'* ]]
	# bench's and verify's options, by the same rule.
	kvx bench --server "$U" --size --raw
	[ "$rc" -eq 2 ]
	[[ "$err" == *"kvctl bench: --size needs a value, but the option '--raw' follows it"* ]]
	kvx verify --server "$U" --prefix --keep
	[ "$rc" -eq 2 ]
	[[ "$err" == *"kvctl verify: --prefix needs a value, but the option '--keep' follows it"* ]]
	# None of these wrote anything.
	kvx get k --server "$U"
	[ "$rc" -eq 1 ]
	# NAME=VALUE carries it: the ETag goes to the server, which has no k.
	kvx put k v --server "$U" --if-match=--server
	[ "$rc" -eq 4 ]
	[[ "$err" == *"412 precondition failed"* ]]
	# A value that is no kvctl option is read as before.
	kvx delete --server "$U" --prefix --nosuch --yes
	echo "rc=$rc err=$err"
	[ "$rc" -eq 0 ]
}

@test "exit 2: every long option kvctl's help names is one that a value-taking option refuses in its place (kvctl.c's longs[])" {
	local o opts
	opts=$( { "$KVCTL" --help; "$KVCTL" bench --help; "$KVCTL" verify --help; } 2>&1 |
	    grep -oE -- '--[a-z][a-z-]+' | sort -u)
	[ "$(echo "$opts" | wc -l)" -ge 20 ]
	for o in $opts; do
		case "$o" in --help | --version) continue ;; esac	# they win
		kvx get k --server http://127.0.0.1:1 --timeout "$o"
		[[ "$err" == *"--timeout needs a value, but the option '$o' follows it"* ]] ||
		    { echo "$o: rc=$rc err=$err"; return 1; }
	done
}

@test "exit 2: a bad KVCTL_ boolean is named, never read as off; empty is unset" {
	local var v
	for var in KVCTL_JSON KVCTL_QUIET KVCTL_VERBOSE; do
		for v in maybe 2 on TRUE Yes " 1"; do
			run_split 20 env "$var=$v" "$KVCTL" put bk v --server "$U"
			echo "[$var=$v] rc=$rc err=$err"
			[ "$rc" -eq 2 ]
			[ -z "$out" ]
			[[ "$err" == *"bad $var '$v'"* ]]
		done
	done
	# None of them was sent.
	kvx get bk --server "$U"
	[ "$rc" -eq 1 ]
	# What kvd takes for a boolean (KVD_REQUEST_LOG=maybe is its exit 2).
	timeout 10 "$KVCTL" put bk v --server "$U"
	for v in 1 true yes; do
		run_split 20 env "KVCTL_JSON=$v" "$KVCTL" get bk --server "$U"
		[ "$rc" -eq 0 ]
		echo "$out" | jq -e '.value == "v"'
	done
	for v in 0 false no ""; do
		run_split 20 env "KVCTL_JSON=$v" "$KVCTL" get bk --server "$U"
		[ "$rc" -eq 0 ]
		[ "$out" = v ]
	done
	run_split 20 env KVCTL_QUIET=true "$KVCTL" get nokey --server "$U"
	[ "$rc" -eq 1 ] && [ -z "$err" ]
	run_split 20 env KVCTL_QUIET=0 "$KVCTL" get nokey --server "$U"
	[ "$rc" -eq 1 ] && [[ "$err" == *404* ]]
	# A flag still wins over its variable.
	run_split 20 env KVCTL_JSON=1 "$KVCTL" get bk -o table --server "$U"
	[ "$out" = v ]
	run_split 10 env KVD_REQUEST_LOG=maybe "$KVD" --id x --data-dir "$TMP/x"
	[ "$rc" -eq 2 ]
	[[ "$err" == *"bad KVD_REQUEST_LOG 'maybe'"* ]]
}

@test "help answers whatever the KVCTL_ variables hold; a command that runs exits 2 on a bad one" {
	local bad=(KVCTL_JSON=maybe KVCTL_QUIET=2 KVCTL_TIMEOUT=x KVCTL_RETRY=-1)
	local a b
	for a in --help -h help "help get" "help delete" "get --help" \
	    "delete k -h" "bench --help" "verify -h" --version; do
		for b in "${bad[@]}"; do
			# shellcheck disable=SC2086  # a is words
			run_split 20 env "$b" "$KVCTL" $a
			echo "[$b kvctl $a] rc=$rc err=$err"
			[ "$rc" -eq 0 ]
			[ -n "$out" ]
			[ -z "$err" ]
		done
	done
	# Every command that runs says which variable is bad, and sends nothing.
	for a in "put hk v" "get hk" "delete hk" "delete --prefix h --yes" \
	    "incr hk" "ls" "dump" "load" "mget hk" "mput hk v" "watch hk" \
	    health status hints "hints drop n2 --yes" repair "cluster nodes" \
	    "verify -d 0.2 -c 1" "bench -d 0.2 -c 1"; do
		# shellcheck disable=SC2086
		run_split 20 env KVCTL_RETRY=x "$KVCTL" $a --server "$U" </dev/null
		echo "[kvctl $a] rc=$rc err=$err"
		[ "$rc" -eq 2 ]
		[ -z "$out" ]
		[[ "$err" == *"bad KVCTL_RETRY 'x'"* ]]
	done
	kvx ls --server "$U"
	[ "$rc" -eq 0 ] && [ -z "$out" ]
}

@test "help answers whatever flags for commands the line holds; the command still refuses them" {
	local a
	for a in "help --ttl 5" "help put --ttl 5" "help get --if-match x" \
	    "help --prefix p --yes" "help ls --all" "help --limit 2 --etag" \
	    "help --create --serial --parallel 4" "help delete --if-match e --all"; do
		# shellcheck disable=SC2086  # a is words
		run_split 20 "$KVCTL" $a
		echo "[kvctl $a] rc=$rc err=$err"
		[ "$rc" -eq 0 ]
		[[ "$out" == "usage: "* ]]
		[ -z "$err" ]
	done
	kvx help get --ttl 5
	[[ "$out" == "usage: kvctl get KEY"* ]]
	# A command that would ignore it still refuses it, once.
	kvx get k --ttl 5 --server "$U"
	[ "$rc" -eq 2 ] && [ -z "$out" ]
	[ "$(printf '%s\n' "$err" | grep -c 'goes with')" -eq 1 ]
	[[ "$err" == *"--ttl goes with put, mput and incr only"* ]]
	# A flag kvctl does not know is still refused, after help too.
	kvx help --bogus
	[ "$rc" -eq 2 ]
	[[ "$err" == *"unknown flag '--bogus'"* ]]
}

@test "--r and --w go with the commands that send them: elsewhere exit 2 before any request" {
	local a
	# $U answers: a refused flag must not reach it (nothing is written).
	for a in "get k --w 2" "mget k --w 2" "watch k --w 1" "ls --w 2" \
	    "incr k --r 2" "health --r 1" "status --w 1" "bench --w 2 -n 1" \
	    "verify --r 2 -d 1" "cluster nodes --w 1"; do
		# shellcheck disable=SC2086  # a is words
		run_split 20 "$KVCTL" $a --server "$U"
		echo "[kvctl $a] rc=$rc err=$err"
		[ "$rc" -eq 2 ] && [ -z "$out" ]
		[[ "$err" == "kvctl: --"[rw]" goes with "* ]]
	done
	[ "$(code "$U/kv/k")" = 404 ]
	# Where they are sent they are taken.
	kvx put k 1 --r 1 --w 1 --server "$U"
	[ "$rc" -eq 0 ]
	kvx incr k --w 1 --server "$U"
	[ "$rc" -eq 0 ] && [ "$out" = 2 ]
	kvx get k --r 1 --server "$U"
	[ "$rc" -eq 0 ] && [ "$out" = 2 ]
}

@test "a KVCTL_ variable kvctl does not read: one warning line each, with the nearest; exit status and stdout unchanged" {
	local w="kvctl: warning: KVCTL_JSNO is not a kvctl variable (ignored); did you mean KVCTL_JSON?"
	timeout 10 "$KVCTL" put wk v --server "$U"
	run_split 20 env KVCTL_JSNO=1 "$KVCTL" get wk --server "$U"
	echo "rc=$rc out=$out err=$err"
	[ "$rc" -eq 0 ]
	[ "$out" = v ]
	[ "$err" = "$w" ]
	# One line each; a name near none lists those kvctl reads.
	run_split 20 env KVCTL_JSNO=1 KVCTL_SERVR=x KVCTL_FOO=1 "$KVCTL" get wk \
	    --server "$U"
	echo "$err"
	[ "$rc" -eq 0 ] && [ "$out" = v ]
	[ "$(printf '%s\n' "$err" | wc -l)" -eq 3 ]
	[[ "$err" == *"$w"* ]]
	[[ "$err" == *"KVCTL_SERVR is not a kvctl variable (ignored); did you mean KVCTL_SERVER?"* ]]
	[[ "$err" == *"KVCTL_FOO is not a kvctl variable (ignored); kvctl reads KVCTL_SERVER, KVCTL_TIMEOUT, "*", KVCTL_VERBOSE"* ]]
	# The exit status and stdout are the command's: a 404, --json, exit 2.
	run_split 20 env KVCTL_JSNO=1 "$KVCTL" get nokey --server "$U"
	[ "$rc" -eq 1 ] && [ -z "$out" ]
	[[ "$err" == "$w"*"404"* ]]
	run_split 20 env KVCTL_JSNO=1 "$KVCTL" get wk --json --server "$U"
	[ "$rc" -eq 0 ] && [ "$err" = "$w" ]
	echo "$out" | jq -e '.value == "v"'
	run_split 20 env KVCTL_JSNO=1 KVCTL_RETRY=x "$KVCTL" get wk --server "$U"
	[ "$rc" -eq 2 ] && [ -z "$out" ]
	[[ "$err" == "$w"*"bad KVCTL_RETRY 'x'"* ]]
	# -q silences it; help says nothing but help.
	run_split 20 env KVCTL_JSNO=1 "$KVCTL" get wk -q --server "$U"
	[ "$rc" -eq 0 ] && [ "$out" = v ] && [ -z "$err" ]
	run_split 20 env KVCTL_JSNO=1 "$KVCTL" --help
	[ "$rc" -eq 0 ] && [ -z "$err" ]
	# Every variable kvctl reads is known.
	run_split 20 env KVCTL_SERVER="$U" KVCTL_TIMEOUT=5 KVCTL_CONNECT_TIMEOUT=2 \
	    KVCTL_RETRY=0 KVCTL_CLUSTER_SECRET_FILE= KVCTL_JSON=0 KVCTL_QUIET=0 \
	    KVCTL_VERBOSE=0 "$KVCTL" get wk
	[ "$rc" -eq 0 ] && [ "$out" = v ] && [ -z "$err" ]
	# kvd decides alike (lib/opt), and logs it.
	run_split 10 env KVD_MAX_BODDY=5 "$KVD" --id x --data-dir "$TMP/x" \
	    --addr bogus
	[ "$rc" -eq 2 ]
	[[ "$err" == *"name=KVD_MAX_BODDY nearest=KVD_MAX_BODY"* ]]
}

@test "contrib scripts keep KVD_BIN and KVCTL_BIN to themselves: kvd and kvctl see neither" {
	local p c port
	# Wrappers that note the variables they were given, then run the real
	# program: what a leak would make kvd log and kvctl warn about.
	for p in kvd kvctl; do
		c=$KVD
		[ "$p" = kvd ] || c=$KVCTL
		printf '#!/bin/sh\necho %s >>"%s/ran"\nenv | grep -E "^(KVD|KVCTL)_BIN=" >>"%s/leaked"\nexec "%s" "$@"\n' \
		    "$p" "$TMP" "$TMP" "$c" >"$TMP/w-$p"
		chmod +x "$TMP/w-$p"
	done
	: >"$TMP/leaked"
	export KVD_BIN="$TMP/w-kvd" KVCTL_BIN="$TMP/w-kvctl"
	# local-cluster.sh, its health checks by curl, then by kvctl (no curl).
	port=$(free_ports 1)
	run env DIR="$TMP/lc" BASE_PORT="$port" \
	    timeout 60 sh "$ROOT/contrib/local-cluster.sh" start 1 3>&-
	echo "$output"
	BG+=("$(cat "$TMP/lc/node1.pid")")
	[ "$status" -eq 0 ]
	mkdir "$TMP/nocurl"
	for c in sh dirname cat sleep mkdir nohup env kill tail rm grep timeout; do
		ln -s "$(command -v "$c")" "$TMP/nocurl/$c"
	done
	run env PATH="$TMP/nocurl" DIR="$TMP/lc" \
	    timeout 30 sh "$ROOT/contrib/local-cluster.sh" status 3>&-
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"node1  http://127.0.0.1:$port  pid "*" running  healthy"* ]]
	run env DIR="$TMP/lc" timeout 30 sh "$ROOT/contrib/local-cluster.sh" stop 3>&-
	[ "$status" -eq 0 ]
	! grep -q 'unknown environment variable' "$TMP/lc/node1.log" || false
	# scale.sh with its smallest settings: kvd, kvctl bench, cluster join.
	run env KEYS=100 SETTLE=0 IDLE=1 UP_WAIT=30 DOWN_WAIT=30 JOIN_WAIT=30 \
	    SCALE_KEEP=1 SCALE_DIR="$TMP/scale" \
	    SCALE_FLAGS="--gossip-interval-ms 200 --peer-timeout-ms 500" \
	    timeout 100 sh "$ROOT/contrib/scale.sh" 2 3>&-
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == "| 2 | "* ]]
	! grep -q 'unknown environment variable' "$TMP"/scale/node*.log || false
	! grep -q 'is not a kvctl variable' "$TMP/scale/load.txt" || false
	# The wrappers ran (kvd 4 times, kvctl for health, bench and join), and
	# neither was given the scripts' variables.
	sort "$TMP/ran" | uniq -c
	[ "$(grep -c kvd "$TMP/ran")" -eq 4 ]
	[ "$(grep -c kvctl "$TMP/ran")" -ge 3 ]
	cat "$TMP/leaked"
	[ ! -s "$TMP/leaked" ]
}

@test "exit 3: no server reachable (closed port), message on stderr" {
	p=$(closed_port)
	kvx get k --server "http://127.0.0.1:$p"
	[ "$rc" -eq 3 ]
	[ -z "$out" ]
	[[ "$err" == *"no server reachable"* ]]
	p2=$(closed_port)
	kvx put k v --server "http://127.0.0.1:$p,127.0.0.1:$p2"
	[ "$rc" -eq 3 ]
	[[ "$err" == *"$p"* && "$err" == *"$p2"* ]]
}

@test "exit 3: a server that never answers, bounded by --timeout" {
	# --timeout sets the request's deadline, shorter or longer than the
	# default 10 s: one of 0.5 s ends (exit 3, "timed out") while one of
	# 12 s, started first on the same server, still waits, and that one
	# waits past the default.  Orders and lower bounds, never an upper
	# one: a kvctl that ignored --timeout ends both at 10 s, which the
	# 12 s one's lower bound refuses; one that never timed out meets the
	# 60 s hang guard.
	local long t0 t1 lrc=0
	stub silent
	t0=$(now_ms)
	timeout 60 "$KVCTL" get k --timeout 12 \
	    --server "http://127.0.0.1:$STUB_PORT" 2>"$TMP/long.err" &
	long=$!
	t1=$(now_ms)
	run_split 60 "$KVCTL" get k --timeout 0.5 --server "http://127.0.0.1:$STUB_PORT"
	echo "0.5 s: took $(secs "$t1") s, exit $rc: $err"
	[ "$rc" -eq 3 ]
	[[ "$err" == *"timed out"* ]]
	[ $(($(now_ms) - t1)) -ge 400 ]
	kill -0 "$long"
	wait "$long" || lrc=$?
	echo "12 s: took $(secs "$t0") s, exit $lrc: $(cat "$TMP/long.err")"
	[ "$lrc" -eq 3 ]
	grep -q 'timed out' "$TMP/long.err"
	[ $(($(now_ms) - t0)) -ge 11500 ]
}

# A port whose connect never completes (standin.py's serve_unaccepted):
# each connect waits for --connect-timeout, capped by the request's
# --timeout, from the command line or KVCTL_ variables alike, the
# command line winning.  A 300 s connect timeout left uncapped would
# outlast run_split's 60 s hang guard (rc 124).
@test "exit 3: a connect that never completes is bounded by --timeout or KVCTL_TIMEOUT when --connect-timeout or KVCTL_CONNECT_TIMEOUT is longer" {
	start_standin blackhole <<'PY'
import sys, standin
standin.serve_unaccepted(sys.argv[1])
PY
	local bh="http://127.0.0.1:$(cat "$TMP/blackhole.port")" how
	# Each: the variables, then "|", then the flags.
	for how in "KVCTL_TIMEOUT=1 KVCTL_CONNECT_TIMEOUT=300|" \
	    "KVCTL_CONNECT_TIMEOUT=300|--timeout 1" \
	    "KVCTL_TIMEOUT=1|--connect-timeout 300" \
	    "KVCTL_TIMEOUT=300|--timeout 1 --connect-timeout 300"; do
		run_split 60 env ${how%|*} "$KVCTL" get k ${how#*|} \
		    --server "$bh"
		echo "$how: rc=$rc err=$err"
		[ "$rc" -eq 3 ]
		[[ "$err" == *"timed out"* ]]
	done
	run_split 60 env KVCTL_TIMEOUT=1 KVCTL_CONNECT_TIMEOUT=300 "$KVCTL" \
	    bench -n 1 -c 1 --server "$bh"
	echo "bench: rc=$rc err=$err"
	[ "$rc" -eq 3 ]
}

@test "a server that never answers is skipped for the next one in --server" {
	stub silent
	timeout 10 "$KVCTL" put sk sv --server "$U"
	kvx get sk --timeout 1 --server "http://127.0.0.1:$STUB_PORT,$U"
	[ "$rc" -eq 0 ]
	[ "$out" = sv ]
}

@test "exit 4: a 400 from the server (key too long, key not UTF-8)" {
	long=$(printf 'k%.0s' $(seq 1 1025))
	kvx put "$long" v --server "$U"
	[ "$rc" -eq 4 ]
	[[ "$err" == *400* ]]
	[ -z "$out" ]
	kvx get $'\xff' --server "$U"
	[ "$rc" -eq 4 ]
	[[ "$err" == *400* ]]
	kvx get "$long" --server "$U"
	[ "$rc" -eq 4 ]
}

@test "exit 4: a 413 from the server (value over --max-body)" {
	start_node n2 --max-body 100
	head -c 101 /dev/zero | tr '\0' 'a' >"$TMP/v101"
	kvx put big @"$TMP/v101" --server "$(url n2)"
	[ "$rc" -eq 4 ]
	[[ "$err" == *413* ]]
	head -c 100 /dev/zero | tr '\0' 'a' >"$TMP/v100"
	kvx put big @"$TMP/v100" --server "$(url n2)"
	[ "$rc" -eq 0 ]
}

@test "exit 5: kvd's own 503 at its connection cap" {
	start_node n2 --max-conns 1
	# hold the one connection n2 serves
	python3 -c '
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
d = b""
while not d.endswith(b"}\n"):
    d += s.recv(4096)
open(sys.argv[2], "w").write("ready")
time.sleep(30)
' "$(port_of n2)" "$TMP/held" 3>&- &
	echo $! >"$TMP/holder.pid"
	for i in $(seq 1 100); do [ -s "$TMP/held" ] && break; sleep 0.05; done
	[ -s "$TMP/held" ]
	kvx get k --server "$(url n2)"
	echo "rc=$rc err=$err"
	[ "$rc" -eq 5 ]
	[[ "$err" == *503* ]]
}

@test "exit 5: kvctl maps a 500 from a (stub) server to exit 5" {
	stub 500
	kvx get k --server "http://127.0.0.1:$STUB_PORT"
	[ "$rc" -eq 5 ]
	[[ "$err" == *500* ]]
	[ -z "$out" ]
}

@test "exit 5: a write the node cannot make durable" {
	# The wal-fsync-eio failpoint makes every WAL fsync report EIO.
	KVD_FAILPOINTS=wal-fsync-eio start_node nf
	kvx put k v --server "$(url nf)"
	[ "$rc" -eq 5 ]
	[[ "$err" == *"503"*"storage failure"* ]]
	[ -z "$out" ]
}

@test "--help exits 0 and prints usage on stdout; -h too" {
	kvx --help
	[ "$rc" -eq 0 ]
	[[ "$out" == *"usage: kvctl"* ]]
	[[ "$out" == *"put KEY"* && "$out" == *"--server"* ]]
	[ -z "$err" ]
	kvx get k -h
	[ "$rc" -eq 0 ]
	[[ "$out" == *"usage: kvctl"* ]]
}

@test "kvctl CMD --help and -h print what kvctl help CMD prints; an unknown command exits 2 either way" {
	local cmd want
	for cmd in put get delete incr ls dump load mget mput watch health \
	    status hints repair cluster; do
		want=$("$KVCTL" help "$cmd")
		kvx "$cmd" --help
		echo "[kvctl $cmd --help] rc=$rc out=$out"
		[ "$rc" -eq 0 ] && [ -z "$err" ]
		[ "$out" = "$want" ]
		kvx --server http://127.0.0.1:1 "$cmd" k -h
		[ "$rc" -eq 0 ] && [ "$out" = "$want" ]
	done
	[[ "$want" == "usage: kvctl cluster"* ]]
	kvx help bogus
	[ "$rc" -eq 2 ] && [ -z "$out" ]
	want=$err
	kvx bogus --help
	[ "$rc" -eq 2 ] && [ -z "$out" ]
	[ "$err" = "$want" ]
	[[ "$err" == *"no command 'bogus'"* ]]
}

@test "--help and -h before the command print that command's help too (kvctl -h put is kvctl help put)" {
	local cmd want
	for cmd in put get delete load cluster verify bench; do
		want=$("$KVCTL" help "$cmd")
		kvx -h "$cmd"
		echo "[kvctl -h $cmd] rc=$rc out=$out"
		[ "$rc" -eq 0 ] && [ -z "$err" ]
		[ "$out" = "$want" ]
		kvx --server http://127.0.0.1:1 --help "$cmd" k
		[ "$rc" -eq 0 ] && [ "$out" = "$want" ]
	done
	# No command: the general usage, as before.
	kvx -h
	[ "$rc" -eq 0 ] && [[ "$out" == "usage: kvctl [flags] COMMAND"* ]]
	kvx --help help
	[ "$rc" -eq 0 ] && [[ "$out" == "usage: kvctl [flags] COMMAND"* ]]
	# A command that does not exist exits 2, as help bogus does.
	kvx help bogus
	want=$err
	kvx -h bogus
	[ "$rc" -eq 2 ] && [ -z "$out" ] && [ "$err" = "$want" ]
}

@test "--help or -h anywhere prints the command's help, exit 0, whatever else the line holds" {
	local a want
	want=$("$KVCTL" help put)
	for a in "put --ttl x --help" "put --ttl x -h" "--ttl x put k v --help" \
	    "put --r zz k v --help" "-o yaml put --help" \
	    "--timeout 0 put --help" "--retry 500 -h put" "put k v --help --ttl" \
	    "put k v --ttl 5 --create --if-match e --prefix p --help" \
	    "put --help --version"; do
		# shellcheck disable=SC2086  # a is words
		run_split 20 "$KVCTL" $a
		echo "[kvctl $a] rc=$rc err=$err"
		[ "$rc" -eq 0 ] && [ -z "$err" ]
		[ "$out" = "$want" ]
	done
	# A flag the command does not take: that command's help all the same.
	kvx get k --ttl 5 --help
	[ "$rc" -eq 0 ] && [ "$out" = "$("$KVCTL" help get)" ]
	# verify and bench print their own options, as verify --help does.
	for a in "verify -c x --help" "verify --ttl x -d 0 -h" "bench -c 0 --help"; do
		want=$("$KVCTL" "${a%% *}" --help)
		# shellcheck disable=SC2086
		run_split 20 "$KVCTL" $a
		echo "[kvctl $a] rc=$rc err=$err"
		[ "$rc" -eq 0 ] && [ -z "$err" ]
		[ "$out" = "$want" ]
	done
	# Without it, the line is still refused, with the same message.
	kvx put --ttl x --bogus k v --server "$U"
	[ "$rc" -eq 2 ] && [ -z "$out" ]
	[ "$(printf '%s\n' "$err" | head -1)" = "kvctl: bad --ttl 'x' (whole seconds, 1 to 315360000)" ]
	kvx verify -c x
	[ "$rc" -eq 2 ] && [[ "$err" == "kvctl verify: bad -c 'x'"* ]]
	# After --, -h is a value.
	kvx --server "$U" put hv -- -h
	[ "$rc" -eq 0 ]
	[ "$(timeout 10 "$KVCTL" get hv --server "$U")" = -h ]
}

@test "watch with no server keeps trying and says so once; reconnected when one answers; nothing with -q" {
	local p
	pick_ports 1
	p=$(port 1)
	"$KVCTL" watch wk --server "127.0.0.1:$p" >"$TMP/w.out" 2>"$TMP/w.err" 3>&- &
	BG+=($!)
	"$KVCTL" -q watch wk --server "127.0.0.1:$p" >"$TMP/q.out" 2>"$TMP/q.err" 3>&- &
	BG+=($!)
	wait_for 10 grep -q "retrying" "$TMP/w.err"
	sleep 1.5	# more tries fail, and say nothing more
	cat "$TMP/w.err"
	[ "$(wc -l <"$TMP/w.err")" -eq 1 ]
	grep -q "^kvctl: watch: 127.0.0.1:$p: .*; retrying$" "$TMP/w.err"
	mkdir -p "$TMP/w2"
	start_node w2 --addr "127.0.0.1:$p" --data-dir "$TMP/w2"
	timeout 10 "$KVCTL" put wk v1 --server "127.0.0.1:$p"
	wait_for 10 grep -qx v1 "$TMP/w.out"
	wait_for 10 grep -qx v1 "$TMP/q.out"
	cat "$TMP/w.err"
	[ "$(sed -n 2p "$TMP/w.err")" = "kvctl: watch: reconnected" ]
	[ "$(wc -l <"$TMP/w.err")" -eq 2 ]
	[ ! -s "$TMP/q.err" ]
	# A restart is an outage of its own: said once, and its end.
	kill_node w2
	wait_for 10 test "$(grep -c retrying "$TMP/w.err")" -eq 2
	start_node w2 --addr "127.0.0.1:$p" --data-dir "$TMP/w2"
	timeout 10 "$KVCTL" put wk v2 --server "127.0.0.1:$p"
	wait_for 10 grep -qx v2 "$TMP/w.out"
	wait_for 10 test "$(grep -c reconnected "$TMP/w.err")" -eq 2
	[ ! -s "$TMP/q.err" ]
}

@test "a flag kvctl does not know is a usage error even with --help or --version; --help wins over --version" {
	local a
	for a in "--bogus x put --help" "--bogus put --help" "put k v --bogus -h" \
	    "put --help --bogus" "-h --bogus" "--bogus --version" \
	    "--version --bogus" "--version --help --bogus" "help put --bogus"; do
		# shellcheck disable=SC2086  # a is words
		run_split 20 "$KVCTL" $a
		echo "[kvctl $a] rc=$rc out=$out err=$err"
		[ "$rc" -eq 2 ] && [ -z "$out" ]
		[ "$(printf '%s\n' "$err" | head -1)" = "kvctl: unknown flag '--bogus'" ]
	done
	# The first one is named.
	kvx put --help --nope --bogus
	[ "$rc" -eq 2 ] && [[ "$err" == "kvctl: unknown flag '--nope'"* ]]
	# verify and bench take their own flags after the command word, by
	# the same rule: an unknown one is a usage error with --help too, a
	# bad value is not.
	for a in "verify --bogus --help" "verify -h --bogus" \
	    "bench --bogus --help" "bench -h --bogus"; do
		# shellcheck disable=SC2086
		run_split 20 "$KVCTL" $a
		echo "[kvctl $a] rc=$rc out=$out err=$err"
		[ "$rc" -eq 2 ]
		[ -z "$out" ]
		[[ "$err" == *"'--bogus'"* ]]
	done
	kvx verify -c x --help
	[ "$rc" -eq 0 ]
	[ "$out" = "$("$KVCTL" verify --help)" ]
	kvx bench -c x -t nope --help
	[ "$rc" -eq 0 ]
	[ "$out" = "$("$KVCTL" bench --help)" ]
	# --help wins over --version, wherever each stands.
	for a in "--version --help" "--help --version" "--version put --help"; do
		# shellcheck disable=SC2086
		run_split 20 "$KVCTL" $a
		echo "[kvctl $a] rc=$rc out=$out"
		[ "$rc" -eq 0 ] && [ -z "$err" ]
		[[ "$out" == "usage: kvctl "* ]]
	done
	# --version, as --help, answers whatever else the line holds.
	for a in "--version --ttl x" "--ttl x --version" "--version put"; do
		# shellcheck disable=SC2086
		run_split 20 "$KVCTL" $a
		[ "$rc" -eq 0 ] && [ "$out" = "$("$KVCTL" --version)" ]
	done
	# And kvctl --help says so.
	"$KVCTL" --help | grep -q -- '--help wins over'
}

@test "--version prints the version and exits 0" {
	kvx --version
	[ "$rc" -eq 0 ]
	[[ "$out" =~ ^kvctl\ [0-9]+\.[0-9]+\.[0-9]+$ ]]
	[ -z "$err" ]
}

@test "default server is http://127.0.0.1:8080 when neither --server nor KVCTL_SERVER is set" {
	if timeout 2 curl -s -o /dev/null http://127.0.0.1:8080/ 2>/dev/null; then
		skip "something listens on 127.0.0.1:8080"
	fi
	unset KVCTL_SERVER
	kvx get k
	[ "$rc" -eq 3 ]
	[[ "$err" == *"127.0.0.1:8080"* ]]
}

@test "--server accepts host:port without a scheme and a trailing slash" {
	timeout 10 "$KVCTL" put sch v --server "$U/"
	kvx get sch --server "127.0.0.1:$(port_of n1)"
	[ "$rc" -eq 0 ]
	[ "$out" = v ]
}

@test "--json on errors prints the server's JSON error on stdout" {
	kvx get missing --json --server "$U"
	[ "$rc" -eq 1 ]
	echo "$out" | jq -e '.error | type == "string"'
}

@test "mget and mput exit as without --json when ops fail (--json, -o json, KVCTL_JSON=1)" {
	# q1's one peer is down: with --n 2 --w 2 --r 2 every op gets 503,
	# and with --r 1 a missing key gets 404.
	start_node q1 --peers "q2=127.0.0.1:$(closed_port)" --n 2 --w 2 --r 2 \
	    --peer-timeout-ms 300
	local q how env flag
	q=$(url q1)
	for how in "" --json "-o json" KVCTL_JSON=1; do
		env=() flag=()
		case $how in
		KVCTL_JSON=*) env=("$how") ;;
		?*) read -r -a flag <<<"$how" ;;
		esac
		run_split 20 env "${env[@]}" "$KVCTL" mget nokey --r 1 \
		    "${flag[@]}" --server "$q"
		echo "[$how] mget 404: rc=$rc out=$out err=$err"
		[ "$rc" -eq 1 ]
		[[ "$err" == *"nokey: 404"* ]]
		run_split 20 env "${env[@]}" "$KVCTL" mput mk v "${flag[@]}" \
		    --server "$q"
		echo "[$how] mput 503: rc=$rc out=$out err=$err"
		[ "$rc" -eq 5 ]
		[[ "$err" == *"mk: 503"* ]]
		run_split 20 env "${env[@]}" "$KVCTL" mget mk nokey "${flag[@]}" \
		    --server "$q"
		echo "[$how] mget 503: rc=$rc out=$out err=$err"
		[ "$rc" -eq 5 ]
		# With JSON asked for, the server's answer as it came.
		[ -z "$how" ] ||
		    echo "$out" | jq -e '[.results[].status] == [503, 503]'
	done
	# All ops ok: exit 0 with --json too.
	kvx mput ok v --w 1 --json --server "$q"
	[ "$rc" -eq 0 ]
	echo "$out" | jq -e '.results[0].status == 200 or .results[0].status == 201'
}

@test "--r and --w go to the server as ?r= and ?w=; a bad one is a usage error" {
	kvx put qk v --w one --r all --server "$U" -v
	[ "$rc" -eq 0 ]
	[[ "$err" == *"PUT /kv/qk?r=all&w=one "* ]]
	kvx get qk --r quorum --server "$U" -v
	[ "$rc" -eq 0 ]
	[ "$out" = v ]
	[[ "$err" == *"GET /kv/qk?r=quorum "* ]]
	kvx get qk --r 2 --server "$U"
	[ "$rc" -eq 4 ]
	[[ "$err" == *"bad r"* ]]
	kvx get qk --w most --server "$U"
	[ "$rc" -eq 2 ]
	[[ "$err" == *"bad --w 'most'"* ]]
}

@test "delete: --if-match goes with a KEY only; with --prefix or --all it is exit 2 and nothing is deleted" {
	local e how tag
	kvx mput p/1 a p/2 b --server "$U"
	[ "$rc" -eq 0 ]
	kvx get p/1 --etag --server "$U"
	e=$err
	[ -n "$e" ]
	# Neither a stale ETag nor the current one of some key may be ignored.
	for how in "--prefix p/" "--all"; do
		for tag in "$e" '"stale"'; do
			# shellcheck disable=SC2086  # how is words
			kvx delete $how --if-match "$tag" --yes --server "$U"
			echo "[delete $how --if-match $tag] rc=$rc err=$err"
			[ "$rc" -eq 2 ]
			[ -z "$out" ]
			[[ "$err" == *"--if-match goes with delete KEY, not with ${how%% *}"* ]]
		done
	done
	[ "$(timeout 10 "$KVCTL" ls --server "$U" | wc -l)" -eq 2 ]
	# With a KEY it still applies.
	kvx delete p/1 --if-match '"stale"' --server "$U"
	[ "$rc" -eq 4 ]
	kvx delete p/1 --if-match "$e" --server "$U"
	[ "$rc" -eq 0 ]
	kvx help delete
	[[ "$out" == *"with --prefix or --all it is a"*"usage error"* ]]
}

@test "delete: an empty --prefix is refused (use --all); --all deletes every key, asking as --prefix does" {
	local P
	kvx mput a 1 b/1 2 b/2 3 --server "$U"
	[ "$rc" -eq 0 ]
	# "$P" of an unset variable in a script must not wipe the store.
	unset P
	kvx delete --prefix "$P" --yes --server "$U"
	echo "rc=$rc err=$err"
	[ "$rc" -eq 2 ]
	[ -z "$out" ]
	[[ "$err" == *"empty --prefix"*"use --all to delete every key"* ]]
	kvx delete --prefix= --yes --server "$U"
	[ "$rc" -eq 2 ]
	[[ "$err" == *"use --all to delete every key"* ]]
	[ "$(timeout 10 "$KVCTL" ls --server "$U" | wc -l)" -eq 3 ]
	# --all excludes a KEY and --prefix, goes with delete only.
	kvx delete a --all --yes --server "$U"
	[ "$rc" -eq 2 ]
	kvx delete --all --prefix b/ --yes --server "$U"
	[ "$rc" -eq 2 ]
	kvx ls --all --server "$U"
	[ "$rc" -eq 2 ]
	[[ "$err" == *"--all goes with delete"* ]]
	# Not a terminal, no --yes: refused.
	kvx delete --all --server "$U" </dev/null
	[ "$rc" -eq 2 ]
	[[ "$err" == *"delete --all: give --yes"* ]]
	[ "$(timeout 10 "$KVCTL" ls --server "$U" | wc -l)" -eq 3 ]
	# On a terminal it says how many and asks; "n" keeps them.
	answer_on_tty n "$KVCTL" --server "$U" delete --all >"$TMP/pty"
	cat "$TMP/pty"
	grep -q 'Delete all 3 keys? \[y/N\]' "$TMP/pty"
	grep -q 'aborted: nothing deleted' "$TMP/pty"
	grep -q 'exit=6' "$TMP/pty"
	[ "$(timeout 10 "$KVCTL" ls --server "$U" | wc -l)" -eq 3 ]
	kvx delete --all --yes --json --server "$U"
	[ "$rc" -eq 0 ]
	[ "$out" = '{"deleted":3,"failed":0,"complete":true}' ]
	kvx ls --server "$U"
	[ "$rc" -eq 0 ] && [ -z "$out" ]
}

@test "help verify, -h verify and verify --help print the same option list; so do bench's" {
	local c a want
	for c in verify bench; do
		want=$("$KVCTL" "$c" --help)
		[[ "$want" == *"--server"* ]]
		for a in "help $c" "-h $c" "--help $c" "$c -h"; do
			# shellcheck disable=SC2086
			run_split 20 "$KVCTL" $a
			echo "[kvctl $a] rc=$rc"
			[ "$rc" -eq 0 ] && [ -z "$err" ]
			[ "$out" = "$want" ]
		done
	done
}

@test "one argument too many is named, for every command of a fixed count: exit 2, nothing sent" {
	local a
	for a in "put k v extra|extra|kvctl put KEY" "get k extra|extra|kvctl get KEY" \
	    "delete k extra|extra|kvctl delete KEY" "incr k 1 extra|extra|kvctl incr" \
	    "ls p extra|extra|kvctl ls" "dump p extra|extra|kvctl dump" \
	    "load extra|extra|kvctl load" "watch k extra|extra|kvctl watch KEY" \
	    "health extra|extra|kvctl health" "status extra|extra|kvctl status" \
	    "hints n extra|extra|kvctl hints" "repair n extra|extra|kvctl repair" \
	    "hints drop n extra|extra|kvctl hints drop" \
	    "delete --prefix p k|k|kvctl delete --prefix" \
	    "cluster nodes extra|extra|kvctl cluster nodes" \
	    "cluster join n 127.0.0.1:1 extra|extra|kvctl cluster join" \
	    "cluster leave n extra|extra|kvctl cluster leave"; do
		# shellcheck disable=SC2086  # the line is words
		run_split 20 "$KVCTL" ${a%%|*} --server "$U"
		echo "[kvctl ${a%%|*}] rc=$rc err=$err"
		[ "$rc" -eq 2 ] && [ -z "$out" ]
		a=${a#*|}
		[[ "$err" == "kvctl: unexpected argument '${a%%|*}' (usage: ${a#*|}"* ]]
	done
	# One missing is the usage, as before.
	kvx put k
	[ "$rc" -eq 2 ]
	[[ "$err" == "kvctl: usage: kvctl put KEY VALUE|-|@FILE"* ]]
}
