#!/usr/bin/env bats
# test/bench.bats -- `kvctl bench` works end to end against a real kvd:
# tiny runs finish and report every field, --json parses, misses are not
# errors, a dead server's requests are counted as transport errors, bad
# options are usage errors, and options take NAME VALUE or NAME=VALUE.
# Its event loops (--threads) run the connections they are given, no
# more threads than that; against a fake server (python3, below) they
# count answers that close the connection, say so or not, chunked and
# EOF-delimited bodies, statuses, and a server that never answers as
# timeouts; a stopped kvd's requests time out at --timeout, and a kvd
# killed and restarted mid-run gets its connections back.  No assertion is made on throughput or latency; the only
# timings checked are generous bounds on how long a run with errors takes.

load helpers

setup() {
	setup_n1
}

# kb ARGS...: runs kvctl bench with a deadline; sets rc, out, err.
kb() {
	run_split 60 "$KVCTL" bench "$@"
}

# jget EXPR: evaluates a Python expression over the JSON in $out as j.
jget() {
	python3 -c 'import json, sys; j = json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$out" "$1"
}

# all_ok N: the last kb exited 0 with N requests ok and no error.
all_ok() {
	[ "$rc" -eq 0 ]
	[ "$(jget 'j["ok"]')" -eq "$1" ]
	[ "$(jget 'j["errors"]')" -eq 0 ]
}

# start_fake MODE: a fake HTTP server on a free loopback port that reads
# each request (head and Content-Length body) and answers as MODE says;
# sets FAKE to its URL.  Teardown kills it (BG).
#   close   200 with "Connection: close", then closes
#   quiet   200 that looks keep-alive, then closes without saying so
#   chunked 100 Continue, then a chunked 200 written in pieces; keep-alive
#   eof     200 with neither length nor chunks: the body ends at close
#   503     503 with Content-Length: 0; keep-alive
#   mute    reads requests and never answers
start_fake() {
	cat >"$TMP/fake.py" <<'PY'
import os, socket, socketserver, sys, time
mode, portfile = sys.argv[1], sys.argv[2]

class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        s = self.request
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = b""
        while True:
            while b"\r\n\r\n" not in buf:
                d = s.recv(65536)
                if not d:
                    return
                buf += d
            if mode == "mute":
                buf = b""
                continue
            head, _, buf = buf.partition(b"\r\n\r\n")
            n = 0
            for line in head.split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"content-length":
                    n = int(v)
            while len(buf) < n:
                d = s.recv(65536)
                if not d:
                    return
                buf += d
            buf = buf[n:]
            if mode == "close":
                s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                          b"Connection: close\r\n\r\nok")
                return
            if mode == "quiet":
                s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                return
            if mode == "eof":
                s.sendall(b"HTTP/1.1 200 OK\r\n\r\nup to the close")
                return
            if mode == "503":
                s.sendall(b"HTTP/1.1 503 Service Unavailable\r\n"
                          b"Content-Length: 0\r\n\r\n")
                continue
            for piece in (b"HTTP/1.1 100 Continue\r\n\r\n",
                          b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                          b"2\r\nok\r\n", b"3\r\n an\r\n", b"0\r\n\r\n"):
                s.sendall(piece)
                time.sleep(0.001)

class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

srv = Server(("127.0.0.1", 0), Handler)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()
PY
	rm -f "$TMP/fake.port"
	python3 "$TMP/fake.py" "$1" "$TMP/fake.port" >"$TMP/fake.log" 2>&1 3>&- &
	BG+=($!)
	wait_for 10 test -s "$TMP/fake.port"
	FAKE="http://127.0.0.1:$(cat "$TMP/fake.port")"
}

@test "a tiny GET run finishes and prints every percentile" {
	kb --server "$U" -c 4 -n 200 --keys 50 --prefill
	[ "$rc" -eq 0 ]
	[[ "$out" == *"requests    200 (ok 200"* ]]
	[[ "$out" == *"errors      0 (transport 0, http 0)"* ]]
	[[ "$out" == *"prefill     50 keys, 0 failed"* ]]
	[[ "$out" == *"throughput"*"req/s"* ]]
	for f in "p50 " "p90 " "p99 " "p99.9 " "max " "mean "; do
		[[ "$out" == *"latency ms"*"$f"* ]]
	done
	[[ "$out" == *"client cpu"*"% of "*" core"* ]]
}

@test "--json prints one object that python3 parses, with every field" {
	kb --server "$U" -c 3 -n 150 --keys 20 --prefill --json
	[ "$rc" -eq 0 ]
	[ "$(echo "$out" | wc -l | tr -d ' ')" -eq 1 ]
	[ "$(jget 'j["requests"]')" -eq 150 ]
	[ "$(jget 'j["ok"]')" -eq 150 ]
	[ "$(jget 'j["errors"]')" -eq 0 ]
	[ "$(jget 'j["gets"]')" -eq 150 ]
	[ "$(jget 'j["connections"]')" -eq 3 ]
	[ "$(jget 'all(k in j["latency_ms"] for k in ("p50","p90","p99","p999","max","mean"))')" = True ]
	[ "$(jget 'j["latency_ms"]["p50"] <= j["latency_ms"]["p99"] <= j["latency_ms"]["max"]')" = True ]
	[ "$(jget 'j["rps"] > 0 and j["duration_s"] > 0')" = True ]
	[ "$(jget '"client_cpu_pct" in j and j["cores"] >= 1')" = True ]
}

@test "put, delete and mix runs count their operations" {
	kb --server "$U" -c 2 -n 60 --keys 10 -t put --json
	[ "$rc" -eq 0 ]
	[ "$(jget 'j["puts"]')" -eq 60 ]
	[ "$(jget 'j["ok"]')" -eq 60 ]
	# The value landed, as JSON {"value":...} of --size bytes.
	run "$KVCTL" --server "$U" get key:000000000003
	[ "$status" -eq 0 ]
	[ "${#output}" -eq 100 ]

	kb --server "$U" -c 2 -n 80 --keys 10 -t mix --ratio 1:1 --raw --json
	[ "$rc" -eq 0 ]
	[ "$(jget 'j["gets"] + j["puts"]')" -eq 80 ]
	[ "$(jget 'j["gets"] > 0 and j["puts"] > 0')" = True ]
	[ "$(jget 'j["errors"]')" -eq 0 ]
	[ "$(jget 'j["ratio"]')" = "1:1" ]

	kb --server "$U" -c 2 -d 0.3 --keys 10 -t delete --json
	[ "$rc" -eq 0 ]
	[ "$(jget 'j["deletes"] == j["requests"] and j["requests"] > 0')" = True ]
	[ "$(jget 'j["errors"]')" -eq 0 ]
	[ "$(jget 'j["misses"] > 0')" = True ]	# deleted keys answer 404
}

@test "GETs of missing keys are misses, not errors" {
	kb --server "$U" -c 2 -n 40 --keys 1000000 --json
	[ "$rc" -eq 0 ]
	[ "$(jget 'j["misses"]')" -eq 40 ]
	[ "$(jget 'j["errors"]')" -eq 0 ]
}

@test "a server that is down: every request is a transport error, exit 3" {
	p=$(closed_port)
	kb --server "http://127.0.0.1:$p" -c 2 -n 30 --json
	[ "$rc" -eq 3 ]
	[[ "$err" == *"no server reachable"* ]]
	[ "$(jget 'j["requests"]')" -eq 30 ]
	[ "$(jget 'j["errors"]')" -eq 30 ]
	[ "$(jget 'j["errors_transport"]')" -eq 30 ]
	[ "$(jget 'j["transport"]["refused"]')" -eq 30 ]
	[ "$(jget 'j["ok"]')" -eq 0 ]
}

@test "connections are spread over the server list; the dead one's errors are counted" {
	p=$(closed_port)
	# Enough requests that the dead server's connection surely tries
	# before the live one has taken them all.
	kb --server "$U,http://127.0.0.1:$p" -c 2 -n 3000 --keys 5 --prefill --json
	[ "$rc" -eq 0 ]
	[ "$(jget 'j["servers"]')" -eq 2 ]
	[ "$(jget 'j["ok"] > 0 and j["errors_transport"] > 0')" = True ]
	[ "$(jget 'j["ok"] + j["misses"] + j["errors"]')" -eq 3000 ]
	[ "$(jget 'j["prefill_errors"] > 0')" = True ]
}

@test "a server killed during a duration run: errors are counted and the run ends" {
	( sleep 0.5; kill_node n1 ) &
	killer=$!
	kb --server "$U" -c 2 -d 1.5 --json
	wait "$killer"
	[ "$rc" -eq 0 ]
	[ "$(jget 'j["errors_transport"] > 0 and j["misses"] > 0')" = True ]
}

@test "bad options are usage errors (exit 2)" {
	for args in "-x" "-n 5 -d 1" "-t scan" "--ratio 9" "-c" "-c 0" \
	    "--size -1" "--keys 0" "-d abc" "--threads 0" "--threads -1" \
	    "--threads abc" "--threads 2x" "--threads 10001" "--threads"; do
		kb --server "$U" $args
		[ "$rc" -eq 2 ] || { echo "args: $args rc=$rc"; false; }
		[[ "$err" == *"kvctl bench:"* ]]
	done
	kb --server "$U" --size
	[ "$rc" -eq 2 ]
	[[ "$err" == *"kvctl bench: --size needs a value"* ]]
	kb --server "ftp://x" -n 1
	[ "$rc" -eq 2 ]
	kb --server "$U" --threads 0
	[[ "$err" == *"kvctl bench: bad --threads '0' (1..10000)"* ]]
	kb --help
	[ "$rc" -eq 0 ]
	[[ "$out$err" == *"-c N"* ]]
	[[ "$out$err" == *"--threads N"* ]]
}

@test "--threads: every request is counted however the connections are shared" {
	# Shares of 3 and 4 connections, one thread per connection, more
	# threads than connections, a single thread: the counts add up.
	for args in "-c 7 --threads 2" "-c 3 --threads 3" "-c 3 --threads 8" \
	    "-c 9 --threads=1"; do
		kb --server "$U" $args -n 500 --keys 20 -t mix --json
		[ "$rc" -eq 0 ] || { echo "args: $args rc=$rc $err"; false; }
		[ "$(jget 'j["requests"]')" -eq 500 ]
		[ "$(jget 'j["gets"] + j["puts"]')" -eq 500 ]
		[ "$(jget 'j["errors"]')" -eq 0 ]
	done
}

@test "--threads: the generator runs that many threads, never more than -c" {
	[ -d /proc/self/task ] || skip "no /proc/PID/task to count threads"
	# Sampled mid-run: the main thread (asleep in join) and the loops.
	for args in "-c 20 --threads 3:4" "-c 2 --threads 8:3" "-c 50:3"; do
		want=${args##*:}
		"$KVCTL" bench --server "$U" ${args%:*} -d 1.5 --json \
		    >"$TMP/bench.out" 2>&1 3>&- &
		pid=$!
		BG+=($pid)
		sleep 0.7
		n=$(ls /proc/$pid/task | wc -l)
		wait $pid
		# One more is a sanitizer's helper thread (make tsan).
		[ "$n" -ge "$want" ] && [ "$n" -le $((want + 1)) ] ||
		    { echo "$args: $n threads"; false; }
	done
}

@test "prefill PUTs every key once: GETs of every key then hit" {
	# 7 connections in 3 threads: keys i, i+7, i+14 ... per connection.
	kb --server "$U" -c 7 --threads 3 --keys 1000 --prefill -n 3000 --json
	[ "$rc" -eq 0 ]
	[ "$(jget 'j["prefill_errors"]')" -eq 0 ]
	[ "$(jget 'j["misses"]')" -eq 0 ]
	[ "$(jget 'j["ok"]')" -eq 3000 ]
	run "$KVCTL" --server "$U" ls --limit 5000
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | wc -l | tr -d ' ')" -eq 1000 ]
	[ "$(echo "$output" | head -1)" = "key:000000000000" ]
	[ "$(echo "$output" | tail -1)" = "key:000000000999" ]
}

@test "a server that closes every connection after one answer: every request counts" {
	start_fake close
	kb --server "$FAKE" -c 4 -n 200 -t put --json
	all_ok 200
}

@test "a server that closes without saying so: the request is resent on a fresh connection" {
	start_fake quiet
	kb --server "$FAKE" -c 4 --threads 2 -n 200 --json
	all_ok 200
}

@test "chunked answers written in pieces after 100 Continue, and bodies that end at EOF" {
	start_fake chunked
	kb --server "$FAKE" -c 3 -n 150 -t mix --json
	all_ok 150
	stop_bg
	start_fake eof
	kb --server "$FAKE" -c 3 -n 150 --json
	all_ok 150
}

@test "other statuses are HTTP errors counted by status" {
	start_fake 503
	kb --server "$FAKE" -c 2 -n 100 --json
	[ "$rc" -eq 0 ]
	[ "$(jget 'j["errors_http"]')" -eq 100 ]
	[ "$(jget 'j["http_status"]')" = "{'503': 100}" ]
	[ "$(jget 'j["errors_transport"] + j["ok"] + j["misses"]')" -eq 0 ]
}

@test "a dead port: refused transport errors, and a duration run ends on time" {
	p=$(closed_port)
	t0=$(now_ms)
	kb --server "http://127.0.0.1:$p" -c 20 --threads 2 -d 1 --timeout 120 --json
	ms=$(($(now_ms) - t0))
	[ "$rc" -eq 3 ]
	[ "$(jget 'j["transport"]["refused"] > 0')" = True ]
	[ "$(jget 'j["errors_transport"] == j["transport"]["refused"] == j["requests"]')" = True ]
	# 1 ms between attempts: a connection tries at most ~1000 times a second.
	[ "$(jget 'j["requests"] <= 20 * 1100')" = True ]
	# On time: at least its 1 s (duration_s, the run's own); a run that
	# overstays does so by a request's timeout, 120 s here, or for good,
	# and meets kb's 60 s hang guard either way.  One that ignored -d goes
	# on to -n's 100,000 requests (the bound above).
	echo "took $ms ms, duration_s $(jget 'j["duration_s"]')"
	[ "$(jget '1 <= j["duration_s"]')" = True ]
}

@test "a server that never answers: each request is a timeout after 10 s" {
	local companion
	start_fake mute
	# The companion: kvctl get --timeout 15 on the same server, started
	# first.  The run's 10 s are shown by a lower bound and an order: it
	# ends while the companion still waits, where a bound on the time
	# was (a run that waited longer than 15 s, or for good, fails).
	timeout 60 "$KVCTL" get k --timeout 15 --server "$FAKE" 2>/dev/null &
	companion=$!
	BG+=($companion)
	t0=$(now_ms)
	kb --server "$FAKE" -c 2 -n 2 --json
	ms=$(($(now_ms) - t0))
	echo "took $ms ms"
	[ "$rc" -eq 3 ]
	[ "$(jget 'j["transport"]["timeout"]')" -eq 2 ]
	[ "$(jget 'j["requests"]')" -eq 2 ]
	[ "$ms" -ge 9500 ]
	kill -0 "$companion"
}

@test "-n with a hung server (SIGSTOP) and --timeout 2: its requests fail after 2 s, the run ends, the server is named" {
	local companion
	start_node n2
	kill -STOP "$(pid_of n2)"	# teardown sends SIGCONT after SIGKILL
	# The companion: kvctl get --timeout 8 on n2, started first.
	timeout 60 "$KVCTL" get k --timeout 8 --server "$(url n2)" 2>/dev/null &
	companion=$!
	BG+=($companion)
	t0=$(now_ms)
	kb --server "$U,$(url n2)" --timeout 2 -c 4 -n 200 --json
	ms=$(($(now_ms) - t0))
	echo "took $ms ms, duration_s $(jget 'j["duration_s"]'); $err"
	[ "$rc" -eq 0 ]
	# n2's two connections time out (its kernel takes the connects), then
	# move to n1, which answers the rest.
	[ "$(jget 'j["transport"]["timeout"] >= 1')" = True ]
	[ "$(jget 'j["ok"] + j["misses"] + j["errors"]')" -eq 200 ]
	[[ "$err" == *"kvctl: 127.0.0.1:$(port_of n2): timed out"* ]]
	# The run's own time (duration_s): at least the 2 s a stuck request
	# waits; and the run ended while the companion's 8 s still ran (an
	# order, where a bound on the time was), before the 10 s the requests
	# waited when bench had a fixed deadline of its own, whatever
	# --timeout said.
	[ "$(jget '2 <= j["duration_s"]')" = True ]
	kill -0 "$companion"
}

# gets_over ID N: ID has answered more than N GET /kv/ requests since it
# started (its /metrics).
gets_over() {
	local n
	n=$(curl -s --max-time 2 "$(url "$1")/metrics" |
	    awk '/^kvd_requests_total\{route="\/kv\/",method="GET"/ { n += $NF }
		END { print n + 0 }')
	[ "$n" -gt "$2" ]
}

@test "a server killed -9 and restarted during a run gets its connections back (retried after a pause)" {
	local p bpid brc=0
	p=$(free_ports 1)
	start_node n2 --addr "127.0.0.1:$p"
	"$KVCTL" bench --server "$U,$(url n2)" -c 4 --threads 1 -d 20 --json \
	    >"$TMP/bench.out" 2>"$TMP/bench.err" 3>&- &
	bpid=$!
	BG+=("$bpid")
	wait_for 30 gets_over n2 0
	kill_node n2 KILL
	# Its two connections find it refusing and move to n1 at once; a
	# second more for a loaded machine.
	sleep 1
	start_node n2 --addr "127.0.0.1:$p"
	# Retried 1, 2, 4, 8 s after it failed (at most 8 s apart), well
	# within the 20 s run: the new process serves bench's GETs.  Before,
	# the connections stayed on n1 for the rest of the run.
	wait_for 30 gets_over n2 50
	wait "$bpid" || brc=$?
	cat "$TMP/bench.out" "$TMP/bench.err"
	[ "$brc" -eq 0 ]
	out=$(cat "$TMP/bench.out")
	[ "$(jget 'j["errors_transport"] >= 1')" = True ]
	# Taken back: not named as failed after the run.
	[ "$(grep -c "127.0.0.1:$p" "$TMP/bench.err")" -eq 0 ]
}

@test "options take their value as NAME VALUE or NAME=VALUE" {
	kb --server "$U" -c=2 -n=20 --keys=5 -t=put --size=7 --json
	[ "$rc" -eq 0 ]
	[ "$(jget 'j["connections"]')" -eq 2 ]
	[ "$(jget 'j["requests"]')" -eq 20 ]
	[ "$(jget 'j["puts"]')" -eq 20 ]
	[ "$(jget 'j["value_size"]')" -eq 7 ]
}

@test "contrib/bench/instructions.sh counts instructions per request; bad options exit 2" {
	command -v valgrind >/dev/null || skip "valgrind is not installed"
	cd "$ROOT"
	mkdir "$TMP/tmpdir"
	export TMPDIR="$TMP/tmpdir"	# its own, to see it cleaned up
	run sh contrib/bench/instructions.sh -a 100 -b 300
	echo "$output"
	[ "$status" -eq 0 ]
	n=$(echo "$output" | sed -n 's/.*: \([0-9]*\) instructions a request$/\1/p')
	# A durable PUT runs thousands of instructions, not millions (under
	# ThreadSanitizer, whose checks count too, about a million).
	[ -n "$n" ] && [ "$n" -gt 2000 ]
	[ -n "${KVD_SANITIZER:-}" ] || [ "$n" -lt 1000000 ]
	run sh contrib/bench/instructions.sh -n 2
	[ "$status" -eq 2 ]
	run sh contrib/bench/instructions.sh -a 300 -b 100
	[ "$status" -eq 2 ]
	[ -z "$(ls -A "$TMP/tmpdir")" ]
}
