-- wrk.lua - one wrk script for every scenario; configured by environment variables.
--
--   BENCH_PATH     request path (default "/")
--   BENCH_TOKEN    a token sent as X-Auth-Token on every request (warm scenario)
--   BENCH_TOKENS   a file of tokens, one a line, cycled one per request (cold / flood)
--   BENCH_BODY     request body size in bytes: the request becomes a POST with that body
--   BENCH_EXPECT   the status counted as expected (default 200); anything else is an error
--
-- done() prints one JSON line prefixed "BENCHJSON " that the runner parses. Status counts are
-- kept per thread by response() and gathered through the thread handles from setup().

local path = os.getenv("BENCH_PATH") or "/"
local expect = tonumber(os.getenv("BENCH_EXPECT") or "200")
local body_size = tonumber(os.getenv("BENCH_BODY") or "0")
local token = os.getenv("BENCH_TOKEN")
local tokens_file = os.getenv("BENCH_TOKENS")

local threads = {}

function setup(thread)
	table.insert(threads, thread)
end

wrk.method = "GET"
wrk.path = path
wrk.headers["Host"] = "bench.localhost"
if body_size > 0 then
	wrk.method = "POST"
	wrk.body = string.rep("x", body_size)
	wrk.headers["Content-Type"] = "application/octet-stream"
end
if token and token ~= "" then
	wrk.headers["X-Auth-Token"] = token
end

ok_count = 0
bad_count = 0
bad_statuses = {}

if tokens_file and tokens_file ~= "" then
	local list = {}
	local n = 0
	for line in io.lines(tokens_file) do
		n = n + 1
		list[n] = line
	end
	local i = 0
	function request()
		i = i + 1
		if i > n then i = 1 end
		wrk.headers["X-Auth-Token"] = list[i]
		return wrk.format(nil, nil, wrk.headers, wrk.body)
	end
end

function response(status, headers, body)
	if status == expect then
		ok_count = ok_count + 1
	else
		bad_count = bad_count + 1
		bad_statuses[status] = (bad_statuses[status] or 0) + 1
	end
end

function done(summary, latency, requests)
	local ok, bad = 0, 0
	local statuses = {}
	for _, t in ipairs(threads) do
		ok = ok + (t:get("ok_count") or 0)
		bad = bad + (t:get("bad_count") or 0)
		for k, v in pairs(t:get("bad_statuses") or {}) do
			statuses[k] = (statuses[k] or 0) + v
		end
	end
	local parts = {}
	for k, v in pairs(statuses) do
		table.insert(parts, string.format('"%d":%d', k, v))
	end
	local e = summary.errors
	io.write(string.format(
		'BENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
		'"errors_connect":%d,"errors_read":%d,"errors_write":%d,"errors_status":%d,' ..
		'"errors_timeout":%d,"expected_status":%d,"expected":%d,"unexpected":%d,' ..
		'"lat_p50_us":%d,"lat_p90_us":%d,"lat_p99_us":%d,"lat_max_us":%d,"lat_mean_us":%.1f,' ..
		'"unexpected_statuses":{%s}}\n',
		summary.requests, summary.duration, summary.bytes,
		e.connect, e.read, e.write, e.status, e.timeout, expect, ok, bad,
		latency:percentile(50), latency:percentile(90), latency:percentile(99),
		latency.max, latency.mean, table.concat(parts, ",")))
end
