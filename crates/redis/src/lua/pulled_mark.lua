-- Records a skipped post of an author.
-- KEYS: pulled authors (hash), version, generation counter. ARGV: author id.
-- Generations come from one counter, so an author taken out and marked again never gets a
-- generation someone may still hold.
local gen = redis.call('INCR', KEYS[3])
if redis.call('HSET', KEYS[1], ARGV[1], gen) == 1 then redis.call('INCR', KEYS[2]) end
return gen
