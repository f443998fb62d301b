#!/usr/bin/env bats
# test/bench.bats -- `kvctl bench` works end to end against a real kvd:
# tiny runs finish and report every field, --json parses, misses are not
# errors, a dead server's requests are counted as transport errors, bad
# options are usage errors, and options take NAME VALUE or NAME=VALUE.
# No assertion is made on any timing.

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
	kb --server "$U" -c 2 -d 1.5 --json
	wait
	[ "$rc" -eq 0 ]
	[ "$(jget 'j["errors_transport"] > 0 and j["misses"] > 0')" = True ]
}

@test "bad options are usage errors (exit 2)" {
	for args in "-x" "-n 5 -d 1" "-t scan" "--ratio 9" "-c" "-c 0" \
	    "--size -1" "--keys 0" "-d abc"; do
		kb --server "$U" $args
		[ "$rc" -eq 2 ] || { echo "args: $args rc=$rc"; false; }
		[[ "$err" == *"kvctl bench:"* ]]
	done
	kb --server "$U" --size
	[ "$rc" -eq 2 ]
	[[ "$err" == *"kvctl bench: --size needs a value"* ]]
	kb --server "ftp://x" -n 1
	[ "$rc" -eq 2 ]
	kb --help
	[ "$rc" -eq 0 ]
	[[ "$out$err" == *"-c N"* ]]
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
	# A durable PUT runs thousands of instructions, not millions.
	[ -n "$n" ] && [ "$n" -gt 2000 ] && [ "$n" -lt 1000000 ]
	run sh contrib/bench/instructions.sh -n 2
	[ "$status" -eq 2 ]
	run sh contrib/bench/instructions.sh -a 300 -b 100
	[ "$status" -eq 2 ]
	[ -z "$(ls -A "$TMP/tmpdir")" ]
}
