-- The one wrk script of bench/run.sh, set up by the environment (measure.py sets it):
--
--   BENCH_METHOD      GET or POST (default GET)
--   BENCH_PATH        request path, e.g. /api/v1/tasks
--   BENCH_TOKEN       bearer token (none: no Authorization header)
--   BENCH_ACCEPT      Accept header (default application/json)
--   BENCH_BODY_FILE   file with the request body (POST)
--   BENCH_IDS_FILE    file with one conversation id per line: each request continues one of them.
--                     Thread t of n takes the ids at positions t, t+n, t+2n, ... and cycles
--                     through its own, so with one id per connection the requests in flight
--                     mostly hit different conversations. The body file is then a template in
--                     which @ID@ is replaced by the id.
--   BENCH_THREADS     wrk's -t (needed to split the ids between threads)
--
-- done() prints one line `BENCH_JSON {...}` with the totals and latency percentiles (µs) that
-- measure.py reads. wrk counts a response with status >= 400 as an error (`status`); none of
-- the routes measured answers 1xx or 3xx, so that is the number of non-2xx answers.

local method = os.getenv("BENCH_METHOD") or "GET"
local path = os.getenv("BENCH_PATH") or "/"
local token = os.getenv("BENCH_TOKEN")
local accept = os.getenv("BENCH_ACCEPT") or "application/json"
local body_file = os.getenv("BENCH_BODY_FILE")
local ids_file = os.getenv("BENCH_IDS_FILE")
local threads_total = tonumber(os.getenv("BENCH_THREADS") or "1")

local function read_file(name)
  local f = assert(io.open(name, "rb"), "cannot open " .. name)
  local data = f:read("*a")
  f:close()
  return data
end

local body = nil
if body_file and body_file ~= "" then body = read_file(body_file) end

local headers = { ["Accept"] = accept }
if token and token ~= "" then headers["Authorization"] = "Bearer " .. token end
if body then headers["Content-Type"] = "application/json" end

wrk.method = method
wrk.path = path
wrk.headers = headers
wrk.body = body

-- Threads get their index from setup(), which runs in the main Lua state once per thread.
local next_thread = 0
function setup(thread)
  thread:set("thread_index", next_thread)
  next_thread = next_thread + 1
end

if ids_file and ids_file ~= "" then
  local requests = {}
  local position = 0

  function init(args)
    local index = thread_index or 0
    local ids = {}
    for line in io.lines(ids_file) do
      local id = line:match("^%s*(%d+)%s*$")
      if id then ids[#ids + 1] = id end
    end
    assert(#ids > 0, "no conversation ids in " .. ids_file)
    for k = 1, #ids do
      if (k - 1) % threads_total == index then
        local text = body:gsub("@ID@", ids[k])
        requests[#requests + 1] = wrk.format(method, path, headers, text)
      end
    end
    -- More threads than ids: share the first one.
    if #requests == 0 then requests[1] = wrk.format(method, path, headers, (body:gsub("@ID@", ids[1]))) end
  end

  function request()
    position = position % #requests + 1
    return requests[position]
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"mean":%.1f,"stdev":%.1f,"max":%d,"p50":%d,"p75":%d,"p90":%d,"p99":%d,"p999":%d}}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(75), latency:percentile(90), latency:percentile(99), latency:percentile(99.9)))
end
