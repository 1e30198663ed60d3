-- One wrk script for every single-request workload of bench/run.py, configured by environment:
--   BENCH_METHOD, BENCH_PATH, BENCH_AUTH (Authorization header), BENCH_BODY (form body),
--   BENCH_MODE=refresh with BENCH_TOKENS (a file, one refresh token a line) and BENCH_THREADS.
-- done() prints one line "BENCH_JSON {...}" that run.py reads.

local method = os.getenv("BENCH_METHOD") or "GET"
local path = os.getenv("BENCH_PATH") or "/"
local auth = os.getenv("BENCH_AUTH")
local body = os.getenv("BENCH_BODY")
local mode = os.getenv("BENCH_MODE") or "plain"
local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")

local headers = {}
if auth and auth ~= "" then headers["Authorization"] = auth end
if (body and body ~= "") or mode == "refresh" then headers["Content-Type"] = "application/x-www-form-urlencoded" end

local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

local prebuilt
local tokens = {}
local exhausted = 0

function init(args)
  if mode == "refresh" then
    -- Each thread owns every nthreads-th token: a refresh token is used once, then replaced by the
    -- rotated one from the response (RFC 6749 10.4, refresh token rotation).
    local i = 0
    for line in io.lines(os.getenv("BENCH_TOKENS")) do
      if i % nthreads == tid and line ~= "" then table.insert(tokens, line) end
      i = i + 1
    end
  else
    prebuilt = wrk.format(method, path, headers, (body ~= "" and body) or nil)
  end
end

function request()
  if mode == "refresh" then
    local t = table.remove(tokens, 1)
    if t == nil then
      exhausted = exhausted + 1
      t = "exhausted"
    end
    return wrk.format("POST", path, headers, "grant_type=refresh_token&refresh_token=" .. t)
  end
  return prebuilt
end

if mode == "refresh" then
  local shown = 0
  function response(status, hdrs, resp_body)
    if status ~= 200 and shown < 3 then
      shown = shown + 1
      io.stderr:write("refresh: HTTP " .. status .. ": " .. string.sub(resp_body or "", 1, 300) .. "\n")
    end
    local t = resp_body and resp_body:match('"refresh_token"%s*:%s*"([^"]+)"')
    if t then table.insert(tokens, t) end
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "connect_errors": %d, "read_errors": %d, ' ..
    '"write_errors": %d, "status_errors": %d, "timeouts": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
