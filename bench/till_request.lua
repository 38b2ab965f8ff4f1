-- The till's pay by payment code: each request pays the next pre-generated order of this
-- thread with its own WeChat payment code and Idempotency-Key. WRK_REQUESTS holds
-- "order_id auth_code" lines; a run uses the lines WRK_FROM..WRK_TO. The thread numbering and
-- the report of the run are wrk_request.lua's (WRK_BASE_LUA).
dofile(os.getenv("WRK_BASE_LUA"))

local token = os.getenv("WRK_TOKEN") or ""
local requests_file = os.getenv("WRK_REQUESTS")
local nthreads = tonumber(os.getenv("WRK_THREADS") or "2")
local from = tonumber(os.getenv("WRK_FROM") or "0")
local to = tonumber(os.getenv("WRK_TO") or "1000000000")

function init(args)
  pending = {}
  local n = 0
  for line in io.lines(requests_file) do
    if n >= from and n < to and n % nthreads == tid then
      table.insert(pending, line)
    end
    n = n + 1
  end
  next_one = 1
end

function request()
  -- Past the end of the slice: an order that does not exist, counted as an error.
  local line = pending[next_one] or "0 130000000000000000"
  next_one = next_one + 1
  local order, code = line:match("(%d+) (%d+)")
  local headers = {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = "bench-" .. order,
  }
  return wrk.format("POST", "/api/v1/pos/orders/" .. order .. "/pay", headers,
    '{"method":"wechat_code","auth_code":"' .. code .. '"}')
end
