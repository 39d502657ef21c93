-- wrk script for single-request scenarios: counts every status per thread and prints one
-- JSON line with totals and latency percentiles (microseconds) when the run ends.
-- Environment: BENCH_PATH (request path), BENCH_ETAG (optional If-None-Match value).

local path = os.getenv("BENCH_PATH") or "/"
local etag = os.getenv("BENCH_ETAG")

wrk.method = "GET"
wrk.path = path
if etag and etag ~= "" then
  wrk.headers["If-None-Match"] = etag
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  statuses = {}
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local merged = {}
  for _, thread in ipairs(threads) do
    local counts = thread:get("statuses")
    for status, n in pairs(counts) do
      merged[status] = (merged[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(merged) do
    table.insert(parts, string.format('"%d": %d', status, n))
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"p50": %d, "p95": %d, "p99": %d, "max": %d, "mean": %.1f}, "statuses": {%s}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max, latency.mean,
    table.concat(parts, ", ")))
end
