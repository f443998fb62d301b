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
-- Several servers: BENCH_WRK_PORTS=P1,P2,P3 pins wrk's threads to the
-- servers in turn (common.lua's setup(), shared with cas.lua).

local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)")
    or "") .. "common.lua")
local b64 = common.b64

setup = common.setup

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
