-- One request shape for every scenario, set through the environment by bench/wrk.py, and a
-- report of the run written where WRK_REPORT says.
-- With WRK_CODES, each request's body carries the next unused member code of this thread.
local method = os.getenv("WRK_METHOD") or "GET"
local token = os.getenv("WRK_TOKEN") or ""
local body = os.getenv("WRK_BODY") or ""
local codes_file = os.getenv("WRK_CODES") or ""
local nthreads = tonumber(os.getenv("WRK_THREADS") or "2")
-- The slice of the codes file this run may use (the warm-up and the measured run use two).
local codes_from = tonumber(os.getenv("WRK_CODES_FROM") or "0")
local codes_to = tonumber(os.getenv("WRK_CODES_TO") or "1000000000")

local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  headers = {}
  if token ~= "" then headers["Authorization"] = "Bearer " .. token end
  if body ~= "" or codes_file ~= "" then headers["Content-Type"] = "application/json" end
  codes = {}
  if codes_file ~= "" then
    local n = 0
    for line in io.lines(codes_file) do
      if n >= codes_from and n < codes_to and n % nthreads == tid then
        table.insert(codes, line)
      end
      n = n + 1
    end
  end
  next_code = 1
end

function request()
  if codes_file ~= "" then
    local code = codes[next_code] or "000000000000000000"
    next_code = next_code + 1
    return wrk.format(method, nil, headers, '{"code":"' .. code .. '"}')
  end
  return wrk.format(method, nil, headers, body ~= "" and body or nil)
end

-- The run's counts and its whole latency histogram, for bench/wrk.py to add runs together:
-- "requests duration_us connect_errors read_errors write_errors status_errors timeouts",
-- then one "latency_us count" line per latency seen (wrk's latency(i) counts from 1).
function done(summary, latency, requests)
  local report = os.getenv("WRK_REPORT") or ""
  if report == "" then return end
  local out = assert(io.open(report, "w"))
  local e = summary.errors
  out:write(string.format("%d %d %d %d %d %d %d\n", summary.requests, summary.duration,
    e.connect, e.read, e.write, e.status, e.timeout))
  for i = 1, #latency do
    local value, count = latency(i)
    out:write(string.format("%d %d\n", value, count))
  end
  out:close()
end
