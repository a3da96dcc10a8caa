-- scripts/bench-batch.lua - wrk script for scripts/bench.
--
--   wrk -t2 -c16 -d5s --latency -s scripts/bench-batch.lua URL -- pool FILE
--   wrk -t2 -c16 -d5s --latency -s scripts/bench-batch.lua URL -- static
--
-- pool:   FILE holds complete HTTP requests separated by NUL bytes, written
--         by scripts/bench_run.py ($batch bodies of random-key items); each
--         thread cycles through them from its own starting point.
-- static: GET URL as is (the nginx ceiling).
--
-- The requests are made beforehand because wrk starts each thread right
-- after its init() but starts the clock after the last one: a slow init()
-- (building JSON in Lua) would count the first threads' early requests
-- against a shorter duration.  Reading a file keeps init() to a few
-- milliseconds.
-- done() prints one line "BENCHJSON {...}" for scripts/bench_run.py.

local static, data, pos = nil, nil, 1
local counter = 0

function setup(thread)
   counter = counter + 1
   thread:set("tid", counter)
end

function init(args)
   if (args[1] or "static") == "static" then
      static = wrk.format("GET", wrk.path)
      return
   end
   local f = assert(io.open(args[2], "rb"))
   data = f:read("*a")
   f:close()
   assert(#data > 0, "empty request pool")
   -- Threads start at different places in the pool: at the request after
   -- a point some way into it.
   local start = math.floor(#data * (((tid or 1) - 1) * 0.37 % 1))
   local e = start > 0 and string.find(data, "\0", start, true)
   pos = e and e + 1 or 1
end

-- The next request of the pool, cycling (found lazily: memchr and one
-- string per request cost far less than the request itself).
function request()
   if static then
      return static
   end
   local e = string.find(data, "\0", pos, true)
   local r
   if e then
      r = string.sub(data, pos, e - 1)
      pos = e + 1
   else
      r = string.sub(data, pos)
      pos = 1
   end
   return r
end

function done(summary, latency, requests)
   local e = summary.errors
   local pct = {}
   for _, p in ipairs({ 50, 75, 90, 95, 99, 99.9 }) do
      table.insert(pct, string.format('"%s":%d', tostring(p), latency:percentile(p)))
   end
   io.write(string.format(
      'BENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"latency_us":{"mean":%.1f,"max":%d,%s}}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency.mean, latency.max, table.concat(pct, ",")))
end
