# test/helpers.bash -- shared by the bats files: start real kvd processes on
# free loopback ports in a per-file temporary directory, and kill every one
# of them in teardown, even when a test fails.
#
#   start_node ID [kvd flags...]   starts kvd, waits until it answers;
#                                  sets PORT_<ID> and prints nothing
#   url ID                         http://127.0.0.1:PORT
#   kill_node ID [SIGNAL]          kill -9 (or SIGNAL) and wait for exit
#   stop_all                       kill -9 every node this file started

ROOT="$(cd "$BATS_TEST_DIRNAME/.." && pwd)"
KVD="$ROOT/kvd"
KVCTL="$ROOT/kvctl"

setup_tmp() {
	TMP="$(mktemp -d "${BATS_TMPDIR:-/tmp}/kvd-bats.XXXXXX")"
	DATA="$TMP/data"
	mkdir -p "$DATA"
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
	for i in $(seq 1 200); do
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
	echo "kvd $id did not start in 10 s" >&2
	return 1
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

# wait_exit PID: waits for a process that was asked to stop; returns its status.
wait_exit() {
	local i
	for i in $(seq 1 300); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.05
	done
	return 1
}

stop_all() {
	local f
	for f in "$TMP"/*.pid; do
		[ -e "$f" ] || continue
		kill -9 "$(cat "$f")" 2>/dev/null || true
		kill -CONT "$(cat "$f")" 2>/dev/null || true
	done
}

teardown_tmp() {
	stop_all
	rm -rf "$TMP"
}
