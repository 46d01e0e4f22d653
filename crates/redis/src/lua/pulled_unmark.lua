-- Takes an author out if its generation is unchanged.
-- KEYS: pulled authors (hash), version. ARGV: author id, generation. Returns 1 when taken out.
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('INCR', KEYS[2])
return 1
