-- contrib/bench/put.lua -- wrk script: durable PUTs of a 100-byte JSON value
-- to random keys key:000000000000 .. key:000000009999 (run.sh's key space).
wrk.method = "PUT"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"value":"' .. string.rep("v", 100) .. '"}'

request = function()
	return wrk.format(nil, string.format("/kv/key:%012d", math.random(0, 9999)))
end
