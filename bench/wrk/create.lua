-- wrk script (scenario create): POST a contact with a phone number no other request of this run uses.
-- Env: TAMBULI_BENCH_WRK_DIR, TAMBULI_BENCH_PATH (contacts collection path),
-- TAMBULI_BENCH_TOKEN, TAMBULI_BENCH_THREADS, TAMBULI_BENCH_PHONE_BASE (first sequence number)
-- and TAMBULI_BENCH_IDS_OUT (file that receives the IDs of the created contacts).

local bench = dofile(os.getenv("TAMBULI_BENCH_WRK_DIR") .. "/report.lua")

local path = bench.required_env("TAMBULI_BENCH_PATH")
local thread_count = tonumber(bench.required_env("TAMBULI_BENCH_THREADS"))
local phone_base = tonumber(bench.required_env("TAMBULI_BENCH_PHONE_BASE"))
-- 63917 plus seven digits is a valid Philippine mobile number, so ten million are available.
local phone_limit = 10000000

wrk.method = "POST"
wrk.headers["Authorization"] = "Token " .. bench.required_env("TAMBULI_BENCH_TOKEN")
wrk.headers["Content-Type"] = "application/json"

-- Per-thread state.
counter = 0
created_ids = {}

setup = bench.setup

function request()
   -- Threads interleave their sequences so no two requests share a number.
   local sequence = phone_base + counter * thread_count + thread_index
   counter = counter + 1
   local phone = string.format("63917%07d", sequence % phone_limit)
   local body = '{"fullPhoneNumber": "' .. phone .. '", "firstName": "Bench", "lastName": "'
      .. sequence .. '"}'
   return wrk.format(nil, path, nil, body)
end

function response(status, headers, body)
   bench.count_status(status)
   if status == 200 then
      local id = string.match(body, '"id":%s*(%d+)')
      if id then
         created_ids[#created_ids + 1] = id
      end
   end
end

function done(summary, latency, requests)
   local sent = 0
   local out = io.open(bench.required_env("TAMBULI_BENCH_IDS_OUT"), "w")
   for _, thread in ipairs(bench.threads) do
      sent = sent + thread:get("counter")
      for _, id in ipairs(thread:get("created_ids")) do
         out:write(id, "\n")
      end
   end
   out:close()
   -- The next run starts its phone numbers after every number this run generated.
   bench.report(summary, latency, string.format(', "generated": %d', sent))
end
