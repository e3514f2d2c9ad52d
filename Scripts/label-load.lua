-- wrk script for the labeling app: each connection is one rater (bearer token from the file in
-- $LABEL_TOKENS, one per line), alternating "GET /" (the next comparison) and "POST /vote" on it.
-- Run with as many threads as connections (-tN -cN), so each thread's state is one rater's.
-- Prints the number of votes the server acknowledged as recorded ("acked N"), for the caller to
-- compare with the database.
local tokens = {}
for line in io.lines(os.getenv("LABEL_TOKENS")) do tokens[#tokens + 1] = line end
local threads = {}
local next_token = 0

function setup(thread)
  next_token = next_token + 1
  thread:set("token", tokens[(next_token - 1) % #tokens + 1])
  thread:set("seed", next_token)
  threads[#threads + 1] = thread
end

-- Globals, not locals: done() reads each thread's counters with thread:get, which sees globals only.
item, acked, duplicates = nil, 0, 0
local choices = { "left", "right", "tie", "both_bad" }

function init(args)
  math.randomseed(seed)
  headers = { ["Authorization"] = "Bearer " .. token }
  form = { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/x-www-form-urlencoded" }
end

function request()
  if item then
    local body = "item=" .. item .. "&choice=" .. choices[math.random(4)] .. "&reason=wrk"
    return wrk.format("POST", "/vote", form, body)
  end
  return wrk.format("GET", "/", headers)
end

function response(status, hdrs, body)
  if status == 200 then
    item = body:match('name="item" value="(%d+)"')
  else
    if status == 303 then
      local v = hdrs["X-Vote"] or hdrs["x-vote"]
      if v == "recorded" then acked = acked + 1 elseif v == "duplicate" then duplicates = duplicates + 1 end
    end
    item = nil
  end
end

function done(summary, latency, requests)
  local total, dup = 0, 0
  for _, t in ipairs(threads) do
    total = total + t:get("acked")
    dup = dup + t:get("duplicates")
  end
  io.write(string.format("acked %d\nduplicates %d\n", total, dup))
  io.write(string.format("p50_ms %.2f\np99_ms %.2f\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
