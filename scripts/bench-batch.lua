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

local static, data, pos, start = nil, nil, 1, 1
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
   local at = math.floor(#data * (((tid or 1) - 1) * 0.37 % 1))
   local e = at > 0 and string.find(data, "\0", at, true)
   pos = e and e + 1 or 1
   start = pos
end

-- The next request of the pool, cycling.  Each is cut out of the file
-- once, on the first lap, and kept: later laps cost a table lookup, as
-- little as the static request nginx is sent, so the client's own CPU
-- (it shares the machine with the server) is the same for both.
local reqs, n, i = {}, nil, 0

function request()
   if static then
      return static
   end
   i = i + 1
   if n and i > n then
      i = 1
   end
   local r = reqs[i]
   if r then
      return r
   end
   local e = string.find(data, "\0", pos, true)
   if e then
      r = string.sub(data, pos, e - 1)
      pos = e + 1
   else
      r = string.sub(data, pos)
      pos = 1
   end
   reqs[i] = r
   if pos == start then
      n = i		-- back where this thread began: one lap
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
