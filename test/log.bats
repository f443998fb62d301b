#!/usr/bin/env bats
# test/log.bats -- log lines stay one line per event and parse, whatever a
# logged value holds (issue 16, part 3).
#
# node1 is a real kvd whose one peer, node2, is a stand-in on loopback that
# answers every request with 413 and an error body holding quotes, a
# newline in the middle and a trailing newline, as a peer with a small
# limit once did.  node1's anti-entropy round logs that body
# ("anti-entropy sync refused"): in text it must be one escaped logfmt
# line, in JSON one object whose .status is a number.  node1 also has a
# tiny --max-body and --request-log, so a too-large PUT logs a request
# line with status 413.

load helpers

BODY='{"error":"request body too large"}
say "hi"\ back
'

setup() {
	setup_tmp
	# The stand-in peer: any method, any path, 413 and $BODY.
	start_standin peer "$BODY" <<'PY'
import sys, standin
body = sys.argv[2].encode()
class H(standin.Handler):
    def refuse(self):
        self.body()
        self.send(413, body, ("Connection", "close"))
    do_GET = do_POST = do_PUT = do_DELETE = refuse
standin.serve(H, sys.argv[1])
PY
}

# start1 [flags...]: node1 with node2 = the stand-in, waiting for the
# refused anti-entropy round and the too-large PUT to be logged.
start1() {
	start_node node1 --peers "node2=127.0.0.1:$(port_of peer)" \
	    --n 2 --w 1 --r 1 --anti-entropy-interval 1 --max-body 16 \
	    --request-log "$@"
	[ "$(code -X PUT --data-binary '{"value":"far too long for 16 bytes"}' \
	    "$(url node1)/kv/big")" = 413 ]
	wait_for 20 grep -q 'anti-entropy sync refused' "$TMP/node1.log"
	wait_for 10 grep -q 'request' "$TMP/node1.log"
	kill_node node1 TERM
}

@test "text: a body with quotes and newlines is one logfmt line, escaped" {
	start1
	cat "$TMP/node1.log"
	# Every line is an event: no line is the tail of a broken value.
	run grep -cvE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z level=[a-z]+ msg="' \
	    "$TMP/node1.log"
	[ "$output" = 0 ]
	line=$(grep -m1 'anti-entropy sync refused' "$TMP/node1.log")
	echo "line: $line"
	[[ "$line" == *' status=413 body="{\"error\":\"request body too large\"}\nsay \"hi\"\\ back\n"'* ]]
	[[ "$line" == *' peer=node2 '* ]]
	line=$(grep -m1 'msg="request" method=PUT' "$TMP/node1.log")
	[[ "$line" == *' path=/kv/big status=413 '* ]]
}

@test "a write answered later (deferred) logs its request line with its final status" {
	start_node node1 --request-log
	[ "$(code -X PUT --data-binary '{"value":"v"}' "$(url node1)/kv/small")" = 201 ]
	wait_for 10 grep -q 'msg="request" method=PUT path=/kv/small ' \
	    "$TMP/node1.log"
	line=$(grep -m1 'msg="request" method=PUT path=/kv/small ' "$TMP/node1.log")
	echo "line: $line"
	[[ "$line" == *' status=201 ms='* ]]
	[ "$(curl -s "$(url node1)/metrics" |
	    grep -c '^kvd_requests_total{route="/kv/",method="PUT",status="201"} 1$')" = 1 ]
}

@test "json: every line parses, fields are members, numbers are numbers" {
	start1 --log-format json
	cat "$TMP/node1.log"
	[ "$(grep -c . "$TMP/node1.log")" -gt 2 ]
	# Each line on its own is one JSON object.
	while IFS= read -r l; do
		printf '%s' "$l" | jq -e 'type == "object"' >/dev/null ||
		    { echo "not JSON: $l"; false; }
	done <"$TMP/node1.log"
	python3 -c 'import json, sys; [json.loads(l) for l in open(sys.argv[1])]' \
	    "$TMP/node1.log"
	run jq -c 'select(.msg == "anti-entropy sync refused")' "$TMP/node1.log"
	line=$(printf '%s\n' "$output" | head -1)
	echo "line: $line"
	[ "$(printf '%s' "$line" | jq -r '.status | type')" = number ]
	[ "$(printf '%s' "$line" | jq '.status')" = 413 ]
	[ "$(printf '%s' "$line" | jq -r '.peer')" = node2 ]
	printf '%s' "$line" | jq -e --arg b "$BODY" '.body == $b'
	[ "$(printf '%s' "$line" | jq 'has("fields")')" = false ]
	run jq -c 'select(.msg == "request" and .method == "PUT")' "$TMP/node1.log"
	echo "request: $output"
	[ "$(printf '%s' "$output" | jq '.status')" = 413 ]
	[ "$(printf '%s' "$output" | jq -r '.ms | type')" = number ]
	[ "$(printf '%s' "$output" | jq -r '.path')" = /kv/big ]
	# The ready line's numbers too.
	[ "$(jq -r 'select(.msg == "kvd ready") | .port | type' "$TMP/node1.log")" = number ]
}

@test "json: a start-up failure is a JSON line too; a usage error stays plain text" {
	start_node n0
	run timeout 10 "$KVD" --id n1 --data-dir "$DATA" \
	    --addr "127.0.0.1:$PORT_n0" --log-format json 3>&-
	echo "status $status: $output"
	[ "$status" -eq 1 ]
	line=$(printf '%s\n' "$output" | jq -c 'select(.msg == "cannot start")')
	[ "$(printf '%s' "$line" | jq -r .level)" = error ]
	[[ "$(printf '%s' "$line" | jq -r .err)" == *"in use"* ]]
	run timeout 10 "$KVD" --id n1 --data-dir "$DATA" --addr 127.0.0.1:0 \
	    --cluster-secret-file "$TMP/none" --log-format json 3>&-
	echo "status $status: $output"
	[ "$status" -eq 2 ]
	[[ "$(printf '%s' "$output" | jq -r .err)" == *"$TMP/none"* ]]
	run timeout 10 "$KVD" --id 'not an id' --data-dir "$DATA" \
	    --log-format json 3>&-
	echo "status $status: $output"
	[ "$status" -eq 2 ]
	[[ "$output" == "kvd: bad --id"* ]]
}

# A peer whose answers are no valid HTTP: node1's log names what was
# wrong, in kvctl's words (client_strerror, through peer_strerror), not
# strerror(EPROTO)'s "Protocol error".
@test "a peer answering no valid response: the node's log names why (bad response: Content-Length not a number)" {
	garbage_server 'HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n'
	start_node node1 --peers "node2=127.0.0.1:$(port_of garbage)" \
	    --n 2 --w 1 --r 1 --anti-entropy-interval 1
	wait_for 20 grep -q 'anti-entropy round failed' "$TMP/node1.log"
	line=$(grep -m1 'anti-entropy round failed' "$TMP/node1.log")
	echo "line: $line"
	[[ "$line" == *' peer=node2 err="bad response: Content-Length not a number"'* ]]
	run curl -s --max-time 60 "$(url node1)/cluster/nodes"
	echo "anti_entropy: $(printf '%s' "$output" | jq -c .anti_entropy)"
	[ "$(printf '%s' "$output" | jq -r .anti_entropy.last_error)" = \
	    "bad response: Content-Length not a number" ]
	! grep -q 'Protocol error' "$TMP/node1.log"
}

# One line per request at request rate buries the lines that say why
# (helper-87: 189 "write quorum failed" lines in 0.1 s on a full disk).
# With node2 down, every w=2 write through node1 fails its quorum: the
# first is logged, the others are held back and counted in the next line
# of that kind, at most one per 10 s (log.h, log_event_limited).
@test "a write quorum failing on every write is logged once per 10 s, not once per write" {
	start_node node1 --peers "node2=127.0.0.1:$(closed_port)" \
	    --n 2 --w 2 --r 1
	for i in $(seq 1 30); do
		[ "$(code -X PUT -H "Content-Type: application/octet-stream" \
		    --data-binary "v$i" "$(url node1)/kv/k$i")" = 503 ]
	done
	run grep -c 'msg="write quorum failed"' "$TMP/node1.log"
	echo "lines: $output"
	grep -m3 'write quorum failed' "$TMP/node1.log"
	# 30 writes take far less than 10 s... unless the machine is very
	# busy: then a second line, which counts the ones it held back.
	[ "$output" -ge 1 ] && [ "$output" -le 3 ]
	if [ "$output" -gt 1 ]; then
		grep 'write quorum failed' "$TMP/node1.log" | sed -n 2p |
		    grep -q ' more_like_it=[0-9]* in_last_s=[0-9]*$'
	fi
}
