-- wrk script: GET existing contacts, each thread cycling through the IDs from its own offset.
-- Env: TAMBULI_BENCH_WRK_DIR, TAMBULI_BENCH_PATH (contacts collection path),
-- TAMBULI_BENCH_TOKEN, TAMBULI_BENCH_THREADS and TAMBULI_BENCH_IDS_IN (one contact ID a line).

local bench = dofile(os.getenv("TAMBULI_BENCH_WRK_DIR") .. "/report.lua")

local path = bench.required_env("TAMBULI_BENCH_PATH")
local thread_count = tonumber(bench.required_env("TAMBULI_BENCH_THREADS"))

wrk.method = "GET"
wrk.headers["Authorization"] = "Token " .. bench.required_env("TAMBULI_BENCH_TOKEN")

-- Per-thread state, filled in init() because thread_index is set only after the script loads.
ids = {}
position = 0

setup = bench.setup

function init(args)
   for line in io.lines(bench.required_env("TAMBULI_BENCH_IDS_IN")) do
      ids[#ids + 1] = line
   end
   if #ids == 0 then
      error("no contact IDs to get")
   end
   -- Starting apart keeps threads from asking for the same contact at the same moment.
   position = math.floor(#ids * thread_index / thread_count)
end

function request()
   position = position % #ids + 1
   return wrk.format(nil, path .. ids[position] .. "/")
end

function response(status, headers, body)
   bench.count_status(status)
end

function done(summary, latency, requests)
   bench.report(summary, latency)
end
