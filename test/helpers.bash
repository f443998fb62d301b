# test/helpers.bash -- shared by the bats files: start real kvd processes on
# free loopback ports in a per-file temporary directory, and kill every one
# of them in teardown, even when a test fails.  The teardown below is
# every file's unless it defines its own.
#
#   start_node ID [kvd flags...]   starts kvd, waits until it answers;
#                                  sets PORT_<ID> and prints nothing
#   setup_n1                       setup_tmp, start_node n1, U=its URL
#   url ID                         http://127.0.0.1:PORT
#   kill_node ID [SIGNAL]          kill -9 (or SIGNAL) and wait for exit
#   stop_all                       kill -9 every node this file started
#   BG+=($!)                       a background client (curl, kvctl, a
#                                  recorder) that teardown_tmp kills
#   stop_bg                        kill -9 every pid in BG (its process
#                                  group first: timeout(1) leads one)
#
# Clusters whose nodes must know each other's ports before they start
# (--peers), so port 0 will not do:
#
#   free_ports N                   N distinct free loopback TCP ports
#   closed_port                    one loopback port nobody listens on
#   pick_ports N                   PORTS=(N free ports); fails unless N
#   port N                         the port picked for nodeN (1-based)
#   member_addr N                  host:port of nodeN (127.0.0.1:$(port N));
#                                  a file whose nodes live elsewhere
#                                  defines its own after "load helpers"
#   peers_of N [COUNT]             --peers for nodeN: the others of
#                                  node1..nodeCOUNT (default 3)
#   start_peer N NREP PEERS [flags...]
#                                  start_node nodeN on its picked port,
#                                  with --peers PEERS (empty: peers_of N),
#                                  --n NREP --w 2 --r 2, 500 ms peer
#                                  timeout, gossip every 200 ms, FLAGS
#   nodes ID                       ID's /cluster/nodes (JSON)
#   servers COUNT                  node1..nodeCOUNT's URLs, comma-separated
#                                  (http://$(member_addr N)), for --server
#   ready NODE...                  every NODE answers /ready with 200
#
# Stand-ins for a server (test/standin.py is what their scripts share):
#
#   start_standin NAME [ARG...]    the python3 script on stdin, run in the
#                                  background (BG) with $TMP/NAME.port and
#                                  ARGs; returns once it listens (port_of
#                                  NAME, url NAME)
#   garbage_server REPLY           a stand-in "garbage" that answers every
#                                  connection with REPLY, no valid HTTP
#
# Clients, polling and reports:
#
#   c ARGS...                      curl -sS with a deadline
#   code ARGS...                   curl printing only the status code
#                                  (both: --max-time $CURL_MAX_TIME, 5 s;
#                                  a file may set it after "load helpers")
#   put ID KEY VALUE [QUERY]       PUT {"value":VALUE} through ID; prints
#                                  the status code (disk.bats has its own)
#   run_split SECS CMD...          CMD under timeout(1) with stdout and
#                                  stderr apart: sets rc, out and err
#   wait_for SECONDS CMD...        polls CMD every 0.1 s until it succeeds;
#                                  fails after SECONDS
#   now_ms                         wall clock in milliseconds
#   secs T0_MS                     seconds since T0_MS, one decimal
#   field NAME [FILE]              the number after NAME in a `kvctl
#                                  verify` text report (FILE, default
#                                  $output); slow.bats has its own field
#   verify_clean [FILE]            that report has writes acknowledged,
#                                  none lost and none unreadable

ROOT="$(cd "$BATS_TEST_DIRNAME/.." && pwd)"
KVD="$ROOT/kvd"
KVCTL="$ROOT/kvctl"
CURL_MAX_TIME=5		# seconds, for c and code

setup_tmp() {
	TMP="$(mktemp -d "${BATS_TMPDIR:-/tmp}/kvd-bats.XXXXXX")"
	DATA="$TMP/data"
	mkdir -p "$DATA"
	BG=()
}

# start_node ID [flags...]: port 0 plus a port file, so files run in parallel.
start_node() {
	local id=$1
	shift
	rm -f "$TMP/$id.port"
	"$KVD" --id "$id" --addr 127.0.0.1:0 --data-dir "$DATA" \
	    --port-file "$TMP/$id.port" "$@" >>"$TMP/$id.log" 2>&1 3>&- &
	echo $! >"$TMP/$id.pid"
	local i
	for i in $(seq 1 1200); do
		if [ -s "$TMP/$id.port" ]; then
			eval "PORT_$id=$(cat "$TMP/$id.port")"
			return 0
		fi
		if ! kill -0 "$(cat "$TMP/$id.pid")" 2>/dev/null; then
			echo "kvd $id exited early:" >&2
			cat "$TMP/$id.log" >&2
			return 1
		fi
		sleep 0.05
	done
	echo "kvd $id did not start in 60 s (a hang guard)" >&2
	return 1
}

# setup_n1: for a file whose every test talks to one fresh node n1 at $U.
setup_n1() {
	setup_tmp
	start_node n1
	U=$(url n1)
}

port_of() {
	cat "$TMP/$1.port"
}

url() {
	echo "http://127.0.0.1:$(port_of "$1")"
}

pid_of() {
	cat "$TMP/$1.pid"
}

# kill_node ID [SIGNAL]: default KILL; waits until the process is gone.
kill_node() {
	local pid sig=${2:-KILL}
	pid=$(pid_of "$1")
	kill -s "$sig" "$pid" 2>/dev/null || true
	local i
	for i in $(seq 1 300); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.05
	done
	kill -9 "$pid" 2>/dev/null || true
	return 0
}

# wait_exit PID: waits for a process that was asked to stop, 60 s at most
# (a hang guard); fails if it is still running then.
wait_exit() {
	local i
	for i in $(seq 1 1200); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.05
	done
	return 1
}

stop_all() {
	local f i
	for f in "$TMP"/*.pid; do
		[ -e "$f" ] || continue
		kill -9 "$(cat "$f")" 2>/dev/null || true
		kill -CONT "$(cat "$f")" 2>/dev/null || true
	done
	# Gone before a node is started again on the same directory (its
	# lock is let go only when the process is).
	for f in "$TMP"/*.pid; do
		[ -e "$f" ] || continue
		for i in $(seq 1 100); do
			kill -0 "$(cat "$f")" 2>/dev/null || break
			sleep 0.05
		done
	done
}

# stop_bg: a client that was waited for may be listed still; killing a
# pid that is gone does nothing.
stop_bg() {
	local p
	for p in "${BG[@]}"; do
		kill -9 -- "-$p" 2>/dev/null || kill -9 "$p" 2>/dev/null || true
	done
	BG=()
}

teardown_tmp() {
	stop_bg
	stop_all
	rm -rf "$TMP"
}

# The default teardown: every file that starts its nodes per test (setup_tmp
# in setup) inherits it.  A file that needs more (a mount, a writer)
# defines its own after "load helpers" and ends it with teardown_tmp; one
# whose node lives for the whole file (setup_file) defines an empty one.
teardown() {
	teardown_tmp	# stop_all: SIGKILL, then SIGCONT for a stopped node
}

# ---- clusters on fixed loopback ports -----------------------------------

# free_ports N: N distinct free TCP ports on 127.0.0.1, space-separated
# (contrib/free-ports.py: none repeats).
free_ports() {
	timeout 10 python3 "$ROOT/contrib/free-ports.py" "$1"
}

# closed_port: a loopback port nobody listens on (free a moment ago).
closed_port() {
	free_ports 1
}

# pick_ports N: sets the array PORTS to N free ports; fails unless it got N.
pick_ports() {
	read -r -a PORTS <<<"$(free_ports "$1")"
	[ "${#PORTS[@]}" -eq "$1" ]
}

# port N: the port picked for nodeN.
port() {
	echo "${PORTS[$(($1 - 1))]}"
}

# member_addr N: the host:port nodeN listens on and its peers dial.
member_addr() {
	echo "127.0.0.1:$(port "$1")"
}

# peers_of N [COUNT]: --peers for nodeN, the other members of
# node1..nodeCOUNT (default 3), in order.
peers_of() {
	local i out=""
	for ((i = 1; i <= ${2:-3}; i++)); do
		[ "$i" = "$1" ] && continue
		out="$out${out:+,}node$i=$(member_addr "$i")"
	done
	echo "$out"
}

# start_peer N NREP PEERS [flags...]: nodeN on its picked port, advertised
# there, with --peers PEERS (empty: peers_of N), --n NREP --w 2 --r 2,
# --peer-timeout-ms 500, --gossip-interval-ms 200, then FLAGS.
start_peer() {
	local n=$1 nrep=$2 peers=$3 p
	shift 3
	p=$(port "$n")
	start_node "node$n" --addr "127.0.0.1:$p" --advertise "127.0.0.1:$p" \
	    --peers "${peers:-$(peers_of "$n")}" --n "$nrep" --w 2 --r 2 \
	    --peer-timeout-ms 500 --gossip-interval-ms 200 "$@"
}

# nodes ID: ID's /cluster/nodes.
nodes() {
	curl -s --max-time 2 "$(url "$1")/cluster/nodes"
}

# servers COUNT: every node's URL, comma-separated.
servers() {
	local i out=""
	for ((i = 1; i <= $1; i++)); do
		out="$out${out:+,}http://$(member_addr "$i")"
	done
	echo "$out"
}

# linked NODE...: each NODE sees every other member up, its own calls
# to it included (a node started first tried the others before they
# were up, and holds them down until news of them: a w=3 write then is
# a fast 503).
linked() {
	local n
	for n in "$@"; do
		nodes "$n" | jq -e '[.members[] | select(.self != true) |
		    .state == "up" and .link != "down"] | all' >/dev/null ||
		    return 1
	done
}

# ready NODE...: every NODE answers /ready with 200.
ready() {
	local n
	for n in "$@"; do
		[ "$(code --max-time 2 "$(url "$n")/ready")" = 200 ] || return 1
	done
}

# ---- stand-in servers ----------------------------------------------------

# start_standin NAME [ARG...]: the python3 script on stdin, kept as
# $TMP/standin-NAME.py (a name no import finds: "import standin" is the
# module) and run in the background (its pid in BG) with the port file
# $TMP/NAME.port and the ARGs as its arguments, test/standin.py importable
# (no bytecode written into test/), its output in $TMP/NAME.log.  Returns
# once the port file is written; fails, showing the log, if it is not
# within 10 s.
start_standin() {
	local name=$1
	shift
	cat >"$TMP/standin-$name.py"
	rm -f "$TMP/$name.port"
	PYTHONPATH="$ROOT/test" PYTHONDONTWRITEBYTECODE=1 \
	    python3 "$TMP/standin-$name.py" "$TMP/$name.port" "$@" \
	    >"$TMP/$name.log" 2>&1 3>&- &
	BG+=("$!")
	wait_for 10 test -s "$TMP/$name.port" || {
		cat "$TMP/$name.log"
		return 1
	}
}

# garbage_server REPLY: the stand-in "garbage", on 127.0.0.1, answers
# every connection with REPLY (Python escapes: \r\n) and closes it.
garbage_server() {
	start_standin garbage "$1" <<'PY'
import sys, standin
reply = sys.argv[2].encode().decode("unicode_escape").encode("latin-1")
standin.serve_reply(reply, sys.argv[1])
PY
}

# ---- clients, polling, reports -------------------------------------------

# c ARGS...: curl with a deadline, silent, showing errors.
c() {
	curl -sS --max-time "$CURL_MAX_TIME" "$@"
}

# code ARGS...: only the HTTP status code.
code() {
	curl -s --max-time "$CURL_MAX_TIME" -o /dev/null -w '%{http_code}' "$@"
}

# put ID KEY VALUE [QUERY]: PUT through ID; prints the status code.
put() {
	code -X PUT -d "{\"value\":\"$3\"}" "$(url "$1")/kv/$2${4:-}"
}

# answer_on_tty ANSWER CMD...: runs CMD on a pseudo-terminal, waits for
# its "[y/N]" question (10 s at most), types ANSWER and a newline, and
# prints what CMD wrote there and a last line "exit=N".
answer_on_tty() {
	python3 - "$@" <<'EOF'
import os, pty, sys, time
answer, argv = sys.argv[1], sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.execv(argv[0], argv)
out = b""
deadline = time.time() + 10
while b"[y/N]" not in out and time.time() < deadline:
    out += os.read(fd, 1024)
os.write(fd, answer.encode() + b"\n")
try:
    while True:
        chunk = os.read(fd, 1024)
        if not chunk:
            break
        out += chunk
except OSError:
    pass
_, status = os.waitpid(pid, 0)
print(out.decode(errors="replace"))
print("exit=%d" % os.waitstatus_to_exitcode(status))
EOF
}

# run_split SECS CMD...: runs CMD under timeout(1) with stdout and stderr
# kept apart; sets rc (its status), out (stdout) and err (stderr).
run_split() {
	local secs=$1
	shift
	rc=0
	timeout "$secs" "$@" >"$TMP/stdout" 2>"$TMP/stderr" || rc=$?
	out=$(cat "$TMP/stdout")
	err=$(cat "$TMP/stderr")
}

# wait_for SECONDS CMD...: polls CMD every 0.1 s until it succeeds.
wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	while ! "$@"; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.1
	done
}

now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

# secs T0_MS: seconds since T0_MS, one decimal.
secs() {
	local ms=$(($(now_ms) - $1))
	printf '%d.%01d' $((ms / 1000)) $((ms % 1000 / 100))
}

# field NAME [FILE]: the number after NAME in a `kvctl verify` text report,
# read from FILE or, without one, from $output.
field() {
	if [ $# -ge 2 ]; then
		awk -v k="$1" '$1 == k { print $2; exit }' "$2"
	else
		printf '%s\n' "$output" | awk -v k="$1" '$1 == k { print $2; exit }'
	fi
}

# verify_clean [FILE]: the verify report (FILE, or $output) counts at least
# one acknowledged write, and no lost and no unreadable one.
verify_clean() {
	[ "$(field acknowledged "$@")" -gt 0 ] &&
	    [ "$(field lost "$@")" -eq 0 ] &&
	    [ "$(field unreadable "$@")" -eq 0 ]
}
