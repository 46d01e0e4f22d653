-- Completes a claimed rebuild with the database's entries, leaving out unfollowed authors.
-- KEYS: timeline, state, edges. ARGV: cap, lifetime (ms), complete ('1' or '0'), the lowest
-- given member (or ''), then the members.
-- Returns 1 when written, 0 when the claim is gone (dropped or expired).
local state = redis.call('GET', KEYS[2])
if not state or string.sub(state, 1, 1) ~= 'b' then return 0 end
for i = 5, #ARGV do
  local edge = redis.call('HGET', KEYS[3], string.sub(ARGV[i], 17))
  if not (edge and string.sub(edge, -1) == 'u') then
    redis.call('ZADD', KEYS[1], 0, ARGV[i])
  end
end
local cut = ''
if ARGV[3] == '0' then cut = string.sub(ARGV[4], 1, 16) end
settle(KEYS[1], KEYS[2], tonumber(ARGV[1]), cut)
local floor = string.sub(redis.call('GET', KEYS[2]), 2)
redis.call('SET', KEYS[2], 'r' .. floor, 'PX', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
