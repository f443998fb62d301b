-- contrib/bench/common.lua -- what the wrk scripts of contrib/bench
-- (keys.lua, cas.lua) share.  A script loads it from its own directory:
--
--   local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)")
--       or "") .. "common.lua")
--
--   common.setup(thread)  wrk's setup(): numbers the threads (each thread's
--                         global tid, 0, 1, ...) and, with BENCH_WRK_PORTS
--                         set, pins each to a server (below)
--   common.b64(s)         base64 of s (etcd's gateway takes keys and values
--                         as protobuf bytes)
--
-- Several servers: with BENCH_WRK_PORTS=P1,P2,P3 in the environment, wrk
-- thread i connects to 127.0.0.1:P(i mod 3) instead of the URL's port (wrk
-- takes one host per process; a thread's address can be set here).  With
-- -t3 -c51 each of 3 servers gets one thread and 17 connections, and wrk
-- still merges the latencies of all of them.

local common = {}

local nthread = 0
local addrs = nil

function common.setup(thread)
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

function common.b64(s)
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

return common
