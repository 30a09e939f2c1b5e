-- Shared by the contact scripts: counts statuses per thread and prints one JSON line at the end.
-- Settings come from environment variables because wrk hands script arguments to the thread
-- states only, while done() runs in the main state.

local bench = {}

bench.threads = {}
local next_index = 0

-- Per-thread state; every thread has its own Lua state, so these are not shared.
statuses = {}
thread_index = 0

function bench.required_env(name)
   local value = os.getenv(name)
   if value == nil or value == "" then
      error("environment variable " .. name .. " is not set")
   end
   return value
end

function bench.setup(thread)
   thread:set("thread_index", next_index)
   next_index = next_index + 1
   table.insert(bench.threads, thread)
end

function bench.count_status(status)
   statuses[status] = (statuses[status] or 0) + 1
end

-- Merges the per-thread status counts so the summary shows what the non-2xx answers were.
local function merge_statuses()
   local merged = {}
   for _, thread in ipairs(bench.threads) do
      for status, count in pairs(thread:get("statuses") or {}) do
         merged[status] = (merged[status] or 0) + count
      end
   end
   return merged
end

function bench.report(summary, latency, extra)
   local merged = merge_statuses()
   local non_2xx = 0
   local parts = {}
   for status, count in pairs(merged) do
      if status < 200 or status > 299 then
         non_2xx = non_2xx + count
      end
      table.insert(parts, string.format('"%d": %d', status, count))
   end
   local e = summary.errors
   -- The marker lets the Python side find this line among wrk's own output.
   io.write(string.format(
      'BENCH_RESULT {"duration_us": %d, "requests": %d, "bytes": %d, "non_2xx": %d, '
         .. '"statuses": {%s}, "errors": {"connect": %d, "read": %d, "write": %d, '
         .. '"timeout": %d, "status": %d}, "latency_us": {"min": %d, "mean": %.1f, '
         .. '"stdev": %.1f, "max": %d, "p50": %d, "p90": %d, "p99": %d, "p999": %d}%s}\n',
      summary.duration, summary.requests, summary.bytes, non_2xx, table.concat(parts, ", "),
      e.connect, e.read, e.write, e.timeout, e.status,
      latency.min, latency.mean, latency.stdev, latency.max,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency:percentile(99.9), extra or ""))
end

return bench
