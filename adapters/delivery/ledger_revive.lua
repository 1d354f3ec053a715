-- ledger_revive.lua: replay of a delivery dead letter. A dead record goes back to pending with a fresh attempt
-- budget (chunks already sent stay sent) and its letter is removed, in one step. With mode 'rearm' (replay
-- --reroute) the record stays dead but the next hand-off of the same delivery revives it.
-- A delivered, pending or sending record is left alone: its letter is stale and is removed.
-- KEYS[1] ledger record          tether:delivery:{id}
-- KEYS[2] watch index            tether:deliveries:watch
-- KEYS[3] dead letter            tether:dlq:{letter id}
-- KEYS[4] dead-letter index      tether:dlq:index
-- ARGV[1] delivery id            ARGV[2] dead letter id        ARGV[3] now (ms)
-- ARGV[4] job id prefix          ARGV[5] watch deadline (ms)   ARGV[6] mode: 'replay' | 'rearm'
-- Returns {'revived', job id, payload, channel} | {'rearmed'} | {'missing'} | {status found}
local status = redis.call('HGET', KEYS[1], 'status')
if not status then
  return {'missing'}
end
if status == 'dead' then
  redis.call('DEL', KEYS[3])
  redis.call('ZREM', KEYS[4], ARGV[2])
  if ARGV[6] == 'rearm' then
    redis.call('HSET', KEYS[1], 'rearm', '1')
    return {'rearmed'}
  end
  local n = redis.call('HINCRBY', KEYS[1], 'replays', 1)
  local job = ARGV[4] .. '-p' .. n
  redis.call('HSET', KEYS[1], 'status', 'pending', 'attempts', 0, 'nextAttemptAt', ARGV[3], 'updatedAt', ARGV[3],
    'job', job)
  redis.call('HDEL', KEYS[1], 'deadAt', 'deadReason', 'rearm')
  redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
  return {'revived', job, redis.call('HGET', KEYS[1], 'payload'), redis.call('HGET', KEYS[1], 'channel')}
end
redis.call('DEL', KEYS[3])
redis.call('ZREM', KEYS[4], ARGV[2])
return {status}
