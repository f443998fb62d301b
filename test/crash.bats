#!/usr/bin/env bats
# test/crash.bats -- crash safety of the WAL and the snapshots.  For every
# crash failpoint (lib/failpoint.c): start kvd with the point armed, write
# from several threads, let the point abort kvd, restart it without
# failpoints and check that it starts (no half-written file loaded) and
# that every acknowledged write reads back.  Then a kill -9 loop: start,
# write, kill -9 at a random moment, restart, verify everything so far.
#
#   CRASH_ROUNDS=N   rounds per failpoint (default 3)
#   KILL_CYCLES=N    kill -9 cycles (default 24); contrib/killloop.sh runs
#                    this file with large values

load helpers

ROUNDS=${CRASH_ROUNDS:-3}
CYCLES=${KILL_CYCLES:-24}

setup_file() {
	# The interpreter itself, not a version-manager shim: it starts twice
	# per round, and shims can take half a second.
	PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) ||
	    PY=
	export PY
}

setup() {
	[ -n "$PY" ] || skip "python3 is needed for the load"
	ulimit -c 0
	setup_tmp
	write_tools
	HIST="$TMP/history"
	: >"$HIST.list"
}

teardown() {
	[ -n "${WRITER:-}" ] && kill "$WRITER" 2>/dev/null
	teardown_tmp
}

# write_tools: the load generator and the checker, in Python (stdlib).
write_tools() {
	cat >"$TMP/load.py" <<'EOF'
# load.py PORT OUT TAG THREADS KEYS SECONDS: PUTs from THREADS threads
# over KEYS keys each until kvd goes away (or SECONDS pass); writes one
# line per attempt to OUT, in each thread's order: KEY VALUE STATUS
# (STATUS: the HTTP code, or "err" when the connection failed mid-way).
import http.client, json, sys, threading, time
port, out, tag = int(sys.argv[1]), sys.argv[2], sys.argv[3]
nthreads, nkeys, secs = int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
deadline = time.time() + secs
logs = [[] for _ in range(nthreads)]

def worker(t):
    conn, i, down_since = None, 0, None
    while time.time() < deadline:
        if conn is None:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.connect()
            except OSError:
                conn = None
                if down_since is None:
                    down_since = time.time()
                if time.time() - down_since > 0.3:
                    return          # kvd is gone
                time.sleep(0.01)
                continue
        down_since = None
        key, val = "t%d-k%d" % (t, i % nkeys), "%s.%d.%d" % (tag, t, i)
        body = json.dumps({"value": val})
        try:
            conn.request("PUT", "/kv/" + key, body,
                         {"Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            logs[t].append("%s %s %d" % (key, val, r.status))
        except (OSError, http.client.HTTPException):
            logs[t].append("%s %s err" % (key, val))
            conn.close()
            conn = None
        i += 1

ths = [threading.Thread(target=worker, args=(t,)) for t in range(nthreads)]
for th in ths:
    th.start()
for th in ths:
    th.join()
with open(out, "w") as f:
    for t in range(nthreads):
        for line in logs[t]:
            f.write(line + "\n")
EOF
	cat >"$TMP/verify.py" <<'EOF'
# verify.py PORT HISTFILE...: HISTFILEs are load.py outputs, oldest first.
# For every key: if a write of it was acknowledged (2xx), the value read
# must be the last acknowledged one or one attempted after it (a write
# that got no answer may have been applied); if none was acknowledged,
# the key is either absent or holds an attempted value.  Prints a
# summary; exits 1 on any lost or wrong key.
import http.client, json, sys
port = int(sys.argv[1])
tries = {}
for path in sys.argv[2:]:
    with open(path) as f:
        for line in f:
            key, val, st = line.split()
            tries.setdefault(key, []).append((val, st.isdigit() and 200 <= int(st) < 300))
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
acked = lost = wrong = 0
bad = []
for key, vals in sorted(tries.items()):
    last = max([i for i, (v, a) in enumerate(vals) if a], default=-1)
    allowed = set(v for v, a in vals[max(last, 0):])
    conn.request("GET", "/kv/" + key)
    r = conn.getresponse()
    body = r.read()
    got = json.loads(body)["value"] if r.status == 200 else None
    if last >= 0:
        acked += 1
        if got is None:
            lost += 1
            bad.append("%s: acknowledged %s, read status %d" % (key, vals[last][0], r.status))
        elif got not in allowed:
            wrong += 1
            bad.append("%s: acknowledged %s, read %s" % (key, vals[last][0], got))
    elif got is not None and got not in allowed:
        wrong += 1
        bad.append("%s: never acknowledged, read %s" % (key, got))
n = sum(sum(1 for v, a in vals if a) for vals in tries.values())
print("keys=%d acked_keys=%d acked_writes=%d lost=%d wrong=%d" % (len(tries), acked, n, lost, wrong))
for b in bad[:20]:
    print("  " + b)
sys.exit(1 if lost or wrong else 0)
EOF
}

# start_load TAG [SECONDS]: starts load.py against n1 in the background.
start_load() {
	local out="$HIST.$1"
	echo "$out" >>"$HIST.list"
	"$PY" "$TMP/load.py" "$(port_of n1)" "$out" "$1" 4 40 "${2:-30}" &
	WRITER=$!
}

# wait_load [any]: waits for the writer; fails when it recorded no
# attempt, unless "any" (a kill may come before its first request).
wait_load() {
	wait "$WRITER" || true
	WRITER=
	[ "${1:-}" = any ] || [ -s "$(tail -n 1 "$HIST.list")" ] || {
		echo "the writer recorded no attempt" >&2
		return 1
	}
}

# verify: restarts n1 without failpoints and checks every write so far.
verify() {
	start_node n1 --snapshot-interval 0 || return 1
	run "$PY" "$TMP/verify.py" "$(port_of n1)" $(cat "$HIST.list")
	echo "$output" >&2
	kill_node n1
	[ "$status" -eq 0 ] || return 1
	ACKED=$(echo "$output" | sed -n 's/.* acked_writes=\([0-9]*\) .*/\1/p')
}

# crash_rounds POINT HIT0 STEP: CRASH_ROUNDS rounds with POINT armed at
# hit HIT0, HIT0 + STEP, HIT0, HIT0 + STEP, ...
crash_rounds() {
	local point=$1 hit r pid st total=0
	for r in $(seq 0 $((ROUNDS - 1))); do
		hit=$(($2 + (r % 2) * $3))
		: >"$TMP/n1.log"
		KVD_FAILPOINTS="$point@$hit" start_node n1 --snapshot-interval 1
		pid=$(pid_of n1)
		start_load "$point-$r"
		st=0
		wait "$pid" || st=$?
		wait_load
		grep -q "msg=\"failpoint hit\" point=$point hit=$hit action=abort" \
		    "$TMP/n1.log" || {
			echo "round $r: kvd did not die at $point@$hit" >&2
			cat "$TMP/n1.log" >&2
			return 1
		}
		[ "$st" -eq 134 ] || {
			echo "round $r: kvd exit status $st, want 134 (SIGABRT)" >&2
			return 1
		}
		: >"$TMP/n1.log"
		verify || {
			echo "round $r after $point@$hit: verification failed" >&2
			cat "$TMP/n1.log" >&2
			return 1
		}
		case $point in snapshot-after-tmp-*)
			grep -q 'removed unfinished snapshot' "$TMP/n1.log" || {
				echo "round $r: the leftover tmp snapshot was not" \
				    "removed" >&2
				return 1
			}
		esac
		[ ! -e "$DATA/n1/snapshot.json.tmp" ]
		total=$ACKED
	done
	[ "$total" -gt 0 ]
	echo "# $point: $ROUNDS rounds, $total acknowledged writes, 0 lost" >&3
}

@test "crash at wal-before-write: no acknowledged write lost" {
	crash_rounds wal-before-write 20 40
}

@test "crash at wal-after-write (before fsync): no acknowledged write lost" {
	crash_rounds wal-after-write 20 40
}

@test "crash at wal-after-fsync (before the ack): no acknowledged write lost" {
	crash_rounds wal-after-fsync 20 40
}

@test "crash at snapshot-after-tmp-write: the tmp file is never loaded" {
	crash_rounds snapshot-after-tmp-write 1 1
}

@test "crash at snapshot-after-tmp-fsync (before rename): nothing lost" {
	crash_rounds snapshot-after-tmp-fsync 1 1
}

@test "crash at snapshot-after-rename (before the dir fsync): nothing lost" {
	crash_rounds snapshot-after-rename 1 1
}

@test "crash at snapshot-before-wal-drop: covered segments replay harmlessly" {
	crash_rounds snapshot-before-wal-drop 1 1
}

@test "crash at snapshot-mid-wal-drop: a half-dropped WAL still recovers" {
	crash_rounds snapshot-mid-wal-drop 1 1
}

@test "kill -9 loop: cycles of writes and kill -9 at random moments lose nothing" {
	local c ms
	for c in $(seq 1 "$CYCLES"); do
		: >"$TMP/n1.log"
		start_node n1 --snapshot-interval 1
		start_load "kill-$c"
		ms=$((100 + RANDOM % 900))
		sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
		kill_node n1
		wait_load any
		: >"$TMP/n1.log"
		verify || {
			echo "cycle $c (kill after $ms ms): verification failed" >&2
			cat "$TMP/n1.log" >&2
			return 1
		}
	done
	[ "$ACKED" -gt 0 ]
	echo "# kill -9: $CYCLES cycles, $ACKED acknowledged writes, 0 lost" >&3
}
