-- ledger_open.lua: the hand-off. Creates a delivery's ledger record (pending) if it does not exist; revives a dead
-- record that `tether dlq replay --reroute` re-armed; otherwise changes nothing.
-- KEYS[1] ledger record          tether:delivery:{id}
-- KEYS[2] watch index            tether:deliveries:watch
-- ARGV[1] delivery id            ARGV[2] now (ms)              ARGV[3] delivery payload (JSON)
-- ARGV[4] channel                ARGV[5] event id              ARGV[6] job id for a new record
-- ARGV[7] watch deadline (ms): by then a job must have claimed it, else the reaper enqueues another
-- Returns {outcome, status, job id}: outcome 'created' | 'revived' (enqueue `job id`) | 'exists' (status as found)
local status = redis.call('HGET', KEYS[1], 'status')
if not status then
  redis.call('HSET', KEYS[1], 'status', 'pending', 'deliveryId', ARGV[1], 'eventId', ARGV[5], 'channel', ARGV[4],
    'payload', ARGV[3], 'attempts', 0, 'fence', 0, 'done', 0, 'createdAt', ARGV[2], 'updatedAt', ARGV[2],
    'nextAttemptAt', ARGV[2], 'job', ARGV[6])
  redis.call('ZADD', KEYS[2], ARGV[7], ARGV[1])
  return {'created', 'pending', ARGV[6]}
end
if status == 'dead' and redis.call('HGET', KEYS[1], 'rearm') == '1' then
  local n = redis.call('HINCRBY', KEYS[1], 'replays', 1)
  local job = ARGV[6] .. '-p' .. n
  redis.call('HSET', KEYS[1], 'status', 'pending', 'attempts', 0, 'payload', ARGV[3], 'updatedAt', ARGV[2],
    'nextAttemptAt', ARGV[2], 'job', job)
  redis.call('HDEL', KEYS[1], 'rearm', 'deadAt', 'deadReason')
  redis.call('PERSIST', KEYS[1])
  redis.call('ZADD', KEYS[2], ARGV[7], ARGV[1])
  return {'revived', 'pending', job}
end
return {'exists', status, redis.call('HGET', KEYS[1], 'job') or ''}
