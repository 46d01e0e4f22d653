-- Fixed window, aligned to the Unix epoch so every instance agrees on window edges.
-- KEYS[1]: the state hash. ARGV: limit, window (µs), cost, clock offset (µs).
-- Returns {allowed, remaining, reset_after µs, retry_after µs}; the same rule as the local
-- limiter, in microseconds of Redis server time.
local limit, w, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2]) + tonumber(ARGV[4])
local need = math.max(cost, 1)
local idx = math.floor(now / w)
local st = redis.call('HMGET', KEYS[1], 'w', 'c')
local count = 0
if tonumber(st[1]) == idx then count = tonumber(st[2]) or 0 end
local allowed = count + need <= limit
local until_end = (idx + 1) * w - now
if allowed and cost > 0 then
  count = count + cost
  -- string.format: Lua would print numbers with 14 significant digits, losing precision.
  redis.call('HSET', KEYS[1], 'w', string.format('%.0f', idx), 'c', count)
  redis.call('PEXPIRE', KEYS[1], math.ceil(until_end / 1000) + 1)
end
local reset = 0
if count > 0 then reset = until_end end
return {allowed and 1 or 0, math.max(limit - count, 0), reset, until_end}
