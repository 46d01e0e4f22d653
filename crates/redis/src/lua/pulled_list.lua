-- KEYS: pulled authors (hash), version. Returns {version, {author, generation, ...}}.
return {redis.call('GET', KEYS[2]) or '0', redis.call('HGETALL', KEYS[1])}
