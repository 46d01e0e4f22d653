-- Claims the rebuild of a missing timeline.
-- KEYS: timeline, state. ARGV: how long the claim holds (ms).
-- Returns 1 when claimed.
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
-- A timeline without a state is a leftover (its state expired first): start afresh.
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], 'b', 'PX', ARGV[1])
return 1
