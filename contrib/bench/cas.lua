-- contrib/bench/cas.lua -- the compare-and-swap wrk script of
-- contrib/bench/run.sh: each wrk thread has one connection and one key,
-- cas:<time>:<thread> (new in each run, so the first write creates it),
-- and keeps what its last answer said: kvd's ETag, or etcd's mod_revision.
--
--   wrk -t48 -c48 -d5s -s contrib/bench/cas.lua http://127.0.0.1:PORT \
--       -- OP [KEYS [SIZE]]
--
-- OP is one of
--   kvd-cas    PUT /kv/KEY with If-Match: the ETag of its last write
--              (If-None-Match: * for the first)
--   etcd-cas   POST /v3/kv/txn: compare mod_revision (version 0 for the
--              first), put; a failed compare reads the key back
-- KEYS is not used (keys.lua's argument order); SIZE is the value's length,
-- 16 by default, 52 at most.  A failed compare (none is expected: the keys
-- are not shared) resyncs and is counted; done() prints "cas conflicts: N".
-- Without OP, or with an OP or SIZE it does not take, the script prints its
-- usage on stderr and wrk exits 2 before sending anything (every request
-- would fail and count as a conflict).
-- BENCH_WRK_PORTS pins the threads to servers as for keys.lua (common.lua).

local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)")
    or "") .. "common.lua")
local b64 = common.b64
local threads = {}

function setup(thread)
	common.setup(thread)
	threads[#threads + 1] = thread
end

local mode, key, value, etag, rev
conflicts = 0
local usage = "usage: wrk -s contrib/bench/cas.lua URL -- kvd-cas|etcd-cas " ..
    "[KEYS [SIZE]] (SIZE 1 to 52)"
function init(args)
	mode = args[1]
	local size = tonumber(args[3] or "16")
	if (mode ~= "kvd-cas" and mode ~= "etcd-cas") or size == nil or
	    size < 1 or size > 52 or size ~= math.floor(size) then
		io.stderr:write("cas.lua: " .. (mode == nil and "no mode given" or
		    (mode ~= "kvd-cas" and mode ~= "etcd-cas") and
		    ("unknown mode '" .. mode .. "'") or
		    ("bad SIZE '" .. args[3] .. "'")) .. "\n" .. usage .. "\n")
		-- error() here is a Lua PANIC in wrk; exit says it plainly.
		os.exit(2)
	end
	-- A fresh key per run (runs are seconds apart), one per thread.
	key = string.format("cas:%d:%03d", os.time(), tid or 0)
	value = string.sub(string.rep("abcdefghijklmnopqrstuvwxyz", 2), 1, size)
end

function request()
	if mode == "kvd-cas" then
		local h = { ["Content-Type"] = "application/octet-stream" }
		if etag ~= nil then h["If-Match"] = etag else h["If-None-Match"] = "*" end
		return wrk.format("PUT", "/kv/" .. key, h, value)
	end
	local k = b64(key)
	local cmp = rev and ('"target":"MOD","mod_revision":"' .. rev .. '"')
	    or '"target":"VERSION","version":"0"'
	return wrk.format("POST", "/v3/kv/txn",
	    { ["Content-Type"] = "application/json" },
	    '{"compare":[{"key":"' .. k .. '","result":"EQUAL",' .. cmp ..
	    '}],"success":[{"request_put":{"key":"' .. k .. '","value":"' ..
	    b64(value) .. '"}}],"failure":[{"request_range":{"key":"' .. k ..
	    '"}}]}')
end

function response(status, headers, body)
	if mode == "kvd-cas" then
		if status == 200 or status == 201 then
			etag = headers["ETag"] or headers["Etag"]
		else
			conflicts = conflicts + 1
			etag = "*"	-- any version: the next answer brings its ETag
		end
	elseif string.find(body, '"succeeded":true', 1, true) then
		rev = string.match(body, '"revision":"(%d+)"')
	else
		conflicts = conflicts + 1
		rev = string.match(body, '"mod_revision":"(%d+)"')
	end
end

function done(summary, latency, requests)
	local n = 0
	for _, t in ipairs(threads) do n = n + (t:get("conflicts") or 0) end
	io.write(string.format("cas conflicts: %d\n", n))
end
