-- POST /posts as one user; the token comes from the environment (scripts/bench.sh sets it).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, '{"content":"benchmark post ' .. n .. '"}')
end
