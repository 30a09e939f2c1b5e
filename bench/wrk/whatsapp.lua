-- wrk script: POST /v1/whatsapp/contact, a template message to a number no other request of
-- this run uses (a new contact has no open conversation, so it must be a template).
-- Env: TAMBULI_BENCH_WRK_DIR, TAMBULI_BENCH_ORG (organization ID), TAMBULI_BENCH_TOKEN,
-- TAMBULI_BENCH_THREADS, TAMBULI_BENCH_PHONE_BASE (first sequence number),
-- TAMBULI_BENCH_FROM (the business number) and TAMBULI_BENCH_IDS_OUT (file that receives the
-- IDs of the accepted messages).

local bench = dofile(os.getenv("TAMBULI_BENCH_WRK_DIR") .. "/report.lua")

local org = bench.required_env("TAMBULI_BENCH_ORG")
local sender = bench.required_env("TAMBULI_BENCH_FROM")
local thread_count = tonumber(bench.required_env("TAMBULI_BENCH_THREADS"))
local phone_base = tonumber(bench.required_env("TAMBULI_BENCH_PHONE_BASE"))
local phone_limit = 10000000

wrk.method = "POST"
wrk.headers["Authorization"] = "Token " .. bench.required_env("TAMBULI_BENCH_TOKEN")
wrk.headers["Content-Type"] = "application/json"

counter = 0
sent_ids = {}

setup = bench.setup

function request()
   local sequence = phone_base + counter * thread_count + thread_index
   counter = counter + 1
   local phone = string.format("63917%07d", sequence % phone_limit)
   local body = '{"orgId": ' .. org .. ', "from": "' .. sender .. '", "fullPhoneNumber": "'
      .. phone .. '", "message": "", "content": {"name": "bench_reminder", "language": "en", '
      .. '"parameters": ["#' .. sequence .. '"]}}'
   return wrk.format(nil, "/v1/whatsapp/contact", nil, body)
end

function response(status, headers, body)
   bench.count_status(status)
   if status == 200 then
      local id = string.match(body, '"messageId":%s*"([^"]+)"')
      if id then
         sent_ids[#sent_ids + 1] = id
      end
   end
end

function done(summary, latency, requests)
   local sent = 0
   local out = io.open(bench.required_env("TAMBULI_BENCH_IDS_OUT"), "w")
   for _, thread in ipairs(bench.threads) do
      sent = sent + thread:get("counter")
      for _, id in ipairs(thread:get("sent_ids")) do
         out:write(id, "\n")
      end
   end
   out:close()
   bench.report(summary, latency, string.format(', "generated": %d', sent))
end
