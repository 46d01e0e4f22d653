-- Appends outbox entries to the live log, each seq once.
-- KEYS: the stream, then one seen marker per entry. ARGV: the stream's cap, the markers'
-- lifetime (ms), then ten values per entry: its field names and values, as XADD takes them.
-- The marker is set in the same script that appends, so no entry is marked without being
-- appended, and the relays of several instances handing on one row append it once.
local appended = 0
for i = 2, #KEYS do
  if redis.call('SET', KEYS[i], '1', 'NX', 'PX', ARGV[2]) then
    local first = 3 + (i - 2) * 10
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(ARGV, first, first + 9))
    appended = appended + 1
  end
end
return appended
