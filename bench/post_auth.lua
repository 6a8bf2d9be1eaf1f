-- wrk script: POST the body in $BENCH_BODY_FILE as JSON with a JWT of its own per request, read from
-- $BENCH_TOKENS_FILE (one a line, minted by bench/auth.py). Should the tokens run out they are used
-- again; those calls are replays, answered 401 and counted as errors in the report.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local file = assert(io.open(os.getenv("BENCH_BODY_FILE"), "rb"))
wrk.body = file:read("*a")
file:close()

local tokens = {}
for line in io.lines(os.getenv("BENCH_TOKENS_FILE")) do
  tokens[#tokens + 1] = line
end
local next_token = 0

request = function()
  next_token = next_token % #tokens + 1
  wrk.headers["Authorization"] = "Bearer " .. tokens[next_token]
  return wrk.format()
end
