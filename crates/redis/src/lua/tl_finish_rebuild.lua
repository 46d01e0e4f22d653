-- Completes a claimed rebuild with the database's entries, leaving out unfollowed authors.
-- KEYS: timeline, state, edges. ARGV: cap, lifetime (ms), complete ('1' or '0'), the lowest
-- given member (or ''), then the members.
-- Returns 1 when written, 0 when the claim is gone (dropped or expired).
if redis.call('GET', KEYS[2]) ~= 'b' then return 0 end
for i = 5, #ARGV do
  local edge = redis.call('HGET', KEYS[3], string.sub(ARGV[i], 17))
  if not (edge and string.sub(edge, -1) == 'u') then
    redis.call('ZADD', KEYS[1], 0, ARGV[i])
  end
end
if ARGV[3] == '0' and ARGV[4] ~= '' then
  redis.call('ZREMRANGEBYLEX', KEYS[1], '-', '(' .. ARGV[4])
end
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[1]) + 1))
redis.call('SET', KEYS[2], 'r', 'PX', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
