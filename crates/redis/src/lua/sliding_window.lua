-- Sliding window: the current window's count plus the previous one's weighted by how much of
-- it still overlaps, compared multiplied through by the window so the weight is not rounded.
-- KEYS[1]: the state hash. ARGV: limit, window (µs), cost, clock offset (µs).
local l, w, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2]) + tonumber(ARGV[4])
local need = math.max(cost, 1)
local idx = math.floor(now / w)
local st = redis.call('HMGET', KEYS[1], 'w', 'p', 'c')
local win, prev, curr = tonumber(st[1]), tonumber(st[2]) or 0, tonumber(st[3]) or 0
if win == nil then
  prev, curr = 0, 0
elseif win + 1 == idx then
  prev, curr = curr, 0
elseif win ~= idx then
  prev, curr = 0, 0
end
local elapsed = now - idx * w
local until_end = w - elapsed
local allowed = prev * until_end + (curr + need) * w <= l * w
if allowed and cost > 0 then
  curr = curr + cost
  redis.call('HSET', KEYS[1], 'w', string.format('%.0f', idx), 'p', prev, 'c', curr)
  redis.call('PEXPIRE', KEYS[1], math.ceil((until_end + w) / 1000) + 1)
end
local reset = 0
if curr > 0 then
  reset = until_end + w
elseif prev > 0 then
  reset = until_end
end
local n = math.min(need, l)
local retry = 0
if curr + n <= l then
  -- Fits in this window once the previous one's weight has shrunk enough.
  if prev > 0 then
    local room = math.floor((l - curr - n) * w / prev)
    retry = math.max(math.max(w - room, 0) - elapsed, 0)
  end
else
  -- Needs the next window, where this window's count is the one weighing.
  local room = w
  if curr > 0 then room = math.floor((l - n) * w / curr) end
  retry = until_end + math.max(w - room, 0)
end
local remaining = math.floor(math.max(l * w - (prev * until_end + curr * w), 0) / w)
return {allowed and 1 or 0, remaining, reset, retry}
