# test/netns.bash -- real network partitions for the bats files that need
# them (partition.bats, cas_partition.bats): kvd nodes, each in its own
# network namespace, joined by veth pairs to a bridge in a hub namespace;
# the test's clients run in one more.  Taking a node's veth down on the hub
# cuts it off from everyone (packets are dropped, not refused, so calls to
# it time out); setting it up again heals the partition.
#
# A file sets NET (a /24's first three octets, its own) and KPORT, then
# "load helpers" and "load netns":
#
#   netns_setup PREFIX             setup_tmp, NS=PREFIX-PID-TEST; skips the
#                                  test (with the reason) unless root, ip(8)
#                                  and working `ip netns`
#   netns_teardown                 kill and reap every node, then
#                                  delete every namespace (veths and the
#                                  bridge go with them), then teardown_tmp
#   make_net COUNT                 the hub with bridge br0; nodes n1..nCOUNT
#                                  and the client namespace cli, eth0 at
#                                  $NET.X/24 (X = node, 100 client) on a veth
#                                  whose hub end (h1.., hc) is a br0 port
#   net_or_skip COUNT              make_net COUNT, or skips the test with
#                                  the reason
#   cli CMD...                     CMD in the client namespace, bounded
#   member_addr N                  nodeN's host:port inside its namespace
#   start_member N COUNT [flags]   kvd nodeN in its namespace, one of COUNT,
#                                  --n COUNT --w 2 --r 2, then FLAGS
#   up N                           nodeN answers /health, from cli
#   start_members COUNT [flags]    node1..nodeCOUNT, then waits until each
#                                  is up (shows the logs when one is not)
#   cut N... / heal N...           takes nodes' veths down / up on the hub
#
# The addresses exist only inside the namespaces: the bridge has no uplink
# and the root namespace gets no address or route, so no packet leaves
# the machine.

netns_setup() {
	setup_tmp
	NS="$1-$$-$BATS_TEST_NUMBER"
	: >"$TMP/netns"
	local why
	if ! why=$(netns_usable "$1"); then
		skip "network namespaces not usable here: $why"
	fi
}

netns_teardown() {
	local f
	stop_bg
	stop_all
	for f in "$TMP"/*.pid; do
		[ -e "$f" ] && wait_exit "$(cat "$f")"
	done
	del_net
	teardown_tmp
}

# netns_usable PREFIX: root, ip(8), and a namespace can be made and removed.
netns_usable() {
	[ "$(id -u)" = 0 ] || { echo "not root"; return 1; }
	command -v ip >/dev/null || { echo "iproute2 (ip) not installed"; return 1; }
	local probe="$1-probe-$$"
	ip netns add "$probe" 2>&1 || return 1
	ip netns del "$probe" 2>&1 || return 1
}

# mkns NAME: creates namespace NAME and records it for teardown.
mkns() {
	ip netns add "$1" && echo "$1" >>"$TMP/netns"
}

make_net() {
	local i name addr
	mkns "$NS-hub" || return 1
	ip -n "$NS-hub" link add br0 type bridge || return 1
	ip -n "$NS-hub" link set br0 up || return 1
	for i in $(seq 1 "$1") c; do
		name="$NS-n$i" addr="$NET.$i"
		[ "$i" = c ] && name="$NS-cli" addr="$NET.100"
		mkns "$name" || return 1
		ip -n "$NS-hub" link add "h$i" type veth peer name eth0 \
		    netns "$name" || return 1
		ip -n "$NS-hub" link set "h$i" master br0 || return 1
		ip -n "$NS-hub" link set "h$i" up || return 1
		ip -n "$name" addr add "$addr/24" dev eth0 || return 1
		ip -n "$name" link set eth0 up || return 1
		ip -n "$name" link set lo up || return 1
	done
}

net_or_skip() {
	local why
	if ! why=$(make_net "$1" 2>&1); then
		del_net
		skip "cannot build the test network: $why"
	fi
}

# del_net: deletes every namespace this test made.
del_net() {
	local n
	[ -e "$TMP/netns" ] || return 0
	while read -r n; do
		[ -n "$n" ] && ip netns del "$n" 2>/dev/null
	done <"$TMP/netns"
	: >"$TMP/netns"
}

cli() {
	timeout 100 ip netns exec "$NS-cli" "$@"
}

# member_addr N: replaces helpers.bash's loopback one (peers_of uses it).
member_addr() {
	echo "$NET.$1:$KPORT"
}

# start_member N COUNT [flags...]: ip netns exec execs kvd, so the pid
# recorded is kvd's.
start_member() {
	local n=$1 count=$2
	shift 2
	ip netns exec "$NS-n$n" "$KVD" --id "node$n" --addr "$NET.$n:$KPORT" \
	    --advertise "$NET.$n:$KPORT" --data-dir "$DATA" \
	    --peers "$(peers_of "$n" "$count")" --n "$count" --w 2 --r 2 \
	    --peer-timeout-ms 500 --gossip-interval-ms 200 --log-level warn \
	    "$@" >>"$TMP/node$n.log" 2>&1 3>&- &
	echo $! >"$TMP/node$n.pid"
}

up() {
	cli curl -s --max-time 1 -o /dev/null -f "http://$(member_addr "$1")/health"
}

start_members() {
	local count=$1 n
	shift
	for n in $(seq 1 "$count"); do
		start_member "$n" "$count" "$@"
	done
	for n in $(seq 1 "$count"); do
		wait_for 10 up "$n" || { cat "$TMP"/node*.log; return 1; }
	done
}

cut() {
	local n
	for n in "$@"; do
		ip -n "$NS-hub" link set "h$n" down
	done
}

heal() {
	local n
	for n in "$@"; do
		ip -n "$NS-hub" link set "h$n" up
	done
}
