-- Shared by the bench scripts (loaded with dofile): request bodies from a file, one JSON
-- summary line at the end. Each script takes the bodies file as its first argument:
--   wrk -t1 -c64 -d10s -s bench/cold.lua URL -- bodies.txt
local common = {}

common.path = "/apis/public/fetchAudiences.php"

-- Every non-empty line of `file` (one JSON body a line; the runner renders them).
function common.read_lines(file)
  if file == nil then
    error("give the request bodies file after --")
  end
  local lines = {}
  for line in io.lines(file) do
    if #line > 0 then
      lines[#lines + 1] = line
    end
  end
  if #lines == 0 then
    error("no request bodies in " .. file)
  end
  return lines
end

-- Every body as a full pre-built HTTP request (formatted once, at start).
function common.requests(file)
  local built = {}
  for i, body in ipairs(common.read_lines(file)) do
    built[i] = wrk.format("POST", common.path, { ["Content-Type"] = "application/json" }, body)
  end
  return built
end

-- Prints `BENCH_RESULT {json}`; `statuses` (status -> count) is optional.
function common.report(summary, latency, statuses)
  local parts = {}
  for status, count in pairs(statuses or {}) do
    parts[#parts + 1] = string.format('"%d":%d', status, count)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,'
      .. '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"status_errors":%d,'
      .. '"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d,'
      .. '"mean_us":%.1f,"statuses":{%s}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean, table.concat(parts, ",")
  ))
end

return common
