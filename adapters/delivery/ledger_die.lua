-- ledger_die.lua: a permanent failure (or retries exhausted). The token holder marks the delivery dead and files its
-- dead letter in the same step, so a dead record always has its letter. Dead records keep no TTL: they stay
-- until replayed or purged.
-- KEYS[1] ledger record          tether:delivery:{id}
-- KEYS[2] watch index            tether:deliveries:watch
-- KEYS[3] dead letter            tether:dlq:{letter id}
-- KEYS[4] dead-letter index      tether:dlq:index
-- ARGV[1] delivery id            ARGV[2] fencing token         ARGV[3] now (ms)
-- ARGV[4] reason                 ARGV[5] last error (redacted) ARGV[6] dead letter (JSON)
-- ARGV[7] dead letter id
-- Returns 1 when recorded, 0 when the token is stale
if redis.call('HGET', KEYS[1], 'status') ~= 'sending' or redis.call('HGET', KEYS[1], 'fence') ~= ARGV[2] then
  return 0
end
redis.call('HSET', KEYS[1], 'status', 'dead', 'deadAt', ARGV[3], 'deadReason', ARGV[4], 'lastError', ARGV[5],
  'updatedAt', ARGV[3])
redis.call('HDEL', KEYS[1], 'owner', 'leaseUntil', 'nextAttemptAt', 'rearm')
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('PERSIST', KEYS[1])
redis.call('SET', KEYS[3], ARGV[6])
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[7])
return 1
