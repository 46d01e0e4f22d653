-- Applies a follow-edge change unless a change with a higher or equal seq was applied.
-- KEYS: timeline, state, edges. ARGV: followee id, seq (decimal), 'f' or 'u', edges'
-- lifetime (ms), cap, complete ('1' or '0'), the lowest merged member (or ''), then the
-- members to merge.
-- Returns 1 when applied, 0 when ignored as older.

-- Seqs are i64 and Lua numbers doubles (exact only below 2^53): compare the decimal text.
-- Equal-length digit strings compare like their numbers in every collation.
local function less(a, b)
  local na, nb = string.sub(a, 1, 1) == '-', string.sub(b, 1, 1) == '-'
  if na ~= nb then return na end
  if na then a, b = string.sub(b, 2), string.sub(a, 2) end
  if #a ~= #b then return #a < #b end
  return a < b
end

local stored = redis.call('HGET', KEYS[3], ARGV[1])
if stored then
  local seq = string.match(stored, '^(-?%d+):')
  if seq and not less(seq, ARGV[2]) then return 0 end
end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2] .. ':' .. ARGV[3])
redis.call('PEXPIRE', KEYS[3], ARGV[4])
local life = redis.call('PTTL', KEYS[2])
if life == -2 then return 1 end
if ARGV[3] == 'u' then
  for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
    if string.sub(m, 17) == ARGV[1] then redis.call('ZREM', KEYS[1], m) end
  end
  return 1
end
for i = 8, #ARGV do redis.call('ZADD', KEYS[1], 0, ARGV[i]) end
local cut = ''
if ARGV[6] == '0' then cut = string.sub(ARGV[7], 1, 16) end
settle(KEYS[1], KEYS[2], tonumber(ARGV[5]), cut)
if life > 0 then redis.call('PEXPIRE', KEYS[1], life) end
return 1
