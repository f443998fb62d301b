# test/history.bash -- a recorded history of compare-and-swap clients and
# its check, for the bats files that run test/cas_history.py against a
# cluster (cas.bats, cas_partition.bats).  "load helpers" first.
#
#   record ARGS...     cas_history.py in the background, ARGS passed on
#                      (--servers, --clients, --key, ...); with RECORD_NS
#                      set, inside that network namespace
#   finish [SECONDS]   lets it run SECONDS more, stops it, and checks the
#                      history with test/linearizable.py

PY=${PYTHON:-python3}

# record ARGS...: into $TMP/h.jsonl (its summary in $TMP/h.sum); HPID is
# its pid, in BG.  It ends at its --duration, or when finish creates
# $TMP/stop.
record() {
	rm -f "$TMP/stop"
	timeout 150 ${RECORD_NS:+ip netns exec "$RECORD_NS"} "$PY" \
	    "$ROOT/test/cas_history.py" --out "$TMP/h.jsonl" \
	    --stop-file "$TMP/stop" "$@" >"$TMP/h.sum" 2>"$TMP/h.err" 3>&- &
	HPID=$!
	BG+=("$HPID")
}

# finish [SECONDS]: shows and checks the recorder's summary and the
# checker's verdict.  For a counter: acked > 0, none lost, and acked <=
# final <= acked + unknown.
finish() {
	local rc=0
	sleep "${1:-0}"
	touch "$TMP/stop"
	wait "$HPID" || rc=$?
	cat "$TMP/h.sum" "$TMP/h.err"
	[ "$rc" -eq 0 ]
	run "$PY" "$ROOT/test/linearizable.py" "$TMP/h.jsonl"
	echo "checker: $output"
	echo "# $(cat "$TMP/h.sum"); checker: $output" >&3
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r .linearizable)" = true ]
	if jq -e '.workload == "incr"' "$TMP/h.sum" >/dev/null; then
		[ "$(jq -r .acked "$TMP/h.sum")" -gt 0 ]
		[ "$(jq -r .lost "$TMP/h.sum")" -eq 0 ]
		[ "$(jq -r '.final <= .acked + .unknown' "$TMP/h.sum")" = true ]
	fi
}
