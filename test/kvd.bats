#!/usr/bin/env bats
# test/kvd.bats -- one kvd node end to end: the HTTP API through curl and
# kvctl, conditional writes, bad input and limits, durability across
# kill -9, graceful shutdown and the node directory lock.

load helpers
CURL_MAX_TIME=60	# c and code (helpers.bash)

setup() {
	setup_n1
}

# kv ARGS...: kvctl against n1, bounded.
kv() {
	timeout 60 "$KVCTL" --server "$U" "$@"
}

# etag KEY: the current ETag of KEY (with its quotes).
etag() {
	curl -s --max-time 60 -D - -o /dev/null "$U/kv/$1" |
	    tr -d '\r' | awk 'tolower($1) == "etag:" {print $2}'
}

# upload FILE|- URL [CURL-ARGS...]: PUTs FILE (or stdin) with curl -T,
# which asks Expect: 100-continue; prints the final status, and leaves
# curl's trace in $TMP/trace.  curl would wait --expect100-timeout (30 s)
# for the 100 Continue, three times its --max-time: a server that does not
# send it fails the upload (status 000), however fast the machine.
upload() {
	local f=$1 u=$2
	shift 2
	curl -s -v --max-time 10 --expect100-timeout 30 -o /dev/null \
	    -w '%{http_code}' -T "$f" "$@" "$u" 2>"$TMP/trace"
}

# continued: the trace of the last upload shows the request asked for
# 100 Continue and the server sent it.
continued() {
	grep -qi '^> Expect: 100-continue' "$TMP/trace" &&
	    grep -q '^< HTTP/1.1 100 Continue' "$TMP/trace" ||
	    { echo "no 100 Continue:"; grep '^[<>] ' "$TMP/trace"; false; }
}

# ---- basic operations ---------------------------------------------------

@test "curl: PUT creates (201), GET returns the JSON value, PUT again replaces (200)" {
	[ "$(code -X PUT -d '{"value":"world"}' "$U/kv/hello")" = 201 ]
	run c "$U/kv/hello"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -c .)" = '{"key":"hello","value":"world"}' ]
	[ "$(code -X PUT -d '{"value":"again"}' "$U/kv/hello")" = 200 ]
	[ "$(c "$U/kv/hello" | jq -r .value)" = again ]
	c -D - -o /dev/null "$U/kv/hello" | tr -d '\r' | grep -qix 'content-type: application/json'
}

@test "curl: DELETE gives 204, then GET and DELETE give 404 with a JSON error" {
	c -X PUT -d '{"value":"x"}' "$U/kv/gone" >/dev/null
	[ "$(code -X DELETE "$U/kv/gone")" = 204 ]
	[ "$(code "$U/kv/gone")" = 404 ]
	c "$U/kv/gone" | jq -e '.error | type == "string"'
	[ "$(code -X DELETE "$U/kv/gone")" = 404 ]
	[ "$(code -X DELETE "$U/kv/never")" = 404 ]
	# a deleted key can be written again: created anew
	[ "$(code -X PUT -d '{"value":"back"}' "$U/kv/gone")" = 201 ]
	[ "$(c "$U/kv/gone" | jq -r .value)" = back ]
}

@test "missing key: HTTP 404 with JSON error, kvctl exit 1" {
	run c -D - "$U/kv/missing"
	[[ "$output" == "HTTP/1.1 404"* ]]
	echo "$output" | tail -n 1 | jq -e '.error'
	run kv get missing
	[ "$status" -eq 1 ]
	[ -z "$output" ] || [[ "$output" == *"404"* ]]
	run kv delete missing
	[ "$status" -eq 1 ]
}

@test "kvctl: put, get, delete round trip; put and delete are silent" {
	run kv put k1 v1
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	run kv get k1
	[ "$status" -eq 0 ]
	[ "$output" = v1 ]
	[ "$(c "$U/kv/k1" | jq -r .value)" = v1 ]
	run kv delete k1
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	run kv get k1
	[ "$status" -eq 1 ]
}

@test "kvctl get writes the exact bytes, no trailing newline when not a tty" {
	kv put nl "abc"
	kv get nl >"$TMP/out"
	[ "$(od -An -c "$TMP/out" | tr -d ' \n')" = "abc" ]
	[ "$(wc -c <"$TMP/out")" -eq 3 ]
	printf 'two\nlines\n\n' >"$TMP/in"
	kv put nl2 @"$TMP/in"
	kv get nl2 >"$TMP/out2"
	cmp "$TMP/in" "$TMP/out2"
}

@test "kvctl get adds a newline on a terminal" {
	command -v script >/dev/null || skip "script(1) is not installed"
	kv put tty "abc"
	timeout 60 script -qec "$KVCTL get tty --server $U" /dev/null </dev/null >"$TMP/tty"
	[ "$(od -An -c "$TMP/tty" | tr -d ' \n')" = 'abc\r\n' ]
}

@test "kvctl put from stdin (-) and from @FILE round-trips binary bytes" {
	head -c 5000 /dev/urandom >"$TMP/bin"
	printf '\0\377\n\r' >>"$TMP/bin"
	kv put bin @"$TMP/bin"
	kv get bin >"$TMP/bin.out"
	cmp "$TMP/bin" "$TMP/bin.out"
	kv put fromstdin - <"$TMP/bin"
	kv get fromstdin >"$TMP/bin.out2"
	cmp "$TMP/bin" "$TMP/bin.out2"
	# the JSON form shows a non-UTF-8 value as value_b64
	[ "$(c "$U/kv/bin" | jq -r .value_b64 | base64 -d | cmp - "$TMP/bin" && echo same)" = same ]
	# and the octet-stream form is the exact bytes
	c -H 'Accept: application/octet-stream' "$U/kv/bin" | cmp - "$TMP/bin"
}

@test "GET: Accept chooses the bytes or JSON by weight (q), then by how exactly it names each, then by order" {
	local a want got
	kv put acc bytes
	while IFS='|' read -r a want; do
		got=$(curl -s -o /dev/null -w '%{content_type}' -H "Accept: $a" "$U/kv/acc")
		echo "Accept: $a -> $got (want $want)"
		[ "$got" = "$want" ]
	done <<'EOF_ACCEPT'
application/octet-stream|application/octet-stream
application/octet-stream;q=0|application/json
application/octet-stream;q=0, application/json|application/json
application/json, application/octet-stream;q=0.5|application/json
application/json;q=0.1, application/octet-stream|application/octet-stream
application/octet-stream, */*|application/octet-stream
*/*|application/json
application/json, application/octet-stream|application/json
application/octet-stream, application/json|application/octet-stream
text/plain|application/json
EOF_ACCEPT
}

@test "GET ?raw returns the exact bytes" {
	printf 'raw\nbytes' >"$TMP/r"
	kv put rk @"$TMP/r"
	run code "$U/kv/rk?raw"
	[ "$output" = 200 ]
	c "$U/kv/rk?raw" | cmp - "$TMP/r"
	c "$U/kv/rk?raw=1" | cmp - "$TMP/r"
	# and the node is still alive
	[ "$(code "$U/health")" = 200 ]
}

@test "kvctl: -- before a value starting with '-', and flags anywhere on the line" {
	run timeout 60 "$KVCTL" put dash --server "$U" -- -v
	[ "$status" -eq 0 ]
	run timeout 60 "$KVCTL" get dash --server "$U"
	[ "$output" = "-v" ]
	run timeout 60 "$KVCTL" --server "$U" put -- dash2 --json
	[ "$status" -eq 0 ]
	[ "$(c "$U/kv/dash2" | jq -r .value)" = "--json" ]
	run timeout 60 "$KVCTL" get --server "$U" dash
	[ "$output" = "-v" ]
	run timeout 60 "$KVCTL" get dash --server="$U"
	[ "$output" = "-v" ]
	# everything after -- is an argument, even --server
	run timeout 60 "$KVCTL" put dash4 -- -v --server "$U"
	[ "$status" -eq 2 ]
	# without --, a value like -v is a flag and a usage error
	run timeout 60 "$KVCTL" put dash3 -v --server "$U"
	[ "$status" -eq 2 ]
}

@test "kvctl: KVCTL_SERVER from the environment, and --server wins over it" {
	kv put envk envv
	KVCTL_SERVER="$U" run timeout 60 "$KVCTL" get envk
	[ "$status" -eq 0 ]
	[ "$output" = envv ]
	dead=$(closed_port)
	KVCTL_SERVER="http://127.0.0.1:$dead" run timeout 60 "$KVCTL" get envk --server "$U"
	[ "$status" -eq 0 ]
	[ "$output" = envv ]
	KVCTL_SERVER="http://127.0.0.1:$dead" run timeout 60 "$KVCTL" get envk
	[ "$status" -eq 3 ]
}

@test "kvctl: --server list whose first server is unreachable uses the second" {
	kv put lk lv
	dead=$(closed_port)
	run timeout 60 "$KVCTL" get lk --server "http://127.0.0.1:$dead,$U"
	[ "$status" -eq 0 ]
	[ "${lines[-1]}" = lv ]
	timeout 60 "$KVCTL" get lk --server "http://127.0.0.1:$dead,$U" 2>/dev/null >"$TMP/o"
	[ "$(cat "$TMP/o")" = lv ]
	run timeout 60 "$KVCTL" put lk2 v2 --server "http://127.0.0.1:$dead,$U"
	[ "$status" -eq 0 ]
	[ "$(c "$U/kv/lk2" | jq -r .value)" = v2 ]
}

@test "kvctl --json prints the server's JSON" {
	kv put jk jv
	run kv get jk --json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -c '{key, value}')" = '{"key":"jk","value":"jv"}' ]
	run kv put jk2 x --json
	[ "$status" -eq 0 ]
	echo "$output" | jq -e '.key == "jk2" and (.etag | type == "string")'
	run kv health --json
	echo "$output" | jq -e '.status == "ok" and .id == "n1"'
	run kv get nosuch --json
	[ "$status" -eq 1 ]
	kv get nosuch --json 2>/dev/null | jq -e '.error'
}

@test "health: GET and HEAD" {
	run c "$U/health"
	echo "$output" | jq -e '.status == "ok" and .id == "n1" and (.uptime_s | type == "number")'
	[ "$(code -I "$U/health")" = 200 ]
}

@test "keys: %2F and raw slash, UTF-8, exactly 1024 bytes" {
	c -X PUT -d '{"value":"s"}' "$U/kv/a%2Fb" >/dev/null
	[ "$(c "$U/kv/a/b" | jq -r .key)" = "a/b" ]
	c -X PUT -d '{"value":"u"}' "$U/kv/%C3%A9t%C3%A9" >/dev/null
	[ "$(c "$U/kv/%C3%A9t%C3%A9" | jq -r .key)" = "été" ]
	k=$(printf 'k%.0s' $(seq 1 1024))
	[ "$(code -X PUT -d '{"value":"long"}' "$U/kv/$k")" = 201 ]
	[ "$(c "$U/kv/$k" | jq -r .value)" = long ]
	run kv get "é/x y"
	[ "$status" -eq 1 ]
	kv put "é/x y" spaced
	[ "$(c "$U/kv/%C3%A9%2Fx%20y" | jq -r .value)" = spaced ]
}

# ---- 100-continue and chunked through curl ------------------------------

@test "curl -T FILE (Expect: 100-continue): kvd answers 100 Continue, the body is stored" {
	head -c 4096 /dev/urandom >"$TMP/blob"
	run upload "$TMP/blob" "$U/kv/blob" \
	    -H 'Content-Type: application/octet-stream'
	[ "$output" = 201 ]
	continued
	c -H 'Accept: application/octet-stream' "$U/kv/blob" | cmp - "$TMP/blob"
	# a JSON body the same way
	{ printf '{"value":"'; head -c 3000 /dev/zero | tr '\0' 'j'; printf '"}'; } >"$TMP/json"
	run upload "$TMP/json" "$U/kv/jblob"
	[ "$output" = 201 ]
	continued
	[ "$(c "$U/kv/jblob" | jq -r '.value | length')" = 3000 ]
}

@test "curl -T - (chunked, Expect: 100-continue): kvd answers 100 Continue, the body is stored" {
	head -c 3000 /dev/urandom >"$TMP/blob"
	run upload - "$U/kv/chunked" \
	    -H 'Content-Type: application/octet-stream' <"$TMP/blob"
	[ "$output" = 201 ]
	grep -qi '^> Transfer-Encoding: chunked' "$TMP/trace"
	continued
	c -H 'Accept: application/octet-stream' "$U/kv/chunked" | cmp - "$TMP/blob"
}

@test "curl -d with a body over 1 MiB: 413 at once, not after sending it" {
	head -c 1100000 /dev/zero | tr '\0' 'z' >"$TMP/big"
	# curl asks Expect: 100-continue for it; the 413 comes instead of
	# the 100, so curl sends none of the body (size_upload 0).  A server
	# that read the body first would have had every byte of it.
	out=$(curl -s -v --max-time 10 --expect100-timeout 30 -o /dev/null \
	    -w '%{http_code} %{size_upload}' -X PUT --data-binary @"$TMP/big" \
	    "$U/kv/big" 2>"$TMP/trace") || true
	echo "$out"
	[ "$out" = "413 0" ]
	[ "$(code "$U/kv/big")" = 404 ]
}

@test "chunked body over --max-body: 413" {
	head -c 1100000 /dev/zero | tr '\0' 'z' >"$TMP/big"
	run code -T - -H 'Content-Type: application/octet-stream' "$U/kv/bigc" <"$TMP/big"
	[ "$output" = 413 ]
	[ "$(code "$U/kv/bigc")" = 404 ]
}

@test "--max-body 100: a 100-byte body is taken, a 101-byte body is 413" {
	start_node n2 --max-body 100
	U2=$(url n2)
	head -c 100 /dev/zero | tr '\0' 'a' >"$TMP/b100"
	head -c 101 /dev/zero | tr '\0' 'a' >"$TMP/b101"
	[ "$(code -H 'Content-Type: application/octet-stream' --data-binary @"$TMP/b100" -X PUT "$U2/kv/m")" = 201 ]
	[ "$(code -H 'Content-Type: application/octet-stream' --data-binary @"$TMP/b101" -X PUT "$U2/kv/m2")" = 413 ]
	c -X PUT -H 'Content-Type: application/octet-stream' --data-binary @"$TMP/b101" "$U2/kv/m2" | jq -e .error
	[ "$(code "$U2/kv/m2")" = 404 ]
}

# ---- HEAD, ETag and conditional writes ----------------------------------

@test "HEAD: 200 with Content-Length of the GET body and no body; 404 for a missing key" {
	c -X PUT -d '{"value":"headval"}' "$U/kv/hd" >/dev/null
	len=$(c "$U/kv/hd" | wc -c)
	run c -I "$U/kv/hd"
	[[ "$output" == "HTTP/1.1 200"* ]]
	echo "$output" | tr -d '\r' | grep -qix "content-length: $len"
	echo "$output" | tr -d '\r' | grep -qi '^etag: "'
	# no body: the HEAD response and a GET share one connection cleanly
	run c -I "$U/kv/hd" --next "$U/kv/hd"
	[[ "$output" == *'"value":"headval"'* ]]
	[ "$(code -I "$U/kv/nohd")" = 404 ]
}

@test "ETag present on GET and on the PUT response, and it changes with each write" {
	c -X PUT -d '{"value":"1"}' "$U/kv/et" -D "$TMP/h1" >/dev/null
	e1=$(etag et)
	[[ "$e1" == \"*\" ]]
	[ ${#e1} -gt 2 ]
	tr -d '\r' <"$TMP/h1" | grep -qx "ETag: $e1"
	c -X PUT -d '{"value":"2"}' "$U/kv/et" >/dev/null
	e2=$(etag et)
	[[ "$e2" == \"*\" ]]
	[ "$e1" != "$e2" ]
}

@test "If-Match with an old ETag: 412; with the current ETag: 200" {
	c -X PUT -d '{"value":"v1"}' "$U/kv/cm" >/dev/null
	old=$(etag cm)
	c -X PUT -d '{"value":"v2"}' "$U/kv/cm" >/dev/null
	cur=$(etag cm)
	[ "$(code -X PUT -H "If-Match: $old" -d '{"value":"v3"}' "$U/kv/cm")" = 412 ]
	c -X PUT -H "If-Match: $old" -d '{"value":"v3"}' "$U/kv/cm" | jq -e .error
	[ "$(c "$U/kv/cm" | jq -r .value)" = v2 ]
	[ "$(code -X PUT -H "If-Match: $cur" -d '{"value":"v3"}' "$U/kv/cm")" = 200 ]
	[ "$(c "$U/kv/cm" | jq -r .value)" = v3 ]
	# DELETE honours If-Match too
	[ "$(code -X DELETE -H "If-Match: $cur" "$U/kv/cm")" = 412 ]
	[ "$(code -X DELETE -H "If-Match: $(etag cm)" "$U/kv/cm")" = 204 ]
	# If-Match on a missing key: 412; If-Match: * needs a live version
	[ "$(code -X PUT -H "If-Match: $cur" -d '{"value":"x"}' "$U/kv/cm")" = 412 ]
	[ "$(code -X PUT -H 'If-Match: *' -d '{"value":"x"}' "$U/kv/cm")" = 412 ]
}

@test "If-None-Match: * creates only: 412 on an existing key, 201 on a new key" {
	c -X PUT -d '{"value":"first"}' "$U/kv/inm" >/dev/null
	[ "$(code -X PUT -H 'If-None-Match: *' -d '{"value":"second"}' "$U/kv/inm")" = 412 ]
	[ "$(c "$U/kv/inm" | jq -r .value)" = first ]
	[ "$(code -X PUT -H 'If-None-Match: *' -d '{"value":"new"}' "$U/kv/inm-new")" = 201 ]
	[ "$(c "$U/kv/inm-new" | jq -r .value)" = new ]
}

# ---- bad input ----------------------------------------------------------

@test "bad JSON body: 400 with a JSON error" {
	for body in '{"value":' 'not json' '{"value":"x"} trailing' "{\"value\":\"x\",}" ''; do
		run c -X PUT -d "$body" -D - "$U/kv/bj"
		[[ "$output" == "HTTP/1.1 400"* ]] || { echo "body [$body]: $output"; false; }
		echo "$output" | tail -n 1 | jq -e '.error | type == "string"'
	done
	[ "$(code "$U/kv/bj")" = 404 ]
}

@test "body without a string \"value\": 400" {
	for body in '{}' '{"val":"x"}' '{"value":42}' '{"value":null}' '{"value":["x"]}' \
	    '[{"value":"x"}]' '"value"'; do
		run code -X PUT -d "$body" "$U/kv/nv"
		[ "$output" = 400 ] || { echo "body [$body]: $output"; false; }
	done
	[ "$(code "$U/kv/nv")" = 404 ]
}

@test "unknown body fields and query parameters get a 400 that names them" {
	run c -X PUT -d '{"extra":[1,{"a":null}],"value":"lost","z":true}' "$U/kv/uf"
	[ "$(echo "$output" | jq -r .code)" = unknown_field ]
	[[ "$(echo "$output" | jq -r .error)" == *'"extra"'* ]]
	[ "$(code "$U/kv/uf")" = 404 ]
	run c -X PUT -d '{"value":"v"}' "$U/kv/uf?tll=5"
	[ "$(echo "$output" | jq -r .code)" = unknown_param ]
	[[ "$(echo "$output" | jq -r .error)" == *"'tll'"* ]]
	[ "$(code "$U/kv/uf?raw=0")" = 400 ]
	[ "$(code "$U/kv/uf?r=abc")" = 400 ]
	[ "$(code "$U/health?verbose=1")" = 400 ]
}

@test "query names and values mean what they spell, escaped or not (RFC 3986 6.2.2.2)" {
	[ "$(code -X PUT -d '{"value":"esc"}' "$U/kv/qn?%77=%31&%74tl=6%30")" = 201 ]
	[ "$(c "$U/kv/qn?%72=qu%6Frum" | jq -r .value)" = esc ]
	[ "$(c "$U/kv/qn?raw=%74%72%75%65")" = esc ]
	run c "$U/kv/qn?%7A=1"
	[ "$(echo "$output" | jq -r .code)" = unknown_param ]
	[[ "$(echo "$output" | jq -r .error)" == *"'z'"* ]]
	[ "$(code "$U/kv/qn?r=%32%30")" = 400 ]
	[ "$(code "$U/kv/qn?r=1&%72=1")" = 400 ]
	# what stays escaped is still decoded by the parameters that decode
	[ "$(code -X PUT -d '{"value":"x"}' "$U/kv/q%26n%2Fa")" = 201 ]
	[ "$(c "$U/kv?%70refix=q%26n%2F&%6Cimit=1" | jq -r '.keys | join(",")')" = 'q&n/a' ]
}

@test "JSON string escapes in the value are decoded" {
	[ "$(code -X PUT -d '{"value":"a\"b\\c\n\u00e9\ud83d\ude00"}' "$U/kv/esc")" = 201 ]
	[ "$(c "$U/kv/esc" | jq -r .value)" = "$(printf 'a"b\\c\né😀')" ]
}

@test "bad keys: empty, %zz, %00, over 1024 bytes, invalid UTF-8: 400" {
	long=$(printf 'k%.0s' $(seq 1 1025))
	for k in "" "%zz" "a%0" "%00" "a%00b" "$long" "%ff" "%C3" "%C0%80"; do
		run code -X PUT -d '{"value":"x"}' "$U/kv/$k"
		[ "$output" = 400 ] || { echo "PUT key [$k]: $output"; false; }
		run code "$U/kv/$k"
		[ "$output" = 400 ] || { echo "GET key [$k]: $output"; false; }
	done
	c "$U/kv/%ff" | jq -e .error
}

@test "request line over 8 KiB: 414, naming the limit" {
	k=$(printf 'a%.0s' $(seq 1 9000))
	[ "$(code "$U/kv/$k")" = 414 ]
	[ "$(c "$U/kv/$k" | jq -r .error)" = "request line too long: the limit is 8192 bytes" ]
}

@test "too many headers or too large a head: 431, saying which and naming the limit" {
	args=()
	for i in $(seq 1 110); do args+=(-H "X-H$i: $i"); done
	[ "$(code "${args[@]}" "$U/health")" = 431 ]
	[ "$(c "${args[@]}" "$U/health" | jq -r .error)" = "too many header fields: the limit is 100" ]
	big=$(printf 'b%.0s' $(seq 1 70000))
	[ "$(code -H "X-Big: $big" "$U/health")" = 431 ]
	[ "$(c -H "X-Big: $big" "$U/health" | jq -r .error)" = "request head too large: the limit is 65536 bytes (request line and header fields)" ]
	# 90 headers are fine
	args=()
	for i in $(seq 1 90); do args+=(-H "X-H$i: $i"); done
	[ "$(code "${args[@]}" "$U/health")" = 200 ]
}

@test "unknown route: 404 with a JSON error" {
	for p in / /kvs /nope /kvx/a /health/x; do
		run code "$U$p"
		[ "$output" = 404 ] || { echo "path $p: $output"; false; }
	done
	c "$U/nope" | jq -e .error
}

@test "wrong method: 405 with an Allow header" {
	run c -X POST -d '{"value":"x"}' -D - -o /dev/null "$U/kv/m"
	[[ "$output" == "HTTP/1.1 405"* ]]
	allow=$(echo "$output" | tr -d '\r' | awk -F': ' 'tolower($1) == "allow" {print $2}')
	[[ "$allow" == *GET* && "$allow" == *PUT* && "$allow" == *DELETE* ]]
	run c -X DELETE -D - -o /dev/null "$U/health"
	[[ "$output" == "HTTP/1.1 405"* ]]
	echo "$output" | tr -d '\r' | grep -qi '^allow: .*GET'
	[ "$(code -X PATCH "$U/kv/m")" = 405 ]
}

@test "?w= and ?r=: 1 accepted, 0 and x and empty are 400" {
	[ "$(code -X PUT -d '{"value":"w"}' "$U/kv/q?w=1")" = 201 ]
	[ "$(code "$U/kv/q?r=1")" = 200 ]
	for q in w=0 w=x w= w=-1 r=0 r=abc w=99; do
		run code -X PUT -d '{"value":"w"}' "$U/kv/q2?$q"
		[ "$output" = 400 ] || { echo "?$q: $output"; false; }
	done
	[ "$(code "$U/kv/q2")" = 404 ]
	c "$U/kv/q?w=0" | jq -e .error
}

# ---- durability and process behaviour -----------------------------------

@test "200 acknowledged writes survive kill -9 and restart" {
	for i in $(seq 1 200); do
		timeout 60 "$KVCTL" --server "$U" put "dur-$i" "value-$i-$((i * 7919))" ||
		    { echo "put $i failed"; false; }
	done
	kill_node n1 KILL
	start_node n1
	U=$(url n1)
	got=$(c "$U/kv/dur-[1-200]" | jq -r .value)
	want=$(for i in $(seq 1 200); do echo "value-$i-$((i * 7919))"; done)
	[ "$got" = "$want" ]
}

@test "deletes and overwrites survive kill -9 too" {
	kv put o1 first
	kv put o1 second
	kv put d1 doomed
	kv delete d1
	kill_node n1 KILL
	start_node n1
	U=$(url n1)
	[ "$(kv get o1)" = second ]
	run kv get d1
	[ "$status" -eq 1 ]
}

@test "one keep-alive connection: a 100 kB PUT, then small ones and a GET of the big value, each answered in turn" {
	python3 -c 'import json; print(json.dumps({"value": "v" * 100000}))' >"$TMP/big.json"
	run curl -s --max-time 60 -w '%{http_code} %{num_connects}\n' -o /dev/null \
	    -X PUT --data-binary @"$TMP/big.json" "$U/kv/big" \
	    --next -s --max-time 60 -w '%{http_code} %{num_connects}\n' -o /dev/null \
	    -X PUT -d '{"value":"s1"}' "$U/kv/small" \
	    --next -s --max-time 60 -w '%{http_code} %{num_connects}\n' -o /dev/null \
	    -X PUT -d '{"value":"s2"}' "$U/kv/small" \
	    --next -s --max-time 60 -w '%{http_code} %{num_connects}\n' "$U/kv/big"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "201 1" ]
	[ "${lines[1]}" = "201 0" ]
	[ "${lines[2]}" = "200 0" ]
	[ "$(echo "${lines[3]}" | jq -r '.value | length')" = 100000 ]
	[ "${lines[4]}" = "200 0" ]
	[ "$(kv get small)" = s2 ]
}

@test "records and hints a peer sends whole, with a final newline or over several lines, are logged and survive kill -9" {
	# n1 with a member zz that is down for good, so that hints for zz
	# stay here (hints for no member at all go to the key's owners).
	local zz
	zz="127.0.0.1:$(closed_port)"
	kill_node n1
	rm -rf "$DATA/n1"
	start_node n1 --peers "zz=$zz" --n 2 --w 1 --r 1
	U=$(url n1)
	kv put p1 one
	kv put p2 two
	# A newer version of each, as a peer would send it: jq -c ends the
	# body with a newline, jq without -c spreads it over lines.
	for k in p1 p2; do
		c "$U/internal/fetch/$k" | jq '.v.value = "new-" + .key |
		    .v.ts += 1 | .v.clock[.v.actor] += 1' >"$TMP/$k.json"
	done
	jq -c . "$TMP/p1.json" >"$TMP/p1.line"
	[ "$(wc -l <"$TMP/p2.json")" -gt 3 ]
	for f in p1.line p2.json; do
		c -X POST --data-binary @"$TMP/$f" "$U/internal/replicate" |
		    jq -e '.applied == true'
	done
	# The same, as a stand-in's copies for zz.
	local before
	before=$(c "$U/admin/hints" | jq .pending)
	for f in p1.line p2.json; do
		{ printf '{"hint":"zz",'; tail -c +2 "$TMP/$f"; } >"$TMP/hint.$f"
		c -X POST --data-binary @"$TMP/hint.$f" \
		    "$U/internal/replicate" | jq -e '.hinted == true'
	done
	c "$U/admin/hints" | jq -e ".pending == $before + 2"
	kill_node n1 KILL
	start_node n1 --peers "zz=$zz" --n 2 --w 1 --r 1
	U=$(url n1)
	[ "$(kv get p1)" = new-p1 ]
	[ "$(kv get p2)" = new-p2 ]
	c "$U/admin/hints" | jq -e ".pending == $before + 2"
	run grep -q "torn tail" "$TMP/n1.log"
	[ "$status" -eq 1 ]
}

@test "SIGTERM: exit 0, snapshot.json written, WAL trimmed, data readable after restart" {
	for i in $(seq 1 50); do kv put "g-$i" "gv-$i"; done
	kv delete g-50
	wal_before=$(cat "$DATA"/n1/wal/* | wc -c)
	[ "$wal_before" -gt 0 ]
	pid=$(pid_of n1)
	kill -TERM "$pid"
	wait_exit "$pid"
	rc=0
	wait "$pid" || rc=$?
	[ "$rc" -eq 0 ]
	[ -s "$DATA/n1/snapshot.json" ]
	[ ! -e "$DATA/n1/snapshot.json.tmp" ]
	snap_seq=$(head -n 1 "$DATA/n1/snapshot.json" | jq .seq)
	[ "$snap_seq" -ge 51 ]
	wal_after=$(cat "$DATA"/n1/wal/* 2>/dev/null | wc -c)
	[ "$wal_after" -lt "$wal_before" ]
	# no record left that the snapshot covers
	covered=$(cat "$DATA"/n1/wal/* 2>/dev/null | jq -s "map(select(.seq <= $snap_seq)) | length")
	[ "$covered" -eq 0 ]
	grep -q 'level=info msg="stopped"' "$TMP/n1.log"
	start_node n1
	U=$(url n1)
	for i in 1 25 49; do [ "$(kv get "g-$i")" = "gv-$i" ]; done
	run kv get g-50
	[ "$status" -eq 1 ]
}

@test "--snapshot-interval: a snapshot only when something changed since the last; the age gauge stays low while idle" {
	kill_node n1 TERM
	rm -f "$DATA/n1/snapshot.json"
	start_node n1 --snapshot-interval 1
	U=$(url n1)
	local ino i age
	# Idle from the start: nothing to snapshot.
	sleep 2.5
	[ ! -e "$DATA/n1/snapshot.json" ]
	kv put si1 v1
	for i in $(seq 1 30); do
		[ -e "$DATA/n1/snapshot.json" ] && break
		sleep 0.1
	done
	ino=$(stat -c %i "$DATA/n1/snapshot.json")
	grep -q '"si1"' "$DATA/n1/snapshot.json"
	# Idle again: the same file stays (a new snapshot is a new inode:
	# it is renamed over the old one), and the age stays low.
	sleep 2.5
	[ "$(stat -c %i "$DATA/n1/snapshot.json")" = "$ino" ]
	age=$(c "$U/metrics" | awk '$1 == "kvd_snapshot_age_seconds" {print $2}')
	echo "snapshot age while idle: $age"
	python3 -c 'import sys; assert float(sys.argv[1]) < 2' "$age"
	kv put si2 v2
	for i in $(seq 1 30); do
		[ "$(stat -c %i "$DATA/n1/snapshot.json")" != "$ino" ] && break
		sleep 0.1
	done
	[ "$(stat -c %i "$DATA/n1/snapshot.json")" != "$ino" ]
	grep -q '"si2"' "$DATA/n1/snapshot.json"
}

@test "SIGHUP, SIGUSR1 and SIGUSR2 are logged and ignored; the node keeps serving, and SIGTERM still stops it" {
	local pid sig rc=0
	pid=$(pid_of n1)
	for sig in HUP USR1 USR2; do
		kill -s "$sig" "$pid"
	done
	wait_for 5 grep -q 'msg="signal ignored.*signal=USR2' "$TMP/n1.log"
	grep -q 'msg="signal ignored.*signal=HUP' "$TMP/n1.log"
	grep -q 'msg="signal ignored.*signal=USR1' "$TMP/n1.log"
	kill -0 "$pid"
	kv put after-hup v
	[ "$(kv get after-hup)" = v ]
	kill -TERM "$pid"
	wait_exit "$pid"
	wait "$pid" || rc=$?
	[ "$rc" -eq 0 ]
	grep -q 'level=info msg="stopped"' "$TMP/n1.log"
}

@test "SIGTERM writes the final snapshot only when something changed since the last one" {
	local ino
	kv put fs1 v1
	kill_node n1 TERM
	ino=$(stat -c %i "$DATA/n1/snapshot.json")
	grep -q '"fs1"' "$DATA/n1/snapshot.json"
	# Nothing written: the snapshot on disk is the store; kept as it is.
	start_node n1
	U=$(url n1)
	[ "$(kv get fs1)" = v1 ]
	kill_node n1 TERM
	[ "$(stat -c %i "$DATA/n1/snapshot.json")" = "$ino" ]
	grep -q 'level=info msg="stopped"' "$TMP/n1.log"
	# One write: a new snapshot holds it.
	start_node n1
	U=$(url n1)
	kv put fs2 v2
	kill_node n1 TERM
	[ "$(stat -c %i "$DATA/n1/snapshot.json")" != "$ino" ]
	grep -q '"fs2"' "$DATA/n1/snapshot.json"
	start_node n1
	U=$(url n1)
	[ "$(kv get fs1)" = v1 ]
	[ "$(kv get fs2)" = v2 ]
}

@test "a node away longer than --tombstone-grace refuses to start, says when --allow-stale is safe, and starts with it" {
	start_node n7 --tombstone-grace 1
	[ "$(put n7 kept v)" = 201 ]
	kill_node n7 TERM
	sleep 2.2
	run timeout 60 "$KVD" --id n7 --addr 127.0.0.1:0 --data-dir "$DATA" \
	    --tombstone-grace 1 3>&-
	echo "status $status: $output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"longer than --tombstone-grace 1 s"* ]]
	[[ "$output" == *"If every node was down too (a single node, a whole cluster stopped), or no key was deleted meanwhile, start it with --allow-stale"* ]]
	[[ "$output" == *"a node with no other replica would lose them"* ]]
	start_node n7 --tombstone-grace 1 --allow-stale
	[ "$(code "$(url n7)/kv/kept")" = 200 ]
}

@test "writes after a snapshot are replayed from the WAL after kill -9" {
	kv put s1 before
	kill_node n1 TERM
	start_node n1
	U=$(url n1)
	kv put s2 after
	kv put s1 changed
	kill_node n1 KILL
	start_node n1
	U=$(url n1)
	[ "$(kv get s1)" = changed ]
	[ "$(kv get s2)" = after ]
}

@test "a second kvd on the same node directory refuses to start; the first keeps serving" {
	kv put lock v
	run timeout 60 "$KVD" --id n1 --data-dir "$DATA" --addr 127.0.0.1:0 3>&-
	[ "$status" -ne 0 ]
	[ "$status" -ne 124 ]
	[[ "$output" == *"in use"* ]]
	[ "$(kv get lock)" = v ]
	kill -0 "$(pid_of n1)"
	# another id in the same data dir is fine
	start_node n2
	[ "$(code "$(url n2)/health")" = 200 ]
}

@test "kvd: bad flags exit 2 with a message; --help exits 0; --version" {
	run timeout 60 "$KVD" --id n9 --data-dir "$DATA" --no-such-flag 3>&-
	[ "$status" -eq 2 ]
	[[ "$output" == *"no-such-flag"* ]]
	run timeout 60 "$KVD" --id n9 --data-dir "$DATA" --max-conns zero 3>&-
	[ "$status" -eq 2 ]
	run timeout 60 "$KVD" --data-dir "$DATA" 3>&-
	[ "$status" -eq 2 ]
	[[ "$output" == *"--id"* ]]
	run timeout 60 "$KVD" --id 'bad id' --data-dir "$DATA" 3>&-
	[ "$status" -eq 2 ]
	# A quorum above N is a typo, not a wish: refused, not capped.
	run timeout 60 "$KVD" --id n9 --data-dir "$DATA" --n 3 --w 4 3>&-
	[ "$status" -eq 2 ]
	[[ "$output" == *"--w 4 is more than --n 3"* ]]
	run timeout 60 "$KVD" --id n9 --data-dir "$DATA" --n 1 --r 2 3>&-
	[ "$status" -eq 2 ]
	[[ "$output" == *"--r 2 is more than --n 1"* ]]
	run timeout 60 "$KVD" --help 3>&-
	[ "$status" -eq 0 ]
	[[ "$output" == *"--data-dir"* ]]
	run timeout 60 "$KVD" --version 3>&-
	[ "$status" -eq 0 ]
	[[ "$output" == "kvd "* ]]
	# --help (or -h) anywhere answers whatever else the line holds.
	local line
	for line in "--n 0 --help" "--id n9 --data-dir $DATA --bogus -h" \
	    "--id -h" "extra --help"; do
		run_split 5 "$KVD" $line 3>&-
		echo "[kvd $line] rc=$rc err=$err"
		[ "$rc" -eq 0 ]
		[[ "$out" == "usage: kvd "* ]]
		[ -z "$err" ]
	done
	[ ! -e "$DATA/n9" ]
}

@test "kvd: a flag that needs a value refuses another kvd flag in its place, naming both; --FLAG=VALUE carries any value" {
	local want="kvd: flag '--id' needs a value, but the flag '--data-dir' follows it (--id=--data-dir gives that as the value)"
	run_split 60 "$KVD" --id --data-dir "$DATA" 3>&-
	echo "$err"
	[ "$rc" -eq 2 ]
	[[ "$err" == *"$want"* ]]
	# Named as given, though KVD_DATA_DIR holds a value too.
	run_split 60 env KVD_DATA_DIR="$DATA" "$KVD" --id --data-dir "$DATA" 3>&-
	[ "$rc" -eq 2 ]
	[[ "$err" == *"$want"* ]]
	run_split 60 "$KVD" --data-dir "$DATA" --id n9 --max-conns --n 1 3>&-
	[ "$rc" -eq 2 ]
	[[ "$err" == *"kvd: flag '--max-conns' needs a value, but the flag '--n' follows it"* ]]
	# --FLAG=VALUE: the value is read (and judged as the flag's).
	run_split 60 "$KVD" --id n9 --data-dir "$DATA" --max-conns=--n 3>&-
	[ "$rc" -eq 2 ]
	[[ "$err" == *"kvd: bad --max-conns '--n' (want a number"* ]]
	[ ! -e "$DATA/n9" ]
}

@test "kvd: --help and --version answer whatever the KVD_ variables hold; a bad one stops a start (exit 2), named" {
	local b
	for b in KVD_REQUEST_LOG=maybe KVD_N=0 KVD_MAX_BODY=x KVD_ALLOW_STALE=2; do
		run_split 5 env "$b" "$KVD" --help 3>&-
		echo "[$b --help] rc=$rc err=$err"
		[ "$rc" -eq 0 ]
		[[ "$out" == *"--data-dir"* ]]
		[ -z "$err" ]
		run_split 5 env "$b" "$KVD" --id n9 --data-dir "$DATA" --version 3>&-
		[ "$rc" -eq 0 ]
		[[ "$out" == "kvd "* ]]
		run_split 5 env "$b" "$KVD" --id n9 --data-dir "$DATA" 3>&-
		echo "[$b start] rc=$rc err=$err"
		[ "$rc" -eq 2 ]
		[[ "$err" == *"kvd: bad ${b%%=*} '${b#*=}' (want "* ]]
	done
	# Even when a flag overrides it, as a bad KVCTL_ one does for kvctl.
	run_split 5 env KVD_N=0 "$KVD" --id n9 --data-dir "$DATA" --n 1 3>&-
	[ "$rc" -eq 2 ]
	[[ "$err" == *"kvd: bad KVD_N '0' (want a number from 1 to 64)"* ]]
	# A bad flag is named as the flag.
	run_split 5 "$KVD" --id n9 --data-dir "$DATA" --request-log=maybe 3>&-
	[ "$rc" -eq 2 ]
	[[ "$err" == *"kvd: bad --request-log 'maybe' (want 1, true, yes, 0, false or no)"* ]]
	[ ! -e "$DATA/n9" ]
}

@test "kvd: a value checked after the flags are read is named as the KVD_ variable it came from, as the flag otherwise" {
	local t v want flag addr
	printf 'short' >"$TMP/secret"
	chmod 600 "$TMP/secret"
	# VAR=VALUE, then what the message says (2: exit status 2, 1: 1).
	for t in "KVD_LOG_LEVEL=bogus|2|kvd: bad KVD_LOG_LEVEL 'bogus' (debug, info, warn, error)" \
	    "KVD_LOG_FORMAT=xml|2|kvd: bad KVD_LOG_FORMAT 'xml' (text or json)" \
	    "KVD_ADDR=nope|2|kvd: bad KVD_ADDR 'nope' (want HOST:PORT or :PORT, e.g. :8080)" \
	    "KVD_ADVERTISE=:1|2|kvd: bad KVD_ADVERTISE ':1' (want HOST:PORT, PORT 1-65535 without leading zeros)" \
	    "KVD_PEERS=junk|2|kvd: KVD_PEERS: entry 1 'junk' is not ID=HOST:PORT" \
	    "KVD_CAS_WINDOW=1|2|kvd: KVD_CAS_WINDOW is too short for --peer-timeout-ms:" \
	    "KVD_PEER_TIMEOUT_MS=600000|2|kvd: --cas-window is too short for KVD_PEER_TIMEOUT_MS:" \
	    "KVD_CLUSTER_SECRET_FILE=$TMP/secret|2|cannot load KVD_CLUSTER_SECRET_FILE" \
	    "KVD_PEERS=n9=127.0.0.1:1|1|KVD_PEERS lists this node (n9) at 127.0.0.1:1"; do
		v=${t%%|*} want=${t##*|} addr=(--addr 127.0.0.1:0)
		[ "${v%%=*}" != KVD_ADDR ] || addr=()
		run_split 10 env "$v" "$KVD" --id n9 --data-dir "$DATA" \
		    "${addr[@]}" 3>&-
		echo "[$v] rc=$rc err=$err"
		flag=${v%%=*}
		flag=--$(echo "${flag#KVD_}" | tr 'A-Z_' 'a-z-')
		[ "$rc" -eq "$(echo "$t" | cut -d'|' -f2)" ]
		[[ "$err" == *"$want"* ]]
		[[ "$err" != *"$flag"* ]]
		# The same value as a flag is named as the flag.
		run_split 10 "$KVD" --id n9 --data-dir "$DATA" --addr 127.0.0.1:0 \
		    "$flag" "${v#*=}" 3>&-
		echo "[$flag] rc=$rc err=$err"
		[[ "$err" == *"${want//${v%%=*}/$flag}"* ]]
	done
	run_split 10 env KVD_ID='bad id' "$KVD" --data-dir "$DATA" 3>&-
	[ "$rc" -eq 2 ]
	[[ "$err" == *"kvd: bad KVD_ID 'bad id': use 1-64 of A-Z a-z 0-9 _ -"* ]]
	# A flag overrides its variable, and is named.
	run_split 10 env KVD_LOG_LEVEL=info "$KVD" --id n9 --data-dir "$DATA" \
	    --log-level bogus 3>&-
	[ "$rc" -eq 2 ]
	[[ "$err" == *"kvd: bad --log-level 'bogus'"* ]]
	# A prefix of another flag's variable is no match: KVD_N is not --n-anything.
	run_split 10 env KVD_N=3 KVD_CAS_WINDOW=1 "$KVD" --id n9 --data-dir "$DATA" 3>&-
	[[ "$err" == *"KVD_CAS_WINDOW is too short for --peer-timeout-ms"* ]]
	[ ! -e "$DATA/n9" ] || [ -z "$(ls "$DATA/n9")" ]
}

@test "kvd: start-up warnings name KVD_PEERS, KVD_APPLY_PEERS and KVD_ALLOW_STALE when those gave the value, the flag otherwise" {
	local log=$TMP/n7.log
	start_node n7 --peers n8=127.0.0.1:1
	kill_node n7 TERM
	# members.json wins over a list that differs, whichever way it came.
	: >"$log"
	KVD_PEERS=n8=127.0.0.1:2 start_node n7
	cat "$log"
	grep -q 'msg="cluster: KVD_PEERS ignored where it differs from members.json, which wins after the first start; start with --apply-peers to apply KVD_PEERS, or use kvctl cluster join/leave"' "$log"
	! grep -q -- '--peers' "$log"
	kill_node n7 TERM
	: >"$log"
	KVD_PEERS=n8=127.0.0.1:3 KVD_APPLY_PEERS=1 start_node n7
	cat "$log"
	grep -q 'msg="cluster: KVD_APPLY_PEERS: KVD_PEERS applied over members.json" changed="n8=127.0.0.1:3' "$log"
	! grep -q -- '--peers\|--apply-peers' "$log"
	kill_node n7 TERM
	: >"$log"
	start_node n7 --peers n8=127.0.0.1:4
	grep -q 'msg="cluster: --peers ignored where it differs' "$log"
	! grep -q KVD_PEERS "$log"
	kill_node n7 TERM
	: >"$log"
	start_node n7 --peers n8=127.0.0.1:5 --apply-peers
	grep -q 'msg="cluster: --apply-peers: --peers applied over members.json"' "$log"
	kill_node n7 TERM
	# --allow-stale the same.
	start_node n6 --tombstone-grace 1
	kill_node n6 TERM
	sleep 2.2
	: >"$TMP/n6.log"
	KVD_ALLOW_STALE=1 start_node n6 --tombstone-grace 1
	cat "$TMP/n6.log"
	grep -q 'starting anyway (KVD_ALLOW_STALE)"' "$TMP/n6.log"
	kill_node n6 TERM
	sleep 2.2
	: >"$TMP/n6.log"
	start_node n6 --tombstone-grace 1 --allow-stale
	grep -q 'starting anyway (--allow-stale)"' "$TMP/n6.log"
}

@test "flags from the environment (KVD_MAX_BODY), the command line wins" {
	KVD_MAX_BODY=50 start_node n2
	head -c 60 /dev/zero | tr '\0' 'a' >"$TMP/b60"
	[ "$(code -X PUT -H 'Content-Type: application/octet-stream' --data-binary @"$TMP/b60" "$(url n2)/kv/e")" = 413 ]
	KVD_MAX_BODY=50 start_node n3 --max-body 100
	[ "$(code -X PUT -H 'Content-Type: application/octet-stream' --data-binary @"$TMP/b60" "$(url n3)/kv/e")" = 201 ]
}
