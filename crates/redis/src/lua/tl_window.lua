-- A window of a timeline, newest first, renewing its lifetime.
-- KEYS: timeline, state. ARGV: upper bound ('+' or '(' .. 16 id bytes), n, lifetime (ms).
-- Returns {0, {}} when missing, {1, {}} while a rebuild writes it, {2, members} when ready.
local state = redis.call('GET', KEYS[2])
if not state then return {0, {}} end
-- The state's first byte; a floor may follow it (see tl_settle.lua).
if string.sub(state, 1, 1) == 'b' then return {1, {}} end
local members = {}
if tonumber(ARGV[2]) > 0 then
  members = redis.call('ZREVRANGEBYLEX', KEYS[1], ARGV[1], '-', 'LIMIT', 0, ARGV[2])
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return {2, members}
