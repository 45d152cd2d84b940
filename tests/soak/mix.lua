-- mix.lua - the soak's request mix for wrk: public calls, private calls with a valid token, a bad
-- signature and no token, and 4 KiB bodies. Every kind has its own expected answer, so the counts
-- of answers by kind must match the counts of requests by kind (within the requests in flight).
-- Environment: SOAK_TOKEN (valid for /priv), SOAK_BAD (signed by another key), SOAK_DELAY_MS
-- (mean think time per connection, fractional; 0 = as fast as possible).

local kinds = {"public", "private", "public", "private", "body", "public", "bad", "private",
               "missing", "bad"}
local token = os.getenv("SOAK_TOKEN")
local bad = os.getenv("SOAK_BAD")
local delay_ms = tonumber(os.getenv("SOAK_DELAY_MS") or "0")
local payload = string.rep("x", 4096)
local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   sent = {}
   got = {}
   i = 0
   math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0) % 100000)
end

function request()
   i = i + 1
   local k = kinds[(i % #kinds) + 1]
   sent[k] = (sent[k] or 0) + 1
   if k == "public" then
      return wrk.format("GET", "/pub/soak/" .. i)
   elseif k == "private" then
      return wrk.format("GET", "/priv/soak/" .. i, {["X-Auth-Token"] = token})
   elseif k == "bad" then
      return wrk.format("GET", "/priv/soak/" .. i, {["X-Auth-Token"] = bad})
   elseif k == "missing" then
      return wrk.format("GET", "/priv/soak/" .. i)
   else
      return wrk.format("POST", "/pub/_echo", {["Content-Type"] = "application/octet-stream"},
                        payload)
   end
end

-- What an answer is, from what it says: 200 from the backend (its JSON names the function's
-- path, or the echoed body), or fngate's refusal with its reason.
function response(status, headers, body)
   local what
   if status == 200 then
      if #body == 4096 then
         what = "body"
      else
         what = "ok200"
      end
   elseif status == 403 then
      local reason = body:match('"error":"([^"]+)"') or "?"
      if reason == "token_signature" then
         what = "bad"
      elseif reason == "token_missing" then
         what = "missing"
      else
         what = "unexpected_403_" .. reason
      end
   else
      what = "unexpected_" .. status
   end
   got[what] = (got[what] or 0) + 1
end

function delay()
   if delay_ms <= 0 then
      return 0
   end
   -- wrk's timer takes whole milliseconds: draw around the fractional mean.
   local d = delay_ms * (0.5 + math.random())
   local f = math.floor(d)
   if math.random() < d - f then
      f = f + 1
   end
   return f
end

function done(summary, latency, requests)
   local s, g = {}, {}
   for _, t in ipairs(threads) do
      for k, v in pairs(t:get("sent")) do s[k] = (s[k] or 0) + v end
      for k, v in pairs(t:get("got")) do g[k] = (g[k] or 0) + v end
   end
   local parts = {}
   for k, v in pairs(s) do table.insert(parts, string.format('"sent_%s":%d', k, v)) end
   for k, v in pairs(g) do table.insert(parts, string.format('"got_%s":%d', k, v)) end
   local e = summary.errors
   table.insert(parts, string.format('"requests":%d,"duration_us":%d,"err_connect":%d,' ..
      '"err_read":%d,"err_write":%d,"err_timeout":%d,"p50_us":%d,"p99_us":%d',
      summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout,
      latency:percentile(50), latency:percentile(99)))
   io.write("SOAK_RESULT {" .. table.concat(parts, ",") .. "}\n")
end
