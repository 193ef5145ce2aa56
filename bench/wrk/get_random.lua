-- GET BENCH_PATH with {id} replaced by a random id of BENCH_IDS (comma-separated), authorised.
local ids = {}
for id in string.gmatch(os.getenv("BENCH_IDS") or "", "[^,]+") do table.insert(ids, id) end
local path = os.getenv("BENCH_PATH")
local headers = {["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY")}
local failures = 0

function request()
  local id = ids[math.random(#ids)]
  return wrk.format("GET", (path:gsub("{id}", id)), headers)
end

function response(status)
  if status ~= 200 then failures = failures + 1 end
end
