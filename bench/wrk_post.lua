-- wrk script for the node benchmark (bench/wrk_bench.py): POST one JSON body with a token.
-- WRK_BODY_FILE names the file holding the request body; WRK_TOKEN is the bearer token.
-- WRK_DELAY_MS (optional) paces each connection: it waits that long before each request,
-- which is how the soak holds a rate below the node's capacity.
local f = assert(io.open(os.getenv("WRK_BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("WRK_TOKEN")

local pause = tonumber(os.getenv("WRK_DELAY_MS") or "0")
if pause > 0 then
  function delay()
    return pause
  end
end
