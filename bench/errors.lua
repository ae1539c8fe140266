-- Error mix: random bodies that must all be refused (bad checksum, unknown key, wrong org,
-- another org's brand, a brand with no segments). Tallies the status codes, which costs wrk
-- some CPU per response, so only this script does it.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")

local threads = {}
local built
statuses = {} -- global: read from each thread in done()

function setup(thread)
  threads[#threads + 1] = thread
end

function init(args)
  built = common.requests(args[1])
  math.randomseed(os.time())
end

function request()
  return built[math.random(#built)]
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      total[status] = (total[status] or 0) + count
    end
  end
  common.report(summary, latency, total)
end
