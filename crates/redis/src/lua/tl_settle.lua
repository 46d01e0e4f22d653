-- Shared by the scripts that add entries (prepended to each): keeps a timeline whole from its
-- floor up. The state's value is its letter ('b' or 'r') then, once known, the floor: the
-- 16 id bytes from which up the timeline holds every post it should. Entries added below the
-- floor are dropped (the database serves that range), and the floor rises to what the cap
-- drops and to what an incomplete merge could not bring (`cut`, 16 bytes or '').

-- Byte-wise: Lua's own string order stops at a NUL byte, which ids may hold.
local function above(a, b)
  for i = 1, 16 do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x > y end
  end
  return false
end

local function settle(tl, tls, cap, cut)
  local state = redis.call('GET', tls)
  if not state then return end
  local floor = string.sub(state, 2)
  if cut ~= '' and (floor == '' or above(cut, floor)) then floor = cut end
  local n = redis.call('ZCARD', tl)
  if n > cap then
    redis.call('ZREMRANGEBYRANK', tl, 0, n - cap - 1)
    local lowest = string.sub(redis.call('ZRANGE', tl, 0, 0)[1], 1, 16)
    if floor == '' or above(lowest, floor) then floor = lowest end
  end
  if floor ~= '' then redis.call('ZREMRANGEBYLEX', tl, '-', '(' .. floor) end
  local settled = string.sub(state, 1, 1) .. floor
  if settled ~= state then redis.call('SET', tls, settled, 'KEEPTTL') end
end

