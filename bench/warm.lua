-- Warm: one key and brand asked again and again (the first line of the bodies file).
-- Also drives the limit server, which ignores the body.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")

wrk.method = "POST"
wrk.path = common.path
wrk.headers["Content-Type"] = "application/json"

function init(args)
  -- wrk.init builds its one static request from wrk.body after this returns.
  wrk.body = common.read_lines(args[1])[1]
end

function done(summary, latency, requests)
  common.report(summary, latency)
end
