-- Adds one entry to one user's timeline if it exists and the author was not unfollowed.
-- KEYS: timeline, state, edges. ARGV: member (post id || author id), author id, cap,
-- lifetime (ms) for a timeline whose state has none.
-- Returns 1 when written.
local life = redis.call('PTTL', KEYS[2])
if life == -2 then return 0 end
local edge = redis.call('HGET', KEYS[3], ARGV[2])
if edge and string.sub(edge, -1) == 'u' then return 0 end
redis.call('ZADD', KEYS[1], 0, ARGV[1])
settle(KEYS[1], KEYS[2], tonumber(ARGV[3]), '')
if life < 0 then life = ARGV[4] end
-- The timeline lives as long as its state: a rebuild that never finishes leaves nothing.
redis.call('PEXPIRE', KEYS[1], life)
return 1
