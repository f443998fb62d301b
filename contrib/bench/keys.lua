-- contrib/bench/keys.lua -- the wrk script of contrib/bench/run.sh: one
-- kind of request over KEYS rotating keys key:000000000000 .. (16 bytes,
-- the names kvctl bench and redis-benchmark -r use), values of SIZE bytes.
--
--   wrk -t2 -c50 -d5s -s contrib/bench/keys.lua http://127.0.0.1:PORT \
--       -- OP [KEYS [SIZE]]
--
-- OP is one of
--   kvd-get       GET /kv/KEY
--   kvd-put       PUT /kv/KEY, body {"value":"..."} (a durable write)
--   etcd-put      POST /v3/kv/put {"key":b64,"value":b64} (etcd's JSON gateway)
--   etcd-range    POST /v3/kv/range {"key":b64}: a linearizable read
--   etcd-range-serializable   the same with "serializable":true: the member
--                 answers from its own copy, without a round through the leader
-- KEYS defaults to 10000 and SIZE to 16.  Each wrk thread walks the keys in
-- order from its own starting point (so threads seldom write the same key
-- at once), each request taking the next key.
--
-- Several servers: with BENCH_WRK_PORTS=P1,P2,P3 in the environment, wrk
-- thread i connects to 127.0.0.1:P(i mod 3) instead of the URL's port (wrk
-- takes one host per process; a thread's address can be set here).  With
-- -t3 -c51 each of 3 servers gets one thread and 17 connections, and wrk
-- still merges the latencies of all of them.

local nthread = 0
local addrs = nil

function setup(thread)
	local ports = os.getenv("BENCH_WRK_PORTS")
	if ports ~= nil and ports ~= "" then
		if addrs == nil then
			addrs = {}
			for p in string.gmatch(ports, "[^,]+") do
				local a = wrk.lookup("127.0.0.1", p)
				addrs[#addrs + 1] = a[1]
			end
		end
		thread.addr = addrs[nthread % #addrs + 1]
	end
	thread:set("tid", nthread)
	nthread = nthread + 1
end

local b64chars =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

-- base64 of s (etcd's gateway takes keys and values as protobuf bytes).
local function b64(s)
	local out = {}
	for i = 1, #s, 3 do
		local a, b, c = string.byte(s, i, i + 2)
		local n = a * 65536 + (b or 0) * 256 + (c or 0)
		local q = {}
		for j = 3, 0, -1 do
			local v = math.floor(n / 64 ^ j) % 64
			q[#q + 1] = string.sub(b64chars, v + 1, v + 1)
		end
		if b == nil then
			q[3], q[4] = "=", "="
		elseif c == nil then
			q[4] = "="
		end
		out[#out + 1] = table.concat(q)
	end
	return table.concat(out)
end

local reqs = {}
local nkeys = 10000
local next_key = 0

function init(args)
	local op = args[1] or "kvd-get"
	nkeys = tonumber(args[2] or "10000")
	local size = tonumber(args[3] or "16")
	local value = string.sub(string.rep("abcdefghijklmnopqrstuvwxyz",
	    math.ceil(size / 26) + 1), 1, size)
	local headers = {}
	local method, ctype
	if op == "kvd-get" then
		method = "GET"
	elseif op == "kvd-put" then
		method, ctype = "PUT", "application/json"
	elseif op == "etcd-put" or op == "etcd-range" or
	    op == "etcd-range-serializable" then
		method, ctype = "POST", "application/json"
	else
		error("keys.lua: unknown OP " .. op)
	end
	if ctype ~= nil then
		headers["Content-Type"] = ctype
	end
	-- Every request is formatted once, here; request() only hands them out.
	for k = 0, nkeys - 1 do
		local key = string.format("key:%012d", k)
		local path, body
		if op == "kvd-get" then
			path = "/kv/" .. key
		elseif op == "kvd-put" then
			path, body = "/kv/" .. key, '{"value":"' .. value .. '"}'
		elseif op == "etcd-put" then
			path = "/v3/kv/put"
			body = '{"key":"' .. b64(key) .. '","value":"' .. b64(value) .. '"}'
		elseif op == "etcd-range" then
			path, body = "/v3/kv/range", '{"key":"' .. b64(key) .. '"}'
		else
			path = "/v3/kv/range"
			body = '{"key":"' .. b64(key) .. '","serializable":true}'
		end
		reqs[k] = wrk.format(method, path, headers, body)
	end
	-- Threads start a golden-ratio step apart in the key space.
	next_key = math.floor(nkeys * ((tid or 0) * 0.6180339887 % 1))
end

function request()
	local r = reqs[next_key]
	next_key = next_key + 1
	if next_key >= nkeys then
		next_key = 0
	end
	return r
end
