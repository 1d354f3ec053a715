-- route.lua: dedupe a completion event by its id and keep its first routing decision (sticky), atomically.
-- KEYS[1] event hash          tether:{r}:ev:<eventId>
-- KEYS[2] decisions stream    tether:{r}:decisions
-- KEYS[3] counters hash       tether:{r}:counters
-- ARGV[1] id of the RQ job routing the event
-- ARGV[2] the raw event (JSON), stored on first sight
-- ARGV[3] the proposed decision (JSON of a DecisionRecord), stored when the event has none yet
-- ARGV[4] now (ms)
-- ARGV[5] dedupe window (ms): TTL of the event hash, set when the event is first seen
-- ARGV[6] approximate MAXLEN of the decisions stream
-- ARGV[7] counters field of the proposed decision     (decision:<mode>:<reason>)
-- ARGV[8] counters field of duplicates                (outcome:duplicate)
-- ARGV[9..] field/value pairs of the stream entry for the proposed decision
-- Returns {'duplicate', owner job id} when another job owns the event (it produces nothing),
--         {'sticky', decision} when the event already has a decision (a retry or a replay reuses it),
--         {'new', decision} when the proposed decision was stored.
local unpack = unpack or table.unpack  -- Lua 5.1 in Redis, 5.4 in fakeredis
local owner = redis.call('HGET', KEYS[1], 'job')
if owner and owner ~= ARGV[1] then
  redis.call('HINCRBY', KEYS[1], 'dups', 1)
  redis.call('HINCRBY', KEYS[3], ARGV[8], 1)
  return {'duplicate', owner}
end
if not owner then
  redis.call('HSET', KEYS[1], 'job', ARGV[1], 'event', ARGV[2], 'firstAt', ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
end
local stored = redis.call('HGET', KEYS[1], 'decision')
if stored then
  return {'sticky', stored}
end
redis.call('HSET', KEYS[1], 'decision', ARGV[3])
local entry = {}
for i = 9, #ARGV do
  entry[#entry + 1] = ARGV[i]
end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], '*', unpack(entry))
redis.call('HINCRBY', KEYS[3], ARGV[7], 1)
return {'new', ARGV[3]}
