-- requeue.lua: hand an event to a new route job (a replay), optionally dropping its sticky decision (reroute).
-- KEYS[1] event hash          tether:{r}:ev:<eventId>
-- KEYS[2] decision history    tether:{r}:hist:<eventId>
-- ARGV[1] id of the new RQ job, which becomes the event's owner (so it is not taken for a duplicate)
-- ARGV[2] '1' to reroute: the current decision moves to the history and the new job decides afresh
-- ARGV[3] the raw event (JSON), stored when the event is not known (any more)
-- ARGV[4] now (ms)
-- ARGV[5] dedupe window (ms): TTL of the event hash and history when they are (re)created
-- Returns the decision that was moved to the history, or false.
local moved = false
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'job', ARGV[1], 'event', ARGV[3], 'firstAt', ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  return moved
end
redis.call('HSET', KEYS[1], 'job', ARGV[1])
if ARGV[2] == '1' then
  local stored = redis.call('HGET', KEYS[1], 'decision')
  if stored then
    redis.call('RPUSH', KEYS[2], stored)
    local ttl_ms = redis.call('PTTL', KEYS[1])
    if ttl_ms <= 0 then
      ttl_ms = tonumber(ARGV[5])
    end
    redis.call('PEXPIRE', KEYS[2], ttl_ms)
    redis.call('HDEL', KEYS[1], 'decision')
    moved = stored
  end
end
return moved
