-- GET a random line of BENCH_PATHS: one path under the SCIM root a line,
-- already URL-encoded (e.g. /Users?filter=externalId%20eq%20%22ext-00000042%22).
-- Uses the harness's common.lua (BENCH_COMMON) for the token, status counts
-- and the BENCH result line.
dofile(os.getenv("BENCH_COMMON"))

local paths
function bench.init(args)
  paths = {}
  local f = assert(io.open(os.getenv("BENCH_PATHS"), "r"))
  for line in f:lines() do
    if #line > 0 then paths[#paths + 1] = line end
  end
  f:close()
  if #paths == 0 then error("no paths in " .. os.getenv("BENCH_PATHS")) end
end

function request()
  return wrk.format("GET", bench.prefix .. paths[math.random(1, #paths)])
end
