#!/usr/bin/env bats
# test/smuggling.bats -- the HTTP framing and request-smuggling corpus
# (test/smuggling.py) against a real kvd, over raw sockets.
#
# Each case is one write of raw bytes: a malformed or ambiguous request,
# usually with a well-formed request pipelined behind it.  For each case
# the driver asserts the status (400, 413, 417, 501 or 505 as lib/http.h
# documents), a JSON error body, "Connection: close", that the server then
# closes the connection (EOF, not a reset), and that the pipelined request
# was never parsed: exactly one response, and a pipelined PUT wrote
# nothing.  A few control cases check that the neighbouring valid forms
# are still accepted, so the corpus cannot pass by rejecting everything.
# One kvd serves the whole file; one @test per group of cases.

load helpers

setup_file() {
	setup_tmp
	start_node n1
	export TMP PORT_n1
}

teardown_file() {
	teardown_tmp
}

# Not helpers' teardown: the node serves every test and goes in teardown_file.
teardown() {
	:
}

# group NAME: runs that group of the corpus; fails listing the bad cases.
group() {
	run timeout 60 python3 "$BATS_TEST_DIRNAME/smuggling.py" "$PORT_n1" "$1"
	printf '%s\n' "$output" | grep -v '^ok - ' >&3 || true
	[ "$status" -eq 0 ]
	# the group was not empty
	[[ "$output" == *"ok - $1/"* ]]
	# and the server survived it
	kill -0 "$(cat "$TMP/n1.pid")"
}

@test "Content-Length together with Transfer-Encoding: 400, closed, nothing smuggled" {
	group clte
}

@test "Transfer-Encoding other than exactly chunked (list, unknown, repeated, on HTTP/1.0)" {
	group te
}

@test "Content-Length duplicate, signed, hex, empty, over-long, list: 400 (413 above --max-body)" {
	group cl
}

@test "field syntax: space before the colon, empty or non-token names, obs-fold: 400" {
	group field
}

@test "bare CR, bare LF, NUL and control bytes in the request line or header values: 400" {
	group ctl
}

@test "Host missing, duplicated or invalid on HTTP/1.1: 400" {
	group host
}

@test "bad request-line separators and targets: 400" {
	group reqline
}

@test "HTTP versions other than 1.0 and 1.1: 505 (malformed versions 400)" {
	group version
}

@test "chunked framing: bad sizes, missing CRLF after data, forbidden trailers: 400" {
	group chunked
}

@test "Expect other than 100-continue: 417" {
	group expect
}

@test "large Content-Length and chunked bodies (the input buffer moves while the body is read)" {
	group large
}

@test "every case of the corpus belongs to a group run above" {
	run python3 "$BATS_TEST_DIRNAME/smuggling.py" --list
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | wc -l)" -ge 150 ]
	groups=$(printf '%s\n' "$output" | cut -d/ -f1 | sort -u | tr '\n' ' ')
	[ "$groups" = "chunked cl clte ctl expect field host large reqline te version " ]
}
