#!/usr/bin/env bats
# test/disk.bats -- a full disk.  kvd runs with its data directory on a
# small tmpfs that a filler file has mostly used up; writes go on until
# the WAL finds the disk full.  Then: every refusal is a 503 with a JSON
# error (never a 2xx for a write that is later missing), the log says
# why, reads go on, snapshots fail without touching the old snapshot or
# the WAL, writes resume once the filler is deleted, and after a restart
# every acknowledged write is there and the WAL is not corrupt.
#
# Needs root and permission to mount a tmpfs; skipped otherwise.

load helpers
bats_require_minimum_version 1.5.0

setup() {
	setup_tmp
	MNT="$TMP/mnt"
	mkdir -p "$MNT"
	if [ "$(id -u)" -ne 0 ]; then
		skip "not root: cannot mount a small tmpfs to fill"
	fi
	if ! mount -t tmpfs -o size=4m tmpfs "$MNT" 2>"$TMP/mount.err"; then
		skip "cannot mount a tmpfs here: $(cat "$TMP/mount.err")"
	fi
	MOUNTED=1
	DATA="$MNT"
	PAD=$(head -c 16000 /dev/zero | tr '\0' x)
}

teardown() {
	stop_all
	if [ -n "${INNER:-}" ]; then
		umount "$INNER" 2>/dev/null || umount -l "$INNER"
	fi
	if [ -n "${READONLY:-}" ]; then
		umount "$READONLY" 2>/dev/null || umount -l "$READONLY"
	fi
	if [ -n "${MOUNTED:-}" ]; then
		sleep 0.1
		umount "$MNT" 2>/dev/null || umount -l "$MNT"
	fi
	teardown_tmp
}

# put KEY: PUTs a 16 kB value made from KEY; prints the status code and
# leaves the body in $TMP/body.
put() {
	curl -s --max-time 10 -o "$TMP/body" -w '%{http_code}' -X PUT \
	    -H 'Content-Type: application/json' \
	    -d "{\"value\":\"$1-$PAD\"}" "$(url n1)/kv/$1"
}

# values KEYFILE: the value read for each key in KEYFILE, one per line
# ("-" for none), fetched over one keep-alive connection.
values() {
	[ -s "$1" ] || return 0
	curl -s --max-time 30 $(sed "s#^#$(url n1)/kv/#" "$1") |
	    jq -r '.value // "-"'
}

# check_all: every acknowledged key reads back with its value; a refused
# one is absent or right (a refused write may have been applied).
check_all() {
	local bad
	bad=$(paste -d ' ' "$TMP/acked" <(values "$TMP/acked") |
	    while read -r k v; do
		[ "$v" = "$k-$PAD" ] || echo "acknowledged $k: read ${v:0:40}"
	    done)
	bad="$bad$(paste -d ' ' "$TMP/refused" <(values "$TMP/refused") |
	    while read -r k v; do
		[ "$v" = - ] || [ "$v" = "$k-$PAD" ] ||
		    echo "refused $k: read ${v:0:40}"
	    done)"
	[ -z "$bad" ] || {
		echo "$bad" >&2
		return 1
	}
	[ "$(values "$TMP/acked" | wc -l)" -eq "$(wc -l <"$TMP/acked")" ]
}

# snapshot_failures: n1's kvd_snapshot_failures_total.
snapshot_failures() {
	curl -s --max-time 10 "$(url n1)/metrics" |
	    awk '$1 == "kvd_snapshot_failures_total" { print $2 + 0 }'
}

@test "a full disk: 503 with a JSON error, reads go on, writes resume when space is freed, nothing acknowledged is lost" {
	local i code snap_before st refusals=0
	: >"$TMP/acked"
	: >"$TMP/refused"
	start_node n1 --snapshot-interval 1
	for i in $(seq 1 5); do
		[ "$(put first$i)" = 201 ]
		echo "first$i" >>"$TMP/acked"
	done
	# An old snapshot to keep: wait for the first one.
	for i in $(seq 1 50); do
		[ -s "$DATA/n1/snapshot.json" ] && break
		sleep 0.1
	done
	[ -s "$DATA/n1/snapshot.json" ]

	# Leave about 600 kB free, then write until the disk is full.
	avail=$(df -k "$MNT" | awk 'NR == 2 {print $4}')
	dd if=/dev/zero of="$MNT/filler" bs=1k count=$((avail - 600)) \
	    2>/dev/null
	for i in $(seq 1 1000); do
		code=$(put "k$i")
		case $code in
		2??)	echo "k$i" >>"$TMP/acked"
			refusals=0 ;;
		503)	echo "k$i" >>"$TMP/refused"
			# A quorum write's failure, whichever step refused
			# it: the WAL's write, or the log found full before.
			jq -e '.error | type == "string"' "$TMP/body" >/dev/null &&
			    jq -e '.code == "storage_failure" and
			    .acks == 0 and .required == 1' "$TMP/body" \
			    >/dev/null || {
				echo "503 without a JSON quorum error" \
				    "(storage_failure, acks 0 of 1):" >&2
				cat "$TMP/body" >&2
				return 1
			}
			refusals=$((refusals + 1))
			[ "$refusals" -ge 5 ] && break ;;
		*)	echo "k$i: unexpected status $code" >&2
			cat "$TMP/body" >&2
			return 1 ;;
		esac
	done
	[ "$refusals" -ge 5 ]
	echo "# $(wc -l <"$TMP/acked") writes acknowledged, then 503" >&3
	grep -q 'msg="wal write failed: disk full' "$TMP/n1.log"
	# It says what it keeps now (a record or so), not "free 16 MiB":
	# the whole disk is 4 MiB, and writes resume below.
	kept=$(grep -o 'msg="wal write failed: disk full; writes are refused (503) until there is room for the refused records it keeps (kept_bytes now; each refused write adds its own, up to 16 MiB) and for new ones" .* kept_bytes=[0-9]*' "$TMP/n1.log" | sed 's/.*kept_bytes=//')
	echo "kept_bytes=$kept"
	[ -n "$kept" ]
	[ "$kept" -gt 0 ]
	[ "$kept" -lt 1000000 ]
	# The node says it cannot write: /health, /metrics.
	curl -s --max-time 10 "$(url n1)/health" | jq -e '.status == "ok" and .storage == "disk_full"'
	curl -s --max-time 10 "$(url n1)/metrics" | grep -qx 'kvd_wal_disk_full 1'

	# Reads go on while the disk is full.
	[ "$(curl -s --max-time 10 "$(url n1)/kv/first1" | jq -r .value)" = \
	    "first1-$PAD" ]

	# A peer's copy of a version this node holds only in memory (a
	# refused write it applied, its record kept for a retry) is not
	# "ignored" with a 200: that would tell the sender (a transfer,
	# a hint, a replica's batch) it is safe here.
	held=
	while read -r k; do
		if [ "$(curl -s -o /dev/null -w '%{http_code}' \
		    "$(url n1)/kv/$k")" = 200 ]; then
			held=$k
			break
		fi
	done <"$TMP/refused"
	[ -n "$held" ]
	curl -s --max-time 10 "$(url n1)/internal/list?prefix=$held&limit=1&values=1" |
	    head -1 >"$TMP/held.rec"
	grep -q "\"$held\"" "$TMP/held.rec"
	code=$(curl -s --max-time 10 -o "$TMP/body" -w '%{http_code}' \
	    -X POST --data-binary @"$TMP/held.rec" "$(url n1)/internal/batch")
	cat "$TMP/body"
	[ "$code" = 503 ]

	# Snapshots fail for lack of space; the old one and the WAL stay.
	snap_before=$(cksum <"$DATA/n1/snapshot.json")
	fails=$(snapshot_failures)
	wait_for 20 eval '[ "$(snapshot_failures)" -gt "$fails" ]'
	grep -q 'snapshot failed.*No space left on device' "$TMP/n1.log"
	[ "$(cksum <"$DATA/n1/snapshot.json")" = "$snap_before" ]
	[ ! -e "$DATA/n1/snapshot.json.tmp" ]

	# Free the space: writes resume.
	rm -f "$MNT/filler"
	for i in 1 2 3; do
		code=$(put "after$i")
		[ "$code" = 201 ] || {
			echo "after$i: $code $(cat "$TMP/body")" >&2
			return 1
		}
		echo "after$i" >>"$TMP/acked"
	done
	grep -q 'msg="wal writes resumed"' "$TMP/n1.log"
	curl -s --max-time 10 "$(url n1)/health" | jq -e '.storage == "ok"'
	curl -s --max-time 10 "$(url n1)/metrics" | grep -qx 'kvd_wal_disk_full 0'
	code=$(curl -s --max-time 10 -o "$TMP/body" -w '%{http_code}' \
	    -X POST --data-binary @"$TMP/held.rec" "$(url n1)/internal/batch")
	[ "$code" = 200 ]
	jq -e '.ignored == 1' "$TMP/body"
	sed -i "/^$held\$/d" "$TMP/refused"
	echo "$held" >>"$TMP/acked"
	check_all

	# A crash now: the WAL replays, everything acknowledged is there.
	kill_node n1
	start_node n1 --snapshot-interval 0
	check_all
	echo "# $(wc -l <"$TMP/acked") acknowledged, 0 lost after restart" >&3

	# And a clean stop writes a snapshot that loads.
	kill_node n1 TERM
	st=0
	wait "$(pid_of n1)" || st=$?
	[ "$st" -eq 0 ]
	start_node n1 --snapshot-interval 0
	check_all
}

@test "a write whose copy here cannot be made durable answers a quorum failure: acks and required, this node not among the acks" {
	local p1 p2
	read -r p1 p2 <<<"$(free_ports 2)"
	# Every WAL write of n1 finds the disk full; n2's disk is fine.
	KVD_FAILPOINTS=wal-write-enospc@1+ start_node n1 \
	    --addr "127.0.0.1:$p1" --peers "n2=127.0.0.1:$p2" --n 2 --w 2 \
	    --gossip-interval-ms 100
	DATA=$TMP start_node n2 --addr "127.0.0.1:$p2" \
	    --peers "n1=127.0.0.1:$p1" --n 2 --w 2 --gossip-interval-ms 100
	wait_for 20 sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' \
	    http://127.0.0.1:$p1/ready)\" = 200 ]"
	# n1 logs its copy, n2 acknowledges: W=2 is met; then n1's WAL
	# write fails, and the write is answered 503 all the same.
	code=$(curl -s --max-time 10 -D "$TMP/head" -o "$TMP/body" \
	    -w '%{http_code}' -X PUT -d '{"value":"v"}' \
	    "http://127.0.0.1:$p1/kv/k1")
	cat "$TMP/head" "$TMP/body"
	[ "$code" = 503 ]
	jq -e '.code == "storage_failure" and
	    (.error | startswith("storage failure: disk full")) and
	    .acks == 1 and .required == 2 and .acked == "n2" and
	    (.replicas | split(",") | sort) == ["n1", "n2"]' "$TMP/body"
	tr -d '\r' <"$TMP/head" | grep -qx 'X-Kvd-Acks: 1'
	tr -d '\r' <"$TMP/head" | grep -qx 'X-Kvd-Required: 2'
	! tr -d '\r' <"$TMP/head" | grep -qi '^Location:' || false
	# The next write finds n1's log full and does not ask it: the same
	# figures, from the other path.
	code=$(curl -s --max-time 10 -o "$TMP/body" -w '%{http_code}' \
	    -X PUT -d '{"value":"v"}' "http://127.0.0.1:$p1/kv/k2")
	cat "$TMP/body"
	[ "$code" = 503 ]
	jq -e '.code == "storage_failure" and .acks == 1 and
	    .required == 2 and .acked == "n2"' "$TMP/body"
}

@test "a disk full at start-up of a write burst: concurrent writers get 503 or 2xx, never a lost 2xx" {
	local i j code pids=
	: >"$TMP/acked"
	: >"$TMP/refused"
	start_node n1 --snapshot-interval 0
	avail=$(df -k "$MNT" | awk 'NR == 2 {print $4}')
	dd if=/dev/zero of="$MNT/filler" bs=1k count=$((avail - 200)) \
	    2>/dev/null
	# 4 writers at once so refused batches and retries interleave.
	for j in 1 2 3 4; do
		(
			for i in $(seq 1 25); do
				code=$(curl -s --max-time 10 -o /dev/null \
				    -w '%{http_code}' -X PUT \
				    -d "{\"value\":\"c$j-$i-$PAD\"}" \
				    "$(url n1)/kv/c$j-$i")
				case $code in
				2??) echo "c$j-$i" >>"$TMP/acked.$j" ;;
				503) echo "c$j-$i" >>"$TMP/refused.$j" ;;
				*) echo "c$j-$i $code" >>"$TMP/other.$j" ;;
				esac
			done
		) &
		pids="$pids $!"
	done
	for j in $pids; do
		wait "$j"
	done
	cat "$TMP"/acked.* >"$TMP/acked" 2>/dev/null || true
	cat "$TMP"/refused.* >"$TMP/refused" 2>/dev/null || true
	[ -z "$(cat "$TMP"/other.* 2>/dev/null)" ] || {
		cat "$TMP"/other.* >&2
		return 1
	}
	[ -s "$TMP/refused" ]
	echo "# $(wc -l <"$TMP/acked") acknowledged, $(wc -l <"$TMP/refused") refused" >&3
	rm -f "$MNT/filler"
	[ "$(put later)" = 201 ]
	echo later >>"$TMP/acked"
	kill_node n1
	start_node n1 --snapshot-interval 0
	check_all
}

@test "the first /health and /ready after space is freed say storage ok: they wait (briefly) for the log's retry" {
	local i code refusals=0
	start_node n1 --snapshot-interval 0
	avail=$(df -k "$MNT" | awk 'NR == 2 {print $4}')
	dd if=/dev/zero of="$MNT/filler" bs=1k count=$((avail - 300)) \
	    2>/dev/null
	for i in $(seq 1 1000); do
		code=$(put "k$i")
		case $code in
		2??)	;;
		503)	refusals=$((refusals + 1))
			[ "$refusals" -ge 3 ] && break ;;
		*)	echo "k$i: unexpected status $code" >&2
			return 1 ;;
		esac
	done
	[ "$refusals" -ge 3 ]
	curl -s --max-time 10 "$(url n1)/health" | jq -e '.storage == "disk_full"'
	rm -f "$MNT/filler"
	# No write in between: the probe itself has the kept records
	# written, and answers once that is done (or HEALTH_RETRY_MS passed).
	run curl -s --max-time 10 "$(url n1)/health"
	echo "$output"
	jq -e '.storage == "ok"' <<<"$output"
	grep -q 'msg="wal writes resumed"' "$TMP/n1.log"
	[ "$(curl -s --max-time 10 "$(url n1)/ready")" = '{"ready":true}' ]
}

# fill_up: fills the disk whole (the filler takes every free block), then
# PUTs until three are refused; acknowledged keys go to $TMP/acked.
fill_up() {
	local i code refusals=0
	dd if=/dev/zero of="$MNT/filler" bs=4k 2>/dev/null || true
	for i in $(seq 1 1000); do
		code=$(put "fill$i-$SECONDS")
		case $code in
		2??)	;;
		503)	refusals=$((refusals + 1))
			[ "$refusals" -ge 3 ] && return 0 ;;
		*)	echo "unexpected status $code" >&2
			return 1 ;;
		esac
	done
	return 1
}

# logged N PATTERN: n1's log has exactly N lines matching PATTERN.
logged() {
	[ "$(grep -c -- "$2" "$TMP/n1.log")" -eq "$1" ]
}

# alive: n1's process still runs.
alive() {
	kill -0 "$(pid_of n1)" 2>/dev/null
}

@test "a disk full longer than --tombstone-grace: the alive stamp is not renewed (logged once) and is again once space is freed; a spell past the grace stops the node (exit 1, the advice), its next start is refused, --allow-stale only warns" {
	local stamp="$DATA/n1/alive" st=0
	start_node n1 --tombstone-grace 8 --snapshot-interval 0
	[ "$(put kept)" = 201 ]
	fill_up
	# One line, whichever came first: the stamp's own write failing,
	# or the log refusing writes.
	wait_for 20 logged 1 'msg="\(cannot write the alive stamp\|alive stamp not renewed while the disk refuses writes\)'
	grep 'msg="\(cannot write the alive stamp\|alive stamp not renewed\)' "$TMP/n1.log" |
	    grep -q "file=$stamp "
	# Freed before the grace: no write needed, the stamp round retries
	# the log's kept records, and the node serves on.
	rm -f "$MNT/filler"
	wait_for 20 logged 1 'msg="alive stamp written again"'
	alive
	[ "$(put after)" = 201 ]

	# Full again, past the grace: the node stops by itself, exit 1,
	# saying why and what to do; no stamp was written meanwhile.
	fill_up
	wait_for 60 eval '! alive'
	wait "$(pid_of n1)" || st=$?
	[ "$st" -eq 1 ]
	grep 'level=error msg="stopping: this node'"'"'s disk refused writes longer than --tombstone-grace"' "$TMP/n1.log" >"$TMP/stop"
	cat "$TMP/stop"
	grep -q "this node's log refused every write, replicated deletes included, for [0-9]* s (its disk is full: no retry found room), longer than --tombstone-grace 8 s: keys deleted meanwhile on nodes that stayed up could come back from it, so it stops now and its next start is refused.*start it with --allow-stale; otherwise wipe" "$TMP/stop"
	run timeout 10 "$KVD" --id n1 --addr 127.0.0.1:0 --data-dir "$DATA" \
	    --tombstone-grace 8 3>&-
	echo "status $status: $output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"this node's alive stamp $stamp is "[0-9]*" s old: the node was stopped, or could not write to its disk (and took no deletes either), that long, longer than --tombstone-grace 8 s"* ]]

	# --allow-stale, the disk still full: refused writes only warn.
	: >"$TMP/n1.log"
	start_node n1 --tombstone-grace 8 --allow-stale --snapshot-interval 0
	fill_up
	wait_for 60 logged 1 'level=warn msg="node refused writes longer than the tombstone grace period (its disk full, or its log failed); serving on (--allow-stale)"'
	alive
	[ "$(curl -s --max-time 10 "$(url n1)/kv/kept" | jq -r .value)" = \
	    "kept-$PAD" ]
	rm -f "$MNT/filler"
	[ "$(put later)" = 201 ]
}

@test "a full disk under the compare-and-swap log alone past --tombstone-grace: conditional writes answer 503, other writes and deletes go on, the stamp is renewed and the node serves on (only the store's WAL counts)" {
	local p="$DATA/n1/paxos" t0 st
	start_node n1 --tombstone-grace 5 --snapshot-interval 0
	[ "$(put kept)" = 201 ]
	kill_node n1 TERM
	# paxos/ on a tmpfs of its own, full: its log refuses, the store's not.
	cp -a "$p" "$TMP/paxos"
	mount -t tmpfs -o size=1m tmpfs "$p"
	INNER=$p
	cp -a "$TMP/paxos/." "$p/"
	dd if=/dev/zero of="$p/filler" bs=4k 2>/dev/null || true
	start_node n1 --tombstone-grace 5 --snapshot-interval 0
	t0=$(cat "$DATA/n1/alive")
	cas() {
		curl -s --max-time 10 -o "$TMP/body" -w '%{http_code}' -X PUT \
		    -H 'If-None-Match: *' -d '{"value":"c"}' "$(url n1)/kv/c$1"
	}
	[ "$(cas 0)" = 503 ]
	jq -e '.code == "storage_failure"' "$TMP/body"
	# /health tells the two logs apart: plain writes go on.
	curl -s --max-time 10 "$(url n1)/health" >"$TMP/health"
	cat "$TMP/health"
	jq -e '.status == "ok" and .storage == "ok" and .cas_storage == "disk_full"' "$TMP/health"
	curl -s --max-time 10 "$(url n1)/ready" | jq -e '.ready and .cas_storage == "disk_full" and .storage == null'
	run --separate-stderr "$KVCTL" --server "$(url n1)" health
	echo "status $status: $stderr"
	[ "$status" -eq 5 ]
	[ "$stderr" = "kvctl: health: cas_storage disk_full: the compare-and-swap log's disk is full, conditional writes refused until space is freed (plain writes go on)" ]
	# -o table shows it too, beside the store's.
	run --separate-stderr "$KVCTL" --server "$(url n1)" health -o table
	echo "status $status: $output"
	[ "$status" -eq 5 ]
	[[ "$(tail -1 <<<"$output")" =~ ^n1\ +ok\ +ok\ +disk_full\ +[0-9.]+[smhd]$ ]]
	[ "$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' -X DELETE \
	    "$(url n1)/kv/kept")" = 204 ]
	# Refused for longer than the grace: the node serves on.
	for st in 1 2 3 4 5 6 7 8 9; do
		[ "$(cas "$st")" = 503 ]
		sleep 1
	done
	alive
	[ "$(put after)" = 201 ]
	! grep -q 'stopping: this node' "$TMP/n1.log"
	! grep -q 'alive stamp not renewed' "$TMP/n1.log"
	[ "$(cat "$DATA/n1/alive")" -gt $((t0 + 5000)) ]
	# Killed and started again at once: not taken for away.
	kill_node n1
	start_node n1 --tombstone-grace 5 --snapshot-interval 0
	[ "$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' \
	    "$(url n1)/kv/kept")" = 404 ]
	rm -f "$p/filler"
	[ "$(cas 10)" = 201 ]
	curl -s --max-time 10 "$(url n1)/health" | jq -e '.storage == "ok" and .cas_storage == "ok"'
}

# read_only DIR: DIR is mounted read-only over itself (a bind mount), so
# nothing new is made in it, root's processes included; teardown undoes it.
read_only() {
	mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" && READONLY=$1
}

@test "a WAL directory that takes no new file: each snapshot failure names its step and file (the new segment), kvd_snapshot_failures_total counts them, and the next start exits 1 naming the directory" {
	local wal="$DATA/n1/wal"
	start_node n1 --snapshot-interval 1
	[ "$(put a)" = 201 ]
	read_only "$wal"
	[ "$(put b)" = 201 ]	# the open segment still takes writes
	wait_for 20 grep -q "msg=\"snapshot failed\" step=create file=$wal/wal-[0-9a-f]*\\.log error=\"Read-only file system\"" "$TMP/n1.log" ||
	    { grep 'snapshot failed' "$TMP/n1.log"; false; }
	! grep -q 'snapshot failed.*snapshot.json.tmp' "$TMP/n1.log"
	curl -s --max-time 10 "$(url n1)/metrics" |
	    awk '$1 == "kvd_snapshot_failures_total" && $2 >= 1 { ok = 1 } END { exit !ok }'
	kill_node n1 TERM
	run timeout 10 "$KVD" --id n1 --addr 127.0.0.1:0 --data-dir "$DATA" 3>&-
	echo "status $status: $output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"$wal: cannot create a file in it"*"Read-only file system"* ]]
	umount "$wal"
	READONLY=
	start_node n1
	[ "$(curl -s --max-time 10 "$(url n1)/kv/b" | jq -r .value)" = "b-$PAD" ]
}

@test "snapshots that keep failing are logged once per 10 s while kvd_snapshot_failures_total counts each; the first that works again is logged once" {
	local n lines
	start_node n1 --snapshot-interval 1
	[ "$(put a)" = 201 ]
	read_only "$DATA/n1/wal"
	[ "$(put b)" = 201 ]	# changed since the last snapshot
	wait_for 60 eval '[ "$(snapshot_failures)" -ge 6 ]'
	n=$(snapshot_failures)
	lines=$(grep -c 'msg="snapshot failed"' "$TMP/n1.log")
	echo "$n failures, $lines lines"
	# A line per failure (one may be on its way) was the flood.
	[ "$lines" -le $((n - 2)) ]
	[ "$lines" -ge 1 ]
	umount "$DATA/n1/wal"
	READONLY=
	wait_for 20 logged 1 'level=info msg="snapshot written again" failed=[0-9]* failing_s=[0-9]*'
	n=$(grep -o 'msg="snapshot written again" failed=[0-9]*' "$TMP/n1.log" |
	    sed 's/.*failed=//')
	[ "$n" -ge 6 ]
	[ "$(put c)" = 201 ]
	sleep 3	# a few more snapshots, if anything changed: no second line
	logged 1 'msg="snapshot written again"'
}

@test "a hints directory that takes no new file stops the start, exit 1, naming it: each member's hints get a directory there when it is first down" {
	local hints="$DATA/n1/hints"
	start_node n1
	kill_node n1 TERM
	read_only "$hints"
	run timeout 10 "$KVD" --id n1 --addr 127.0.0.1:0 --data-dir "$DATA" 3>&-
	echo "status $status: $output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"$hints: cannot create a file in it (each member's hints get a directory there when it is first down): Read-only file system"* ]]
	umount "$hints"
	READONLY=
	start_node n1
}

@test "a full disk at start: a node that moved (--addr :0) starts as one that did not, its new address in use; members.json is saved once there is room" {
	local old new
	start_node n1 --snapshot-interval 0
	[ "$(put kept)" = 201 ]
	old=$(port_of n1)
	kill_node n1 TERM
	dd if=/dev/zero of="$MNT/filler" bs=4k 2>/dev/null || true
	start_node n1 --snapshot-interval 0
	new=$(port_of n1)
	[ "$new" != "$old" ]
	grep -q 'msg="cluster: this node moved' "$TMP/n1.log"
	grep -q "msg=\"cluster: cannot save member list; the list in memory is the one in use, and its save is retried every gossip round\" file=$DATA/n1/members.json .*No space left on device" "$TMP/n1.log"
	grep -q "127.0.0.1:$old\"" "$DATA/n1/members.json"
	curl -s --max-time 10 "$(url n1)/cluster/nodes" >"$TMP/nodes"
	grep -q "127.0.0.1:$new\"" "$TMP/nodes"
	[ "$(curl -s --max-time 10 "$(url n1)/kv/kept" | jq -r .value)" = \
	    "kept-$PAD" ]
	rm -f "$MNT/filler"
	wait_for 20 logged 1 'level=info msg="cluster: member list saved again"'
	logged 1 'msg="cluster: cannot save member list'
	grep -q "127.0.0.1:$new\"" "$DATA/n1/members.json"
}

# leave_room K: the tmpfs is full but for K pages.
leave_room() {
	rm -f "$MNT/filler"
	dd if=/dev/zero of="$MNT/filler" bs=4k 2>/dev/null || true
	truncate -s -$(($1 * 4096)) "$MNT/filler"
}

@test "a new node on a disk without room for its alive stamp does not start (exit 1, naming the file, nothing left behind): every node that ran has a stamp" {
	local k started=0
	for k in 0 1 2 3 4 5 6; do
		rm -rf "$DATA/n1"
		leave_room "$k"
		: >"$TMP/n1.log"
		if start_node n1 --tombstone-grace 5 2>/dev/null; then
			echo "$k pages free: started"
			started=$((started + 1))
			# Before: a node whose stamp found no room ran
			# without one, and its next start, however late,
			# was taken for a first start.
			[ -s "$DATA/n1/alive" ]
			kill_node n1
		else
			grep 'msg="cannot start"' "$TMP/n1.log"
			grep -q "msg=\"cannot start\".*cannot write $DATA/n1/\(alive\|incarnation\) ([a-z]*): No space left on device" "$TMP/n1.log"
			[ ! -e "$DATA/n1" ]
		fi
	done
	[ "$started" -ge 1 ]
}

# A node restarted fresh (an empty store, no placed.json) onto a full
# disk: the transfer thread saves placed.json at every poll (500 ms) until
# it works.  A failure is logged once per 10 s and the save that ends the
# run once, with how many failed (helper-95 saw ten lines in 5 s).
@test "placed.json that cannot be saved is logged once per 10 s while every poll retries it; the save that works again is logged once with the count" {
	local n lines t0
	start_node n1 --snapshot-interval 0
	wait_for 30 test -s "$DATA/n1/placed.json"
	kill_node n1 TERM
	rm "$DATA/n1/placed.json"
	dd if=/dev/zero of="$MNT/filler" bs=4k 2>/dev/null || true
	start_node n1 --snapshot-interval 0
	wait_for 30 grep -q "level=error msg=\"transfer: cannot save the placed member list\" file=$DATA/n1/placed.json op=[a-z]* err=\"No space left on device\"" "$TMP/n1.log"
	t0=$SECONDS
	sleep 5	# some ten more polls, each failing
	lines=$(grep -c 'msg="transfer: cannot save the placed member list"' "$TMP/n1.log")
	echo "$lines lines in $((SECONDS - t0)) s or more"
	[ "$lines" -le $((2 + (SECONDS - t0) / 10)) ]
	rm -f "$MNT/filler"
	wait_for 30 logged 1 "level=info msg=\"transfer: placed member list saved again\" file=$DATA/n1/placed.json failed=[0-9]* failing_s=[0-9]*"
	n=$(grep -o 'msg="transfer: placed member list saved again" file=[^ ]* failed=[0-9]*' "$TMP/n1.log" |
	    sed 's/.*failed=//')
	lines=$(grep -c 'msg="transfer: cannot save the placed member list"' "$TMP/n1.log")
	echo "$n failures, $lines lines"
	[ "$n" -ge 3 ]
	# A line per failure was the flood.
	[ "$lines" -le $((n - 2)) ]
	test -s "$DATA/n1/placed.json"
	sleep 2	# more polls, nothing to save: no second line
	logged 1 'msg="transfer: placed member list saved again"'
}

@test "SIGTERM on a full disk: the final snapshot fails, is logged, and the stop is still clean (exit 0); the next start has every write" {
	local st=0
	start_node n1 --snapshot-interval 0
	[ "$(put kept)" = 201 ]
	fill_up
	kill_node n1 TERM
	wait "$(pid_of n1)" || st=$?
	grep -q 'msg="snapshot failed" step=.*error="No space left on device"' "$TMP/n1.log"
	grep -q 'level=warn msg="final snapshot failed; the WAL holds every acknowledged write and the next start replays it"' "$TMP/n1.log"
	[ "$st" -eq 0 ]
	rm -f "$MNT/filler"
	start_node n1 --snapshot-interval 0
	[ "$(curl -s --max-time 10 "$(url n1)/kv/kept" | jq -r .value)" = \
	    "kept-$PAD" ]
}
