-- Hold → capture cycles on one member. Each connection alternates: POST a hold (unique
-- Idempotency-Key), then POST the capture of the hold it got back. A refused hold (409) counts.
local counter = 0
local thread_id = 0
local key = os.getenv("BENCH_KEY")
local member = os.getenv("BENCH_MEMBER") or "hot"
local points = os.getenv("BENCH_POINTS") or "10"
local pending = {}   -- hold ids waiting for their capture
holds, captures, refused, other = 0, 0, 0, 0
local threads = {}

function setup(thread)
  thread_id = thread_id + 1
  thread:set("tid", thread_id)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(os.time() + (tid or 0))
end

function request()
  local id = table.remove(pending)
  local headers = {["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json"}
  if id then
    return wrk.format("POST", "/v1/redemptions/" .. id .. "/capture", headers, "")
  end
  counter = counter + 1
  headers["Idempotency-Key"] = string.format("bench-%d-%d-%d", tid or 0, counter, math.random(1, 1e9))
  return wrk.format("POST", "/v1/members/" .. member .. "/redemptions", headers, '{"points": ' .. points .. '}')
end

function response(status, headers, body)
  if status == 201 then
    local id = body:match('"id"%s*:%s*"([^"]+)"')
    if id then table.insert(pending, id); holds = holds + 1 end
  elseif status == 200 then
    captures = captures + 1
  elseif status == 409 then
    refused = refused + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local h, c, r, o = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    h = h + t:get("holds"); c = c + t:get("captures"); r = r + t:get("refused"); o = o + t:get("other")
  end
  io.write(string.format("RESULT holds=%d captures=%d refused=%d other=%d\n", h, c, r, o))
end
