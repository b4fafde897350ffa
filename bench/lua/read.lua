-- wrk script: GET a path for random items of a list file (bench/http_bench.py writes it).
-- Env: BENCH_LIST  file with lines "<id> <code>"
--      BENCH_PATH  path template with {id} / {code}, e.g. /s/{code}, /items/{id}/act, /api/v1/scan/{code}
--      BENCH_COOKIE (Cookie header; replaced by a Set-Cookie answer, as a browser does) and/or
--      BENCH_TOKEN (Authorization: Bearer ...)
-- Prints "RESULT {...}" with req/s, latency percentiles, socket errors and answers by status class.
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(1000 + tid)
  items = {}
  for line in io.lines(os.getenv("BENCH_LIST")) do
    local id, code = line:match("^(%S+)%s+(%S+)")
    if id then table.insert(items, {id, code}) end
  end
  template = os.getenv("BENCH_PATH")
  headers = {}
  local cookie = os.getenv("BENCH_COOKIE")
  if cookie and cookie ~= "" then headers["Cookie"] = cookie end
  local token = os.getenv("BENCH_TOKEN")
  if token and token ~= "" then headers["Authorization"] = "Bearer " .. token end
  s2, s3, s4, s5 = 0, 0, 0, 0
end

function request()
  local it = items[math.random(1, #items)]
  local path = template:gsub("{id}", it[1]):gsub("{code}", it[2])
  return wrk.format("GET", path, headers)
end

function response(status, hdrs, body)
  -- as a browser does: a re-signed session cookie (the idle-timeout stamp moves at most once a
  -- minute) replaces the old one; without this every request after the first minute re-signs it
  local sc = hdrs["Set-Cookie"]
  if sc and headers["Cookie"] then
    local kv = sc:match("^([^;]+)")
    if kv then headers["Cookie"] = kv end
  end
  if status < 300 then s2 = s2 + 1 elseif status < 400 then s3 = s3 + 1
  elseif status < 500 then s4 = s4 + 1 else s5 = s5 + 1 end
end

function done(summary, latency, requests)
  local a2, a3, a4, a5 = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    a2 = a2 + (t:get("s2") or 0); a3 = a3 + (t:get("s3") or 0)
    a4 = a4 + (t:get("s4") or 0); a5 = a5 + (t:get("s5") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %d, "seconds": %.2f, "rps": %.1f, "p50_ms": %.2f, "p90_ms": %.2f, "p99_ms": %.2f, "max_ms": %.2f, "connect_err": %d, "read_err": %d, "write_err": %d, "timeout_err": %d, "s2xx": %d, "s3xx": %d, "s4xx": %d, "s5xx": %d, "s409": 0}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, e.connect, e.read, e.write, e.timeout, a2, a3, a4, a5))
end
