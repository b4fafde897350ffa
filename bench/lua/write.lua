-- wrk script: check out / check in random assets.
-- Env: BENCH_LIST  file with lines "<asset id> <borrower id>" (available, eligible pairs)
--      BENCH_MODE  "api": POST /api/v1/assets/<id>/checkout {"borrower_id","purpose"} then .../checkin
--                         {"condition":"intact"} with BENCH_TOKEN (every rule + audit chain)
--                  "raw": POST /w/<id> on bench/baseline_app.py (conditional UPDATE + INSERT + COMMIT)
-- Each wrk thread owns a disjoint random subset of the list in a fixed random order and walks it in
-- passes: even passes check every asset of its subset out, odd passes check them in again. Two
-- operations on one asset are therefore a whole subset apart (>> the 8 requests a thread keeps in
-- flight), so in a correct server every request succeeds: any 409 / 4xx / 5xx is counted and reported.
local threads = {}
local counter = 0
local nthreads = tonumber(os.getenv("BENCH_THREADS") or "2")

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(3000 + tid)
  local all = {}
  for line in io.lines(os.getenv("BENCH_LIST")) do
    local a, b = line:match("^(%d+)%s+(%d+)")
    if a then table.insert(all, {a, b}) end
  end
  mine = {}
  for i, it in ipairs(all) do
    if (i - 1) % nthreads == tid - 1 then table.insert(mine, it) end
  end
  for i = #mine, 2, -1 do  -- fixed random order (Fisher-Yates)
    local j = math.random(1, i)
    mine[i], mine[j] = mine[j], mine[i]
  end
  mode = os.getenv("BENCH_MODE") or "api"
  headers = {["Content-Type"] = "application/json"}
  local token = os.getenv("BENCH_TOKEN")
  if token and token ~= "" then headers["Authorization"] = "Bearer " .. token end
  n = 0
  s2, s3, s4, s5, s409, outs, ins = 0, 0, 0, 0, 0, 0, 0
end

function request()
  if not primed then
    -- wrk calls request() once on the first thread to check the script and throws the request away:
    -- had that call taken an item, the thread would skip its first checkout and later check in an
    -- item it never checked out (a 409 at every checkin pass). The first call of each thread gives a
    -- harmless GET instead (sent for real by the other threads: one extra request per thread).
    primed = true
    return wrk.format("GET", mode == "raw" and "/ping" or "/healthz")
  end
  local k = n % #mine + 1
  local pass = math.floor(n / #mine)
  n = n + 1
  local it = mine[k]
  if mode == "raw" then
    return wrk.format("POST", "/w/" .. it[1], {["Content-Type"] = "application/x-www-form-urlencoded"}, "holder=b" .. it[2])
  end
  if pass % 2 == 0 then
    outs = outs + 1
    return wrk.format("POST", "/api/v1/assets/" .. it[1] .. "/checkout", headers,
      '{"borrower_id": ' .. it[2] .. ', "purpose": "bench"}')
  end
  ins = ins + 1
  return wrk.format("POST", "/api/v1/assets/" .. it[1] .. "/checkin", headers, '{"condition": "intact"}')
end

function response(status, hdrs, body)
  if status < 300 then s2 = s2 + 1 elseif status < 400 then s3 = s3 + 1
  elseif status < 500 then s4 = s4 + 1; if status == 409 then s409 = s409 + 1 end else s5 = s5 + 1 end
end

function done(summary, latency, requests)
  local a2, a3, a4, a5, a409, ao, ai = 0, 0, 0, 0, 0, 0, 0
  for _, t in ipairs(threads) do
    a2 = a2 + (t:get("s2") or 0); a3 = a3 + (t:get("s3") or 0)
    a4 = a4 + (t:get("s4") or 0); a5 = a5 + (t:get("s5") or 0)
    a409 = a409 + (t:get("s409") or 0)
    ao = ao + (t:get("outs") or 0); ai = ai + (t:get("ins") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %d, "seconds": %.2f, "rps": %.1f, "p50_ms": %.2f, "p90_ms": %.2f, "p99_ms": %.2f, "max_ms": %.2f, "connect_err": %d, "read_err": %d, "write_err": %d, "timeout_err": %d, "s2xx": %d, "s3xx": %d, "s4xx": %d, "s5xx": %d, "s409": %d, "checkouts_sent": %d, "checkins_sent": %d}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, e.connect, e.read, e.write, e.timeout, a2, a3, a4, a5, a409, ao, ai))
end
