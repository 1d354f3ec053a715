-- ledger_reap.lua: the lease reaper's look at one delivery that is due in the watch index. Whoever runs it first
-- moves the watch deadline on, so concurrent reapers act on each delivery once.
-- KEYS[1] ledger record          tether:delivery:{id}
-- KEYS[2] watch index            tether:deliveries:watch
-- ARGV[1] delivery id            ARGV[2] now (ms)              ARGV[3] lease (ms): the next watch deadline
-- ARGV[4] job id prefix for a re-enqueue
-- Returns {'skip'} (not due, or another reaper took it) | {'finished'} (dropped from the index) | {'live'}
--      | {'expired', job id, payload, channel}: the lease ran out; the record is pending again, enqueue `job id`
--      | {'check', current job id, new job id, payload, channel}: pending and due; enqueue `new job id` unless the
--        current job is still waiting in its queue
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
local now = tonumber(ARGV[2])
if not score or tonumber(score) > now then
  return {'skip'}
end
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'pending' and status ~= 'sending' then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return {'finished'}
end
local next_watch = now + tonumber(ARGV[3])
if status == 'sending' then
  local lease_until = tonumber(redis.call('HGET', KEYS[1], 'leaseUntil') or '0')
  if lease_until > now then
    redis.call('ZADD', KEYS[2], lease_until, ARGV[1])
    return {'live'}
  end
  local n = redis.call('HINCRBY', KEYS[1], 'reaps', 1)
  local job = ARGV[4] .. '-r' .. n
  local owner = redis.call('HGET', KEYS[1], 'owner') or '?'
  redis.call('HSET', KEYS[1], 'status', 'pending', 'nextAttemptAt', ARGV[2], 'job', job, 'updatedAt', ARGV[2],
    'lastError', 'lease of ' .. owner .. ' expired')
  redis.call('HDEL', KEYS[1], 'owner', 'leaseUntil')
  redis.call('ZADD', KEYS[2], next_watch, ARGV[1])
  return {'expired', job, redis.call('HGET', KEYS[1], 'payload'), redis.call('HGET', KEYS[1], 'channel')}
end
local next_at = tonumber(redis.call('HGET', KEYS[1], 'nextAttemptAt') or '0')
if next_at > now then
  redis.call('ZADD', KEYS[2], next_at + tonumber(ARGV[3]), ARGV[1])
  return {'skip'}
end
redis.call('ZADD', KEYS[2], next_watch, ARGV[1])
local current = redis.call('HGET', KEYS[1], 'job') or ''
local n = redis.call('HINCRBY', KEYS[1], 'reaps', 1)
return {'check', current, ARGV[4] .. '-r' .. n, redis.call('HGET', KEYS[1], 'payload'),
  redis.call('HGET', KEYS[1], 'channel')}
