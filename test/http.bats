#!/usr/bin/env bats
# test/http.bats -- HTTP/1.1 framing over raw sockets: keep-alive,
# pipelining, connection close rules, strict framing errors, chunked
# bodies, 100-continue, and the deadlines and connection cap.
#
# The raw client is a small python3 program (conv, below): it sends each
# message as one write, waits for one more complete response after each
# (up to 60 s, a hang guard; QUIET_S after the messages whose numbers,
# from 1, CONV_UNANSWERED lists, as none is due), then reads until EOF or
# a quiet period of QUIET_S, and prints what came back:
#   R <status line>      one per response, in order (1xx included)
#   H <name>: <value>    its headers, names lower-cased
#   B <body>             its body (newlines shown as \n)
#   SHORT <got> <want>   the connection ended inside a body
#   JUNK <bytes>         bytes that do not start a response
#   SENT <i> after <n>   message i (from 1) went out once n complete
#                        responses had come (1xx included)
#   END EOF|OPEN|RESET <ms>   how the connection ended, ms since connect

load helpers
bats_require_minimum_version 1.5.0

# REQ_PY: a Python preamble whose req(s) sends GET /version on socket s
# and returns the answer's status ("EOF" when the socket closed first).
REQ_PY='
import os, socket, sys, time
def req(s):
    s.sendall(b"GET /version HTTP/1.1\r\nHost: t\r\n\r\n")
    d = b""
    while b"\r\n\r\n" not in d or not d.rstrip().endswith(b"}"):
        b = s.recv(4096)
        if not b: break
        d += b
    return d.split(b" ")[1].decode() if d else "EOF"
'

CONV_PY='
import os, socket, sys, time
port = int(sys.argv[1]); quiet = float(sys.argv[2]); msgs = sys.argv[3:]
unanswered = os.environ.get("CONV_UNANSWERED", "").split()
def unesc(s):
    return s.encode("latin-1").decode("unicode_escape").encode("latin-1")
def parse(data):
    """-> (list of (statusline, headers, body), tail message or None)"""
    out = []; pos = 0
    while pos < len(data):
        end = data.find(b"\r\n\r\n", pos)
        if end < 0:
            if not data[pos:].startswith(b"HTTP/"):
                return out, "JUNK %r" % data[pos:]
            return out, None
        lines = data[pos:end].decode("latin-1").split("\r\n")
        if not lines[0].startswith("HTTP/"):
            return out, "JUNK %r" % data[pos:]
        code = int(lines[0].split(" ")[1])
        hdrs = []; cl = 0
        for l in lines[1:]:
            k, _, v = l.partition(":")
            hdrs.append((k.strip().lower(), v.strip()))
            if k.strip().lower() == "content-length":
                cl = int(v)
        if code < 200 or code in (204, 304):
            cl = 0
        body = data[end + 4:end + 4 + cl]
        if len(body) < cl:
            return out, "SHORT %d %d" % (len(body), cl)
        out.append((lines[0], hdrs, body))
        pos = end + 4 + cl
    return out, None
t0 = time.time()
s = socket.create_connection(("127.0.0.1", port), timeout=60)
data = b""; state = None; sent = []
def recv(timeout):
    global data, state
    s.settimeout(timeout)
    try:
        b = s.recv(65536)
    except socket.timeout:
        return False
    except (ConnectionResetError, BrokenPipeError):
        state = "RESET"; return False
    if not b:
        state = "EOF"; return False
    data += b
    return True
for m in msgs:
    if state:
        break
    sent.append(len(parse(data)[0]))
    try:
        s.sendall(unesc(m))
    except (ConnectionResetError, BrokenPipeError):
        state = "RESET"; break
    want = len(parse(data)[0]) + 1
    wait = quiet if str(len(sent)) in unanswered else max(quiet, 60)
    deadline = time.time() + wait
    while not state and len(parse(data)[0]) < want and time.time() < deadline:
        recv(max(0.01, deadline - time.time()))
while not state and recv(quiet):
    pass
resps, tail = parse(data)
for sl, hdrs, body in resps:
    print("R " + sl)
    for k, v in hdrs:
        print("H %s: %s" % (k, v))
    if body:
        print("B " + body.decode("latin-1").replace("\n", "\\n"))
if tail:
    print(tail)
for i, n in enumerate(sent):
    print("SENT %d after %d" % (i + 1, n))
print("END %s %d" % (state or "OPEN", (time.time() - t0) * 1000))
'

# conv QUIET_S MSG...: a conversation with n1 (see the top of this file).
conv() {
	timeout 300 python3 -c "$CONV_PY" "$(port_of n1)" "$@"
}

# companion QUIET_S MSG...: conv on a connection of its own, in the
# background (in BG; its pid in COMPANION).  Started just before a
# connection a configured timeout closes, and itself ended by a longer
# timeout of another kind, it is still running when that close comes
# first: an order, where a bound on the time would be a benchmark.
companion() {
	conv "$@" >"$TMP/companion" &
	BG+=($!)
	COMPANION=$!
}

# Statuses of the responses in $output, space-separated, e.g. "200 201".
statuses() {
	printf '%s\n' "$output" | awk '/^R HTTP\//{printf "%s%s", sep, $3; sep=" "}'
}

# ms of the END line in $output.
end_ms() {
	printf '%s\n' "$output" | awk '/^END /{print $3}'
}

H='Host: t\r\n'

# closed_after STATUS MESSAGE: one raw request is answered STATUS and the
# connection is closed (conv's output and status are left for more checks).
# A close within conv's 60 s of quiet is the server's own: one it forgot
# to close waits for the next request --idle-timeout (300 s, setup's)
# and ends OPEN, however slow the machine.  (A test whose node waits less
# for the next request says so.)
closed_after() {
	run conv 60 "$2"
	[ "$(statuses)" = "$1" ]
	[[ "$output" == *"END EOF"* ]]
}

setup() {
	setup_tmp
	start_node n1 --idle-timeout 300
}

@test "keep-alive: two requests on one connection, both answered, connection stays open" {
	run conv 0.5 "PUT /kv/ka HTTP/1.1\r\n${H}Content-Length: 13\r\n\r\n{\"value\":\"1\"}" \
	    "GET /kv/ka HTTP/1.1\r\n${H}\r\n"
	[ "$status" -eq 0 ]
	[ "$(statuses)" = "201 200" ]
	[[ "$output" == *'B {"key":"ka","value":"1"}'* ]]
	[[ "$output" == *"END OPEN"* ]]
	! [[ "$output" == *"H connection: close"* ]]
}

@test "pipelining: requests in one write get their responses in order, writes answered later among them" {
	# Writes are answered by the thread that settles them (server.c,
	# DEFERRED ANSWERS); the connection must still answer in order.
	P="PUT /kv/d HTTP/1.1\r\n${H}Content-Length: 13\r\n\r\n"
	run conv 1 "${P}{\"value\":\"1\"}GET /kv/d HTTP/1.1\r\n${H}\r\n${P}{\"value\":\"2\"}DELETE /kv/d HTTP/1.1\r\n${H}\r\nGET /kv/d HTTP/1.1\r\n${H}\r\n${P}{\"value\":\"3\"}PUT /kv/e HTTP/1.1\r\n${H}Content-Length: 13\r\n\r\n{\"value\":\"4\"}GET /kv/d HTTP/1.1\r\n${H}\r\nGET /kv/nope HTTP/1.1\r\n${H}Connection: close\r\n\r\n"
	[ "$status" -eq 0 ]
	[ "$(statuses)" = "201 200 200 204 404 201 201 200 404" ]
	[[ "$output" == *'B {"key":"d","value":"1"}'* ]]
	[[ "$output" == *'B {"key":"d","value":"3"}'* ]]
	[[ "$output" == *"END EOF"* ]]
}

@test "deferred answers: an HTTP/1.0 PUT is answered, then the connection closes" {
	closed_after 201 "PUT /kv/old HTTP/1.0\r\nContent-Length: 13\r\n\r\n{\"value\":\"1\"}"
	[ "$(curl -s --max-time 60 "$(url n1)/kv/old")" = '{"key":"old","value":"1"}' ]
}

@test "deferred answers: a client that leaves before its answer does not stop the write or the node" {
	python3 - "$(port_of n1)" <<'PY'
import socket, sys
port = int(sys.argv[1])
for i in range(50):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    body = b'{"value":"%d"}' % i
    s.sendall(b"PUT /kv/gone%d HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % (i, len(body)) + body)
    s.close()
PY
	for i in 0 25 49; do
		wait_for 10 sh -c "curl -s --max-time 2 '$(url n1)/kv/gone$i' | grep -q '\"value\":\"$i\"'"
	done
	[ "$(curl -s -o /dev/null -w '%{http_code}' "$(url n1)/health")" = 200 ]
}

@test "Connection: close is honoured" {
	# EOF within conv's 60 s, not at --idle-timeout's 300 (closed_after)
	run conv 60 "GET /health HTTP/1.1\r\n${H}Connection: close\r\n\r\n"
	[ "$(statuses)" = "200" ]
	[[ "$output" == *"H connection: close"* ]]
	[[ "$output" == *"END EOF"* ]]
}

@test "HTTP/1.0 closes by default, and keeps alive when asked" {
	closed_after 200 "GET /health HTTP/1.0\r\n\r\n"
	[[ "$output" != *"H connection: keep-alive"* ]]
	run conv 0.5 "GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" \
	    "PUT /kv/k10 HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 13\r\n\r\n{\"value\":\"1\"}"
	[ "$(statuses)" = "200 201" ]
	[[ "$output" == *"END OPEN"* ]]
	# Said, since an HTTP/1.0 client otherwise waits for the close
	# (both answers: the PUT's is a deferred one).
	[ "$(grep -cx 'H connection: keep-alive' <<<"$output")" = 2 ]
}

@test "Content-Length plus Transfer-Encoding: 400 and the connection closed" {
	closed_after 400 "PUT /kv/smug HTTP/1.1\r\n${H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
	[[ "$output" == *'"error"'* ]]
	curl -s --max-time 60 "$(url n1)/kv/smug" -o /dev/null -w '%{http_code}' | grep -qx 404
}

@test "duplicate or malformed Content-Length: 400" {
	closed_after 400 "PUT /kv/d HTTP/1.1\r\n${H}Content-Length: 13\r\nContent-Length: 13\r\n\r\n{\"value\":\"1\"}"
	closed_after 400 "PUT /kv/d HTTP/1.1\r\n${H}Content-Length: +13\r\n\r\n{\"value\":\"1\"}"
}

@test "OPTIONS * (RFC 9110 9.3.7, the server as a whole): 200, Allow with every method, no content, kept alive; OPTIONS on a route is its 405 with Allow; * with another method is a 400" {
	run conv 0.5 "OPTIONS * HTTP/1.1\r\n${H}\r\n" "GET /health HTTP/1.1\r\n${H}\r\n"
	echo "$output"
	[ "$(statuses)" = "200 200" ]
	[[ "$output" == *"H allow: GET, HEAD, PUT, POST, DELETE, OPTIONS"* ]]
	[[ "$output" == *"H content-length: 0"* ]]
	[[ "$output" == *"END OPEN"* ]]
	run conv 0.5 "OPTIONS /kv/x HTTP/1.1\r\n${H}\r\n"
	[ "$(statuses)" = 405 ]
	[[ "$output" == *"H allow: GET, HEAD, PUT, DELETE"* ]]
	[[ "$output" == *'"code":"method_not_allowed"'* ]]
	closed_after 400 "GET * HTTP/1.1\r\n${H}\r\n"
}

@test "missing Host on HTTP/1.1: 400" {
	closed_after 400 "GET /health HTTP/1.1\r\n\r\n"
}

@test "a 400 for an unframable request names why in its JSON body" {
	closed_after 400 "PUT /kv/d HTTP/1.1\r\n${H}Content-Length: 13\r\nContent-Length: 13\r\n\r\n{\"value\":\"1\"}"
	[[ "$output" == *'B {"error":"malformed request: Content-Length given twice","code":"bad_request"}'* ]]
	closed_after 400 "GET /health HTTP/1.1\r\n\r\n"
	[[ "$output" == *'"error":"malformed request: missing Host header"'* ]]
	closed_after 400 "PUT /kv/d HTTP/1.1\r\n${H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
	[[ "$output" == *'"error":"malformed request: both Content-Length and Transfer-Encoding"'* ]]
	closed_after 400 "GET /health HTTP/1.1\r\n${H}X: a\r\n b\r\n\r\n"
	[[ "$output" == *'"error":"malformed request: folded header line (obs-fold)"'* ]]
	# a request line that is one token: what is missing, not "bad method"
	closed_after 400 "GARBAGE\r\n\r\n"
	[[ "$output" == *'"error":"malformed request: no request target and no HTTP version after the method"'* ]]
	# a key with a space a client did not percent-encode: said so, not
	# "space after the HTTP version"
	closed_after 400 "GET /kv/a b HTTP/1.1\r\n${H}\r\n"
	[[ "$output" == *'"error":"malformed request: space in the request target (send it percent-encoded, as %20)"'* ]]
	# the chunked decoder's reason, after the head was taken
	closed_after 400 "PUT /kv/d HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"
	[[ "$output" == *'"error":"malformed request: bad chunk size","code":"bad_request"'* ]]
	# other statuses keep their own text
	closed_after 505 "GET /health HTTP/2.0\r\n${H}\r\n"
	[[ "$output" == *'"error":"HTTP version not supported: use HTTP/1.1 or HTTP/1.0"'* ]]
}

@test "HTTP/2.0 request line: 505" {
	closed_after 505 "GET /health HTTP/2.0\r\n${H}\r\n"
}

@test "unknown Expect: 417" {
	closed_after 417 "PUT /kv/e HTTP/1.1\r\n${H}Expect: teapot\r\nContent-Length: 13\r\n\r\n"
	[[ "$output" == *'"error"'* ]]
}

@test "Transfer-Encoding other than chunked: 501" {
	closed_after 501 "PUT /kv/g HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\n\r\n"
}

@test "bare LF line endings: 400" {
	closed_after 400 "GET /health HTTP/1.1\nHost: t\n\n"
}

@test "obs-fold and a space before the colon: 400" {
	run conv 3 "GET /health HTTP/1.1\r\n${H}X-A: 1\r\n  folded\r\n\r\n"
	[ "$(statuses)" = "400" ]
	run conv 3 "GET /health HTTP/1.1\r\n${H}X-A : 1\r\n\r\n"
	[ "$(statuses)" = "400" ]
}

@test "bytes pipelined behind a framing error are never answered" {
	run conv 2 "GET /health HTTP/1.1\r\n${H}Content-Length: 1\r\nContent-Length: 2\r\n\r\nGET /health HTTP/1.1\r\n${H}\r\nPUT /kv/after HTTP/1.1\r\n${H}Content-Length: 13\r\n\r\n{\"value\":\"x\"}"
	[ "$(statuses)" = "400" ]
	[[ "$output" == *"END EOF"* ]]
	# the smuggled PUT was not executed either
	[ "$(curl -s --max-time 60 -o /dev/null -w '%{http_code}' "$(url n1)/kv/after")" = 404 ]
}

@test "chunked request body over a raw socket" {
	run conv 0.5 "PUT /kv/ch HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\n{\"val\r\n8;ext=1\r\nue\":\"chu\r\n4\r\nnk\"}\r\n0\r\nTrailer-X: 1\r\n\r\n" \
	    "GET /kv/ch HTTP/1.1\r\n${H}\r\n"
	[ "$(statuses)" = "201 200" ]
	[[ "$output" == *'B {"key":"ch","value":"chunk"}'* ]]
	[[ "$output" == *"END OPEN"* ]]
}

@test "chunked body in several writes, keep-alive after it" {
	CONV_UNANSWERED=1 run conv 0.5 "PUT /kv/ch2 HTTP/1.1\r\n${H}Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n" \
	    "2\r\nde\r\n0\r\n\r\n" "GET /kv/ch2 HTTP/1.1\r\n${H}Accept: application/octet-stream\r\n\r\n"
	# the first message alone completes no response: conv waits its quiet
	# period (CONV_UNANSWERED), then the second completes the PUT
	[ "$(statuses)" = "201 200" ]
	[[ "$output" == *"B abcde"* ]]
}

@test "chunk sizes with leading zeros (16 digits and more) and BWS before ';' (RFC 9112 7.1)" {
	run conv 0.5 "PUT /kv/ch3 HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n000000000000000d\r\n{\"value\":\"1\"}\r\n0\r\n\r\n" \
	    "PUT /kv/ch4 HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5 ;a=b\r\n{\"val\r\n8\t;a = b\r\nue\":\"2\"}\r\n00000000000000000000 ;c\r\n\r\n" \
	    "GET /kv/ch4 HTTP/1.1\r\n${H}\r\n"
	[ "$(statuses)" = "201 201 200" ]
	[[ "$output" == *'B {"key":"ch4","value":"2"}'* ]]
	[[ "$output" == *"END OPEN"* ]]
	# whitespace that leads to no extension is not in the grammar
	closed_after 400 "PUT /kv/bad HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nd \r\n{\"value\":\"1\"}\r\n0\r\n\r\n"
}

@test "chunk extensions by RFC 9112 7.1.1: tokens, quoted strings and a trailer pass; one off the grammar is a 400 naming why in JSON" {
	run conv 0.5 "PUT /kv/ch5 HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5;name=value ; q = \"a;b=c\"\r\n{\"val\r\n8;flag\r\nue\":\"5\"}\r\n0;last=\"\"\r\nX-Checksum: abc\r\n\r\n" \
	    "GET /kv/ch5 HTTP/1.1\r\n${H}\r\n"
	[ "$(statuses)" = "201 200" ]
	[[ "$output" == *'B {"key":"ch5","value":"5"}'* ]]
	[[ "$output" == *"END OPEN"* ]]
	closed_after 400 "PUT /kv/bad HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nd;\r\n{\"value\":\"1\"}\r\n0\r\n\r\n"
	[[ "$output" == *'B {"error":"malformed request: chunk extension without a name","code":"bad_request"}'* ]]
	closed_after 400 "PUT /kv/bad HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nd;a=\"open\r\n{\"value\":\"1\"}\r\n0\r\n\r\n"
	[[ "$output" == *'"error":"malformed request: unterminated quoted string in a chunk extension"'* ]]
	closed_after 400 "PUT /kv/bad HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nd;a=b c\r\n{\"value\":\"1\"}\r\n0\r\n\r\n"
	[[ "$output" == *'"error":"malformed request: bad character in a chunk extension"'* ]]
	[ "$(code "$(url n1)/kv/bad")" = 404 ]
}

@test "malformed chunk size: 400 and close" {
	closed_after 400 "PUT /kv/bad HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"
}

@test "Expect: 100-continue is answered before the body is sent" {
	# conv waits up to 60 s for the 100 before it sends the body (a
	# client's wait is 1 s: curl's); the body went out once one response,
	# the 100, had come.  A server that waits for the body first sends
	# no 100: it ends the request at --body-timeout (30 s) with a 408,
	# before conv gives up waiting (never SENT 2 after 1).
	run conv 60 "PUT /kv/c HTTP/1.1\r\n${H}Expect: 100-continue\r\nConnection: close\r\nContent-Length: 13\r\n\r\n" \
	    "{\"value\":\"c\"}"
	echo "$output"
	[ "$(statuses)" = "100 201" ]
	[[ "$output" == *"SENT 2 after 1"* ]]
	[[ "$output" == *"END EOF"* ]]
}

@test "Expect: 100-continue on a request that fails its precheck gets the final status, no 100" {
	closed_after 404 "PUT /nowhere HTTP/1.1\r\n${H}Expect: 100-continue\r\nContent-Length: 13\r\n\r\n"
}

@test "HEAD on a key, /metrics, /ready, /version and a watch: the GET's status and headers, no body bytes" {
	curl -s --max-time 60 -X PUT -d '{"value":"twelve bytes"}' "$(url n1)/kv/w" >/dev/null
	run timeout 60 python3 -c '
import socket, sys
def ask(method, path):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
    s.sendall(method.encode() + b" " + path.encode() +
              b" HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    d = b""
    while True:
        b = s.recv(65536)
        if not b: break
        d += b
    head, sep, rest = d.partition(b"\r\n\r\n")
    lines = head.decode().lower().split("\r\n")
    cl = [l.split(":")[1].strip() for l in lines if l.startswith("content-length:")]
    etag = "etag" if any(l.startswith("etag:") for l in lines) else "none"
    return lines[0].split(" ")[1], cl[0] if cl else "-", len(rest), etag
for path in sys.argv[2:]:
    gs, gcl, glen, _ = ask("GET", path)
    hs, hcl, hlen, hetag = ask("HEAD", path)
    print("%s get=%s,%s,%d head=%s,%s,%d %s" % (path, gs, gcl, glen, hs, hcl, hlen, hetag))
' "$(port_of n1)" /kv/w /metrics /ready /version "/kv/w?wait=nomatch&timeout=1"
	echo "$output"
	[ "$status" -eq 0 ]
	local path line
	grep -q "^/kv/w get=200,.* etag$" <<<"$output"	# a key's HEAD has its ETag
	for path in /kv/w /metrics /ready /version "/kv/w?wait=nomatch&timeout=1"; do
		line=$(grep -F "$path get=" <<<"$output")
		# the same status as GET's, a Content-Length, no body bytes
		[[ "$line" =~ get=([0-9]+),([0-9]+),([0-9]+)\ head=([0-9]+),([0-9]+),0\  ]]
		[ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[4]}" ]
		[ "${BASH_REMATCH[2]}" = "${BASH_REMATCH[3]}" ]
		[ "${BASH_REMATCH[3]}" -gt 0 ]
		# the metrics grow between the two; the others are the same
		if [ "$path" != /metrics ]; then
			[ "${BASH_REMATCH[2]}" = "${BASH_REMATCH[5]}" ]
		fi
	done
}

@test "README's route table names the methods each route answers: OPTIONS on each path gives its Allow, HEAD wherever GET is" {
	# The rows of the table under "## HTTP API": methods, path (KEY,
	# OWNER and the query stripped to a path kvd routes).
	run python3 -c '
import re, socket, sys
rows = []
on = False
for l in open(sys.argv[2]):
    if l.startswith("| method | path |"):
        on = True; continue
    if on and not l.startswith("|"):
        break
    m = re.match(r"\| ([A-Z, ]+) \| `([^`]+)` \|", l)
    if on and m:
        rows.append((m.group(1), m.group(2)))
for methods, path in rows:
    p = path.split("?")[0].replace("KEY", "k").replace("OWNER", "o")
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
    s.sendall(b"OPTIONS " + p.encode() + b" HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    d = b""
    while True:
        b = s.recv(65536)
        if not b: break
        d += b
    allow = [l.split(":", 1)[1].strip() for l in d.decode().split("\r\n")
             if l.lower().startswith("allow:")]
    allowed = set(x.strip() for x in allow[0].split(",")) if allow else set()
    said = set(x.strip() for x in methods.split(","))
    bad = (not said <= allowed) or ("GET" in said and "HEAD" in allowed
                                     and "HEAD" not in said)
    print("%s %s: README %s, Allow %s" % ("BAD" if bad else "ok", path,
          methods, ", ".join(sorted(allowed))))
print("rows=%d" % len(rows))
' "$(port_of n1)" "$BATS_TEST_DIRNAME/../README.md"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(sed -n 's/^rows=//p' <<<"$output")" -ge 20 ]
	! grep -q '^BAD ' <<<"$output"
}

# HALF_PY PORT MSG...: sends each MSG (escapes as conv's), shuts down its
# writing side, reads to EOF (30 s at most) and prints what came, or
# NOTHING when the connection ended without a byte.
HALF_PY='
import socket, sys
port = int(sys.argv[1])
s = socket.create_connection(("127.0.0.1", port), timeout=30)
for m in sys.argv[2:]:
    s.sendall(m.encode("latin-1").decode("unicode_escape").encode("latin-1"))
s.shutdown(socket.SHUT_WR)
data = b""
try:
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
except OSError as e:
    data += b"\n" + repr(e).encode()
print(data.decode("latin-1") if data else "NOTHING")
'

@test "a request cut short by the client's half-close (a body shorter than its Content-Length, a partial chunk, a partial head) is answered 400 saying what ended early" {
	local p
	p="$(port_of n1)"
	run timeout 60 python3 -c "$HALF_PY" "$p" "PUT /kv/h HTTP/1.1\r\n${H}Content-Length: 13\r\n\r\n{\"val"
	echo "$output"
	[[ "$output" == "HTTP/1.1 400 "* ]]
	[[ "$output" == *'{"error":"request body ended early: the client closed its side of the connection after 5 of the 13 bytes its Content-Length announced","code":"bad_request"}'* ]]
	run timeout 60 python3 -c "$HALF_PY" "$p" "PUT /kv/h HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n" "5\r\n{\"v"
	echo "$output"
	[[ "$output" == "HTTP/1.1 400 "* ]]
	[[ "$output" == *'"error":"request body ended early: the client closed its side of the connection before the last chunk"'* ]]
	run timeout 60 python3 -c "$HALF_PY" "$p" "GET /version HTTP/1.1\r\n${H}"
	echo "$output"
	[[ "$output" == "HTTP/1.1 400 "* ]]
	[[ "$output" == *'"error":"request head ended early: the client closed its side of the connection before the empty line that ends the head"'* ]]
	# A whole request before the half-close is served; nothing more is
	# said for the end, nor for empty lines between requests.
	run timeout 60 python3 -c "$HALF_PY" "$p" "GET /health HTTP/1.1\r\n${H}\r\n\r\n"
	echo "$output"
	[[ "$output" == "HTTP/1.1 200 "* ]]
	[ "$(printf '%s\n' "$output" | grep -c '^HTTP/1.1')" -eq 1 ]
	run timeout 60 python3 -c "$HALF_PY" "$p" ""
	[ "$output" = NOTHING ]
	[ "$(curl -s --max-time 60 -o /dev/null -w '%{http_code}' "$(url n1)/kv/h")" = 404 ]
}

@test "a slow client that stops halfway through a head gets 408 or a close after --header-timeout" {
	stop_all
	start_node n1 --header-timeout 1 --idle-timeout 6
	companion 60 "GET /health HTTP/1.1\r\n${H}\r\n"
	run conv 60 "GET /health HTTP/1.1\r\nHo"
	echo "$output"
	[[ "$output" == *"END EOF"* || "$output" == *"END RESET"* ]]
	st=$(statuses)
	[ -z "$st" ] || [ "$st" = "408" ]
	# The configured 1 s fired: the close came after it, and while the
	# keep-alive companion, which --idle-timeout closes at 6 s, was
	# still open; the waits it would fall back to are 10 s
	# (--header-timeout's default) and 60 s (the default --idle-timeout).
	[ "$(end_ms)" -ge 800 ]
	kill -0 "$COMPANION"
}

@test "a head dribbled byte by byte is still cut off by --header-timeout" {
	stop_all
	start_node n1 --header-timeout 1 --idle-timeout 6
	# The dribble (a byte every 0.1 s) outlasts the default
	# --header-timeout (10 s): a deadline moved by each byte never
	# closes it, and the default one would close it after the companion
	# (see the test before).
	companion 60 "GET /health HTTP/1.1\r\n${H}\r\n"
	out=$(timeout 120 python3 -c '
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=60)
t0 = time.time(); closed = None
for ch in b"GET /health HTTP/1.1\r\nX-Slow: " + b"a" * 150:
    try:
        s.send(bytes([ch]))
    except OSError:
        closed = time.time(); break
    s.settimeout(0.1)
    try:
        if s.recv(4096) == b"":
            closed = time.time(); break
    except socket.timeout:
        pass
    except OSError:
        closed = time.time(); break
print("closed_after_ms=%d" % ((closed - t0) * 1000) if closed else "never_closed")
' "$(port_of n1)")
	echo "$out"
	[[ "$out" == closed_after_ms=* ]]
	kill -0 "$COMPANION"
}

@test "an idle keep-alive connection is closed after --idle-timeout" {
	stop_all
	start_node n1 --idle-timeout 1 --header-timeout 6
	companion 60 "GET /health HTTP/1.1\r\nHo"
	run conv 60 "GET /health HTTP/1.1\r\n${H}\r\n"
	echo "$output"
	[ "$(statuses)" = "200" ]
	[[ "$output" == *"END EOF"* ]]
	# The configured 1 s fired: the close came after it, and while the
	# companion's half head, which --header-timeout closes at 6 s, was
	# still waited for; the default it would fall back to is 60 s.
	[ "$(end_ms)" -ge 800 ]
	kill -0 "$COMPANION"
}

@test "SIGTERM closes an idle keep-alive connection at once, not after --idle-timeout" {
	stop_all
	start_node n1 --idle-timeout 3600 --shutdown-grace 3600
	conv 90 "GET /health HTTP/1.1\r\n${H}\r\n" >"$TMP/idle.out" &
	local cpid=$! pid
	pid=$(pid_of n1)
	# The answer is in; the connection waits, idle.  (Polled, not slept:
	# a python3 that is a pyenv shim takes over half a second to start.)
	health_answered() {
		c "$(url n1)/metrics" | grep -q \
		    '^kvd_requests_total{route="/health",method="GET",status="200"} 1$'
	}
	wait_for 15 health_answered
	kill -TERM "$pid"
	wait_exit "$pid"	# 60 s at most: well inside both limits
	wait "$cpid"
	output=$(cat "$TMP/idle.out")
	[ "$(statuses)" = "200" ]
	[[ "$output" == *"END EOF"* ]]
}

@test "--max-conns 2: a third concurrent connection's request gets a complete 503 at once; the cap frees up" {
	stop_all
	start_node n1 --max-conns 2 --request-log
	run timeout 20 python3 -c "$REQ_PY"'
port = int(sys.argv[1])
held = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(2)]
print("held", *[req(s) for s in held])
t0 = time.time()
third = socket.create_connection(("127.0.0.1", port), timeout=10)
third.sendall(b"GET /version HTTP/1.1\r\nHost: t\r\n\r\n")  # a place kept for peers
d = b""
try:
    while True:
        b = third.recv(4096)
        if not b: break
        d += b
except OSError as e:
    print("third error", e)
ms = (time.time() - t0) * 1000
head, _, body = d.partition(b"\r\n\r\n")
cl = [l for l in head.decode().lower().split("\r\n") if l.startswith("content-length:")]
print("third", head.split(b"\r\n")[0].decode(), "ms=%d" % ms)
print("third content-length", cl[0].split(":")[1].strip() if cl else "none", "body", len(body))
print("third header", *sorted(l.split(":")[0] + "=" + l.split(":", 1)[1].strip() for l in head.decode().lower().split("\r\n")[1:] if l.startswith(("date:", "retry-after:"))))
print("third body", body.decode().strip())
for s in held: s.close()
ok = "no"
for i in range(40):
    time.sleep(0.1)
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    if req(s) == "200":
        ok = "yes"; break
    s.close()
print("after", ok)
' "$(port_of n1)"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"held 200 200"* ]]
	# At once: the held connections let go only after the third's answer
	# (and would be closed by kvd after --idle-timeout, 60 s), so a third
	# connection queued behind them gets nothing within its 10 s read
	# ("third error timed out") instead of the 503.
	[[ "$output" == *"third HTTP/1.1 503"* ]]
	# the 503's Content-Length must match the body that was sent
	cl=$(printf '%s\n' "$output" | awk '/third content-length/{print $3}')
	bl=$(printf '%s\n' "$output" | awk '/third content-length/{print $5}')
	[ "$cl" = "$bl" ]
	# an error like any other: Date, Retry-After, a JSON body with a code
	[[ "$output" == *"third header date="*"retry-after=1"* ]]
	[ "$(printf '%s\n' "$output" | sed -n 's/^third body //p' | jq -r .code)" = too_many_connections ]
	[[ "$output" == *"after yes"* ]]
	# counted as an answer under its route, and logged
	c "$(url n1)/metrics" | grep -x \
	    'kvd_requests_total{route="/version",method="GET",status="503"} 1'
	grep -q 'msg="request" method=GET path=/version status=503 ' "$TMP/n1.log"
}

# answered_then_closed STATUS REQUEST: REQUEST on a new connection to
# node1 gets STATUS, and the connection is closed after it.
answered_then_closed() {
	run timeout 30 python3 -c "$CONV_PY" "$(port 1)" 2 "$2"
	echo "$output"
	[ "$(statuses)" = "$1" ]
	[[ "$output" == *"END EOF"* ]]
}

# fill_conns PORT: clients hold every place of the node at PORT (up to
# 10), each after a 200 to GET /version (no peer's route), until
# $TMP/release exists; "held N" in $TMP/held.out once they do.
fill_conns() {
	python3 -c "$REQ_PY"'
port, release = int(sys.argv[1]), sys.argv[2]
held = []
while len(held) < 10:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    if req(s) != "200": break
    held.append(s)
print("held", len(held), flush=True)
deadline = time.time() + 60
while not os.path.exists(release) and time.time() < deadline:
    time.sleep(0.1)
' "$1" "$TMP/release" >"$TMP/held.out" 2>&1 &
	BG+=($!)
	wait_for 10 grep -q held "$TMP/held.out"
}

@test "--max-conns 4 filled by clients: a peer's connections are still served (the reserve), one more client still gets the 503" {
	stop_all
	pick_ports 2
	start_peer 1 2 "$(peers_of 1 2)" --max-conns 4 --request-log
	# Clients take every place before node2 starts, so none of node2's
	# connections to node1 is older than the clients'.
	fill_conns "$(port 1)"
	[ "$(cat "$TMP/held.out")" = "held 4" ]
	start_peer 2 2 "$(peers_of 2 2)"
	# n=2, w=2 through node2: its copy must reach node1, which is full.
	put_w2() {
		[ "$(code -X PUT -H 'Content-Type: application/octet-stream' \
		    --data-binary v "$(url node2)/kv/k?w=2")" = 201 ]
	}
	wait_for 15 put_w2
	grep -qE 'msg="request" method=POST path=/internal/(batch|replicate) status=200 ' \
	    "$TMP/node1.log"
	# a client's request on a place of the reserve: the cap's 503, closed
	run curl -sS --max-time 60 -D - "$(url node1)/version"
	echo "$output"
	[[ "$output" == "HTTP/1.1 503"* ]]
	[[ "$output" == *"Retry-After: 1"* ]]
	[ "$(printf '%s\n' "$output" | tail -n 1 | jq -r .code)" = too_many_connections ]
	grep -q 'msg="request" method=GET path=/version status=503 ' "$TMP/node1.log"
	# Without a secret the peers' requests outside /internal/ are told by
	# route and mark: a relayed watch, a joining node's check of
	# /cluster/nodes, the twin probe's /health are served from the reserve.
	# (a quorum read: once node1 has node2 up, not marked down from
	# before node2 started)
	node2_linked() {
		[ "$(c "$(url node1)/cluster/nodes" | jq -r '.members[] |
		    select(.id == "node2") | .state + " " + .link')" = "up up" ]
	}
	wait_for 10 node2_linked
	[ "$(code -H 'X-Kvd-Forwarded: 1' "$(url node1)/kv/k?wait=&timeout=1")" = 200 ]
	[ "$(code "$(url node1)/cluster/nodes")" = 200 ]
	[ "$(code "$(url node1)/health")" = 200 ]
	# a reserve connection is closed after an answer that says its sender
	# is no peer (a 405; not a 404 or 304: the test after the next)
	answered_then_closed 405 "DELETE /internal/list HTTP/1.1\r\n${H}\r\n"
	touch "$TMP/release"
	wait "${BG[@]}"
	# counted under its route (this one and the filler's fifth), once
	# the clients let go
	wait_for 10 eval 'c -f "$(url node1)/metrics" >"$TMP/m" 2>/dev/null'
	grep -xF 'kvd_requests_total{route="/version",method="GET",status="503"} 2' "$TMP/m"
}

@test "--max-conns 2 with a cluster secret: a relayed watch is served from the reserve, a client's unsigned /internal/ request gets the 503 and is closed" {
	stop_all
	pick_ports 2
	printf '%s\n' 'bats-cluster-secret-0123456789abcdef' >"$TMP/secret"
	chmod 600 "$TMP/secret"
	start_peer 1 1 "$(peers_of 1 2)" --w 1 --r 1 --max-conns 2 \
	    --request-log --cluster-secret-file "$TMP/secret"
	fill_conns "$(port 1)"
	[ "$(cat "$TMP/held.out")" = "held 2" ]
	start_peer 2 1 "$(peers_of 2 2)" --w 1 --r 1 \
	    --cluster-secret-file "$TMP/secret"
	# n=1: a watch through node2 on a key node1 owns is relayed there,
	# signed, and node1 answers it (304 at its timeout), not the 503
	relayed() {
		grep -qE 'msg="request" method=GET path="?/kv/[a-l][?]wait=[^ ]* status=304 ' \
		    "$TMP/node1.log"
	}
	for k in a b c d e f g h i j k l; do
		code "$(url node2)/kv/$k?wait=&timeout=1" >/dev/null || true
		relayed && break
	done
	relayed
	# a client's unsigned /internal/ request, or a relay's mark without a
	# signature: not a peer's, the cap's 503 and closed (no 401 it could
	# send again and again on the place)
	answered_then_closed 503 "GET /internal/list?prefix= HTTP/1.1\r\n${H}\r\n"
	answered_then_closed 503 \
	    "GET /kv/a?wait=&timeout=1 HTTP/1.1\r\n${H}X-Kvd-Forwarded: 1\r\n\r\n"
	touch "$TMP/release"
	wait "${BG[@]}"
}

@test "--max-conns 2 filled: a reserve connection stays open after the 404 and 304 peers get in normal operation, and is closed after a 400" {
	stop_all
	# A reserve connection waits --header-timeout for its next request:
	# 60 s, so one left open after the 400 below is still open when
	# closed_after's 10 s of quiet end.
	start_node n1 --max-conns 2 --request-log --header-timeout 60
	fill_conns "$(port_of n1)"
	[ "$(cat "$TMP/held.out")" = "held 2" ]
	# a fetch of an absent key (404), a relayed watch that times out
	# (304), then /health on the same connection: all three answered
	run conv 3 "GET /internal/fetch/absent HTTP/1.1\r\n${H}\r\n" \
	    "GET /kv/a?wait=&timeout=1 HTTP/1.1\r\n${H}X-Kvd-Forwarded: 1\r\n\r\n" \
	    "GET /health HTTP/1.1\r\n${H}\r\n"
	echo "$output"
	[ "$(statuses)" = "404 304 200" ]
	[[ "$output" == *"END OPEN"* ]]
	# a malformed peer's request (no key): 400, and the place is given up
	closed_after 400 "GET /internal/fetch/ HTTP/1.1\r\n${H}\r\n"
	touch "$TMP/release"
	wait "${BG[@]}"
}

@test "--max-conns 2 with a cluster secret: a reserve place is not held for the body of an /internal/ request whose head cannot verify (stale, malformed), nor longer than --header-timeout for one whose can" {
	local now nonce sig
	stop_all
	printf '%s\n' 'bats-cluster-secret-0123456789abcdef' >"$TMP/secret"
	chmod 600 "$TMP/secret"
	post() {	# DATE NONCE: a replicate's head whose body never comes
		printf '%s' "POST /internal/replicate HTTP/1.1\r\n${H}"
		printf '%s' "Content-Length: 100\r\nX-Kvd-Date: $1\r\n"
		printf '%s' "X-Kvd-Nonce: $2\r\nX-Kvd-Signature: $sig\r\n\r\n"
	}
	nonce=0123456789abcdef
	sig=$(printf '%064d' 0)
	# a date out of the skew, a malformed nonce: the cap's 503 and the
	# close at once.  Every wait for the body is an hour here, so a place
	# held for it would still be open when conv's 60 s of quiet end.
	start_node n1 --max-conns 2 --request-log --header-timeout 3600 \
	    --body-timeout 3600 --cluster-secret-file "$TMP/secret"
	fill_conns "$(port_of n1)"
	[ "$(cat "$TMP/held.out")" = "held 2" ]
	now=$(date +%s)
	run conv 60 "$(post $((now - 3600)) "$nonce")"
	echo "$output"
	[ "$(statuses)" = 503 ]
	[[ "$output" == *"END EOF"* ]]
	run conv 60 "$(post "$now" XYZ)"
	echo "$output"
	[ "$(statuses)" = 503 ]
	[[ "$output" == *"END EOF"* ]]
	touch "$TMP/release"
	wait "${BG[@]}"
	stop_all
	rm -f "$TMP/release" "$TMP/held.out"
	BG=()
	# a head that passes (the signature covers the body, unseen yet):
	# the body is waited for --header-timeout, not --body-timeout.  The
	# configured 2 s fired: the 408 came after it, and the --body-timeout
	# it would fall back to is an hour, past conv's 60 s of quiet (it
	# would end OPEN, no 408).
	start_node n1 --max-conns 2 --request-log --header-timeout 2 \
	    --body-timeout 3600 --cluster-secret-file "$TMP/secret"
	fill_conns "$(port_of n1)"
	[ "$(cat "$TMP/held.out")" = "held 2" ]
	now=$(date +%s)
	run conv 60 "$(post "$now" "$nonce")"
	echo "$output"
	[ "$(statuses)" = 408 ]
	[[ "$output" == *"END EOF"* ]]
	[ "$(end_ms)" -ge 1500 ]
	touch "$TMP/release"
	wait "${BG[@]}"
}

@test "answers the server gives before the API sees a request are logged and counted" {
	stop_all
	start_node n1 --request-log --max-body 64
	run conv 2 "GARBAGE\r\n\r\n"
	[ "$(statuses)" = 400 ]
	run conv 2 "PUT /kv/a HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\n\r\n"
	[ "$(statuses)" = 501 ]
	run conv 2 "PUT /nowhere HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\n\r\n"
	[ "$(statuses)" = 501 ]
	run conv 2 "GET /health HTTP/1.1\r\n${H}Expect: later\r\n\r\n"
	[ "$(statuses)" = 417 ]
	run conv 2 "GET /version HTTP/2.0\r\n${H}\r\n"
	[ "$(statuses)" = 505 ]
	run conv 2 "POST /batch HTTP/1.1\r\n${H}Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}"
	[ "$(statuses)" = 400 ]
	chunk="40\r\n$(printf 'x%.0s' $(seq 64))\r\n"
	run conv 2 "PUT /kv/b HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n$chunk$chunk"
	[ "$(statuses)" = 413 ]
	run conv 2 "PUT /kv/c HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\n{\"val"
	[ "$(statuses)" = 400 ]
	[ "$(code -X PATCH "$(url n1)/kv/d")" = 405 ]
	[ "$(code "$(url n1)/kv/d?bogus=1")" = 400 ]
	c "$(url n1)/metrics" | grep '^kvd_requests_total' >"$TMP/m"
	cat "$TMP/m"
	# where the head was parsed as far as the request line: its route
	# (or "other" for no route) and method
	for want in 'route="other",method="other",status="400"} 1' \
	    'route="/kv/",method="PUT",status="501"} 1' \
	    'route="other",method="PUT",status="501"} 1' \
	    'route="/health",method="GET",status="417"} 1' \
	    'route="/version",method="GET",status="505"} 1' \
	    'route="/batch",method="POST",status="400"} 1' \
	    'route="/kv/",method="PUT",status="413"} 1' \
	    'route="/kv/",method="PUT",status="400"} 1' \
	    'route="/kv/",method="PATCH",status="405"} 1' \
	    'route="/kv/",method="GET",status="400"} 1'; do
		grep -qxF "kvd_requests_total{$want" "$TMP/m"
	done
	grep 'msg="request"' "$TMP/n1.log"
	grep -q 'msg="request" method=- path=- status=400 ' "$TMP/n1.log"
	grep -q 'msg="request" method=PUT path=/kv/a status=501 ' "$TMP/n1.log"
	grep -q 'msg="request" method=PUT path=/nowhere status=501 ' "$TMP/n1.log"
	grep -q 'msg="request" method=GET path=/health status=417 ' "$TMP/n1.log"
	grep -q 'msg="request" method=GET path=/version status=505 ' "$TMP/n1.log"
	grep -q 'msg="request" method=POST path=/batch status=400 ' "$TMP/n1.log"
	[ "$(grep -c 'msg="request" method=- path=- ' "$TMP/n1.log")" = 1 ]
	grep -q 'msg="request" method=PUT path=/kv/b status=413 ' "$TMP/n1.log"
}

@test "pipelined answers that a quorum sends later go out whole, however big, with no wait for the client's next bytes" {
	local i
	stop_all
	pick_ports 3
	for i in 1 2 3; do
		start_peer "$i" 3 ""
	done
	head -c 1048576 /dev/urandom >"$TMP/big"
	[ "$(code -X PUT -H 'Content-Type: application/octet-stream' \
	    --data-binary @"$TMP/big" "$(url node1)/kv/big")" = 201 ]
	# Three GETs at R=2 in one write: answered later, by whoever reads
	# the second replica, 4 MB (JSON, base64) more than a socket takes
	# at once.
	run timeout 30 python3 -c '
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
s.sendall(b"GET /kv/big HTTP/1.1\r\nHost: t\r\n\r\n" * 3)
time.sleep(1)
t0 = time.time(); d = b""
while d.count(b"HTTP/1.1 200") < 3 or not d.endswith(b"}\n"):
    b = s.recv(1 << 20)
    if not b: break
    d += b
print("bytes", len(d), "answers", d.count(b"HTTP/1.1 200"), "s %.1f" % (time.time() - t0))
' "$(port 1)"
	echo "$output"
	[ "$status" -eq 0 ]
	# whole: one that waited for the client's next bytes would wait
	# --idle-timeout (60 s), past the reader's 20 s per recv (an error)
	[[ "$output" == *"answers 3 "* ]]
}

@test "request line longer than --max-request-line: 414; head over --max-header-bytes: 431" {
	long=$(printf 'a%.0s' $(seq 1 9000))
	closed_after 414 "GET /kv/$long HTTP/1.1\r\n${H}\r\n"
	big=$(printf 'b%.0s' $(seq 1 70000))
	closed_after 431 "GET /health HTTP/1.1\r\n${H}X-Big: $big\r\n\r\n"
}

# ---- what clients expect of every answer (issue 14, part 5) -------------

@test "curl: Date on every answer, Location on 201, no Content-Type on 204, 304 for a current If-None-Match" {
	local u h etag
	u="$(url n1)"
	h=$(curl -s -D - -o /dev/null -X PUT -d '{"value":"v"}' "$u/kv/a%20b")
	echo "$h"
	[[ "$h" == *"HTTP/1.1 201"* ]]
	echo "$h" | grep -qi '^Location: /kv/a%20b'$'\r'
	echo "$h" | grep -Eqi '^Date: [A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9:]{8} GMT'$'\r'
	etag=$(echo "$h" | tr -d '\r' | awk -F': ' 'tolower($1) == "etag" { print $2 }')
	h=$(curl -s -D - -o /dev/null -X PUT -d '{"value":"w"}' "$u/kv/a%20b")
	! echo "$h" | grep -qi '^Location:'
	h=$(curl -s -D - -o /dev/null -H 'If-None-Match: "stale"' "$u/kv/a%20b")
	[[ "$h" == *"HTTP/1.1 200"* ]]
	etag=$(echo "$h" | tr -d '\r' | awk -F': ' 'tolower($1) == "etag" { print $2 }')
	h=$(curl -s -D - -o "$TMP/b" -H "If-None-Match: $etag" "$u/kv/a%20b")
	echo "$h"
	[[ "$h" == *"HTTP/1.1 304"* ]]
	[ ! -s "$TMP/b" ]
	! echo "$h" | grep -qi '^Content-Type:'
	h=$(curl -s -D - -o "$TMP/b" -X DELETE "$u/kv/a%20b")
	echo "$h"
	[[ "$h" == *"HTTP/1.1 204"* ]]
	! echo "$h" | grep -qi '^Content-Type:'
	echo "$h" | grep -qi '^Date:'
}

@test "curl: a GET's or HEAD's If-Match is checked (412), If-None-Match too (304), either one garbled is a 400, and neither goes with wait=" {
	local u etag code
	u="$(url n1)"
	etag=$(curl -s -D - -o /dev/null -X PUT -d '{"value":"v"}' "$u/kv/cond" |
	    tr -d '\r' | awk -F': ' 'tolower($1) == "etag" { print $2 }')
	[ -n "$etag" ]
	# code HEADER... [URL]: the status of a GET of /kv/cond with HEADER
	code() { curl -s -o "$TMP/b" -w '%{http_code}' -H "$1" "${2:-$u/kv/cond}"; }
	[ "$(code "If-Match: $etag")" = 200 ]
	[ "$(jq -r .value "$TMP/b")" = v ]
	[ "$(code "If-Match: \"stale\", $etag")" = 200 ]
	[ "$(code 'If-Match: *')" = 200 ]
	[ "$(code 'If-Match: "stale"')" = 412 ]
	cat "$TMP/b"
	[ "$(jq -r .code "$TMP/b")" = precondition_failed ]
	[[ "$(jq -r .error "$TMP/b")" == *"is not the one If-Match names"* ]]
	[ "$(curl -s -o /dev/null -w '%{http_code}' -I -H 'If-Match: "stale"' "$u/kv/cond")" = 412 ]
	# An absent key's 404 comes before any precondition (RFC 9110
	# 13.2.1): a read without them would not be a 2xx.
	[ "$(code 'If-Match: *' "$u/kv/cond-absent")" = 404 ]
	[ "$(jq -r .code "$TMP/b")" = not_found ]
	[ "$(code 'If-Match: "stale"' "$u/kv/cond-absent")" = 404 ]
	[ "$(curl -s -o /dev/null -w '%{http_code}' -I -H 'If-Match: *' "$u/kv/cond-absent")" = 404 ]
	[ "$(code "If-None-Match: $etag")" = 304 ]
	[ "$(code 'If-None-Match: "stale"')" = 200 ]
	# If-Match first (RFC 9110 13.2.2): a failed one is the answer.
	[ "$(curl -s -o /dev/null -w '%{http_code}' -H 'If-Match: "stale"' \
	    -H "If-None-Match: $etag" "$u/kv/cond")" = 412 ]
	[ "$(curl -s -o /dev/null -w '%{http_code}' -H "If-Match: $etag" \
	    -H "If-None-Match: $etag" "$u/kv/cond")" = 304 ]
	# An empty If-None-Match names no tag (curl sends "Name;" empty):
	# the value, as without one.  An empty If-Match is a 400, as a PUT's.
	[ "$(code 'If-None-Match;')" = 200 ]
	[ "$(jq -r .value "$TMP/b")" = v ]
	[ "$(code 'If-None-Match: ,')" = 200 ]
	for h in 'If-Match: garbage' 'If-None-Match: garbage' \
	    'If-None-Match: "a", garbage' 'If-Match: "a" "b"' 'If-Match;'; do
		[ "$(code "$h")" = 400 ] || { echo "$h"; false; }
		[ "$(jq -r .code "$TMP/b")" = bad_header ]
		[[ "$(jq -r .error "$TMP/b")" == "bad ${h%%[:;]*}: want * or quoted ETags"* ]]
	done
	[ "$(code 'If-None-Match: *' "$u/kv/cond?wait=$etag&timeout=1")" = 400 ]
	[[ "$(jq -r .error "$TMP/b")" == *"takes neither If-Match nor If-None-Match"* ]]
}

@test "curl: every error body has a code; a 503 has Retry-After; the 413 names the limit" {
	local u h
	u="$(url n1)"
	for t in "$u/kv/" "$u/nope" "$u/kv/x?bogus=1" "$u/kv/missing"; do
		run curl -s "$t"
		echo "$t: $output"
		[ "$(echo "$output" | jq -r '.code | test("^[a-z_]+$")')" = true ]
		[ "$(echo "$output" | jq -r '.error | length > 0')" = true ]
	done
	[ "$(curl -s -X POST "$u/health" | jq -r .code)" = method_not_allowed ]
	head -c 2000000 /dev/zero >"$TMP/big"
	run curl -s -X PUT --data-binary @"$TMP/big" -H 'Content-Type: application/octet-stream' "$u/kv/big"
	echo "$output"
	[ "$(echo "$output" | jq -r .code)" = body_too_large ]
	[[ "$(echo "$output" | jq -r .error)" == *"1048576 bytes (--max-body)"* ]]
	# A quorum that cannot be met: N=2 with the other member never up.
	start_node q1 --peers "q2=127.0.0.1:$(closed_port)" --n 2 --w 2 --peer-timeout-ms 300
	u="$(url q1)"
	h=$(curl -s -D - -o "$TMP/b" -X PUT -d '{"value":"v"}' "$u/kv/q")
	echo "$h"; cat "$TMP/b"
	[[ "$h" == *"HTTP/1.1 503"* ]]
	echo "$h" | grep -qi '^Retry-After: 1'$'\r'
	[ "$(jq -r .code "$TMP/b")" = quorum_failed ]
}

@test "curl: JSON member names compare unescaped (\\u0076alue is value; given with value, a duplicate)" {
	local u two esc
	u="$(url n1)"
	run curl -s -o /dev/null -w '%{http_code}' -X PUT -d '{"\u0076alue":"x"}' "$u/kv/esc"
	[ "$output" = 201 ]
	[ "$(curl -s "$u/kv/esc" | jq -r .value)" = x ]
	two=$(curl -s -X PUT -d '{"value":"x","value":"y"}' "$u/kv/esc")
	esc=$(curl -s -X PUT -d '{"value":"x","\u0076alue":"y"}' "$u/kv/esc")
	echo "$two"; echo "$esc"
	[ "$(echo "$two" | jq -r .code)" = bad_body ]
	[ "$esc" = "$two" ]
	[ "$(curl -s "$u/kv/esc" | jq -r .value)" = x ]
}

@test "Python http.client: Date, Location, 204 without a body type, 304, codes" {
	run timeout 20 python3 -c '
import http.client, json, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
def req(m, p, body=None, h={}):
    c.request(m, p, body, h)
    r = c.getresponse(); b = r.read()
    return r, b
r, b = req("PUT", "/kv/py", json.dumps({"value": "v"}))
assert r.status == 201 and r.getheader("Location") == "/kv/py", r.status
assert r.getheader("Date", "").endswith(" GMT")
etag = r.getheader("ETag")
r, b = req("GET", "/kv/py", None, {"If-None-Match": etag})
assert r.status == 304 and b == b"" and r.getheader("Content-Type") is None
r, b = req("GET", "/kv/py?r=quorum")
assert r.status == 200 and json.loads(b)["value"] == "v"
r, b = req("GET", "/kv/py?r=abc")
assert r.status == 400 and json.loads(b)["code"] == "bad_param"
r, b = req("PUT", "/kv/py", json.dumps({"value": "v", "ttl": 5, "x": 1}))
assert r.status == 400 and json.loads(b)["code"] == "unknown_field"
r, b = req("DELETE", "/kv/py")
assert r.status == 204 and b == b"" and r.getheader("Content-Type") is None
r, b = req("DELETE", "/kv/py")
assert r.status == 404 and json.loads(b)["code"] == "not_found"
print("ok")
' "$(port_of n1)"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = ok ]
}


# CHUNKED_PY PORT METHOD PATH MB: sends MB MiB of zeros as a chunked body
# with Python's http.client, which writes the whole body before it reads,
# and prints the answer's status and body, or the error that came instead.
CHUNKED_PY='
import http.client, sys
port, method, path, mb = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
def body():
    for i in range(mb * 16):
        yield b"\0" * 65536
try:
    c.request(method, path, body=body(), encode_chunked=True,
              headers={"Content-Type": "application/octet-stream"})
    r = c.getresponse()
    print(r.status, r.read().decode())
except OSError as e:
    print("ERR", repr(e))
'

@test "a chunked body refused before its end (over --max-body, or by the route) is read to its last chunk, so a client that sends it whole gets the answer, not a reset" {
	run timeout 120 python3 -c "$CHUNKED_PY" "$(port_of n1)" PUT /kv/big 10
	echo "$output"
	[[ "$output" == '413 {"error":"request body too large: the limit is 1048576 bytes (--max-body)","code":"body_too_large"}'* ]]
	run timeout 120 python3 -c "$CHUNKED_PY" "$(port_of n1)" PUT /nowhere 10
	echo "$output"
	[[ "$output" == '404 '*'"code":"no_route"'* ]]
	head -c 10000000 /dev/zero >"$TMP/big"
	run timeout 120 curl -sS -T - -H 'Content-Type: application/octet-stream' "$(url n1)/kv/big" <"$TMP/big"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r .code)" = body_too_large ]
	[ "$(curl -s -o /dev/null -w '%{http_code}' "$(url n1)/health")" = 200 ]
}

@test "a refused Content-Length body is read to its end whatever its size, then the connection closes without waiting for --body-timeout" {
	# 80 MiB, over the 64 MiB that was drained before: http.client
	# writes it all before it reads, and got a reset instead of the 413.
	run timeout 120 python3 -c '
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=60)
try:
    c.request("PUT", "/kv/big", body=b"\0" * (80 << 20),
              headers={"Content-Type": "application/octet-stream"})
    r = c.getresponse()
    print(r.status, r.read().decode())
except OSError as e:
    print("ERR", repr(e))
' "$(port_of n1)"
	echo "$output"
	[[ "$output" == '413 {"error":"request body too large: the limit is 1048576 bytes (--max-body)","code":"body_too_large"}'* ]]
	# A refused body that comes after the 413, from a client that then
	# keeps its side open: once the body is in, the connection closes
	# after a short linger, not at --body-timeout (300 s).  The client
	# sees the 413's end at once either way (the server shuts its
	# writing side first): the server's kvd_connections tells.
	start_node n2 --max-body 1024 --body-timeout 300
	run timeout 90 python3 -c '
import socket, sys, time, urllib.request
u = "http://127.0.0.1:%s/metrics" % sys.argv[1]
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=50)
s.sendall(b"PUT /kv/f HTTP/1.1\r\nHost: t\r\nContent-Length: 10000\r\n"
          b"Content-Type: application/octet-stream\r\n\r\n\0")
got = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    got += b
s.sendall(b"\0" * 9999)	# the rest, so the body is drained to its end
def conns():
    for l in urllib.request.urlopen(u).read().decode().splitlines():
        if l.startswith("kvd_connections "):
            return int(l.split()[1])
n = conns()
for i in range(300):	# 30 s at most: a tenth of --body-timeout
    if n == 1:	# the metrics request'"'"'s own
        break
    time.sleep(0.1)
    n = conns()
print(got.split(b" ")[1].decode(), "connections", n)
s.close()
' "$(port_of n2)"
	echo "$output"
	[ "$output" = "413 connections 1" ]
}

@test "a refused chunked body that never ends is not drained past --body-timeout" {
	start_node n2 --max-body 1024 --body-timeout 2
	run timeout 90 python3 -c '
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=60)
s.sendall(b"PUT /kv/f HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
          b"Content-Type: application/octet-stream\r\n\r\n")
t0 = time.time(); chunk = b"1000\r\n" + b"\0" * 4096 + b"\r\n"
try:
    while time.time() - t0 < 60:
        s.sendall(chunk)
        time.sleep(0.01)
    print("still open after 60 s")
except OSError as e:
    print("cut", repr(e))
' "$(port_of n2)"
	echo "$output"
	[[ "$output" == "cut "* ]]
}

@test "contrib/bench/cas.lua without its mode (or with one it does not take) prints its usage and wrk exits 2 before sending a request" {
	command -v wrk >/dev/null || skip "wrk is not installed"
	local a
	for a in "" "kvd" "kvd-cas 1 99"; do
		# shellcheck disable=SC2086 # the arguments, split
		run --separate-stderr timeout 20 wrk -t2 -c2 -d1s \
		    -s "$ROOT/contrib/bench/cas.lua" "$(url n1)" ${a:+-- $a}
		echo "[$a] rc=$status out=[$output] err=[$stderr]"
		[ "$status" -eq 2 ]
		[[ "$stderr" == *"usage: wrk -s contrib/bench/cas.lua URL -- kvd-cas|etcd-cas [KEYS [SIZE]]"* ]]
		[[ "$output" != *"cas conflicts"* ]]
	done
	[[ "$stderr" == *"cas.lua: bad SIZE '99'"* ]]
	# No write reached the node.
	! c "$(url n1)/metrics" | grep -q 'route="/kv/",method="PUT"' || false
}
