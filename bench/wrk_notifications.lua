-- Sends pre-signed payment notifications, each once, from the file WRK_REQUESTS names
-- (written by bench/notifications.py): per request a line "<path> <header count> <body bytes>",
-- the header lines "Name: value", then the body. Thread t of n sends requests t, t+n, t+2n ...
-- and starts again from its first one if it runs out (bench/__main__.py warns when a run
-- answered more requests than the file holds). The report is wrk_request.lua's.
local requests_file = os.getenv("WRK_REQUESTS") or ""
local nthreads = tonumber(os.getenv("WRK_THREADS") or "2")

local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  prepared = {}
  local file = assert(io.open(requests_file, "rb"))
  local n = 0
  while true do
    local line = file:read("*l")
    if line == nil or line == "" then break end
    local path, header_count, body_length = line:match("^(%S+) (%d+) (%d+)$")
    local headers = {}
    for _ = 1, tonumber(header_count) do
      local name, value = file:read("*l"):match("^([^:]+): (.*)$")
      headers[name] = value
    end
    local body = file:read(tonumber(body_length))
    if n % nthreads == tid then
      table.insert(prepared, wrk.format("POST", path, headers, body))
    end
    n = n + 1
  end
  file:close()
  next_request = 1
end

function request()
  local prepared_request = prepared[next_request]
  next_request = next_request + 1
  if next_request > #prepared then next_request = 1 end
  return prepared_request
end

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
