-- Token bucket as GCRA. State: the debt (time until full, scaled by the limit so that one
-- token's refill interval is exactly `w` units) as of the time `t` it was written. Storing the
-- debt rather than an absolute arrival time keeps every number far below 2^53, so Lua's
-- doubles stay exact.
-- KEYS[1]: the state hash. ARGV: limit, window (µs), cost, clock offset (µs).
local l, w, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2]) + tonumber(ARGV[4])
local need = math.max(cost, 1)
local st = redis.call('HMGET', KEYS[1], 't', 'd')
local t0, d0 = tonumber(st[1]), tonumber(st[2])
local debt = 0
if t0 and d0 then
  local el = math.min(math.max(now - t0, 0), w)
  debt = math.max(d0 - el * l, 0)
end
local burst = w * l
local before = debt
local allowed = debt + need * w <= burst
if allowed and cost > 0 then
  debt = debt + cost * w
  redis.call('HSET', KEYS[1], 't', string.format('%.0f', now), 'd', string.format('%.0f', debt))
  redis.call('PEXPIRE', KEYS[1], math.ceil(debt / l / 1000) + 1)
end
local n = math.min(need, l)
local remaining = math.floor(math.max(burst - debt, 0) / w)
local reset = math.ceil(debt / l)
local retry = math.ceil(math.max(before + n * w - burst, 0) / l)
return {allowed and 1 or 0, remaining, reset, retry}
