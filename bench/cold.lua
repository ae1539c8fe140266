-- Cold: every request a random (key, org, brand) out of the bodies file (100,000 lines).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")

local built

function init(args)
  built = common.requests(args[1])
  math.randomseed(os.time())
end

function request()
  return built[math.random(#built)]
end

function done(summary, latency, requests)
  common.report(summary, latency)
end
